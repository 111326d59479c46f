//! The operations bundle against reality: a real Prometheus (Debian's package) scrapes the
//! exporter watching the simulator (tests/ops/zombies.toml) and evaluates the shipped rules;
//! every dashboard and rule expression returns data; the zombie-growth alert reaches a real
//! Alertmanager (checked through its API); KurentoDown fires when the simulated KMS stops.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "ops/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use common::prometheus::*;
use common::*;
use support::*;

/// The shipped rules with every `for:` set to 0s, so alerts fire as soon as their expression
/// holds: the only transformation (expressions, windows, thresholds, labels stay as shipped).
fn rules_for_live_test(text: &str) -> String {
    let re = regex::Regex::new(r"(?m)^(\s+)for: .*$").unwrap();
    re.replace_all(text, "${1}for: 0s").into_owned()
}

/// Whether Alertmanager holds an active `alertname` alert of job `kurento` with the label `key`
/// set to `value` (`kms` for KMS alerts, `instance` for the exporter's own).
async fn alertmanager_has(am: SocketAddr, alertname: &str, (key, value): (&str, &str)) -> bool {
    let Some(j) = get_json(am, "/api/v2/alerts").await else {
        return false;
    };
    j.as_array().into_iter().flatten().any(|a| {
        a["labels"]["alertname"] == alertname
            && a["labels"][key] == value
            && a["labels"]["job"] == "kurento"
            && a["status"]["state"] == "active"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_against_real_prometheus_and_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(ops_scenario()).await;
    let config = ops_config(&sim.url());
    let stack = Stack::watch(sim, config).await;
    let exporter_addr = stack.addr;

    // Alertmanager: one null receiver; the API shows every alert it received.
    let am_port = free_port();
    let am_addr: SocketAddr = format!("127.0.0.1:{am_port}").parse().unwrap();
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route:\n  receiver: \"null\"\n  group_wait: 1s\nreceivers:\n  - name: \"null\"\n",
    )
    .unwrap();
    let _am = spawn(
        "/usr/bin/prometheus-alertmanager",
        &[
            "--cluster.listen-address=".into(),
            format!("--web.listen-address={am_addr}"),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ),
        ],
        &dir.path().join("alertmanager.log"),
    );

    // Prometheus: scrapes the exporter every second and evaluates the (shortened) rules.
    let mut rule_paths = Vec::new();
    for (i, file) in RULE_FILES.iter().enumerate() {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let path = dir.path().join(format!("rules-{i}.yml"));
        std::fs::write(&path, rules_for_live_test(&text)).unwrap();
        rule_paths.push(path);
    }
    let prom_port = free_port();
    let prom_addr: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n\
         rule_files:\n{}\
         scrape_configs:\n  - job_name: kurento\n    static_configs:\n      - targets: ['{exporter_addr}']\n",
        rule_paths
            .iter()
            .map(|p| format!("  - {}\n", p.display()))
            .collect::<String>()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _prom = spawn(
        "/usr/bin/prometheus",
        &[
            format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address={prom_addr}"),
            "--rules.alert.resend-delay=1s".into(),
        ],
        &dir.path().join("prometheus.log"),
    );
    let logs = || {
        format!(
            "--- prometheus log ---\n{}\n--- alertmanager log ---\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("alertmanager.log")).unwrap_or_default()
        )
    };

    let up = poll_until(Duration::from_secs(60), async || {
        query(prom_addr, "kurento_up{job=\"kurento\",kms=\"ops\"} == 1")
            .await
            .is_some_and(|r| !r.is_empty())
    })
    .await;
    if let Err(timed_out) = up {
        panic!(
            "{}\n{}",
            timed_out.message("Prometheus to see kurento_up 1"),
            logs()
        );
    }

    // Every dashboard expression (as Grafana sends it with "All" selected and a 1m rate
    // interval), every recording rule and every alert expression without its threshold returns
    // data. Rate windows need a few scrapes; the world needs a few seconds (GC, zombies).
    let mut exprs: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .map(|q| {
            // Annotation queries mark events (`… > 0`): without the comparison they return data.
            let expr = substitute(&q.expr, "1m");
            let expr = if q.place.contains(": annotation ") {
                without_threshold(&expr)
            } else {
                expr
            };
            (q.place, expr)
        })
        .collect();
    for r in rules() {
        let expr = if r.alert {
            without_threshold(&r.expr)
        } else {
            r.expr.clone()
        };
        exprs.push((format!("rule {}", r.name), expr.clone()));
        if !r.alert {
            exprs.push((format!("recorded series {}", r.name), r.name.clone()));
        }
    }
    // An expression that returned data once is not asked again; what still has none at the
    // deadline is reported below.
    let mut pending = exprs.clone();
    let _ = poll_until(Duration::from_secs(40), async || {
        let mut still = Vec::new();
        for (place, expr) in pending.drain(..) {
            if query(prom_addr, &expr).await.is_none_or(|r| r.is_empty()) {
                still.push((place, expr));
            }
        }
        pending = still;
        pending.is_empty()
    })
    .await;
    let mut failures: Vec<String> = pending
        .iter()
        .map(|(place, expr)| format!("no data: {place}: {expr}"))
        .collect();

    // Every rule evaluates without error.
    if let Some(j) = get_json(prom_addr, "/api/v1/rules").await {
        for g in j["data"]["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                if r["health"] != "ok" {
                    failures.push(format!("rule {} unhealthy: {}", r["name"], r["lastError"]));
                }
            }
        }
    } else {
        failures.push("/api/v1/rules did not answer".into());
    }

    // Forgotten calls pile up as zombies: the growth alert reaches Alertmanager.
    if poll_until(Duration::from_secs(60), async || {
        alertmanager_has(am_addr, "KurentoZombiePipelinesGrowing", ("kms", "ops")).await
    })
    .await
    .is_err()
    {
        failures.push("KurentoZombiePipelinesGrowing never reached Alertmanager".into());
    }

    // The KMS stops: kurento_up turns 0 and KurentoDown reaches Alertmanager.
    let Stack { sim, exporter, .. } = stack;
    sim.shutdown().await;
    if poll_until(Duration::from_secs(60), async || {
        alertmanager_has(am_addr, "KurentoDown", ("kms", "ops")).await
    })
    .await
    .is_err()
    {
        failures.push("KurentoDown never reached Alertmanager after the KMS stopped".into());
    }
    // The exporter stops: Prometheus' `up` turns 0 and KurentoExporterDown reaches Alertmanager.
    let exporter_instance = exporter.local_addr().to_string();
    exporter.shutdown().await;
    if poll_until(Duration::from_secs(60), async || {
        alertmanager_has(
            am_addr,
            "KurentoExporterDown",
            ("instance", &exporter_instance),
        )
        .await
    })
    .await
    .is_err()
    {
        failures.push(
            "KurentoExporterDown never reached Alertmanager after the exporter stopped".into(),
        );
    }
    assert!(failures.is_empty(), "{}\n{}", failures.join("\n"), logs());
}

#[test]
fn live_rules_differ_from_the_shipped_ones_only_by_for() {
    for file in RULE_FILES {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let live = rules_for_live_test(&text);
        let strip = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.trim_start().starts_with("for:"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(strip(&text), strip(&live), "{file}");
        for l in live.lines().filter(|l| l.trim_start().starts_with("for:")) {
            assert_eq!(l.trim(), "for: 0s");
        }
    }
}
