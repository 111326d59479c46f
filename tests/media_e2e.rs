//! Media metrics end to end: the exporter against the simulator with a frozen media clock, so
//! every value is exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use kurento_exporter::analysis::detail::DetailLevel;
use kurento_exporter::app::config::Config;
use kurento_exporter::sim::{Fault, Scenario, Simulator};

const DEADLINE: Duration = Duration::from_secs(20);

fn scenario_file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::from_file(&path).unwrap()
}

fn with_detail(mut config: Config, level: DetailLevel) -> Config {
    config.metrics.detail = level;
    config
}

/// Runs a scenario with frozen media at a detail level and returns the masked exposition.
async fn frozen_exposition(scenario: &str, level: DetailLevel) -> String {
    let sim = start_sim(scenario_file(scenario)).await;
    sim.freeze_media_at_start();
    let config = with_detail(test_config(&[("kms", sim.url())]), level);
    let stack = Stack::watch(sim, config).await;
    // Every pipeline's age known means the first full cycle (metadata, then media) is done.
    let text = stack
        .wait_for_sample(
            "kurento_pipeline_age_seconds_count{kms=\"kms\"}",
            DEADLINE,
            |n| n == 4.0,
        )
        .await;
    let (ok, report) = promtool_check_metrics(&text);
    assert!(ok && report.trim().is_empty(), "promtool:\n{report}");
    stack.shutdown().await;
    mask_volatile(&text)
}

#[tokio::test]
async fn golden_expositions_for_7x_and_6x_at_every_detail_level() {
    let levels = [
        (DetailLevel::Aggregated, "aggregated"),
        (DetailLevel::Pipeline, "pipeline"),
        (DetailLevel::Element, "element"),
    ];
    for (level, level_name) in levels {
        let mut per_dialect = Vec::new();
        for dialect in ["kms7", "kms6"] {
            let text = frozen_exposition(&format!("{dialect}.toml"), level).await;
            compare_golden(&format!("{dialect}-{level_name}.prom"), &text);
            per_dialect.push(text);
        }
        // The same world in both dialects gives the same series (values differ by seed).
        let series = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("kurento_server_info"))
                .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_owned()))
                .filter(|s| !s.contains("element=\""))
                .collect()
        };
        assert_eq!(
            series(&per_dialect[0]),
            series(&per_dialect[1]),
            "7.x and 6.x series differ at {level_name} detail"
        );
    }
}

/// Two steady meetings of three direct participants (no duplicated packets, so packetsLost
/// only grows and the exporter's counters must equal KMS's sums exactly).
const STEADY: &str = r#"
[timing]
seed = 42
media_warmup = "1m"

[profiles.direct]
flowing_in = true
flowing_out = true
ice = "host"
loss = 0.01
jitter_ms = 3.0
rtt_ms = 30.0
video_kbps = 1200.0

[[pipelines]]
name = "room-{n}"
count = 2
profile = "direct"
mesh = true
elements = [{ type = "WebRtcEndpoint", count = 3 }]
"#;

/// A webinar: one presenter whose browser publishes and five viewers whose browsers subscribe. KMS
/// names flows from the pipeline's side (docs/kms-protocol.md §10): the presenter's endpoint pushes
/// what it receives (inboundrtp) into the pipeline, so it flows out; each viewer's endpoint takes
/// media from the pipeline, so it flows in, and sends it on (outboundrtp).
const WEBINAR: &str = r#"
[timing]
seed = 9
media_warmup = "1m"

[profiles.presenter]
flowing_out = true
ice = "host"
jitter_ms = 3.0
rtt_ms = 30.0

[profiles.viewer]
flowing_in = true
ice = "host"
jitter_ms = 3.0
rtt_ms = 30.0

[[pipelines]]
name = "webinar"
elements = [
  { type = "WebRtcEndpoint", profile = "presenter" },
  { type = "WebRtcEndpoint", count = 5, profile = "viewer" },
]
connections = [
  "WebRtcEndpoint[0] -> WebRtcEndpoint[1]", "WebRtcEndpoint[0] -> WebRtcEndpoint[2]",
  "WebRtcEndpoint[0] -> WebRtcEndpoint[3]", "WebRtcEndpoint[0] -> WebRtcEndpoint[4]",
  "WebRtcEndpoint[0] -> WebRtcEndpoint[5]",
]
"#;

