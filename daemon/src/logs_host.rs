//! The daemon as the log pipeline's host: checkpoints in the state database and the resource
//! attributes of each file (the writer's identity, following the OpenTelemetry semantic
//! conventions).

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, LogExporter, StartAt};
use crate::inventory::ProcessEntry;
use crate::logs::attribute::{AttributionConfig, AttributionEngine, ProcessLookup};
use crate::logs::discover::DiscoveryConfig;
use crate::logs::export::{Exporter, OtlpHttp, Stdout};
use crate::logs::pipeline::{
    ContainerDirs, LogsHost, Pipeline, PipelineConfig, PipelineStats, Reconfigure,
};
use crate::logs::tail::Checkpoint;

/// What the log pipeline's host reads and writes of the daemon's state: the state database and
/// the inventory (the daemon's shared state implements it).
pub trait HostState: Send + Sync + std::fmt::Debug + 'static {
    /// The stored checkpoints.
    fn log_checkpoints(&self) -> crate::Result<Vec<Checkpoint>>;
    /// Stores `checkpoints`.
    fn save_log_checkpoints(&self, checkpoints: &[Checkpoint]) -> crate::Result<()>;
    /// The inventory's entry for `pid`.
    fn process(&self, pid: u32) -> Option<ProcessEntry>;
    /// The inventory's entry for `pid` if it exited in the last few seconds.
    fn recently_exited(&self, pid: u32) -> Option<ProcessEntry>;
    /// Restores what `engine` stored in a previous run; how many files.
    fn load_attribution(&self, engine: &mut AttributionEngine) -> crate::Result<usize>;
    /// Stores what `engine` learnt since its last save.
    fn save_attribution(&self, engine: &mut AttributionEngine) -> crate::Result<()>;
}

/// What the daemon sees of the log pipeline thread.
#[derive(Debug, Clone)]
pub struct LogsView {
    /// Counters (atomics the pipeline bumps; read without a lock).
    pub stats: Arc<PipelineStats>,
    /// Per-service metrics, as the pipeline publishes them: only copied out here.
    metrics: Arc<std::sync::Mutex<crate::logs::metrics::LogMetrics>>,
    /// Files for `oneagentctl logs`, as the pipeline publishes them.
    files: Arc<std::sync::Mutex<Vec<crate::logs::pipeline::LogFileStatus>>>,
}

impl LogsView {
    /// The view of a running pipeline.
    pub(crate) fn new(handle: &LogsHandle) -> LogsView {
        LogsView {
            stats: handle.stats.clone(),
            metrics: handle.metrics.clone(),
            files: handle.files.clone(),
        }
    }

