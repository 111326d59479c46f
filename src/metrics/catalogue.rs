//! Every metric the exporter serves: name, type, unit, labels, help and KMS source. The collector
//! renders from these definitions and the README's metrics reference is checked against them, so
//! the documentation cannot drift from the code.

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Info,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Info => "info",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The name without the unit and without the `_total` / `_info` type suffix.
    pub family: &'static str,
    /// The base unit, also the name's suffix (OpenMetrics `# UNIT`).
    pub unit: Option<&'static str>,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// Where the value comes from: a KMS call/field, or `exporter` for self-observation.
    pub source: &'static str,
}

impl MetricDef {
    /// The name samples carry in the classic text format (and the name users query).
    pub fn exposed_name(&self) -> String {
        let mut name = self.family.to_owned();
        if let Some(unit) = self.unit {
            name.push('_');
            name.push_str(unit);
        }
        match self.kind {
            Kind::Counter => name.push_str("_total"),
            Kind::Info => name.push_str("_info"),
            Kind::Gauge | Kind::Histogram => {}
        }
        name
    }

    /// HELP text: what it is, where it comes from, and that it is cached from the last poll.
    pub fn help_text(&self) -> String {
        if self.source == "exporter" {
            self.help.to_owned()
        } else {
            format!(
                "{} Source: KMS {}. Cached from the last poll.",
                self.help, self.source
            )
        }
    }
}

pub const BUILD_INFO: MetricDef = MetricDef {
    family: "kurento_exporter_build",
    unit: None,
    kind: Kind::Info,
    labels: &["version", "revision"],
    help: "Build of the running kurento_exporter; always 1.",
    source: "exporter",
};
pub const UP: MetricDef = MetricDef {
    family: "kurento_up",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "1 if the last poll cycle of this KMS succeeded, else 0.",
    source: "exporter",
};
pub const POLL_DURATION: MetricDef = MetricDef {
    family: "kurento_exporter_poll_duration",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Wall time of the last finished poll cycle.",
    source: "exporter",
};
pub const LAST_POLL_SUCCESS: MetricDef = MetricDef {
    family: "kurento_exporter_last_poll_success_timestamp",
    unit: Some("seconds"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Unix time when the last successful poll cycle finished.",
    source: "exporter",
};
pub const POLL_ERRORS: MetricDef = MetricDef {
    family: "kurento_exporter_poll_errors",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "reason"],
    help: "Failed poll cycles and failed reads, by reason (connect, timeout, disconnected, overloaded, kms_error, decode).",
    source: "exporter",
};
pub const KMS_REQUESTS: MetricDef = MetricDef {
    family: "kurento_exporter_kms_requests",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms"],
    help: "JSON-RPC requests sent to this KMS, pings included (the exporter's observer effect).",
    source: "exporter",
};
pub const SERVER_INFO: MetricDef = MetricDef {
    family: "kurento_server",
    unit: None,
    kind: Kind::Info,
    labels: &["kms", "version"],
    help: "KMS version; always 1.",
    source: "ServerManager.getInfo version",
};
pub const SERVER_RESTARTS: MetricDef = MetricDef {
    family: "kurento_server_restarts",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms"],
    help: "KMS restarts seen by the exporter (changes of serverId).",
    source: "connect serverId",
};
pub const SERVER_CPU_COUNT: MetricDef = MetricDef {
    family: "kurento_server_cpus",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "CPUs available to the KMS process.",
    source: "ServerManager.getCpuCount",
};
pub const SERVER_CPU_USAGE: MetricDef = MetricDef {
    family: "kurento_server_cpu_usage",
    unit: Some("ratio"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "CPU used by the KMS process as a ratio of all its CPUs: getUsedCpu / (100 * getCpuCount).",
    source: "ServerManager.getUsedCpu",
};
pub const SERVER_MEMORY: MetricDef = MetricDef {
    family: "kurento_server_memory_resident",
    unit: Some("bytes"),
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Resident memory of the KMS process (getUsedMemory KiB * 1024).",
    source: "ServerManager.getUsedMemory",
};
pub const SERVER_SESSIONS: MetricDef = MetricDef {
    family: "kurento_server_sessions",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Distinct client sessions holding objects, not counting the exporter's own.",
    source: "ServerManager.getSessions",
};
pub const PIPELINES: MetricDef = MetricDef {
    family: "kurento_pipelines",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms"],
    help: "Media pipelines alive.",
    source: "getPipelines and ObjectCreated/ObjectDestroyed",
};
pub const ELEMENTS: MetricDef = MetricDef {
    family: "kurento_elements",
    unit: None,
    kind: Kind::Gauge,
    labels: &["kms", "element_type"],
    help: "Objects inside pipelines by class (endpoints, filters, hubs, hub ports).",
    source: "getChildren and ObjectCreated/ObjectDestroyed",
};
pub const OBJECTS_CREATED: MetricDef = MetricDef {
    family: "kurento_objects_created",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "element_type"],
    help: "Objects created (pipelines included) since the exporter started watching.",
    source: "ServerManager ObjectCreated events",
};
pub const OBJECTS_DESTROYED: MetricDef = MetricDef {
    family: "kurento_objects_destroyed",
    unit: None,
    kind: Kind::Counter,
    labels: &["kms", "element_type"],
    help: "Objects destroyed (pipelines included) since the exporter started watching.",
    source: "ServerManager ObjectDestroyed events",
};
pub const PIPELINE_ELEMENTS: MetricDef = MetricDef {
    family: "kurento_pipeline_elements",
    unit: None,
    kind: Kind::Histogram,
    labels: &["kms"],
    help: "Distribution of live pipelines by number of objects inside (participants per meeting); describes the current population, query without rate().",
    source: "getChildren and ObjectCreated/ObjectDestroyed",
};
pub const PIPELINE_AGE: MetricDef = MetricDef {
    family: "kurento_pipeline_age",
    unit: Some("seconds"),
    kind: Kind::Histogram,
    labels: &["kms"],
    help: "Distribution of live pipelines by age; describes the current population, query without rate().",
    source: "MediaPipeline.getCreationTime",
};