type Totals = BTreeMap<(String, String, &'static str), u64>;

const COUNTERS: [&str; 6] = [
    "kurento_rtp_bytes_total",
    "kurento_rtp_packets_total",
    "kurento_rtp_packets_lost_total",
    "kurento_rtp_nacks_total",
    "kurento_rtp_plis_total",
    "kurento_rtp_firs_total",
];

fn exporter_totals(text: &str) -> Totals {
    let mut totals = Totals::new();
    for media in ["audio", "video"] {
        for direction in ["inbound", "outbound"] {
            for name in COUNTERS {
                let series =
                    format!("{name}{{kms=\"kms\",media=\"{media}\",direction=\"{direction}\"}}");
                let v = sample(text, &series).unwrap_or(0.0) as u64;
                totals.insert((media.to_owned(), direction.to_owned(), name), v);
            }
        }
    }
    totals
}

fn sim_totals(sim: &Simulator) -> Totals {
    let mut totals = Totals::new();
    for ((media, direction), t) in sim.rtp_totals() {
        let values = [
            t.bytes,
            t.packets,
            u64::try_from(t.packets_lost).unwrap(),
            t.nacks,
            t.plis,
            t.firs,
        ];
        for (name, v) in COUNTERS.into_iter().zip(values) {
            totals.insert((media.clone(), direction.clone(), name), v);
        }
    }
    totals
}

fn plus(a: &Totals, b: &Totals, minus: &Totals) -> Totals {
    a.iter()
        .map(|(k, v)| (k.clone(), v + b[k] - minus[k]))
        .collect()
}

/// Scrapes until the exporter's totals equal `want`, checking at every scrape that no counter
/// went down since the scrape before (`last` is the last scrape's totals, kept across calls).
async fn expect_totals(stack: &Stack, want: &Totals, last: &mut Totals) {
    eventually(
        "exporter totals to equal KMS's sums",
        DEADLINE,
        async move || {
            let now = exporter_totals(&stack.scrape().await);
            for (k, v) in &now {
                let before = last.get(k).copied().unwrap_or(0);
                assert!(*v >= before, "{k:?} went down: {v} < {before}");
            }
            *last = now;
            if last == want {
                Ok(())
            } else {
                Err(format!("{last:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn aggregated_counters_equal_kms_sums_and_never_decrease_across_churn() {
    let sim = start_sim(Scenario::from_toml_str(STEADY).unwrap()).await;
    sim.freeze_media();
    let config = test_config(&[("kms", sim.url())]);
    let stack = Stack::watch(sim, config).await;
    let sim = &stack.sim;
    let mut last = Totals::new();

    // Right after start-up: exactly KMS's own sums.
    let start = sim_totals(sim);
    assert!(start.values().any(|v| *v > 0), "the scenario has traffic");
    expect_totals(&stack, &start, &mut last).await;

    // Media moves on: the totals follow.
    sim.advance_media(Duration::from_secs(10));
    let moved = sim_totals(sim);
    expect_totals(&stack, &moved, &mut last).await;

    // A meeting ends: KMS's sums drop, the exporter's counters keep what was counted and grow
    // only by what the survivors add.
    let room = sim
        .object_ids()
        .into_iter()
        .find(|id| id.ends_with("_kurento.MediaPipeline"))
        .unwrap();
    sim.release(&room);
    let survivors = sim_totals(sim);
    assert!(survivors.values().sum::<u64>() < moved.values().sum::<u64>());
    sim.advance_media(Duration::from_secs(10));
    let later = sim_totals(sim);
    expect_totals(&stack, &plus(&moved, &later, &survivors), &mut last).await;

    stack.shutdown().await;
}

#[tokio::test]
async fn one_failing_read_or_a_released_element_does_not_cost_the_others_their_data() {
    let sim = start_sim(Scenario::from_toml_str(STEADY).unwrap()).await;
    sim.freeze_media();
    // The first transaction loses one element to a release and one read to an error.
    sim.inject(Fault::ReleaseBeforeInvoke {
        operation: "getMediaState".to_owned(),
    });
    sim.inject(Fault::FailNextInvoke {
        operation: "isMediaTranscoding".to_owned(),
        code: 40003,
    });
    let config = test_config(&[("kms", sim.url())]);
    let stack = Stack::watch(sim, config).await;
    let text = stack
        .wait_for_sample(
            "kurento_exporter_poll_errors_total{kms=\"kms\",reason=\"kms_error\"}",
            DEADLINE,
            |n| n == 1.0,
        )
        .await;
    assert_eq!(sample(&text, "kurento_up{kms=\"kms\"}"), Some(1.0));
    // Six endpoints, one released mid-cycle: the five others report complete states.
    let connected = sample(
        &text,
        "kurento_rtp_endpoints_media_state{kms=\"kms\",state=\"connected\"}",
    )
    .unwrap();
    let ready = sample(
        &text,
        "kurento_webrtc_endpoints_ice_state{kms=\"kms\",state=\"ready\"}",
    )
    .unwrap();
    let flowing = sample(
        &text,
        "kurento_media_flowing_elements{kms=\"kms\",media=\"video\",direction=\"in\"}",
    )
    .unwrap();
    assert_eq!((connected, ready, flowing), (5.0, 5.0, 5.0), "{text}");
    // The failed read is named; the released element is churn, not a failed read.
    let read_errors = |text: &str, read: &str| {
        sample(
            text,
            &format!("kurento_exporter_read_errors_total{{kms=\"kms\",read=\"{read}\"}}"),
        )
    };
    assert_eq!(
        read_errors(&text, "isMediaTranscoding"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(read_errors(&text, "getMediaState"), None, "{text}");

    // A failing server read takes the target down for a cycle, and says which read it was.
    stack.sim.inject(Fault::FailNextInvoke {
        operation: "getUsedCpu".to_owned(),
        code: 40003,
    });
    let text = stack
        .wait_for_sample(
            "kurento_exporter_read_errors_total{kms=\"kms\",read=\"getUsedCpu\"}",
            DEADLINE,
            |n| n == 1.0,
        )
        .await;
    assert_eq!(
        read_errors(&text, "isMediaTranscoding"),
        Some(1.0),
        "{text}"
    );
    stack.shutdown().await;
}

/// Sum of every sample of a family in an exposition (whatever its labels).
fn family_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn capped_detail_folds_into_the_remainder_without_losing_data() {
    let aggregated = frozen_exposition("kms7.toml", DetailLevel::Aggregated).await;

    let sim = start_sim(scenario_file("kms7.toml")).await;
    sim.freeze_media_at_start();
    let mut config = with_detail(test_config(&[("kms", sim.url())]), DetailLevel::Pipeline);
    config.metrics.max_series = 1;
    let stack = Stack::watch(sim, config).await;
    let text = stack
        .wait_for_sample(
            "kurento_pipeline_age_seconds_count{kms=\"kms\"}",
            DEADLINE,
            |n| n == 4.0,
        )
        .await;
    // Four pipelines, one label: three fold into the remainder on every cycle.
    let dropped = sample(&text, "kurento_exporter_series_dropped_total{kms=\"kms\"}").unwrap();
    assert!(dropped >= 3.0 && dropped % 3.0 == 0.0, "dropped {dropped}");
    let pipelines: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("kurento_rtp_bytes_total{"))
        .filter_map(|l| l.split("pipeline=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        pipelines.len(),
        2,
        "one labelled pipeline and the remainder: {pipelines:?}"
    );
    assert!(pipelines.contains(""));
    for family in [
        "kurento_rtp_bytes_total",
        "kurento_rtp_packets_total",
        "kurento_media_flowing_elements",
    ] {
        assert_eq!(
            family_sum(&text, family),
            family_sum(&aggregated, family),
            "{family}: the capped detail sums to the KMS total"
        );
        assert!(family_sum(&text, family) > 0.0);
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn a_webinar_reports_one_publisher_and_five_subscribers() {
    let sim = start_sim(Scenario::from_toml_str(WEBINAR).unwrap()).await;
    sim.freeze_media();
    let config = test_config(&[("kms", sim.url())]);
    let stack = Stack::watch(sim, config).await;
    let text = stack
        .wait_for_sample(
            "kurento_pipeline_age_seconds_count{kms=\"kms\"}",
            DEADLINE,
            |n| n == 1.0,
        )
        .await;
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}"));
    for media in ["audio", "video"] {
        let labels = format!("kms=\"kms\",media=\"{media}\"");
        assert_eq!(
            value(&format!("kurento_webrtc_endpoints_sending{{{labels}}}")),
            1.0,
            "one publisher ({media})"
        );
        assert_eq!(
            value(&format!("kurento_webrtc_endpoints_receiving{{{labels}}}")),
            5.0,
            "five subscribers ({media})"
        );
        let flowing = |d: &str| {
            value(&format!(
                "kurento_media_flowing_elements{{{labels},direction=\"{d}\"}}"
            ))
        };
        assert_eq!((flowing("in"), flowing("out")), (5.0, 1.0), "{media}");
        // Network view: jitter of what KMS receives (the presenter's stream), RTT of what it
        // sends (one stream per viewer).
        assert_eq!(
            value(&format!("kurento_rtp_jitter_seconds_count{{{labels}}}")),
            1.0
        );
        assert_eq!(
            value(&format!(
                "kurento_rtp_round_trip_time_seconds_count{{{labels}}}"
            )),
            5.0
        );
    }
    let totals = exporter_totals(&text);
    assert_eq!(totals, sim_totals(&stack.sim), "KMS's own sums");
    let bytes = |direction: &str| {
        totals[&(
            "video".to_owned(),
            direction.to_owned(),
            "kurento_rtp_bytes_total",
        )]
    };
    assert!(bytes("inbound") > 0, "the presenter's stream reaches KMS");
    assert_eq!(
        bytes("outbound"),
        5 * bytes("inbound"),
        "KMS sends it to five viewers"
    );
    stack.shutdown().await;
}
