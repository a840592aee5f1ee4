//! Processes announced by a fork or exec event and not read yet. Reading `/proc` and the
//! executable costs tens of microseconds a process; most processes on a build server or a
//! cron-heavy host (`/bin/true`, `sh -c …`, compilers' helpers) are gone within milliseconds, so
//! a process is read only once it has lived [`READ_DELAY`], and not at all if its exit comes
//! first. A deadline queue: deadlines only grow (now + a constant), so it is a FIFO; time is
//! passed in, so that tests can simulate it.

#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a process must live before the inventory reads it.
pub const READ_DELAY: Duration = Duration::from_millis(100);

/// Pids waiting to be read, each with its deadline; the latest event of a pid wins.
#[derive(Debug, Default)]
pub struct Deferred {
    due: HashMap<u32, Instant>,
    /// Deadline order; an entry whose deadline no longer matches `due` is stale and skipped.
    order: VecDeque<(Instant, u32)>,
}

impl Deferred {
    /// Reads `pid` at `now + READ_DELAY` (a later event of the same pid moves its deadline).
    pub fn schedule(&mut self, pid: u32, now: Instant) {
        let at = now + READ_DELAY;
        self.due.insert(pid, at);
        self.order.push_back((at, pid));
        // Stale entries (pids re-scheduled or gone) are dropped as they reach the front; a
        // queue much longer than the live set is compacted at once.
        if self.order.len() > 2 * self.due.len() + 1024 {
            let due = &self.due;
            self.order.retain(|(at, pid)| due.get(pid) == Some(at));
        }
    }

    /// Forgets `pid` (it exited, or was read for another reason); whether it was waiting.
    pub fn cancel(&mut self, pid: u32) -> bool {
        self.due.remove(&pid).is_some()
    }

    /// Whether `pid` is waiting to be read.
    pub fn contains(&self, pid: u32) -> bool {
        self.due.contains_key(&pid)
    }

    /// The pids whose deadline is at or before `now`, in deadline order, removed from the queue.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<u32>) {
        while let Some(&(at, pid)) = self.order.front() {
            if at > now {
                break;
            }
            self.order.pop_front();
            if self.due.get(&pid) == Some(&at) {
                self.due.remove(&pid);
                out.push(pid);
            }
        }
    }

    /// The earliest deadline still waiting.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some(&(at, pid)) = self.order.front() {
            if self.due.get(&pid) == Some(&at) {
                return Some(at);
            }
            self.order.pop_front();
        }
        None
    }

    /// How many pids wait.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Whether none does.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_is_due_after_the_delay_and_not_before() {
        let t0 = Instant::now();
        let mut d = Deferred::default();
        d.schedule(10, t0);
        d.schedule(11, t0 + Duration::from_millis(30));
        let mut out = Vec::new();
        d.take_due(t0 + READ_DELAY - Duration::from_millis(1), &mut out);
        assert!(out.is_empty());
        assert_eq!(d.next_due(), Some(t0 + READ_DELAY));
        d.take_due(t0 + READ_DELAY, &mut out);
        assert_eq!(out, [10]);
        assert_eq!(
            d.next_due(),
            Some(t0 + Duration::from_millis(30) + READ_DELAY)
        );
        d.take_due(t0 + Duration::from_secs(1), &mut out);
        assert_eq!(out, [10, 11]);
        assert!(d.is_empty() && d.next_due().is_none());
    }

    #[test]
    fn an_exit_before_the_deadline_cancels_the_read() {
        let t0 = Instant::now();
        let mut d = Deferred::default();
        d.schedule(10, t0);
        assert!(d.contains(10));
        assert!(d.cancel(10));
        assert!(!d.cancel(10), "cancelled once");
        let mut out = Vec::new();
        d.take_due(t0 + Duration::from_secs(1), &mut out);
        assert!(out.is_empty());
        assert!(d.next_due().is_none());
    }

    #[test]
    fn a_later_event_moves_the_deadline() {
        let t0 = Instant::now();
        let mut d = Deferred::default();
        d.schedule(10, t0); // fork
        d.schedule(10, t0 + Duration::from_millis(50)); // exec
        let mut out = Vec::new();
        d.take_due(t0 + READ_DELAY, &mut out);
        assert!(out.is_empty(), "the exec's deadline counts");
        d.take_due(t0 + Duration::from_millis(50) + READ_DELAY, &mut out);
        assert_eq!(out, [10], "read once");
    }

    #[test]
    fn stale_entries_do_not_grow_the_queue_without_bound() {
        let t0 = Instant::now();
        let mut d = Deferred::default();
        for i in 0..100_000u32 {
            d.schedule(i % 3, t0 + Duration::from_micros(u64::from(i)));
        }
        assert_eq!(d.len(), 3);
        assert!(d.order.len() <= 2 * 3 + 1024 + 1);
    }
}
