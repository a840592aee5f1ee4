//! Tailing one log path: new bytes as they are appended, rename+create rotation (the old file is
//! drained), copytruncate (the truncation is detected by size and by a hash of the bytes just
//! before the offset), deletion, inode reuse. Records carry the offset just past them, so that a
//! checkpoint only moves once the exporter has acknowledged them.
//!
//! Reading allocates nothing per line: files are read straight into the round's
//! [`RecordBatch`], an arena whose records are ranges of it. A line stays where it was read
//! (only its newline is left out) and a multiline record is one range as long as its lines
//! follow each other with bare `\n`s; only what outlives a poll (a partial last line, an open
//! multiline record) is copied out into the reader and back in at the next read.

#![forbid(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::record::{Severity, is_continuation, severity};
use super::trace_context::TraceContext;

/// Bytes hashed at the head of a file (its signature) and just before the offset.
pub const SIGNATURE_BYTES: u64 = 256;
/// A longer line is emitted in pieces of this size (nothing is dropped).
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// How much is read from one file per poll.
const READ_CHUNK: usize = 256 * 1024;

/// Identity of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// A durable position in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The file.
    pub key: FileKey,
    /// The path it was read under.
    pub path: PathBuf,
    /// Bytes of the file acknowledged by the exporter.
    pub offset: u64,
    /// Length and hash of the file's first bytes.
    pub head: (u64, u64),
    /// Length and hash of the bytes just before `offset`.
    pub tail: (u64, u64),
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(FNV_OFFSET_BASIS, bytes)
}

/// FNV-1a 64 of the bytes hashed into `hash` so far followed by `bytes`.
fn fnv1a_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Length and hash of `len` bytes at `at` (shorter when the file is shorter).
fn hash_range(file: &File, at: u64, len: u64) -> std::io::Result<(u64, u64)> {
    let mut buf = [0u8; SIGNATURE_BYTES as usize];
    let mut hash = FNV_OFFSET_BASIS;
    let mut got = 0u64;
    while got < len {
        let want = (len - got).min(buf.len() as u64) as usize;
        let n = file.read_at(buf.get_mut(..want).unwrap_or_default(), at + got)?;
        if n == 0 {
            break;
        }
        hash = fnv1a_continue(hash, buf.get(..n).unwrap_or_default());
        got += n as u64;
    }
    Ok((got, hash))
}

/// Log files open right now, across every tailed path.
static OPEN_LOG_FILES: AtomicUsize = AtomicUsize::new(0);
/// The tailer's fd cap: at most this many log files are open at once (see [`set_max_open_files`]).
static MAX_OPEN_LOG_FILES: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets the tailer's fd cap. Idle files beyond it are closed ([`TailedPath::park`]) and reopened
/// by inode and signature when they grow; a file that cannot get a descriptor waits for one.
/// Whatever the number of log files, the daemon's own sockets and database keep theirs.
pub fn set_max_open_files(n: usize) {
    MAX_OPEN_LOG_FILES.store(n.max(1), Ordering::Relaxed);
}

/// The tailer's fd cap.
pub fn max_open_files() -> usize {
    MAX_OPEN_LOG_FILES.load(Ordering::Relaxed)
}

/// How many log files are open.
pub fn open_files() -> usize {
    OPEN_LOG_FILES.load(Ordering::Relaxed)
}

/// One of the [`max_open_files`] descriptors; given back when dropped.
#[derive(Debug)]
struct Slot(());

impl Slot {
    fn take() -> Option<Slot> {
        let max = max_open_files();
        OPEN_LOG_FILES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN_LOG_FILES.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open log file, holding one of the cap's slots.
#[derive(Debug)]
pub struct LogFile {
    file: File,
    _slot: Slot,
}

impl std::ops::Deref for LogFile {
    type Target = File;
    fn deref(&self) -> &File {
        &self.file
    }
}

/// The error of an open refused because the cap is reached (the file waits for a slot).
fn cap_reached() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EMFILE)
}

fn is_cap(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE)
}

/// The open file of a reader, or an error when it is parked.
fn file_of(f: &Option<LogFile>) -> std::io::Result<&File> {
    f.as_ref()
        .map(|f| &f.file)
        .ok_or_else(|| std::io::Error::other("parked"))
}

/// Opens a log file to read without updating its access time (`O_NOATIME`, which needs the
/// file's owner or CAP_FOWNER; otherwise it is opened plainly). A user controls what is under a
/// log root, so the file must be a regular one (a FIFO or a device is refused before it is
/// opened, and the open never blocks) and is never reached through a link of a user who does not
/// own it ([`crate::safe_fs`]).
fn open_for_reading(path: &Path) -> std::io::Result<LogFile> {
    let opts = crate::safe_fs::OpenOpts {
        links: crate::safe_fs::Links::Protected,
        noatime: true,
    };
    let slot = Slot::take().ok_or_else(cap_reached)?;
    match crate::safe_fs::open(path, opts) {
        Ok((file, _)) => Ok(LogFile { file, _slot: slot }),
        Err(crate::Error::Io { source, .. }) => Err(source),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "Log file refused");
            Err(std::io::Error::other(e.to_string()))
        }
    }
}

/// The signatures for a checkpoint at `offset`.
pub fn signatures(file: &File, offset: u64) -> std::io::Result<((u64, u64), (u64, u64))> {
    let head = hash_range(file, 0, SIGNATURE_BYTES.min(offset.max(1)))?;
    let start = offset.saturating_sub(SIGNATURE_BYTES);
    let tail = hash_range(file, start, offset - start)?;
    Ok((head, tail))
}

/// Whether `checkpoint` still describes `file`: same head and same bytes before the offset.
pub fn checkpoint_valid(file: &File, checkpoint: &Checkpoint) -> bool {
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if meta.len() < checkpoint.offset {
        return false;
    }
    let head = hash_range(file, 0, checkpoint.head.0);
    let start = checkpoint.offset.saturating_sub(checkpoint.tail.0);
    let tail = hash_range(file, start, checkpoint.offset - start);
    matches!((head, tail), (Ok(h), Ok(t)) if h == checkpoint.head && t == checkpoint.tail)
}

