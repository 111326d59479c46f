//! Polling one KMS: the per-target task (the I/O shell), the reads of a cycle, the inventory kept
//! from KMS events, the schedule, and the store the latest snapshots live in.

pub mod inventory;
pub mod reads;
pub mod schedule;
pub mod store;
pub mod task;
