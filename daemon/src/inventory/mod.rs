//! The process inventory: every process on the host with its runtime, service name and injection
//! state. A full `/proc` scan at start, then the kernel's process events (fork, exec, exit) as they
//! happen, with a slow re-scan as a safety net. A process announced by an event is read once it
//! has lived [`deferred::READ_DELAY`] ([`Inventory::read_due`]); one that exits before is never
//! read, and is known afterwards by its fork's parent. The engine knows nothing of D-Bus or
//! SQLite: the daemon feeds it events and persists what [`Inventory::take_changes`] returns. In
//! the daemon one thread owns it and everything else holds an [`InventoryHandle`] (see `owner`).

#![forbid(unsafe_code)]

pub mod deferred;
pub mod events;
mod owner;
pub mod procfs;
pub mod recent;

pub use owner::InventoryHandle;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::unix_now;
use crate::decision::{OwnedPolicy, Verdict, enrich, evaluate};
use crate::elf_cache::ElfCache;
use crate::injection::report::ReceivedReport;
use events::ProcEvent;
use procfs::{Unreadable, list_pids, read_process};
use recent::Exit;

/// Longest command line kept for display.
const MAX_COMMAND_LINE: usize = 4096;

/// One process as shown by `oneagentctl ps` and the `Processes` D-Bus method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    /// The pid.
    pub pid: u32,
    /// Start time in clock ticks since boot; (pid, start_time) identifies a process.
    pub start_time: u64,
    /// The parent pid.
    pub ppid: u32,
    /// The executable image (`/proc/PID/exe`), empty if unreadable.
    pub exe: String,
    /// The command line, arguments separated by spaces, at most 4 KiB.
    pub command_line: String,
    /// The systemd unit from the cgroup path, empty if none.
    pub systemd_unit: String,
    /// The container id from the cgroup path, empty if none.
    pub container_id: String,
    /// The Kubernetes pod uid from the cgroup path, empty if none.
    pub pod_uid: String,
    /// The decision for the process's next start.
    pub verdict: Verdict,
    /// `injected` (our agent is configured in its environment), `not-injected` (running
    /// without it although the next start would inject) or `skipped`.
    pub injection_state: String,
    /// `gains-agent` or `loses-agent` at the next start, empty when nothing changes.
    pub pending_change: String,
    /// What the preload library reported doing in this process (`injected`, `skipped`,
    /// `agent-missing`, …), empty when it sent no report.
    pub preload_outcome: String,
    /// Unix time the daemon first saw this process.
    pub first_seen: u64,
    /// The executable's C library, `glibc` or `musl`, from its `PT_INTERP` (read through
    /// `/proc/PID/exe`, so a container's process is judged by its image's own file); empty for a
    /// static executable, an unknown libc or a process that is not of a runtime.
    pub libc: String,
}

impl ProcessEntry {
    /// Whether the process is of a detected runtime.
    pub fn is_runtime(&self) -> bool {
        !self.verdict.language.is_empty()
    }
}

/// Counters of one full scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Processes in the inventory after the scan.
    pub processes: usize,
    /// Of those, processes of a detected runtime.
    pub runtimes: usize,
    /// Pids that could not be read (permission).
    pub unreadable: usize,
}

/// What changed since the last [`Inventory::take_changes`].
#[derive(Debug, Default)]
pub struct Changes {
    /// Processes added or updated.
    pub upserts: Vec<ProcessEntry>,
    /// Processes that are gone: (pid, start_time).
    pub removals: Vec<(u32, u64)>,
}

impl Changes {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }
}

