//! Polling one KMS: the per-target task (the I/O shell), the reads of a cycle, the inventory kept
//! from KMS events, the schedule, and the store the latest snapshots live in; and the SDP reads
//! an operator asks for.

pub(crate) mod answer_memory;
pub(crate) mod answers;
pub(crate) mod cycle;
pub mod health;
pub(crate) mod inventory;
pub(crate) mod once;
pub(crate) mod plan;
pub(crate) mod reads;
pub(crate) mod schedule;
pub mod sdp;
pub(crate) mod silence;
pub(crate) mod state;
pub mod store;
pub(crate) mod task;
