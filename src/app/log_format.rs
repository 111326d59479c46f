//! The log line, in the shape Prometheus' own components write: `time`, `level`, `source`, `msg`,
//! then the event's fields. Pure formatting; `app::telemetry` collects the fields
//! and writes the lines.
//!
//! The keys and spellings are those of promslog (prometheus/common), the logger of Prometheus
//! and its exporters, in its default style (Go's `log/slog`): `level` is `ERROR`, `WARN`,
//! `INFO`, `DEBUG` (and `TRACE`, which slog does not have), a field that reuses a reserved key
//! is renamed `logged_<key>` (promslog's tests expect `level=INFO` in that style; only its
//! older go-kit style, `ts=… caller=… level=info`, lowercases). Two deliberate differences:
//! `time` is always UTC with milliseconds (promslog writes local time), and `source` is the
//! event's target, the Rust module path (Go writes `file.go:line`).
//!
//! logfmt values are written bare unless they are empty or hold a space, `=`, `"`, `\`, another
//! whitespace or a control character; then they are quoted with JSON's escapes (`\"`, `\\`, `\n`,
//! `\u001b`, …), which logfmt parsers (go-logfmt, hence Loki's `| logfmt`) undo. JSON lines are
//! one object each, fields at the top level, integers, floats and booleans as JSON values.

use std::fmt::{self, Write};
use std::time::SystemTime;

use tracing::Level;
use tracing::field::{Field, Visit};

/// The keys every line starts with, in order. A field with one of these names would make the
/// line ambiguous (and a JSON object with a duplicate key), so it is renamed.
const RESERVED_KEYS: [&str; 4] = ["time", "level", "source", "msg"];

/// What promslog prepends to a field that reuses a reserved key.
const RESERVED_KEY_PREFIX: &str = "logged_";

/// The field `tracing` puts the message in.
const MESSAGE_FIELD: &str = "message";

/// A field's value, kept typed so that JSON gets numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Int(i128),
    Uint(u128),
    Float(f64),
    Bool(bool),
}

/// The bare text: strings as they are, non-finite floats spelled as Prometheus does (`NaN`,
/// `+Inf`, `-Inf`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(n) => f.write_str(itoa::Buffer::new().format(*n)),
            Value::Uint(n) => f.write_str(itoa::Buffer::new().format(*n)),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(x) => f.write_str(dtoa::Buffer::new().format_finite(*x)),
            Value::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
        }
    }
}

/// The fields of an event or a span in recording order, one value per name (a later value
/// replaces an earlier one in place, so an event's field wins over its span's).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Fields {
    entries: Vec<(&'static str, Value)>,
    /// Records bridged from the `log` crate carry their metadata as `log.target`, `log.file`,
    /// … fields; the line has them already (as `source`), so they are dropped.
    skip_log_metadata: bool,
}

impl Fields {
    /// Fields of an event that came from the `log` crate (`from_log`) or from `tracing`.
    pub(crate) fn for_event(from_log: bool) -> Fields {
        Fields {
            entries: Vec::new(),
            skip_log_metadata: from_log,
        }
    }

    /// Sets `name` (a raw identifier's `r#` dropped: `r#type` is `type`) to `value`.
    pub(crate) fn set(&mut self, name: &'static str, value: Value) {
        let name = name.strip_prefix("r#").unwrap_or(name);
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value,
            None => self.entries.push((name, value)),
        }
    }

    /// Adds `other`'s fields after these (or over them, for the same name).
    pub(crate) fn extend(&mut self, other: Fields) {
        for (name, value) in other.entries {
            self.set(name, value);
        }
    }

    /// Removes the message and returns its text (empty when the event has none).
    pub(crate) fn take_message(&mut self) -> String {
        match self.entries.iter().position(|(n, _)| *n == MESSAGE_FIELD) {
            Some(i) => match self.entries.remove(i).1 {
                Value::Str(s) => s,
                other => other.to_string(),
            },
            None => String::new(),
        }
    }

    fn record(&mut self, field: &Field, value: Value) {
        if self.skip_log_metadata && field.name().starts_with("log.") {
            return;
        }
        self.set(field.name(), value);
    }
}

impl Visit for Fields {
    /// `%value` and `?value` fields and the message (a `fmt::Arguments`, whose `Debug` is the
    /// formatted text) arrive here.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, Value::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record(field, Value::Int(value.into()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record(field, Value::Uint(value.into()));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.record(field, Value::Int(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.record(field, Value::Uint(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record(field, Value::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record(field, Value::Str(value.to_string()));
    }
}

