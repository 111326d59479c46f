//! What is safe to show of a value in a log line or an error message: URLs without their
//! credentials or query, and any echoed input capped in length (a 10 MB URL in a config file must
//! not become a 10 MB error).

/// At most this many characters of an input are echoed back.
pub const MAX_SHOWN_CHARS: usize = 200;

/// `value` cut to [`MAX_SHOWN_CHARS`] characters, with `…` and the full length when cut.
pub fn cap(value: &str) -> String {
    match value.char_indices().nth(MAX_SHOWN_CHARS) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes)", &value[..end], value.len()),
    }
}

/// Replaces the userinfo of a URL (`scheme://user:pass@host/...`) with `xxxxx`, hides its query
/// and caps its length (see [`cap`]), so that the result can be logged. Anything without
/// `scheme://` is treated as if it were all authority (`user:pass@kms:8888`).
///
/// A password that is not percent-encoded may contain `/`, `?`, `#` or `@`, so the userinfo
/// cannot be told from a path or query by parsing: everything up to the **last** `@` is hidden,
/// wherever it is. That hides the host of the rare URL whose path or query contains `@`, which is
/// the safe side to err on.
pub fn redact_url(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |scheme_end| scheme_end + 3);
    let (scheme, rest) = url.split_at(authority_start);
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => ("xxxxx", &rest[at..]),
        None => ("", rest),
    };
    // A query may carry a token (`?access_token=…`, which kurento-client appends): hide it.
    let (rest, query) = match rest.find('?') {
        Some(q) => (&rest[..q], "?…"),
        None => (rest, ""),
    };
    cap(&format!("{scheme}{userinfo}{rest}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_table() {
        let cases = [
            ("ws://10.0.0.5:8888/kurento", "ws://10.0.0.5:8888/kurento"),
            (
                "wss://user:secret@kms.example:443/kurento",
                "wss://xxxxx@kms.example:443/kurento",
            ),
            ("ws://token@kms/kurento", "ws://xxxxx@kms/kurento"),
            ("ws://u:p@ss@kms:8888", "ws://xxxxx@kms:8888"),
            ("ws://kms?x=a@b", "ws://xxxxx@b"),
            (
                "wss://u@kms/kurento?access_token=t",
                "wss://xxxxx@kms/kurento?…",
            ),
            ("ws://kms/kurento?access_token=t", "ws://kms/kurento?…"),
            ("ws://u:p@kms#frag", "ws://xxxxx@kms#frag"),
            ("not a url", "not a url"),
            ("user:secret@kms:8888", "xxxxx@kms:8888"),
            ("", ""),
            ("ws://", "ws://"),
            // Passwords with the characters that end an authority when parsed.
            (
                "ws://u:pa/ss@kms:8888/kurento",
                "ws://xxxxx@kms:8888/kurento",
            ),
            (
                "ws://u:pa?ss@kms:8888/kurento",
                "ws://xxxxx@kms:8888/kurento",
            ),
            (
                "ws://u:pa#ss@kms:8888/kurento",
                "ws://xxxxx@kms:8888/kurento",
            ),
            ("ws://u:p/a?s#s@kms?token=t", "ws://xxxxx@kms?…"),
            ("wss://:only-password@kms", "wss://xxxxx@kms"),
            ("ws://u%3Ap%40ss@kms", "ws://xxxxx@kms"),
            // Text around the URL is kept; the secret still goes.
            (
                "cannot reach ws://u:s3cret@kms: refused",
                "cannot reach ws://xxxxx@kms: refused",
            ),
        ];
        for (input, want) in cases {
            let shown = redact_url(input);
            assert_eq!(shown, want, "input {input:?}");
            for secret in [
                "secret",
                "s3cret",
                "pa/ss",
                "pa?ss",
                "pa#ss",
                "only-password",
            ] {
                assert!(!shown.contains(secret), "{input:?} shows {secret}");
            }
        }
    }

    #[test]
    fn long_values_are_capped_on_a_char_boundary() {
        assert_eq!(cap("short"), "short");
        let exact = "a".repeat(MAX_SHOWN_CHARS);
        assert_eq!(cap(&exact), exact);
        let huge = format!("ws://u:secret@{}", "é".repeat(10_000_000));
        let shown = redact_url(&huge);
        assert!(shown.starts_with("ws://xxxxx@éé"), "{}", &shown[..40]);
        assert!(shown.ends_with(&format!("… ({} bytes)", "ws://xxxxx@".len() + 20_000_000)));
        assert!(shown.chars().count() < MAX_SHOWN_CHARS + 30);
        assert!(!shown.contains("secret"));
    }
}
