//! The inspection page in a real browser (Debian's `chromium`, headless): the fleet, KMS and
//! pipeline views render from the JSON API, the pipeline graph has one node per element and
//! one edge per connection with the flow rule applied, zombies are marked, and a pipeline named
//! `<script>alert(1)</script>` stays text, all under `Content-Security-Policy: default-src 'self'`.
//! Screenshots at laptop and phone widths go to a temp
//! dir; `UPDATE_SCREENSHOT=1` also writes docs/ui-pipeline.png for the README.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kurento_exporter::sim::Scenario;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);
const HOSTILE: &str = "<script>alert(1)</script>";

/// Runs headless Chromium on `url` with `args`, killing it past a deadline; returns stdout.
fn chromium(url: &str, args: &[String], profile: &Path) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Virtual time: the page's fetches and timers run, then the DOM is taken.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium runs (Debian package chromium; scripts/test.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed on {url}: {status}");
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish {url} in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

fn dump_dom(url: &str, profile: &Path) -> String {
    chromium(url, &["--dump-dom".to_owned()], profile)
}

fn screenshot(url: &str, profile: &Path, path: &Path, width: u32, height: u32) {
    chromium(
        url,
        &[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
        ],
        profile,
    );
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        path.display()
    );
}

async fn json(stack: &Stack, path: &str) -> Value {
    let resp = stack.get(path).await;
    assert_eq!(resp.status, 200, "{path}");
    serde_json::from_slice(&resp.body).unwrap()
}

