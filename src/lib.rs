//! kurento_exporter: a Prometheus exporter for Kurento Media Server.

pub mod cli;
pub mod config;
pub mod http;
pub mod kurento;
pub mod metrics;
pub mod sim;
pub mod telemetry;
