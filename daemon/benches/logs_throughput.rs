//! Benchmark: log pipeline throughput in MB of log lines per CPU-second, against rsyslog's
//! `imfile` reading the same files in the same run.
//!
//! Ours: file → tailing (multiline on, the default) → records → OTLP protobuf encoding → a sink,
//! attribution off, on one thread named `oneagent-logs`, whose CPU time is
//! `CLOCK_THREAD_CPUTIME_ID` from before `Pipeline::new` to after `run` returns (every byte
//! exported). Three sinks: an in-process exporter that only counts bytes, and the real
//! `OtlpHttp` exporter posting to a minimal HTTP/1.1 server on loopback (another thread, not
//! counted: it is the collector) with compression off, with gzip and with zstd.
//!
//! Peer: `rsyslogd -n` with its own configuration and work directory in a temporary directory,
//! `imfile` (inotify mode) on the same files, one `omfile` action writing `%msg%\n` to a file;
//! its CPU time is utime+stime of the whole process from `/proc/PID/stat` when the output file
//! holds every byte. The system rsyslog service and `/etc/rsyslog*` are never touched.
//!
//! 150-byte lines (newline included); one 200 MB file, and 100 files of 2 MB. The cases are
//! interleaved round by round and medians reported. Then the live cases: a writer process appends
//! 100,000 lines/s spread over 100 files for 10 s (one `write` per line), then 100 lines/s over 10
//! files (a trickle), and the CPU of our pipeline thread and of rsyslogd is reported as % of one
//! core; a last round per load measures each line's latency from its write to the collector's
//! acknowledgement (p50, p99, max).
//!
//! `cargo bench -p oneagent --bench logs_throughput` (needs `rsyslogd` on the PATH or in
//! /usr/sbin; without it only our side runs). `LOGS_BENCH_ROUNDS` (default 5) and
//! `LOGS_BENCH_LIVE_ROUNDS` (default 3; 0 skips the live case) change the number of rounds;
//! `LOGS_BENCH_ONLY=ours` skips rsyslog and the live case, `LOGS_BENCH_ONLY=live` runs the live
//! case only, and
//! `LOGS_BENCH_SINK=memory|none|gzip|zstd` runs one of our sinks only (for profiling). Every line
//! ends with `trace_id=<32 hex>` (each record carries a trace id); `LOGS_BENCH_LINES=plain`
//! writes `request=<32 hex>` instead, lines with no trace context.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::thread::JoinHandleExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oneagent::config::Compression;
use oneagent::logs::attribute::AttributionEngine;
use oneagent::logs::discover::DiscoveryConfig;
use oneagent::logs::export::{ExportError, Exporter, OtlpHttp};
use oneagent::logs::pipeline::{ContainerDirs, LogsHost, Pipeline, PipelineConfig};
use oneagent::logs::tail::{Checkpoint, FileKey};

#[path = "common/lines.rs"]
mod lines;
use lines::{LINE, make_line};

/// Total bytes of each throughput data set.
const TOTAL: usize = 200_000_000;
const MANY: usize = 100;
const LIVE_RATE: u64 = 100_000;
const LIVE_SECS: u64 = 10;
const WRITER_ENV: &str = "ONEAGENT_LOGS_BENCH_WRITER";

// ---------------------------------------------------------------------------------------------
// Data

/// The CRI prefix of the container-log data set: RFC 3339 nano time, stream, `F`.
const CRI_PREFIX: usize = "2026-12-03T12:13:37.123456789Z stdout F ".len();

/// One CRI line of exactly `LINE` bytes, as the kubelet writes it (one in five on stderr): the
/// prefix, then a line like [`make_line`]'s.
fn make_cri_line(i: u64, traced: bool, out: &mut Vec<u8>) {
    let start = out.len();
    let stream = if i % 5 == 4 { "stderr" } else { "stdout" };
    write!(
        out,
        "2026-12-03T12:{:02}:{:02}.{:09}Z {stream} F ",
        (i / 60_000_000) % 60,
        (i / 1_000_000) % 60,
        i % 1_000_000_000
    )
    .unwrap();
    assert_eq!(out.len() - start, CRI_PREFIX);
    make_line(i, traced, out);
    out.truncate(start + LINE - 1);
    out.push(b'\n');
}

