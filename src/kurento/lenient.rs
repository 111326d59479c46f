//! Lenient typed decoding of small KMS answers straight from their JSON text, without a `Value`
//! tree: a member of an unexpected JSON type reads as absent and a list entry that is not an
//! object is skipped, as readers over `Value` do. (The getters of every element are read every
//! cycle; as `Value` trees their answers cost about a sixth of the exporter's CPU in the fleet
//! benchmark, BENCHMARKS.md.)

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Visitor methods for the JSON values a lenient reader skips, each answering `$default`:
/// `scalars` (booleans, numbers, null), `numbers` (numbers and null), `strings`, `seq` (read to
/// its end), `map` (likewise).
macro_rules! skip {
    (scalars => $default:expr) => {
        fn visit_bool<E: ::serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($default)
        }
        $crate::kurento::lenient::skip!(numbers => $default);
    };
    (numbers => $default:expr) => {
        fn visit_i64<E: ::serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_u64<E: ::serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_f64<E: ::serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_unit<E: ::serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_none<E: ::serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (strings => $default:expr) => {
        fn visit_borrowed_str<E: ::serde::de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_str<E: ::serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (seq => $default:expr) => {
        fn visit_seq<A: ::serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<::serde::de::IgnoredAny>()?.is_some() {}
            Ok($default)
        }
    };
    (map => $default:expr) => {
        fn visit_map<A: ::serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<::serde::de::IgnoredAny, ::serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok($default)
        }
    };
}
pub(crate) use skip;

/// A string member, or `None` for any other JSON value (borrowed from the text when it has no
/// escapes).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaybeStr<'a>(pub Option<Cow<'a, str>>);

impl<'a> MaybeStr<'a> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MaybeStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeStrVisitor)
    }
}

struct MaybeStrVisitor;

impl<'de> Visitor<'de> for MaybeStrVisitor {
    type Value = MaybeStr<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(v))))
    }
    skip!(scalars => MaybeStr(None));
    skip!(seq => MaybeStr(None));
    skip!(map => MaybeStr(None));
}

/// Calls `f` with each object of a JSON list decoded as `T`, as it is read; entries that are not
/// objects are skipped, and anything but a list has none. An object that does not decode as `T`
/// is an error.
pub fn for_each_object<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
    f: impl FnMut(T),
) -> Result<(), D::Error> {
    deserializer.deserialize_any(EachObject(f, PhantomData))
}

struct EachObject<T, F>(F, PhantomData<T>);

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for EachObject<T, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(ObjectOnly(item)) = seq.next_element::<ObjectOnly<T>>()? {
            if let Some(item) = item {
                (self.0)(item);
            }
        }
        Ok(())
    }
    skip!(map => ());
    skip!(strings => ());
    skip!(scalars => ());
}

/// One value: `Some` for an object decoded as `T`, `None` (skipped unread) for anything else.
pub struct ObjectOnly<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntryVisitor(PhantomData))
    }
}

struct EntryVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for EntryVisitor<T> {
    type Value = ObjectOnly<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(|t| ObjectOnly(Some(t)))
    }
    skip!(seq => ObjectOnly(None));
    skip!(strings => ObjectOnly(None));
    skip!(scalars => ObjectOnly(None));
}

/// A boolean, or `None` for any other JSON value.
struct MaybeBool(Option<bool>);

impl<'de> Deserialize<'de> for MaybeBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeBoolVisitor)
    }
}

struct MaybeBoolVisitor;

impl<'de> Visitor<'de> for MaybeBoolVisitor {
    type Value = MaybeBool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(MaybeBool(Some(v)))
    }
    skip!(numbers => MaybeBool(None));
    skip!(strings => MaybeBool(None));
    skip!(seq => MaybeBool(None));
    skip!(map => MaybeBool(None));
}

/// A string answer (`None` for anything else).
pub fn text_from<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    MaybeStr::deserialize(deserializer).map(|s| s.0)
}

/// A boolean answer (`None` for anything else).
pub fn flag_from<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    MaybeBool::deserialize(deserializer).map(|b| b.0)
}

/// The objects of a list answer as `T` (empty for anything but a list, or when an entry does not
/// decode as `T`).
pub fn objects<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Vec<T> {
    // A `RawValue` is one whole JSON value: nothing can follow it.
    objects_from(&mut serde_json::Deserializer::from_str(raw.get())).unwrap_or_default()
}

/// [`objects`] inside a larger reply; an entry that does not decode as `T` is an error (where
/// [`objects`] reads as empty).
pub fn objects_from<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    let mut items = Vec::new();
    for_each_object(deserializer, |item| items.push(item))?;
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[derive(Deserialize, Debug, PartialEq, Default)]
    #[serde(default)]
    struct Pair<'a> {
        #[serde(borrow)]
        name: MaybeStr<'a>,
        #[serde(borrow)]
        other: MaybeStr<'a>,
    }

    #[test]
    fn strings_borrow_and_other_values_read_as_absent() {
        let list = raw(
            r#"[{"name":"a","other":1},{"name":"b\"q","other":[1,{"x":2}]},7,"s",null,[1],
                {"name":{"deep":true}},{}]"#,
        );
        let pairs: Vec<Pair> = objects(&list);
        let names: Vec<Option<&str>> = pairs.iter().map(|p| p.name.as_deref()).collect();
        assert_eq!(names, [Some("a"), Some("b\"q"), None, None]);
        assert!(matches!(pairs[0].name.0, Some(Cow::Borrowed("a"))));
        assert!(pairs.iter().all(|p| p.other.0.is_none()));
    }

    #[test]
    fn answers_of_the_wrong_shape_read_as_empty_or_absent() {
        for text in [r#"{"a":1}"#, "3", "null", r#""x""#, "true"] {
            assert!(objects::<Pair>(&raw(text)).is_empty(), "{text}");
        }
        let text = |t: &str| {
            text_from(&mut serde_json::Deserializer::from_str(t))
                .unwrap()
                .map(Cow::into_owned)
        };
        let flag = |t: &str| flag_from(&mut serde_json::Deserializer::from_str(t)).unwrap();
        assert_eq!(text(r#""CONNECTED""#).as_deref(), Some("CONNECTED"));
        assert_eq!(text(r#""a\"b""#).as_deref(), Some("a\"b"));
        assert_eq!(text("12"), None);
        assert_eq!(text(r#"{"a":"b"}"#), None);
        assert_eq!(flag("true"), Some(true));
        assert_eq!(flag(r#""true""#), None);
        assert_eq!(flag("[true]"), None);
        assert_eq!(flag("null"), None);
    }
}
