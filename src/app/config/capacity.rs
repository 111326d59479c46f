//! `[capacity]`: the capacities per CPU behind the `placement` of `/api/v1/targets` (README
//! "Placement without Prometheus"), so that a signalling server reads the load and headroom at
//! the operator's calibrated figures, the same ones the constant rules
//! `global:kurento_capacity_*:const` hold.

use serde::Deserialize;

use super::ConfigError;
use crate::analysis::capacity::{Capacities, DEFAULT_CAPACITIES};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapacityConfig {
    /// WebRTC endpoints one CPU of KMS carries at full load.
    pub endpoints_per_cpu: f64,
    /// Transcoding streams one CPU of KMS carries at full load.
    pub transcodes_per_cpu: f64,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            endpoints_per_cpu: DEFAULT_CAPACITIES.endpoints_per_cpu,
            transcodes_per_cpu: DEFAULT_CAPACITIES.transcodes_per_cpu,
        }
    }
}

/// Past this a capacity is surely a typo (a KMS CPU carries tens of endpoints, not millions).
const MAX_PER_CPU: f64 = 1_000_000.0;

impl CapacityConfig {
    pub fn capacities(&self) -> Capacities {
        Capacities {
            endpoints_per_cpu: self.endpoints_per_cpu,
            transcodes_per_cpu: self.transcodes_per_cpu,
        }
    }

    /// Each capacity is a divisor of the load: a finite number above 0.
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        for (key, value) in [
            ("capacity.endpoints_per_cpu", self.endpoints_per_cpu),
            ("capacity.transcodes_per_cpu", self.transcodes_per_cpu),
        ] {
            if !(value > 0.0 && value <= MAX_PER_CPU) {
                errors.push(ConfigError::new(
                    key,
                    format!("must be a number above 0 and at most {MAX_PER_CPU}, got {value}"),
                ));
            }
        }
    }
}