    /// The per-service metrics, copied out under the pipeline's lock for as long as a copy
    /// takes: rendering `/metrics` never holds the pipeline up.
    pub fn metrics(&self) -> crate::logs::metrics::LogMetrics {
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The files being tailed, as the pipeline last published them.
    pub fn files(&self) -> Vec<crate::logs::pipeline::LogFileStatus> {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records dropped by sampling, over every service.
    pub fn sampled_out(&self) -> u64 {
        let metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        metrics.services.values().map(|c| c.sampled_out).sum()
    }
}

/// The engine's window on the daemon's inventory.
struct HostLookup(Arc<dyn HostState>);

impl ProcessLookup for HostLookup {
    fn process(&self, pid: u32) -> Option<ProcessEntry> {
        self.0.process(pid)
    }

    fn recently_exited(&self, pid: u32) -> Option<ProcessEntry> {
        self.0.recently_exited(pid)
    }
}

/// The host implementation.
#[derive(Debug)]
pub struct DaemonLogsHost {
    shared: Arc<dyn HostState>,
    host_name: String,
    rearm: Duration,
}

impl LogsHost for DaemonLogsHost {
    fn load_checkpoints(&self) -> Vec<Checkpoint> {
        self.shared.log_checkpoints().unwrap_or_else(|e| {
            tracing::error!(error = %e, "Loading log checkpoints failed; files are read from their start");
            Vec::new()
        })
    }

    fn save_checkpoints(&self, checkpoints: &[Checkpoint]) -> Result<(), String> {
        self.shared
            .save_log_checkpoints(checkpoints)
            .map_err(|e| e.to_string())
    }

    fn host_attributes(&self) -> Vec<(String, String)> {
        vec![("host.name".to_owned(), self.host_name.clone())]
    }

    fn attribution(&self) -> Option<AttributionEngine> {
        let config = AttributionConfig {
            self_pid: std::process::id(),
            rearm_interval: self.rearm,
            ..AttributionConfig::default()
        };
        let mut engine = match AttributionEngine::new(config) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "Log records will not name their writer");
                return None;
            }
        };
        let shared = self.shared.clone();
        engine.set_lookup(Box::new(HostLookup(shared)));
        match self.shared.load_attribution(&mut engine) {
            Ok(n) => tracing::debug!(files = n, "Writer attribution restored"),
            Err(e) => tracing::warn!(error = %e, "Restoring writer attribution failed"),
        }
        Some(engine)
    }

    fn writer_by_scan(&self, path: &std::path::Path) -> Option<crate::logs::attribute::Writer> {
        let pid = scan_for_writer(path)?;
        let entry = self.shared.process(pid)?;
        let now = crate::clock::unix_now();
        Some(crate::logs::attribute::Writer {
            pid: entry.pid,
            start_time: entry.start_time,
            exe: entry.exe,
            command_line: entry.command_line,
            systemd_unit: entry.systemd_unit,
            container_id: entry.container_id,
            pod_uid: entry.pod_uid,
            service_name: entry.verdict.service_name,
            language: entry.verdict.language,
            first_seen: now,
            last_seen: now,
        })
    }

    fn save_attribution(&self, engine: &mut AttributionEngine) {
        if let Err(e) = self.shared.save_attribution(engine) {
            tracing::warn!(error = %e, "Saving writer attribution failed");
        }
    }
}

