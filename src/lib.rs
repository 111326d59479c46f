//! kurento_exporter: a Prometheus exporter for Kurento Media Server.

pub mod inventory;
pub mod kurento;
pub mod metrics;
pub mod model;
pub mod sim;
pub mod store;