/// Writes the same sizes as [`generate`] as container logs laid out as the kubelet does:
/// `dir/ns_pod-NNN_<uid>/app/0.log`.
fn generate_cri(dir: &Path, files: usize, per_file: usize) {
    let traced = std::env::var("LOGS_BENCH_LINES").map_or(true, |v| v != "plain");
    let lines = per_file / LINE;
    let mut i = 0u64;
    for f in 0..files {
        let container = dir
            .join(format!("bench_pod-{f:03}_8f1c2d3e-1a2b-4c5d-8e9f-{f:012}"))
            .join("app");
        std::fs::create_dir_all(&container).unwrap();
        let mut buf = Vec::with_capacity(lines * LINE);
        for _ in 0..lines {
            make_cri_line(i, traced, &mut buf);
            i += 1;
        }
        std::fs::write(container.join("0.log"), &buf).unwrap();
    }
}

/// Writes `files` files of `per_file` bytes each under `dir` (`app-NNN.log`).
fn generate(dir: &Path, files: usize, per_file: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let traced = std::env::var("LOGS_BENCH_LINES").map_or(true, |v| v != "plain");
    let lines = per_file / LINE;
    let mut i = 0u64;
    let mut paths = Vec::new();
    for f in 0..files {
        let path = dir.join(format!("app-{f:03}.log"));
        let mut buf = Vec::with_capacity(lines * LINE);
        for _ in 0..lines {
            make_line(i, traced, &mut buf);
            i += 1;
        }
        std::fs::write(&path, &buf).unwrap();
        paths.push(path);
    }
    paths
}

// ---------------------------------------------------------------------------------------------
// CPU clocks and machine load

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id only returns an error.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPU clock of a running thread of this process.
fn thread_clock(t: &std::thread::JoinHandle<impl Send>) -> libc::clockid_t {
    let mut id: libc::clockid_t = 0;
    // SAFETY: the pthread is alive (its JoinHandle is held and it has not been joined); `id` is
    // a valid out pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(t.as_pthread_t(), &mut id) };
    assert_eq!(rc, 0, "pthread_getcpuclockid");
    id
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// utime+stime of a process (all its threads).
fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After "pid (comm) ": state=0 … utime=11, stime=12.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_nanos(ticks * 1_000_000_000 / clk_tck())
}

/// (busy, total) jiffies of all CPUs from /proc/stat.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu[3] + cpu[4];
    (total - idle, total)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Our pipeline

#[derive(Debug, Default)]
struct MemHost {
    checkpoints: Mutex<HashMap<FileKey, Checkpoint>>,
}

impl LogsHost for MemHost {
    fn load_checkpoints(&self) -> Vec<Checkpoint> {
        self.checkpoints.lock().unwrap().values().cloned().collect()
    }
    fn save_checkpoints(&self, checkpoints: &[Checkpoint]) -> Result<(), String> {
        let mut m = self.checkpoints.lock().unwrap();
        for c in checkpoints {
            m.insert(c.key, c.clone());
        }
        Ok(())
    }
    fn host_attributes(&self) -> Vec<(String, String)> {
        vec![("host.name".to_owned(), "bench-host".to_owned())]
    }
    fn attribution(&self) -> Option<AttributionEngine> {
        None
    }
    fn save_attribution(&self, _engine: &mut AttributionEngine) {}
}

#[derive(Debug, Default)]
struct Progress {
    records: AtomicU64,
    request_bytes: AtomicU64,
    /// When set (the latency round): the live writer's schedule, and each exported line's
    /// delay from its scheduled write to the exporter's acknowledgement.
    latency: Mutex<Option<LatencyLog>>,
}

/// The live writer writes line `i` at `t0 + i / rate` (Unix nanoseconds); line `i`'s timestamp
/// spells `i` (see `make_line`).
#[derive(Debug)]
struct LatencyLog {
    t0: u64,
    rate: u64,
    delays: Vec<u64>,
}