/// The inventory engine.
#[derive(Debug)]
pub struct Inventory {
    proc_root: PathBuf,
    self_pid: u32,
    processes: HashMap<u32, ProcessEntry>,
    elf: ElfCache,
    policy: Arc<OwnedPolicy>,
    dirty: HashSet<u32>,
    removed: Vec<(u32, u64)>,
    first_seen: HashMap<(u32, u64), u64>,
    last_unreadable_was_denied: bool,
    reports: HashMap<u32, (std::time::Instant, ReceivedReport)>,
    /// What was known of processes that exited in the last few seconds.
    recent: recent::RecentExits,
    /// The parent of each child forked and not yet exited, for a child that exits before it
    /// could be read; cleared when it grows past [`MAX_FORKS`] (forks whose exits were missed).
    forks: HashMap<u32, u32>,
    /// The crash circuit breaker's streaks: it counts the exits this inventory sees, so it
    /// lives with them (on the inventory's owner thread in the daemon).
    breaker: crate::injection::breaker::CrashBreaker,
    /// Processes announced by an event, read once they have lived a moment.
    deferred: deferred::Deferred,
}

/// An executable the crash circuit breaker decided to block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    /// Whose executable: the host's or the containers'.
    pub scope: crate::injection::breaker::Scope,
    /// The path, as the process saw it.
    pub exe: String,
    /// Why.
    pub reason: String,
}

/// A full scan in progress ([`Inventory::start_scan`]).
#[derive(Debug)]
pub struct Scan {
    pids: std::vec::IntoIter<u32>,
    stats: ScanStats,
}

impl Scan {
    /// How many processes it has still to read.
    pub fn remaining(&self) -> usize {
        self.pids.len()
    }
}

/// Most links followed from an exited child to a known ancestor (`sh -c 'sh -c …'`).
const MAX_ANCESTORS: usize = 16;

/// Most forks remembered for their parent.
const MAX_FORKS: usize = 65_536;

/// A process that exited, with its preload report if it sent one.
#[derive(Debug)]
pub struct Exited {
    /// The inventory entry; `None` for a process that was gone before its report was read
    /// (a quick death), known only by its report.
    pub entry: Option<ProcessEntry>,
    /// The report and when it arrived.
    pub report: Option<(std::time::Instant, ReceivedReport)>,
}

