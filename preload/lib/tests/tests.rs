//! Integration tests of `liboneagent_preload.so` (one binary, one `mod` per area). They run the
//! built release artefact (`target/release/liboneagent_preload.so`, or `ONEAGENT_PRELOAD_SO`) through
//! `LD_PRELOAD` only: nothing here touches `/etc`, `/usr` or the machine's `/etc/ld.so.preload`.
//! Build first: `cargo build --release --manifest-path preload/lib/Cargo.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod it {
    pub mod artefact;
    pub mod common;
    pub mod inject;
    pub mod safety;
}
