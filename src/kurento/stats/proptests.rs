//! Property tests of the stats decoders: any JSON decodes without panicking, the raw decoder
//! agrees with the `Value` one, and a generated `getStats` map decodes to the values it was
//! generated from, under the leniency rules of the module doc.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::kurento::proptest_support::{config, float, json_value, key, reads_back};
use crate::kurento::protocol::to_raw;

/// A generated member: the JSON written (`None`: absent) and what the decoder must read from it.
type Member<T> = (Option<Value>, T);

/// Values no numeric field accepts: strings (even of digits), booleans, `null`, containers.
fn not_a_number() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        "[0-9]{1,8}".prop_map(Value::from),
        Just(json!([1])),
        Just(json!({"value": 1})),
    ]
    .boxed()
}

/// Largest magnitude whose whole doubles are read as integers (see `protocol::integer`).
const WHOLE: i64 = 9_000_000_000_000_000;

/// An integer that a whole double holds exactly and the decoders read as an integer.
fn whole() -> BoxedStrategy<i64> {
    (-WHOLE + 1..WHOLE)
        .prop_filter("read back exactly", |n| reads_back(*n as f64))
        .boxed()
}

/// A positive double with a fraction (`n + 0.5` is whole past 2^52, so those are skipped).
fn fractional() -> BoxedStrategy<f64> {
    (0..WHOLE)
        .prop_map(|n| n as f64 + 0.5)
        .prop_filter("fractional, read back exactly", |f| {
            f.fract() != 0.0 && reads_back(*f)
        })
        .boxed()
}

/// A counter (`u64`): negative, fractional, huge or non-numeric values read as 0.
fn counter() -> BoxedStrategy<Member<u64>> {
    prop_oneof![
        4 => (0..=i64::MAX).prop_map(|n| (Some(Value::from(n)), n.unsigned_abs())),
        1 => (i64::MIN..0).prop_map(|n| (Some(Value::from(n)), 0)),
        2 => whole().prop_map(|n| (Some(Value::from(n as f64)), n.max(0).unsigned_abs())),
        1 => fractional().prop_map(|f| (Some(Value::from(f)), 0)),
        1 => (i64::MAX.unsigned_abs() + 1..=u64::MAX).prop_map(|n| (Some(Value::from(n)), 0)),
        1 => Just((Some(Value::from(1.0e19)), 0)),
        1 => not_a_number().prop_map(|v| (Some(v), 0)),
        1 => Just((None, 0)),
    ]
    .boxed()
}

/// `packetsLost` (`i64`, negative allowed); non-integers read as 0.
fn signed() -> BoxedStrategy<Member<i64>> {
    prop_oneof![
        4 => any::<i64>().prop_map(|n| (Some(Value::from(n)), n)),
        2 => whole().prop_map(|n| (Some(Value::from(n as f64)), n)),
        1 => fractional().prop_map(|f| (Some(Value::from(-f)), 0)),
        1 => (i64::MAX.unsigned_abs() + 1..=u64::MAX).prop_map(|n| (Some(Value::from(n)), 0)),
        1 => not_a_number().prop_map(|v| (Some(v), 0)),
        1 => Just((None, 0)),
    ]
    .boxed()
}

/// A measurement (`f64`): any number, integers included; non-numbers read as absent.
fn measure() -> BoxedStrategy<Member<Option<f64>>> {
    prop_oneof![
        4 => float().prop_map(|f| (Some(Value::from(f)), Some(f))),
        1 => any::<i64>().prop_map(|n| (Some(Value::from(n)), Some(n as f64))),
        1 => any::<u64>().prop_map(|n| (Some(Value::from(n)), Some(n as f64))),
        1 => not_a_number().prop_map(|v| (Some(v), None)),
        1 => Just((None, None)),
    ]
    .boxed()
}

/// The `id` member: a string is kept, anything else falls back to the map key (`None` here).
fn stats_id() -> BoxedStrategy<Member<Option<String>>> {
    prop_oneof![
        2 => any::<String>().prop_map(|s| (Some(Value::from(s.clone())), Some(s))),
        1 => not_a_number()
            .prop_filter("not a string", |v| !v.is_string())
            .prop_map(|v| (Some(v), None)),
        1 => Just((None, None)),
    ]
    .boxed()
}

