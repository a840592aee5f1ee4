//! The inventory's owner: one thread (`oneagent-inventory`) holds the [`Inventory`]; everyone
//! else holds an [`InventoryHandle`] and sends it messages — lookups (processes, one pid, the
//! policy, counters), changes (process events, preload reports, taking the changes to persist)
//! and full scans — each with its own reply channel where a reply is wanted.
//!
//! A full scan reads `/proc` one process at a time and, between two processes, answers the
//! lookups that arrived meanwhile: `oneagentctl ps`, `status`, `/metrics` and log attribution
//! never wait for a scan to end. Changes that arrive during a scan are held and applied after
//! it, in arrival order. A message that panics is caught; its caller gets no answer (`None`)
//! and the owner goes on.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc;

use super::{Inventory, ProcessEntry, Scan, ScanStats};
use crate::decision::OwnedPolicy;
use crate::error::{Error, Result};
use crate::owner_thread::{OwnerThread, guarded};

type Lookup = Box<dyn FnOnce(&Inventory, Option<&Scan>) + Send>;
type Change = Box<dyn FnOnce(&mut Inventory) + Send>;

enum Message {
    /// Answered at once, even during a scan.
    Lookup(Lookup),
    /// Applied in order, after a scan in progress.
    Change(Change),
    /// A full scan, under `policy` when one is given.
    Scan {
        policy: Option<Arc<OwnedPolicy>>,
        reply: mpsc::SyncSender<ScanStats>,
    },
}

/// A cloneable handle to the inventory's owner thread.
#[derive(Debug, Clone)]
pub struct InventoryHandle(Arc<OwnerThread<Message>>);

impl InventoryHandle {
    /// Moves `inventory` to its own thread and returns the handle to it. The thread ends when
    /// the last handle is dropped.
    pub fn spawn(inventory: Inventory) -> Result<InventoryHandle> {
        let thread = OwnerThread::spawn("oneagent-inventory", move |rx| serve(inventory, rx))
            .map_err(|e| Error::io("starting the inventory's thread", "oneagent-inventory", e))?;
        Ok(InventoryHandle(Arc::new(thread)))
    }

    fn send(&self, message: Message) -> bool {
        self.0.send(message)
    }

    /// Runs `look` on the owner's thread and waits for its answer (between two processes when a
    /// scan runs); `None` if it panicked.
    pub fn lookup<T: Send + 'static>(
        &self,
        look: impl FnOnce(&Inventory) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let sent = self.send(Message::Lookup(Box::new(move |inventory, _| {
            let _ = tx.send(look(inventory));
        })));
        sent.then(|| rx.recv().ok()).flatten()
    }

    /// Applies `change` on the owner's thread (after a scan in progress) and waits for its
    /// answer; `None` if it panicked.
    pub fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Inventory) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let sent = self.send(Message::Change(Box::new(move |inventory| {
            let _ = tx.send(change(inventory));
        })));
        sent.then(|| rx.recv().ok()).flatten()
    }

    /// Queues `change` without waiting for it (the event loop's preload reports): it is applied
    /// before anything sent after it.
    pub fn post(&self, change: impl FnOnce(&mut Inventory) + Send + 'static) {
        if !self.send(Message::Change(Box::new(change))) {
            tracing::error!("The inventory is gone; a change is lost");
        }
    }

    /// Scans every process (under `policy`, which replaces the one in force, when given) and
    /// waits for the counters.
    pub fn full_scan(&self, policy: Option<Arc<OwnedPolicy>>) -> Option<ScanStats> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Message::Scan { policy, reply })
            .then(|| rx.recv().ok())
            .flatten()
    }

    /// Every process, ordered by pid.
    pub fn list(&self) -> Vec<ProcessEntry> {
        self.lookup(Inventory::list).unwrap_or_default()
    }

    /// One process.
    pub fn get(&self, pid: u32) -> Option<ProcessEntry> {
        self.lookup(move |i| i.get(pid).cloned()).flatten()
    }

    /// A process that exited in the last few seconds, as it was known.
    pub fn recently_exited(&self, pid: u32) -> Option<ProcessEntry> {
        self.lookup(move |i| i.recently_exited(pid)).flatten()
    }

    /// The policy in force.
    pub fn policy(&self) -> Option<Arc<OwnedPolicy>> {
        self.lookup(|i| i.policy().clone())
    }

    /// How many processes a scan in progress has still to read; `Some(None)` when none runs.
    pub fn scan_remaining(&self) -> Option<Option<usize>> {
        let (tx, rx) = mpsc::sync_channel(1);
        let sent = self.send(Message::Lookup(Box::new(move |_, scan| {
            let _ = tx.send(scan.map(Scan::remaining));
        })));
        sent.then(|| rx.recv().ok()).flatten()
    }
}

