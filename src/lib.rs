//! kurento_exporter: a Prometheus exporter for Kurento Media Server.

pub mod cli;
pub mod config;
pub mod http;
pub mod inventory;
pub mod kurento;
pub mod metrics;
pub mod model;
pub mod poller;
pub mod sim;
pub mod store;
pub mod telemetry;