/// One record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The file it came from.
    pub key: FileKey,
    /// The record, without its trailing newline.
    pub bytes: &'a [u8],
    /// The offset just past the record in its file.
    pub end_offset: u64,
    /// Its severity ([`severity`] of its bytes).
    pub severity: Severity,
    /// Whether its bytes are UTF-8.
    pub is_utf8: bool,
    /// Whether it holds more than one line (a multiline record).
    pub multiline: bool,
    /// Whether a line of it may name an exception type: it holds more than one line or starts
    /// with a letter (see [`super::record::exception_type`]).
    pub may_name_exception: bool,
    /// The trace context it carries ([`super::trace_context::find`]).
    pub trace: Option<TraceContext>,
}

/// Where a record's bytes are in the batch's arena, and what was learnt of them while they
/// were in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordSpan {
    key: FileKey,
    start: usize,
    end: usize,
    end_offset: u64,
    severity: Severity,
    is_utf8: bool,
    multiline: bool,
    may_name_exception: bool,
    trace: Option<TraceContext>,
}

/// Signatures of a checkpoint: length and hash of the file's head and of the bytes before the
/// offset.
pub type Signatures = ((u64, u64), (u64, u64));

/// How far a batch's records reach into one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEnd {
    /// The file.
    pub key: FileKey,
    /// The largest end offset of its records.
    pub end_offset: u64,
    /// The checkpoint signatures at `end_offset`, when the tailer had the bytes at hand (else
    /// they are read from the file).
    pub signatures: Option<Signatures>,
}

/// The records of one round: their bytes in one arena, each record a range of it, and how far
/// they reach into each file. Cleared and reused from round to round, so that reading
/// allocates nothing once the arena has grown to a round's size.
#[derive(Debug, Default)]
pub struct RecordBatch {
    /// The arena. `arena[..used]` is in use; the rest was zeroed once and is only overwritten
    /// (reads need initialised memory), so it is never shrunk.
    arena: Vec<u8>,
    used: usize,
    records: Vec<RecordSpan>,
    ends: Vec<FileEnd>,
}

impl RecordBatch {
    /// An empty batch.
    pub fn new() -> Self {
        RecordBatch::default()
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forgets every record, keeping the memory.
    pub fn clear(&mut self) {
        self.used = 0;
        self.records.clear();
        self.ends.clear();
    }

    /// The record at `index`.
    pub fn get(&self, index: usize) -> Option<Record<'_>> {
        self.records.get(index).map(|s| self.record(s))
    }

    /// The records, in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = Record<'_>> + '_ {
        self.records.iter().map(|s| self.record(s))
    }

    /// Per file, how far the records reach, in the order the files were first read.
    pub fn ends(&self) -> &[FileEnd] {
        &self.ends
    }

    fn record(&self, span: &RecordSpan) -> Record<'_> {
        Record {
            key: span.key,
            bytes: self.arena.get(span.start..span.end).unwrap_or_default(),
            end_offset: span.end_offset,
            severity: span.severity,
            is_utf8: span.is_utf8,
            multiline: span.multiline,
            may_name_exception: span.may_name_exception,
            trace: span.trace,
        }
    }

    /// Adds the record at `arena[start..end]`; `multiline` if it holds more than one line. Its
    /// severity and whether it is UTF-8 are found now, while its bytes, just read, are in the
    /// cache (by the time a round's batch is exported, its first bytes have left it) — unless
    /// `lines_only`: then its bytes are not looked at (see [`TailedPath::set_lines_only`]).
    fn push_span(
        &mut self,
        key: FileKey,
        (start, end): (usize, usize),
        end_offset: u64,
        multiline: bool,
        lines_only: bool,
    ) {
        let bytes = self.bytes(start, end);
        let span = if lines_only {
            RecordSpan {
                key,
                start,
                end,
                end_offset,
                severity: Severity::Unspecified,
                is_utf8: false,
                multiline,
                may_name_exception: false,
                trace: None,
            }
        } else {
            RecordSpan {
                key,
                start,
                end,
                end_offset,
                severity: severity(bytes),
                is_utf8: std::str::from_utf8(bytes).is_ok(),
                multiline,
                may_name_exception: multiline || bytes.first().is_some_and(u8::is_ascii_alphabetic),
                trace: super::trace_context::find(bytes),
            }
        };
        self.records.push(span);
        // Records of one file come in runs: the last entry is nearly always the one.
        let found = match self.ends.last_mut() {
            Some(e) if e.key == key => Some(e),
            _ => self.ends.iter_mut().find(|e| e.key == key),
        };
        match found {
            Some(e) if e.end_offset < end_offset => {
                e.end_offset = end_offset;
                e.signatures = None;
            }
            Some(_) => {}
            None => self.ends.push(FileEnd {
                key,
                end_offset,
                signatures: None,
            }),
        }
    }

    /// Adds a record whose bytes are elsewhere, copying them to the arena.
    fn push_copy(
        &mut self,
        key: FileKey,
        bytes: &[u8],
        end_offset: u64,
        multiline: bool,
        lines_only: bool,
    ) {
        let start = self.used;
        self.append(bytes);
        self.push_span(key, (start, self.used), end_offset, multiline, lines_only);
    }

    /// Copies `bytes` to the end of the used part of the arena.
    fn append(&mut self, bytes: &[u8]) {
        let start = self.used;
        if let Some(dst) = self.spare(start, bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.used = start + bytes.len();
    }

    /// `arena[at..at + len]`, growing the arena if needed (`None` only if the length
    /// overflows).
    fn spare(&mut self, at: usize, len: usize) -> Option<&mut [u8]> {
        let need = at.checked_add(len)?;
        if self.arena.len() < need {
            self.arena.resize(need, 0);
        }
        self.arena.get_mut(at..need)
    }

    /// `arena[range]`.
    fn bytes(&self, start: usize, end: usize) -> &[u8] {
        self.arena.get(start..end).unwrap_or_default()
    }
}

