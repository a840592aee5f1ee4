//! Container stdout/stderr logs: the kubelet's CRI files under `/var/log/pods` and Docker's
//! json-file logs. Pure parsers (paths, lines, timestamps) and the per-file assembler that joins
//! partial lines (`P` … `F`, Docker's 16 KiB pieces) and stack traces within one stream. No I/O:
//! the pipeline feeds it the lines the tailer read and exports what comes out.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::path::{Component, Path};
use std::time::{Duration, Instant};

use super::record::{Severity, is_continuation, severity};
use super::tail::{FileKey, MAX_RECORD_BYTES};

/// Where the kubelet keeps pods' container logs.
pub const DEFAULT_PODS_DIR: &str = "/var/log/pods";
/// Where Docker keeps json-file container logs.
pub const DEFAULT_DOCKER_DIR: &str = "/var/lib/docker/containers";
/// How long a partial line or an open stack trace waits for its next piece before it goes out.
pub const QUIET: Duration = Duration::from_secs(5);

/// Why a container log line (or file) was not what its format says; each is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Fewer fields than the format has (CRI: time, stream, tag, content; json-file: `log`,
    /// `stream`, `time`).
    MissingFields,
    /// The time is not RFC 3339.
    BadTimestamp,
    /// The stream is neither `stdout` nor `stderr`.
    BadStream,
    /// The CRI tag is neither `P` nor `F`.
    BadTag,
    /// A json-file line that is not a JSON object (or not UTF-8).
    BadJson,
    /// The content is not UTF-8 (sent as bytes).
    InvalidUtf8,
    /// A line longer than 1 MiB (sent in pieces).
    LongLine,
    /// Partial pieces that reached 1 MiB without a final piece (sent joined so far).
    PartialCap,
    /// Partial pieces whose final piece did not come within the quiet period.
    PartialTimeout,
    /// The file went away with a partial line or a record open.
    DeletedMidRecord,
    /// A file under the pods directory whose path is not `<ns>_<pod>_<uid>/<container>/<n>.log`.
    BadPath,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 11] = [
        Reason::MissingFields,
        Reason::BadTimestamp,
        Reason::BadStream,
        Reason::BadTag,
        Reason::BadJson,
        Reason::InvalidUtf8,
        Reason::LongLine,
        Reason::PartialCap,
        Reason::PartialTimeout,
        Reason::DeletedMidRecord,
        Reason::BadPath,
    ];

    /// The `reason` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Reason::MissingFields => "missing_fields",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::BadStream => "bad_stream",
            Reason::BadTag => "bad_tag",
            Reason::BadJson => "bad_json",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::LongLine => "long_line",
            Reason::PartialCap => "partial_cap",
            Reason::PartialTimeout => "partial_timeout",
            Reason::DeletedMidRecord => "deleted_mid_record",
            Reason::BadPath => "bad_path",
        }
    }

    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Counts per [`Reason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; Reason::ALL.len()]);

impl Counts {
    /// One more of `reason`.
    pub fn add(&mut self, reason: Reason) {
        if let Some(c) = self.0.get_mut(reason.index()) {
            *c += 1;
        }
    }

    /// How many of `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }
}

/// A container's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The `log.iostream` value.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn parse(s: &[u8]) -> Option<Stream> {
        match s {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// The format of a container log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<RFC 3339 nano> <stream> <P|F> <content>` (the kubelet's CRI log files).
    Cri,
    /// `{"log":"…\n","stream":"stdout","time":"…"}` (Docker's json-file driver).
    DockerJson,
}

/// What the path of a container log says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerLogPath {
    /// `k8s.namespace.name`.
    pub namespace: String,
    /// `k8s.pod.name`.
    pub pod: String,
    /// `k8s.pod.uid`.
    pub pod_uid: String,
    /// `k8s.container.name`.
    pub container: String,
    /// `k8s.container.restart_count`.
    pub restart_count: Option<u32>,
    /// `container.id` (Docker's json-file logs).
    pub container_id: String,
}

impl ContainerLogPath {
    /// The resource attributes it gives, in semantic-convention names.
    pub fn attributes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: &str| {
            if !v.is_empty() {
                out.push((k.to_owned(), v.to_owned()));
            }
        };
        push("k8s.namespace.name", &self.namespace);
        push("k8s.pod.name", &self.pod);
        push("k8s.pod.uid", &self.pod_uid);
        push("k8s.container.name", &self.container);
        if let Some(n) = self.restart_count {
            push("k8s.container.restart_count", &n.to_string());
        }
        push("container.id", &self.container_id);
        out
    }
}

/// `<namespace>_<pod>_<uid>` (a pod directory's name): names and uids never hold `_`.
pub fn parse_pod_dir(name: &str) -> Option<(&str, &str, &str)> {
    let mut parts = name.split('_');
    let (ns, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !ns.is_empty() && !pod.is_empty() && is_uid(uid))
        .then_some((ns, pod, uid))
}