fn pipeline_id(list: &Value, name: &str) -> String {
    list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no pipeline {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// As the page's `encodeURIComponent`.
fn encode(text: &str) -> String {
    const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

/// The edges the page must draw, by flow class, computed from the API by the README's rule.
fn expected_edges(graph: &Value) -> (usize, [usize; 3]) {
    let elements = graph["elements"].as_array().unwrap();
    let find = |id: &Value| elements.iter().find(|e| &e["id"] == id);
    let mut classes = [0; 3]; // flowing, not flowing, unknown
    let mut total = 0;
    for c in graph["connections"].as_array().unwrap() {
        let (Some(source), Some(sink)) = (find(&c["source"]), find(&c["sink"])) else {
            continue;
        };
        total += 1;
        let media = c["media"].as_str().unwrap().to_lowercase();
        let out = source["flowing"]["out"][&media].as_bool();
        let into = sink["flowing"]["in"][&media].as_bool();
        let class = match (out, into) {
            (Some(false), _) | (_, Some(false)) => 1,
            (Some(true), Some(true)) => 0,
            _ => 2,
        };
        classes[class] += 1;
    }
    (total, classes)
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inspection_page_renders_every_view_in_a_browser() {
    let scenario =
        Scenario::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/scenario.toml"))
            .unwrap();
    // A strict Content-Security-Policy: the page must need no inline script or style.
    let web_dir = tempfile::tempdir().unwrap();
    let web_config = web_dir.path().join("web.yml");
    std::fs::write(
        &web_config,
        "http_server_config:\n  headers:\n    Content-Security-Policy: \"default-src 'self'\"\n",
    )
    .unwrap();
    let stack = Stack::start(scenario, |config| {
        config.zombie.idle_after = Duration::from_secs(2);
        config.web.config_file = Some(web_config.clone());
    })
    .await;
    let page = stack.get("/ui/").await;
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // Ready when the ICE-failed call is a zombie and the hostile meeting's media flows.
    let list = eventually("a zombie and flowing media", DEADLINE, async || {
        let list = json(&stack, "/api/v1/targets/kms/pipelines").await;
        let pipelines = list["pipelines"].as_array()?;
        let zombie = pipelines
            .iter()
            .any(|p| p["name"] == "ice-failed" && p["zombie"]["reason"] == "ice_failed");
        let flowing = pipelines
            .iter()
            .any(|p| p["name"] == HOSTILE && p["flowing"]["out"] == true);
        (zombie && flowing).then_some(list)
    })
    .await;
    let profile = tempfile::tempdir().unwrap();
    let shots = tempfile::tempdir().unwrap();
    let base = format!("{}/ui/", stack.url());

    // Fleet: one row per KMS, up.
    let fleet = dump_dom(&base, profile.path());
    assert!(fleet.contains(r#"data-view="fleet""#), "{fleet}");
    assert!(fleet.contains(r#"data-state="ready""#), "{fleet}");
    assert!(
        fleet.contains(r##"<a href="#/kms/kms">kms</a>"##),
        "{fleet}"
    );
    assert!(fleet.contains(r#"<span class="up">up</span>"#), "{fleet}");

    // KMS: the pipelines (the hostile name as text), zombies with reasons, links by id.
    let kms_url = format!("{base}#/kms/kms");
    let kms = dump_dom(&kms_url, profile.path());
    assert!(kms.contains(r#"data-view="kms""#), "{kms}");
    assert!(
        kms.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{kms}"
    );
    let hostile = pipeline_id(&list, HOSTILE);
    let href = format!("#/kms/kms/pipeline/{}", encode(&hostile));
    assert!(kms.contains(&href), "no link {href}: {kms}");
    assert!(kms.contains("ice_failed"), "{kms}");
    assert!(kms.contains(r#"<tr class="zombie">"#), "{kms}");
    screenshot(
        &kms_url,
        profile.path(),
        &shots.path().join("kms-phone.png"),
        390,
        844,
    );

    // Pipelines: the graph matches the API, node for node and edge for edge.
    for name in [HOSTILE, "townhall", "recording", "ice-failed"] {
        let id = pipeline_id(&list, name);
        let graph = json(
            &stack,
            &format!("/api/v1/targets/kms/pipelines/{}", encode(&id)),
        )
        .await;
        let url = format!("{base}#/kms/kms/pipeline/{}", encode(&id));
        let dom = dump_dom(&url, profile.path());
        assert!(dom.contains(r#"data-view="pipeline""#), "{name}: {dom}");
        let nodes = graph["elements"].as_array().unwrap().len();
        let (edges, [flowing, not_flowing, unknown]) = expected_edges(&graph);
        assert!(
            dom.contains(&format!(r#"data-nodes="{nodes}" data-edges="{edges}""#)),
            "{name}: {nodes} nodes, {edges} edges expected: {dom}"
        );
        let drawn_nodes =
            count(&dom, r#"<g class="node""#) + count(&dom, r#"<g class="node zombie""#);
        assert_eq!(drawn_nodes, nodes, "{name}");
        assert_eq!(count(&dom, r#"<g class="edge "#), edges, "{name}");
        assert_eq!(count(&dom, r#"<g class="edge flowing "#), flowing, "{name}");
        assert_eq!(
            count(&dom, r#"<g class="edge not-flowing "#),
            not_flowing,
            "{name}"
        );
        assert_eq!(count(&dom, r#"<g class="edge unknown "#), unknown, "{name}");
        // Only app.js: nothing from KMS became a script.
        assert_eq!(count(&dom, "<script"), 1, "{name}: {dom}");
        let zombies = graph["elements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| !e["zombie"].is_null())
            .count();
        assert_eq!(count(&dom, r#"<g class="node zombie""#), zombies, "{name}");
        assert_eq!(count(&dom, r#"class="zombie-mark""#), zombies, "{name}");
        match name {
            HOSTILE => {
                assert!(flowing >= 2, "the meeting flows: {flowing}");
                assert!(
                    dom.contains("Pipeline &lt;script&gt;alert(1)&lt;/script&gt;"),
                    "{dom}"
                );
            }
            "recording" => assert!(not_flowing >= 1, "the stopped recorder"),
            "ice-failed" => assert!(zombies >= 1, "the failed call is marked"),
            _ => {}
        }
        if name == "townhall" {
            let desktop = shots.path().join("pipeline-desktop.png");
            screenshot(&url, profile.path(), &desktop, 1280, 900);
            screenshot(
                &url,
                profile.path(),
                &shots.path().join("pipeline-phone.png"),
                390,
                844,
            );
            if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
                let docs: PathBuf =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ui-pipeline.png");
                std::fs::copy(&desktop, docs).unwrap();
            }
        }
    }
    stack.shutdown().await;
}