/// An open file being read.
#[derive(Debug)]
struct Reader {
    /// `None` while parked (closed to stay under the fd cap; reopened by inode when it grows).
    file: Option<LogFile>,
    key: FileKey,
    /// Next byte to read.
    offset: u64,
    /// The file's size when it was last looked at.
    size: u64,
    /// Bytes of an incomplete line, starting at `offset - pending.len()` (between reads).
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    /// Multiline: the bytes of the record being assembled (between reads) …
    open: Vec<u8>,
    /// … the offset past it, if there is one, …
    open_end: Option<u64>,
    /// … and whether it holds more than one line.
    open_multiline: bool,
    open_since: Option<Instant>,
    in_traceback: bool,
    /// Bytes before `offset` at the last check, to notice copytruncate.
    last_tail: Option<(u64, u64, u64)>,
    /// Length and hash of the file's first bytes, to find its copy after copytruncate.
    head: (u64, u64),
}

impl Reader {
    /// A reader of `file` (`size` bytes long) at `offset`, with nothing pending; `head` is what
    /// is known of the file's first bytes.
    fn new(file: LogFile, key: FileKey, offset: u64, size: u64, head: (u64, u64)) -> Reader {
        Reader {
            file: Some(file),
            key,
            offset,
            size,
            pending: Vec::new(),
            pending_since: None,
            open: Vec::new(),
            open_end: None,
            open_multiline: false,
            open_since: None,
            in_traceback: false,
            last_tail: None,
            head,
        }
    }

    /// Whether a partial line or an open multiline record is kept between reads.
    fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.open_end.is_some()
    }

    /// Bytes the carried open record and partial line take in the arena (with the newline
    /// that separates them).
    fn carried_len(&self) -> usize {
        let open = if self.open_end.is_some() {
            self.open.len() + 1
        } else {
            0
        };
        open + self.pending.len()
    }
}

/// What a poll noticed, for counters and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollNotes {
    /// The file was truncated in place.
    pub truncated: bool,
    /// The path now names another file (rotation).
    pub rotated: bool,
    /// The path is gone.
    pub deleted: bool,
    /// A line longer than [`MAX_RECORD_BYTES`] was split.
    pub split_lines: u64,
    /// The read budget ran out before the end of a file: poll again at once.
    pub more: bool,
    /// Where the current file was truncated (offset of the first unread byte) and its head.
    pub truncated_at: Option<(u64, (u64, u64))>,
}

/// Tails one path.
#[derive(Debug)]
pub struct TailedPath {
    path: PathBuf,
    current: Option<Reader>,
    draining: Vec<Reader>,
    multiline: bool,
    /// Records are lines for a parser of their own (container logs): not examined here.
    lines_only: bool,
    partial_timeout: Duration,
    /// The first open is waiting for a slot under the fd cap: its checkpoint and start.
    deferred: Option<(Option<Checkpoint>, bool)>,
    /// A parked file's reopen is waiting for a slot.
    blocked: bool,
    /// When bytes were last read (or the path was opened): the least recently active files
    /// are parked first.
    last_active: Instant,
}

impl TailedPath {
    /// Starts tailing `path`. `resume` is a checkpoint that may match the file; `from_end` says
    /// where to start when none does.
    pub fn open(
        path: &Path,
        resume: Option<&Checkpoint>,
        from_end: bool,
        multiline: bool,
    ) -> TailedPath {
        let mut t = TailedPath {
            path: path.to_owned(),
            current: None,
            draining: Vec::new(),
            multiline,
            lines_only: false,
            partial_timeout: Duration::from_secs(1),
            deferred: None,
            blocked: false,
            last_active: Instant::now(),
        };
        match open_reader(path, resume, from_end) {
            Ok(r) => t.current = r,
            Err(_) => t.deferred = Some((resume.cloned(), from_end)),
        }
        t
    }

    /// Turns the joining of stack traces and tracebacks on or off (a reload) for what is read
    /// from now on.
    pub fn set_multiline(&mut self, multiline: bool) {
        self.multiline = multiline;
    }

    /// Records are lines that their consumer parses itself (a container log's assembler): their
    /// severity, UTF-8 check and trace context are not computed here (the records carry
    /// `Severity::Unspecified`, `is_utf8 = false`, no trace context).
    pub fn set_lines_only(&mut self, lines_only: bool) {
        self.lines_only = lines_only;
    }

    /// Adds a file found elsewhere (a rotated file of ours) to drain from its checkpoint.
    pub fn drain_file(&mut self, path: &Path, checkpoint: &Checkpoint) {
        if let Ok(Some(r)) = open_reader(path, Some(checkpoint), false)
            && r.offset == checkpoint.offset
        {
            self.draining.push(r);
        }
    }

    /// Whether this path waits for a descriptor under the fd cap (poll it again soon).
    pub fn wants_open(&self) -> bool {
        self.deferred.is_some() || self.blocked
    }

    /// When bytes were last read from it.
    pub fn last_active(&self) -> Instant {
        self.last_active
    }

    /// Whether the current file is closed until it grows (see [`TailedPath::park`]).
    pub fn is_parked(&self) -> bool {
        self.current.as_ref().is_some_and(|r| r.file.is_none())
    }

    /// How many descriptors it holds.
    pub fn open_files(&self) -> usize {
        self.current
            .iter()
            .chain(self.draining.iter())
            .filter(|r| r.file.is_some())
            .count()
    }

    /// Closes the current file if it is read to its end with nothing pending and nothing
    /// draining (so no record of it is waiting for the collector's answer either when called
    /// between batches). It is reopened by its inode when it grows, and the bytes before the
    /// offset are checked to be the ones read. Returns whether a descriptor was given back.
    pub fn park(&mut self) -> bool {
        if !self.draining.is_empty() {
            return false;
        }
        let Some(r) = self.current.as_mut() else {
            return false;
        };
        if r.file.is_none() || r.has_pending() || r.offset != r.size {
            return false;
        }
        let len = SIGNATURE_BYTES.min(r.offset);
        let Ok((_, hash)) = file_of(&r.file).and_then(|f| hash_range(f, r.offset - len, len))
        else {
            return false;
        };
        r.last_tail = Some((r.offset, len, hash));
        r.file = None;
        true
    }