/// The `ssrc` member: strings as they are, numbers printed, anything else empty.
fn ssrc() -> BoxedStrategy<Member<String>> {
    prop_oneof![
        2 => any::<String>().prop_map(|s| (Some(Value::from(s.clone())), s)),
        2 => any::<u32>().prop_map(|n| (Some(Value::from(n)), n.to_string())),
        1 => Just((Some(Value::Null), String::new())),
        1 => Just((None, String::new())),
    ]
    .boxed()
}

/// Members the decoders skip, as KMS sends them beside the ones they read.
fn extras() -> BoxedStrategy<Vec<(String, Value)>> {
    let name = prop_oneof![
        proptest::sample::select(
            &[
                "timestampMillis",
                "__module__",
                "__type__",
                "codecId",
                "isRemote",
                "sliCount"
            ][..]
        )
        .prop_map(str::to_owned),
        "x-[a-zA-Z]{0,8}",
    ];
    proptest::collection::vec((name, json_value()), 0..3).boxed()
}

/// Writes the present members into an object.
fn object(members: Vec<(&str, Option<Value>)>, extras: Vec<(String, Value)>) -> Value {
    let mut map: Map<String, Value> = extras.into_iter().collect();
    for (name, value) in members {
        if let Some(value) = value {
            map.insert(name.to_owned(), value);
        }
    }
    Value::Object(map)
}

/// The decoded entry, and whether its `id` is the map key (an absent or non-string `id`).
type Expected = (StatsEntry, bool);

/// The entry expected under `key`.
fn resolve((entry, id_is_key): &Expected, key: &str) -> StatsEntry {
    let mut entry = entry.clone();
    match &mut entry {
        StatsEntry::Inbound(RtpInbound { common, .. })
        | StatsEntry::Outbound(RtpOutbound { common, .. })
            if *id_is_key =>
        {
            common.id = key.to_owned();
        }
        _ => {}
    }
    entry
}

#[allow(clippy::type_complexity)]
fn common_members() -> impl Strategy<
    Value = (
        Member<Option<String>>,
        Member<String>,
        Member<i64>,
        Member<Option<f64>>,
        [Member<u64>; 4],
    ),
> {
    (
        stats_id(),
        ssrc(),
        signed(),
        measure(),
        [counter(), counter(), counter(), counter()],
    )
}

fn common_of(
    id: Option<String>,
    ssrc: String,
    packets_lost: i64,
    fraction_lost: Option<f64>,
    counts: [u64; 4],
) -> RtpCommon {
    RtpCommon {
        id: id.unwrap_or_default(),
        ssrc,
        packets_lost,
        fraction_lost,
        nack_count: counts[0],
        pli_count: counts[1],
        fir_count: counts[2],
        remb: counts[3],
    }
}