fn is_uid(s: &str) -> bool {
    (32..=36).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container log a path names, if it is under `pods_dir` or `docker_dir`: its format and
/// what its path says, or [`Reason::BadPath`] for a `.log` file under `pods_dir` laid out
/// otherwise (read as CRI all the same, without Kubernetes attributes). `None`: not a container
/// log.
pub fn classify(
    pods_dir: &Path,
    docker_dir: &Path,
    path: &Path,
) -> Option<(Format, Result<ContainerLogPath, Reason>)> {
    let names = |rel: &Path| -> Option<Vec<String>> {
        rel.components()
            .map(|c| match c {
                Component::Normal(n) => n.to_str().map(str::to_owned),
                _ => None,
            })
            .collect()
    };
    if !pods_dir.as_os_str().is_empty()
        && let Ok(rel) = path.strip_prefix(pods_dir)
    {
        let parsed = names(rel).and_then(|n| match n.as_slice() {
            [dir, container, file] => {
                let (ns, pod, uid) = parse_pod_dir(dir)?;
                let restart = file.strip_suffix(".log")?.parse::<u32>().ok()?;
                (!container.is_empty()).then(|| ContainerLogPath {
                    namespace: ns.to_owned(),
                    pod: pod.to_owned(),
                    pod_uid: uid.to_owned(),
                    container: container.clone(),
                    restart_count: Some(restart),
                    container_id: String::new(),
                })
            }
            _ => None,
        });
        return Some((Format::Cri, parsed.ok_or(Reason::BadPath)));
    }
    if !docker_dir.as_os_str().is_empty()
        && let Ok(rel) = path.strip_prefix(docker_dir)
        && let Some([id, file]) = names(rel).as_deref()
        && is_container_id(id)
        && file.strip_suffix("-json.log") == Some(id.as_str())
    {
        return Some((
            Format::DockerJson,
            Ok(ContainerLogPath {
                container_id: id.clone(),
                ..ContainerLogPath::default()
            }),
        ));
    }
    None
}

/// `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` (the kubelet's links): pod,
/// namespace, container name and container id.
pub fn parse_containers_link(name: &str) -> Option<(&str, &str, &str, &str)> {
    let stem = name.strip_suffix(".log")?;
    let (rest, id) = stem.rsplit_once('-')?;
    let mut parts = rest.splitn(3, '_');
    let (pod, ns, container) = (parts.next()?, parts.next()?, parts.next()?);
    (is_container_id(id) && !pod.is_empty() && !ns.is_empty() && !container.is_empty())
        .then_some((pod, ns, container, id))
}

/// The Kubernetes names of a writer in pod `pod_uid` (from its cgroup) and container
/// `container_id`, from the names of the pods directory's entries (`<ns>_<pod>_<uid>`) and of
/// the kubelet's links beside it (`<pod>_<ns>_<container>-<id>.log`): `k8s.namespace.name`,
/// `k8s.pod.name`, and `k8s.container.name` when a link names the container.
pub fn writer_names<'a>(
    pod_dirs: impl IntoIterator<Item = &'a str>,
    links: impl IntoIterator<Item = &'a str>,
    pod_uid: &str,
    container_id: &str,
) -> Vec<(String, String)> {
    let Some((ns, pod)) = pod_dirs.into_iter().find_map(|d| {
        parse_pod_dir(d)
            .filter(|(_, _, uid)| uid.eq_ignore_ascii_case(pod_uid))
            .map(|(ns, pod, _)| (ns, pod))
    }) else {
        return Vec::new();
    };
    let mut out = vec![
        ("k8s.namespace.name".to_owned(), ns.to_owned()),
        ("k8s.pod.name".to_owned(), pod.to_owned()),
    ];
    if !container_id.is_empty()
        && let Some(container) = links.into_iter().find_map(|l| {
            parse_containers_link(l)
                .filter(|(p, n, _, id)| *p == pod && *n == ns && *id == container_id)
                .map(|(_, _, c, _)| c)
        })
    {
        out.push(("k8s.container.name".to_owned(), container.to_owned()));
    }
    out
}

/// Unix nanoseconds of an RFC 3339 time (`2026-12-03T12:13:37.123456789Z`, `…+01:00`): up to
/// nine fraction digits, years 1970 to 9999.
pub fn parse_rfc3339(s: &[u8]) -> Option<u64> {
    TimeCache::default().parse(s)
}

/// The digits of `s[r]` as a number.
fn digits(s: &[u8], r: std::ops::Range<usize>) -> Option<u64> {
    s.get(r)?.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
    })
}

/// [`parse_rfc3339`] remembering the seconds of the last date and time (its first 19 bytes):
/// the lines of one log share them for a second, so only the fraction and offset are read.
#[derive(Debug, Default)]
pub struct TimeCache {
    last: Option<([u8; 19], i64)>,
}

impl TimeCache {
    /// Unix nanoseconds of an RFC 3339 time, as [`parse_rfc3339`].
    pub fn parse(&mut self, s: &[u8]) -> Option<u64> {
        let head: [u8; 19] = s.get(..19)?.try_into().ok()?;
        let local = match self.last {
            Some((h, secs)) if h == head => secs,
            _ => {
                let secs = local_seconds(s)?;
                self.last = Some((head, secs));
                secs
            }
        };
        let (nanos, offset_secs) = fraction_and_offset(s)?;
        u64::try_from(local - offset_secs)
            .ok()?
            .checked_mul(1_000_000_000)?
            .checked_add(nanos)
    }
}

