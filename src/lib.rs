//! kurento_exporter: a Prometheus exporter for Kurento Media Server.

pub mod kurento;
pub mod metrics;
pub mod sim;