/// An `inboundrtp` or `outboundrtp` entry with every member generated.
fn rtp_entry() -> BoxedStrategy<(Value, Expected)> {
    (
        any::<bool>(),
        common_members(),
        counter(),
        counter(),
        measure(),
        measure(),
        extras(),
    )
        .prop_map(
            |(inbound, (id, ssrc, lost, fraction, counts), bytes, packets, m1, m2, extras)| {
                let [nack, pli, fir, remb] = counts;
                let counts = [nack.1, pli.1, fir.1, remb.1];
                let mut members = vec![
                    ("id", id.0),
                    ("ssrc", ssrc.0),
                    ("packetsLost", lost.0),
                    ("fractionLost", fraction.0),
                    ("nackCount", nack.0),
                    ("pliCount", pli.0),
                    ("firCount", fir.0),
                    ("remb", remb.0),
                ];
                let id_is_key = id.1.is_none();
                let (id, ssrc, lost, fraction) = (id.1, ssrc.1, lost.1, fraction.1);
                if inbound {
                    members.extend([
                        ("type", Some(Value::from("inboundrtp"))),
                        ("bytesReceived", bytes.0),
                        ("packetsReceived", packets.0),
                        ("jitter", m1.0),
                    ]);
                    let (bytes, packets, jitter) = (bytes.1, packets.1, m1.1);
                    let entry = StatsEntry::Inbound(RtpInbound {
                        common: common_of(id, ssrc, lost, fraction, counts),
                        bytes_received: bytes,
                        packets_received: packets,
                        jitter,
                    });
                    let expected: Expected = (entry, id_is_key);
                    (object(members, extras), expected)
                } else {
                    members.extend([
                        ("type", Some(Value::from("outboundrtp"))),
                        ("bytesSent", bytes.0),
                        ("packetsSent", packets.0),
                        ("roundTripTime", m1.0),
                        ("targetBitrate", m2.0),
                    ]);
                    let (bytes, packets, rtt, target) = (bytes.1, packets.1, m1.1, m2.1);
                    let entry = StatsEntry::Outbound(RtpOutbound {
                        common: common_of(id, ssrc, lost, fraction, counts),
                        bytes_sent: bytes,
                        packets_sent: packets,
                        round_trip_time: rtt,
                        target_bitrate: target,
                    });
                    let expected: Expected = (entry, id_is_key);
                    (object(members, extras), expected)
                }
            },
        )
        .boxed()
}

/// One `MediaLatencyStat`; items without a string `type` or a numeric `avg` are skipped.
fn latency_item() -> BoxedStrategy<(Value, Option<Latency>)> {
    prop_oneof![
        3 => ("AUDIO|VIDEO|[A-Z]{0,5}", float())
            .prop_map(|(media, avg)| (
                json!({"type": media, "avg": avg, "__type__": "MediaLatencyStat"}),
                Some(Latency { media, avg_ns: avg }),
            )),
        1 => any::<f64>().prop_map(|avg| (json!({"avg": avg}), None)),
        1 => "AUDIO|VIDEO".prop_map(|media| (json!({"type": media, "avg": "1"}), None)),
        1 => json_value().prop_map(|v| (json!([v]), None)),
    ]
    .boxed()
}

/// A latency list, or instead of it something that is not a list (read as empty).
fn latency_list() -> BoxedStrategy<Member<Vec<Latency>>> {
    prop_oneof![
        3 => proptest::collection::vec(latency_item(), 0..4).prop_map(|items| {
            let (values, expected): (Vec<Value>, Vec<Option<Latency>>) = items.into_iter().unzip();
            (Some(Value::Array(values)), expected.into_iter().flatten().collect())
        }),
        1 => not_a_number().prop_filter("not a list", |v| !v.is_array()).prop_map(|v| (Some(v), Vec::new())),
        1 => Just((None, Vec::new())),
    ]
    .boxed()
}

/// A 6.x per-media latency: only a finite positive number counts.
fn legacy_latency() -> BoxedStrategy<Member<Option<f64>>> {
    measure()
        .prop_map(|(value, read)| (value, read.filter(|f| *f > 0.0)))
        .boxed()
}

/// An `endpoint`/`element` entry with the list and the 6.x forms of both latencies.
fn latency_entry() -> BoxedStrategy<(Value, Expected)> {
    (
        prop_oneof![Just("endpoint"), Just("element")],
        latency_list(),
        latency_list(),
        [
            legacy_latency(),
            legacy_latency(),
            legacy_latency(),
            legacy_latency(),
        ],
        extras(),
    )
        .prop_map(|(kind, e2e, input, legacy, extras)| {
            let [ae2e, ve2e, ain, vin] = legacy;
            let with_legacy = |list: Vec<Latency>, audio: Option<f64>, video: Option<f64>| {
                if !list.is_empty() {
                    return list;
                }
                [("AUDIO", audio), ("VIDEO", video)]
                    .into_iter()
                    .filter_map(|(media, avg)| {
                        avg.map(|avg_ns| Latency {
                            media: media.to_owned(),
                            avg_ns,
                        })
                    })
                    .collect()
            };
            let want = StatsEntry::Latency {
                e2e: with_legacy(e2e.1, ae2e.1, ve2e.1),
                input: with_legacy(input.1, ain.1, vin.1),
            };
            let value = object(
                vec![
                    ("type", Some(Value::from(kind))),
                    ("E2ELatency", e2e.0),
                    ("inputLatency", input.0),
                    ("audioE2ELatency", ae2e.0),
                    ("videoE2ELatency", ve2e.0),
                    ("inputAudioLatency", ain.0),
                    ("inputVideoLatency", vin.0),
                ],
                extras,
            );
            (value, (want, false))
        })
        .boxed()
}

