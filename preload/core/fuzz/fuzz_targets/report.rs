//! `cargo +nightly fuzz run report` (from preload/core): the preload report datagram decoder on
//! arbitrary bytes. Invariants: never panics; whatever decodes re-encodes to the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oneagent_preload_core::report;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = report::decode(data) {
        let mut out = [0u8; report::MAX_REPORT];
        let n = report::encode(&r, &mut out);
        assert_eq!(&out[..n], data, "re-encoding differs");
    }
});