/// Seconds from 1970-01-01T00:00:00 of the date and time in `s[..19]`, offset not applied.
fn local_seconds(s: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| digits(s, r);
    if s.get(4) != Some(&b'-')
        || s.get(7) != Some(&b'-')
        || !matches!(s.get(10), Some(b'T' | b't' | b' '))
        || s.get(13) != Some(&b':')
        || s.get(16) != Some(&b':')
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > *month_days.get(month as usize - 1)? {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let (y, m) = if month <= 2 {
        (year as i64 - 1, month as i64 + 9)
    } else {
        (year as i64, month as i64 - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + (hour * 3600 + minute * 60 + second) as i64)
}

/// The nanoseconds of the fraction after `s[..19]` and the offset's seconds (`Z`: 0).
fn fraction_and_offset(s: &[u8]) -> Option<(u64, i64)> {
    let num = |r: std::ops::Range<usize>| digits(s, r);
    let mut at = 19;
    let mut nanos = 0u64;
    if s.get(at) == Some(&b'.') {
        at += 1;
        let n = s
            .get(at..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = num(at..at + n)? * 10u64.pow(9 - n as u32);
        at += n;
    }
    let offset_secs: i64 = match s.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if s.len() == at + 6 && s.get(at + 3) == Some(&b':') => {
            let (h, m) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let v = (h * 3600 + m * 60) as i64;
            if *sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    Some((nanos, offset_secs))
}

/// One parsed line of a container log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// Unix nanoseconds.
    pub time: u64,
    /// The stream.
    pub stream: Stream,
    /// A piece of a longer line: more of it follows.
    pub partial: bool,
    /// The content, without the newline.
    pub content: Cow<'a, [u8]>,
}

/// Parses one CRI line: `<time> <stream> <tag> <content>`; the tag is `P` or `F`, optionally
/// followed by `:`-separated further tags.
pub fn parse_cri(line: &[u8]) -> Result<Line<'_>, Reason> {
    parse_cri_with(line, &mut TimeCache::default())
}

/// [`parse_cri`] with the times read through `times`.
pub fn parse_cri_with<'a>(line: &'a [u8], times: &mut TimeCache) -> Result<Line<'a>, Reason> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = fields.next().unwrap_or_default();
    let (Some(stream), Some(tag)) = (fields.next(), fields.next()) else {
        return Err(Reason::MissingFields);
    };
    let content = fields.next().unwrap_or_default();
    let time = times.parse(time).ok_or(Reason::BadTimestamp)?;
    let stream = Stream::parse(stream).ok_or(Reason::BadStream)?;
    let partial = match tag.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(Reason::BadTag),
    };
    Ok(Line {
        time,
        stream,
        partial,
        content: Cow::Borrowed(content),
    })
}

#[derive(serde::Deserialize)]
struct DockerLine<'a> {
    #[serde(borrow)]
    log: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
}

/// Parses one json-file line; a `log` without its trailing newline is a piece of a longer line.
pub fn parse_docker_json(line: &[u8]) -> Result<Line<'_>, Reason> {
    let parsed: DockerLine<'_> = serde_json::from_slice(line).map_err(|_| Reason::BadJson)?;
    let (Some(log), Some(stream), Some(time)) = (parsed.log, parsed.stream, parsed.time) else {
        return Err(Reason::MissingFields);
    };
    let time = parse_rfc3339(time.as_bytes()).ok_or(Reason::BadTimestamp)?;
    let stream = Stream::parse(stream.as_bytes()).ok_or(Reason::BadStream)?;
    let (content, partial) = match log {
        Cow::Borrowed(s) => match s.strip_suffix('\n') {
            Some(c) => (Cow::Borrowed(c.as_bytes()), false),
            None => (Cow::Borrowed(s.as_bytes()), true),
        },
        Cow::Owned(mut s) => {
            let partial = !s.ends_with('\n');
            if !partial {
                s.pop();
            }
            (Cow::Owned(s.into_bytes()), partial)
        }
    };
    Ok(Line {
        time,
        stream,
        partial,
        content,
    })
}

/// One assembled record, its body in [`ContainerBatch`]'s arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Which file (resource) it belongs to, as the caller numbers them.
    pub group: usize,
    /// Unix nanoseconds from the line (0: the line had no readable time).
    pub time: u64,
    /// The stream (`None`: the line did not say).
    pub stream: Option<Stream>,
    start: usize,
    end: usize,
    /// Its severity.
    pub severity: Severity,
    /// Whether the body is UTF-8.
    pub is_utf8: bool,
}

/// Assembled records, their bodies in one arena.
#[derive(Debug, Default)]
pub struct ContainerBatch {
    arena: Vec<u8>,
    spans: Vec<Span>,
}

impl ContainerBatch {
    /// Records held.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// No records.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.spans.clear();
    }

    /// Each record with its body.
    pub fn iter(&self) -> impl Iterator<Item = (Span, &[u8])> + '_ {
        self.range(0..self.spans.len())
    }

    /// The records `range` (by index) with their bodies.
    pub fn range(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = (Span, &[u8])> + '_ {
        self.spans
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(|s| (*s, self.arena.get(s.start..s.end).unwrap_or_default()))
    }

    /// Adds a record made of `parts`; `utf8` says whether it is UTF-8 when the caller knows.
    fn push(
        &mut self,
        group: usize,
        time: u64,
        stream: Option<Stream>,
        parts: &[&[u8]],
        utf8: Option<bool>,
    ) {
        let start = self.arena.len();
        for p in parts {
            self.arena.extend_from_slice(p);
        }
        let body = self.arena.get(start..).unwrap_or_default();
        self.spans.push(Span {
            group,
            time,
            stream,
            start,
            end: self.arena.len(),
            severity: severity(body),
            is_utf8: utf8.unwrap_or_else(|| std::str::from_utf8(body).is_ok()),
        });
    }
}

/// A complete line for [`Assembler::complete`]: its time, content and whether it is UTF-8
/// (when known).
#[derive(Debug, Clone, Copy)]
struct WholeLine<'a> {
    time: u64,
    body: &'a [u8],
    utf8: Option<bool>,
}

/// Where a held piece starts: its file and offset (`None`: not known, as for the first line
/// read from a file since start).
type Start = (FileKey, Option<u64>);

/// One stream's pieces between lines.
#[derive(Debug, Default)]
struct StreamState {
    /// Partial pieces joined so far, their first time, where they start and since when.
    partial: Vec<u8>,
    partial_time: u64,
    partial_start: Option<Start>,
    partial_since: Option<Instant>,
    /// Every piece joined so far is UTF-8 (then so is their join).
    partial_utf8: bool,
    /// The open (multiline) record.
    open: Vec<u8>,
    /// Every line of it is UTF-8 (joined by newlines, so is the record).
    open_utf8: bool,
    open_time: u64,
    open_start: Option<Start>,
    open_since: Option<Instant>,
    in_traceback: bool,
}

