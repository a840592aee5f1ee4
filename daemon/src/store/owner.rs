//! The state database's owner: one thread holds the [`Store`] (its SQLite connection) and runs
//! requests one at a time, in the order they arrive; everyone else holds a [`StoreHandle`] and
//! sends requests, each with its own reply channel. No caller locks the connection, and no
//! caller's thread runs SQLite: the thread that serves D-Bus, signals and the watchdog only ever
//! awaits a reply ([`StoreHandle::ask`]).
//!
//! A request that fails returns its error to its caller; one that panics is caught, its caller
//! gets [`Error::Worker`], and the owner goes on serving the next (an open transaction is rolled
//! back when it is dropped).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use super::Store;
use crate::error::{Error, Result};
use crate::owner_thread::{OwnerThread, guarded};

/// One request: runs on the owner's thread with the store.
type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cloneable handle to the state database's owner thread.
#[derive(Debug, Clone)]
pub struct StoreHandle(Arc<Owner>);

#[derive(Debug)]
struct Owner {
    thread: OwnerThread<Job>,
    path: PathBuf,
}

/// What the caller sees when the owner is gone or its request panicked.
const ACTION: &str = "using the state database";

impl StoreHandle {
    /// Moves `store` to its own thread (`oneagent-store`) and returns the handle to it. The
    /// thread ends, closing the database, when the last handle is dropped.
    pub fn spawn(store: Store) -> Result<StoreHandle> {
        let path = store.path().to_owned();
        let thread = OwnerThread::spawn("oneagent-store", move |rx| serve(store, rx))
            .map_err(|e| Error::io("starting the state database's thread", &path, e))?;
        Ok(StoreHandle(Arc::new(Owner { thread, path })))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Sends `work` to the owner and blocks this thread until it answers. For threads that may
    /// block (tokio's blocking pool, the log pipeline's threads); async code uses [`Self::ask`].
    pub fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Box::new(move |store| {
            let _ = tx.send(work(store));
        }))?;
        rx.recv().unwrap_or(Err(Error::Worker { action: ACTION }))
    }

    /// Sends `work` to the owner and awaits its answer without blocking the caller's thread.
    pub async fn ask<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move |store| {
            let _ = tx.send(work(store));
        }))?;
        rx.await.unwrap_or(Err(Error::Worker { action: ACTION }))
    }

    fn send(&self, job: Job) -> Result<()> {
        if self.0.thread.send(job) {
            Ok(())
        } else {
            Err(Error::Worker { action: ACTION })
        }
    }
}

/// The owner's loop: one request at a time until every handle is gone.
fn serve(mut store: Store, requests: mpsc::Receiver<Job>) {
    for job in requests {
        guarded("store", || job(&mut store));
    }
}

impl crate::logs::attribute::AttributionStore for StoreHandle {
    fn log_files(&self) -> Result<Vec<crate::logs::attribute::LogFile>> {
        self.call(|s| s.log_files())
    }

    fn save_log_files(
        &mut self,
        upserts: &[&crate::logs::attribute::LogFile],
        removals: &[crate::logs::attribute::FileKey],
    ) -> Result<()> {
        let upserts: Vec<crate::logs::attribute::LogFile> =
            upserts.iter().map(|f| (*f).clone()).collect();
        let removals = removals.to_vec();
        self.call(move |s| {
            let refs: Vec<&crate::logs::attribute::LogFile> = upserts.iter().collect();
            s.save_log_files(&refs, &removals)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, StoreHandle) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let (store, _) = Store::open(dir.path()).unwrap_or_else(|e| panic!("open: {e}"));
        let handle = StoreHandle::spawn(store).unwrap_or_else(|e| panic!("spawn: {e}"));
        (dir, handle)
    }

    #[test]
    fn writes_from_many_threads_are_serialised_and_all_kept() -> Result<()> {
        let (_dir, store) = open();
        // Each request reads the rule count and writes one more rule: if two ran at once, two
        // would see the same count and a recorded count would repeat.
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || -> Result<Vec<usize>> {
                    let mut seen = Vec::new();
                    for i in 0..25 {
                        seen.push(store.call(move |s| {
                            let before = s.injection_rules()?.len();
                            s.set_injection_rule(&format!("svc-{t}-{i}"), i % 2 == 0, 0)?;
                            Ok(before)
                        })?);
                    }
                    Ok(seen)
                })
            })
            .collect();
        let mut counts = Vec::new();
        for t in threads {
            counts.extend(t.join().unwrap_or_else(|_| panic!("writer panicked"))?);
        }
        counts.sort_unstable();
        assert_eq!(counts, (0..200).collect::<Vec<_>>());
        assert_eq!(store.call(|s| s.injection_rules())?.len(), 200);
        Ok(())
    }

    #[test]
    fn a_failing_or_panicking_request_leaves_the_owner_serving() -> Result<()> {
        let (_dir, store) = open();
        let failed = store.call(|s| {
            s.set_injection_rule("before", true, 0)?;
            s.conn
                .execute("INSERT INTO no_such_table VALUES (1)", [])
                .map_err(super::super::db_err(&s.path))
        });
        assert!(
            matches!(failed, Err(Error::Database { .. })),
            "the SQLite error reaches its caller: {failed:?}"
        );
        let panicked = store.call(|_| -> Result<()> { panic!("a request that panics") });
        assert!(
            matches!(panicked, Err(Error::Worker { .. })),
            "{panicked:?}"
        );
        // Still serving, and what the failing request wrote before its error is kept.
        assert!(store.call(|s| s.set_injection_rule("after", false, 0))?);
        let scopes: Vec<String> = store
            .call(|s| s.injection_rules())?
            .into_iter()
            .map(|r| r.scope)
            .collect();
        assert_eq!(scopes, ["after", "before"]);
        Ok(())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn async_callers_are_answered_without_blocking_their_thread() -> Result<()> {
        let (_dir, store) = open();
        // The first request holds the owner until a task on this (single) runtime thread lets
        // it go: that task can only run if awaiting the replies does not block the thread.
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let order = std::sync::Mutex::new(Vec::new());
        let held = async {
            let released = store
                .ask(move |s| {
                    let released = release_rx
                        .recv_timeout(std::time::Duration::from_secs(30))
                        .is_ok();
                    s.set_injection_rule("held", true, 0)?;
                    Ok(released)
                })
                .await;
            order.lock().unwrap_or_else(|p| p.into_inner()).push("held");
            released
        };
        let queued = async {
            let n = store.ask(|s| Ok(s.injection_rules()?.len())).await;
            order
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push("queued");
            n
        };
        let release = async {
            tokio::task::yield_now().await;
            order
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push("release");
            let _ = release_tx.send(());
        };
        let (held, queued, ()) = tokio::join!(held, queued, release);
        assert!(
            held?,
            "the runtime thread was blocked while awaiting the owner"
        );
        assert_eq!(queued?, 1, "the queued request ran after the held one");
        let order = order.into_inner().unwrap_or_else(|p| p.into_inner());
        assert_eq!(order, ["release", "held", "queued"]);
        Ok(())
    }

    #[test]
    fn the_last_handle_closes_the_database() -> Result<()> {
        let (dir, store) = open();
        let other = store.clone();
        drop(store);
        assert!(other.call(|s| s.set_injection_rule("x", true, 0))?);
        drop(other);
        // The lock file is released: a second open succeeds at once.
        let (again, _) = Store::open(dir.path())?;
        assert_eq!(again.injection_rules()?.len(), 1);
        Ok(())
    }
}
