//! Tailing one log path: new bytes as they are appended, rename+create rotation (the old file is
//! drained), copytruncate (the truncation is detected by size and by a hash of the bytes just
//! before the offset), deletion, inode reuse. Records carry the offset just past them, so that a
//! checkpoint only moves once the exporter has acknowledged them.

#![forbid(unsafe_code)]

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::record::is_continuation;

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

/// FNV-1a 64.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Length and hash of `len` bytes at `at` (shorter when the file is shorter).
fn hash_range(file: &File, at: u64, len: u64) -> std::io::Result<(u64, u64)> {
    let mut buf = vec![0u8; len as usize];
    let mut got = 0usize;
    while got < buf.len() {
        let n = file.read_at(buf.get_mut(got..).unwrap_or_default(), at + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok((got as u64, fnv1a(buf.get(..got).unwrap_or_default())))
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

/// One record read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The file it came from.
    pub key: FileKey,
    /// The record, without its trailing newline.
    pub bytes: Vec<u8>,
    /// The offset just past the record in its file.
    pub end_offset: u64,
}

/// An open file being read.
#[derive(Debug)]
struct Reader {
    file: File,
    key: FileKey,
    /// Next byte to read.
    offset: u64,
    /// Bytes of an incomplete line, starting at `offset - pending.len()`.
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    /// Multiline: the record being assembled and the offset past it.
    open: Option<(Vec<u8>, u64)>,
    open_since: Option<Instant>,
    in_traceback: bool,
    /// Bytes before `offset` at the last check, to notice copytruncate.
    last_tail: Option<(u64, u64, u64)>,
    /// Length and hash of the file's first bytes, to find its copy after copytruncate.
    head: (u64, u64),
}

impl Reader {
    /// A reader of `file` at `offset`, with nothing pending; `head` is what is known of the
    /// file's first bytes.
    fn new(file: File, key: FileKey, offset: u64, head: (u64, u64)) -> Reader {
        Reader {
            file,
            key,
            offset,
            pending: Vec::new(),
            pending_since: None,
            open: None,
            open_since: None,
            in_traceback: false,
            last_tail: None,
            head,
        }
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
    partial_timeout: Duration,
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
            partial_timeout: Duration::from_secs(1),
        };
        t.current = open_reader(path, resume, from_end);
        t
    }

    /// Adds a file found elsewhere (a rotated file of ours) to drain from its checkpoint.
    pub fn drain_file(&mut self, path: &Path, checkpoint: &Checkpoint) {
        if let Some(r) = open_reader(path, Some(checkpoint), false)
            && r.offset == checkpoint.offset
        {
            self.draining.push(r);
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
            .map(|r| &r.file)
    }

    /// Unread bytes (file size minus read offset) of the current file.
    pub fn lag(&self) -> u64 {
        self.current
            .as_ref()
            .and_then(|r| {
                r.file
                    .metadata()
                    .ok()
                    .map(|m| m.len().saturating_sub(r.offset))
            })
            .unwrap_or(0)
    }

    /// Whether anything is waiting for a timeout (partial line or open multiline record).
    pub fn has_pending(&self) -> bool {
        self.current
            .iter()
            .chain(self.draining.iter())
            .any(|r| !r.pending.is_empty() || r.open.is_some())
    }

    /// Whether an old (rotated or deleted) file is still being read.
    pub fn is_draining(&self) -> bool {
        !self.draining.is_empty()
    }

    /// Whether nothing is left to do: path gone and every old file drained.
    pub fn finished(&self) -> bool {
        self.current.is_none() && self.draining.is_empty()
    }

    /// Reads what is new, at most `budget` bytes, appending records to `out`.
    pub fn poll(
        &mut self,
        now: Instant,
        budget: &mut usize,
        out: &mut Vec<RawRecord>,
    ) -> PollNotes {
        let mut notes = PollNotes::default();
        // Has the path changed under us?
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                let key = FileKey {
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                if self.current.as_ref().map(|r| r.key) != Some(key) {
                    if let Some(old) = self.current.take() {
                        notes.rotated = true;
                        self.draining.push(old);
                    }
                    // A file that appeared while we watch is read from its start.
                    self.current = open_reader(&self.path, None, false);
                }
            }
            Err(_) => {
                if let Some(old) = self.current.take() {
                    notes.deleted = true;
                    self.draining.push(old);
                }
            }
        }
        let multiline = self.multiline;
        let timeout = self.partial_timeout;
        // Old files first: their records come before the new file's.
        let mut still = Vec::new();
        for mut r in self.draining.drain(..) {
            let eof = read_some(
                &mut r, now, budget, out, multiline, timeout, &mut notes, true,
            );
            if !eof {
                still.push(r);
            }
        }
        self.draining = still;
        if let Some(r) = self.current.as_mut() {
            read_some(r, now, budget, out, multiline, timeout, &mut notes, false);
        }
        // copytruncate: bytes written before the truncation that we had not read yet are only in
        // the copy; read them from there.
        let found = notes.truncated_at.and_then(|(offset, head)| {
            (head.0 > 0)
                .then(|| find_copy(&self.path, head, offset).map(|p| (p, offset, head)))
                .flatten()
        });
        if let Some((copy, offset, head)) = found
            && let Ok(file) = File::open(&copy)
            && let Ok(meta) = file.metadata()
        {
            let key = FileKey {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            let mut reader = Reader::new(file, key, offset, head);
            read_some(
                &mut reader,
                now,
                budget,
                out,
                multiline,
                timeout,
                &mut notes,
                true,
            );
            self.draining.push(reader);
        }
        notes
    }
}

fn open_reader(path: &Path, resume: Option<&Checkpoint>, from_end: bool) -> Option<Reader> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
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
    Some(Reader::new(file, key, offset, (0, fnv1a(&[]))))
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
        File::open(p)
            .and_then(|f| hash_range(&f, 0, head.0))
            .is_ok_and(|h| h == head)
    })
}