/// One log line's content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub time: SystemTime,
    pub level: Level,
    /// The event's target.
    pub source: &'a str,
    pub msg: &'a str,
    pub fields: &'a Fields,
}

impl Line<'_> {
    /// `time=… level=… source=… msg=… key=value…` and a newline.
    pub(crate) fn write_logfmt(&self, out: &mut impl Write) -> fmt::Result {
        write!(
            out,
            "time={} level={} source=",
            humantime::format_rfc3339_millis(self.time),
            self.level.as_str()
        )?;
        logfmt_value(self.source, out)?;
        out.write_str(" msg=")?;
        logfmt_value(self.msg, out)?;
        for (name, value) in &self.fields.entries {
            out.write_char(' ')?;
            logfmt_key(name, out)?;
            out.write_char('=')?;
            match value {
                Value::Str(s) => logfmt_value(s, out)?,
                // Digits, signs, `.`, `e`, letters: never anything that needs quoting.
                other => write!(out, "{other}")?,
            }
        }
        out.write_char('\n')
    }

    /// `{"time":…,"level":…,"source":…,"msg":…,"key":value…}` and a newline.
    pub(crate) fn write_json(&self, out: &mut impl Write) -> fmt::Result {
        write!(
            out,
            r#"{{"time":"{}","level":"{}","source":"#,
            humantime::format_rfc3339_millis(self.time),
            self.level.as_str()
        )?;
        json_string("", self.source, out)?;
        out.write_str(r#","msg":"#)?;
        json_string("", self.msg, out)?;
        for (name, value) in &self.fields.entries {
            out.write_char(',')?;
            let (prefix, name) = key(name);
            json_string(prefix, name, out)?;
            out.write_char(':')?;
            match value {
                Value::Str(s) => json_string("", s, out)?,
                // JSON has no NaN or infinity; they go as the strings Prometheus uses.
                Value::Float(x) if !x.is_finite() => json_string("", &value.to_string(), out)?,
                other => write!(out, "{other}")?,
            }
        }
        out.write_str("}\n")
    }
}

/// A field name as written: with [`RESERVED_KEY_PREFIX`] when it is a reserved key.
fn key(name: &str) -> (&'static str, &str) {
    let prefix = if RESERVED_KEYS.contains(&name) {
        RESERVED_KEY_PREFIX
    } else {
        ""
    };
    (prefix, name)
}

/// A logfmt key. Keys cannot be quoted, so a character that would end the key or the pair
/// becomes `_` (names come from the code, so this only guards against odd string-literal names).
fn logfmt_key(name: &str, out: &mut impl Write) -> fmt::Result {
    let (prefix, name) = key(name);
    if name.is_empty() {
        return out.write_char('_');
    }
    out.write_str(prefix)?;
    for c in name.chars() {
        out.write_char(if c == '=' || c == '"' || breaks_a_bare_value(c) {
            '_'
        } else {
            c
        })?;
    }
    Ok(())
}

/// A logfmt value, quoted when written bare it would not read back as itself.
fn logfmt_value(s: &str, out: &mut impl Write) -> fmt::Result {
    let needs_quotes = s.is_empty()
        || s.chars()
            .any(|c| matches!(c, '=' | '"' | '\\') || breaks_a_bare_value(c));
    if needs_quotes {
        json_string("", s, out)
    } else {
        out.write_str(s)
    }
}

/// Whitespace ends a bare value; control characters would corrupt the line.
fn breaks_a_bare_value(c: char) -> bool {
    c.is_whitespace() || c.is_control()
}

