//! Classic Prometheus text format 0.0.4 from OpenMetrics text.
//!
//! prometheus-client only writes OpenMetrics; Prometheus 2.42's `promtool check metrics` and older
//! scrapers only parse the classic format. The two differ in metadata only: counters are typed
//! under their `_total` name, info metrics are gauges named `_info`, there is no `# UNIT`, no
//! `_created` sample and no `# EOF`. Samples themselves are identical.

/// Rewrites an OpenMetrics exposition (as prometheus-client writes it) as text format 0.0.4.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP precedes TYPE, but its name depends on the type: hold it until the TYPE line.
    let mut pending_help: Option<(&str, &str)> = None;
    let mut counters: Vec<&str> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name, help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name, kind) = match kind {
                "counter" => {
                    counters.push(name);
                    (format!("{name}_total"), "counter")
                }
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_owned(), "untyped"),
                other => (name.to_owned(), other),
            };
            if let Some((_, help)) = pending_help.take() {
                out.push_str("# HELP ");
                out.push_str(&name);
                out.push(' ');
                out.push_str(help);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(&name);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
        } else if line.starts_with("# UNIT ")
            || line == "# EOF"
            || is_created_sample(line, &counters)
        {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn is_created_sample(line: &str, counters: &[&str]) -> bool {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    name.strip_suffix("_created")
        .is_some_and(|base| counters.contains(&base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_metadata_and_keeps_samples() {
        let om = "\
# HELP kurento_up Whether the last poll succeeded.
# TYPE kurento_up gauge
kurento_up{kms=\"a\"} 1
# HELP kurento_server_restarts KMS restarts seen.
# TYPE kurento_server_restarts counter
kurento_server_restarts_total{kms=\"a\"} 2
kurento_server_restarts_created{kms=\"a\"} 1700000000.0
# HELP kurento_exporter_build Build information.
# TYPE kurento_exporter_build info
kurento_exporter_build_info{version=\"0.1.0\"} 1
# HELP kurento_pipeline_age_seconds Pipeline ages.
# TYPE kurento_pipeline_age_seconds histogram
# UNIT kurento_pipeline_age_seconds seconds
kurento_pipeline_age_seconds_sum{kms=\"a\"} 3.0
kurento_pipeline_age_seconds_count{kms=\"a\"} 1
kurento_pipeline_age_seconds_bucket{le=\"+Inf\",kms=\"a\"} 1
# EOF
";
        let text = "\
# HELP kurento_up Whether the last poll succeeded.
# TYPE kurento_up gauge
kurento_up{kms=\"a\"} 1
# HELP kurento_server_restarts_total KMS restarts seen.
# TYPE kurento_server_restarts_total counter
kurento_server_restarts_total{kms=\"a\"} 2
# HELP kurento_exporter_build_info Build information.
# TYPE kurento_exporter_build_info gauge
kurento_exporter_build_info{version=\"0.1.0\"} 1
# HELP kurento_pipeline_age_seconds Pipeline ages.
# TYPE kurento_pipeline_age_seconds histogram
kurento_pipeline_age_seconds_sum{kms=\"a\"} 3.0
kurento_pipeline_age_seconds_count{kms=\"a\"} 1
kurento_pipeline_age_seconds_bucket{le=\"+Inf\",kms=\"a\"} 1
";
        assert_eq!(openmetrics_to_text(om), text);
    }

    #[test]
    fn a_gauge_named_created_is_kept() {
        let om = "# HELP x_created A gauge.\n# TYPE x_created gauge\nx_created 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP x_created A gauge.\n# TYPE x_created gauge\nx_created 1\n"
        );
    }
}