/// Emits a complete line through the multiline assembler.
fn push_line(
    r: &mut Reader,
    line: Vec<u8>,
    end: u64,
    now: Instant,
    multiline: bool,
    out: &mut Vec<RawRecord>,
) {
    if !multiline {
        out.push(RawRecord {
            key: r.key,
            bytes: line,
            end_offset: end,
        });
        return;
    }
    let continues = r.open.is_some() && is_continuation(&line, r.in_traceback);
    if line.starts_with(b"Traceback (most recent call last):") {
        r.in_traceback = true;
    } else if r.in_traceback && !line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        // The exception line closes the traceback (it is still part of it).
        r.in_traceback = false;
    }
    if continues
        && let Some((record, record_end)) = r.open.as_mut()
        && record.len() + line.len() < MAX_RECORD_BYTES
    {
        record.push(b'\n');
        record.extend_from_slice(&line);
        *record_end = end;
        return;
    }
    if let Some((record, record_end)) = r.open.take() {
        out.push(RawRecord {
            key: r.key,
            bytes: record,
            end_offset: record_end,
        });
    }
    r.open = Some((line, end));
    r.open_since = Some(now);
}

#[allow(clippy::too_many_arguments)]
fn read_some(
    r: &mut Reader,
    now: Instant,
    budget: &mut usize,
    out: &mut Vec<RawRecord>,
    multiline: bool,
    timeout: Duration,
    notes: &mut PollNotes,
    draining: bool,
) -> bool {
    let size = match r.file.metadata() {
        Ok(m) => m.len(),
        Err(_) => return true,
    };
    // copytruncate: the file shrank, or the bytes before our offset changed.
    let truncated = size < r.offset
        || r.last_tail.is_some_and(|(at, len, hash)| {
            at == r.offset
                && hash_range(&r.file, r.offset.saturating_sub(len), len)
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
        if let Some((record, end)) = r.open.take() {
            out.push(RawRecord {
                key: r.key,
                bytes: record,
                end_offset: end.min(size),
            });
        }
        r.last_tail = None;
    }
    let mut buf = vec![0u8; READ_CHUNK.min((*budget).max(1))];
    let mut eof = false;
    while *budget > 0 {
        let want = buf.len().min(*budget);
        let n = match r
            .file
            .read_at(buf.get_mut(..want).unwrap_or_default(), r.offset)
        {
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
        *budget = budget.saturating_sub(n);
        let chunk = buf.get(..n).unwrap_or_default();
        let chunk_start = r.offset;
        r.offset += n as u64;
        let mut line_start = 0usize;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                let mut line = std::mem::take(&mut r.pending);
                line.extend_from_slice(chunk.get(line_start..i).unwrap_or_default());
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                push_line(r, line, chunk_start + i as u64 + 1, now, multiline, out);
                r.pending_since = None;
                line_start = i + 1;
            }
        }
        r.pending
            .extend_from_slice(chunk.get(line_start..).unwrap_or_default());
        if !r.pending.is_empty() && r.pending_since.is_none() {
            r.pending_since = Some(now);
        }
        // A very long line goes out in pieces: nothing is dropped, memory stays bounded.
        while r.pending.len() >= MAX_RECORD_BYTES {
            let rest = r.pending.split_off(MAX_RECORD_BYTES);
            let piece = std::mem::replace(&mut r.pending, rest);
            let end = r.offset - r.pending.len() as u64;
            notes.split_lines += 1;
            if let Some((record, record_end)) = r.open.take() {
                out.push(RawRecord {
                    key: r.key,
                    bytes: record,
                    end_offset: record_end,
                });
            }
            out.push(RawRecord {
                key: r.key,
                bytes: piece,
                end_offset: end,
            });
        }
    }
    if !eof && *budget == 0 {
        notes.more = true;
    }
    // Timeouts: a partial last line waits, then goes out as it is; an open multiline record is
    // closed after the same quiet period.
    let quiet = |since: Option<Instant>| since.is_some_and(|s| now.duration_since(s) >= timeout);
    // Only at the end of the file: a file that ran out of budget mid-line is not "quiet".
    if !r.pending.is_empty() && eof && (quiet(r.pending_since) || draining) {
        let line = std::mem::take(&mut r.pending);
        let end = r.offset;
        r.pending_since = None;
        push_line(r, line, end, now, multiline, out);
    }
    if (quiet(r.open_since) || (draining && eof))
        && let Some((record, end)) = r.open.take()
    {
        out.push(RawRecord {
            key: r.key,
            bytes: record,
            end_offset: end,
        });
    }
    if r.head.0 < SIGNATURE_BYTES && r.offset > r.head.0 {
        let len = r.offset.min(SIGNATURE_BYTES);
        if let Ok(h) = hash_range(&r.file, 0, len) {
            r.head = h;
        }
    }
    if r.offset >= SIGNATURE_BYTES.min(1) {
        let len = r.offset.min(64);
        r.last_tail = hash_range(&r.file, r.offset - len, len)
            .ok()
            .map(|(l, h)| (r.offset, l, h));
    }
    eof && r.pending.is_empty() && r.open.is_none()
}