    /// Reopens a parked current file if the path still names it; `false` when no slot is free.
    fn unpark(&mut self, key: FileKey) -> bool {
        let Some(r) = self.current.as_mut() else {
            return true;
        };
        if r.file.is_some() || r.key != key {
            return true;
        }
        match open_for_reading(&self.path) {
            Ok(file) => {
                if key_of(&file) == Some(key) {
                    r.file = Some(file);
                } else {
                    // Replaced between the stat and the open: the next poll sees the new file.
                    self.current = None;
                }
                true
            }
            Err(e) if is_cap(&e) => false,
            Err(_) => {
                self.current = None;
                true
            }
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file currently under the path.
    pub fn current_key(&self) -> Option<FileKey> {
        self.current.as_ref().map(|r| r.key)
    }

    /// The open file with `key`, for checkpoint signatures.
    pub fn file(&self, key: FileKey) -> Option<&File> {
        self.current
            .iter()
            .chain(self.draining.iter())
            .find(|r| r.key == key)
            .and_then(|r| r.file.as_ref().map(|f| &f.file))
    }

    /// Unread bytes (file size minus read offset) of the current file, from the size seen at
    /// its last poll.
    pub fn lag(&self) -> u64 {
        self.current
            .as_ref()
            .map_or(0, |r| r.size.saturating_sub(r.offset))
    }

    /// Size of the current file at its last poll (0 when the path names no file).
    pub fn current_size(&self) -> u64 {
        self.current.as_ref().map_or(0, |r| r.size)
    }

    /// Whether anything is waiting for a timeout (partial line or open multiline record).
    pub fn has_pending(&self) -> bool {
        self.current
            .iter()
            .chain(self.draining.iter())
            .any(Reader::has_pending)
    }

    /// Whether an old (rotated or deleted) file is still being read.
    pub fn is_draining(&self) -> bool {
        !self.draining.is_empty()
    }

    /// Whether nothing is left to do: path gone and every old file drained.
    pub fn finished(&self) -> bool {
        self.current.is_none() && self.draining.is_empty() && self.deferred.is_none()
    }

    /// Reads what is new, at most `budget` bytes, appending records to `batch`.
    pub fn poll(&mut self, now: Instant, budget: &mut usize, batch: &mut RecordBatch) -> PollNotes {
        let mut notes = PollNotes::default();
        if let Some((resume, from_end)) = self.deferred.take() {
            match open_reader(&self.path, resume.as_ref(), from_end) {
                Ok(r) => {
                    self.current = r;
                    self.last_active = now;
                }
                Err(_) => {
                    self.deferred = Some((resume, from_end));
                    return notes;
                }
            }
        }
        self.blocked = false;
        // Has the path changed under us?
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                let key = FileKey {
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                if self.current.as_ref().map(|r| r.key) != Some(key) {
                    if let Some(mut old) = self.current.take() {
                        notes.rotated = true;
                        if old.file.is_none() {
                            // Parked when it was read to its end: find it again by its inode
                            // (rename rotation keeps it in the directory) to drain what was
                            // written since.
                            old.file = self
                                .path
                                .parent()
                                .and_then(|dir| find_by_key(dir, old.key))
                                .and_then(|p| open_for_reading(&p).ok())
                                .filter(|f| key_of(f) == Some(old.key));
                        }
                        if old.file.is_some() {
                            self.draining.push(old);
                        }
                    }
                    // A file that appeared while we watch is read from its start.
                    match open_reader(&self.path, None, false) {
                        Ok(r) => self.current = r,
                        Err(_) => {
                            self.deferred = Some((None, false));
                            return notes;
                        }
                    }
                } else if !self.unpark(key) {
                    self.blocked = true;
                    return notes;
                }
            }
            Err(_) => {
                if let Some(old) = self.current.take() {
                    notes.deleted = true;
                    self.draining.push(old);
                }
            }
        }
        let settings = ReadSettings {
            now,
            multiline: self.multiline,
            lines_only: self.lines_only,
            timeout: self.partial_timeout,
        };
        // Old files first: their records come before the new file's.
        let before = *budget;
        self.draining.retain_mut(|r| {
            r.file.is_some() && !read_some(r, &settings, budget, batch, &mut notes, true)
        });
        if let Some(r) = self.current.as_mut()
            && r.file.is_some()
        {
            read_some(r, &settings, budget, batch, &mut notes, false);
        }
        if *budget != before {
            self.last_active = now;
        }
        // copytruncate: bytes written before the truncation that we had not read yet are only in
        // the copy; read them from there.
        let found = notes.truncated_at.and_then(|(offset, head)| {
            (head.0 > 0)
                .then(|| find_copy(&self.path, head, offset).map(|p| (p, offset, head)))
                .flatten()
        });
        if let Some((copy, offset, head)) = found
            && let Ok(file) = open_for_reading(&copy)
            && let Ok(meta) = file.metadata()
        {
            let key = FileKey {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            let mut reader = Reader::new(file, key, offset, meta.len(), head);
            read_some(&mut reader, &settings, budget, batch, &mut notes, true);
            self.draining.push(reader);
        }
        notes
    }
}

/// Opens a reader of `path`: `Err` when the fd cap (or the process's limit) leaves no
/// descriptor, so that the caller waits for one; `Ok(None)` when the file cannot be read.
fn open_reader(
    path: &Path,
    resume: Option<&Checkpoint>,
    from_end: bool,
) -> std::io::Result<Option<Reader>> {
    let file = match open_for_reading(path) {
        Ok(f) => f,
        Err(e) if is_cap(&e) => return Err(e),
        Err(_) => return Ok(None),
    };
    let Ok(meta) = file.metadata() else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    let key = FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    let offset = match resume {
        Some(cp) if cp.key == key && checkpoint_valid(&file, cp) => cp.offset,
        _ if from_end => meta.len(),
        _ => 0,
    };
    Ok(Some(Reader::new(
        file,
        key,
        offset,
        meta.len(),
        (0, fnv1a(&[])),
    )))
}

/// The identity of an open file.
fn key_of(file: &File) -> Option<FileKey> {
    file.metadata().ok().map(|m| FileKey {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// The file with `key` in `dir` (a rotated file keeps its inode), if there is one (at most
/// 4,096 entries looked at).
pub fn find_by_key(dir: &Path, key: FileKey) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .take(4096)
        .find(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.dev() == key.dev && m.ino() == key.ino)
        })
        .map(|e| e.path())
}

/// After copytruncate: the copy of the file (same directory, name starting with the file's
/// name, same first bytes, at least `offset` long), newest first.
fn find_copy(path: &Path, head: (u64, u64), offset: u64) -> Option<PathBuf> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .take(4096)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n != name && n.starts_with(name))
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let modified = meta.modified().ok()?;
            (meta.is_file() && meta.len() >= offset).then(|| (modified, e.path()))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    candidates.into_iter().map(|(_, p)| p).find(|p| {
        open_for_reading(p)
            .and_then(|f| hash_range(&f, 0, head.0))
            .is_ok_and(|h| h == head)
    })
}

