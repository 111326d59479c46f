//! A leak soak with a real client: an application on the real `kurento-client` (7.3.0 and 6.18.0,
//! tests/node/leak_app.js) runs 30 hello-world sessions whose browsers (real UDP peers) send RTP
//! until media flows and then leave; it releases each pipeline except every tenth, which it forgets
//! while keeping its KMS session alive. `kurento_zombie_pipelines` must sum to the number forgotten
//! within a bound derived from the settings, the zombie API must list exactly the forgotten
//! pipelines, and once the application exits and KMS collects its session nothing is left. Needs
//! `npm ci --ignore-scripts --prefix tests/node`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use kurento_exporter::sim::Scenario;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SESSIONS: usize = 30;
const FORGET_EVERY: usize = 10;

/// ICE consent expires 3 s after a browser goes quiet (libnice: about 30 s); KMS's garbage
/// collector runs every 2 s (KMS: 240 s), so a session whose connection is gone is collected
/// within two periods.
const CONSENT: Duration = Duration::from_secs(3);
const GC_PERIOD: Duration = Duration::from_secs(2);
/// The simulator stops reporting media flowing this long after the last packet
/// (`sim::peer::FLOW_TIMEOUT_MS`).
const FLOW_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_AFTER: Duration = Duration::from_secs(2);
/// `test_config`'s poll interval.
const POLL: Duration = Duration::from_secs(1);
/// Time for a poll of ~40 objects and a scrape on a busy 2-core machine.
const MARGIN: Duration = Duration::from_secs(3);

/// Guards: the application's sessions, and every wait that has no bound of its own.
const APP_DEADLINE: Duration = Duration::from_secs(90);
const DEADLINE: Duration = Duration::from_secs(30);

/// A KMS of the application's major (`dialect` "6" or "7"), as a deployment would pair them.
fn scenario(dialect: &str) -> String {
    let version = if dialect == "6" { "6.18.0" } else { "7.3.0" };
    format!(
        "[server]\ndialect = \"{dialect}\"\nversion = \"{version}\"\n\n[peers]\nconsent_timeout = \"{}s\"\n\n[timing]\ngc_period = \"{}s\"\n",
        CONSENT.as_secs(),
        GC_PERIOD.as_secs()
    )
}

/// `sum(kurento_zombie_pipelines{kms="kms"})` over its reasons, and the reasons present.
fn zombie_pipeline_sum(exposition: &str) -> (f64, Vec<String>) {
    let mut sum = 0.0;
    let mut reasons = Vec::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("kurento_zombie_pipelines{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").unwrap();
        if !labels.split(',').any(|l| l == "kms=\"kms\"") {
            continue;
        }
        let value: f64 = value.split(' ').next().unwrap().parse().unwrap();
        sum += value;
        if value > 0.0 {
            reasons.push(labels.to_owned());
        }
    }
    (sum, reasons)
}

