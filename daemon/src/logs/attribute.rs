//! Log-writer attribution: which processes write a log file.
//!
//! The caller (the tailer's discovery) says a log file changed; the engine puts a fanotify inode
//! mark on it for `FAN_MODIFY | FAN_CLOSE_WRITE`. The next modify event names the writer's pid;
//! the engine checks that the process really holds the file open for writing, identifies it as
//! (pid, start time), describes it from the process inventory (or `/proc` directly) and stops
//! listening for modify on that file, keeping close-write: when a descriptor open for writing is
//! closed, modify is listened for again, because a new writer may come.
//!
//! The traps the seed fell into, and what this engine does about them:
//! - a writer that never closes the file would hide every later writer: modify is re-armed at
//!   most [`AttributionConfig::rearm_interval`] after it was turned off (30 s by default), and
//!   after any re-arm the engine keeps listening for a short window
//!   ([`AttributionConfig::listen_window`], at most [`AttributionConfig::window_events`]
//!   events) so that a quiet second writer is not always beaten by a chatty first one;
//! - a truncation (logrotate `copytruncate`, `: > file` from a shell) is not a writer: a process
//!   is accepted only if one of its descriptors (`/proc/PID/fd/N`, same device and inode) is open
//!   with `O_WRONLY` or `O_RDWR` (`/proc/PID/fdinfo/N`), checked when the event arrives;
//! - pids are reused: a writer is (pid, start time), read from `/proc/PID/stat` with the event;
//! - the daemon's own writes (its state directory, its logs) are ignored, or it would feed itself;
//! - a fanotify queue overflow (`FAN_Q_OVERFLOW`) re-arms modify on every mark.
//!
//! Several writers per file are all kept, with first and last seen times. The engine knows
//! nothing of D-Bus, HTTP or the tailer; it persists through [`Store`] and survives restarts
//! (a stored file is restored only when its path still names the same device and inode).

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::unix_now;
use crate::config::Config;
use crate::decision::OwnedPolicy;
use crate::error::{Error, Result};
use crate::inventory::procfs::parse_stat;
use crate::inventory::{Inventory, ProcessEntry};
pub use crate::sys::fanotify::FileKey;
use crate::sys::fanotify::{Event, Group, Listen};

/// Tuning of the engine. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributionConfig {
    /// Longest time modify stays turned off on a file whose writer keeps it open: a new writer
    /// is found at most this long after it starts (plus its first write).
    pub rearm_interval: Duration,
    /// After the first write that follows an arm, keep listening this long for other writers:
    /// one that writes at least this often is found within one re-arm interval even beside a
    /// chatty first writer; a rarer one may take several intervals.
    pub listen_window: Duration,
    /// …but for at most this many modify events (bounds the cost of a very chatty file).
    pub window_events: u32,
    /// Writers kept per file; the one seen longest ago goes first.
    pub max_writers_per_file: usize,
    /// The proc file system (normally `/proc`).
    pub proc_root: PathBuf,
    /// This process: its writes are never attributed.
    pub self_pid: u32,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            rearm_interval: Duration::from_secs(30),
            listen_window: Duration::from_millis(250),
            window_events: 512,
            max_writers_per_file: 32,
            proc_root: PathBuf::from("/proc"),
            self_pid: std::process::id(),
        }
    }
}

/// Where attribution keeps what it learnt between runs: the daemon's state database implements
/// it; this module knows nothing of how.
pub trait AttributionStore {
    /// Every stored file with its writers.
    fn log_files(&self) -> Result<Vec<LogFile>>;
    /// Writes `upserts` and forgets `removals`, in one transaction.
    fn save_log_files(&mut self, upserts: &[&LogFile], removals: &[FileKey]) -> Result<()>;
}

/// A process that writes a log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    /// The pid.
    pub pid: u32,
    /// Start time in clock ticks since boot; with the pid, the identity of the process.
    pub start_time: u64,
    /// The executable, empty if unreadable.
    pub exe: String,
    /// The command line, arguments separated by spaces.
    pub command_line: String,
    /// The systemd unit, empty if none.
    pub systemd_unit: String,
    /// The container id, empty if none.
    pub container_id: String,
    /// The Kubernetes pod uid, empty if none.
    pub pod_uid: String,
    /// The service name the inventory gives the process.
    pub service_name: String,
    /// The detected runtime (`java`, `python`, …), empty if none.
    pub language: String,
    /// Unix time this writer was first seen writing the file.
    pub first_seen: u64,
    /// Unix time it was last seen writing it.
    pub last_seen: u64,
}

