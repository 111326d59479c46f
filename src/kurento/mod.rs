//! Talking to KMS: wire protocol, JSON-RPC client, reconnect policy, connection pool and typed
//! operations. Knows KMS, not Prometheus.

pub mod api;
pub mod client;
pub mod pool;
pub mod protocol;
pub mod reconnect;
pub mod stats;

pub use api::{Kms, KmsError, KmsOptions, Op, OpOutcome};
pub use client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds};
pub use reconnect::{Backoff, wait_before_retry};