/// Entries of other types, entries without a type and entries that are not objects.
fn other_entry() -> BoxedStrategy<(Value, Expected)> {
    prop_oneof![
        ("datachannel|session|codec|[a-z]{0,12}", json_value()).prop_filter_map(
            "a decoded type",
            |(kind, v)| {
                let known = ["inboundrtp", "outboundrtp", "endpoint", "element"];
                (!known.contains(&kind.as_str())).then(|| json!({"type": kind, "id": v}))
            }
        ),
        json_value().prop_filter("an object without a type", |v| {
            !v.get("type").is_some_and(Value::is_string)
        }),
    ]
    .prop_map(|value| (value, (StatsEntry::Other, false)))
    .boxed()
}

/// A `getStats` map: distinct keys, each with an entry of any kind.
fn stats_map() -> impl Strategy<Value = (Value, Vec<(String, Expected)>)> {
    let entry = prop_oneof![4 => rtp_entry(), 1 => latency_entry(), 1 => other_entry()];
    proptest::collection::btree_map(key(), entry, 0..6).prop_map(|entries| {
        let mut map = Map::new();
        let mut expected = Vec::new();
        for (key, (value, want)) in entries {
            map.insert(key.clone(), value);
            expected.push((key, want));
        }
        (Value::Object(map), expected)
    })
}

/// A candidate line of the given type, with arbitrary words around it.
fn candidate_line() -> BoxedStrategy<(String, CandidateType)> {
    (
        proptest::sample::select(&CandidateType::ALL[..]),
        "[a-z0-9:. ]{0,40}",
        "[a-z0-9:. ]{0,40}",
    )
        .prop_filter("one typ word", |(_, before, _)| {
            !before.split_ascii_whitespace().any(|w| w == "typ")
        })
        .prop_map(|(kind, before, after)| (format!("{before} typ {} {after}", kind.label()), kind))
        .boxed()
}