impl LatencyLog {
    /// Notes the delay of every bench line in `request`, acknowledged at `acked` (Unix ns).
    fn note(&mut self, request: &[u8], acked: u64) {
        const STAMP: &[u8] = b"2026-11-25T12:";
        for at in memchr::memmem::find_iter(request, STAMP) {
            let Some(i) = request
                .get(at + STAMP.len()..at + STAMP.len() + 12)
                .and_then(line_index)
            else {
                continue;
            };
            let scheduled = self.t0 + i * 1_000_000_000 / self.rate;
            self.delays.push(acked.saturating_sub(scheduled));
        }
    }
}

/// `MM:SS.UUUUUU` of a bench line's timestamp back to the line's index.
fn line_index(t: &[u8]) -> Option<u64> {
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        std::str::from_utf8(t.get(r)?).ok()?.parse().ok()
    };
    Some(num(0..2)? * 60_000_000 + num(3..5)? * 1_000_000 + num(6..12)?)
}

fn unix_now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Counts what goes through and forwards it to `inner` (none: the in-process sink).
struct Counting {
    inner: Option<Box<dyn Exporter>>,
    progress: Arc<Progress>,
}

impl Exporter for Counting {
    fn export(&mut self, request: &[u8], records: usize) -> Result<(), ExportError> {
        if let Some(inner) = self.inner.as_mut() {
            inner.export(request, records)?;
        }
        if let Some(log) = self.progress.latency.lock().unwrap().as_mut() {
            log.note(request, unix_now_nanos());
        }
        self.progress
            .request_bytes
            .fetch_add(request.len() as u64, Ordering::Relaxed);
        self.progress
            .records
            .fetch_add(records as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// In-process exporter counting bytes.
    Memory,
    /// `OtlpHttp` to the loopback server.
    Http(Compression),
}

impl Sink {
    fn name(self) -> &'static str {
        match self {
            Sink::Memory => "in-process sink",
            Sink::Http(Compression::None) => "OTLP/HTTP loopback, no compression",
            Sink::Http(Compression::Gzip) => "OTLP/HTTP loopback, gzip",
            Sink::Http(Compression::Zstd) => "OTLP/HTTP loopback, zstd",
        }
    }
}

/// A minimal HTTP/1.1 server that accepts every POST with 200 and counts body bytes.
fn http_sink() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bytes = Arc::new(AtomicU64::new(0));
    let counter = bytes.clone();
    std::thread::Builder::new()
        .name("http-sink".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || serve(conn, &counter));
            }
        })
        .unwrap();
    (format!("http://{addr}"), bytes)
}

fn serve(stream: TcpStream, counter: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1 << 20, stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            assert!(
                !lower.starts_with("transfer-encoding"),
                "chunked bodies are not supported by the bench sink"
            );
        }
        body.resize(len, 0);
        if r.read_exact(&mut body).is_err() {
            return;
        }
        counter.fetch_add(len as u64, Ordering::Relaxed);
        if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn pipeline_config(dir: &Path, cri: bool) -> PipelineConfig {
    PipelineConfig {
        discovery: DiscoveryConfig {
            roots: vec![dir.to_owned()],
            include: vec!["*.log".to_owned()],
            exclude: Vec::new(),
            max_depth: if cri { 2 } else { 0 },
            ignore: Vec::new(),
        },
        multiline: true,
        start_at_end: false,
        rate_limit_per_service: 0,
        containers: cri.then(|| ContainerDirs {
            pods_dir: dir.to_owned(),
            docker_dir: PathBuf::new(),
        }),
    }
}

fn exporter(sink: Sink, endpoint: &str) -> Option<Box<dyn Exporter>> {
    match sink {
        Sink::Memory => None,
        Sink::Http(c) => Some(Box::new(OtlpHttp::new(endpoint, c))),
    }
}

#[derive(Debug, Clone, Copy)]
struct Run {
    cpu: Duration,
    wall: Duration,
    /// Bytes sent over the wire (request, compressed or not) per input byte.
    wire_ratio: f64,
    /// Records more than lines (lines split by the partial-line timeout).
    split: u64,
}