/// The pid of a process (not this one) with `path` open for writing, looking through
/// `/proc/*/fd` (at most 8,192 processes and 1,024 descriptors each).
fn scan_for_writer(path: &std::path::Path) -> Option<u32> {
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten().take(8192) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten().take(1024) {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t == path) {
                let info = crate::safe_fs::read_proc_text(
                    &entry.path().join("fdinfo").join(fd.file_name()),
                );
                let writable = info
                    .and_then(|t| crate::logs::attribute::parse_fdinfo_flags(&t))
                    .is_some_and(|f| f & (libc::O_WRONLY | libc::O_RDWR) as u32 != 0);
                if writable {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// A running pipeline thread.
#[derive(Debug)]
pub struct LogsHandle {
    stop: Arc<AtomicBool>,
    wake: std::os::unix::net::UnixStream,
    done: Arc<AtomicBool>,
    /// Its counters.
    pub stats: Arc<PipelineStats>,
    /// Per-service log metrics.
    pub metrics: Arc<std::sync::Mutex<crate::logs::metrics::LogMetrics>>,
    /// Files for `oneagentctl logs`.
    pub files: Arc<std::sync::Mutex<Vec<crate::logs::pipeline::LogFileStatus>>>,
    /// Receives once the pipeline watches its roots (or is closed if the thread ended first).
    started: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// New configurations for the running pipeline.
    reconfigure: std::sync::Mutex<std::sync::mpsc::Sender<Reconfigure>>,
    reconfigure_pending: Arc<AtomicBool>,
    /// The daemon's own directories, never watched.
    ignore: Vec<std::path::PathBuf>,
}

impl LogsHandle {
    /// Waits up to `limit` until the pipeline watches its roots and tracks the files found in
    /// them; returns whether it does. Blocking: call it off the event loop's thread.
    pub fn wait_started(&self, limit: Duration) -> bool {
        let rx = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match rx {
            Some(rx) => rx.recv_timeout(limit).is_ok(),
            None => true,
        }
    }

    /// Gives the running pipeline the `[logs]` and `[exporter]` settings of `config` (a reload)
    /// and waits up to `limit` until they are in force; returns whether they are. The pipeline
    /// keeps its files, offsets and the batch in flight (sent again through the new exporter).
    /// Blocking: call it off the event loop's thread.
    pub fn reconfigure(&self, config: &Config, limit: Duration) -> bool {
        crate::logs::tail::set_max_open_files(log_file_cap(config.logs.max_open_files));
        let (done, applied) = std::sync::mpsc::channel();
        let request = Reconfigure {
            config: pipeline_config(config, self.ignore.clone()),
            exporter: exporter_for(config),
            rearm: Duration::from_secs(config.logs.attribution_rearm_secs),
            done,
        };
        let sent = self
            .reconfigure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(request)
            .is_ok();
        if !sent {
            return false;
        }
        self.reconfigure_pending.store(true, Ordering::Relaxed);
        let _ = std::io::Write::write(&mut &self.wake, &[1]);
        applied.recv_timeout(limit).is_ok()
    }

    /// Asks the pipeline to stop and waits for it up to `limit` (a batch may be in flight).
    pub fn stop(&self, limit: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::io::Write::write(&mut &self.wake, &[1]);
        let t0 = Instant::now();
        while !self.done.load(Ordering::Relaxed) && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The tailer's fd cap: `[logs] max_open_files`, but never more than half the descriptor limit,
/// so the pipeline's sockets, the database, D-Bus and /metrics always have theirs.
fn log_file_cap(configured: u32) -> usize {
    let (soft, _) = crate::sys::rlimit::nofile();
    let half = usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16);
    let cap = (configured as usize).min(half);
    tracing::debug!(cap, limit = soft, "Log files open at once at most");
    cap
}

/// The exporter `config` asks for.
fn exporter_for(config: &Config) -> Box<dyn Exporter> {
    match config.logs.exporter {
        LogExporter::Otlp => Box::new(OtlpHttp::new(
            &config.exporter.otlp_endpoint,
            config.exporter.compression,
        )),
        LogExporter::Stdout => Box::new(Stdout),
    }
}

/// The pipeline's settings from `config`.
fn pipeline_config(config: &Config, ignore: Vec<std::path::PathBuf>) -> PipelineConfig {
    let containers = config.container_logs_on().then(|| ContainerDirs {
        pods_dir: config.logs.pods_dir.clone(),
        docker_dir: config.logs.docker_dir.clone(),
    });
    let mut roots = config.logs.roots.clone();
    if let Some(c) = &containers {
        for dir in [&c.pods_dir, &c.docker_dir] {
            if !roots.contains(dir) {
                roots.push(dir.clone());
            }
        }
    }
    PipelineConfig {
        containers,
        discovery: DiscoveryConfig {
            roots,
            include: config.logs.include.clone(),
            exclude: config.logs.exclude.clone(),
            max_depth: config.logs.max_depth,
            ignore,
        },
        multiline: config.logs.multiline,
        start_at_end: config.logs.start_at == StartAt::End,
        rate_limit_per_service: config.logs.rate_limit_per_service,
    }
}

/// Starts the pipeline thread for `config`, ignoring the daemon's own directories.
pub fn start(
    shared: Arc<dyn HostState>,
    config: &Config,
    ignore: Vec<std::path::PathBuf>,
) -> std::io::Result<LogsHandle> {
    let exporter = exporter_for(config);
    let pipeline_config = pipeline_config(config, ignore.clone());
    crate::logs::tail::set_max_open_files(log_file_cap(config.logs.max_open_files));
    let host = Arc::new(DaemonLogsHost {
        shared,
        host_name: crate::injection::snapshot::host_name(),
        rearm: Duration::from_secs(config.logs.attribution_rearm_secs),
    });
    let mut pipeline = Pipeline::new(pipeline_config, host, exporter)?;
    let (reconfigure, reconfigure_pending) = pipeline.reconfigure_channel();
    let stats = pipeline.stats.clone();
    let metrics = pipeline.metrics.clone();
    let files = pipeline.files_status.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (stop2, done2) = (stop.clone(), done.clone());
    let (wake, wake_rx) = std::os::unix::net::UnixStream::pair()?;
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("oneagent-logs".to_owned())
        .spawn(move || {
            pipeline.run(stop2, wake_rx, move || {
                let _ = started_tx.send(());
            });
            done2.store(true, Ordering::Relaxed);
        })?;
    Ok(LogsHandle {
        stop,
        wake,
        done,
        stats,
        metrics,
        files,
        started: std::sync::Mutex::new(Some(started_rx)),
        reconfigure: std::sync::Mutex::new(reconfigure),
        reconfigure_pending,
        ignore,
    })
}
