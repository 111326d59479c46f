//! A `getStats`, `getICECandidatePairs` or `getIceConnectionState` result through every stats
//! decoder: no panic, and the raw and `Value` decoders of `getStats` agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kurento_exporter::fuzzing::stats(text);
    }
});
