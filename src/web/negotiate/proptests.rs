//! Property tests of content negotiation: any header is answered, and the q-value rules of
//! [`negotiate`] and [`accepts_gzip`] hold for generated lists.

use proptest::prelude::*;

use super::*;
use crate::kurento::proptest_support::config;
use ExpositionFormat::{OpenMetrics, Text};

/// A q value as clients write it (`1`, `0.5`, `0.125`), as text.
fn q() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_owned()),
        Just("0".to_owned()),
        (0u32..=1000).prop_map(|m| format!("{}", f64::from(m) / 1000.0)),
    ]
}

/// The q as the parser reads it.
fn q_value(q: &str) -> f32 {
    q.parse().unwrap_or(f32::NAN)
}

/// `name` in a random case, as header values arrive.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// Elements that neither ask for nor cover either format (`text/*` and `*/*` would).
fn unrelated() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just("application/json"),
                Just("text/html"),
                Just("application/vnd.google.protobuf"),
                Just("image/*"),
            ],
            q(),
        )
            .prop_map(|(t, q)| format!("{t};q={q}")),
        0..3,
    )
}

proptest! {
    #![proptest_config(config(256))]

    /// Any header gets an answer, without panicking.
    #[test]
    fn any_header_is_answered(accept in any::<String>(), noise in "[a-z/*;=,. 0-9q\"-]{0,40}") {
        for header in [accept.as_str(), noise.as_str()] {
            prop_assert!(matches!(negotiate(Some(header)), Text | OpenMetrics));
            let _ = accepts_gzip(Some(header));
        }
    }

    /// The classic text format alone, however written, gives the classic text format.
    #[test]
    fn text_plain_alone_gives_text(
        name in any_case("text/plain"),
        version in proptest::option::of(Just("0.0.4")),
        q in q(),
        space in " {0,2}",
    ) {
        let mut header = name;
        if let Some(v) = version {
            header.push_str(&format!("{space};{space}version={v}"));
        }
        header.push_str(&format!(";q={q}"));
        prop_assert_eq!(negotiate(Some(&header)), Text, "{}", header);
    }

    /// OpenMetrics wins over `text/plain` by a higher q; on a tie, unless `text/plain` comes
    /// first; never with q=0. Unrelated types change nothing.
    #[test]
    fn q_values_order_the_formats(
        om_name in any_case("application/openmetrics-text"),
        version in prop_oneof![Just(""), Just(";version=1.0.0"), Just(";version=0.0.1")],
        q_om in q(),
        q_text in q(),
        text_first in any::<bool>(),
        extra in unrelated(),
    ) {
        let om = format!("{om_name}{version};q={q_om}");
        let text = format!("text/plain;version=0.0.4;q={q_text}");
        let mut elements = if text_first { vec![text, om] } else { vec![om, text] };
        elements.extend(extra);
        let header = elements.join(",");
        let (a, b) = (q_value(&q_om), q_value(&q_text));
        let want = if a > 0.0 && (a > b || (a == b && !text_first)) { OpenMetrics } else { Text };
        prop_assert_eq!(negotiate(Some(&header)), want, "{}", header);
    }

    /// gzip is allowed exactly when it has a q above zero, or when it is not named and `*` has.
    #[test]
    fn gzip_follows_its_q(
        gzip in proptest::option::of((prop_oneof![any_case("gzip"), Just("x-gzip".to_owned())], q())),
        star in proptest::option::of(q()),
        others in proptest::collection::vec((prop_oneof![Just("br"), Just("deflate"), Just("identity")], q()), 0..3),
    ) {
        let mut elements: Vec<String> = others.iter().map(|(c, q)| format!("{c};q={q}")).collect();
        if let Some(q) = &star {
            elements.push(format!("*;q={q}"));
        }
        if let Some((name, q)) = &gzip {
            elements.insert(elements.len() / 2, format!("{name};q={q}"));
        }
        let header = elements.join(", ");
        let want = match (&gzip, &star) {
            (Some((_, q)), _) => q_value(q) > 0.0,
            (None, Some(q)) => q_value(q) > 0.0,
            (None, None) => false,
        };
        prop_assert_eq!(accepts_gzip(Some(&header)), want, "{}", header);
    }
}
