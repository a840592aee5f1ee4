//! What the inventory knew of processes that exited in the last few seconds: a short-lived
//! writer (`sh -c 'echo x >> file'`) is gone by the time its fanotify event is read, and its
//! identity must still resolve. A process that was read is kept as it was read; one gone before
//! it was read (most short-lived processes are never read, see [`super::deferred`]) is kept as a
//! link to its fork's parent, resolved when asked. Bounded in time ([`RECENT_EXIT_TTL`]) and in
//! size ([`RECENT_EXIT_CAP`]); time is passed in, so that tests can simulate it.

#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::ProcessEntry;

/// How long an exited process is remembered.
pub const RECENT_EXIT_TTL: Duration = Duration::from_secs(5);
/// At most this many exited processes are remembered; the one that exited first goes first.
pub const RECENT_EXIT_CAP: usize = 8192;

/// What is known of an exited process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It was read: its entry as the inventory last knew it.
    Read(Box<ProcessEntry>),
    /// It was never read: the pid of its fork's parent, whose cgroup it shared.
    ChildOf(u32),
}

/// Exited processes by pid, the latest exit of a pid winning, expiring after
/// [`RECENT_EXIT_TTL`].
#[derive(Debug, Default)]
pub struct RecentExits {
    by_pid: HashMap<u32, (Instant, Exit)>,
    /// Exit order; an entry whose time no longer matches `by_pid` is stale and skipped.
    order: VecDeque<(Instant, u32)>,
}

impl RecentExits {
    /// Remembers `entry` as exited at `now`.
    pub fn insert(&mut self, entry: ProcessEntry, now: Instant) {
        self.insert_exit(entry.pid, Exit::Read(Box::new(entry)), now);
    }

    /// Remembers `child`, never read, as exited at `now`, known by its fork's `parent`.
    pub fn insert_child(&mut self, child: u32, parent: u32, now: Instant) {
        self.insert_exit(child, Exit::ChildOf(parent), now);
    }

    fn insert_exit(&mut self, pid: u32, exit: Exit, now: Instant) {
        self.expire(now);
        while self.by_pid.len() >= RECENT_EXIT_CAP || self.order.len() >= 2 * RECENT_EXIT_CAP {
            let Some((at, pid)) = self.order.pop_front() else {
                break;
            };
            self.remove_if_at(pid, at);
        }
        self.order.push_back((now, pid));
        self.by_pid.insert(pid, (now, exit));
    }

    /// The process with this pid that exited less than [`RECENT_EXIT_TTL`] before `now`.
    pub fn get(&self, pid: u32, now: Instant) -> Option<&Exit> {
        self.by_pid
            .get(&pid)
            .filter(|(at, _)| now.saturating_duration_since(*at) < RECENT_EXIT_TTL)
            .map(|(_, e)| e)
    }

    /// How many exited processes are remembered.
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(at, pid)) = self.order.front() {
            if now.saturating_duration_since(at) < RECENT_EXIT_TTL {
                break;
            }
            self.order.pop_front();
            self.remove_if_at(pid, at);
        }
    }

    fn remove_if_at(&mut self, pid: u32, at: Instant) {
        if self.by_pid.get(&pid).is_some_and(|(t, _)| *t == at) {
            self.by_pid.remove(&pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test process as the inventory describes it, under another pid and start time.
    fn entry(pid: u32, start_time: u64) -> ProcessEntry {
        let policy = std::sync::Arc::new(crate::decision::OwnedPolicy::build(
            &crate::config::Config::default(),
            &[],
            &[],
        ));
        let mut inventory = super::super::Inventory::new("/proc".into(), 0, policy);
        let me = std::process::id();
        assert!(inventory.observe(me));
        let mut e = inventory.get(me).unwrap().clone();
        e.pid = pid;
        e.start_time = start_time;
        e
    }

    fn start_time(recent: &RecentExits, pid: u32, now: Instant) -> Option<u64> {
        match recent.get(pid, now)? {
            Exit::Read(e) => Some(e.start_time),
            Exit::ChildOf(_) => None,
        }
    }

    #[test]
    fn an_exited_process_is_found_until_it_expires() {
        let t0 = Instant::now();
        let mut recent = RecentExits::default();
        recent.insert(entry(10, 7), t0);
        assert_eq!(
            start_time(&recent, 10, t0 + Duration::from_secs(4)).unwrap(),
            7
        );
        assert!(recent.get(11, t0).is_none());
        assert!(recent.get(10, t0 + RECENT_EXIT_TTL).is_none());
        // Expired entries are dropped on the next insert.
        recent.insert(entry(12, 1), t0 + RECENT_EXIT_TTL);
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn a_reused_pid_keeps_its_latest_exit() {
        let t0 = Instant::now();
        let mut recent = RecentExits::default();
        recent.insert(entry(10, 7), t0);
        recent.insert(entry(10, 9), t0 + Duration::from_secs(3));
        assert_eq!(
            start_time(&recent, 10, t0 + Duration::from_secs(4)).unwrap(),
            9
        );
        // The first exit's expiry does not drop the second.
        recent.insert(entry(11, 1), t0 + Duration::from_secs(6));
        assert_eq!(
            start_time(&recent, 10, t0 + Duration::from_secs(6)).unwrap(),
            9
        );
        assert!(recent.get(10, t0 + Duration::from_secs(8)).is_none());
    }

    #[test]
    fn memory_is_capped() {
        let t0 = Instant::now();
        let mut recent = RecentExits::default();
        let base = entry(0, 1);
        for pid in 0..(RECENT_EXIT_CAP as u32 + 100) {
            let mut e = base.clone();
            e.pid = pid;
            recent.insert(e, t0);
        }
        assert_eq!(recent.len(), RECENT_EXIT_CAP);
        assert!(recent.get(0, t0).is_none(), "the first exit went first");
        assert!(recent.get(RECENT_EXIT_CAP as u32 + 99, t0).is_some());
    }
}
