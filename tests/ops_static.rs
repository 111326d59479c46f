//! Static checks of the operations bundle: every YAML file parses, promtool accepts the rules and
//! every dashboard expression, the alert unit tests pass and cover every alert, alerts carry
//! severity/summary/description/runbook_url into docs/runbook.md, dashboards follow the lint
//! rules, and every metric name used is served by the exporter (its real output).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "ops/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_norway::Value as Yaml;
use support::*;

/// Series Prometheus writes itself for every scrape target, never served by an exporter.
const PROMETHEUS_SERIES: &[&str] = &["up"];

const REQUIRED_ALERTS: &[&str] = &[
    "KurentoDown",
    "KurentoRestarted",
    "KurentoZombiePipelinesGrowing",
    "KurentoTranscodingSpike",
    "KurentoPacketLossHigh",
    "KurentoJitterHigh",
    "KurentoRttHigh",
    "KurentoCallQualityLow",
    "KurentoIceFailures",
    "KurentoTurnRelayShareHigh",
    "KurentoCpuHigh",
    "KurentoMemoryGrowing",
    "KurentoExporterPollFailing",
    "KurentoExporterDown",
    "KurentoHealthProbeFailing",
];

fn files_with_ext(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_with_ext(&path, exts, out);
        } else if path
            .extension()
            .is_some_and(|e| exts.iter().any(|x| e == *x))
        {
            out.push(path);
        }
    }
}

#[test]
fn every_yaml_file_parses() {
    let mut files = Vec::new();
    for dir in ["deploy", "dashboards", "tests/ops"] {
        files_with_ext(&repo().join(dir), &["yml", "yaml"], &mut files);
    }
    assert!(
        files.len() >= 12,
        "expected the bundle's YAML files, found {files:?}"
    );
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut docs = 0;
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value = <Yaml as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(!value.is_null(), "{}: empty document", file.display());
            docs += 1;
        }
        assert!(docs > 0, "{}: no document", file.display());
    }
    // A broken file is rejected, so the loop above can fail.
    assert!(serde_norway::from_str::<Yaml>("a: [1, 2\nb: c").is_err());
}

#[test]
fn promtool_accepts_the_shipped_rules() {
    for file in RULE_FILES {
        let (ok, report) = promtool_check_rules(&repo().join(file));
        assert!(ok, "{file}:\n{report}");
    }
}