/// What every read of one poll shares.
#[derive(Debug, Clone, Copy)]
struct ReadSettings {
    now: Instant,
    multiline: bool,
    /// See [`TailedPath::set_lines_only`].
    lines_only: bool,
    /// Quiet period after which a partial line or an open record goes out as it is.
    timeout: Duration,
}

/// The multiline record being assembled, in the arena.
#[derive(Debug, Clone, Copy)]
struct OpenRecord {
    start: usize,
    end: usize,
    /// The offset past it in the file.
    end_offset: u64,
    /// More than one line joined.
    multiline: bool,
}

/// A reader's place in the arena during one read.
#[derive(Debug)]
struct Scan {
    /// Whether the carried open record and partial line have been copied into the arena (only
    /// once something new was read, or a timeout needs them).
    loaded: bool,
    /// The open multiline record.
    open: Option<OpenRecord>,
    /// Start of the incomplete line; it runs to the end of the used arena.
    line_start: usize,
    /// From `base_pos` on, the arena holds the file's bytes from `base_offset` on …
    base_pos: usize,
    base_offset: u64,
    /// … except below `mirror_from`, where a multiline join moved bytes.
    mirror_from: usize,
    /// Where the arena's used part ended when the read began, and the end of the last record
    /// added since: what is above is given back when the read ends.
    region_start: usize,
    kept_to: usize,
    /// See [`TailedPath::set_lines_only`].
    lines_only: bool,
}

impl Scan {
    fn new(batch: &RecordBatch, lines_only: bool) -> Scan {
        Scan {
            loaded: false,
            open: None,
            line_start: batch.used,
            base_pos: batch.used,
            base_offset: 0,
            mirror_from: batch.used,
            region_start: batch.used,
            kept_to: batch.used,
            lines_only,
        }
    }

    /// The file offset of arena position `pos` (at or above `base_pos`).
    fn offset_at(&self, pos: usize) -> u64 {
        self.base_offset + (pos - self.base_pos) as u64
    }

    /// Adds the one-line record at `arena[start..end]`.
    fn push(&mut self, batch: &mut RecordBatch, key: FileKey, range: (usize, usize), end: u64) {
        batch.push_span(key, range, end, false, self.lines_only);
        self.kept_to = self.kept_to.max(range.1);
    }

    /// Adds the open record, if there is one.
    fn close_open(&mut self, batch: &mut RecordBatch, key: FileKey) {
        if let Some(o) = self.open.take() {
            batch.push_span(
                key,
                (o.start, o.end),
                o.end_offset,
                o.multiline,
                self.lines_only,
            );
            self.kept_to = self.kept_to.max(o.end);
        }
    }

    /// Copies the carried open record and partial line to the end of the used arena, in file
    /// order, with a newline between them so that a continuation line read next joins the
    /// record in place.
    fn load(&mut self, r: &mut Reader, batch: &mut RecordBatch) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        if let Some(end_offset) = r.open_end.take() {
            let start = batch.used;
            batch.append(&r.open);
            self.open = Some(OpenRecord {
                start,
                end: batch.used,
                end_offset,
                multiline: r.open_multiline,
            });
            batch.append(b"\n");
            r.open.clear();
        }
        self.line_start = batch.used;
        self.base_pos = batch.used;
        self.base_offset = r.offset - r.pending.len() as u64;
        self.mirror_from = batch.used;
        batch.append(&r.pending);
        r.pending.clear();
    }

    /// Copies what outlives the read (open record, partial line) back into the reader and gives
    /// the arena above the last record back.
    fn unload(self, r: &mut Reader, batch: &mut RecordBatch) {
        if !self.loaded {
            return;
        }
        if let Some(o) = self.open {
            r.open.extend_from_slice(batch.bytes(o.start, o.end));
            r.open_end = Some(o.end_offset);
            r.open_multiline = o.multiline;
        }
        r.pending
            .extend_from_slice(batch.bytes(self.line_start, batch.used));
        batch.used = self.region_start.max(self.kept_to);
    }

    /// Length and hash of the `len` file bytes before arena position `end`, if the arena holds
    /// them as they are in the file.
    fn hash_before(&self, batch: &RecordBatch, end: usize, len: u64) -> Option<(u64, u64)> {
        let start = end.checked_sub(usize::try_from(len).ok()?)?;
        (self.loaded && start >= self.mirror_from && end <= batch.used)
            .then(|| (len, fnv1a(batch.bytes(start, end))))
    }
}