/// Reads every file under `dir` once through the pipeline; CPU of the pipeline thread. Done
/// when the pipeline counted every byte of every line as exported (`stats.bytes` excludes the
/// newlines), so a line split in two records (partial-line timeout) is still one line's bytes.
fn run_ours(
    dir: &Path,
    cri: bool,
    sink: Sink,
    endpoint: &str,
    wire: &AtomicU64,
    input_bytes: u64,
) -> Run {
    let lines = input_bytes / LINE as u64;
    // Records carry the line without its newline (container logs: without the CRI prefix too).
    let body_bytes = input_bytes - lines * if cri { 1 + CRI_PREFIX as u64 } else { 1 };
    let (wake_tx, wake_rx) = UnixStream::pair().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let counting = Counting {
        inner: exporter(sink, endpoint),
        progress: progress.clone(),
    };
    let config = pipeline_config(dir, cri);
    let wire_before = wire.load(Ordering::Relaxed);
    let thread_stop = stop.clone();
    let (stats_tx, stats_rx) = std::sync::mpsc::channel();
    let t = std::thread::Builder::new()
        .name("oneagent-logs".into())
        .spawn(move || {
            let cpu0 = clock(libc::CLOCK_THREAD_CPUTIME_ID);
            let wall0 = Instant::now();
            let p =
                Pipeline::new(config, Arc::new(MemHost::default()), Box::new(counting)).unwrap();
            stats_tx.send(p.stats.clone()).unwrap();
            p.run(thread_stop, wake_rx, || {});
            (clock(libc::CLOCK_THREAD_CPUTIME_ID) - cpu0, wall0.elapsed())
        })
        .unwrap();
    let stats = stats_rx.recv().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while stats.bytes.load(Ordering::Relaxed) < body_bytes && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = (&wake_tx).write_all(&[1]);
    let (cpu, wall) = t.join().unwrap();
    assert_eq!(
        stats.bytes.load(Ordering::Relaxed),
        body_bytes,
        "bytes exported"
    );
    let records = progress.records.load(Ordering::Relaxed);
    assert!(records >= lines, "records exported");
    let sent = match sink {
        Sink::Memory => progress.request_bytes.load(Ordering::Relaxed),
        Sink::Http(_) => wire.load(Ordering::Relaxed) - wire_before,
    };
    Run {
        cpu,
        wall,
        wire_ratio: sent as f64 / input_bytes as f64,
        split: records - lines,
    }
}

// ---------------------------------------------------------------------------------------------
// rsyslog