proptest! {
    #![proptest_config(config(128))]

    /// A generated map decodes to one entry per key, each holding the values it was generated
    /// from, and the raw decoder gives the same entries in the same order.
    #[test]
    fn generated_stats_decode_to_their_values((value, expected) in stats_map()) {
        let decoded = decode_stats(&value);
        prop_assert_eq!(decoded.len(), expected.len());
        let by_key: std::collections::HashMap<&str, &Expected> =
            expected.iter().map(|(k, e)| (k.as_str(), e)).collect();
        let keys = value.as_object().map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default();
        for (key, entry) in keys.into_iter().zip(&decoded) {
            let want = by_key.get(key.as_str()).map(|e| resolve(e, key));
            prop_assert_eq!(Some(entry), want.as_ref(), "key {:?} of {}", key, value);
        }
        prop_assert_eq!(decode_stats_raw(&to_raw(&value)), decoded);
    }

    /// Any JSON decodes without panic, identically through both decoders.
    #[test]
    fn any_json_decodes_alike(value in json_value(), entries in proptest::collection::btree_map(key(), json_value(), 0..4)) {
        for value in [value, Value::Object(entries.into_iter().collect())] {
            let decoded = decode_stats(&value);
            prop_assert_eq!(decode_stats_raw(&to_raw(&value)), decoded);
            let _ = decode_candidate_pairs(&to_raw(&value));
            let _ = decode_ice_states(&to_raw(&value));
        }
    }

    /// Pairs and ICE states come out one per list item, in order, with their types and states.
    #[test]
    fn pairs_and_states_decode_to_their_values(
        pairs in proptest::collection::vec(
            (proptest::option::of(candidate_line()), proptest::option::of(candidate_line())),
            0..4,
        ),
        states in proptest::collection::vec(proptest::option::of(any::<String>()), 0..5),
    ) {
        let pair_values: Vec<Value> = pairs
            .iter()
            .map(|(local, remote)| {
                let mut pair = json!({"__type__": "IceCandidatePair", "streamID": "1"});
                if let Some((line, _)) = local {
                    pair["localCandidate"] = Value::from(format!("candidate:{line}"));
                }
                if let Some((line, _)) = remote {
                    pair["remoteCandidate"] = Value::from(line.as_str());
                }
                pair
            })
            .collect();
        let want: Vec<SelectedPair> = pairs
            .iter()
            .map(|(local, remote)| SelectedPair {
                local: local.as_ref().map(|(_, t)| *t),
                remote: remote.as_ref().map(|(_, t)| *t),
                // Addresses are table-tested in `stats`; here they follow the same lines.
                local_address: local
                    .as_ref()
                    .and_then(|(line, _)| candidate_address(&format!("candidate:{line}"))),
                remote_address: remote.as_ref().and_then(|(line, _)| candidate_address(line)),
            })
            .collect();
        prop_assert_eq!(decode_candidate_pairs(&to_raw(&Value::Array(pair_values))), want);

        let state_values: Vec<Value> = states
            .iter()
            .map(|s| match s {
                Some(s) => json!({"state": s, "streamId": 1, "componentId": 1}),
                None => json!({"streamId": 1}),
            })
            .collect();
        let want: Vec<String> = states.into_iter().flatten().collect();
        let raw = to_raw(&Value::Array(state_values));
        prop_assert_eq!(decode_ice_states(&raw), want);
    }

    /// A candidate's type is the word after its first `typ`; any text parses without panic.
    #[test]
    fn candidate_type_is_the_word_after_typ((line, kind) in candidate_line(), noise in any::<String>()) {
        prop_assert_eq!(CandidateType::parse(&line), Some(kind));
        if let Some(kind) = CandidateType::parse(&noise) {
            let words: Vec<&str> = noise.split_ascii_whitespace().collect();
            prop_assert!(words.windows(2).any(|w| w == ["typ", kind.label()]), "{:?}", noise);
        }
    }
}

/// Stats JSON text that a `Value` cannot hold: out-of-range numbers (jsoncpp prints an infinite
/// double as `1e+9999`) in members read and skipped.
fn stats_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        proptest::sample::select(
            &[
                "1e+9999",
                "-1e+9999",
                "1e400",
                "18446744073709551616",
                "-0",
                "5e-324",
                "7"
            ][..]
        )
        .prop_map(str::to_owned),
        float().prop_map(|f| Value::from(f).to_string()),
    ];
    let member = (
        prop_oneof![
            proptest::sample::select(
                &[
                    "packetsLost",
                    "bytesReceived",
                    "jitter",
                    "roundTripTime",
                    "timestampMillis",
                    "remb"
                ][..]
            )
            .prop_map(str::to_owned),
            key()
        ],
        number,
    )
        .prop_map(|(k, v)| format!("{}:{v}", Value::from(k)));
    let entry = (
        prop_oneof![Just("inboundrtp"), Just("outboundrtp"), Just("endpoint")],
        proptest::collection::vec(member, 0..4),
    )
        .prop_map(|(kind, members)| {
            let mut all = vec![format!("\"type\":\"{kind}\"")];
            all.extend(members);
            format!("{{{}}}", all.join(","))
        });
    proptest::collection::vec((key(), entry), 0..3).prop_map(|entries| {
        let entries: Vec<String> = entries
            .into_iter()
            .map(|(k, e)| format!("{}:{e}", Value::from(k)))
            .collect();
        format!("{{{}}}", entries.join(","))
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// The raw decoder takes any valid JSON text without panic and, where the text fits a
    /// `Value`, agrees with the `Value` decoder.
    #[test]
    fn raw_stats_text_decodes_alike(text in stats_text()) {
        let Ok(raw) = RawValue::from_string(text.clone()) else {
            return Ok(());
        };
        let decoded = decode_stats_raw(&raw);
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            prop_assert_eq!(decoded, decode_stats(&value), "{}", text);
        }
    }
}
