//! Credentials out of KMS URLs before they reach a log line or an error message.

/// Replaces the userinfo of a URL (`scheme://user:pass@host/...`) with `xxxxx` and hides its query,
/// so that the result can be logged. Anything that is not `scheme://authority...` is returned
/// unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    // A query may carry a token (`?access_token=…`, which kurento-client appends): hide it.
    let (url, query) = match url[authority_start..].find('?') {
        Some(q) => (&url[..authority_start + q], "?…"),
        None => (url, ""),
    };
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '#']).unwrap_or(rest.len());
    // The last '@' ends the userinfo: passwords may contain '@' when not percent-encoded.
    match rest[..authority_len].rfind('@') {
        Some(at) => format!(
            "{}xxxxx{}{query}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => format!("{url}{query}"),
    }
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
            ("ws://kms/path@notuserinfo", "ws://kms/path@notuserinfo"),
            ("ws://kms?x=a@b", "ws://kms?…"),
            (
                "wss://u@kms/kurento?access_token=t",
                "wss://xxxxx@kms/kurento?…",
            ),
            ("ws://u:p@kms#frag", "ws://xxxxx@kms#frag"),
            ("not a url", "not a url"),
            ("", ""),
            ("ws://", "ws://"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "input {input:?}");
        }
    }
}