/// The owner's loop: one message at a time until every handle is gone.
fn serve(mut inventory: Inventory, messages: mpsc::Receiver<Message>) {
    let mut held: VecDeque<Message> = VecDeque::new();
    loop {
        let message = match held.pop_front() {
            Some(m) => m,
            None => match messages.recv() {
                Ok(m) => m,
                Err(_) => return,
            },
        };
        match message {
            Message::Lookup(look) => guarded("inventory", || look(&inventory, None)),
            Message::Change(change) => guarded("inventory", || change(&mut inventory)),
            Message::Scan { policy, reply } => guarded("inventory", || {
                if let Some(policy) = policy {
                    inventory.policy = policy;
                }
                let mut scan = inventory.start_scan();
                while inventory.scan_next(&mut scan) {
                    // Between two processes: answer lookups, hold everything else.
                    while let Ok(m) = messages.try_recv() {
                        match m {
                            Message::Lookup(look) => {
                                guarded("inventory", || look(&inventory, Some(&scan)))
                            }
                            other => held.push_back(other),
                        }
                    }
                }
                let _ = reply.send(inventory.finish_scan(scan));
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proc root of `n` empty pid directories (each read fails: the process is gone) and the
    /// inventory over it.
    fn fake_proc(n: u32) -> (tempfile::TempDir, InventoryHandle) {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for pid in 100..100 + n {
            std::fs::create_dir(root.path().join(pid.to_string()))
                .unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        let policy = Arc::new(OwnedPolicy::build(
            &crate::config::Config::default(),
            &[],
            &[],
        ));
        let inventory = Inventory::new(root.path().to_owned(), 1, policy);
        let handle = InventoryHandle::spawn(inventory).unwrap_or_else(|e| panic!("spawn: {e}"));
        (root, handle)
    }

    #[test]
    fn lookups_are_answered_while_a_full_scan_runs_and_changes_wait_for_its_end() {
        let (_root, inventory) = fake_proc(50);
        // Hold the owner so that a scan, a lookup and a change are all queued, in this order,
        // before it starts the scan.
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        inventory.post(move |_| {
            let _ = gate_rx.recv();
        });
        let (scan_tx, scan_rx) = mpsc::sync_channel(1);
        assert!(inventory.send(Message::Scan {
            policy: None,
            reply: scan_tx,
        }));
        let (look_tx, look_rx) = mpsc::sync_channel(1);
        assert!(inventory.send(Message::Lookup(Box::new(move |i, scan| {
            let _ = look_tx.send((scan.map(Scan::remaining), i.list().len()));
        }))));
        // The change reports whether the scan had answered when it ran.
        let (change_tx, change_rx) = mpsc::sync_channel(1);
        assert!(inventory.send(Message::Change(Box::new(move |_| {
            let _ = change_tx.send(scan_rx.try_recv().ok());
        }))));
        let _ = gate_tx.send(());
        let (remaining, _) = look_rx.recv().unwrap_or_else(|e| panic!("lookup: {e}"));
        assert!(
            remaining.is_some_and(|n| n > 0 && n < 50),
            "the lookup was answered between two processes of the scan: {remaining:?}"
        );
        let scanned = change_rx.recv().unwrap_or_else(|e| panic!("change: {e}"));
        assert_eq!(
            scanned.map(|s| (s.processes, s.unreadable)),
            Some((0, 0)),
            "the change ran after the scan ended (every fake pid is gone)"
        );
        assert_eq!(inventory.scan_remaining(), Some(None), "no scan runs now");
    }

    #[test]
    fn the_typed_lookups_answer_from_the_owner() {
        let policy = Arc::new(OwnedPolicy::build(
            &crate::config::Config::default(),
            &[],
            &[],
        ));
        let inventory = InventoryHandle::spawn(Inventory::new("/proc".into(), 0, policy))
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        let stats = inventory.full_scan(None).unwrap_or_default();
        let me = std::process::id();
        assert!(stats.processes > 0);
        assert_eq!(inventory.get(me).map(|p| p.pid), Some(me));
        assert!(inventory.list().iter().any(|p| p.pid == me));
        assert_eq!(
            inventory.change(move |i| i.exited(me).is_some()),
            Some(true)
        );
        assert_eq!(inventory.get(me), None);
        assert_eq!(inventory.recently_exited(me).map(|p| p.pid), Some(me));
    }

    #[test]
    fn a_panicking_request_leaves_the_owner_serving() {
        let (_root, inventory) = fake_proc(3);
        let panicked: Option<()> = inventory.change(|_| panic!("a change that panics"));
        assert_eq!(panicked, None);
        assert!(inventory.full_scan(None).is_some());
        assert!(inventory.list().is_empty());
        assert!(inventory.policy().is_some());
    }
}