#[test]
fn alert_unit_tests_pass_and_cover_every_alert() {
    let test_file = repo().join("deploy/prometheus/tests/kurento-alerts.test.yml");
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Every alert has a test case where it fires for one KMS while another (healthy) KMS of the
    // same case has series too: promtool fails when the healthy one fires, since exp_alerts
    // lists only the firing KMS. Alerts on the exporter itself have no `kms`: the scrape
    // target (`instance`, else `job`) plays its part.
    let doc = read_yaml(&test_file);
    let mut covered = BTreeSet::new();
    let identity = |labels: &str| -> String {
        ["kms", "instance", "job"]
            .iter()
            .find_map(|key| {
                let re = regex::Regex::new(&format!(r#"\b{key}="([^"]*)""#)).unwrap();
                re.captures(labels).map(|c| format!("{key}={}", &c[1]))
            })
            .unwrap_or_else(|| panic!("a series without kms, instance or job: {labels}"))
    };
    for case in doc["tests"].as_sequence().unwrap() {
        let series_kms: BTreeSet<String> = case["input_series"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| identity(s["series"].as_str().unwrap()))
            .collect();
        for t in case["alert_rule_test"].as_sequence().unwrap() {
            let name = t["alertname"].as_str().unwrap().to_owned();
            let firing: BTreeSet<String> = t["exp_alerts"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| {
                    let labels = &a["exp_labels"];
                    ["kms", "instance", "job"]
                        .iter()
                        .find_map(|key| labels[*key].as_str().map(|v| format!("{key}={v}")))
                        .unwrap_or_else(|| {
                            panic!("{name}: an expected alert without kms, instance or job")
                        })
                })
                .collect();
            assert!(
                !firing.is_empty(),
                "{name}: the test must expect it to fire"
            );
            assert!(
                series_kms.difference(&firing).next().is_some(),
                "{name}: the test needs a healthy KMS that must stay silent"
            );
            covered.insert(name);
        }
    }
    let alerts: BTreeSet<String> = rules()
        .into_iter()
        .filter(|r| r.alert)
        .map(|r| r.name)
        .collect();
    let untested: Vec<_> = alerts.difference(&covered).collect();
    assert!(
        untested.is_empty(),
        "alerts without a unit test: {untested:?}"
    );
}

#[test]
fn alerts_are_complete_and_point_into_the_runbook() {
    let runbook = std::fs::read_to_string(repo().join("docs/runbook.md")).unwrap();
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .map(anchor)
        .collect();
    let rules = rules();
    let alerts: BTreeMap<String, Rule> = rules
        .iter()
        .filter(|r| r.alert)
        .map(|r| (r.name.clone(), r.clone()))
        .collect();
    for name in REQUIRED_ALERTS {
        assert!(alerts.contains_key(*name), "missing alert {name}");
    }
    for (name, rule) in &alerts {
        let severity = rule.yaml["labels"]["severity"].as_str().unwrap_or("");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description", "runbook_url"] {
            let v = rule.yaml["annotations"][key].as_str().unwrap_or("");
            assert!(!v.trim().is_empty(), "{name}: annotation {key} missing");
        }
        let url = rule.yaml["annotations"]["runbook_url"].as_str().unwrap();
        let (page, anchor) = url.split_once('#').unwrap_or((url, ""));
        assert!(page.ends_with("/docs/runbook.md"), "{name}: {url}");
        assert_eq!(anchor, name.to_lowercase(), "{name}: anchor of {url}");
        assert!(
            anchors.contains(anchor),
            "{name}: docs/runbook.md has no #{anchor}"
        );
        if let Some(d) = rule.yaml["for"].as_str() {
            let d = humantime::parse_duration(d).unwrap();
            assert!(
                d >= Duration::from_secs(60),
                "{name}: for {d:?} is too short for production"
            );
        }
    }
    let record = regex::Regex::new(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$").unwrap();
    for r in rules.iter().filter(|r| !r.alert) {
        assert!(
            record.is_match(&r.name),
            "{}: not level:metric:operation",
            r.name
        );
    }
}

#[test]
fn promtool_parses_every_dashboard_expression() {
    let exprs: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .map(|q| (q.place, substitute(&q.expr, "1m")))
        .collect();
    assert!(exprs.len() > 50, "dashboards hold {} queries", exprs.len());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboards.rules.yml");
    std::fs::write(&file, rules_file_for(&exprs)).unwrap();
    let (ok, report) = promtool_check_rules(&file);
    assert!(ok, "{report}");

    // A broken expression is rejected, so the check above can fail.
    std::fs::write(
        &file,
        rules_file_for(&[("bad".into(), "sum(rate(x[1m])".into())]),
    )
    .unwrap();
    assert!(!promtool_check_rules(&file).0);
}

#[test]
fn dashboards_follow_the_lint_rules() {
    let range = regex::Regex::new(r"\[([^\]]*)\]").unwrap();
    let selector = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\{[^}]*\})?").unwrap();
    let mut uids = BTreeSet::new();
    let mut problems = Vec::new();
    for file in DASHBOARDS {
        let d = read_json(&repo().join(file));
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_owned()),
            "{file}: uid reused"
        );
        assert!(
            !d["title"].as_str().unwrap_or("").is_empty(),
            "{file}: title"
        );
        let vars: BTreeMap<&str, &serde_json::Value> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        assert_eq!(vars["datasource"]["type"], "datasource", "{file}");
        assert_eq!(vars["datasource"]["query"], "prometheus", "{file}");
        // From a panel to the exporter's inspection page (README "Inspection page").
        assert_eq!(vars["exporter"]["type"], "textbox", "{file}: $exporter");
        assert!(
            d["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["url"] == "${exporter}/ui/"),
            "{file}: no link to the inspection page"
        );
        for p in panels(&d) {
            let per_kms = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["legendFormat"].as_str().unwrap_or("").contains("{{kms}}"));
            let linked = p["fieldConfig"]["defaults"]["links"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["url"] == "${exporter}/ui/#/kms/${__field.labels.kms}");
            assert!(
                !per_kms || linked,
                "{file}: panel {} has no inspection link",
                p["title"]
            );
        }
        for v in ["job", "kms"] {
            assert_eq!(vars[v]["type"], "query", "{file}: ${v}");
            assert_eq!(
                vars[v]["datasource"]["uid"], "${datasource}",
                "{file}: ${v}"
            );
        }
        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("").to_owned();
            let at = format!("{file}: panel {title:?}");
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{at}: id reused");
            if p["type"] == "row" {
                continue;
            }
            if title.is_empty() {
                problems.push(format!("{at}: no title"));
            }
            if p["description"].as_str().unwrap_or("").trim().is_empty() {
                problems.push(format!("{at}: no description"));
            }
            if p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("")
                .is_empty()
            {
                problems.push(format!("{at}: no unit"));
            }
            if p["datasource"]["uid"] != "${datasource}" {
                problems.push(format!("{at}: datasource is not ${{datasource}}"));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{at}: no query"));
            }
            for t in targets {
                if t["datasource"]["uid"] != "${datasource}" {
                    problems.push(format!("{at}: target datasource is not ${{datasource}}"));
                }
                problems.extend(expr_problems(
                    &at,
                    t["expr"].as_str().unwrap(),
                    &range,
                    &selector,
                ));
            }
        }
        for a in d["annotations"]["list"].as_array().into_iter().flatten() {
            if let Some(expr) = a["expr"].as_str() {
                problems.extend(expr_problems(
                    &format!("{file}: annotation"),
                    expr,
                    &range,
                    &selector,
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard lint:\n{}",
        problems.join("\n")
    );

    // The expression rules can fail.
    let bad = expr_problems("x", "rate(kurento_up[5m])", &range, &selector);
    assert_eq!(bad.len(), 2, "{bad:?}");
}

/// An expression's lint problems: every range is `[$__rate_interval]` and every metric selector
/// is templated on job and kms.
fn expr_problems(
    at: &str,
    expr: &str,
    range: &regex::Regex,
    selector: &regex::Regex,
) -> Vec<String> {
    let mut problems = Vec::new();
    for c in range.captures_iter(expr) {
        if &c[1] != "$__rate_interval" {
            problems.push(format!(
                "{at}: range [{}] instead of [$__rate_interval] in {expr}",
                &c[1]
            ));
        }
    }
    let names = metric_names(expr);
    for m in selector.captures_iter(expr) {
        let name = m.get(0).unwrap().as_str().split('{').next().unwrap();
        if !names.contains(name) {
            continue;
        }
        let matchers = m.get(1).map(|g| g.as_str()).unwrap_or("");
        if !(matchers.contains(r#"job=~"$job""#) && matchers.contains(r#"kms=~"$kms""#)) {
            problems.push(format!(
                "{at}: {name} not selected by $job and $kms in {expr}"
            ));
        }
    }
    problems
}

#[test]
fn metric_names_are_found_in_expressions() {
    let cases: &[(&str, &[&str])] = &[
        ("kurento_up == 0", &["kurento_up"]),
        (
            r#"sum by (kms, le) (rate(kurento_rtp_bytes_total{job=~"$job", kms=~"a b"}[5m])) * 8"#,
            &["kurento_rtp_bytes_total"],
        ),
        (
            "histogram_quantile(0.95, sum(x_bucket) by (le)) / on (kms) group_left (version) y",
            &["x_bucket", "y"],
        ),
        (
            "deriv(m[1h]) * 3600 / m > 1e9 and bool z offset 5m",
            &["m", "z"],
        ),
        (
            "delta(kms:kurento_zombie_pipelines:sum[1h]) > 10",
            &["kms:kurento_zombie_pipelines:sum"],
        ),
        (r#"label_replace(a, "dst", "$1", "src", "(.*)")"#, &["a"]),
    ];
    for (expr, want) in cases {
        let got: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(got, *want, "{expr}");
    }
    assert_eq!(without_threshold("a > 0.5"), "a");
    assert_eq!(
        without_threshold("rate(x[5m]) * 60 >= 6"),
        "rate(x[5m]) * 60"
    );
    assert_eq!(without_threshold("kurento_up == 0"), "kurento_up");
    assert_eq!(without_threshold("up"), "up");
}

/// Names every dashboard and rule selects, except those the recording rules produce.
pub fn used_metric_names() -> BTreeMap<String, Vec<String>> {
    let rules = rules();
    let recorded: BTreeSet<&str> = rules
        .iter()
        .filter(|r| !r.alert)
        .map(|r| r.name.as_str())
        .collect();
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |place: String, expr: &str| {
        for name in metric_names(expr) {
            if !recorded.contains(name.as_str()) && !PROMETHEUS_SERIES.contains(&name.as_str()) {
                used.entry(name).or_default().push(place.clone());
            }
        }
    };
    for q in dashboard_queries() {
        add(q.place, &q.expr);
    }
    for r in &rules {
        add(format!("rule {}", r.name), &r.expr);
    }
    used
}

#[tokio::test]
async fn every_metric_name_used_is_served_by_the_exporter() {
    let used = used_metric_names();
    assert!(used.len() > 30, "{used:?}");
    let sim = start_sim(ops_scenario()).await;
    let config = ops_config(&sim.url());
    let stack = Stack::watch(sim, config).await;
    stack
        .wait_for_sample("kurento_up{kms=\"ops\"}", Duration::from_secs(20), |v| {
            v == 1.0
        })
        .await;
    // Families appear as the world evolves (objects destroyed by GC, zombies after idle_after):
    // poll until every used name is served; on timeout, report exactly the missing ones.
    let served = poll_until(Duration::from_secs(20), async || {
        let served = served_names(&stack.scrape().await);
        let missing: Vec<String> = used
            .iter()
            .filter(|(name, _)| !served.contains(*name))
            .map(|(n, places)| format!("{n} (used by {})", places.join("; ")))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("\n"))
        }
    })
    .await;
    stack.shutdown().await;
    if let Err(timed_out) = served {
        panic!(
            "metric names used by dashboards or rules but not served by the exporter:\n{}",
            timed_out.last.unwrap_or_default()
        );
    }
}

#[test]
fn kubernetes_bundle_matches_the_rules_and_dashboards() {
    // The PrometheusRule carries exactly the groups of the shipped rules files.
    let rule = read_yaml(&repo().join("deploy/kubernetes/prometheusrule.yaml"));
    assert_eq!(rule["kind"], "PrometheusRule");
    let mut groups = Vec::new();
    for file in RULE_FILES {
        groups.extend(
            read_yaml(&repo().join(file))["groups"]
                .as_sequence()
                .unwrap()
                .clone(),
        );
    }
    assert_eq!(
        rule["spec"]["groups"].as_sequence().unwrap(),
        &groups,
        "deploy/kubernetes/prometheusrule.yaml is stale: run python3 deploy/kubernetes/sync.py"
    );
    // The dashboards ConfigMap carries exactly the dashboard files.
    let cm = read_yaml(&repo().join("deploy/kubernetes/dashboards-configmap.yaml"));
    assert_eq!(cm["kind"], "ConfigMap");
    for file in DASHBOARDS {
        let key = Path::new(file).file_name().unwrap().to_str().unwrap();
        let want = std::fs::read_to_string(repo().join(file)).unwrap();
        assert_eq!(
            cm["data"][key].as_str(),
            Some(want.as_str()),
            "{key} is stale in the ConfigMap: run python3 deploy/kubernetes/sync.py"
        );
    }
}

#[test]
fn promtool_and_amtool_accept_the_shipped_configs() {
    // Debian's Prometheus is built without Kubernetes discovery, so scrape-kubernetes.yml is only
    // checked as YAML (every_yaml_file_parses).
    for file in [
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/scrape-file-sd.yml",
        "deploy/docker-compose/prometheus.yml",
    ] {
        let out = Command::new("promtool")
            .args(["check", "config", "--syntax-only"])
            .arg(repo().join(file))
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("amtool")
        .args(["check-config"])
        .arg(repo().join("deploy/docker-compose/alertmanager.yml"))
        .output()
        .expect("amtool (Debian's prometheus-alertmanager package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The recording rules of the capacity group (README "Capacity and autoscaling").
fn capacity_rules() -> BTreeSet<String> {
    let doc = read_yaml(&repo().join("deploy/prometheus/rules/kurento-recording.rules.yml"));
    let group = doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "kurento.capacity")
        .expect("group kurento.capacity");
    group["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["record"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn capacity_unit_tests_pass_and_cover_every_capacity_rule() {
    let test_file = repo().join("deploy/prometheus/tests/kurento-capacity.test.yml");
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test_file)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Every capacity rule is the subject of an expression test with expected samples.
    let doc = read_yaml(&test_file);
    let mut covered = BTreeSet::new();
    for case in doc["tests"].as_sequence().unwrap() {
        for t in case["promql_expr_test"].as_sequence().unwrap() {
            if t["exp_samples"]
                .as_sequence()
                .is_some_and(|s| !s.is_empty())
            {
                covered.extend(metric_names(t["expr"].as_str().unwrap()));
            }
        }
    }
    let rules = capacity_rules();
    for name in [
        "kms:kurento_load:ratio",
        "kms:kurento_headroom:endpoints",
        "job:kurento_load:avg",
        "kms:kurento_idle:bool",
    ] {
        assert!(rules.contains(name), "missing capacity rule {name}");
    }
    let untested: Vec<_> = rules.difference(&covered).collect();
    assert!(
        untested.is_empty(),
        "capacity rules without a unit test: {untested:?}"
    );
}

#[test]
fn autoscaling_examples_parse_and_use_shipped_rules() {
    let recorded: BTreeSet<String> = rules()
        .into_iter()
        .filter(|r| !r.alert)
        .map(|r| r.name)
        .collect();
    let known: BTreeMap<&str, &str> = [
        ("ScaledObject", "keda.sh/v1alpha1"),
        ("HorizontalPodAutoscaler", "autoscaling/v2"),
        ("ConfigMap", "v1"),
        ("StatefulSet", "apps/v1"),
        ("Service", "v1"),
    ]
    .into_iter()
    .collect();
    // Recording-rule names (level:metric:operation) anywhere in a file, comments included.
    let rule_name = regex::Regex::new(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b").unwrap();
    let mut files = Vec::new();
    files_with_ext(
        &repo().join("deploy/autoscaling"),
        &["yml", "yaml"],
        &mut files,
    );
    files.sort();
    let mut kinds = BTreeSet::new();
    let mut adapter_metrics = BTreeSet::new();
    let mut hpa_metrics = BTreeSet::new();
    let mut guard_hooks = 0;
    for file in &files {
        let at = file.display().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        for m in rule_name.find_iter(&text) {
            assert!(
                recorded.contains(m.as_str()),
                "{at}: {} is not a shipped recording rule",
                m.as_str()
            );
        }
        for doc in serde_norway::Deserializer::from_str(&text) {
            let doc = <Yaml as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no kind"));
            let api = doc["apiVersion"].as_str().unwrap_or("");
            assert_eq!(known.get(kind), Some(&api), "{at}: {kind} {api}");
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{at}: {kind} without a name"
            );
            kinds.insert(kind.to_owned());
            match kind {
                "ScaledObject" => {
                    for t in doc["spec"]["triggers"].as_sequence().unwrap() {
                        assert_eq!(t["type"], "prometheus", "{at}");
                        let query = t["metadata"]["query"].as_str().unwrap();
                        let names = metric_names(query);
                        assert!(names.contains("job:kurento_load:avg"), "{at}: {query}");
                        for n in names {
                            assert!(recorded.contains(&n), "{at}: {n} is not recorded");
                        }
                        let threshold: f64 = t["metadata"]["threshold"]
                            .as_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        assert!(threshold > 0.0 && threshold < 1.0, "{at}: {threshold}");
                    }
                }
                "ConfigMap" => {
                    let config: Yaml =
                        serde_norway::from_str(doc["data"]["config.yaml"].as_str().unwrap())
                            .unwrap_or_else(|e| panic!("{at}: config.yaml: {e}"));
                    for r in config["externalRules"].as_sequence().unwrap() {
                        let series = r["seriesQuery"].as_str().unwrap();
                        for n in metric_names(series) {
                            assert!(recorded.contains(&n), "{at}: {n} is not recorded");
                        }
                        let matched = r["name"]["matches"].as_str().unwrap();
                        let matched = matched.trim_start_matches('^').trim_end_matches('$');
                        assert!(recorded.contains(matched), "{at}: {matched}");
                        adapter_metrics.insert(r["name"]["as"].as_str().unwrap().to_owned());
                    }
                }
                "HorizontalPodAutoscaler" => {
                    for m in doc["spec"]["metrics"].as_sequence().unwrap() {
                        hpa_metrics
                            .insert(m["external"]["metric"]["name"].as_str().unwrap().to_owned());
                    }
                }
                "StatefulSet" => {
                    for c in doc["spec"]["template"]["spec"]["containers"]
                        .as_sequence()
                        .unwrap()
                    {
                        let hook = serde_norway::to_string(&c["lifecycle"]["preStop"]).unwrap();
                        if hook.contains("kms:kurento_idle:bool") {
                            guard_hooks += 1;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for kind in [
        "ScaledObject",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "StatefulSet",
    ] {
        assert!(kinds.contains(kind), "deploy/autoscaling has no {kind}");
    }
    assert!(
        !hpa_metrics.is_empty() && hpa_metrics.is_subset(&adapter_metrics),
        "the HPA reads {hpa_metrics:?}, the adapter serves {adapter_metrics:?}"
    );
    assert_eq!(guard_hooks, 1, "the scale-in guard's preStop hook");
}