/// Emits a complete line (`arena[start..end]`, ending at file offset `end_offset`) through the
/// multiline assembler.
fn push_line(
    r: &mut Reader,
    batch: &mut RecordBatch,
    scan: &mut Scan,
    start: usize,
    end: usize,
    end_offset: u64,
    settings: &ReadSettings,
) {
    if !settings.multiline {
        scan.push(batch, r.key, (start, end), end_offset);
        return;
    }
    let line = batch.bytes(start, end);
    let continues = scan.open.is_some() && is_continuation(line, r.in_traceback);
    if line.starts_with(b"Traceback (most recent call last):") {
        r.in_traceback = true;
    } else if r.in_traceback && !line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        // The exception line closes the traceback (it is still part of it).
        r.in_traceback = false;
    }
    if continues
        && let Some(open) = scan.open.as_mut()
        && (open.end - open.start) + (end - start) < MAX_RECORD_BYTES
    {
        if open.end + 1 == start && batch.arena.get(open.end) == Some(&b'\n') {
            // The line follows the record after a bare newline: the record just grows.
            open.end = end;
        } else {
            // A "\r\n" is in between: move the line down against the record, behind a bare
            // newline.
            if let Some(b) = batch.arena.get_mut(open.end) {
                *b = b'\n';
            }
            batch.arena.copy_within(start..end, open.end + 1);
            open.end += 1 + (end - start);
            scan.mirror_from = scan.mirror_from.max(end);
        }
        open.end_offset = end_offset;
        open.multiline = true;
        return;
    }
    scan.close_open(batch, r.key);
    scan.open = Some(OpenRecord {
        start,
        end,
        end_offset,
        multiline: false,
    });
    r.open_since = Some(settings.now);
}

/// Reads what is new in `r` (at most `budget` bytes) into `batch`; true when the file is read to
/// its end with nothing left pending.
fn read_some(
    r: &mut Reader,
    settings: &ReadSettings,
    budget: &mut usize,
    batch: &mut RecordBatch,
    notes: &mut PollNotes,
    draining: bool,
) -> bool {
    let size = match file_of(&r.file).and_then(|f| f.metadata()) {
        Ok(m) => m.len(),
        Err(_) => return true,
    };
    r.size = size;
    // copytruncate: the file shrank, or the bytes before our offset changed.
    let truncated = size < r.offset
        || r.last_tail.is_some_and(|(at, len, hash)| {
            at == r.offset
                && file_of(&r.file)
                    .and_then(|f| hash_range(f, r.offset.saturating_sub(len), len))
                    .map(|x| x.1)
                    .ok()
                    != Some(hash)
        });
    if truncated && !draining {
        notes.truncated = true;
        notes.truncated_at = Some((r.offset - r.pending.len() as u64, r.head));
        r.offset = 0;
        r.head = (0, fnv1a(&[]));
        r.pending.clear();
        r.pending_since = None;
        r.in_traceback = false;
        if let Some(end) = r.open_end.take() {
            batch.push_copy(
                r.key,
                &r.open,
                end.min(size),
                r.open_multiline,
                settings.lines_only,
            );
            r.open.clear();
        }
        r.last_tail = None;
    }
    let mut scan = Scan::new(batch, settings.lines_only);
    let chunk = READ_CHUNK.min((*budget).max(1));
    let mut eof = false;
    while *budget > 0 {
        let want = chunk.min(*budget);
        // Read behind the room the carried bytes will take, so that they need copying only if
        // something new arrived.
        let carried = if scan.loaded { 0 } else { r.carried_len() };
        let Some(dst) = batch.spare(batch.used + carried, want) else {
            eof = true;
            break;
        };
        let n = match file_of(&r.file).and_then(|f| f.read_at(dst, r.offset)) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => {
                eof = true;
                break;
            }
        };
        scan.load(r, batch);
        *budget = budget.saturating_sub(n);
        let data_start = batch.used;
        batch.used += n;
        r.offset += n as u64;
        let mut from = data_start;
        while let Some(i) = memchr::memchr(b'\n', batch.bytes(from, batch.used)) {
            let newline = from + i;
            let mut end = newline;
            if end > scan.line_start && batch.arena.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
            let end_offset = scan.offset_at(newline + 1);
            let start = scan.line_start;
            push_line(r, batch, &mut scan, start, end, end_offset, settings);
            r.pending_since = None;
            scan.line_start = newline + 1;
            from = newline + 1;
        }
        if scan.line_start < batch.used && r.pending_since.is_none() {
            r.pending_since = Some(settings.now);
        }
        // A very long line goes out in pieces: nothing is dropped, memory stays bounded.
        while batch.used - scan.line_start >= MAX_RECORD_BYTES {
            let piece = (scan.line_start, scan.line_start + MAX_RECORD_BYTES);
            notes.split_lines += 1;
            scan.close_open(batch, r.key);
            let piece_end = scan.offset_at(piece.1);
            scan.push(batch, r.key, piece, piece_end);
            scan.line_start = piece.1;
        }
    }
    if !eof && *budget == 0 {
        notes.more = true;
    }
    // Timeouts: a partial last line waits, then goes out as it is; an open multiline record is
    // closed after the same quiet period.
    let now = settings.now;
    let quiet =
        |since: Option<Instant>| since.is_some_and(|s| now.duration_since(s) >= settings.timeout);
    let has_partial = if scan.loaded {
        scan.line_start < batch.used
    } else {
        !r.pending.is_empty()
    };
    // Only at the end of the file: a file that ran out of budget mid-line is not "quiet".
    if has_partial && eof && (quiet(r.pending_since) || draining) {
        scan.load(r, batch);
        let (start, end) = (scan.line_start, batch.used);
        r.pending_since = None;
        push_line(r, batch, &mut scan, start, end, r.offset, settings);
        scan.line_start = end;
    }
    let has_open = if scan.loaded {
        scan.open.is_some()
    } else {
        r.open_end.is_some()
    };
    if has_open && (quiet(r.open_since) || (draining && eof)) {
        scan.load(r, batch);
        scan.close_open(batch, r.key);
    }
    if r.head.0 < SIGNATURE_BYTES && r.offset > r.head.0 {
        let len = r.offset.min(SIGNATURE_BYTES);
        if let Ok(h) = file_of(&r.file).and_then(|f| hash_range(f, 0, len)) {
            r.head = h;
        }
    }
    // The bytes before the offset, to notice a copytruncate at the next read: unchanged if
    // nothing was read (they were just checked), else hashed from the arena when it has them.
    if r.offset >= 1 && r.last_tail.is_none_or(|(at, _, _)| at != r.offset) {
        let len = r.offset.min(64);
        r.last_tail = scan
            .hash_before(batch, batch.used, len)
            .or_else(|| {
                file_of(&r.file)
                    .and_then(|f| hash_range(f, r.offset - len, len))
                    .ok()
            })
            .map(|(l, h)| (r.offset, l, h));
    }
    sign_file_end(r, &scan, batch);
    scan.unload(r, batch);
    eof && r.pending.is_empty() && r.open_end.is_none()
}

