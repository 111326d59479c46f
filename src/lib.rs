//! kurento_exporter: a Prometheus exporter for Kurento Media Server.
//!
//! Layers, lowest first; a module imports only from layers below it (checked by
//! `tests/architecture.rs`, explained in `docs/architecture.md`):
//! `kurento` (talking to KMS) → `analysis` (pure readings → aggregates, zombies) and `sim` (the
//! simulated KMS) → `poll` (per-target cycles, the store) → `metrics` (the exposition) → `web`
//! (HTTP) → `app` (config, wiring) → `bench` → `cli`.

pub mod analysis;
pub mod app;
pub mod bench;
pub mod cli;
pub mod kurento;
pub mod metrics;
pub mod poll;
pub mod sim;
pub mod web;

pub use app::exporter::{Exporter, StartError, run, run_demo, run_simulator};
pub use app::reloader::ConfigLoader;
