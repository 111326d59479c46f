//! Talking to KMS: wire protocol, JSON-RPC client, reconnect policy, connection pool and typed
//! operations. Knows KMS, not Prometheus.

pub mod protocol;
