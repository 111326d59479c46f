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

/// Entry points of the `cargo fuzz` targets in `fuzz/` (see the README's "Fuzzing"). Not a stable
/// API: hidden from the docs and changed with the decoders at will.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;
    use serde_json::value::RawValue;

    use crate::kurento::stats;

    /// Runs every stats decoder over `text` and panics where the raw and the `Value` decoders of
    /// `getStats` disagree, since the client relies on them being interchangeable.
    pub fn stats(text: &str) {
        let value = serde_json::from_str::<Value>(text).ok();
        let _ = stats::CandidateType::parse(text);
        if let Ok(raw) = RawValue::from_string(text.to_owned()) {
            let _ = stats::decode_candidate_pairs(&raw);
            let _ = stats::decode_ice_states(&raw);
            let decoded = stats::decode_stats_raw(&raw);
            if let Some(value) = &value {
                assert_eq!(decoded, stats::decode_stats(value), "{text}");
            }
        }
    }

    /// Negotiates the exposition format and gzip for a header value.
    pub fn accept(header: &str) {
        let _ = crate::web::negotiate::negotiate(Some(header));
        let _ = crate::web::negotiate::accepts_gzip(Some(header));
    }
}
