//! The descriptor limit (`RLIMIT_NOFILE`).

#![forbid(unsafe_code)]

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The soft and hard descriptor limits (1,024 each when they cannot be read).
pub fn nofile() -> (u64, u64) {
    getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024))
}

/// Raises the soft descriptor limit to the hard one (systemd's default soft limit is 1,024,
/// for the sake of `select()`, which the daemon never uses). Returns the limit now in force.
pub fn raise_nofile() -> u64 {
    let (soft, hard) = nofile();
    if soft >= hard {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => hard,
        Err(e) => {
            tracing::warn!(soft, hard, error = %e, "Could not raise the descriptor limit");
            soft
        }
    }
}
