//! `cargo +nightly fuzz run decide` (from preload/core): splits the input into
//! flags/argv/env/cgroup/exe/libraries/cwd/package.json name and runs `decide` and the cgroup
//! parsers on it, checking their invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common/split.rs"]
mod split;

fuzz_target!(|data: &[u8]| {
    split::run(data);
});