impl Writer {
    fn from_entry(entry: &ProcessEntry, now: u64) -> Writer {
        Writer {
            pid: entry.pid,
            start_time: entry.start_time,
            exe: entry.exe.clone(),
            command_line: entry.command_line.clone(),
            systemd_unit: entry.systemd_unit.clone(),
            container_id: entry.container_id.clone(),
            pod_uid: entry.pod_uid.clone(),
            service_name: entry.verdict.service_name.clone(),
            language: entry.verdict.language.clone(),
            first_seen: now,
            last_seen: now,
        }
    }
}

/// A log file and its writers, as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// The file's identity.
    pub key: FileKey,
    /// The path it was watched under.
    pub path: PathBuf,
    /// Unix time it was first watched.
    pub first_seen: u64,
    /// Its writers, oldest first.
    pub writers: Vec<Writer>,
}

/// What [`AttributionEngine::process_events`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributionChange {
    /// A writer not known before for this file.
    NewWriter {
        /// The file.
        path: PathBuf,
        /// The writer.
        writer: Writer,
    },
    /// A process modified the file but does not hold it open for writing (a truncation) or
    /// vanished before it could be checked.
    Rejected {
        /// The file.
        path: PathBuf,
        /// The process.
        pid: u32,
        /// `not-open-for-writing` or `gone`.
        reason: &'static str,
    },
    /// The kernel's event queue overflowed; every mark was re-armed.
    Overflow,
}

/// Counters for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Files with a fanotify mark now.
    pub marks: usize,
    /// Of those, files listening for modify now.
    pub armed: usize,
    /// Events read from the kernel.
    pub events: u64,
    /// Writers found (new (pid, start time) per file).
    pub writers_found: u64,
    /// Modify events from processes that did not hold the file open for writing.
    pub rejected: u64,
    /// Writers accepted although `/proc/PID/fd` could not be read (permission).
    pub unverified: u64,
    /// Writers that had exited when their event was read, named from what the inventory
    /// knew of them (not verified against `/proc/PID/fd`).
    pub exited_writers: u64,
    /// Modify events of this process, ignored.
    pub own_events: u64,
    /// Queue overflows.
    pub overflows: u64,
    /// Times modify was turned back on because the re-arm interval passed.
    pub rearms: u64,
    /// Marks that could not be set or changed.
    pub mark_errors: u64,
}

/// Describes a process by pid; the engine's window on the process inventory.
pub trait ProcessLookup {
    /// The process with this pid, if known.
    fn process(&self, pid: u32) -> Option<ProcessEntry>;
    /// The process with this pid if it exited in the last few seconds (a short-lived writer
    /// is gone before its write is read); none by default.
    fn recently_exited(&self, _pid: u32) -> Option<ProcessEntry> {
        None
    }
}

impl ProcessLookup for Inventory {
    fn process(&self, pid: u32) -> Option<ProcessEntry> {
        self.get(pid).cloned()
    }

    fn recently_exited(&self, pid: u32) -> Option<ProcessEntry> {
        Inventory::recently_exited(self, pid)
    }
}

impl<F: Fn(u32) -> Option<ProcessEntry>> ProcessLookup for F {
    fn process(&self, pid: u32) -> Option<ProcessEntry> {
        self(pid)
    }
}

/// A lookup that knows no process: everything comes from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookup;

impl ProcessLookup for NoLookup {
    fn process(&self, _pid: u32) -> Option<ProcessEntry> {
        None
    }
}

#[derive(Debug)]
struct FileState {
    record: LogFile,
    /// Paths watched that name this inode (hard links, symlinks).
    paths: Vec<PathBuf>,
    marked: bool,
    armed: bool,
    disarmed_at: Option<Instant>,
    /// End of the listen window and modify events counted in it.
    window: Option<(Instant, u32)>,
}

/// Whether a process holds a file open for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Yes,
    No,
    Gone,
    Denied,
    /// No descriptor at all: the process is exiting (a zombie), its files already closed.
    Exiting,
}

