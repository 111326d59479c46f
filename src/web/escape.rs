//! Escaping text from KMS (pipeline names and ids are user data) into HTML and SVG.

/// Escapes text for element content and attribute values of HTML and XML (SVG). Characters
/// XML 1.0 forbids (most C0 controls) become U+FFFD: one of them in a pipeline name would
/// otherwise make the whole SVG unparsable.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_table() {
        let cases = [
            ("plain", "plain"),
            ("a<b>&\"'", "a&lt;b&gt;&amp;&quot;&#39;"),
            ("", ""),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("&amp;", "&amp;amp;"),
            ("a\u{0}b\u{1b}c\td", "a\u{FFFD}b\u{FFFD}c\td"),
            ("é ✕ 会议", "é ✕ 会议"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_html(input), want, "{input:?}");
        }
    }
}