/// Joins one container log file's lines into records: partial pieces within a stream, then (if
/// `multiline`) stack traces and tracebacks within a stream. Everything held is bounded by
/// [`MAX_RECORD_BYTES`] per stream and goes out after [`QUIET`].
#[derive(Debug)]
pub struct Assembler {
    format: Format,
    multiline: bool,
    group: usize,
    streams: [StreamState; 2],
    /// Per file read, the offset past its last line.
    last_end: Vec<(FileKey, u64)>,
    /// A line longer than the tailer's pieces is being read: its stream and time.
    long_line: Option<(Option<Stream>, u64)>,
    /// The seconds of the last line's time.
    times: TimeCache,
}

/// How far a file's checkpoint may move, given what an assembler holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// Nothing of the file is held: as far as read.
    Anywhere,
    /// Up to this offset (the start of the first held piece).
    UpTo(u64),
    /// Not at all (a held piece's start is not known).
    Hold,
}

impl Assembler {
    /// An assembler for one file of `format`, its records numbered `group`.
    pub fn new(format: Format, multiline: bool, group: usize) -> Assembler {
        Assembler {
            format,
            multiline,
            group,
            streams: Default::default(),
            last_end: Vec::new(),
            long_line: None,
            times: TimeCache::default(),
        }
    }

    /// The group its records carry.
    pub fn group(&self) -> usize {
        self.group
    }

    /// Changes the group its records carry from now on.
    pub fn set_group(&mut self, group: usize) {
        self.group = group;
    }

    /// Turns multiline joining on or off (an open record goes out first).
    pub fn set_multiline(&mut self, multiline: bool, out: &mut ContainerBatch) {
        if !multiline {
            for s in [Stream::Stdout, Stream::Stderr] {
                self.close_open(s, out);
            }
        }
        self.multiline = multiline;
    }

    /// Whether a partial line or an open record is held.
    pub fn has_pending(&self) -> bool {
        self.streams
            .iter()
            .any(|s| s.partial_start.is_some() || s.open_start.is_some())
    }

    /// Feeds one line the tailer read from file `key`, ending at `end_offset`.
    pub fn push(
        &mut self,
        key: FileKey,
        line: &[u8],
        end_offset: u64,
        now: Instant,
        out: &mut ContainerBatch,
        counts: &mut Counts,
    ) {
        let start = match self.last_end.iter_mut().find(|(k, _)| *k == key) {
            Some((_, end)) => {
                let s = *end;
                *end = end_offset;
                Some(s)
            }
            None => {
                self.last_end.push((key, end_offset));
                None
            }
        };
        let start = (key, start);
        // The tailer cuts lines longer than MAX_RECORD_BYTES into pieces of exactly that size.
        let cut = line.len() >= MAX_RECORD_BYTES;
        if let Some((stream, time)) = self.long_line {
            // A later piece of a long line: its content as it is, with the line's time.
            out.push(self.group, time, stream, &[line], None);
            if !cut {
                self.long_line = None;
            }
            return;
        }
        let parsed = match self.format {
            Format::Cri => parse_cri_with(line, &mut self.times),
            Format::DockerJson => parse_docker_json(line),
        };
        let parsed = match parsed {
            Ok(l) => l,
            Err(reason) => {
                // As faithful as possible: the raw line.
                counts.add(if cut { Reason::LongLine } else { reason });
                if cut {
                    // The first piece of a long line (a json-file line cut before its end).
                    let time = parse_rfc3339(line.split(|&b| b == b' ').next().unwrap_or(&[]));
                    let stream = line.split(|&b| b == b' ').nth(1).and_then(Stream::parse);
                    self.long_line = Some((stream, time.unwrap_or(0)));
                }
                out.push(self.group, 0, None, &[line], None);
                return;
            }
        };
        // Checked once per line: the record it goes into knows from this.
        let utf8 = std::str::from_utf8(&parsed.content).is_ok();
        if !utf8 {
            counts.add(Reason::InvalidUtf8);
        }
        if cut {
            counts.add(Reason::LongLine);
            self.long_line = Some((Some(parsed.stream), parsed.time));
            // Whatever was held for the stream goes out with it, in order.
            self.close_open(parsed.stream, out);
            let st = self.stream(parsed.stream);
            let partial = std::mem::take(&mut st.partial);
            let time = if st.partial_start.take().is_some() {
                st.partial_time
            } else {
                parsed.time
            };
            out.push(
                self.group,
                time,
                Some(parsed.stream),
                &[&partial, &parsed.content],
                None,
            );
            return;
        }
        let stream = parsed.stream;
        let st = self.stream(stream);
        if !parsed.partial && st.partial_start.is_none() {
            // The common case, a whole line: no copy before it is placed.
            let line = WholeLine {
                time: parsed.time,
                body: &parsed.content,
                utf8: Some(utf8),
            };
            self.complete(stream, line, start, now, out);
            return;
        }
        if st.partial_start.is_none() {
            st.partial_start = Some(start);
            st.partial_time = parsed.time;
            st.partial_since = Some(now);
            st.partial_utf8 = true;
        }
        if st.partial.len() + parsed.content.len() > MAX_RECORD_BYTES {
            // Bounded: what was joined so far goes out as one record.
            counts.add(Reason::PartialCap);
            self.flush_partial(stream, now, out);
            let st = self.stream(stream);
            st.partial_start = Some(start);
            st.partial_time = parsed.time;
            st.partial_since = Some(now);
            st.partial_utf8 = true;
        }
        let st = self.stream(stream);
        st.partial.extend_from_slice(&parsed.content);
        st.partial_utf8 &= utf8;
        if !parsed.partial {
            self.flush_partial(stream, now, out);
        }
    }

    fn stream(&mut self, s: Stream) -> &mut StreamState {
        let [a, b] = &mut self.streams;
        if s.index() == 0 { a } else { b }
    }