/// The attribution engine.
pub struct AttributionEngine {
    group: Group,
    config: AttributionConfig,
    files: HashMap<FileKey, FileState>,
    paths: HashMap<PathBuf, FileKey>,
    /// Loaded from the store, not (yet) watched.
    stored: HashMap<FileKey, LogFile>,
    dirty: HashSet<FileKey>,
    removed: HashSet<FileKey>,
    counters: Counters,
    lookup: Box<dyn ProcessLookup + Send>,
    /// Describes processes the lookup does not know.
    fallback: Inventory,
    /// Start times read during one `process_events` call.
    start_cache: HashMap<u32, Option<u64>>,
    /// Writers gone from /proc that the inventory did not know yet (its process events may
    /// be read after this engine's): (file, pid, first seen), asked again every
    /// [`GONE_RETRY`] for [`GONE_PATIENCE`].
    pending: Vec<(FileKey, u32, Instant)>,
    /// When to ask about `pending` again.
    pending_retry_at: Option<Instant>,
}

/// Why [`AttributionEngine::exited_entry`] has no entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// Asked again later.
    Waiting,
    /// Too many writers wait already.
    TooMany,
}
use Unknown::{TooMany, Waiting};

/// How often a gone writer the inventory does not know yet is asked about again.
const GONE_RETRY: Duration = Duration::from_millis(20);
/// How long it is asked about before it is rejected as gone.
const GONE_PATIENCE: Duration = Duration::from_secs(1);
/// At most this many gone writers wait at once; more are rejected at once.
const MAX_PENDING: usize = 1024;

impl std::fmt::Debug for AttributionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttributionEngine")
            .field("group", &self.group)
            .field("config", &self.config)
            .field("files", &self.files.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |e| Error::io(action, path, e)
}

/// Opens `path` read-only without blocking (a FIFO must not hang the daemon) and returns it
/// with its identity.
fn open_file(path: &Path) -> io::Result<(std::fs::File, FileKey)> {
    let (file, _) =
        crate::safe_fs::open(path, crate::safe_fs::OpenOpts::UNTRUSTED).map_err(|e| match e {
            Error::Io { source, .. } => source,
            other => io::Error::other(other.to_string()),
        })?;
    let key = FileKey::of_fd(&file)?;
    Ok((file, key))
}

/// The `flags:` field of `/proc/PID/fdinfo/N` (octal).
pub fn parse_fdinfo_flags(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}

/// Whether open flags allow writing.
fn writable(flags: u32) -> bool {
    let mode = flags & libc::O_ACCMODE as u32;
    mode == libc::O_WRONLY as u32 || mode == libc::O_RDWR as u32
}

fn holds_for_writing(proc_root: &Path, pid: u32, key: FileKey) -> Holds {
    let dir = proc_root.join(pid.to_string());
    let entries = match std::fs::read_dir(dir.join("fd")) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Holds::Denied,
        Err(_) => return Holds::Gone,
    };
    let mut any = false;
    for entry in entries.flatten() {
        any = true;
        // stat follows the magic link to the open file (deleted or in another mount namespace).
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if FileKey::of_metadata(&meta) != key {
            continue;
        }
        let info = dir.join("fdinfo").join(entry.file_name());
        if let Some(text) = crate::safe_fs::read_proc_text(&info)
            && parse_fdinfo_flags(&text).is_some_and(writable)
        {
            return Holds::Yes;
        }
    }
    if !dir.join("stat").exists() {
        Holds::Gone
    } else if any {
        Holds::No
    } else {
        Holds::Exiting
    }
}

