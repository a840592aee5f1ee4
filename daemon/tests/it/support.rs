//! The fixtures (private bus, daemon under test, the CLI) come from the workspace's
//! `oneagent-test-support` crate, shared with oneagent-k8s's tests.

pub use oneagent_test_support::*;

/// The fixtures find oneagentd next to the running test; it is the binary Cargo built for it.
#[test]
fn fixtures_run_the_daemon_cargo_built() {
    assert_eq!(
        std::fs::canonicalize(*DAEMON).unwrap(),
        std::fs::canonicalize(env!("CARGO_BIN_EXE_oneagentd")).unwrap()
    );
    assert_eq!(
        std::path::Path::new(*CTL).parent(),
        std::path::Path::new(*DAEMON).parent()
    );
}