/// `"prefix + s"` with JSON's escapes. Besides what JSON requires (`"`, `\`, U+0000–U+001F),
/// DEL, the C1 controls and the Unicode line and paragraph separators are escaped too, so that
/// no line ever holds a character that a terminal or a line splitter could act on.
fn json_string(prefix: &str, s: &str, out: &mut impl Write) -> fmt::Result {
    out.write_char('"')?;
    out.write_str(prefix)?;
    let mut clean_from = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => "",
            _ => continue,
        };
        out.write_str(&s[clean_from..i])?;
        if short.is_empty() {
            // Every character escaped this way is below U+FFFF: four hex digits suffice.
            write!(out, "\\u{:04x}", u32::from(c))?;
        } else {
            out.write_str(short)?;
        }
        clean_from = i + c.len_utf8();
    }
    out.write_str(&s[clean_from..])?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2025-03-01T12:00:01.500Z
    fn time() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_740_830_401_500)
    }

    fn fields(entries: &[(&'static str, Value)]) -> Fields {
        let mut fields = Fields::default();
        for (name, value) in entries {
            fields.set(name, value.clone());
        }
        fields
    }

    fn logfmt(level: Level, msg: &str, fields: &Fields) -> String {
        let line = Line {
            time: time(),
            level,
            source: "kurento_exporter::app",
            msg,
            fields,
        };
        let mut out = String::new();
        line.write_logfmt(&mut out).unwrap();
        out
    }

    fn json(msg: &str, fields: &Fields) -> String {
        let line = Line {
            time: time(),
            level: Level::INFO,
            source: "kurento_exporter::app",
            msg,
            fields,
        };
        let mut out = String::new();
        line.write_json(&mut out).unwrap();
        out
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    #[test]
    fn logfmt_line_starts_with_prometheus_keys() {
        let out = logfmt(
            Level::INFO,
            "connected to KMS",
            &fields(&[("kms", s("kms-1")), ("server_id", s("a1"))]),
        );
        assert_eq!(
            out,
            "time=2025-03-01T12:00:01.500Z level=INFO source=kurento_exporter::app \
             msg=\"connected to KMS\" kms=kms-1 server_id=a1\n"
        );
    }

    #[test]
    fn levels_are_spelled_as_slog_does() {
        for (level, text) in [
            (Level::ERROR, "ERROR"),
            (Level::WARN, "WARN"),
            (Level::INFO, "INFO"),
            (Level::DEBUG, "DEBUG"),
            (Level::TRACE, "TRACE"),
        ] {
            let out = logfmt(level, "m", &Fields::default());
            assert!(out.contains(&format!(" level={text} ")), "{out}");
        }
    }

    #[test]
    fn logfmt_values_are_quoted_and_escaped_when_needed() {
        let cases = [
            ("plain", "plain"),
            ("kms-1:8888/kurento", "kms-1:8888/kurento"),
            ("ünïcode→ok", "ünïcode→ok"),
            ("", r#""""#),
            ("two words", r#""two words""#),
            ("a=b", r#""a=b""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r#"C:\path"#, r#""C:\\path""#),
            ("line1\nline2", r#""line1\nline2""#),
            ("cr\rtab\t", r#""cr\rtab\t""#),
            ("esc\u{1b}[31m", r#""esc\u001b[31m""#),
            ("del\u{7f}", r#""del\u007f""#),
            ("nbsp\u{a0}", "\"nbsp\u{a0}\""),
            ("sep\u{2028}", r#""sep\u2028""#),
            (r#"\"#, r#""\\""#),
        ];
        for (value, want) in cases {
            let out = logfmt(Level::INFO, "m", &fields(&[("k", s(value))]));
            let got = out
                .trim_end_matches('\n')
                .split_once(" k=")
                .map(|(_, v)| v)
                .unwrap();
            assert_eq!(got, want, "value {value:?}");
            assert_eq!(out.lines().count(), 1, "{out:?}");
        }
    }

    #[test]
    fn quoted_logfmt_values_read_back_as_json_strings() {
        // logfmt parsers unquote with JSON's rules: every quoted value must be a JSON string
        // holding the original text.
        for value in [
            "a b",
            "q\"",
            "b\\",
            "n\n",
            "\u{0}\u{1f}\u{7f}\u{85}",
            "x\u{2029}y",
            "",
        ] {
            let out = logfmt(Level::INFO, "m", &fields(&[("k", s(value))]));
            let quoted = out.trim_end().split_once(" k=").map(|(_, v)| v).unwrap();
            let back: String = serde_json::from_str(quoted).unwrap();
            assert_eq!(back, value);
        }
    }

    #[test]
    fn message_and_source_are_escaped_like_values() {
        let out = logfmt(Level::WARN, "", &Fields::default());
        assert!(out.ends_with(" msg=\"\"\n"), "{out}");
        let out = logfmt(Level::WARN, "done", &Fields::default());
        assert!(out.ends_with(" msg=done\n"), "{out}");
        let out = logfmt(Level::WARN, "bad \"x\"\nnext", &Fields::default());
        assert!(out.ends_with(" msg=\"bad \\\"x\\\"\\nnext\"\n"), "{out}");
        let line = Line {
            time: time(),
            level: Level::WARN,
            source: "odd target",
            msg: "m",
            fields: &Fields::default(),
        };
        let mut out = String::new();
        line.write_logfmt(&mut out).unwrap();
        assert!(out.contains(" source=\"odd target\" msg=m"), "{out}");
    }

    #[test]
    fn logfmt_keys_never_break_the_pair() {
        let cases: [(&'static str, &str); 6] = [
            ("kms", "kms"),
            ("r#type", "type"),
            ("a b", "a_b"),
            ("a=b", "a_b"),
            ("a\"b\n", "a_b_"),
            ("", "_"),
        ];
        for (name, want) in cases {
            let out = logfmt(Level::INFO, "m", &fields(&[(name, Value::Bool(true))]));
            assert!(out.ends_with(&format!(" {want}=true\n")), "{name:?}: {out}");
        }
    }

    #[test]
    fn reserved_keys_are_renamed_as_promslog_does() {
        let reused = fields(&[
            ("time", s("t")),
            ("level", s("l")),
            ("source", s("s")),
            ("msg", s("m")),
            ("r#source", s("raw")),
        ]);
        let out = logfmt(Level::INFO, "m", &reused);
        assert!(
            out.ends_with(" logged_time=t logged_level=l logged_source=raw logged_msg=m\n"),
            "{out}"
        );
        let line = json("m", &reused);
        assert_eq!(line.matches(r#""logged_source""#).count(), 1, "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["time"], "2025-03-01T12:00:01.500Z");
        assert_eq!(value["logged_time"], "t");
        assert_eq!(value["logged_source"], "raw");
    }

    #[test]
    fn scalars_are_bare_in_logfmt_and_typed_in_json() {
        let typed = fields(&[
            ("count", Value::Int(-3)),
            ("big", Value::Uint(u128::from(u64::MAX))),
            ("ratio", Value::Float(0.25)),
            ("whole", Value::Float(2.0)),
            ("nan", Value::Float(f64::NAN)),
            ("inf", Value::Float(f64::INFINITY)),
            ("ninf", Value::Float(f64::NEG_INFINITY)),
            ("ok", Value::Bool(true)),
            ("text", s("12")),
        ]);
        let out = logfmt(Level::INFO, "m", &typed);
        assert!(
            out.ends_with(
                " count=-3 big=18446744073709551615 ratio=0.25 whole=2.0 nan=NaN inf=+Inf \
                 ninf=-Inf ok=true text=12\n"
            ),
            "{out}"
        );
        let line = json("m", &typed);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["count"], -3);
        assert_eq!(value["big"], u64::MAX);
        assert_eq!(value["ratio"], 0.25);
        assert_eq!(value["whole"], 2.0);
        assert_eq!(value["nan"], "NaN");
        assert_eq!(value["inf"], "+Inf");
        assert_eq!(value["ninf"], "-Inf");
        assert_eq!(value["ok"], true);
        assert_eq!(value["text"], "12");
    }

    #[test]
    fn json_line_is_one_object_in_key_order() {
        let out = json(
            "say \"hi\"\n",
            &fields(&[("kms", s("kms-1")), ("r#type", s("x\u{1b}"))]),
        );
        assert_eq!(
            out,
            "{\"time\":\"2025-03-01T12:00:01.500Z\",\"level\":\"INFO\",\
             \"source\":\"kurento_exporter::app\",\"msg\":\"say \\\"hi\\\"\\n\",\
             \"kms\":\"kms-1\",\"type\":\"x\\u001b\"}\n"
        );
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["msg"], "say \"hi\"\n");
        assert_eq!(value["type"], "x\u{1b}");
    }

    #[test]
    fn later_fields_replace_earlier_ones_in_place() {
        let mut span = fields(&[("kms", s("span")), ("pipeline", s("p"))]);
        span.extend(fields(&[("kms", s("event")), ("id", Value::Uint(7))]));
        let out = logfmt(Level::INFO, "m", &span);
        assert!(out.ends_with(" kms=event pipeline=p id=7\n"), "{out}");
    }

    #[test]
    fn the_message_is_taken_out_of_the_fields() {
        let mut event = fields(&[("message", s("hello")), ("kms", s("k"))]);
        assert_eq!(event.take_message(), "hello");
        assert_eq!(event, fields(&[("kms", s("k"))]));
        assert_eq!(event.take_message(), "");
        let mut numeric = fields(&[("message", Value::Int(5))]);
        assert_eq!(numeric.take_message(), "5");
    }
}
