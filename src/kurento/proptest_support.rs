//! Shared pieces of the property tests (`mod proptests` beside the decoders, here and in higher
//! layers): a deterministic runner configuration and a generator of arbitrary JSON.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use serde_json::{Map, Value};

/// The seed every property test starts from, so that CI runs the same cases every time.
const SEED: u64 = 0x6b75_7265_6e74_6f00;

/// `cases` cases from a fixed ChaCha seed, with no failure files written into `src/`. For a
/// deeper local run, `PROPTEST_CASES` and `PROPTEST_RNG_SEED` still override the two.
pub(crate) fn config(cases: u32) -> Config {
    let from_env = Config::default();
    let set = |name: &str| std::env::var_os(name).is_some();
    Config {
        cases: if set("PROPTEST_CASES") {
            from_env.cases
        } else {
            cases
        },
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: if set("PROPTEST_RNG_SEED") {
            from_env.rng_seed
        } else {
            RngSeed::Fixed(SEED)
        },
        failure_persistence: None,
        // A failing case is shrunk for at most this long (ms), so a failure cannot hang CI.
        max_shrink_time: 10_000,
        ..from_env
    }
}

/// Keys that the decoders look for, mixed with arbitrary ones so that generated objects hit the
/// interesting members often.
const KEYS: &[&str] = &[
    "id",
    "jsonrpc",
    "method",
    "params",
    "result",
    "error",
    "code",
    "message",
    "data",
    "value",
    "type",
    "inboundrtp",
    "outboundrtp",
    "endpoint",
    "packetsLost",
    "bytesReceived",
    "E2ELatency",
    "avg",
    "state",
    "localCandidate",
];

/// A member name: usually one the decoders know, sometimes anything.
pub(crate) fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A finite double that serde_json reads back exactly from the text it writes. Without its
/// `float_roundtrip` feature serde_json may read a double one ulp off, so a decoder that
/// re-reads JSON it wrote (the raw decoders' fallbacks do) could differ in the last digit; that
/// is the JSON library's documented precision, not the decoders' behaviour.
pub(crate) fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => (-1_000_000i32..1_000_000).prop_map(|n| f64::from(n) / 64.0),
    ]
    .prop_filter("finite and read back exactly", |f| reads_back(*f))
}

/// Whether serde_json reads `f` back exactly from the text it writes for it (see [`float`]).
pub(crate) fn reads_back(f: f64) -> bool {
    f.is_finite() && serde_json::from_str::<f64>(&Value::from(f).to_string()).ok() == Some(f)
}

/// A scalar of every JSON kind, with the numeric edges (`Value` holds no NaN or infinity).
pub(crate) fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            float(),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(-0.0),
            Just(1.5),
            Just(9.0e15)
        ]
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        proptest::sample::select(KEYS).prop_map(Value::from),
    ]
}

/// Any JSON value, nested a few levels deep.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}
