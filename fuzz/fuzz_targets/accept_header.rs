//! An `Accept` or `Accept-Encoding` header value through content negotiation: no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        kurento_exporter::fuzzing::accept(header);
    }
});
