//! Host injection, daemon side: `/etc/ld.so.preload` management and library verification.
//! (The snapshot compiler and the report receiver join this module with the preload library.)

pub mod breaker;
pub mod preload_file;
pub mod report;
pub mod snapshot;
pub mod verify;
