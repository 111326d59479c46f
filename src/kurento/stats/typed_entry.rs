//! One `getStats` entry read from its text in one pass: only the members [`super`] uses, each
//! scalar as it was written, with no `serde_json::Value` built for it (a meeting's replies are
//! mostly these entries; BENCHMARKS.md, the fleet case). The two latency lists, sent only with
//! the pipeline's latency stats on, stay `Value`s. The reference reading is
//! [`super::decode_stats`] over a `Value`, and the property tests hold the two equal.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::kurento::lenient::{self, MaybeStr};

/// A member's value as written: a number as serde_json keeps it (u64, i64 or f64, by how it
/// was written), a string, or anything else.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Member<'a> {
    /// Absent, `null`, a boolean, a list or an object.
    #[default]
    Other,
    U64(u64),
    I64(i64),
    F64(f64),
    Text(Cow<'a, str>),
}

impl Member<'_> {
    /// What `protocol::integer` reads of the same JSON value: whole doubles too, fractional ones
    /// not.
    pub fn integer(&self) -> Option<i64> {
        match *self {
            Member::U64(u) => i64::try_from(u).ok(),
            Member::I64(i) => Some(i),
            Member::F64(f) => (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64),
            Member::Other | Member::Text(_) => None,
        }
    }

    /// What `protocol::number` reads of the same JSON value.
    pub fn number(&self) -> Option<f64> {
        match *self {
            Member::U64(u) => Some(u as f64),
            Member::I64(i) => Some(i as f64),
            Member::F64(f) => Some(f),
            Member::Other | Member::Text(_) => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Member::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The value as serde_json prints a number or gives a string (the SSRC is either).
    pub fn printed(&self) -> Option<String> {
        match self {
            Member::U64(u) => Some(u.to_string()),
            Member::I64(i) => Some(i.to_string()),
            // A parsed double is finite, so `from_f64` always holds it.
            Member::F64(f) => serde_json::Number::from_f64(*f).map(|n| n.to_string()),
            Member::Text(text) => Some(text.clone().into_owned()),
            Member::Other => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Member<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MemberVisitor)
    }
}

struct MemberVisitor;

impl<'de> Visitor<'de> for MemberVisitor {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Member::U64(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Member::I64(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Member::F64(v))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Member::Other)
    }
    lenient::skip!(seq => Member::Other);
    lenient::skip!(map => Member::Other);
}

/// The scalar members read, by their place in [`TypedEntry::members`].
const SCALARS: usize = 20;

/// The place of scalar member `field` in [`TypedEntry::members`].
fn place(field: &str) -> Option<usize> {
    Some(match field {
        "type" => 0,
        "id" => 1,
        "ssrc" => 2,
        "packetsLost" => 3,
        "fractionLost" => 4,
        "nackCount" => 5,
        "pliCount" => 6,
        "firCount" => 7,
        "remb" => 8,
        "bytesReceived" => 9,
        "packetsReceived" => 10,
        "jitter" => 11,
        "bytesSent" => 12,
        "packetsSent" => 13,
        "roundTripTime" => 14,
        "targetBitrate" => 15,
        "audioE2ELatency" => 16,
        "videoE2ELatency" => 17,
        "inputAudioLatency" => 18,
        "inputVideoLatency" => 19,
        _ => return None,
    })
}

/// The members of a stats entry that are read; the others are skipped unparsed. A member written
/// twice reads as its last value, as in a `Value` object.
#[derive(Debug, Default)]
pub(super) struct TypedEntry<'a> {
    members: [Member<'a>; SCALARS],
    e2e_latency: Option<Value>,
    input_latency: Option<Value>,
}

impl<'a> TypedEntry<'a> {
    /// Scalar member `field` (`None` for a name that is not read).
    pub fn member(&self, field: &str) -> Option<&Member<'a>> {
        place(field).map(|place| &self.members[place])
    }

    /// The latency list `field` (`E2ELatency` or `inputLatency`), as written.
    pub fn latency_list(&self, field: &str) -> Option<&Value> {
        match field {
            "E2ELatency" => self.e2e_latency.as_ref(),
            "inputLatency" => self.input_latency.as_ref(),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TypedEntry<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = TypedEntry<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stats entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entry = TypedEntry::default();
        while let Some(MaybeStr(key)) = map.next_key::<MaybeStr>()? {
            let key = key.as_deref().unwrap_or_default();
            match key {
                "E2ELatency" => entry.e2e_latency = Some(map.next_value()?),
                "inputLatency" => entry.input_latency = Some(map.next_value()?),
                _ => match place(key) {
                    Some(place) => entry.members[place] = map.next_value()?,
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> TypedEntry<'_> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn members_keep_how_numbers_were_written_and_the_last_duplicate() {
        let e = entry(
            r#"{"type":"inboundrtp","packetsLost":-3,"bytesReceived":18446744073709551615,
               "jitter":0.5,"fractionLost":3.0,"remb":1,"remb":2,"ssrc":12,"codecId":"x",
               "nackCount":null,"pliCount":"7","E2ELatency":[1]}"#,
        );
        let get = |field| e.member(field).unwrap();
        assert_eq!(get("type").text(), Some("inboundrtp"));
        assert_eq!(get("packetsLost").integer(), Some(-3));
        // Past i64: not an integer, as `protocol::integer` says of the same value.
        assert_eq!(get("bytesReceived").integer(), None);
        assert_eq!(get("jitter").integer(), None);
        assert_eq!(get("jitter").number(), Some(0.5));
        assert_eq!(get("fractionLost").integer(), Some(3));
        assert_eq!(get("remb").integer(), Some(2));
        assert_eq!(get("ssrc").printed().as_deref(), Some("12"));
        assert_eq!(get("nackCount"), &Member::Other);
        assert_eq!(get("pliCount").integer(), None);
        assert_eq!(get("firCount"), &Member::Other);
        assert!(e.member("codecId").is_none());
        assert_eq!(e.latency_list("E2ELatency"), Some(&serde_json::json!([1])));
        assert_eq!(e.latency_list("inputLatency"), None);
    }

    #[test]
    fn printed_numbers_match_serde_json() {
        for text in ["5", "-5", "5.0", "1e3", "0.1", "18446744073709551615"] {
            let value: Value = serde_json::from_str(text).unwrap();
            let member: Member = serde_json::from_str(text).unwrap();
            assert_eq!(member.printed(), Some(value.to_string()), "{text}");
        }
    }
}