/// Every family, in exposition order.
pub const ALL: &[MetricDef] = &[
    BUILD_INFO,
    UP,
    POLL_DURATION,
    LAST_POLL_SUCCESS,
    POLL_ERRORS,
    KMS_REQUESTS,
    SERVER_INFO,
    SERVER_RESTARTS,
    SERVER_CPU_COUNT,
    SERVER_CPU_USAGE,
    SERVER_MEMORY,
    SERVER_SESSIONS,
    PIPELINES,
    ELEMENTS,
    OBJECTS_CREATED,
    OBJECTS_DESTROYED,
    PIPELINE_ELEMENTS,
    PIPELINE_AGE,
];

/// Bucket bounds of `kurento_pipeline_elements`.
pub const PIPELINE_ELEMENTS_BUCKETS: &[f64] = &[
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 128.0,
];
/// Bucket bounds of `kurento_pipeline_age_seconds`: a minute to a week.
pub const PIPELINE_AGE_BUCKETS: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0, 604800.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::BTreeSet::new();
        for def in ALL {
            let name = def.exposed_name();
            assert!(name.starts_with("kurento_"), "{name}");
            assert!(seen.insert(name.clone()), "duplicate {name}");
            assert!(
                !def.labels.contains(&"type"),
                "{name} has a label named type"
            );
            assert!(!def.labels.contains(&"instance"), "{name} uses instance");
            if def.family != "kurento_exporter_build" {
                assert_eq!(def.labels.first(), Some(&"kms"), "{name} lacks kms");
            }
            if let Some(unit) = def.unit {
                assert!(["seconds", "bytes", "ratio"].contains(&unit), "{name}");
            }
            assert!(!def.help.contains('"'), "{name}: quotes in HELP");
        }
        assert_eq!(
            SERVER_CPU_USAGE.exposed_name(),
            "kurento_server_cpu_usage_ratio"
        );
        assert_eq!(
            OBJECTS_CREATED.exposed_name(),
            "kurento_objects_created_total"
        );
        assert_eq!(SERVER_INFO.exposed_name(), "kurento_server_info");
    }

    /// The README's metrics reference lists every family with its type and labels, and nothing
    /// that does not exist.
    #[test]
    fn readme_documents_every_metric() {
        let readme = include_str!("../../README.md");
        for def in ALL {
            let kind = match def.kind {
                Kind::Info => "gauge (info)",
                other => other.as_str(),
            };
            let labels: Vec<String> = def.labels.iter().map(|l| format!("`{l}`")).collect();
            let row = format!(
                "| `{}` | {kind} | {} |",
                def.exposed_name(),
                labels.join(", ")
            );
            assert!(readme.contains(&row), "README lacks the row starting {row}");
        }
        let section = readme
            .split("## Metrics reference")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("a Metrics reference section");
        let documented = section
            .lines()
            .filter(|l| l.starts_with("| `kurento_"))
            .count();
        assert_eq!(
            documented,
            ALL.len(),
            "README documents metrics the code does not serve"
        );
    }
}
