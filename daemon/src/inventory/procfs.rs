//! Reading one process from `/proc/PID`, bounded, tolerant of processes that vanish mid-read.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use crate::decision::ProcessFacts;

/// At most this much of `cmdline` and `environ` is read.
pub const MAX_LIST_BYTES: u64 = 256 * 1024;
/// At most this much of `cgroup`.
const MAX_CGROUP_BYTES: u64 = 16 * 1024;
/// `PF_KTHREAD` in the flags field of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// What `/proc/PID/stat` says that we need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The parent pid.
    pub ppid: u32,
    /// Start time in clock ticks since boot: with the pid, the identity of a process.
    pub start_time: u64,
    /// A kernel thread.
    pub kernel_thread: bool,
}

/// Parses `/proc/PID/stat`; the command name may hold spaces and parentheses, so fields are
/// counted after the last `)`.
pub fn parse_stat(text: &[u8]) -> Option<Stat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    // After ")": state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8) flags(9) ... starttime(22).
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let flags: u64 = fields.get(6)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat {
        ppid,
        start_time,
        kernel_thread: flags & PF_KTHREAD != 0,
    })
}

fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    crate::safe_fs::read_head(path, limit, crate::safe_fs::OpenOpts::TRUSTED).map_err(|e| match e {
        crate::Error::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    })
}

/// One process as read from /proc, before the decision.
#[derive(Debug, Clone)]
pub struct RawProcess {
    /// The pid.
    pub pid: u32,
    /// From `stat`.
    pub stat: Stat,
    /// Facts for the decision (ELF facts not yet filled in).
    pub facts: ProcessFacts,
}

/// Why a process could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// It exited (or never existed).
    Gone,
    /// A kernel thread: never part of the inventory.
    KernelThread,
    /// Permission denied or another error on a required file.
    Denied,
}

/// Reads `/proc/<pid>` under `proc_root` (normally `/proc`).
pub fn read_process(proc_root: &Path, pid: u32) -> Result<RawProcess, Unreadable> {
    let dir: PathBuf = proc_root.join(pid.to_string());
    let classify = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Unreadable::Gone,
        _ if e.raw_os_error() == Some(libc::ESRCH) => Unreadable::Gone,
        _ => Unreadable::Denied,
    };
    let stat_text = read_bounded(&dir.join("stat"), 4096).map_err(classify)?;
    let stat = parse_stat(&stat_text).ok_or(Unreadable::Gone)?;
    if stat.kernel_thread {
        return Err(Unreadable::KernelThread);
    }
    let cmdline = read_bounded(&dir.join("cmdline"), MAX_LIST_BYTES).map_err(classify)?;
    if cmdline.is_empty() {
        // Zombies and kernel threads have no command line.
        return Err(Unreadable::Gone);
    }
    let exe = std::fs::read_link(dir.join("exe"))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default();
    let cgroup = read_bounded(&dir.join("cgroup"), MAX_CGROUP_BYTES).unwrap_or_default();
    Ok(RawProcess {
        pid,
        stat,
        facts: ProcessFacts {
            cmdline,
            exe,
            cgroup,
            ..ProcessFacts::default()
        },
    })
}

/// Reads what only a runtime's decision needs: the environment (service names set by the user,
/// other agents, our own agent) and the working directory. Unreadable parts stay empty.
pub fn read_runtime_details(proc_root: &Path, pid: u32, facts: &mut ProcessFacts) {
    let dir = proc_root.join(pid.to_string());
    // The environment needs the right to ptrace-read the process; without it, decide on argv.
    facts.environ = read_bounded(&dir.join("environ"), MAX_LIST_BYTES).unwrap_or_default();
    facts.cwd = std::fs::read_link(dir.join("cwd"))
        .map(|p| p.into_os_string().into_encoded_bytes())
        .unwrap_or_default();
}

/// The pids listed in `proc_root`.
pub fn list_pids(proc_root: &Path) -> std::io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        {
            pids.push(pid);
        }
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_command_names() {
        let text =
            b"1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(text).unwrap();
        assert_eq!(
            (stat.ppid, stat.start_time, stat.kernel_thread),
            (1, 987_654, false)
        );
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
        assert!(parse_stat(kthread).unwrap().kernel_thread);
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x)").is_none());
    }

    #[test]
    fn reads_itself_and_reports_gone_for_a_dead_pid() {
        let me = read_process(Path::new("/proc"), std::process::id()).unwrap();
        assert!(!me.facts.cmdline.is_empty());
        let mut facts = me.facts.clone();
        read_runtime_details(Path::new("/proc"), std::process::id(), &mut facts);
        assert!(!facts.environ.is_empty() && !facts.cwd.is_empty());
        assert!(!me.facts.exe.is_empty());
        assert_eq!(
            read_process(Path::new("/proc"), u32::MAX - 1).unwrap_err(),
            Unreadable::Gone
        );
    }
}