    /// Sends the joined partial pieces of `stream` on as one line.
    fn flush_partial(&mut self, stream: Stream, now: Instant, out: &mut ContainerBatch) {
        let st = self.stream(stream);
        let Some(start) = st.partial_start.take() else {
            return;
        };
        st.partial_since = None;
        let mut body = std::mem::take(&mut st.partial);
        let time = st.partial_time;
        // Pieces that are each UTF-8 join into UTF-8; others may (a character cut in two).
        let utf8 = st.partial_utf8.then_some(true);
        let line = WholeLine {
            time,
            body: &body,
            utf8,
        };
        self.complete(stream, line, start, now, out);
        // Keep the buffer's memory for the next line.
        body.clear();
        self.stream(stream).partial = body;
    }

    /// A complete line of `stream`: joined to the open record or opening one.
    fn complete(
        &mut self,
        stream: Stream,
        line: WholeLine<'_>,
        start: Start,
        now: Instant,
        out: &mut ContainerBatch,
    ) {
        let WholeLine { time, body, utf8 } = line;
        let group = self.group;
        if !self.multiline {
            out.push(group, time, Some(stream), &[body], utf8);
            return;
        }
        let utf8 = utf8.unwrap_or_else(|| std::str::from_utf8(body).is_ok());
        let st = self.stream(stream);
        let continues = st.open_start.is_some()
            && is_continuation(body, st.in_traceback)
            && st.open.len() + 1 + body.len() <= MAX_RECORD_BYTES;
        if body.starts_with(b"Traceback (most recent call last):") {
            st.in_traceback = true;
        } else if st.in_traceback && !body.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            st.in_traceback = false;
        }
        if continues {
            st.open.push(b'\n');
            st.open.extend_from_slice(body);
            st.open_utf8 &= utf8;
            return;
        }
        self.close_open(stream, out);
        let st = self.stream(stream);
        st.open.clear();
        st.open.extend_from_slice(body);
        st.open_utf8 = utf8;
        st.open_time = time;
        st.open_start = Some(start);
        st.open_since = Some(now);
    }

    fn close_open(&mut self, stream: Stream, out: &mut ContainerBatch) {
        let group = self.group;
        let st = self.stream(stream);
        if st.open_start.take().is_some() {
            st.open_since = None;
            out.push(
                group,
                st.open_time,
                Some(stream),
                &[&st.open],
                Some(st.open_utf8),
            );
            st.open.clear();
        }
    }

    /// Sends on what waited longer than `quiet`: partial pieces (counted) and open records.
    pub fn flush_quiet(
        &mut self,
        now: Instant,
        quiet: Duration,
        out: &mut ContainerBatch,
        counts: &mut Counts,
    ) {
        let old = |since: Option<Instant>| since.is_some_and(|s| now.duration_since(s) >= quiet);
        for s in [Stream::Stdout, Stream::Stderr] {
            if old(self.stream(s).partial_since) {
                counts.add(Reason::PartialTimeout);
                self.flush_partial(s, now, out);
            }
            if old(self.stream(s).open_since) {
                self.close_open(s, out);
            }
        }
    }

    /// Sends on everything held (the file is gone, or the pipeline stops); a partial line
    /// counts as `reason`.
    pub fn flush_all(
        &mut self,
        now: Instant,
        reason: Reason,
        out: &mut ContainerBatch,
        counts: &mut Counts,
    ) {
        for s in [Stream::Stdout, Stream::Stderr] {
            if self.stream(s).partial_start.is_some() {
                counts.add(reason);
                self.flush_partial(s, now, out);
            }
            self.close_open(s, out);
        }
        self.long_line = None;
    }

    /// Per file read, the offset past its last line.
    pub fn read_ends(&self) -> &[(FileKey, u64)] {
        &self.last_end
    }

    /// How far the checkpoint of file `key` may move.
    pub fn safe(&self, key: FileKey) -> Safe {
        let mut safe = Safe::Anywhere;
        for st in &self.streams {
            for (k, offset) in [st.partial_start, st.open_start].into_iter().flatten() {
                if k != key {
                    continue;
                }
                safe = match (safe, offset) {
                    (Safe::Hold, _) | (_, None) => Safe::Hold,
                    (Safe::Anywhere, Some(o)) => Safe::UpTo(o),
                    (Safe::UpTo(a), Some(o)) => Safe::UpTo(a.min(o)),
                };
            }
        }
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-12-03T12:13:37.123456789Z";
    const T0_NANOS: u64 = 1_796_300_017_123_456_789;
    const KEY: FileKey = FileKey { dev: 1, ino: 2 };

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339(T0.as_bytes()), Some(T0_NANOS));
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339(b"2026-12-03T13:13:37.123456789+01:00"),
            Some(T0_NANOS)
        );
        assert_eq!(
            parse_rfc3339(b"2026-12-03T12:13:37.1Z"),
            Some(T0_NANOS - 23_456_789)
        );
        assert_eq!(
            parse_rfc3339(b"2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000_000_000)
        );
        for bad in [
            &b""[..],
            b"2026-12-03",
            b"2026-12-03T12:13:37",
            b"2026-13-03T12:13:37Z",
            b"2026-02-30T12:13:37Z",
            b"2025-02-29T00:00:00Z",
            b"2026-12-03T24:13:37Z",
            b"2026-12-03T12:13:37.Z",
            b"2026-12-03T12:13:37.1234567890Z",
            b"2026-12-03T12:13:37+0100",
            b"1969-12-31T23:59:59Z",
            b"2026-12-03T12:13:37Zjunk",
            b"2026-1x-03T12:13:37Z",
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse_rfc3339(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_time_cache_reads_what_a_fresh_parse_reads() {
        // One cache through a sequence: same second (other fractions and offsets), a bad
        // fraction and a bad date behind a remembered head, a new second, and back.
        let times: [&[u8]; 10] = [
            T0.as_bytes(),
            b"2026-12-03T12:13:37.9Z",
            b"2026-12-03T12:13:37+01:00",
            b"2026-12-03T12:13:37.Z",
            b"2026-12-03T12:13:37",
            b"2026-12-03T12:13:38.000000001Z",
            b"2026-13-03T12:13:38Z",
            b"2026-12-03T12:13:38.5-00:30",
            T0.as_bytes(),
            b"2026-12-03T12:13:37Zjunk",
        ];
        let mut cache = TimeCache::default();
        for t in times {
            assert_eq!(
                cache.parse(t),
                parse_rfc3339(t),
                "{}",
                String::from_utf8_lossy(t)
            );
        }
        assert_eq!(cache.parse(T0.as_bytes()), Some(T0_NANOS));
    }

    /// A parsed line, owned.
    fn owned(l: Result<Line<'_>, Reason>) -> Line<'static> {
        let l = l.unwrap();
        Line {
            content: Cow::Owned(l.content.into_owned()),
            ..l
        }
    }

    #[test]
    fn cri_lines_good_and_bad() {
        let l = owned(parse_cri(format!("{T0} stdout F hello world").as_bytes()));
        assert_eq!(
            (l.time, l.stream, l.partial, &*l.content),
            (T0_NANOS, Stream::Stdout, false, &b"hello world"[..])
        );
        let l = owned(parse_cri(format!("{T0} stderr P part").as_bytes()));
        assert!(l.partial && l.stream == Stream::Stderr);
        let l = owned(parse_cri(format!("{T0} stdout F").as_bytes()));
        assert_eq!(&*l.content, b"", "an empty line has no content field");
        let l = owned(parse_cri(
            format!("{T0} stdout F:x  two  spaces ").as_bytes(),
        ));
        assert_eq!(&*l.content, b" two  spaces ");
        let table: [(Vec<u8>, Reason); 8] = [
            (b"".to_vec(), Reason::MissingFields),
            (b"just text".to_vec(), Reason::MissingFields),
            (format!("{T0} stdout").into_bytes(), Reason::MissingFields),
            (b"yesterday stdout F x".to_vec(), Reason::BadTimestamp),
            (format!("{T0} stdin F x").into_bytes(), Reason::BadStream),
            (format!("{T0} stdout X x").into_bytes(), Reason::BadTag),
            (format!("{T0} stdout  x").into_bytes(), Reason::BadTag),
            (b"\xff\xfe stdout F x".to_vec(), Reason::BadTimestamp),
        ];
        for (line, reason) in table {
            assert_eq!(
                parse_cri(&line).map(|_| ()),
                Err(reason),
                "{:?}",
                String::from_utf8_lossy(&line)
            );
        }
        // Invalid UTF-8 content still parses: the content goes out as bytes.
        let l = owned(parse_cri(format!("{T0} stdout F \u{0}").as_bytes()));
        assert_eq!(&*l.content, b"\0");
        let mut raw = format!("{T0} stdout F ").into_bytes();
        raw.extend_from_slice(b"\xff\xfe");
        assert_eq!(&*parse_cri(&raw).unwrap().content, b"\xff\xfe");
    }

    #[test]
    fn docker_json_lines_good_and_bad() {
        let l = owned(parse_docker_json(
            format!(r#"{{"log":"hello \"x\"\n","stream":"stderr","time":"{T0}"}}"#).as_bytes(),
        ));
        assert_eq!(
            (l.time, l.stream, l.partial, &*l.content),
            (T0_NANOS, Stream::Stderr, false, &b"hello \"x\""[..])
        );
        let l = owned(parse_docker_json(
            format!(r#"{{"log":"piece","stream":"stdout","time":"{T0}"}}"#).as_bytes(),
        ));
        assert!(l.partial);
        let table: [(&str, Reason); 6] = [
            ("", Reason::BadJson),
            ("not json", Reason::BadJson),
            (r#"{"log":"x\n","stream":"stdout"}"#, Reason::MissingFields),
            (
                r#"{"stream":"stdout","time":"2026-12-03T12:13:37Z"}"#,
                Reason::MissingFields,
            ),
            (
                r#"{"log":"x\n","stream":"stdout","time":"noon"}"#,
                Reason::BadTimestamp,
            ),
            (
                r#"{"log":"x\n","stream":"tty","time":"2026-12-03T12:13:37Z"}"#,
                Reason::BadStream,
            ),
        ];
        for (line, reason) in table {
            assert_eq!(
                parse_docker_json(line.as_bytes()).map(|_| ()),
                Err(reason),
                "{line}"
            );
        }
        assert_eq!(
            parse_docker_json(b"{\"log\":\"\xff\"}").map(|_| ()),
            Err(Reason::BadJson)
        );
    }

    #[test]
    fn paths_of_container_logs() {
        let pods = Path::new("/var/log/pods");
        let docker = Path::new("/var/lib/docker/containers");
        let uid = "8f1c2d3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f";
        let (format, parsed) = classify(
            pods,
            docker,
            &pods.join(format!("shop_web-7d9f8-abcde_{uid}/app/3.log")),
        )
        .unwrap();
        assert_eq!(format, Format::Cri);
        let parsed = parsed.unwrap();
        assert_eq!(
            parsed.attributes(),
            [
                ("k8s.namespace.name", "shop"),
                ("k8s.pod.name", "web-7d9f8-abcde"),
                ("k8s.pod.uid", uid),
                ("k8s.container.name", "app"),
                ("k8s.container.restart_count", "3"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        for bad in [
            "shop_web/app/0.log".to_owned(),
            format!("shop_web_x_{uid}/app/0.log"),
            format!("shop__{uid}/app/0.log"),
            "shop_web_not-a-uid/app/0.log".to_owned(),
            format!("shop_web_{uid}/app/zero.log"),
            format!("shop_web_{uid}/0.log"),
            format!("shop_web_{uid}/app/deeper/0.log"),
        ] {
            assert_eq!(
                classify(pods, docker, &pods.join(&bad)),
                Some((Format::Cri, Err(Reason::BadPath))),
                "{bad}"
            );
        }
        let id = "a".repeat(64);
        let (format, parsed) =
            classify(pods, docker, &docker.join(format!("{id}/{id}-json.log"))).unwrap();
        assert_eq!(format, Format::DockerJson);
        assert_eq!(parsed.unwrap().container_id, id);
        assert_eq!(
            classify(pods, docker, &docker.join(format!("{id}/other-json.log"))),
            None
        );
        assert_eq!(classify(pods, docker, Path::new("/var/log/app.log")), None);
        assert_eq!(
            parse_containers_link(&format!("web-1_shop_app-{id}.log")),
            Some(("web-1", "shop", "app", id.as_str()))
        );
        assert_eq!(parse_containers_link("web-1_shop_app-abc.log"), None);
    }

    #[test]
    fn writers_in_a_pod_get_its_names_from_their_cgroup_and_the_pods_directory() {
        let uid = "8f1c2d3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f";
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        // The cgroup of a process in that pod's container, as each driver and runtime spells it.
        let cgroups = [
            // systemd driver, containerd
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{id}.scope\n",
                uid.replace('-', "_")
            ),
            // systemd driver, CRI-O
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/crio-{id}.scope\n",
                uid.replace('-', "_")
            ),
            // cgroupfs driver, containerd (cgroup v2)
            format!("0::/kubepods/burstable/pod{uid}/{id}\n"),
            // cgroupfs driver, guaranteed QoS, cgroup v1
            format!("12:memory:/kubepods/pod{uid}/{id}\n11:cpu,cpuacct:/kubepods/pod{uid}/{id}\n"),
        ];
        let dirs = [
            "kube-system_coredns-5d78c9869d-abcde_11111111-2222-3333-4444-555555555555".to_owned(),
            format!("shop_web-7d9f8-abcde_{uid}"),
        ];
        let links = [
            format!("web-7d9f8-abcde_shop_istio-proxy-{}.log", "f".repeat(64)),
            format!("web-7d9f8-abcde_shop_app-{id}.log"),
        ];
        for cgroup in &cgroups {
            let got_uid = oneagent_preload_core::pod_uid(cgroup.as_bytes()).expect(cgroup);
            let got_id = oneagent_preload_core::container_id(cgroup.as_bytes()).expect(cgroup);
            let names = writer_names(
                dirs.iter().map(String::as_str),
                links.iter().map(String::as_str),
                got_uid.as_str(),
                std::str::from_utf8(got_id).unwrap(),
            );
            assert_eq!(
                names,
                [
                    ("k8s.namespace.name", "shop"),
                    ("k8s.pod.name", "web-7d9f8-abcde"),
                    ("k8s.container.name", "app"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
                "{cgroup}"
            );
        }
        // A pod this node has no directory for, and a container without a link: what is known.
        assert!(
            writer_names(
                dirs.iter().map(String::as_str),
                [],
                "0".repeat(32).as_str(),
                id
            )
            .is_empty()
        );
        assert_eq!(
            writer_names(dirs.iter().map(String::as_str), [], uid, id).len(),
            2
        );
    }

    fn feed(a: &mut Assembler, lines: &[String], counts: &mut Counts) -> ContainerBatch {
        let mut out = ContainerBatch::default();
        let now = Instant::now();
        let mut offset = 0u64;
        for l in lines {
            offset += l.len() as u64 + 1;
            a.push(KEY, l.as_bytes(), offset, now, &mut out, counts);
        }
        out
    }

    fn bodies(out: &ContainerBatch) -> Vec<(Option<&'static str>, String)> {
        out.iter()
            .map(|(s, b)| {
                (
                    s.stream.map(Stream::name),
                    String::from_utf8_lossy(b).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn partials_join_per_stream_and_stack_traces_join() {
        let mut a = Assembler::new(Format::Cri, true, 7);
        let mut counts = Counts::default();
        let lines = [
            format!("{T0} stdout P hel"),
            format!("{T0} stderr F Traceback (most recent call last):"),
            format!("{T0} stdout P lo "),
            format!("{T0} stderr F   File \"x.py\", line 1, in <module>"),
            format!("{T0} stdout F world"),
            format!("{T0} stderr F ValueError: boom"),
            format!("{T0} stdout F java.lang.IllegalStateException: bad"),
            format!("{T0} stdout F \tat com.x.Y.z(Y.java:1)"),
            format!("{T0} stderr F next"),
            format!("{T0} stdout F done"),
        ];
        let mut out = feed(&mut a, &lines, &mut counts);
        // The first record of stdout is still open (multiline): held, and the checkpoint waits.
        assert!(a.has_pending());
        assert_eq!(
            a.safe(KEY),
            Safe::UpTo(lines[..8].iter().map(|l| l.len() as u64 + 1).sum())
        );
        a.flush_all(
            Instant::now(),
            Reason::DeletedMidRecord,
            &mut out,
            &mut counts,
        );
        assert_eq!(counts, Counts::default(), "nothing was malformed");
        assert_eq!(
            bodies(&out),
            [
                (
                    Some("stderr"),
                    "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: boom".to_owned()
                ),
                // An exception's head line continues the line before it, as in files.
                (
                    Some("stdout"),
                    "hello world\njava.lang.IllegalStateException: bad\n\tat com.x.Y.z(Y.java:1)".to_owned()
                ),
                (Some("stdout"), "done".to_owned()),
                (Some("stderr"), "next".to_owned()),
            ]
        );
        assert!(out.iter().all(|(s, _)| s.group == 7 && s.time == T0_NANOS));
        assert_eq!(a.safe(KEY), Safe::Anywhere);
    }

    #[test]
    fn bad_lines_go_out_raw_and_are_counted() {
        let mut a = Assembler::new(Format::Cri, false, 0);
        let mut counts = Counts::default();
        let lines = [
            "garbage".to_owned(),
            format!("{T0} stdout F ok"),
            "noon stdout F x".to_owned(),
            format!("{T0} stdin F x"),
            format!("{T0} stdout Q x"),
        ];
        let mut out = feed(&mut a, &lines, &mut counts);
        let mut raw = format!("{T0} stdout F ").into_bytes();
        raw.extend_from_slice(b"\xffbin");
        a.push(KEY, &raw, 1000, Instant::now(), &mut out, &mut counts);
        let got = bodies(&out);
        assert_eq!(got[0], (None, "garbage".to_owned()));
        assert_eq!(got[1], (Some("stdout"), "ok".to_owned()));
        assert_eq!(got[2], (None, "noon stdout F x".to_owned()));
        assert_eq!(got.len(), 6);
        let last = out.iter().last().unwrap();
        assert!(!last.0.is_utf8);
        assert_eq!(last.1, b"\xffbin");
        for (reason, n) in [
            (Reason::MissingFields, 1),
            (Reason::BadTimestamp, 1),
            (Reason::BadStream, 1),
            (Reason::BadTag, 1),
            (Reason::InvalidUtf8, 1),
        ] {
            assert_eq!(counts.get(reason), n, "{reason:?}");
        }
    }

    #[test]
    fn a_partial_never_finished_is_bounded_and_flushed() {
        let mut a = Assembler::new(Format::Cri, false, 0);
        let mut counts = Counts::default();
        let piece = "x".repeat(16 * 1024);
        let n = MAX_RECORD_BYTES / piece.len() + 3;
        let lines: Vec<String> = (0..n).map(|_| format!("{T0} stdout P {piece}")).collect();
        let mut out = feed(&mut a, &lines, &mut counts);
        assert_eq!(counts.get(Reason::PartialCap), 1);
        assert_eq!(out.len(), 1);
        assert!(out.iter().all(|(_, b)| b.len() <= MAX_RECORD_BYTES));
        // The rest waits for its `F`; after the quiet period it goes out as it is.
        assert!(a.has_pending());
        let early = Instant::now();
        a.flush_quiet(early, QUIET, &mut out, &mut counts);
        assert_eq!(out.len(), 1, "not quiet long enough yet");
        a.flush_quiet(early + QUIET, QUIET, &mut out, &mut counts);
        assert_eq!(counts.get(Reason::PartialTimeout), 1);
        let total: usize = out.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(
            total,
            n * piece.len(),
            "every byte of every piece went out once"
        );
        assert!(!a.has_pending());
    }

    #[test]
    fn a_ten_megabyte_line_goes_out_in_pieces_with_its_time_and_stream() {
        let mut a = Assembler::new(Format::Cri, true, 0);
        let mut counts = Counts::default();
        let mut out = ContainerBatch::default();
        let now = Instant::now();
        let mut line = format!("{T0} stderr F ").into_bytes();
        line.extend(std::iter::repeat_n(b'y', 10_000_000));
        // As the tailer hands it over: pieces of MAX_RECORD_BYTES, then the rest.
        let mut offset = 0u64;
        for piece in line.chunks(MAX_RECORD_BYTES) {
            offset += piece.len() as u64;
            a.push(KEY, piece, offset, now, &mut out, &mut counts);
        }
        a.push(
            KEY,
            format!("{T0} stdout F after").as_bytes(),
            offset + 50,
            now,
            &mut out,
            &mut counts,
        );
        a.flush_all(now, Reason::DeletedMidRecord, &mut out, &mut counts);
        assert_eq!(counts.get(Reason::LongLine), 1);
        let got: Vec<(Span, &[u8])> = out.iter().collect();
        let ys: usize = got
            .iter()
            .filter(|(s, _)| s.stream == Some(Stream::Stderr))
            .map(|(_, b)| b.len())
            .sum();
        assert_eq!(ys, 10_000_000);
        assert!(got.iter().all(|(s, _)| s.time == T0_NANOS));
        assert_eq!(got.last().unwrap().1, b"after");
    }

    #[test]
    fn docker_pieces_join() {
        let mut a = Assembler::new(Format::DockerJson, true, 0);
        let mut counts = Counts::default();
        let lines = [
            format!(r#"{{"log":"a very ","stream":"stdout","time":"{T0}"}}"#),
            format!(r#"{{"log":"long line\n","stream":"stdout","time":"{T0}"}}"#),
            format!(r#"{{"log":"other\n","stream":"stdout","time":"{T0}"}}"#),
            "{broken".to_owned(),
        ];
        let mut out = feed(&mut a, &lines, &mut counts);
        a.flush_all(
            Instant::now(),
            Reason::DeletedMidRecord,
            &mut out,
            &mut counts,
        );
        assert_eq!(
            bodies(&out),
            [
                (Some("stdout"), "a very long line".to_owned()),
                (None, "{broken".to_owned()),
                (Some("stdout"), "other".to_owned()),
            ]
        );
        assert_eq!(counts.get(Reason::BadJson), 1);
    }

    #[test]
    fn a_held_piece_of_the_first_line_read_holds_the_checkpoint() {
        let mut a = Assembler::new(Format::Cri, false, 0);
        let mut counts = Counts::default();
        let _ = feed(&mut a, &[format!("{T0} stdout P a")], &mut counts);
        assert_eq!(a.safe(KEY), Safe::Hold);
        assert_eq!(a.safe(FileKey { dev: 1, ino: 3 }), Safe::Anywhere);
        let mut out = ContainerBatch::default();
        a.flush_all(
            Instant::now(),
            Reason::DeletedMidRecord,
            &mut out,
            &mut counts,
        );
        assert_eq!(counts.get(Reason::DeletedMidRecord), 1);
        assert_eq!(bodies(&out), [(Some("stdout"), "a".to_owned())]);
    }
}
