//! `/probe?target=…` end to end (the blackbox exporter's multi-target pattern): the first probe
//! starts watching the KMS and answers its series alone once its first cycle is in; later probes
//! reuse the poller; targets outside `probe.allowed_targets`, beyond `probe.max_targets` or with
//! a bad query are refused; a target not probed for `probe.idle_expiry` is forgotten.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kurento_exporter::Exporter;

const DEADLINE: Duration = Duration::from_secs(20);

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn probing_starts_serves_guards_and_expires_targets() {
    let sim = start_sim(steady_demo()).await;
    let host_port = sim
        .url()
        .trim_start_matches("ws://")
        .trim_end_matches("/kurento")
        .to_owned();
    let mut config = test_config(&[]);
    config.targets.clear();
    config.probe.max_targets = 2;
    config.probe.idle_expiry = Some(Duration::from_secs(2));
    let exporter = Exporter::start(config).await.unwrap();
    let addr = exporter.local_addr();
    let probe = |query: String| async move {
        get(
            addr,
            &format!("/probe?{query}"),
            &[("Accept", "text/plain;version=0.0.4")],
        )
        .await
    };

    // The first probe waits for the first cycle: KMS's series, and only this target's.
    let resp = probe(format!("target={}", encode(&host_port))).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let text = resp.text();
    let up = format!("kurento_up{{kms=\"{host_port}\"}}");
    assert_eq!(sample(&text, &up), Some(1.0), "{text}");
    assert!(text.contains("kurento_pipelines{"), "{text}");
    assert!(
        !text.contains("kurento_exporter_build_info"),
        "exporter-wide families: {text}"
    );
    let (ok, report) = promtool_check_metrics(&text);
    assert!(ok && report.trim().is_empty(), "promtool:\n{report}");
    let metrics = scrape(addr).await;
    assert_eq!(
        sample(&metrics, "kurento_exporter_targets{source=\"probe\"}"),
        Some(1.0)
    );

    // A second probe of the same target reuses its poller; a URL target with a name works too.
    let named = probe(format!("target={}&name=kms-b", encode(&sim.url()))).await;
    assert_eq!(named.status, 200, "{}", named.text());
    assert_eq!(
        sample(&named.text(), "kurento_up{kms=\"kms-b\"}"),
        Some(1.0)
    );
    let again = probe(format!("target={}", encode(&host_port))).await;
    assert_eq!(sample(&again.text(), &up), Some(1.0));

    // Refusals: a name taken by another target, the cap, the allow list, a bad query.
    let taken = probe("target=127.0.0.1:1&name=kms-b".to_owned()).await;
    assert_eq!(taken.status, 409, "{}", taken.text());
    let over = probe("target=127.0.0.1:1&name=kms-c".to_owned()).await;
    assert_eq!(over.status, 503, "{}", over.text());
    assert!(over.text().contains("probe.max_targets"));
    let outside = probe("target=203.0.113.5:8888".to_owned()).await;
    assert_eq!(outside.status, 403, "{}", outside.text());
    assert!(outside.text().contains("probe.allowed_targets"));
    assert_eq!(probe("name=x".to_owned()).await.status, 400);
    assert_eq!(
        probe("target=http%3A%2F%2F127.0.0.1%3A1".to_owned())
            .await
            .status,
        400
    );

    // Not probed for idle_expiry: stopped, and its series are gone from /metrics.
    eventually("the probed targets to expire", DEADLINE, async || {
        let text = scrape(addr).await;
        let gone = sample(&text, "kurento_exporter_targets{source=\"probe\"}") == Some(0.0)
            && !text.contains("kurento_up{");
        gone.then_some(())
    })
    .await;
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn probing_can_be_turned_off() {
    let mut config = test_config(&[]);
    config.targets.clear();
    config.probe.max_targets = 0;
    let exporter = Exporter::start(config).await.unwrap();
    let resp = get(exporter.local_addr(), "/probe?target=127.0.0.1:8888", &[]).await;
    assert_eq!(resp.status, 404);
    exporter.shutdown().await;
}
