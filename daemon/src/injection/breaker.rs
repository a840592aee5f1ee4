//! The crash circuit breaker: when processes of one executable die with a fatal signal, or exit
//! with a failure, within 2 s of being injected, three times in a row, that executable is
//! blocked from injection until an operator unblocks it. A run that survives the window, or exits
//! cleanly, resets the count. Host processes and containers' processes count apart (a
//! [`Scope`]): a container's `/usr/bin/python3` is another file than the host's, and its block
//! goes into the containers' snapshot only. Pure state: the daemon feeds it exits and acts on its
//! verdicts.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

/// Deaths in a row that trip the breaker.
pub const THRESHOLD: u32 = 3;
/// How soon after injection a death counts.
pub const WINDOW: Duration = Duration::from_secs(2);

/// Signals that mean the process crashed (as opposed to being asked to stop).
const FATAL_SIGNALS: &[u32] = &[
    libc::SIGSEGV as u32,
    libc::SIGBUS as u32,
    libc::SIGILL as u32,
    libc::SIGFPE as u32,
    libc::SIGABRT as u32,
    libc::SIGSYS as u32,
    libc::SIGTRAP as u32,
];

/// How a wait status reads.
pub fn describe_status(status: u32) -> String {
    let signal = status & 0x7f;
    if signal != 0 {
        format!("killed by signal {signal}")
    } else {
        format!("exit code {}", (status >> 8) & 0xff)
    }
}

/// Where the executable runs, and so which snapshot its block goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Host processes (reports on the runtime directory's socket; the host's snapshot).
    Host,
    /// Containers' processes (reports on `<node_agent_dir>/preload.sock`; the containers'
    /// snapshot), the executable named by its path inside the container.
    Containers,
}

impl Scope {
    /// `host` or `containers` (the state database and the D-Bus API).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Containers => "containers",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-executable streaks.
#[derive(Debug, Default)]
pub struct CrashBreaker {
    streaks: HashMap<(Scope, String), u32>,
}

impl CrashBreaker {
    /// Records the exit of an injected process of `exe` that lived `lifetime` after injection,
    /// with wait status `status`. Returns the reason to block `exe` when the breaker trips.
    pub fn on_injected_exit(
        &mut self,
        scope: Scope,
        exe: &str,
        lifetime: Duration,
        status: u32,
    ) -> Option<String> {
        let key = (scope, exe.to_owned());
        let signal = status & 0x7f;
        let code = (status >> 8) & 0xff;
        let crashed =
            lifetime <= WINDOW && (FATAL_SIGNALS.contains(&signal) || (signal == 0 && code != 0));
        if !crashed {
            self.streaks.remove(&key);
            return None;
        }
        let streak = self.streaks.entry(key.clone()).or_insert(0);
        *streak += 1;
        if *streak >= THRESHOLD {
            self.streaks.remove(&key);
            Some(format!(
                "{THRESHOLD} injected processes in a row died within {} s ({} the last time)",
                WINDOW.as_secs(),
                describe_status(status)
            ))
        } else {
            None
        }
    }

    /// Forgets the streaks of `exe`, in both scopes (after an unblock).
    pub fn reset(&mut self, exe: Option<&str>) {
        match exe {
            Some(exe) => self.streaks.retain(|(_, e), _| e != exe),
            None => self.streaks.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGV: u32 = libc::SIGSEGV as u32;
    const EXIT1: u32 = 1 << 8;

    #[test]
    fn three_quick_crashes_in_a_row_trip_it() {
        let mut b = CrashBreaker::default();
        let quick = Duration::from_millis(300);
        assert_eq!(
            b.on_injected_exit(Scope::Host, "/usr/bin/java", quick, SEGV),
            None
        );
        assert_eq!(
            b.on_injected_exit(Scope::Host, "/usr/bin/java", quick, EXIT1),
            None
        );
        let reason = b
            .on_injected_exit(Scope::Host, "/usr/bin/java", quick, SEGV)
            .unwrap();
        assert!(reason.contains("signal 11"), "{reason}");
    }

    #[test]
    fn a_good_run_resets_the_streak() {
        let mut b = CrashBreaker::default();
        let quick = Duration::from_millis(300);
        b.on_injected_exit(Scope::Host, "/x", quick, SEGV);
        b.on_injected_exit(Scope::Host, "/x", quick, SEGV);
        assert_eq!(
            b.on_injected_exit(Scope::Host, "/x", Duration::from_secs(60), SEGV),
            None,
            "late death"
        );
        b.on_injected_exit(Scope::Host, "/x", quick, SEGV);
        b.on_injected_exit(Scope::Host, "/x", quick, SEGV);
        assert_eq!(
            b.on_injected_exit(Scope::Host, "/x", quick, 0),
            None,
            "clean exit"
        );
        assert_eq!(b.on_injected_exit(Scope::Host, "/x", quick, SEGV), None);
    }

    #[test]
    fn host_and_container_streaks_count_apart() {
        let mut b = CrashBreaker::default();
        let quick = Duration::from_millis(100);
        let py = "/usr/local/bin/python3";
        b.on_injected_exit(Scope::Containers, py, quick, SEGV);
        b.on_injected_exit(Scope::Containers, py, quick, SEGV);
        // A host crash of the same path neither trips nor resets the containers' streak.
        assert_eq!(b.on_injected_exit(Scope::Host, py, quick, SEGV), None);
        assert_eq!(b.on_injected_exit(Scope::Host, py, quick, 0), None);
        assert!(
            b.on_injected_exit(Scope::Containers, py, quick, SEGV)
                .is_some()
        );
        // An unblock forgets both scopes' streaks.
        b.on_injected_exit(Scope::Host, py, quick, SEGV);
        b.on_injected_exit(Scope::Containers, py, quick, SEGV);
        b.on_injected_exit(Scope::Host, py, quick, SEGV);
        b.on_injected_exit(Scope::Containers, py, quick, SEGV);
        b.reset(Some(py));
        assert_eq!(b.on_injected_exit(Scope::Host, py, quick, SEGV), None);
        assert_eq!(b.on_injected_exit(Scope::Containers, py, quick, SEGV), None);
        assert_eq!(Scope::Containers.to_string(), "containers");
    }

    #[test]
    fn sigterm_and_other_executables_do_not_count() {
        let mut b = CrashBreaker::default();
        let quick = Duration::from_millis(10);
        for _ in 0..5 {
            assert_eq!(
                b.on_injected_exit(Scope::Host, "/x", quick, libc::SIGTERM as u32),
                None
            );
        }
        b.on_injected_exit(Scope::Host, "/a", quick, SEGV);
        b.on_injected_exit(Scope::Host, "/b", quick, SEGV);
        assert_eq!(b.on_injected_exit(Scope::Host, "/a", quick, SEGV), None);
    }
}
