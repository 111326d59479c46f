//! The application: configuration, logging, signals, build info, and the wiring of pollers and
//! the HTTP server into a running exporter.

pub(crate) mod build;
pub mod config;
pub(crate) mod discovered;
pub(crate) mod discovery;
pub(crate) mod dns_sd;
pub(crate) mod dns_watch;
pub(crate) mod exporter;
pub(crate) mod file_sd;
pub(crate) mod file_watch;
pub(crate) mod log_format;
pub(crate) mod pollers;
pub(crate) mod probe_allow;
pub(crate) mod probes;
pub(crate) mod reloader;
pub(crate) mod signals;
pub(crate) mod supervisor;
pub mod telemetry;
pub mod web_config;
