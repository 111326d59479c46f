//! The application: configuration, logging, signals, build info, and the wiring of pollers and
//! the HTTP server into a running exporter.

pub mod build;
pub mod config;
pub mod exporter;
pub mod signals;
pub mod telemetry;