/// The file's birth time (statx), in Unix seconds, where the file system records one.
fn born(meta: &std::fs::Metadata) -> Option<u64> {
    meta.created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// Inode numbers are reused: a file born after the stored record was first seen is another
/// file with the same device, inode and path.
fn reborn(born: Option<u64>, stored: &LogFile) -> bool {
    born.is_some_and(|b| b > stored.first_seen)
}

fn start_time(proc_root: &Path, pid: u32) -> Option<u64> {
    // The command name in `stat` may be any bytes: not read as text.
    let text = crate::safe_fs::read_head(
        &proc_root.join(pid.to_string()).join("stat"),
        4096,
        crate::safe_fs::OpenOpts::TRUSTED,
    )
    .ok()?;
    parse_stat(&text).map(|s| s.start_time)
}

impl AttributionEngine {
    /// Creates the engine and its fanotify group. Fails without `CAP_SYS_ADMIN`, with an error
    /// meant to be logged once (attribution is then off; everything else works).
    pub fn new(config: AttributionConfig) -> Result<Self> {
        let group = Group::open().map_err(|e| {
            let action = if e.raw_os_error() == Some(libc::EPERM) {
                "log attribution needs CAP_SYS_ADMIN; calling"
            } else {
                "log attribution is off; calling"
            };
            Error::io(action, "fanotify_init(2)", e)
        })?;
        let policy = Arc::new(OwnedPolicy::build(&Config::default(), &[], &[]));
        let fallback = Inventory::new(config.proc_root.clone(), config.self_pid, policy);
        Ok(AttributionEngine {
            group,
            config,
            files: HashMap::new(),
            paths: HashMap::new(),
            stored: HashMap::new(),
            dirty: HashSet::new(),
            removed: HashSet::new(),
            counters: Counters::default(),
            lookup: Box::new(NoLookup),
            fallback,
            start_cache: HashMap::new(),
            pending: Vec::new(),
            pending_retry_at: None,
        })
    }

    /// Sets how processes are described (normally the daemon's inventory); processes it does
    /// not know, or knows under another start time, are read from `/proc`.
    pub fn set_lookup(&mut self, lookup: Box<dyn ProcessLookup + Send>) {
        self.lookup = lookup;
    }

    /// The configuration in force.
    pub fn config(&self) -> &AttributionConfig {
        &self.config
    }

    /// Changes the re-arm bound (a reload); files already disarmed re-arm on the new bound.
    pub fn set_rearm_interval(&mut self, interval: Duration) {
        self.config.rearm_interval = interval;
    }

    /// Starts tracking a log file (no mark until it changes). Restores its writers from the
    /// store when the stored device, inode and path match.
    pub fn watch(&mut self, path: &Path) -> Result<()> {
        if self.paths.contains_key(path) {
            return Ok(());
        }
        let meta = std::fs::metadata(path).map_err(io_err("watching log file", path))?;
        self.track(path, FileKey::of_metadata(&meta), born(&meta));
        Ok(())
    }

    fn track(&mut self, path: &Path, key: FileKey, born: Option<u64>) {
        self.paths.insert(path.to_owned(), key);
        if let Some(state) = self.files.get_mut(&key) {
            if !state.paths.iter().any(|p| p == path) {
                state.paths.push(path.to_owned());
            }
            return;
        }
        let record = match self.stored.remove(&key) {
            Some(stored) if stored.path == path && !reborn(born, &stored) => stored,
            _ => {
                self.dirty.insert(key);
                LogFile {
                    key,
                    path: path.to_owned(),
                    first_seen: unix_now(),
                    writers: Vec::new(),
                }
            }
        };
        self.removed.remove(&key);
        self.files.insert(
            key,
            FileState {
                record,
                paths: vec![path.to_owned()],
                marked: false,
                armed: false,
                disarmed_at: None,
                window: None,
            },
        );
    }

    /// Stops tracking a path; the file's mark goes when no watched path names it any more.
    pub fn unwatch(&mut self, path: &Path) {
        let Some(key) = self.paths.remove(path) else {
            return;
        };
        self.detach(path, key);
    }

    fn detach(&mut self, path: &Path, key: FileKey) {
        let Some(state) = self.files.get_mut(&key) else {
            return;
        };
        state.paths.retain(|p| p != path);
        if !state.paths.is_empty() {
            return;
        }
        if state.marked
            && let Ok((file, now_key)) = open_file(path)
            && now_key == key
        {
            let _ = self.group.remove(file.as_fd());
        }
        // Otherwise the inode is gone from this path: its mark is dropped by the kernel when
        // the inode is freed, or by us at its next event.
        self.files.remove(&key);
        self.dirty.remove(&key);
        self.removed.insert(key);
    }

    /// The caller saw `path` change: mark it (listening for modify) if it has no mark yet, or
    /// if the path now names another file (rotation). Watches the path if it was not.
    pub fn file_changed(&mut self, path: &Path) -> Result<()> {
        let (file, key) = open_file(path).map_err(io_err("opening log file", path))?;
        match self.paths.get(path).copied() {
            Some(old) if old == key => {}
            Some(old) => {
                self.detach(path, old);
                self.track(path, key, file.metadata().ok().as_ref().and_then(born));
            }
            None => self.track(path, key, file.metadata().ok().as_ref().and_then(born)),
        }
        let needs_mark = self.files.get(&key).is_some_and(|s| !s.marked);
        if needs_mark {
            self.set_listen(
                key,
                file.as_fd(),
                Listen::ModifyAndCloseWrite,
                Instant::now(),
            );
        }
        Ok(())
    }

    fn set_listen(&mut self, key: FileKey, fd: BorrowedFd<'_>, listen: Listen, now: Instant) {
        let Some(state) = self.files.get_mut(&key) else {
            return;
        };
        match self.group.set(fd, listen) {
            Ok(()) => {
                state.marked = true;
                state.armed = listen == Listen::ModifyAndCloseWrite;
                state.disarmed_at = (!state.armed).then_some(now);
                state.window = None;
            }
            Err(e) => {
                self.counters.mark_errors += 1;
                tracing::debug!(path = %state.record.path.display(), error = %e, "Cannot set fanotify mark");
            }
        }
    }

    /// Turns modify back on for a marked file, through its path (checked to still name it).
    fn rearm_by_path(&mut self, key: FileKey, now: Instant) -> bool {
        let Some(state) = self.files.get(&key) else {
            return false;
        };
        let opened = state
            .paths
            .iter()
            .find_map(|p| open_file(p).ok().filter(|(_, k)| *k == key));
        match opened {
            Some((file, _)) => {
                self.set_listen(key, file.as_fd(), Listen::ModifyAndCloseWrite, now);
                true
            }
            None => {
                // No watched path names the inode any more (rotated away, deleted): the
                // caller's next `file_changed` marks the new file.
                if let Some(state) = self.files.get_mut(&key) {
                    state.disarmed_at = None;
                    state.marked = false;
                    state.armed = false;
                }
                false
            }
        }
    }

    /// Re-arms modify on files where it has been off for the re-arm interval. Returns when to
    /// call again (`None`: nothing is waiting).
    pub fn rearm_due(&mut self, now: Instant) -> Option<Instant> {
        let interval = self.config.rearm_interval;
        let due: Vec<FileKey> = self
            .files
            .iter()
            .filter(|(_, s)| s.marked && !s.armed)
            .filter(|(_, s)| s.disarmed_at.is_some_and(|t| now >= t + interval))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if self.rearm_by_path(key, now) {
                self.counters.rearms += 1;
            }
        }
        self.next_rearm()
    }

    /// When the next re-arm (or question about a writer that exited unknown) is due; call
    /// [`AttributionEngine::process_events`] then.
    pub fn next_rearm(&self) -> Option<Instant> {
        self.files
            .values()
            .filter(|s| s.marked && !s.armed)
            .filter_map(|s| s.disarmed_at)
            .map(|t| t + self.config.rearm_interval)
            .chain(self.pending_retry_at)
            .min()
    }

    /// Reads and handles every waiting event, until the kernel says there are none
    /// (`EAGAIN`), so a tokio `AsyncFd` readiness can be cleared afterwards. Call when the
    /// descriptor is readable.
    pub fn process_events(&mut self, now: Instant) -> Vec<AttributionChange> {
        let mut changes = Vec::new();
        self.start_cache.clear();
        loop {
            let events = match self.group.read() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => events,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(error = %e, "Reading fanotify events failed");
                    break;
                }
            };
            for event in events {
                self.counters.events += 1;
                self.handle(event, now, &mut changes);
            }
        }
        self.retry_gone(now, &mut changes);
        changes
    }

    fn handle(&mut self, event: Event, now: Instant, changes: &mut Vec<AttributionChange>) {
        if event.overflow {
            self.counters.overflows += 1;
            tracing::warn!("Log attribution: fanotify queue overflowed; re-arming every file");
            let keys: Vec<FileKey> = self
                .files
                .iter()
                .filter(|(_, s)| s.marked)
                .map(|(k, _)| *k)
                .collect();
            for key in keys {
                self.rearm_by_path(key, now);
            }
            changes.push(AttributionChange::Overflow);
            return;
        }
        let (Some(key), Some(fd)) = (event.file, event.fd()) else {
            return;
        };
        if !self.files.contains_key(&key) {
            // A mark left on a file no longer watched (rotated away, unwatched): drop it.
            let _ = self.group.remove(fd);
            return;
        }
        if event.pid == self.config.self_pid {
            if event.modify {
                self.counters.own_events += 1;
            }
            return;
        }
        if event.modify && event.pid != 0 {
            self.handle_modify(key, fd, event.pid, now, changes);
        }
        if event.close_write && self.files.get(&key).is_some_and(|s| s.marked && !s.armed) {
            self.set_listen(key, fd, Listen::ModifyAndCloseWrite, now);
        }
    }

    fn handle_modify(
        &mut self,
        key: FileKey,
        fd: BorrowedFd<'_>,
        pid: u32,
        now: Instant,
        changes: &mut Vec<AttributionChange>,
    ) {
        let proc_root = self.config.proc_root.clone();
        let wall = unix_now();
        let path = self
            .files
            .get(&key)
            .map(|s| s.record.path.clone())
            .unwrap_or_default();
        let start = *self
            .start_cache
            .entry(pid)
            .or_insert_with(|| start_time(&proc_root, pid));
        // A writer gone from /proc (a short-lived `echo >> file`) is named from what the
        // inventory knew of it: still listed (its exit not yet applied) or recently exited.
        // A pid already reused is in /proc under its new start time and never gets here.
        let (start, exited) = match start {
            Some(start) => (start, None),
            None => match self.exited_entry(key, pid, None, now) {
                Ok(entry) => (entry.start_time, Some(Writer::from_entry(&entry, wall))),
                Err(Waiting) => return,
                Err(TooMany) => {
                    self.reject_gone(path, pid, changes);
                    return;
                }
            },
        };
        let known = self.files.get_mut(&key).and_then(|s| {
            s.record
                .writers
                .iter_mut()
                .find(|w| w.pid == pid && w.start_time == start)
        });
        if let Some(writer) = known {
            if writer.last_seen != wall {
                writer.last_seen = wall;
                self.dirty.insert(key);
            }
        } else if let Some(writer) = exited {
            self.counters.exited_writers += 1;
            self.add_writer(key, path, writer, changes);
        } else {
            match holds_for_writing(&proc_root, pid, key) {
                Holds::Yes => {}
                Holds::Denied => self.counters.unverified += 1,
                // A zombie: it wrote, then closed everything as it exited.
                Holds::Exiting => {
                    match self.exited_entry(key, pid, Some(start), now) {
                        Ok(entry) => {
                            self.counters.exited_writers += 1;
                            self.add_writer(key, path, Writer::from_entry(&entry, wall), changes);
                        }
                        Err(Waiting) => return,
                        Err(TooMany) => {
                            self.reject_gone(path, pid, changes);
                            return;
                        }
                    }
                    self.after_write(key, fd, now);
                    return;
                }
                Holds::No | Holds::Gone => {
                    self.counters.rejected += 1;
                    let reason = "not-open-for-writing";
                    tracing::debug!(path = %path.display(), pid, reason, "Rejected log writer");
                    changes.push(AttributionChange::Rejected { path, pid, reason });
                    return;
                }
            }
            let Some(writer) = self.describe(pid, start, wall) else {
                self.reject_gone(path, pid, changes);
                return;
            };
            self.add_writer(key, path, writer, changes);
        }
        self.after_write(key, fd, now);
    }

    /// A writer wrote: stop listening for modify, after the listen window.
    fn after_write(&mut self, key: FileKey, fd: BorrowedFd<'_>, now: Instant) {
        let (window, cap) = (self.config.listen_window, self.config.window_events);
        let Some(state) = self.files.get_mut(&key) else {
            return;
        };
        if !state.armed {
            return;
        }
        let w = state.window.get_or_insert((now + window, 0));
        w.1 += 1;
        if now >= w.0 || w.1 >= cap {
            self.set_listen(key, fd, Listen::CloseWriteOnly, now);
        }
    }

    /// What the inventory knew of `pid`, exiting or exited (with `start`, when known, as its
    /// start time); otherwise the writer waits in `pending` for the inventory to catch up.
    fn exited_entry(
        &mut self,
        key: FileKey,
        pid: u32,
        start: Option<u64>,
        now: Instant,
    ) -> std::result::Result<ProcessEntry, Unknown> {
        let entry = self
            .lookup
            .process(pid)
            .filter(|e| start.is_none_or(|s| e.start_time == s))
            .or_else(|| {
                // Zero: a child the inventory never read, known by its parent.
                self.lookup
                    .recently_exited(pid)
                    .filter(|e| start.is_none_or(|s| e.start_time == s || e.start_time == 0))
            });
        match entry {
            Some(entry) => Ok(entry),
            None if self.pending.len() < MAX_PENDING => {
                if !self.pending.iter().any(|&(k, p, _)| k == key && p == pid) {
                    self.pending.push((key, pid, now));
                }
                self.pending_retry_at.get_or_insert(now + GONE_RETRY);
                Err(Waiting)
            }
            None => Err(TooMany),
        }
    }

    /// Asks the inventory again about writers that were gone from /proc and unknown to it.
    fn retry_gone(&mut self, now: Instant, changes: &mut Vec<AttributionChange>) {
        if self.pending_retry_at.is_none_or(|at| now < at) {
            return;
        }
        let wall = unix_now();
        let pending = std::mem::take(&mut self.pending);
        for (key, pid, since) in pending {
            let path = match self.files.get(&key) {
                Some(state) => state.record.path.clone(),
                None => continue,
            };
            let entry = self
                .lookup
                .process(pid)
                .or_else(|| self.lookup.recently_exited(pid));
            match entry {
                Some(entry) => {
                    let known = self.files.get_mut(&key).and_then(|s| {
                        s.record
                            .writers
                            .iter_mut()
                            .find(|w| w.pid == pid && w.start_time == entry.start_time)
                    });
                    if let Some(writer) = known {
                        writer.last_seen = wall;
                        self.dirty.insert(key);
                    } else {
                        self.counters.exited_writers += 1;
                        self.add_writer(key, path, Writer::from_entry(&entry, wall), changes);
                    }
                }
                None if now.saturating_duration_since(since) < GONE_PATIENCE => {
                    self.pending.push((key, pid, since));
                }
                None => {
                    self.reject_gone(path, pid, changes);
                }
            }
        }
        self.pending_retry_at = (!self.pending.is_empty()).then_some(now + GONE_RETRY);
    }

    fn reject_gone(&mut self, path: PathBuf, pid: u32, changes: &mut Vec<AttributionChange>) {
        self.counters.rejected += 1;
        changes.push(AttributionChange::Rejected {
            path,
            pid,
            reason: "gone",
        });
    }

    fn add_writer(
        &mut self,
        key: FileKey,
        path: PathBuf,
        writer: Writer,
        changes: &mut Vec<AttributionChange>,
    ) {
        let max = self.config.max_writers_per_file.max(1);
        if let Some(state) = self.files.get_mut(&key) {
            let writers = &mut state.record.writers;
            while writers.len() >= max {
                let oldest = writers
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, w)| w.last_seen)
                    .map_or(0, |(i, _)| i);
                writers.remove(oldest);
            }
            writers.push(writer.clone());
        }
        self.dirty.insert(key);
        self.counters.writers_found += 1;
        tracing::debug!(
            path = %path.display(),
            pid = writer.pid,
            service = %writer.service_name,
            "Found log writer"
        );
        changes.push(AttributionChange::NewWriter { path, writer });
    }

    fn describe(&mut self, pid: u32, start: u64, wall: u64) -> Option<Writer> {
        if let Some(entry) = self.lookup.process(pid)
            && entry.start_time == start
        {
            return Some(Writer::from_entry(&entry, wall));
        }
        self.fallback.observe(pid);
        let entry = self.fallback.get(pid).cloned();
        // The fallback holds nothing between calls.
        self.fallback.exited(pid);
        let _ = self.fallback.take_changes();
        entry
            .filter(|e| e.start_time == start)
            .map(|e| Writer::from_entry(&e, wall))
    }

    /// Whether the watched `path` has no writer yet but one that exited is being asked about
    /// (for at most about a second): its records are better held back than sent unattributed.
    pub fn awaits_first_writer(&self, path: &Path) -> bool {
        self.paths.get(path).is_some_and(|key| {
            self.pending.iter().any(|(k, _, _)| k == key)
                && self
                    .files
                    .get(key)
                    .is_some_and(|s| s.record.writers.is_empty())
        })
    }

    /// The writers of a watched path (empty when unknown).
    pub fn writers(&self, path: &Path) -> &[Writer] {
        self.paths
            .get(path)
            .and_then(|k| self.files.get(k))
            .map_or(&[], |s| s.record.writers.as_slice())
    }

    /// The watched file a path names.
    pub fn file(&self, path: &Path) -> Option<&LogFile> {
        self.paths
            .get(path)
            .and_then(|k| self.files.get(k))
            .map(|s| &s.record)
    }

    /// Every watched file.
    pub fn files(&self) -> impl Iterator<Item = &LogFile> {
        self.files.values().map(|s| &s.record)
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        Counters {
            marks: self.files.values().filter(|s| s.marked).count(),
            armed: self.files.values().filter(|s| s.armed).count(),
            ..self.counters
        }
    }

    /// Loads what a previous run stored. Call before [`Self::watch`]; files whose path no
    /// longer names the stored device and inode are forgotten at the next [`Self::save`].
    pub fn load(&mut self, store: &impl AttributionStore) -> Result<usize> {
        let files = store.log_files()?;
        let count = files.len();
        for file in files {
            let current = std::fs::metadata(&file.path).ok();
            if current
                .is_some_and(|m| FileKey::of_metadata(&m) == file.key && !reborn(born(&m), &file))
            {
                if let Some(state) = self.files.get_mut(&file.key)
                    && state.record.path == file.path
                {
                    // Watched before the load: merge.
                    for w in file.writers {
                        if !state
                            .record
                            .writers
                            .iter()
                            .any(|x| x.pid == w.pid && x.start_time == w.start_time)
                        {
                            state.record.writers.push(w);
                        }
                    }
                    state.record.first_seen = state.record.first_seen.min(file.first_seen);
                    self.dirty.insert(file.key);
                } else {
                    self.stored.insert(file.key, file);
                }
            } else if !self.files.contains_key(&file.key) {
                self.removed.insert(file.key);
            }
        }
        Ok(count)
    }

    /// Whether [`Self::save`] has anything to write.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty() || !self.removed.is_empty()
    }

    /// Writes what changed since the last save in one transaction.
    pub fn save(&mut self, store: &mut impl AttributionStore) -> Result<()> {
        if !self.is_dirty() {
            return Ok(());
        }
        let upserts: Vec<&LogFile> = self
            .dirty
            .iter()
            .filter_map(|k| self.files.get(k))
            .map(|s| &s.record)
            .collect();
        let removals: Vec<FileKey> = self.removed.iter().copied().collect();
        store.save_log_files(&upserts, &removals)?;
        self.dirty.clear();
        self.removed.clear();
        Ok(())
    }
}

