//! The load model of README "Capacity and autoscaling", for a placement service that asks
//! `/api/v1/targets` instead of Prometheus: the same drivers and formulas as the recording rules
//! of the `kurento.capacity` group (`kms_driver:kurento_load:ratio`, `kms:kurento_load:ratio`,
//! `kms:kurento_headroom:endpoints`). Pure; no ranking: the caller compares the numbers.

use serde::Serialize;

/// Capacities per CPU: the starting points of the constant rules
/// (`global:kurento_capacity_*:const`). Calibrated values belong in the caller, which can
/// recompute the load from the inputs the API also returns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capacities {
    pub endpoints_per_cpu: f64,
    pub transcodes_per_cpu: f64,
}

pub const DEFAULT_CAPACITIES: Capacities = Capacities {
    endpoints_per_cpu: 20.0,
    transcodes_per_cpu: 2.0,
};

/// What the load is computed from (one KMS, last cycle).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadInputs {
    pub cpu_count: u32,
    /// `getUsedCpu` over all cores, 0–1.
    pub cpu_usage_ratio: Option<f64>,
    pub webrtc_endpoints: u64,
    /// Transcoding streams, counted per media (as `kurento_transcoding_elements` counts them).
    pub transcoding_streams: u64,
}

/// The load of one KMS and the WebRTC endpoints that still fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Load {
    /// The most saturated driver: 0 idle, 1 full, above 1 overloaded.
    pub ratio: f64,
    /// Which driver that is: `cpu`, `transcoding` or `endpoints`.
    pub driver: &'static str,
    /// `floor((1 − ratio) × CPUs × endpoints per CPU)`, never negative.
    pub headroom_endpoints: u64,
}

impl Load {
    /// `None` without a CPU count (nothing to divide by).
    pub fn of(inputs: &LoadInputs, capacities: &Capacities) -> Option<Load> {
        let cpus = f64::from(inputs.cpu_count);
        if cpus <= 0.0 {
            return None;
        }
        let drivers = [
            ("cpu", inputs.cpu_usage_ratio.unwrap_or(0.0)),
            (
                "transcoding",
                inputs.transcoding_streams as f64 / cpus / capacities.transcodes_per_cpu,
            ),
            (
                "endpoints",
                inputs.webrtc_endpoints as f64 / cpus / capacities.endpoints_per_cpu,
            ),
        ];
        let (driver, ratio) = drivers
            .into_iter()
            .filter(|(_, r)| r.is_finite())
            .fold(("cpu", 0.0), |best, d| if d.1 > best.1 { d } else { best });
        let headroom = ((1.0 - ratio) * cpus * capacities.endpoints_per_cpu).floor();
        Some(Load {
            ratio,
            driver,
            // Saturating: a negative or NaN headroom is none.
            headroom_endpoints: headroom.max(0.0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(cpus: u32, cpu: f64, endpoints: u64, transcoding: u64) -> LoadInputs {
        LoadInputs {
            cpu_count: cpus,
            cpu_usage_ratio: Some(cpu),
            webrtc_endpoints: endpoints,
            transcoding_streams: transcoding,
        }
    }

    /// The KMS of deploy/prometheus/tests/kurento-capacity.test.yml give the load and headroom
    /// the recording rules give them there.
    #[test]
    fn the_load_is_the_most_saturated_driver_as_in_the_rules() {
        let load = |i| Load::of(&i, &DEFAULT_CAPACITIES).unwrap();
        let cases = [
            ("cpu-bound", inputs(4, 0.75, 10, 1), "cpu", 0.75, 20),
            (
                "transcoding-bound",
                inputs(4, 0.25, 20, 4),
                "transcoding",
                0.5,
                40,
            ),
            (
                "endpoint-bound",
                inputs(2, 0.25, 40, 0),
                "endpoints",
                1.0,
                0,
            ),
        ];
        for (kms, i, driver, ratio, headroom) in cases {
            let got = load(i);
            assert_eq!(
                (got.driver, got.ratio, got.headroom_endpoints),
                (driver, ratio, headroom),
                "{kms}"
            );
        }
        let over = load(inputs(4, 0.2, 100, 0));
        assert_eq!(
            (over.ratio, over.headroom_endpoints),
            (1.25, 0),
            "overloaded: no headroom"
        );
        assert_eq!(load(inputs(4, 0.0, 0, 0)).headroom_endpoints, 80, "idle");
    }

    #[test]
    fn without_cpus_there_is_no_load() {
        let mut i = inputs(4, 0.5, 10, 0);
        i.cpu_count = 0;
        assert_eq!(Load::of(&i, &DEFAULT_CAPACITIES), None);
        i.cpu_count = 2;
        i.cpu_usage_ratio = None;
        assert_eq!(
            Load::of(&i, &DEFAULT_CAPACITIES).unwrap().driver,
            "endpoints"
        );
    }
}
