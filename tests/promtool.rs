//! `promtool check metrics` (Debian's prometheus package) accepts the exporter's text output with
//! no warning, and the OpenMetrics output is served with its own content type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kurento_exporter::sim::Scenario;

#[tokio::test]
async fn promtool_accepts_the_text_exposition_without_warnings() {
    let sim = start_sim(Scenario::demo()).await;
    let config = test_config(&[("demo", sim.url())]);
    let stack = Stack::watch(sim, config).await;
    let text = stack
        .wait_for_sample("kurento_up{kms=\"demo\"}", Duration::from_secs(20), |v| {
            v == 1.0
        })
        .await;
    let (ok, report) = promtool_check_metrics(&text);
    assert!(ok, "promtool failed:\n{report}\n--- exposition ---\n{text}");
    assert_eq!(report.trim(), "", "promtool warnings:\n{report}");

    // A broken exposition is rejected, so the check above can fail.
    let (ok, _) = promtool_check_metrics("# TYPE x counter\nx_total{a=\"b\" 1\n");
    assert!(!ok);

    let om = get(
        stack.addr,
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .await;
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(om.text().ends_with("# EOF\n"));
    stack.shutdown().await;
}
