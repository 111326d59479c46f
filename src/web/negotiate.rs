//! Content negotiation for the exposition: `Accept` picks the format, `Accept-Encoding` gzip.

use crate::metrics::ExpositionFormat;

/// OpenMetrics versions whose requests we answer with OpenMetrics 1.0.0 (0.0.1 is the draft name
/// of the same text format; Prometheus asks for both).
const OPENMETRICS_VERSIONS: [&str; 2] = ["1.0.0", "0.0.1"];

/// One element of an `Accept`-style list: its value (media type or coding), parameters and q.
#[derive(Debug)]
struct Element<'a> {
    value: &'a str,
    params: Vec<(&'a str, &'a str)>,
    q: f32,
}

impl Element<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Parses `a;k=v;q=0.5, b` leniently; elements with an unparsable q are dropped.
fn parse_list(header: &str) -> Vec<Element<'_>> {
    header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let value = parts.next().filter(|v| !v.is_empty())?;
            let mut params = Vec::new();
            let mut q = 1.0;
            for part in parts {
                let Some((k, v)) = part.split_once('=') else {
                    continue;
                };
                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                if k.eq_ignore_ascii_case("q") {
                    q = v.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))?;
                } else {
                    params.push((k, v));
                }
            }
            Some(Element { value, params, q })
        })
        .collect()
}

/// The best (highest q, then earliest) element matching `pred`: `(q, position)`.
fn best(elements: &[Element<'_>], pred: impl Fn(&Element<'_>) -> bool) -> Option<(f32, usize)> {
    elements
        .iter()
        .enumerate()
        .filter(|(_, e)| pred(e))
        .fold(None, |acc, (i, e)| match acc {
            Some((q, _)) if q >= e.q => acc,
            _ => Some((e.q, i)),
        })
}

/// Chooses the exposition format for an `Accept` header: OpenMetrics when the client explicitly
/// asks for `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) with a q above zero
/// and above the q it gives the classic text format (through `text/plain`, else `text/*`, else
/// `*/*`); on a tie OpenMetrics wins unless `text/plain` is listed before it. The classic text
/// format otherwise, also when nothing acceptable is offered.
pub fn negotiate(accept: Option<&str>) -> ExpositionFormat {
    let Some(accept) = accept else {
        return ExpositionFormat::Text;
    };
    let elements = parse_list(accept);
    let is = |name: &'static str| move |e: &Element<'_>| e.value.eq_ignore_ascii_case(name);
    let openmetrics = best(&elements, |e| {
        is("application/openmetrics-text")(e)
            && e.param("version")
                .is_none_or(|v| OPENMETRICS_VERSIONS.contains(&v))
    });
    let Some((q_om, i_om)) = openmetrics.filter(|(q, _)| *q > 0.0) else {
        return ExpositionFormat::Text;
    };
    // The most specific range covering text/plain decides its q (RFC 9110 §12.5.1).
    let text_explicit = best(&elements, is("text/plain"));
    let text = text_explicit
        .or_else(|| best(&elements, is("text/*")))
        .or_else(|| best(&elements, is("*/*")));
    let prefers_openmetrics = match text {
        None => true,
        Some((q_text, i_text)) => {
            q_om > q_text || (q_om == q_text && !(text_explicit.is_some() && i_text < i_om))
        }
    };
    if prefers_openmetrics {
        ExpositionFormat::OpenMetrics
    } else {
        ExpositionFormat::Text
    }
}

/// True when an `Accept-Encoding` header allows gzip (`gzip`/`x-gzip` or `*` with q > 0, unless
/// gzip itself is refused with q=0).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let elements = parse_list(header);
    let is_gzip = |e: &Element<'_>| {
        e.value.eq_ignore_ascii_case("gzip") || e.value.eq_ignore_ascii_case("x-gzip")
    };
    match best(&elements, is_gzip) {
        Some((q, _)) => q > 0.0,
        None => best(&elements, |e| e.value == "*").is_some_and(|(q, _)| q > 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExpositionFormat::{OpenMetrics, Text};

    #[test]
    fn negotiate_table() {
        let cases = [
            (None, Text),
            (Some(""), Text),
            (Some("*/*"), Text),
            (Some("text/plain"), Text),
            (Some("text/plain;version=0.0.4"), Text),
            (
                // Prometheus 2.42
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                OpenMetrics,
            ),
            (
                // Prometheus 3 default scrape protocols (protobuf first, which we do not offer)
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.2,text/plain;version=0.0.4;q=0.1,*/*;q=0.05",
                ),
                OpenMetrics,
            ),
            (
                // Prometheus configured for the classic text format only
                Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                Text,
            ),
            (Some("application/openmetrics-text"), OpenMetrics),
            (
                Some("application/openmetrics-text; version=1.0.0"),
                OpenMetrics,
            ),
            (
                Some("Application/OpenMetrics-Text;Version=\"1.0.0\""),
                OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;version=0.0.1"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text;version=2.0.0"), Text),
            (Some("application/openmetrics-text;q=0"), Text),
            (
                Some("application/openmetrics-text;version=1.0.0;q=0.0,*/*"),
                Text,
            ),
            (
                Some("application/openmetrics-text;q=0.4,text/plain;q=0.5"),
                Text,
            ),
            (
                Some("text/plain;q=0.4,application/openmetrics-text;q=0.5"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text,text/plain"), OpenMetrics),
            (Some("text/plain,application/openmetrics-text"), Text),
            (Some("application/openmetrics-text;q=bogus"), Text),
            (Some("application/openmetrics-text;q=0.1,*/*"), Text),
            (Some("*/*,application/openmetrics-text"), OpenMetrics),
            (Some("*/*;q=0.9,application/openmetrics-text"), OpenMetrics),
            (
                Some("text/*;q=0.9,application/openmetrics-text"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text;q=0.5,text/*"), Text),
            (
                Some("text/plain;q=0.1,*/*,application/openmetrics-text;q=0.5"),
                OpenMetrics,
            ),
            (Some("text/html,application/xhtml+xml,*/*;q=0.8"), Text),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(accept), want, "Accept: {accept:?}");
        }
    }

    #[test]
    fn accepts_gzip_table() {
        let cases = [
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("GZIP"), true),
            (Some("x-gzip"), true),
            (Some("gzip, deflate, br"), true),
            (Some("deflate, br"), false),
            (Some("identity"), false),
            (Some("gzip;q=0"), false),
            (Some("gzip;q=0.001"), true),
            (Some("*"), true),
            (Some("*;q=0"), false),
            (Some("gzip;q=0, *"), false),
            (Some("br;q=1.0, gzip;q=0.8, *;q=0.1"), true),
        ];
        for (header, want) in cases {
            assert_eq!(accepts_gzip(header), want, "Accept-Encoding: {header:?}");
        }
    }
}

#[cfg(test)]
mod proptests;
