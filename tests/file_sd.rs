//! File discovery end to end: Prometheus file_sd files watched by the exporter (inotify; the
//! periodic re-read is set to an hour so the test sees the watcher). Targets added to a file are
//! polled, targets removed disappear at once with their series (no `kurento_up 0` left behind
//! to fire KurentoDown), and a half-written file keeps the targets it gave last.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use kurento_exporter::Exporter;

const DEADLINE: Duration = Duration::from_secs(20);

/// Waits until the exposition satisfies `ok`, returning it.
async fn scrape_until(addr: SocketAddr, what: &str, ok: impl Fn(&str) -> bool) -> String {
    eventually(what, DEADLINE, async || {
        let text = scrape(addr).await;
        ok(&text).then_some(text)
    })
    .await
}

fn write(path: &std::path::Path, text: &str) {
    // Written whole then renamed, as config management tools do, so no read sees half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn targets_follow_the_files() {
    let (a, b) = (
        start_sim(steady_demo()).await,
        start_sim(steady_demo()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    write(
        &first,
        &format!(
            r#"[{{"targets": ["{}"], "labels": {{"kms": "kms-a"}}}}]"#,
            a.url()
        ),
    );

    let mut config = test_config(&[]);
    config.targets.clear();
    config.targets_files = vec![format!("{}/*.json", dir.path().display())];
    config.targets_files_refresh = Duration::from_secs(3600);
    let exporter = Exporter::start(config).await.unwrap();
    let addr = exporter.local_addr();

    let text = scrape_until(addr, "kms-a polled", |t| {
        sample(t, "kurento_up{kms=\"kms-a\"}") == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"file\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"config\"}"),
        Some(0.0)
    );

    // A second file with a host:port target: named by it.
    let host_port = b
        .url()
        .trim_start_matches("ws://")
        .trim_end_matches("/kurento")
        .to_owned();
    write(
        &dir.path().join("second.json"),
        &format!(r#"[{{"targets": ["{host_port}"]}}]"#),
    );
    let kms_b = format!("kurento_up{{kms=\"{host_port}\"}}");
    scrape_until(addr, "the second file's target polled", |t| {
        sample(t, &kms_b) == Some(1.0)
    })
    .await;

    // A half-written file: its targets stay. The second file gains a target in the same moment,
    // so once that one is polled the broken file has been read too.
    std::fs::write(&first, r#"[{"targets": ["#).unwrap();
    write(
        &dir.path().join("second.json"),
        &format!(
            r#"[{{"targets": ["{host_port}"]}}, {{"targets": ["{}"], "labels": {{"kms": "kms-b2"}}}}]"#,
            b.url()
        ),
    );
    let text = scrape_until(addr, "the added target polled", |t| {
        sample(t, "kurento_up{kms=\"kms-b2\"}") == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&text, "kurento_up{kms=\"kms-a\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"file\"}"),
        Some(3.0)
    );

    // Removed from the files: gone at once, series and all.
    std::fs::remove_file(&first).unwrap();
    let text = scrape_until(addr, "kms-a gone", |t| !t.contains("kms=\"kms-a\"")).await;
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"file\"}"),
        Some(2.0)
    );
    assert_eq!(sample(&text, &kms_b), Some(1.0));

    exporter.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

/// A reload that changes the `targets_files` list follows it: the new files' targets come, the
/// old files' go, and a list emptied takes the file targets away (the configured ones stay).
#[tokio::test]
async fn a_reload_follows_a_changed_targets_files_list() {
    let (a, b) = (
        start_sim(steady_demo()).await,
        start_sim(steady_demo()).await,
    );
    let dir = tempfile::tempdir().unwrap();
    for (sub, kms, url) in [("one", "kms-a", a.url()), ("two", "kms-b", b.url())] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        write(
            &dir.path().join(sub).join("fleet.json"),
            &format!(r#"[{{"targets": ["{url}"], "labels": {{"kms": "{kms}"}}}}]"#),
        );
    }
    let files = |sub: &str| vec![format!("{}/{sub}/*.json", dir.path().display())];
    let mut config = test_config(&[]);
    config.targets.clear();
    config.targets_files = files("one");
    config.targets_files_refresh = Duration::from_secs(3600);
    let exporter = Exporter::start(config.clone()).await.unwrap();
    let addr = exporter.local_addr();
    let up = |kms: &str| format!("kurento_up{{kms=\"{kms}\"}}");
    scrape_until(addr, "kms-a polled", |t| {
        sample(t, &up("kms-a")) == Some(1.0)
    })
    .await;

    config.targets_files = files("two");
    exporter.reload(&config).await.unwrap();
    let text = scrape_until(addr, "kms-b polled and kms-a gone", |t| {
        sample(t, &up("kms-b")) == Some(1.0) && !t.contains("kms=\"kms-a\"")
    })
    .await;
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"file\"}"),
        Some(1.0)
    );

    // No files any more, a configured target instead: the file target goes at once.
    config.targets_files.clear();
    config.targets = test_config(&[("kms-c", a.url())]).targets;
    exporter.reload(&config).await.unwrap();
    let text = scrape_until(addr, "kms-b gone", |t| !t.contains("kms=\"kms-b\"")).await;
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"file\"}"),
        Some(0.0)
    );
    scrape_until(addr, "kms-c polled", |t| {
        sample(t, &up("kms-c")) == Some(1.0)
    })
    .await;

    exporter.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}
