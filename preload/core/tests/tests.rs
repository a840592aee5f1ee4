//! The crate's one integration test binary.

mod commands;
mod fuzz_input;
mod peers;
mod properties;