impl AsFd for AttributionEngine {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.group.as_fd()
    }
}

impl AsRawFd for AttributionEngine {
    fn as_raw_fd(&self) -> RawFd {
        self.group.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_flags_are_octal() {
        let text = "pos:\t0\nflags:\t0102001\nmnt_id:\t25\nino:\t1234\n";
        let flags = parse_fdinfo_flags(text);
        assert_eq!(flags, Some(0o102001));
        assert!(flags.is_some_and(writable));
        assert!(!writable(0o100000));
        assert!(writable(0o2));
        assert_eq!(parse_fdinfo_flags("pos:\t0\n"), None);
        assert_eq!(parse_fdinfo_flags("flags:\tzz\n"), None);
    }

    #[test]
    fn own_descriptors_are_checked_by_device_and_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let reader = {
            std::fs::write(&path, b"x").unwrap();
            std::fs::File::open(&path).unwrap()
        };
        let key = FileKey::of_fd(&reader).unwrap();
        let proc_root = Path::new("/proc");
        let me = std::process::id();
        assert_eq!(holds_for_writing(proc_root, me, key), Holds::No);
        let writer = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(holds_for_writing(proc_root, me, key), Holds::Yes);
        drop(writer);
        assert_eq!(holds_for_writing(proc_root, me, key), Holds::No);
        assert_eq!(holds_for_writing(proc_root, u32::MAX - 1, key), Holds::Gone);
        drop(reader);
    }

    #[test]
    fn the_engine_can_move_to_another_task() {
        fn assert_send<T: Send>() {}
        assert_send::<AttributionEngine>();
    }

    #[test]
    fn defaults_bound_the_rearm() {
        let c = AttributionConfig::default();
        assert_eq!(c.rearm_interval, Duration::from_secs(30));
        assert!(c.window_events >= 1 && c.max_writers_per_file >= 1);
    }
}