fn join_command_line(cmdline: &[u8]) -> String {
    let mut out = String::new();
    for arg in cmdline.split(|&b| b == 0).filter(|a| !a.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&String::from_utf8_lossy(arg));
        if out.len() > MAX_COMMAND_LINE {
            let mut cut = MAX_COMMAND_LINE;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

impl Inventory {
    /// An empty inventory reading `proc_root` (normally `/proc`), ignoring `self_pid`.
    pub fn new(proc_root: PathBuf, self_pid: u32, policy: Arc<OwnedPolicy>) -> Self {
        Inventory {
            proc_root,
            self_pid,
            processes: HashMap::new(),
            elf: ElfCache::default(),
            policy,
            dirty: HashSet::new(),
            removed: Vec::new(),
            first_seen: HashMap::new(),
            last_unreadable_was_denied: false,
            reports: HashMap::new(),
            recent: recent::RecentExits::default(),
            forks: HashMap::new(),
            breaker: Default::default(),
            deferred: deferred::Deferred::default(),
        }
    }

    /// Remembers when processes were first seen (from the database of a previous run).
    pub fn restore_first_seen(&mut self, seen: impl IntoIterator<Item = ((u32, u64), u64)>) {
        self.first_seen.extend(seen);
    }

    /// Replaces the policy and re-decides every process.
    pub fn set_policy(&mut self, policy: Arc<OwnedPolicy>) -> ScanStats {
        self.policy = policy;
        self.full_scan()
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<OwnedPolicy> {
        &self.policy
    }

    /// Reads every process; forgets those that are gone.
    pub fn full_scan(&mut self) -> ScanStats {
        let mut scan = self.start_scan();
        while self.scan_next(&mut scan) {}
        self.finish_scan(scan)
    }

    /// Starts a full scan: lists `/proc` and forgets the processes that are gone. Then
    /// [`Self::scan_next`] reads one process at a time (the owner answers lookups in between)
    /// and [`Self::finish_scan`] ends it.
    pub fn start_scan(&mut self) -> Scan {
        let pids = list_pids(&self.proc_root).unwrap_or_default();
        let alive: HashSet<u32> = pids.iter().copied().collect();
        let gone: Vec<u32> = self
            .processes
            .keys()
            .filter(|pid| !alive.contains(pid))
            .copied()
            .collect();
        for pid in gone {
            self.exited(pid);
        }
        Scan {
            pids: pids.into_iter(),
            stats: ScanStats::default(),
        }
    }

    /// Reads the scan's next process; false when there is none left.
    pub fn scan_next(&mut self, scan: &mut Scan) -> bool {
        let Some(pid) = scan.pids.next() else {
            return false;
        };
        if !self.observe(pid) && self.last_unreadable_was_denied {
            scan.stats.unreadable += 1;
        }
        true
    }

    /// Ends a scan and counts what the inventory holds.
    pub fn finish_scan(&mut self, scan: Scan) -> ScanStats {
        let mut stats = scan.stats;
        // Reports kept for processes that were gone before they could be read wait for their
        // exit event; without process events (polling) none comes, and a reused pid must not
        // inherit them.
        let known = &self.processes;
        self.reports.retain(|pid, _| known.contains_key(pid));
        stats.processes = self.processes.len();
        stats.runtimes = self.processes.values().filter(|p| p.is_runtime()).count();
        stats
    }

    /// Reads (or re-reads) one process after a fork or exec. Returns whether it is in the
    /// inventory afterwards.
    pub fn observe(&mut self, pid: u32) -> bool {
        self.last_unreadable_was_denied = false;
        self.deferred.cancel(pid);
        if pid == self.self_pid {
            return false;
        }
        let mut raw = match read_process(&self.proc_root, pid) {
            Ok(raw) => raw,
            Err(why) => {
                self.last_unreadable_was_denied = why == Unreadable::Denied;
                self.exited(pid);
                return false;
            }
        };
        enrich(&mut raw.facts, &mut self.elf);
        // Runtime detection never looks at the environment: decide on argv and the executable
        // first, and read the environment and cwd only for runtimes (most processes are not).
        let mut verdict = evaluate(&raw.facts, &self.policy);
        let mut ours_now = false;
        if !verdict.language.is_empty() {
            procfs::read_runtime_details(&self.proc_root, pid, &mut raw.facts);
            enrich(&mut raw.facts, &mut self.elf);
            verdict = evaluate(&raw.facts, &self.policy);
            // Whether our agent is configured is read from the environment whatever the policy.
            ours_now = verdict.already_injected;
        }
        // Only runtimes: what the C library is matters for picking an agent build (.NET's
        // linux-musl-* directories), and a second stat per exec of every process would not.
        let libc = if verdict.language.is_empty() {
            ""
        } else {
            let image = self.proc_root.join(pid.to_string()).join("exe");
            self.elf.facts(&image).map_or("", |f| f.libc())
        };
        let key = (pid, raw.stat.start_time);
        if let Some(old) = self.processes.get(&pid)
            && old.start_time != raw.stat.start_time
        {
            // The pid was reused: the old process is gone.
            self.removed.push((pid, old.start_time));
            self.first_seen.remove(&(pid, old.start_time));
        }
        let now = unix_now();
        let first_seen = *self.first_seen.entry(key).or_insert(now);
        let report = self.reports.get(&pid).map(|(_, r)| r);
        let preload_outcome = report.map(|r| r.outcome.clone()).unwrap_or_default();
        let injected_by_preload = matches!(preload_outcome.as_str(), "injected" | "nothing-to-do");
        // The preload's setenv changes the process's own copy of the environment, which
        // /proc/PID/environ does not show: its report is the truth when there is one.
        let ours_now = ours_now || injected_by_preload;
        let injection_state = if ours_now {
            "injected"
        } else if verdict.action == "inject" {
            "not-injected"
        } else {
            "skipped"
        };
        let pending_change = match (ours_now, verdict.action == "inject") {
            (true, false) => "loses-agent",
            (false, true) => "gains-agent",
            _ => "",
        };
        let cgroup = &raw.facts.cgroup;
        let text = |b: Option<&[u8]>| {
            b.map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let entry = ProcessEntry {
            pid,
            start_time: raw.stat.start_time,
            ppid: raw.stat.ppid,
            exe: String::from_utf8_lossy(&raw.facts.exe).into_owned(),
            command_line: join_command_line(&raw.facts.cmdline),
            systemd_unit: text(oneagent_preload_core::systemd_unit(cgroup)),
            container_id: text(oneagent_preload_core::container_id(cgroup)),
            pod_uid: oneagent_preload_core::pod_uid(cgroup)
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            verdict,
            injection_state: injection_state.to_owned(),
            pending_change: pending_change.to_owned(),
            preload_outcome,
            first_seen,
            libc: libc.to_owned(),
        };
        let changed = self.processes.get(&pid) != Some(&entry);
        if changed {
            self.processes.insert(pid, entry);
            self.dirty.insert(pid);
        }
        true
    }

    /// Forgets a process that exited; returns what was known of it.
    pub fn exited(&mut self, pid: u32) -> Option<Exited> {
        self.deferred.cancel(pid);
        let report = self.reports.remove(&pid);
        let Some(old) = self.processes.remove(&pid) else {
            self.exited_unread(pid);
            // Gone before its report was read: the report (and its executable) still counts.
            return report.map(|r| Exited {
                entry: None,
                report: Some(r),
            });
        };
        self.removed.push((pid, old.start_time));
        self.first_seen.remove(&(pid, old.start_time));
        self.dirty.remove(&pid);
        self.recent.insert(old.clone(), std::time::Instant::now());
        self.forks.remove(&pid);
        Some(Exited {
            entry: Some(old),
            report,
        })
    }

    /// Records a preload report and re-reads its process.
    pub fn record_report(&mut self, report: ReceivedReport) {
        let pid = report.pid;
        if self.reports.len() > 65_536 {
            // Reports of processes whose exit we missed: drop the ones not in the inventory.
            let known: HashSet<u32> = self.processes.keys().copied().collect();
            self.reports.retain(|p, _| known.contains(p));
        }
        let received = (std::time::Instant::now(), report);
        self.reports.insert(pid, received.clone());
        if !self.observe(pid) {
            // Already gone (a crash right after the library's constructor) or unreadable: keep
            // the report for the exit event, which feeds the crash circuit breaker.
            self.reports.insert(pid, received);
        }
    }

    /// All processes, ordered by pid.
    pub fn list(&self) -> Vec<ProcessEntry> {
        let mut all: Vec<ProcessEntry> = self.processes.values().cloned().collect();
        all.sort_by_key(|p| p.pid);
        all
    }

    /// One process.
    pub fn get(&self, pid: u32) -> Option<&ProcessEntry> {
        self.processes.get(&pid)
    }

    /// The process with this pid that exited in the last [`recent::RECENT_EXIT_TTL`], as the
    /// inventory knew it (a short-lived log writer is gone before its write is attributed). A
    /// child that was never read is described as its nearest known ancestor (by fork), whose
    /// cgroup — unit, container, service — it shared, with its own pid, its parent's pid and an
    /// unknown (zero) start time.
    pub fn recently_exited(&self, pid: u32) -> Option<ProcessEntry> {
        let now = std::time::Instant::now();
        let parent = match self.recent.get(pid, now)? {
            Exit::Read(entry) => return Some(ProcessEntry::clone(entry)),
            Exit::ChildOf(parent) => *parent,
        };
        let mut ancestor = parent;
        for _ in 0..MAX_ANCESTORS {
            let known = match self.processes.get(&ancestor) {
                Some(entry) => Some(entry),
                None => match self.recent.get(ancestor, now)? {
                    Exit::Read(entry) => Some(&**entry),
                    Exit::ChildOf(next) => {
                        ancestor = *next;
                        None
                    }
                },
            };
            if let Some(known) = known {
                let mut entry = known.clone();
                entry.pid = pid;
                entry.ppid = parent;
                entry.start_time = 0;
                return Some(entry);
            }
        }
        None
    }

    /// Remembers the parent of a forked child: a child that exits before it could be read
    /// from `/proc` is remembered as its parent, whose cgroup — unit, container, service — it
    /// shared, with its own pid and an unknown (zero) start time.
    pub fn forked(&mut self, child: u32, parent: u32) {
        if self.forks.len() >= MAX_FORKS {
            self.forks.clear();
        }
        self.forks.insert(child, parent);
    }

    fn exited_unread(&mut self, child: u32) {
        // Resolved when asked ([`Inventory::recently_exited`]): the parent may not have been
        // read yet itself.
        if let Some(parent) = self.forks.remove(&child) {
            self.recent
                .insert_child(child, parent, std::time::Instant::now());
        }
    }

    /// Applies the connector's events in order: a fork or exec schedules a read of the process
    /// for when it has lived [`deferred::READ_DELAY`] (a fork also remembers the parent), an exit
    /// forgets it. Returns the exits (with their wait status) of processes the inventory knew or
    /// had a report of.
    pub fn apply_events(
        &mut self,
        events: &[ProcEvent],
        now: std::time::Instant,
    ) -> Vec<(Exited, u32)> {
        let mut exits = Vec::new();
        for e in events {
            match *e {
                ProcEvent::Fork { parent, child } => {
                    self.forked(child, parent);
                    self.deferred.schedule(child, now);
                }
                ProcEvent::Exec { pid } if pid != self.self_pid => {
                    self.deferred.schedule(pid, now);
                }
                ProcEvent::Exec { .. } => {}
                ProcEvent::Exit { pid, status } => {
                    if let Some(exited) = self.exited(pid) {
                        exits.push((exited, status));
                    }
                }
            }
        }
        exits
    }

    /// Reads the processes that have lived [`deferred::READ_DELAY`] since their last fork or
    /// exec event; returns how many were due.
    pub fn read_due(&mut self, now: std::time::Instant) -> usize {
        let mut due = Vec::new();
        self.deferred.take_due(now, &mut due);
        for &pid in &due {
            self.observe(pid);
        }
        due.len()
    }

    /// When the next deferred read is due, if any is waiting.
    pub fn next_read(&mut self) -> Option<std::time::Instant> {
        self.deferred.next_due()
    }

    /// Whether [`Inventory::take_changes`] has anything.
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty() || !self.removed.is_empty()
    }

    /// Feeds exits to the crash circuit breaker; returns the executables to block. The
    /// executable is the one the report names (as the process saw it: a container's own path),
    /// else the inventory's; only processes the library injected count.
    pub fn crash_trips(&mut self, exits: &[(Exited, u32)]) -> Vec<Trip> {
        let mut trips = Vec::new();
        for (exited, status) in exits {
            let Some((at, report)) = &exited.report else {
                continue;
            };
            let exe = match (&report.exe, &exited.entry) {
                (exe, _) if !exe.is_empty() => exe.clone(),
                (_, Some(entry)) => entry.exe.clone(),
                (_, None) => String::new(),
            };
            if report.outcome != "injected" || exe.is_empty() {
                continue;
            }
            let scope = report.scope;
            if let Some(reason) =
                (self.breaker).on_injected_exit(scope, &exe, at.elapsed(), *status)
            {
                trips.push(Trip { scope, exe, reason });
            }
        }
        trips
    }

    /// Forgets the crash circuit breaker's streaks of `exe` (all when `None`), after an unblock.
    pub fn reset_breaker(&mut self, exe: Option<&str>) {
        self.breaker.reset(exe);
    }

    /// Changes since the last call, for persistence.
    pub fn take_changes(&mut self) -> Changes {
        let upserts = self
            .dirty
            .drain()
            .filter_map(|pid| self.processes.get(&pid).cloned())
            .collect();
        Changes {
            upserts,
            removals: std::mem::take(&mut self.removed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::injection::breaker::Scope;

    fn report(pid: u32, exe: &str) -> ReceivedReport {
        ReceivedReport {
            pid,
            action: "inject".into(),
            reason_code: "instrumentable".into(),
            outcome: "injected".into(),
            language: "python".into(),
            service_name: "app".into(),
            exe: exe.into(),
            scope: Scope::Containers,
        }
    }

    fn real_proc() -> Inventory {
        let policy = Arc::new(OwnedPolicy::build(
            &crate::config::Config::default(),
            &[],
            &[],
        ));
        Inventory::new("/proc".into(), 0, policy)
    }

    #[test]
    fn an_exited_process_is_remembered_as_it_was_known() {
        let mut inventory = real_proc();
        // This process, as the inventory is told of its exit (the connector's exit event).
        let pid = std::process::id();
        assert!(inventory.observe(pid));
        let known = inventory.get(pid).unwrap().clone();
        assert!(inventory.recently_exited(pid).is_none(), "not exited yet");
        inventory.exited(pid);
        assert!(inventory.get(pid).is_none());
        assert_eq!(inventory.recently_exited(pid), Some(known));
    }

    #[test]
    fn a_child_gone_before_it_was_read_is_known_by_its_parent() {
        let mut inventory = real_proc();
        let parent = std::process::id();
        assert!(inventory.observe(parent));
        let parent_entry = inventory.get(parent).unwrap().clone();
        // A pid above the kernel's maximum: never a live process.
        let child = 1 << 23;
        inventory.forked(child, parent);
        assert!(!inventory.observe(child), "gone before it was read");
        let entry = inventory.recently_exited(child).unwrap();
        assert_eq!(
            (entry.pid, entry.ppid, entry.start_time),
            (child, parent, 0)
        );
        assert_eq!(
            entry.verdict.service_name,
            parent_entry.verdict.service_name
        );
        assert_eq!(entry.systemd_unit, parent_entry.systemd_unit);
        assert_eq!(entry.container_id, parent_entry.container_id);
        // A child whose parent is unknown is not invented.
        inventory.forked(child + 1, child + 2);
        inventory.exited(child + 1);
        assert!(inventory.recently_exited(child + 1).is_none());
    }

    #[test]
    fn a_process_is_read_once_it_has_lived_a_moment_and_never_if_it_exits_first() {
        use std::time::{Duration, Instant};
        let mut inventory = real_proc();
        let me = std::process::id();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let child = sleeper.id();
        let quick = 1 << 23; // above the kernel's maximum: never a live process
        let t0 = Instant::now();
        let exits = inventory.apply_events(
            &[
                ProcEvent::Exec { pid: me },
                ProcEvent::Fork { parent: me, child },
                ProcEvent::Exec { pid: child },
                ProcEvent::Fork {
                    parent: me,
                    child: quick,
                },
                ProcEvent::Exit {
                    pid: quick,
                    status: 0,
                },
            ],
            t0,
        );
        assert!(exits.is_empty(), "nothing known had exited");
        assert!(inventory.get(me).is_none() && inventory.get(child).is_none());
        assert_eq!(inventory.next_read(), Some(t0 + deferred::READ_DELAY));
        assert_eq!(inventory.read_due(t0 + Duration::from_millis(10)), 0);
        assert!(
            inventory.get(child).is_none(),
            "not read before it lived a moment"
        );
        // The quick child is known (by its parent) only once the parent has been read.
        assert!(inventory.recently_exited(quick).is_none());
        assert_eq!(inventory.read_due(t0 + deferred::READ_DELAY), 2);
        assert!(
            inventory.next_read().is_none(),
            "the quick child was never read"
        );
        let entry = inventory.get(child).unwrap().clone();
        assert!(entry.exe.ends_with("/sleep"), "{entry:?}");
        assert_eq!(entry.ppid, me);
        let parent = inventory.get(me).unwrap().clone();
        let quick_entry = inventory.recently_exited(quick).unwrap();
        assert_eq!(
            (quick_entry.pid, quick_entry.ppid, quick_entry.start_time),
            (quick, me, 0)
        );
        assert_eq!(quick_entry.systemd_unit, parent.systemd_unit);
        assert_eq!(
            quick_entry.verdict.service_name,
            parent.verdict.service_name
        );
        // The known child's exit is reported once, with its status.
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        let exits = inventory.apply_events(
            &[ProcEvent::Exit {
                pid: child,
                status: 9,
            }],
            t0 + Duration::from_secs(1),
        );
        assert_eq!(exits.len(), 1);
        assert_eq!(exits[0].0.entry.as_ref(), Some(&entry));
        assert_eq!(exits[0].1, 9);
        assert!(inventory.get(child).is_none());
    }

    #[test]
    fn a_chain_of_unread_children_resolves_to_the_nearest_known_ancestor() {
        let mut inventory = real_proc();
        let me = std::process::id();
        let (a, b) = ((1 << 23) + 1, (1 << 23) + 2);
        let t0 = std::time::Instant::now();
        // `sh -c 'sh -c …'` under this process: both shells gone before anything was read.
        inventory.apply_events(
            &[
                ProcEvent::Fork {
                    parent: me,
                    child: a,
                },
                ProcEvent::Fork {
                    parent: a,
                    child: b,
                },
                ProcEvent::Exit { pid: b, status: 0 },
                ProcEvent::Exit { pid: a, status: 0 },
            ],
            t0,
        );
        assert!(
            inventory.recently_exited(b).is_none(),
            "no ancestor known yet"
        );
        assert!(inventory.observe(me));
        let entry = inventory.recently_exited(b).unwrap();
        assert_eq!((entry.pid, entry.ppid, entry.start_time), (b, a, 0));
        assert_eq!(
            entry.verdict.service_name,
            inventory.get(me).unwrap().verdict.service_name
        );
    }

    fn empty_proc() -> (tempfile::TempDir, Inventory) {
        let proc_root = tempfile::tempdir().unwrap();
        let policy = Arc::new(OwnedPolicy::build(
            &crate::config::Config::default(),
            &[],
            &[],
        ));
        let inventory = Inventory::new(proc_root.path().to_owned(), 1, policy);
        (proc_root, inventory)
    }

    #[test]
    fn a_report_of_a_process_already_gone_waits_for_its_exit() {
        let (_proc, mut inventory) = empty_proc();
        // The process crashed before its report was read: /proc has nothing of it.
        inventory.record_report(report(4242, "/usr/local/bin/python3"));
        assert!(inventory.get(4242).is_none());
        let exited = inventory
            .exited(4242)
            .expect("the report is kept for the exit");
        assert!(exited.entry.is_none());
        let (_, r) = exited.report.unwrap();
        assert_eq!(
            (r.exe.as_str(), r.scope),
            ("/usr/local/bin/python3", Scope::Containers)
        );
        assert!(inventory.exited(4242).is_none(), "an exit is reported once");
    }

    #[test]
    fn the_crash_breaker_trips_on_injected_crashes_and_resets() {
        use crate::injection::breaker::THRESHOLD;
        let (_proc, mut inventory) = empty_proc();
        let exe = "/usr/local/bin/python3";
        let crash = |inventory: &mut Inventory, pid: u32| {
            inventory.record_report(report(pid, exe));
            let exited = inventory
                .exited(pid)
                .expect("the report is kept for the exit");
            // Killed by SIGSEGV right after injection.
            inventory.crash_trips(&[(exited, 11)])
        };
        for pid in 1..THRESHOLD {
            assert!(crash(&mut inventory, 5000 + pid).is_empty(), "crash {pid}");
        }
        let trips = crash(&mut inventory, 5000 + THRESHOLD);
        assert_eq!(trips.len(), 1, "{trips:?}");
        assert_eq!(
            (trips[0].scope, trips[0].exe.as_str()),
            (Scope::Containers, exe)
        );
        // A reset (after an unblock) starts the streak again.
        for pid in 1..THRESHOLD {
            assert!(crash(&mut inventory, 6000 + pid).is_empty());
        }
        inventory.reset_breaker(Some(exe));
        assert!(
            crash(&mut inventory, 7000).is_empty(),
            "the streak was reset"
        );
    }

    #[test]
    fn a_full_scan_drops_reports_of_processes_it_does_not_know() {
        let (_proc, mut inventory) = empty_proc();
        inventory.record_report(report(4243, "/usr/bin/python3"));
        inventory.full_scan();
        assert!(
            inventory.exited(4243).is_none(),
            "a reused pid must not inherit the report"
        );
    }
}