/// Computes the checkpoint signatures for where the batch's records of `r` end, from the bytes
/// in the arena, so that acknowledging the batch need not read them again.
fn sign_file_end(r: &Reader, scan: &Scan, batch: &mut RecordBatch) {
    if !scan.loaded || r.head.0 != SIGNATURE_BYTES {
        return;
    }
    let Some(index) = batch.ends.iter().rposition(|e| e.key == r.key) else {
        return;
    };
    let Some(end) = batch.ends.get(index).copied() else {
        return;
    };
    if end.signatures.is_some()
        || end.end_offset < SIGNATURE_BYTES
        || end.end_offset < scan.base_offset
    {
        return;
    }
    let Ok(distance) = usize::try_from(end.end_offset - scan.base_offset) else {
        return;
    };
    let tail = scan.hash_before(batch, scan.base_pos + distance, SIGNATURE_BYTES);
    if let (Some(tail), Some(e)) = (tail, batch.ends.get_mut(index)) {
        e.signatures = Some((r.head, tail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    /// Polls until nothing more is read; the records as (bytes, end offset).
    fn drain(
        t: &mut TailedPath,
        now: Instant,
        budget: usize,
        batch: &mut RecordBatch,
    ) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        loop {
            let mut left = budget;
            let notes = t.poll(now, &mut left, batch);
            out.extend(batch.iter().map(|r| (r.bytes.to_vec(), r.end_offset)));
            batch.clear();
            if !notes.more {
                return out;
            }
        }
    }

    fn text(records: &[(Vec<u8>, u64)]) -> Vec<(String, u64)> {
        records
            .iter()
            .map(|(b, o)| (String::from_utf8_lossy(b).into_owned(), *o))
            .collect()
    }

    #[test]
    fn parked_files_resume_grow_rotate_and_notice_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        append(&path, b"one\n");
        let now = Instant::now();
        let mut batch = RecordBatch::new();
        let mut t = TailedPath::open(&path, None, false, false);
        assert_eq!(
            text(&drain(&mut t, now, 1 << 20, &mut batch)),
            [("one".to_owned(), 4)]
        );
        assert!(t.park(), "a file read to its end parks");
        assert_eq!((t.open_files(), t.is_parked()), (0, true));
        // It grows: reopened by inode, read from where it was.
        append(&path, b"two\n");
        assert_eq!(
            text(&drain(&mut t, now, 1 << 20, &mut batch)),
            [("two".to_owned(), 8)]
        );
        assert_eq!(t.open_files(), 1);
        // Parked, then grown and renamed away (rotation): found again by inode and drained.
        assert!(t.park());
        append(&path, b"three\n");
        std::fs::rename(&path, dir.path().join("p.log.1")).unwrap();
        append(&path, b"new\n");
        assert_eq!(
            text(&drain(&mut t, now, 1 << 20, &mut batch)),
            [("three".to_owned(), 14), ("new".to_owned(), 4)]
        );
        // Parked, then rewritten in place with the same length: read again from the start.
        drain(&mut t, now, 1 << 20, &mut batch);
        assert!(t.park());
        std::fs::write(&path, b"NEW\nmore\n").unwrap();
        assert_eq!(
            text(&drain(&mut t, now, 1 << 20, &mut batch)),
            [("NEW".to_owned(), 4), ("more".to_owned(), 9)]
        );
    }

    const TRACE: &[u8] = b"2026 INFO one\n2026 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)\n2026 INFO two\n";

    #[test]
    fn records_are_ranges_of_the_arena_with_their_end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, TRACE);
        let now = Instant::now();
        for budget in [1usize, 3, 7, 64, 1 << 20] {
            let mut t = TailedPath::open(&path, None, false, true);
            let mut batch = RecordBatch::new();
            let mut got = drain(&mut t, now, budget, &mut batch);
            // The last record is open until its quiet period is over.
            assert!(t.has_pending());
            got.extend(drain(
                &mut t,
                now + Duration::from_secs(2),
                budget,
                &mut batch,
            ));
            assert_eq!(
                text(&got),
                [
                    ("2026 INFO one".to_owned(), 14),
                    (
                        "2026 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)"
                            .to_owned(),
                        105
                    ),
                    ("2026 INFO two".to_owned(), 119),
                ],
                "budget {budget}"
            );
            assert!(!t.has_pending());
        }
    }

    #[test]
    fn crlf_lines_join_with_bare_newlines_and_carried_records_join_across_polls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let crlf: Vec<u8> = TRACE
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .flat_map(|l| [l, b"\r\n"].concat())
            .collect();
        let now = Instant::now();
        let mut t = TailedPath::open(&path, None, false, true);
        let mut batch = RecordBatch::new();
        let mut got = Vec::new();
        // Written a few bytes at a time: partial lines and the open record outlive each poll.
        for piece in crlf.chunks(5) {
            append(&path, piece);
            got.extend(drain(&mut t, now, usize::MAX, &mut batch));
        }
        got.extend(drain(
            &mut t,
            now + Duration::from_secs(2),
            1 << 20,
            &mut batch,
        ));
        assert_eq!(
            text(&got),
            [
                ("2026 INFO one".to_owned(), 15),
                (
                    "2026 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)"
                        .to_owned(),
                    110
                ),
                ("2026 INFO two".to_owned(), 125),
            ]
        );
    }

    #[test]
    fn records_carry_their_severity_encoding_and_line_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let now = Instant::now();
        let mut t = TailedPath::open(&path, None, false, true);
        let mut batch = RecordBatch::new();
        let mut got = Vec::new();
        // Written in pieces, so that the multiline record is carried from poll to poll.
        for piece in [
            &TRACE[..20],
            &TRACE[20..70],
            &TRACE[70..],
            b"bad \xff\n",
            b"x\n",
        ] {
            append(&path, piece);
            let mut budget = usize::MAX;
            t.poll(now, &mut budget, &mut batch);
            got.extend(batch.iter().map(|r| (r.severity, r.is_utf8, r.multiline)));
            batch.clear();
        }
        assert_eq!(
            got,
            [
                (Severity::Info, true, false),
                (Severity::Error, true, true),
                (Severity::Info, true, false),
                (Severity::Unspecified, false, false),
            ]
        );
    }

    #[test]
    fn lines_only_records_are_the_same_lines_unexamined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let text = b"ERROR trace_id=0af7651916cd43dd8448eb211c80319c x\nbad \xff\nINFO y\n";
        append(&path, text);
        let now = Instant::now();
        let (mut plain, mut raw) = (
            TailedPath::open(&path, None, false, false),
            TailedPath::open(&path, None, false, false),
        );
        raw.set_lines_only(true);
        let (mut a, mut b) = (RecordBatch::new(), RecordBatch::new());
        let (mut budget_a, mut budget_b) = (usize::MAX, usize::MAX);
        plain.poll(now, &mut budget_a, &mut a);
        raw.poll(now, &mut budget_b, &mut b);
        let lines = |batch: &RecordBatch| -> Vec<(Vec<u8>, u64)> {
            batch
                .iter()
                .map(|r| (r.bytes.to_vec(), r.end_offset))
                .collect()
        };
        assert_eq!(lines(&a), lines(&b));
        assert_eq!(b.len(), 3);
        assert!(
            a.iter()
                .any(|r| r.trace.is_some() && r.severity == Severity::Error)
        );
        for r in b.iter() {
            assert_eq!(
                (r.severity, r.is_utf8, r.may_name_exception, r.trace),
                (Severity::Unspecified, false, false, None)
            );
        }
    }

    #[test]
    fn multiline_off_partial_lines_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut long = vec![b'x'; 2 * MAX_RECORD_BYTES + 10];
        long.push(b'\n');
        append(&path, b"a\n\nb\r\n");
        append(&path, &long);
        append(&path, b"partial");
        let now = Instant::now();
        let mut t = TailedPath::open(&path, None, false, false);
        let mut batch = RecordBatch::new();
        let got = drain(&mut t, now, usize::MAX, &mut batch);
        let sizes: Vec<(usize, u64)> = got.iter().map(|(b, o)| (b.len(), *o)).collect();
        let base = 6u64;
        let m = MAX_RECORD_BYTES as u64;
        // A line is cut where a read of 256 KiB ends with at least a piece's worth of it; the
        // rest, ended within the next read, goes out whole.
        let rest = 2 * m + 10 - m;
        assert_eq!(
            sizes,
            [
                (1, 2),
                (0, 3),
                (1, 6),
                (MAX_RECORD_BYTES, base + m),
                (rest as usize, base + 2 * m + 11),
            ]
        );
        let whole: Vec<u8> = got.iter().skip(3).flat_map(|(b, _)| b.clone()).collect();
        assert_eq!(whole, long[..long.len() - 1]);
        // The partial line goes out once quiet, as it is.
        let later = drain(&mut t, now + Duration::from_secs(2), usize::MAX, &mut batch);
        assert_eq!(text(&later), [("partial".to_owned(), base + 2 * m + 18)]);
    }

    #[test]
    fn signatures_from_the_arena_are_those_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let crlf: Vec<u8> = TRACE
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .flat_map(|l| [l, b"\r\n"].concat())
            .collect();
        // Joined "\r\n" lines move in the arena (their tail is read from the file again).
        for i in 0..60 {
            append(&path, if i % 4 == 1 { &crlf } else { TRACE });
        }
        let now = Instant::now();
        let mut computed = 0;
        for budget in [100usize, 1000, 1 << 20] {
            let mut t = TailedPath::open(&path, None, false, true);
            let mut batch = RecordBatch::new();
            loop {
                let mut left = budget;
                let notes = t.poll(now + Duration::from_secs(2), &mut left, &mut batch);
                for end in batch.ends() {
                    let file = t.file(end.key).unwrap();
                    if let Some(s) = end.signatures {
                        computed += 1;
                        assert_eq!(s, signatures(file, end.end_offset).unwrap());
                    }
                }
                batch.clear();
                if !notes.more {
                    break;
                }
            }
        }
        // A record carried from an earlier poll ends before what the poll read: its tail is read
        // from the file; a poll that reads the whole file has it at hand.
        assert!(computed >= 1, "{computed}");
    }

    #[test]
    fn a_reused_batch_stops_growing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let now = Instant::now();
        let mut t = TailedPath::open(&path, None, false, true);
        let mut batch = RecordBatch::new();
        let mut sizes = Vec::new();
        for _ in 0..50 {
            for _ in 0..100 {
                append(&path, TRACE);
            }
            let mut budget = usize::MAX;
            t.poll(now, &mut budget, &mut batch);
            assert!(!batch.is_empty());
            sizes.push((batch.arena.capacity(), batch.records.capacity()));
            batch.clear();
        }
        assert!(sizes.windows(2).skip(2).all(|w| w[0] == w[1]), "{sizes:?}");
    }

    #[test]
    fn copytruncate_is_noticed_from_the_bytes_before_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        append(&path, b"first line\nsecond line\n");
        let now = Instant::now();
        let mut t = TailedPath::open(&path, None, false, false);
        let mut batch = RecordBatch::new();
        assert_eq!(drain(&mut t, now, usize::MAX, &mut batch).len(), 2);
        // Rewritten in place to the same length: only the hash before the offset tells.
        std::fs::write(&path, b"FIRST LINE\nSECOND LINE\nthird\n").unwrap();
        let mut budget = usize::MAX;
        let notes = t.poll(now, &mut budget, &mut batch);
        assert!(notes.truncated);
        let got: Vec<(Vec<u8>, u64)> = batch
            .iter()
            .map(|r| (r.bytes.to_vec(), r.end_offset))
            .collect();
        assert_eq!(
            text(&got),
            [
                ("FIRST LINE".to_owned(), 11),
                ("SECOND LINE".to_owned(), 23),
                ("third".to_owned(), 29)
            ]
        );
    }
}
