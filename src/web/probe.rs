//! `/probe?target=…&name=…`: the query and the scrape's time budget. Pure; the server asks the
//! `MetricsSource` to probe and render.

use std::time::Duration;

/// What a probe asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeQuery {
    pub target: String,
    pub name: Option<String>,
}

/// The longest a probe waits for a new target's first cycle when Prometheus does not say how
/// long it waits for the scrape.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// Kept back from Prometheus' scrape timeout for rendering and the network.
const MARGIN: Duration = Duration::from_millis(500);

/// Parses the query (`application/x-www-form-urlencoded`: `+` is a space, `%XX` escapes);
/// `Err` says what is wrong. Unknown parameters are ignored, as Prometheus adds its own.
pub fn parse_query(query: Option<&str>) -> Result<ProbeQuery, String> {
    let mut target = None;
    let mut name = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value).ok_or_else(|| format!("parameter {key:?} is not UTF-8"))?;
        match key {
            "target" => target = Some(value),
            "name" => name = Some(value),
            _ => {}
        }
    }
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or("the target parameter is missing")?;
    Ok(ProbeQuery {
        target,
        name: name.filter(|n| !n.is_empty()),
    })
}

fn decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

/// How long a probe may wait for a new target's first cycle: Prometheus' scrape timeout
/// (`X-Prometheus-Scrape-Timeout-Seconds`) less a margin, else 5 s.
pub fn wait_budget(scrape_timeout_header: Option<&str>) -> Duration {
    scrape_timeout_header
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)).saturating_sub(MARGIN))
        .unwrap_or(DEFAULT_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_and_need_a_target() {
        let q = parse_query(Some(
            "target=ws%3A%2F%2Fkms%3A8888%2Fkurento&name=kms+a&module=x",
        ))
        .unwrap();
        assert_eq!(q.target, "ws://kms:8888/kurento");
        assert_eq!(q.name.as_deref(), Some("kms a"));
        assert_eq!(
            parse_query(Some("target=10.0.0.1:8888")).unwrap().name,
            None
        );
        assert!(parse_query(None).unwrap_err().contains("missing"));
        assert!(parse_query(Some("target=")).is_err());
        assert!(parse_query(Some("name=x")).is_err());
        assert!(
            parse_query(Some("target=%FF"))
                .unwrap_err()
                .contains("UTF-8")
        );
    }

    #[test]
    fn the_wait_is_prometheus_timeout_less_a_margin() {
        assert_eq!(wait_budget(Some("10")), Duration::from_millis(9_500));
        assert_eq!(wait_budget(Some("0.2")), Duration::ZERO);
        assert_eq!(wait_budget(None), DEFAULT_WAIT);
        assert_eq!(wait_budget(Some("soon")), DEFAULT_WAIT);
        assert_eq!(wait_budget(Some("-1")), DEFAULT_WAIT);
    }
}
