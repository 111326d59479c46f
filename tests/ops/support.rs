//! Shared by the operations-bundle tests (tests/ops_static.rs, tests/ops_live.rs): reading the
//! shipped rules and dashboards, the expressions they contain, and the metric names those use.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub const RULE_FILES: &[&str] = &[
    "deploy/prometheus/rules/kurento-recording.rules.yml",
    "deploy/prometheus/rules/kurento-alerts.rules.yml",
];

pub const DASHBOARDS: &[&str] = &[
    "dashboards/kurento-fleet.json",
    "dashboards/kurento-kms.json",
    "dashboards/kurento-media.json",
    "dashboards/kurento-zombies.json",
];

pub fn read_yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One rule of a shipped rules file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `record` or `alert` name.
    pub name: String,
    pub alert: bool,
    pub expr: String,
    pub yaml: Yaml,
}

pub fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for file in RULE_FILES {
        let doc = read_yaml(&repo().join(file));
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                let (name, alert) = match (rule["alert"].as_str(), rule["record"].as_str()) {
                    (Some(a), None) => (a, true),
                    (None, Some(r)) => (r, false),
                    _ => panic!("{file}: a rule needs exactly one of alert/record: {rule:?}"),
                };
                out.push(Rule {
                    name: name.to_owned(),
                    alert,
                    expr: rule["expr"].as_str().unwrap().trim().to_owned(),
                    yaml: rule.clone(),
                });
            }
        }
    }
    out
}

/// Every panel of a dashboard, rows' nested panels included.
pub fn panels(dashboard: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        out.push(p.clone());
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter().cloned());
        }
    }
    out
}

/// A query of a dashboard: where it is, and its raw (templated) text.
#[derive(Debug, Clone)]
pub struct DashboardQuery {
    pub place: String,
    pub expr: String,
}

/// Every PromQL expression of every dashboard: panel targets and annotation queries.
pub fn dashboard_queries() -> Vec<DashboardQuery> {
    let mut out = Vec::new();
    for file in DASHBOARDS {
        let d = read_json(&repo().join(file));
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(DashboardQuery {
                    place: format!(
                        "{file}: panel {:?} {}",
                        p["title"].as_str().unwrap_or(""),
                        t["refId"].as_str().unwrap_or("")
                    ),
                    expr: t["expr"].as_str().unwrap().to_owned(),
                });
            }
        }
        for a in d["annotations"]["list"].as_array().into_iter().flatten() {
            if let Some(expr) = a["expr"].as_str() {
                out.push(DashboardQuery {
                    place: format!("{file}: annotation {:?}", a["name"].as_str().unwrap_or("")),
                    expr: expr.to_owned(),
                });
            }
        }
    }
    out
}

/// What Grafana would send for "All" on every variable, with `$__rate_interval` as given.
pub fn substitute(expr: &str, rate_interval: &str) -> String {
    expr.replace("$__rate_interval", rate_interval)
        .replace("$job", ".+")
        .replace("$kms", ".+")
}

/// An alert expression without its final comparison against a number (`X > 0.5` → `X`), so a
/// healthy system still returns the compared series.
pub fn without_threshold(expr: &str) -> String {
    let re = regex::Regex::new(r"(?s)^(.*?)\s*(>|<|>=|<=|==|!=)\s*-?[0-9][0-9.e+]*\s*$").unwrap();
    match re.captures(expr.trim()) {
        Some(c) => c[1].to_owned(),
        None => expr.trim().to_owned(),
    }
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "Inf",
    "NaN",
];

/// Metric names an expression selects (a small lexer, good for the expressions we ship): string
/// literals, label matchers, ranges and grouping clauses are removed, then any identifier not
/// followed by `(` (a function or aggregation) and not a keyword is a metric name.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let strings = regex::Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#).unwrap();
    let matchers = regex::Regex::new(r"\{[^}]*\}|\[[^\]]*\]").unwrap();
    let grouping =
        regex::Regex::new(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
            .unwrap();
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    let text = strings.replace_all(expr, "\"\"");
    let text = matchers.replace_all(&text, " ");
    let text = grouping.replace_all(&text, " ");
    let mut out = BTreeSet::new();
    for m in ident.find_iter(&text) {
        let before = text[..m.start()].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_digit() || c == '.') {
            continue; // part of a number such as 1e9
        }
        let after = text[m.end()..].trim_start();
        if after.starts_with('(') || KEYWORDS.contains(&m.as_str()) {
            continue;
        }
        out.insert(m.as_str().to_owned());
    }
    out
}

/// Sample names of a classic-text exposition (`name{…} value` or `name value`).
pub fn served_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Runs `promtool check rules` on a rules file; returns (success, report).
pub fn promtool_check_rules(path: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(path)
        .output()
        .expect("promtool not found: install Debian's prometheus package (scripts/test.sh does)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A rules file with one recording rule per expression, each in a group named after its place,
/// so promtool's report names the expression that does not parse.
pub fn rules_file_for(exprs: &[(String, String)]) -> String {
    let groups: Vec<Yaml> = exprs
        .iter()
        .enumerate()
        .map(|(i, (place, expr))| {
            serde_norway::from_str(&format!(
                "name: {}\nrules:\n  - record: ops_check:expr:{i}\n    expr: {}\n",
                serde_json::to_string(place).unwrap(),
                serde_json::to_string(expr).unwrap()
            ))
            .unwrap()
        })
        .collect();
    let mut doc = serde_norway::Mapping::new();
    doc.insert("groups".into(), Yaml::Sequence(groups));
    serde_norway::to_string(&doc).unwrap()
}

/// The GitHub anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The exporter configuration of the ops tests: polls every second, declares a pipeline a
/// zombie after 2 s, and runs the health probe (KurentoHealthProbeFailing's series).
pub fn ops_config(url: &str) -> kurento_exporter::app::config::Config {
    let text = format!(
        "[web]\nlisten_address = \"127.0.0.1:0\"\n\
         [poll]\ninterval = \"1s\"\ntimeout = \"900ms\"\ncpu_sample = \"50ms\"\nready_timeout = \"1h\"\n\
         [zombie]\nidle_after = \"2s\"\n\
         [[targets]]\nname = \"ops\"\nurl = \"{url}\"\n\
         health_probe = true\nhealth_probe_interval = \"2s\"\nhealth_probe_timeout = \"1s\"\n"
    );
    toml::from_str(&text).expect("ops test config")
}

pub fn ops_scenario() -> kurento_exporter::sim::Scenario {
    kurento_exporter::sim::Scenario::from_file(&repo().join("tests/ops/zombies.toml")).unwrap()
}
