//! Prometheus file_sd files (`targets_files`): `[{"targets": ["ws://…", "host:port"], "labels":
//! {"kms": "…"}}]`, in JSON or YAML. Pure: text in, targets or a message out; the watcher
//! (`app::discovery`) does the reading.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::config::{check_target_name, check_target_url};
use super::discovered::DiscoveredTarget;
use crate::kurento::redact::redact_url;

/// The path a `host:port` target gets (KMS's default WebSocket path).
const DEFAULT_PATH: &str = "/kurento";

/// One target group of a file_sd file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The shape of a file, told by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Yaml,
}

impl FileFormat {
    /// `.json`, `.yml` or `.yaml` (as Prometheus accepts); `None` for anything else.
    pub fn of(path: &std::path::Path) -> Option<FileFormat> {
        match path.extension()?.to_str()? {
            "json" => Some(FileFormat::Json),
            "yml" | "yaml" => Some(FileFormat::Yaml),
            _ => None,
        }
    }
}

/// The targets of one file, or why the file is rejected (as a whole, like Prometheus: a file
/// that does not parse keeps its previous targets, see `app::discovery`).
///
/// Naming: the group's `kms` label, else the target's `host:port`. A `kms` label names one KMS,
/// so a group with a `kms` label and several targets is rejected. Other labels are ignored (the
/// exporter's series carry `kms` only; relabel in Prometheus for more).
pub fn parse(format: FileFormat, text: &str) -> Result<Vec<DiscoveredTarget>, String> {
    let groups: Vec<Group> = match format {
        FileFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string())?,
        FileFormat::Yaml if text.trim().is_empty() => Vec::new(),
        FileFormat::Yaml => serde_norway::from_str(text).map_err(|e| e.to_string())?,
    };
    let mut found = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let kms = group.labels.get("kms");
        if kms.is_some() && group.targets.len() > 1 {
            return Err(format!(
                "group {g}: a kms label names one KMS, but the group has {} targets",
                group.targets.len()
            ));
        }
        for (t, target) in group.targets.iter().enumerate() {
            let url = target_url(target).map_err(|m| format!("group {g}, target {t}: {m}"))?;
            let name = match kms {
                Some(name) => name.clone(),
                None => host_port(&url).unwrap_or_default(),
            };
            check_target_name(&name).map_err(|m| format!("group {g}, target {t}: kms name {m}"))?;
            found.push(DiscoveredTarget { name, url });
        }
    }
    Ok(found)
}

/// A target as a KMS URL: `ws://` and `wss://` URLs as they are, `host:port` as
/// `ws://host:port/kurento`.
pub fn target_url(target: &str) -> Result<String, String> {
    let url = if target.contains("://") {
        target.to_owned()
    } else {
        format!("ws://{target}{DEFAULT_PATH}")
    };
    check_target_url(&url).map_err(|m| format!("{m} (target {:?})", redact_url(target)))?;
    Ok(url)
}

/// `host:port` of a URL (port as written, or 80/443 by scheme), without credentials or brackets:
/// the default `kms` name.
pub fn host_port(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("wss") => 443,
        _ => 80,
    });
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, url: &str) -> DiscoveredTarget {
        DiscoveredTarget {
            name: name.into(),
            url: url.into(),
        }
    }

    #[test]
    fn json_and_yaml_groups_give_named_targets() {
        let json = r#"[
            {"targets": ["10.0.0.1:8888", "kms-b.example:8888"]},
            {"targets": ["wss://user:pw@kms-c.example/kurento"], "labels": {"kms": "kms-c", "az": "b"}}
        ]"#;
        let want = vec![
            target("10.0.0.1:8888", "ws://10.0.0.1:8888/kurento"),
            target("kms-b.example:8888", "ws://kms-b.example:8888/kurento"),
            target("kms-c", "wss://user:pw@kms-c.example/kurento"),
        ];
        assert_eq!(parse(FileFormat::Json, json).unwrap(), want);
        let yaml = "- targets: ['10.0.0.1:8888', 'kms-b.example:8888']\n\
                    - targets: ['wss://user:pw@kms-c.example/kurento']\n  labels: {kms: kms-c, az: b}\n";
        assert_eq!(parse(FileFormat::Yaml, yaml).unwrap(), want);
        assert_eq!(parse(FileFormat::Yaml, "").unwrap(), vec![]);
        assert_eq!(parse(FileFormat::Json, "[]").unwrap(), vec![]);
    }

    #[test]
    fn bad_files_are_rejected_with_where_and_why() {
        let cases = [
            (r#"{"targets": []}"#, "invalid type"),
            (
                r#"[{"targets": ["http://kms:8888"]}]"#,
                "group 0, target 0: scheme must be ws or wss",
            ),
            (
                r#"[{"targets": ["a:1", "b:2"], "labels": {"kms": "x"}}]"#,
                "group 0: a kms label names one KMS",
            ),
            (
                r#"[{"targets": ["a:1"], "labels": {"kms": "bad name!"}}]"#,
                "kms name",
            ),
            (r#"[{"targets": ["a:notaport"]}]"#, "invalid"),
            (r#"[{"targets": ["ftp://u:secret@a:1"]}]"#, "ftp"),
            (r#"[{"targets": ["a:1"], "extra": 1}]"#, "unknown field"),
        ];
        for (text, want) in cases {
            let err = parse(FileFormat::Json, text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
            assert!(!err.contains("secret"), "a password in {err}");
        }
    }

    #[test]
    fn default_names_are_host_and_port() {
        assert_eq!(
            host_port("ws://[::1]:8888/kurento").as_deref(),
            Some("::1:8888")
        );
        assert_eq!(
            host_port("wss://kms.example/kurento").as_deref(),
            Some("kms.example:443")
        );
        assert_eq!(host_port("ws://u:p@kms:9/k").as_deref(), Some("kms:9"));
        assert_eq!(
            FileFormat::of(std::path::Path::new("/t/a.yaml")),
            Some(FileFormat::Yaml)
        );
        assert_eq!(FileFormat::of(std::path::Path::new("/t/a.txt")), None);
    }
}