fn rsyslogd() -> Option<PathBuf> {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd", "/usr/bin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

struct Rsyslog {
    child: Child,
    out: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Rsyslog {
    /// Starts `rsyslogd -n` with its own configuration reading `dir/*.log`.
    fn start(bin: &Path, dir: &Path) -> Rsyslog {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let out = tmp.path().join("out.log");
        let conf = tmp.path().join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
module(load="imfile" mode="inotify")
template(name="raw" type="string" string="%msg%\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="raw")
}}
input(type="imfile" file="{dir}/*.log" tag="bench" ruleset="bench")
"#,
                work = work.display(),
                out = out.display(),
                dir = dir.display(),
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(tmp.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd");
        Rsyslog {
            child,
            out,
            _tmp: tmp,
        }
    }

    fn out_len(&self) -> u64 {
        std::fs::metadata(&self.out).map_or(0, |m| m.len())
    }

    /// Waits until the output holds `bytes`; false on timeout.
    fn wait_for(&self, bytes: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.out_len() < bytes {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    fn stop(mut self) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn run_rsyslog(bin: &Path, dir: &Path, input_bytes: u64) -> Run {
    let wall0 = Instant::now();
    let r = Rsyslog::start(bin, dir);
    let pid = r.child.id();
    let ok = r.wait_for(input_bytes, Duration::from_secs(300));
    let cpu = proc_cpu(pid);
    let wall = wall0.elapsed();
    let got = r.out_len();
    r.stop();
    assert!(ok, "rsyslog wrote {got} of {input_bytes} bytes");
    Run {
        cpu,
        wall,
        wire_ratio: got as f64 / input_bytes as f64,
        split: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Live: a writer appending at a fixed rate

/// The writer process: `dir;rate;secs`. One `write` per line, round robin over the files.
/// The live load: `files` files, `rate` lines per second in all, for `secs` seconds, starting at
/// `t0` (Unix ns); line `i` goes to file `i % files` at `t0 + i / rate`.
#[derive(Debug, Clone, Copy)]
struct Load {
    files: usize,
    rate: u64,
    secs: u64,
}

impl Load {
    const HEAVY: Load = Load {
        files: MANY,
        rate: LIVE_RATE,
        secs: LIVE_SECS,
    };
    const TRICKLE: Load = Load {
        files: 10,
        rate: 100,
        secs: LIVE_SECS,
    };

    fn name(self) -> String {
        format!(
            "{} files × {} lines/s",
            self.files,
            self.rate / self.files as u64
        )
    }

    fn lines(self) -> u64 {
        self.rate * self.secs
    }
}

fn writer_main(spec: &str) {
    let mut it = spec.split(';');
    let dir = PathBuf::from(it.next().unwrap());
    let mut num = || -> u64 { it.next().unwrap().parse().unwrap() };
    let (files, rate, secs, t0) = (num() as usize, num(), num(), num());
    let mut files: Vec<std::fs::File> = (0..files)
        .map(|f| {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(dir.join(format!("app-{f:03}.log")))
                .unwrap()
        })
        .collect();
    let n = files.len() as u64;
    let total = rate * secs;
    // Start at t0 (so that the bench knows when each line is due).
    let wait = t0.saturating_sub(unix_now_nanos());
    std::thread::sleep(Duration::from_nanos(wait));
    let start = Instant::now();
    let mut line = Vec::with_capacity(LINE);
    let traced = std::env::var("LOGS_BENCH_LINES").map_or(true, |v| v != "plain");
    let mut i = 0u64;
    // 1 ms ticks: each tick writes what is due by then.
    while i < total {
        let due = ((start.elapsed().as_nanos() as u64 * rate) / 1_000_000_000 + 1).min(total);
        while i < due {
            line.clear();
            make_line(i, traced, &mut line);
            files[(i % n) as usize].write_all(&line).unwrap();
            i += 1;
        }
        let next = start + Duration::from_nanos((i * 1_000_000_000) / rate);
        let now = Instant::now();
        if next > now {
            std::thread::sleep((next - now).max(Duration::from_millis(1)));
        }
    }
}

/// Starts the writer 50 ms from now; returns it and its start (Unix ns).
fn spawn_writer(dir: &Path, load: Load) -> (Child, u64) {
    let t0 = unix_now_nanos() + 50_000_000;
    let child = Command::new(std::env::current_exe().unwrap())
        .env(
            WRITER_ENV,
            format!(
                "{};{};{};{};{t0}",
                dir.display(),
                load.files,
                load.rate,
                load.secs
            ),
        )
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    (child, t0)
}

fn empty_files(dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for f in 0..files {
        std::fs::write(dir.join(format!("app-{f:03}.log")), b"").unwrap();
    }
}

#[derive(Debug, Clone, Copy)]
struct Live {
    cpu: Duration,
    wall: Duration,
    writer_cpu: Duration,
}

fn child_cpu(child: &Child) -> Duration {
    proc_cpu(child.id())
}

/// Our pipeline under `load`; with `latency`, also each line's delay from its scheduled write to
/// the collector's acknowledgement (the latency round: scanning requests costs CPU, so that
/// round's CPU is not reported).
fn live_ours(sink: Sink, endpoint: &str, load: Load, latency: bool) -> (Live, Vec<u64>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    empty_files(&dir, load.files);
    let expected = load.lines() * (LINE as u64 - 1);
    let (wake_tx, wake_rx) = UnixStream::pair().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let counting = Counting {
        inner: exporter(sink, endpoint),
        progress: progress.clone(),
    };
    let config = pipeline_config(&dir, false);
    let thread_stop = stop.clone();
    let (stats_tx, stats_rx) = std::sync::mpsc::channel();
    let t = std::thread::Builder::new()
        .name("oneagent-logs".into())
        .spawn(move || {
            let p =
                Pipeline::new(config, Arc::new(MemHost::default()), Box::new(counting)).unwrap();
            stats_tx.send(p.stats.clone()).unwrap();
            p.run(thread_stop, wake_rx, || {});
        })
        .unwrap();
    let stats = stats_rx.recv().unwrap();
    let id = thread_clock(&t);
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = clock(id);
    let wall0 = Instant::now();
    let (mut writer, t0) = spawn_writer(&dir, load);
    if latency {
        *progress.latency.lock().unwrap() = Some(LatencyLog {
            t0,
            rate: load.rate,
            delays: Vec::with_capacity(load.lines() as usize),
        });
    }
    let deadline = Instant::now() + Duration::from_secs(load.secs * 6);
    let mut writer_cpu = Duration::ZERO;
    while stats.bytes.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        if let Ok(None) = writer.try_wait() {
            writer_cpu = child_cpu(&writer);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cpu = clock(id) - cpu0;
    let wall = wall0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = (&wake_tx).write_all(&[1]);
    t.join().unwrap();
    let _ = writer.wait();
    assert_eq!(
        stats.bytes.load(Ordering::Relaxed),
        expected,
        "bytes exported"
    );
    assert!(progress.records.load(Ordering::Relaxed) >= load.lines());
    let delays = progress
        .latency
        .lock()
        .unwrap()
        .take()
        .map(|l| l.delays)
        .unwrap_or_default();
    (
        Live {
            cpu,
            wall,
            writer_cpu,
        },
        delays,
    )
}

fn live_rsyslog(bin: &Path, load: Load) -> Live {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    empty_files(&dir, load.files);
    let r = Rsyslog::start(bin, &dir);
    let pid = r.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let cpu0 = proc_cpu(pid);
    let wall0 = Instant::now();
    let (mut writer, _) = spawn_writer(&dir, load);
    let expected = load.lines() * LINE as u64;
    let deadline = Instant::now() + Duration::from_secs(load.secs * 6);
    let mut writer_cpu = Duration::ZERO;
    while r.out_len() < expected && Instant::now() < deadline {
        if let Ok(None) = writer.try_wait() {
            writer_cpu = child_cpu(&writer);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let cpu = proc_cpu(pid) - cpu0;
    let wall = wall0.elapsed();
    let got = r.out_len();
    r.stop();
    let _ = writer.wait();
    assert_eq!(got, expected, "rsyslog output bytes");
    Live {
        cpu,
        wall,
        writer_cpu,
    }
}

/// The live cases: each load with gzip, without compression and rsyslog, round by round; then
/// one latency round per load at the default settings (gzip).
fn live(rsyslog: Option<&Path>, endpoint: &str, rounds: usize) {
    for load in [Load::HEAVY, Load::TRICKLE] {
        println!();
        println!(
            "Live: {}, {} lines/s total for {} s, one write per line; CPU from the writer's start until every line is out",
            load.name(),
            load.rate,
            load.secs
        );
        let mut live: Vec<(String, Vec<Live>)> = Vec::new();
        let live_sinks = [Sink::Http(Compression::Gzip), Sink::Http(Compression::None)];
        for round in 0..rounds {
            let mut cases: Vec<(String, Live)> = Vec::new();
            for sink in live_sinks {
                cases.push((
                    format!("oneagent, {}", sink.name()),
                    live_ours(sink, endpoint, load, false).0,
                ));
            }
            if let Some(bin) = rsyslog {
                cases.push(("rsyslog imfile→omfile".into(), live_rsyslog(bin, load)));
            }
            for (name, l) in cases {
                println!(
                    "  round {round} {name:<50} cpu {:>8.3?} over {:>6.2?} = {:>6.2}% of a core (writer {:.1}%)",
                    l.cpu,
                    l.wall,
                    100.0 * l.cpu.as_secs_f64() / l.wall.as_secs_f64(),
                    100.0 * l.writer_cpu.as_secs_f64() / l.wall.as_secs_f64()
                );
                match live.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, v)) => v.push(l),
                    None => live.push((name, vec![l])),
                }
            }
        }
        let share = |v: &[Live]| {
            median(
                v.iter()
                    .map(|l| l.cpu.as_secs_f64() / l.wall.as_secs_f64())
                    .collect(),
            )
        };
        let peer = live
            .iter()
            .find(|(k, _)| k.starts_with("rsyslog"))
            .map(|(_, v)| share(v));
        println!("Live {}, median of {rounds}:", load.name());
        for (name, v) in &live {
            let pct = share(v);
            let ratio = peer.map_or(String::new(), |p| {
                format!("{:.3}× rsyslog's CPU (1/{:.1})", pct / p, p / pct)
            });
            println!("  {name:<50} {:>6.2}% of one core  {ratio}", 100.0 * pct);
        }
        let (_, mut delays) = live_ours(Sink::Http(Compression::Gzip), endpoint, load, true);
        delays.sort_unstable();
        let at = |q: f64| {
            let i = ((delays.len() as f64 * q) as usize).min(delays.len().saturating_sub(1));
            Duration::from_nanos(delays.get(i).copied().unwrap_or(0))
        };
        println!(
            "  latency, write → collector's acknowledgement ({} lines, gzip): p50 {:.1?}, p99 {:.1?}, max {:.1?}",
            delays.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    println!("machine: loadavg now {}", loadavg());
}

// ---------------------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(spec) = std::env::var(WRITER_ENV) {
        writer_main(&spec);
        return;
    }
    let rounds = env_usize("LOGS_BENCH_ROUNDS", 5);
    let live_rounds = env_usize("LOGS_BENCH_LIVE_ROUNDS", 3);
    let only_ours = std::env::var("LOGS_BENCH_ONLY").is_ok_and(|v| v == "ours");
    let rsyslog = if only_ours { None } else { rsyslogd() };
    if rsyslog.is_none() && !only_ours {
        println!("rsyslogd not found: only our side runs");
    }
    if std::env::var("LOGS_BENCH_ONLY").is_ok_and(|v| v == "live") {
        let (endpoint, _) = http_sink();
        live(rsyslog.as_deref(), &endpoint, live_rounds);
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let many = tmp.path().join("many");
    let t0 = Instant::now();
    generate(&one, 1, TOTAL);
    generate(&many, MANY, TOTAL / MANY);
    let one_cri = tmp.path().join("one-cri");
    let many_cri = tmp.path().join("many-cri");
    generate_cri(&one_cri, 1, TOTAL);
    generate_cri(&many_cri, MANY, TOTAL / MANY);
    let bytes_one = (TOTAL / LINE * LINE) as u64;
    let bytes_many = (MANY * (TOTAL / MANY / LINE) * LINE) as u64;
    println!(
        "data: 1 file of {:.1} MB, {MANY} files of {:.2} MB, {LINE}-byte lines, {} (generated in {:.1?})",
        bytes_one as f64 / 1e6,
        bytes_many as f64 / MANY as f64 / 1e6,
        if std::env::var("LOGS_BENCH_LINES").is_ok_and(|v| v == "plain") {
            "no trace context (LOGS_BENCH_LINES=plain)"
        } else {
            "each with a trace_id"
        },
        t0.elapsed()
    );
    let (endpoint, wire) = http_sink();
    let load0 = loadavg();
    let (busy0, total0) = machine_jiffies();

    let sinks: Vec<Sink> = [
        ("memory", Sink::Memory),
        ("none", Sink::Http(Compression::None)),
        ("gzip", Sink::Http(Compression::Gzip)),
        ("zstd", Sink::Http(Compression::Zstd)),
    ]
    .into_iter()
    .filter(|(n, _)| std::env::var("LOGS_BENCH_SINK").map_or(true, |v| v == *n))
    .map(|(_, s)| s)
    .collect();
    // (layout, side) → runs
    let mut results: Vec<((&str, String), Vec<Run>)> = Vec::new();
    let mut push =
        |key: (&'static str, String), r: Run| match results.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => results.push((key, vec![r])),
        };
    // Warm-up: one pass of ours over each layout (page cache, allocator), not counted.
    let _ = run_ours(&one, false, Sink::Memory, &endpoint, &wire, bytes_one);
    let _ = run_ours(&many, false, Sink::Memory, &endpoint, &wire, bytes_many);
    let _ = run_ours(&one_cri, true, Sink::Memory, &endpoint, &wire, bytes_one);
    for round in 0..rounds {
        // The container-log (CRI) layouts run right after the file layouts of the same size, so
        // that each ratio compares runs of one round.
        for (layout, dir, bytes, cri) in [
            ("1 file", &one, bytes_one, false),
            ("1 file CRI", &one_cri, bytes_one, true),
            ("100 files", &many, bytes_many, false),
            ("100 files CRI", &many_cri, bytes_many, true),
        ] {
            // Alternate whether rsyslog goes first.
            let rs_first = round % 2 == 1;
            let do_rsyslog = |push: &mut dyn FnMut((&'static str, String), Run)| {
                if let Some(bin) = rsyslog.as_deref().filter(|_| !cri) {
                    let r = run_rsyslog(bin, dir, bytes);
                    println!(
                        "  round {round} {layout:<9} rsyslog imfile→omfile{:<25} cpu {:>8.3?} wall {:>8.3?} {:>7.1} MB/cpu-s",
                        "",
                        r.cpu,
                        r.wall,
                        bytes as f64 / 1e6 / r.cpu.as_secs_f64()
                    );
                    push((layout, "rsyslog".into()), r);
                }
            };
            if rs_first {
                do_rsyslog(&mut push);
            }
            for &sink in &sinks {
                let r = run_ours(dir, cri, sink, &endpoint, &wire, bytes);
                println!(
                    "  round {round} {layout:<9} oneagent {:<37} cpu {:>8.3?} wall {:>8.3?} {:>7.1} MB/cpu-s (wire {:.3} B/B){}",
                    sink.name(),
                    r.cpu,
                    r.wall,
                    bytes as f64 / 1e6 / r.cpu.as_secs_f64(),
                    r.wire_ratio,
                    if r.split > 0 {
                        format!(" {} lines split in two records", r.split)
                    } else {
                        String::new()
                    }
                );
                push((layout, sink.name().into()), r);
            }
            if !rs_first {
                do_rsyslog(&mut push);
            }
        }
    }
    let (busy1, total1) = machine_jiffies();
    let load1 = loadavg();

    println!();
    println!(
        "Throughput, median of {rounds} interleaved rounds (MB = 10^6 bytes of log lines; CPU = pipeline thread / whole rsyslogd)"
    );
    for layout in ["1 file", "1 file CRI", "100 files", "100 files CRI"] {
        let bytes = if layout.starts_with("1 file") {
            bytes_one
        } else {
            bytes_many
        };
        let mbps = |runs: &[Run]| {
            median(
                runs.iter()
                    .map(|r| bytes as f64 / 1e6 / r.cpu.as_secs_f64())
                    .collect(),
            )
        };
        let peer = results
            .iter()
            .find(|(k, _)| k.0 == layout && k.1 == "rsyslog")
            .map(|(_, v)| mbps(v));
        for ((l, side), runs) in &results {
            if *l != layout {
                continue;
            }
            let m = mbps(runs);
            let wall = median(runs.iter().map(|r| r.wall.as_secs_f64()).collect());
            let wire = median(runs.iter().map(|r| r.wire_ratio).collect());
            let each: Vec<f64> = runs
                .iter()
                .map(|r| bytes as f64 / 1e6 / r.cpu.as_secs_f64())
                .collect();
            let lo = each.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = each.iter().copied().fold(0.0, f64::max);
            // Container logs: against the file path with the same sink and size, same run.
            let file_path = layout.strip_suffix(" CRI").and_then(|plain| {
                results
                    .iter()
                    .find(|(k, _)| k.0 == plain && k.1 == *side)
                    .map(|(_, v)| mbps(v))
            });
            let ratio = match (file_path, peer) {
                (Some(f), _) => format!("{:.0} % of the file path", 100.0 * m / f),
                (None, Some(p)) => format!("{:.1}× rsyslog", m / p),
                (None, None) => String::new(),
            };
            println!(
                "  {layout:<9} {side:<37} {m:>8.1} MB/cpu-s ({lo:>5.1}–{hi:>5.1})  wall {wall:>6.2} s ({:>6.1} MB/s)  out/in {wire:.3}  {ratio}",
                bytes as f64 / 1e6 / wall
            );
        }
    }
    println!(
        "machine: loadavg before {load0}, after {load1}; all CPUs busy {:.0}% during the throughput rounds (of {} cores)",
        100.0 * (busy1 - busy0) as f64 / (total1 - total0) as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    if only_ours || live_rounds == 0 {
        return;
    }
    live(rsyslog.as_deref(), &endpoint, live_rounds);
}
