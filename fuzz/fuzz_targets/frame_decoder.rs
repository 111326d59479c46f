//! A KMS text frame through both decoders and `reply_ids`: no panic, and the raw decoder (the
//! client's) answers as the reference `Value` decoder does.
#![no_main]

use kurento_exporter::kurento::protocol::{
    DecodeError, Incoming, RawIncoming, decode_incoming, decode_incoming_raw, reply_ids,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = reply_ids(text);
    let value = decode_incoming(text);
    let raw = decode_incoming_raw(text);
    match (&value, &raw) {
        // The documented difference: numbers beyond a double's range reach only the raw result.
        (Err(DecodeError::Json(m)), Ok(_)) if m.starts_with("number out of range") => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "{text}"),
        // Results are not compared: serde_json may re-read a double one ulp off.
        (
            Ok(Incoming::Response { id, outcome }),
            Ok(RawIncoming::Response {
                id: raw_id,
                outcome: raw_outcome,
            }),
        ) => {
            assert_eq!(id, raw_id, "{text}");
            assert_eq!(outcome.as_ref().err(), raw_outcome.as_ref().err(), "{text}");
        }
        (
            Ok(Incoming::Notification { method, params }),
            Ok(RawIncoming::Notification {
                method: m,
                params: p,
            }),
        ) => {
            assert_eq!((method, params), (m, p), "{text}");
        }
        _ => panic!("decoders disagree on {text}: {value:?}"),
    }
});