async fn zombie_report(addr: SocketAddr) -> Value {
    let resp = get(addr, "/api/v1/targets/kms/zombies", &[]).await;
    assert_eq!(resp.status, 200);
    serde_json::from_slice(&resp.body).unwrap()
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|l| {
            l.iter()
                .map(|x| x["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sim_pipelines(ids: &[String]) -> BTreeSet<String> {
    ids.iter()
        .filter(|id| id.ends_with("_kurento.MediaPipeline"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn forgotten_pipelines_of_a_kurento_client_7_application_are_zombies() {
    leak_soak("7").await;
}

#[tokio::test]
async fn forgotten_pipelines_of_a_kurento_client_6_application_are_zombies() {
    leak_soak("6").await;
}

/// The soak with kurento-client `client` ("6" or "7") against a simulated KMS of the same major.
async fn leak_soak(client: &str) {
    let node_dir = common::node::node_dir(client);
    let version = if client == "6" { "6.18.0" } else { "7.3.0" };
    let stack = Stack::start(
        Scenario::from_toml_str(&scenario(client)).unwrap(),
        |config| {
            assert_eq!(config.poll.interval, POLL);
            config.zombie.idle_after = IDLE_AFTER;
        },
    )
    .await;
    let (sim, addr) = (&stack.sim, stack.addr);

    let started = Instant::now();
    let mut app = tokio::process::Command::new("node")
        .arg(node_dir.join("leak_app.js"))
        .arg(sim.url())
        .args(["--sessions", &SESSIONS.to_string()])
        .args(["--forget-every", &FORGET_EVERY.to_string()])
        .args(["--concurrency", "5", "--client", client])
        .current_dir(&node_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run `node` (is Node.js installed?)");
    let mut stdin = app.stdin.take().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let stderr_task = {
        let (mut pipe, stderr) = (app.stderr.take().unwrap(), stderr.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let mut stdout = BufReader::new(app.stdout.take().unwrap()).lines();

    // kurento-client may log to stdout too: the summary is the JSON line with `forgotten`.
    let summary = tokio::time::timeout(APP_DEADLINE, async {
        let mut seen = Vec::new();
        loop {
            match stdout.next_line().await.unwrap() {
                Some(line) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && v.get("forgotten").is_some()
                    {
                        return v;
                    }
                    seen.push(line);
                }
                None => panic!(
                    "leak_app.js ended without its summary ({:?}):\nstdout:\n{}\nstderr:\n{}",
                    app.try_wait(),
                    seen.join("\n"),
                    stderr.lock().unwrap()
                ),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no summary from leak_app.js within {APP_DEADLINE:?}; stderr:\n{}",
            stderr.lock().unwrap()
        )
    });
    let read_at = Instant::now();
    let app_ms = started.elapsed().as_millis();
    // Whatever it logs from now on must not fill the pipe and stall it.
    let stdout_task =
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });

    let forgotten: BTreeSet<String> = summary["forgotten"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let released: BTreeSet<String> = summary["releasedIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(forgotten.len(), SESSIONS / FORGET_EVERY, "{summary}");
    assert_eq!(summary["released"], SESSIONS - SESSIONS / FORGET_EVERY);
    assert_eq!(released.len(), SESSIONS - SESSIONS / FORGET_EVERY);
    assert_eq!(summary["client"]["version"], version);
    // How long before the summary was read the last forgotten browser went quiet.
    let quiet_before = Duration::from_millis(summary["lastForgottenQuietMsAgo"].as_u64().unwrap());

    // KMS keeps exactly what the application forgot: released pipelines (and their endpoints)
    // are gone.
    let objects = sim.object_ids();
    assert_eq!(sim_pipelines(&objects), forgotten, "{objects:?}");
    for id in &released {
        assert!(
            !objects.iter().any(|o| o.starts_with(id.as_str())),
            "{id} was released but is still there: {objects:?}"
        );
    }

    // Detection bound, counted from the last forgotten browser's last packet. The pipeline's
    // earliest zombie condition is `no_media` (flows stop FLOW_TIMEOUT = 2 s after the last
    // packet) and `ice_failed` follows at CONSENT = 3 s; take the later one, 3 s. A poll sees
    // the condition at most one POLL (1 s) later and starts its clock then; the verdict needs
    // IDLE_AFTER (2 s) of held condition, which the first poll at or past it delivers — up to
    // one more POLL (poll times jitter, 1.999 s is not enough). Metrics change only with polls, so
    // a scrape sees the verdict at once. Bound: 3 + 1 + 2 + 1 = 7 s, plus MARGIN (3 s) for polls
    // of ~40 objects and scrapes on a busy machine = 10 s. A liveness bound, not a benchmark.
    let bound = FLOW_TIMEOUT.max(CONSENT) + IDLE_AFTER + 2 * POLL + MARGIN;
    let want = forgotten.len() as f64;
    let text = eventually(
        "sum(kurento_zombie_pipelines) to reach the number forgotten",
        DEADLINE,
        async || {
            let text = scrape(addr).await;
            let (sum, reasons) = zombie_pipeline_sum(&text);
            assert!(sum <= want, "more zombies than forgotten: {reasons:?}");
            if sum == want {
                Ok(text)
            } else {
                Err(format!("sum {sum} ({reasons:?})"))
            }
        },
    )
    .await;
    let detected = read_at.elapsed() + quiet_before;
    let (_, reasons) = zombie_pipeline_sum(&text);
    eprintln!(
        "leak soak (kurento-client {version}, KMS {client}.x): app {app_ms} ms, {} forgotten detected {detected:?} after the last forgotten browser went quiet (bound {bound:?}), reasons {reasons:?}",
        forgotten.len()
    );
    assert!(
        detected <= bound,
        "detected after {detected:?}, bound {bound:?}"
    );

    // The API names exactly the forgotten pipelines.
    let report = zombie_report(addr).await;
    assert_eq!(ids(&report["pipelines"]), forgotten, "{report}");
    for p in report["pipelines"].as_array().unwrap() {
        assert!(
            ["no_media", "ice_failed", "disconnected"].contains(&p["reason"].as_str().unwrap()),
            "{report}"
        );
    }
    // And it stays so while the application lives (one more poll).
    let text = eventually("one more poll", DEADLINE, async || {
        let r = zombie_report(addr).await;
        (r != report).then_some(scrape(addr).await)
    })
    .await;
    assert_eq!(zombie_pipeline_sum(&text).0, want, "{text}");
    assert_eq!(sim_pipelines(&sim.object_ids()), forgotten);

    // The application exits; KMS collects its session and with it what it forgot.
    stdin.write_all(b"exit\n").await.unwrap();
    stdin.flush().await.unwrap();
    let status = tokio::time::timeout(DEADLINE, app.wait())
        .await
        .expect("leak_app.js exits after `exit`")
        .unwrap();
    let _ = tokio::time::timeout(DEADLINE, stderr_task).await;
    let _ = tokio::time::timeout(DEADLINE, stdout_task).await;
    assert!(
        status.success(),
        "leak_app.js: {status}; stderr:\n{}",
        stderr.lock().unwrap()
    );
    eventually(
        "KMS to collect the application's session",
        DEADLINE,
        async || {
            let left = sim_pipelines(&sim.object_ids());
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("pipelines left {left:?}"))
            }
        },
    )
    .await;
    assert!(sim.object_ids().is_empty(), "{:?}", sim.object_ids());
    eventually("the exporter to forget the zombies", DEADLINE, async || {
        let text = scrape(addr).await;
        let report = zombie_report(addr).await;
        (sample(&text, "kurento_up{kms=\"kms\"}") == Some(1.0)
            && sample(&text, "kurento_pipelines{kms=\"kms\"}") == Some(0.0)
            && zombie_pipeline_sum(&text).0 == 0.0
            && ids(&report["pipelines"]).is_empty()
            && ids(&report["elements"]).is_empty())
        .then_some(())
    })
    .await;

    stack.shutdown().await;
}
