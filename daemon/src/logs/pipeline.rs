//! The log pipeline: discovery → tailing → records → OTLP export → checkpoints. It runs on its
//! own thread (file reads and HTTP are blocking; the daemon's event loop stays responsive) and
//! talks to the daemon only through [`LogsHost`]: checkpoints and the identity of each file's
//! writer.

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::attribute::{AttributionEngine, Writer};
use super::container::{
    Assembler, ContainerBatch, ContainerLogPath, Counts, Format, QUIET, Reason, Safe,
};
use super::discover::{Change, Discovery, DiscoveryConfig};
use super::export::{ExportError, Exporter};
use super::metrics::ServiceCounters;
use super::otlp::{self, Value};
use super::tail::{Checkpoint, FileKey, RecordBatch, TailedPath, find_by_key, signatures};

/// Bytes read from all files per round; also the most a batch holds, so memory stays bounded
/// while the collector is down.
pub const ROUND_BUDGET: usize = 4 << 20;
/// How many refused paths are remembered (to log each once).
const MAX_REFUSED_REMEMBERED: usize = 4096;

/// What the pipeline needs from the daemon.
pub trait LogsHost: Send + Sync {
    /// Every saved checkpoint.
    fn load_checkpoints(&self) -> Vec<Checkpoint>;
    /// Saves checkpoints (after the exporter acknowledged their records).
    fn save_checkpoints(&self, checkpoints: &[Checkpoint]) -> Result<(), String>;
    /// Resource attributes every record carries (`host.name`).
    fn host_attributes(&self) -> Vec<(String, String)>;
    /// The writer attribution engine, if this host can run one (fanotify needs CAP_SYS_ADMIN),
    /// with its saved state loaded.
    fn attribution(&self) -> Option<AttributionEngine>;
    /// Saves the attribution engine's state.
    fn save_attribution(&self, engine: &mut AttributionEngine);
    /// A process holding `path` open for writing, found by looking through /proc: the fallback
    /// when fanotify has not named a writer yet.
    fn writer_by_scan(&self, _path: &Path) -> Option<Writer> {
        None
    }
}

/// Resource attributes of one file's records, following the OpenTelemetry semantic
/// conventions: the file, and its most recent writer when attribution knows it.
pub fn resource_attributes(
    host: &[(String, String)],
    path: &Path,
    writer: Option<&Writer>,
    k8s_names: &[(String, String)],
) -> Vec<(String, String)> {
    let mut attrs: Vec<(String, String)> = host.to_vec();
    attrs.push(("log.file.path".to_owned(), path.display().to_string()));
    attrs.push((
        "log.file.name".to_owned(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    ));
    match writer {
        Some(w) => {
            let mut push = |k: &str, v: String| {
                if !v.is_empty() {
                    attrs.push((k.to_owned(), v));
                }
            };
            push("service.name", w.service_name.clone());
            push("process.pid", w.pid.to_string());
            push("process.executable.path", w.exe.clone());
            push("process.command_line", w.command_line.clone());
            push("systemd.unit", w.systemd_unit.clone());
            push("container.id", w.container_id.clone());
            push("k8s.pod.uid", w.pod_uid.clone());
            for (k, v) in k8s_names {
                push(k, v.clone());
            }
            push("process.runtime.name", w.language.clone());
        }
        None => attrs.push(("service.name".to_owned(), "unknown_service".to_owned())),
    }
    if !attrs.iter().any(|(k, _)| k == "service.name") {
        attrs.push(("service.name".to_owned(), "unknown_service".to_owned()));
    }
    attrs
}

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// What to discover.
    pub discovery: DiscoveryConfig,
    /// Join stack traces and tracebacks to their first line.
    pub multiline: bool,
    /// Start files found at the first start (no checkpoint yet) at their end.
    pub start_at_end: bool,
    /// Per-service rate limit in records per second (0: off); warnings and errors are kept.
    pub rate_limit_per_service: u32,
    /// Container stdout/stderr logs: where they are (`None`: files there are plain files).
    pub containers: Option<ContainerDirs>,
}

/// Where container logs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDirs {
    /// The kubelet's `/var/log/pods`.
    pub pods_dir: PathBuf,
    /// Docker's `/var/lib/docker/containers`.
    pub docker_dir: PathBuf,
}

/// A new configuration for a running pipeline (a reload), applied between two rounds without
/// losing its state: the files it tails keep their offsets, the batch in flight is sent (again)
/// through the new exporter, and checkpoints keep moving only after acknowledgement.
pub struct Reconfigure {
    /// Discovery, multiline, start and sampling settings.
    pub config: PipelineConfig,
    /// The exporter for the next attempt (a new endpoint, compression or kind).
    pub exporter: Box<dyn Exporter>,
    /// The attribution re-arm bound.
    pub rearm: Duration,
    /// Told once the new configuration is in force.
    pub done: std::sync::mpsc::Sender<()>,
}

impl std::fmt::Debug for Reconfigure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconfigure")
            .field("config", &self.config)
            .finish()
    }
}

/// How a file came to be tracked: where it starts without a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// By the first scan: at its end when `start_at = "end"` and nothing was ever checkpointed.
    AtStart,
    /// Under a root, include or depth added by a reload: history, so at its end when
    /// `start_at = "end"`.
    ByReload,
    /// Created while we watch: from its start.
    Live,
}

/// One file as `oneagentctl logs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogFileStatus {
    /// The path.
    pub path: String,
    /// The service its records carry.
    pub service: String,
    /// Its writers: pid, service and executable, most recent first.
    pub writers: Vec<(u32, String, String)>,
    /// Bytes read.
    pub offset: u64,
    /// Current size.
    pub size: u64,
    /// Bytes not read yet.
    pub lag: u64,
    /// `tailing`, `tailing+draining` while an old rotated file is still being read, `idle
    /// (closed)` while it is closed to stay under the fd cap, `waiting (fd cap)` while it waits
    /// for a descriptor.
    pub state: String,
}

/// Counters, shared with the metrics endpoint and `status`.
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Files being tailed.
    pub files: AtomicU64,
    /// Records exported.
    pub records: AtomicU64,
    /// Bytes of records exported.
    pub bytes: AtomicU64,
    /// Failed export attempts.
    pub export_errors: AtomicU64,
    /// Batches the collector rejected (not retried).
    pub rejected_batches: AtomicU64,
    /// Truncations detected.
    pub truncations: AtomicU64,
    /// Rotations followed.
    pub rotations: AtomicU64,
    /// Long lines split.
    pub split_lines: AtomicU64,
    /// Unread bytes across files at the last round.
    pub lag_bytes: AtomicU64,
    /// Directories watched.
    pub watched_dirs: AtomicU64,
    /// Files with a fanotify mark.
    pub attribution_marks: AtomicU64,
    /// fanotify events handled.
    pub attribution_events: AtomicU64,
    /// Idle log files closed to stay under the fd cap (reopened when they grow).
    pub parked: AtomicU64,
    /// Files under the log roots refused (special files, other users' links), counted once each.
    pub refused: AtomicU64,
    /// Container log lines (or files) that were not what their format says, per
    /// [`Reason::ALL`].
    pub container_bad_input: [AtomicU64; Reason::ALL.len()],
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One resource (file) of a batch being exported.
#[derive(Debug)]
struct ExportGroup {
    key: FileKey,
    /// Index of its service in the batch's per-service counters.
    service: usize,
    /// The encoded `Resource`.
    resource: Vec<u8>,
    /// Bytes of its kept records' `log_records` fields.
    records_len: usize,
    kept: usize,
}

/// The pipeline.
pub struct Pipeline {
    config: PipelineConfig,
    host: Arc<dyn LogsHost>,
    exporter: Box<dyn Exporter>,
    discovery: Discovery,
    files: HashMap<PathBuf, TailedPath>,
    checkpoints: HashMap<FileKey, Checkpoint>,
    fresh_state: bool,
    attribution: Option<AttributionEngine>,
    scanned_writers: HashMap<PathBuf, (Instant, Option<Writer>)>,
    /// Paths refused (special files, untrusted links), remembered to say so only once.
    refused: HashSet<PathBuf>,
    host_attributes: Vec<(String, String)>,
    sampler: super::metrics::Sampler,
    /// Per record of the batch being exported, whether sampling kept it; reused.
    kept: Vec<bool>,
    /// The encoded request; reused.
    request: Vec<u8>,
    /// Per-service log metrics.
    pub metrics: Arc<std::sync::Mutex<super::metrics::LogMetrics>>,
    /// Files for `oneagentctl logs`, refreshed every round.
    pub files_status: Arc<std::sync::Mutex<Vec<LogFileStatus>>>,
    /// Counters.
    pub stats: Arc<PipelineStats>,
    /// New configurations from reloads.
    reconfigure: Option<std::sync::mpsc::Receiver<Reconfigure>>,
    /// Set while a reconfiguration waits (cuts a retry backoff short).
    reconfigure_pending: Arc<AtomicBool>,
    /// Files no longer under the configured roots whose records are in the batch in flight:
    /// dropped once it is acknowledged, so their checkpoints still move.
    retiring: HashSet<PathBuf>,
    /// Container log files: their assembler and resource.
    containers: HashMap<PathBuf, ContainerFile>,
    /// The records assembled from container logs for the batch in flight …
    cbatch: ContainerBatch,
    /// … per group of them, its file, encoded resource and service …
    cgroups: Vec<(PathBuf, Arc<ContainerResource>)>,
    /// … and the container files read into the batch (their raw lines are not sent as such).
    ckeys: HashSet<FileKey>,
    /// Per container group while exporting: its service's index and the bytes of its kept
    /// records; per container record whether sampling kept it; runs of records of one group
    /// (group, first, past the last). Reused.
    cgroup_sizes: Vec<(Option<usize>, usize)>,
    ckept: Vec<bool>,
    cruns: Vec<(usize, usize, usize)>,
    /// Kubernetes names per (pod uid, container id) of writers, looked up at most every 30 s.
    k8s_names: HashMap<(String, String), (Instant, Attributes)>,
}

/// Attributes as key/value pairs.
type Attributes = Vec<(String, String)>;

/// A container log file's encoded resource and service name.
type ContainerResource = (Vec<u8>, String);

/// A container log file being tailed.
#[derive(Debug)]
struct ContainerFile {
    assembler: Assembler,
    /// Its encoded resource and service name.
    resource: Arc<ContainerResource>,
    /// Since when its path has had no file while the assembler held pieces: a rotation renames
    /// the file and the runtime makes the next one a moment later, and a piece written before
    /// the rename is finished in the new file, so what is held waits up to [`QUIET`] for it.
    gone_since: Option<Instant>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("files", &self.files.len())
            .finish()
    }
}

impl Pipeline {
    /// Sets up discovery and loads checkpoints.
    pub fn new(
        config: PipelineConfig,
        host: Arc<dyn LogsHost>,
        exporter: Box<dyn Exporter>,
    ) -> std::io::Result<Self> {
        let discovery = Discovery::new(config.discovery.clone())?;
        let checkpoints: HashMap<FileKey, Checkpoint> = host
            .load_checkpoints()
            .into_iter()
            .map(|c| (c.key, c))
            .collect();
        let attribution = host.attribution();
        let host_attributes = host.host_attributes();
        Ok(Pipeline {
            fresh_state: checkpoints.is_empty(),
            attribution,
            scanned_writers: HashMap::new(),
            refused: HashSet::new(),
            host_attributes,
            sampler: super::metrics::Sampler::new(config.rate_limit_per_service),
            kept: Vec::new(),
            request: Vec::new(),
            metrics: Arc::default(),
            files_status: Arc::default(),
            config,
            host,
            exporter,
            discovery,
            files: HashMap::new(),
            checkpoints,
            stats: Arc::new(PipelineStats::default()),
            reconfigure: None,
            reconfigure_pending: Arc::default(),
            retiring: HashSet::new(),
            containers: HashMap::new(),
            cbatch: ContainerBatch::default(),
            cgroup_sizes: Vec::new(),
            ckept: Vec::new(),
            cruns: Vec::new(),
            cgroups: Vec::new(),
            ckeys: HashSet::new(),
            k8s_names: HashMap::new(),
        })
    }

    /// Where reloads send new configurations, and the flag to raise (with a byte on the wake
    /// socket) when one is sent.
    pub fn reconfigure_channel(
        &mut self,
    ) -> (std::sync::mpsc::Sender<Reconfigure>, Arc<AtomicBool>) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.reconfigure = Some(rx);
        (tx, self.reconfigure_pending.clone())
    }

    /// Applies a waiting reconfiguration, if any. `in_flight` says whether a batch waits for
    /// the collector.
    fn apply_reconfigure(&mut self, dirty: &mut HashSet<PathBuf>, in_flight: bool) {
        let Some(rx) = self.reconfigure.as_ref() else {
            return;
        };
        self.reconfigure_pending.store(false, Ordering::Relaxed);
        let mut latest = None;
        while let Ok(r) = rx.try_recv() {
            if let Some(old) = latest.replace(r) {
                let Reconfigure { done, .. } = old;
                let _ = done.send(());
            }
        }
        let Some(r) = latest else { return };
        self.exporter = r.exporter;
        if let Some(a) = self.attribution.as_mut() {
            a.set_rearm_interval(r.rearm);
        }
        if r.config.rate_limit_per_service != self.config.rate_limit_per_service {
            self.sampler = super::metrics::Sampler::new(r.config.rate_limit_per_service);
        }
        if r.config.multiline != self.config.multiline {
            for (p, t) in self.files.iter_mut() {
                if !self.containers.contains_key(p) {
                    t.set_multiline(r.config.multiline);
                }
            }
            for c in self.containers.values_mut() {
                c.assembler
                    .set_multiline(r.config.multiline, &mut self.cbatch);
            }
        }
        let discovery_changed = r.config.discovery != self.config.discovery;
        self.config = r.config;
        if discovery_changed {
            match Discovery::new(self.config.discovery.clone()) {
                Ok(mut discovery) => {
                    let found: HashSet<PathBuf> = discovery.scan().into_iter().collect();
                    self.discovery = discovery;
                    let gone: Vec<PathBuf> = self
                        .files
                        .keys()
                        .filter(|p| !found.contains(*p))
                        .cloned()
                        .collect();
                    for p in gone {
                        if let Some(a) = self.attribution.as_mut() {
                            a.unwatch(&p);
                        }
                        self.retiring.insert(p);
                    }
                    for p in found {
                        self.retiring.remove(&p);
                        self.track(&p, Found::ByReload);
                        dirty.insert(p);
                    }
                    if !in_flight {
                        self.drop_retiring();
                    }
                }
                Err(e) => tracing::error!(
                    error = %e,
                    "Log discovery could not restart with the new roots; keeping the files already tailed"
                ),
            }
        }
        tracing::info!(
            files = self.files.len() - self.retiring.len(),
            "Log pipeline reconfigured"
        );
        let _ = r.done.send(());
    }

    /// Stops tailing files that left the configuration (their checkpoints stay: a file that
    /// comes back resumes where it was).
    fn drop_retiring(&mut self) {
        for p in std::mem::take(&mut self.retiring) {
            self.files.remove(&p);
            self.scanned_writers.remove(&p);
        }
        self.publish_files();
        self.stats
            .files
            .store(self.files.len() as u64, Ordering::Relaxed);
    }

    fn track(&mut self, path: &Path, found: Found) {
        if self.files.contains_key(path) {
            return;
        }
        let meta = std::fs::metadata(path).ok();
        if let Some(m) = &meta
            && !m.is_file()
        {
            // A FIFO, socket or device named like a log: never opened (it could block the
            // tailer or have side effects), said once.
            self.refused_once(path, "not a regular file");
            return;
        }
        let key = meta.map(|m| {
            use std::os::unix::fs::MetadataExt;
            FileKey {
                dev: m.dev(),
                ino: m.ino(),
            }
        });
        let resume = key.and_then(|k| self.checkpoints.get(&k)).cloned();
        let from_end = match found {
            Found::AtStart => self.fresh_state && self.config.start_at_end,
            Found::ByReload => self.config.start_at_end,
            Found::Live => false,
        };
        let container = self.container_file(path);
        // A container log's lines are joined by its assembler, after their prefix is parsed.
        let mut tailed = TailedPath::open(
            path,
            resume.as_ref(),
            from_end,
            self.config.multiline && container.is_none(),
        );
        // Its lines are parsed by the assembler, which finds severity and UTF-8 of the content.
        tailed.set_lines_only(container.is_some());
        if tailed.finished() && key.is_some() {
            // It exists but could not be opened: unreadable, swapped for a special file, or
            // behind another user's symbolic link (see `safe_fs`).
            self.refused_once(path, "could not be opened safely");
            return;
        }
        if let Some(a) = self.attribution.as_mut()
            && let Err(e) = a.watch(path)
        {
            tracing::debug!(file = %path.display(), error = %e, "No writer attribution for this file");
        }
        // At start only: a checkpoint of this path whose file has moved (renamed by rotation
        // while we were down): drain the rest of that file from the same directory. While we run,
        // rotations are followed live (and checkpoints lag behind what was read).
        if found == Found::AtStart
            && let Some(dir) = path.parent()
        {
            let stale: Vec<Checkpoint> = self
                .checkpoints
                .values()
                .filter(|c| c.path == path && Some(c.key) != key)
                .cloned()
                .collect();
            for cp in stale {
                if let Some(found) = find_by_key(dir, cp.key) {
                    tailed.drain_file(&found, &cp);
                }
            }
        }
        self.files.insert(path.to_owned(), tailed);
        if let Some(c) = container {
            // The path's assembler is kept if it still holds pieces from the file a rotation
            // renamed away (see `ContainerFile::gone_since`).
            self.containers
                .entry(path.to_owned())
                .or_insert(c)
                .gone_since = None;
        }
    }

    /// The assembler and resource of `path` if it is a container log.
    fn container_file(&self, path: &Path) -> Option<ContainerFile> {
        let dirs = self.config.containers.as_ref()?;
        let (format, parsed) = super::container::classify(&dirs.pods_dir, &dirs.docker_dir, path)?;
        let parsed = parsed.unwrap_or_else(|reason| {
            self.stats.container_bad_input[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
            tracing::info!(file = %path.display(), "A file under the pods directory is not <namespace>_<pod>_<uid>/<container>/<n>.log; its lines are sent without Kubernetes attributes");
            ContainerLogPath::default()
        });
        let mut attrs = self.host_attributes.clone();
        attrs.push(("log.file.path".to_owned(), path.display().to_string()));
        attrs.extend(parsed.attributes());
        let service = match (format, parsed.container.is_empty()) {
            (Format::Cri, false) => parsed.container.clone(),
            _ => "unknown_service".to_owned(),
        };
        attrs.push(("service.name".to_owned(), service.clone()));
        let values: Vec<(&str, Value<'_>)> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), Value::Str(v.as_str())))
            .collect();
        Some(ContainerFile {
            assembler: Assembler::new(format, self.config.multiline, 0),
            resource: Arc::new((otlp::encode_resource(&values), service)),
            gone_since: None,
        })
    }

    /// The group of `path` in the container batch in flight.
    fn container_group(&mut self, path: &Path) -> Option<usize> {
        let c = self.containers.get(path)?;
        Some(group_of(&mut self.cgroups, path, &c.resource))
    }

    /// Feeds the lines read from container logs to their assemblers (what comes out waits in
    /// the container batch for the export), sends on what waited too long, and what is held for
    /// files that are gone.
    fn assemble(&mut self, batch: &RecordBatch, paths: &HashMap<FileKey, PathBuf>, now: Instant) {
        if self.containers.is_empty() {
            return;
        }
        let mut counts = Counts::default();
        // Runs of records of one file: the file is looked up once per run, not per line.
        let mut runs: Vec<(FileKey, usize, usize)> = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            match runs.last_mut() {
                Some((k, _, end)) if *k == r.key => *end = i + 1,
                _ => runs.push((r.key, i, i + 1)),
            }
        }
        for (key, first, past) in runs {
            let Some(path) = paths
                .get(&key)
                .filter(|p| self.containers.contains_key(*p))
                .cloned()
            else {
                continue;
            };
            self.ckeys.insert(key);
            let group = self.container_group(&path).unwrap_or(0);
            let Some(c) = self.containers.get_mut(&path) else {
                continue;
            };
            c.assembler.set_group(group);
            for r in (first..past).filter_map(|i| batch.get(i)) {
                c.assembler.push(
                    r.key,
                    r.bytes,
                    r.end_offset,
                    now,
                    &mut self.cbatch,
                    &mut counts,
                );
            }
        }
        // One pass over the files: what waited too long goes out; paths without a file are
        // forgotten once nothing is held, or once what is held waited QUIET for the file a
        // rotation makes next (then it goes out as it is).
        let mut gone: Vec<PathBuf> = Vec::new();
        for (p, c) in self.containers.iter_mut() {
            let has_file = self.files.get(p).is_some_and(|t| !t.finished());
            if !c.assembler.has_pending() {
                if !has_file {
                    gone.push(p.clone());
                }
                continue;
            }
            c.assembler
                .set_group(group_of(&mut self.cgroups, p, &c.resource));
            let expired = !has_file
                && now.saturating_duration_since(*c.gone_since.get_or_insert(now)) >= QUIET;
            if expired {
                c.assembler
                    .flush_all(now, Reason::DeletedMidRecord, &mut self.cbatch, &mut counts);
                gone.push(p.clone());
            } else {
                c.assembler
                    .flush_quiet(now, QUIET, &mut self.cbatch, &mut counts);
            }
        }
        for p in gone {
            self.containers.remove(&p);
        }
        for reason in Reason::ALL {
            let n = counts.get(reason);
            if n > 0 {
                self.stats.container_bad_input[reason_index(reason)]
                    .fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// The Kubernetes names of a writer in a pod (from the pods directory and the kubelet's
    /// links beside it), looked up at most every 30 s per pod and container.
    fn writer_k8s_names(&mut self, writer: Option<&Writer>) -> Vec<(String, String)> {
        let (Some(w), Some(dirs)) = (writer, self.config.containers.as_ref()) else {
            return Vec::new();
        };
        if w.pod_uid.is_empty() {
            return Vec::new();
        }
        let key = (w.pod_uid.clone(), w.container_id.clone());
        if let Some((at, names)) = self.k8s_names.get(&key)
            && (!names.is_empty() || at.elapsed() < Duration::from_secs(30))
        {
            return names.clone();
        }
        // Names only: nothing is opened or followed.
        let list = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let pod_dirs = list(&dirs.pods_dir);
        let links = dirs
            .pods_dir
            .parent()
            .map(|p| list(&p.join("containers")))
            .unwrap_or_default();
        let names = super::container::writer_names(
            pod_dirs.iter().map(String::as_str),
            links.iter().map(String::as_str),
            &w.pod_uid,
            &w.container_id,
        );
        if self.k8s_names.len() >= MAX_REFUSED_REMEMBERED {
            self.k8s_names.clear();
        }
        self.k8s_names.insert(key, (Instant::now(), names.clone()));
        names
    }

    /// Keeps the open log files under the fd cap ([`super::tail::max_open_files`]): when more
    /// than three quarters of it are open, or a file waits for a descriptor, the least recently
    /// active files that are read to their end are closed until half of it is open. They are
    /// reopened by inode, with their offset checked, when they change.
    fn park_idle(&mut self) {
        let cap = super::tail::max_open_files();
        let open = super::tail::open_files();
        let waiting = self.files.values().filter(|t| t.wants_open()).count();
        if open <= cap / 4 * 3 && waiting == 0 {
            return;
        }
        let target = (cap / 2).min(cap.saturating_sub(waiting));
        let mut candidates: Vec<(Instant, PathBuf)> = self
            .files
            .iter()
            .filter(|(_, t)| t.open_files() > 0 && !t.has_pending() && !t.is_draining())
            .map(|(p, t)| (t.last_active(), p.clone()))
            .collect();
        candidates.sort();
        let mut parked = 0u64;
        for (_, path) in candidates {
            if super::tail::open_files() <= target {
                break;
            }
            if let Some(t) = self.files.get_mut(&path)
                && t.park()
            {
                parked += 1;
            }
        }
        if parked > 0 {
            self.stats.parked.fetch_add(parked, Ordering::Relaxed);
            tracing::debug!(
                parked,
                open = super::tail::open_files(),
                cap,
                "Closed idle log files to stay under the fd cap"
            );
        }
    }

    /// Says once per path (for at most [`MAX_REFUSED_REMEMBERED`] paths) that a file is not
    /// tailed: a user who can create files under a log root must not be able to flood the log.
    fn refused_once(&mut self, path: &Path, why: &'static str) {
        if self.refused.len() >= MAX_REFUSED_REMEMBERED || !self.refused.insert(path.to_owned()) {
            return;
        }
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::info!(file = %path.display(), reason = why, "Not tailing a file under a log root");
    }

    /// Runs until `stop` is set; a byte on `wake` interrupts a wait at once. `started` is called
    /// once the roots are watched and the files found in them are tracked: from then on no file
    /// created under a root is missed.
    pub fn run(
        mut self,
        stop: Arc<AtomicBool>,
        wake: std::os::unix::net::UnixStream,
        started: impl FnOnce(),
    ) {
        for path in self.discovery.scan() {
            self.track(&path, Found::AtStart);
        }
        self.publish_files();
        self.stats
            .files
            .store(self.files.len() as u64, Ordering::Relaxed);
        started();
        let mut dirty: HashSet<PathBuf> = self.files.keys().cloned().collect();
        let mut last_fallback = Instant::now();
        let mut backoff = Duration::from_millis(200);
        let mut batch = RecordBatch::new();
        let mut batch_paths: HashMap<FileKey, PathBuf> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            self.apply_reconfigure(&mut dirty, !batch.is_empty() || !self.cbatch.is_empty());
            // 1. Read what is new, unless a batch is still waiting for the collector.
            if batch.is_empty() && self.cbatch.is_empty() {
                let now = Instant::now();
                let mut budget = ROUND_BUDGET;
                let pending: Vec<PathBuf> = self
                    .files
                    .iter()
                    .filter(|(p, t)| {
                        (dirty.contains(*p) || t.has_pending() || t.wants_open())
                            && (self.retiring.is_empty() || !self.retiring.contains(*p))
                    })
                    .map(|(p, _)| p.clone())
                    .collect();
                dirty.clear();
                for path in pending {
                    let Some(t) = self.files.get_mut(&path) else {
                        continue;
                    };
                    let files_before = batch.ends().len();
                    // The tailer spends the budget in raw bytes read, newlines included.
                    let notes = t.poll(now, &mut budget, &mut batch);
                    for end in batch.ends().get(files_before..).unwrap_or_default() {
                        batch_paths.entry(end.key).or_insert_with(|| path.clone());
                    }
                    if notes.more || budget == 0 {
                        // More to read: come back next round, without waiting.
                        dirty.insert(path.clone());
                    }
                    self.stats
                        .truncations
                        .fetch_add(u64::from(notes.truncated), Ordering::Relaxed);
                    self.stats
                        .rotations
                        .fetch_add(u64::from(notes.rotated), Ordering::Relaxed);
                    self.stats
                        .split_lines
                        .fetch_add(notes.split_lines, Ordering::Relaxed);
                    if notes.truncated {
                        tracing::info!(file = %path.display(), "Log file truncated; reading it from the start");
                    }
                }
                self.assemble(&batch, &batch_paths, now);
                self.files.retain(|_, t| !t.finished());
                self.publish_files();
                self.stats
                    .files
                    .store(self.files.len() as u64, Ordering::Relaxed);
                self.stats.lag_bytes.store(
                    self.files.values().map(TailedPath::lag).sum(),
                    Ordering::Relaxed,
                );
            }

            // 2. Export; on success move the checkpoints. (A file whose writer fanotify has not
            // named yet is looked up in /proc at its first export, so its records carry it; one
            // whose first writer exited before the inventory knew it waits, at most about a
            // second, for the inventory to name it.)
            let naming = self.attribution.as_mut().is_some_and(|a| {
                // The write just read may have queued its fanotify event after this round's
                // events were read: read them again for a file that has no writer yet.
                if batch_paths.values().any(|p| a.writers(p).is_empty()) {
                    for change in a.process_events(Instant::now()) {
                        tracing::debug!(change = ?change, "Attribution");
                    }
                }
                batch_paths.values().any(|p| a.awaits_first_writer(p))
            });
            if (!batch.is_empty() || !self.cbatch.is_empty()) && !naming {
                match self.export(&batch, &batch_paths) {
                    Ok(()) => {
                        self.acknowledge(&batch, &batch_paths);
                        batch.clear();
                        batch_paths.clear();
                        self.clear_containers_batch();
                        backoff = Duration::from_millis(200);
                        if !self.retiring.is_empty() {
                            self.drop_retiring();
                        }
                    }
                    Err(ExportError::Rejected(why)) => {
                        // Retrying cannot help; move on so that the pipeline does not wedge.
                        tracing::error!(records = batch.len(), reason = %why, "The collector rejected a batch of log records");
                        self.stats.rejected_batches.fetch_add(1, Ordering::Relaxed);
                        self.acknowledge(&batch, &batch_paths);
                        batch.clear();
                        batch_paths.clear();
                        self.clear_containers_batch();
                        if !self.retiring.is_empty() {
                            self.drop_retiring();
                        }
                    }
                    Err(ExportError::Retry(why)) => {
                        self.stats.export_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(records = batch.len(), reason = %why, retry_in_ms = backoff.as_millis() as u64, "Exporting logs failed; reading is paused until it succeeds");
                        sleep_unless(&stop, &self.reconfigure_pending, backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        continue;
                    }
                }
            }

            // Between batches, stay under the fd cap: close the least recently active files that
            // are read to their end.
            if batch.is_empty() && self.cbatch.is_empty() {
                self.park_idle();
            }

            // 3. Wait for the next change (or a timeout for partial lines and scans).
            let waiting = !dirty.is_empty()
                || !batch.is_empty()
                || !self.cbatch.is_empty()
                || self.containers.values().any(|c| c.assembler.has_pending())
                || self
                    .files
                    .values()
                    .any(|t| t.has_pending() || t.wants_open());
            // Idle means no timer at all: only inotify or the stop signal wake the thread.
            let timeout = if !dirty.is_empty() {
                nix::poll::PollTimeout::ZERO
            } else if waiting {
                nix::poll::PollTimeout::from(200u16)
            } else if self.discovery.stats().scanned_dirs > 0 {
                nix::poll::PollTimeout::from(5000u16)
            } else {
                nix::poll::PollTimeout::NONE
            };
            // Attribution re-arms on a deadline: never sleep past it.
            let timeout = match self
                .attribution
                .as_ref()
                .and_then(AttributionEngine::next_rearm)
            {
                Some(at) => {
                    let ms = at
                        .saturating_duration_since(Instant::now())
                        .as_millis()
                        .min(60_000) as u16;
                    if timeout == nix::poll::PollTimeout::NONE
                        || nix::poll::PollTimeout::from(ms) < timeout
                    {
                        nix::poll::PollTimeout::from(ms)
                    } else {
                        timeout
                    }
                }
                None => timeout,
            };
            {
                let mut fds = vec![
                    nix::poll::PollFd::new(self.discovery.as_fd(), nix::poll::PollFlags::POLLIN),
                    nix::poll::PollFd::new(wake.as_fd(), nix::poll::PollFlags::POLLIN),
                ];
                if let Some(a) = self.attribution.as_ref() {
                    fds.push(nix::poll::PollFd::new(
                        a.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    ));
                }
                let _ = nix::poll::poll(&mut fds, timeout);
                let woken = fds.get(1).and_then(nix::poll::PollFd::revents);
                if woken.is_some_and(|r| r.contains(nix::poll::PollFlags::POLLIN)) {
                    // A reconfiguration (or the stop) was signalled: take the bytes, so that
                    // the next wait waits.
                    drain_wake(&wake);
                }
            }
            if let Some(a) = self.attribution.as_mut() {
                let now = Instant::now();
                for change in a.process_events(now) {
                    tracing::debug!(change = ?change, "Attribution");
                }
                a.rearm_due(now);
                let c = a.counters();
                self.stats
                    .attribution_marks
                    .store(c.marks as u64, Ordering::Relaxed);
                self.stats
                    .attribution_events
                    .store(c.events, Ordering::Relaxed);
                if a.is_dirty() {
                    self.host.save_attribution(a);
                }
            }
            for change in self.discovery.read() {
                match change {
                    Change::File(p) => {
                        self.track(&p, Found::Live);
                        if let Some(a) = self.attribution.as_mut() {
                            let _ = a.file_changed(&p);
                        }
                        dirty.insert(p);
                    }
                    Change::Moved(p) => {
                        if self.files.contains_key(&p) {
                            dirty.insert(p);
                        }
                    }
                    Change::Sibling(s) => {
                        // A copy being made (copytruncate): read the original now, before the
                        // truncation, so that as little as possible is left for the copy.
                        for p in self.files.keys() {
                            if p.parent() == s.parent() {
                                dirty.insert(p.clone());
                            }
                        }
                    }
                }
            }
            let stats = self.discovery.stats();
            self.stats
                .watched_dirs
                .store(stats.watched_dirs as u64, Ordering::Relaxed);
            if stats.scanned_dirs > 0 && last_fallback.elapsed() >= Duration::from_secs(5) {
                last_fallback = Instant::now();
                for p in self.discovery.scan_fallback() {
                    self.track(&p, Found::Live);
                    dirty.insert(p);
                }
                // Without inotify, changes are only seen by looking.
                dirty.extend(self.files.keys().cloned());
            }
        }
        // Stopping: one last attempt for what was read, so that a clean stop loses nothing and
        // duplicates nothing.
        if (!batch.is_empty() || !self.cbatch.is_empty())
            && self.export(&batch, &batch_paths).is_ok()
        {
            self.acknowledge(&batch, &batch_paths);
        }
    }

    /// Encodes the batch (one resource per file, in the order the files were read) and sends
    /// it; counts metrics once the exporter took it. Two passes over the records: the first
    /// samples, counts and sizes every resource, the second writes the request straight from
    /// the batch's arena.
    fn export(
        &mut self,
        batch: &RecordBatch,
        paths: &HashMap<FileKey, PathBuf>,
    ) -> Result<(), ExportError> {
        let observed = unix_nanos();
        let now = Instant::now();
        let mut groups: Vec<ExportGroup> = Vec::new();
        let mut services: Vec<(String, ServiceCounters)> = Vec::new();
        // Runs of consecutive records of one group: (group, first record, past the last).
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut bytes = 0u64;
        let mut kept = 0usize;
        self.kept.clear();
        // Container logs' raw lines are sent as what their assemblers made of them.
        let mut skip: Option<(FileKey, bool)> = None;
        for (i, r) in batch.iter().enumerate() {
            let container = match skip {
                Some((k, c)) if k == r.key => c,
                _ => {
                    let c = !self.ckeys.is_empty() && self.ckeys.contains(&r.key);
                    skip = Some((r.key, c));
                    c
                }
            };
            if container {
                self.kept.push(false);
                continue;
            }
            let current = runs
                .last()
                .map(|&(g, _, _)| g)
                .filter(|&g| groups.get(g).is_some_and(|g| g.key == r.key));
            let idx = match current {
                Some(g) => g,
                None => {
                    let g = match groups.iter().position(|g| g.key == r.key) {
                        Some(g) => g,
                        None => {
                            let group = self.export_group(r.key, paths, &mut services);
                            groups.push(group);
                            groups.len() - 1
                        }
                    };
                    runs.push((g, i, i));
                    g
                }
            };
            if let Some(run) = runs.last_mut() {
                run.2 = i + 1;
            }
            let mut keep = false;
            if let Some(g) = groups.get_mut(idx)
                && let Some((service, counters)) = services.get_mut(g.service)
            {
                keep = self.sampler.keep(service, r.severity, now);
                if keep {
                    g.records_len += otlp::log_record_field_len(
                        r.severity,
                        r.bytes.len(),
                        r.is_utf8,
                        r.trace.as_ref(),
                    );
                    g.kept += 1;
                    if r.may_name_exception {
                        counters.count(r.severity, r.bytes);
                    } else {
                        counters.count_plain(r.severity, r.bytes.len());
                    }
                    bytes += r.bytes.len() as u64;
                    kept += 1;
                } else {
                    counters.sampled_out += 1;
                }
            }
            self.kept.push(keep);
        }
        // Container records: one resource per file, the time from the line, `log.iostream`.
        // Sampled, counted and sized per group first, then written straight into the request.
        let cgroups = &mut self.cgroup_sizes;
        cgroups.clear();
        cgroups.resize(self.cgroups.len(), (None, 0));
        let ckept = &mut self.ckept;
        ckept.clear();
        // Runs of consecutive records of one group: (group, first record, past the last).
        let cruns = &mut self.cruns;
        cruns.clear();
        for (i, (span, body)) in self.cbatch.iter().enumerate() {
            match cruns.last_mut() {
                Some((g, _, past)) if *g == span.group => *past = i + 1,
                _ => cruns.push((span.group, i, i + 1)),
            }
            ckept.push(false);
            let (Some((service_slot, records_len)), Some((_, resource))) =
                (cgroups.get_mut(span.group), self.cgroups.get(span.group))
            else {
                continue;
            };
            let service = match *service_slot {
                Some(i) => i,
                None => {
                    let name = &resource.1;
                    let i = match services.iter().position(|(s, _)| s == name) {
                        Some(i) => i,
                        None => {
                            services.push((name.clone(), ServiceCounters::default()));
                            services.len() - 1
                        }
                    };
                    *service_slot = Some(i);
                    i
                }
            };
            let Some((name, counters)) = services.get_mut(service) else {
                continue;
            };
            if !self.sampler.keep(name, span.severity, now) {
                counters.sampled_out += 1;
                continue;
            }
            counters.count(span.severity, body);
            let stream = span.stream.map(|s| ("log.iostream", Value::Str(s.name())));
            *records_len += otlp::log_record_with_field_len(
                span.time,
                span.severity,
                body.len(),
                span.is_utf8,
                stream.as_slice(),
            );
            if let Some(k) = ckept.last_mut() {
                *k = true;
            }
            bytes += body.len() as u64;
            kept += 1;
        }
        if kept > 0 {
            let request = &mut self.request;
            request.clear();
            request.reserve(
                groups
                    .iter()
                    .filter(|g| g.kept > 0)
                    .map(|g| otlp::resource_logs_field_len(g.resource.len(), g.records_len))
                    .chain(
                        self.cgroups
                            .iter()
                            .zip(self.cgroup_sizes.iter())
                            .filter(|(_, (_, len))| *len > 0)
                            .map(|((_, r), (_, len))| {
                                otlp::resource_logs_field_len(r.0.len(), *len)
                            }),
                    )
                    .sum(),
            );
            for (idx, g) in groups.iter().enumerate().filter(|(_, g)| g.kept > 0) {
                otlp::put_resource_logs_head(request, &g.resource, g.records_len);
                for &(_, first, past) in runs.iter().filter(|run| run.0 == idx) {
                    for i in first..past {
                        if let (Some(r), Some(true)) = (batch.get(i), self.kept.get(i)) {
                            otlp::put_log_record(
                                request,
                                observed,
                                r.severity,
                                r.bytes,
                                r.is_utf8,
                                r.trace.as_ref(),
                            );
                        }
                    }
                }
            }
            for (group, ((_, resource), &(_, records_len))) in self
                .cgroups
                .iter()
                .zip(self.cgroup_sizes.iter())
                .enumerate()
            {
                if records_len == 0 {
                    continue;
                }
                otlp::put_resource_logs_head(request, &resource.0, records_len);
                for &(_, first, past) in self.cruns.iter().filter(|run| run.0 == group) {
                    let kept = self.ckept.get(first..past).unwrap_or_default();
                    for ((span, body), _) in self
                        .cbatch
                        .range(first..past)
                        .zip(kept)
                        .filter(|(_, kept)| **kept)
                    {
                        let stream = span.stream.map(|s| ("log.iostream", Value::Str(s.name())));
                        otlp::put_log_record_with(
                            request,
                            span.time,
                            observed,
                            span.severity,
                            body,
                            span.is_utf8,
                            stream.as_slice(),
                        );
                    }
                }
            }
            self.exporter.export(&self.request, kept)?;
        }
        self.stats.records.fetch_add(kept as u64, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        for (service, delta) in services {
            metrics.add(&service, delta);
        }
        Ok(())
    }

    /// The resource of a file's records: its attributes (with its writer, looked up in /proc
    /// at most every 5 s when attribution has not named one) and its service's counters.
    fn export_group(
        &mut self,
        key: FileKey,
        paths: &HashMap<FileKey, PathBuf>,
        services: &mut Vec<(String, ServiceCounters)>,
    ) -> ExportGroup {
        let path = paths.get(&key).cloned().unwrap_or_default();
        let mut writer = self
            .attribution
            .as_ref()
            .and_then(|a| a.writers(&path).iter().max_by_key(|w| w.last_seen))
            .cloned();
        if writer.is_none() {
            let due = self
                .scanned_writers
                .get(&path)
                .is_none_or(|(at, _)| at.elapsed() >= Duration::from_secs(5));
            if due {
                let found = self.host.writer_by_scan(&path);
                self.scanned_writers
                    .insert(path.clone(), (Instant::now(), found));
            }
            writer = self.scanned_writers.get(&path).and_then(|(_, w)| w.clone());
        }
        let k8s_names = self.writer_k8s_names(writer.as_ref());
        let attrs = resource_attributes(&self.host_attributes, &path, writer.as_ref(), &k8s_names);
        let service = attrs
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let service = match services.iter().position(|(s, _)| s == service) {
            Some(i) => i,
            None => {
                services.push((service.to_owned(), ServiceCounters::default()));
                services.len() - 1
            }
        };
        let values: Vec<(&str, Value<'_>)> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), Value::Str(v.as_str())))
            .collect();
        ExportGroup {
            key,
            service,
            resource: otlp::encode_resource(&values),
            records_len: 0,
            kept: 0,
        }
    }

    /// Forgets the container records of the batch just acknowledged.
    fn clear_containers_batch(&mut self) {
        self.cbatch.clear();
        self.cgroups.clear();
        self.ckeys.clear();
    }

    fn publish_files(&self) {
        let mut list: Vec<LogFileStatus> = self
            .files
            .iter()
            .map(|(path, t)| {
                let mut writers: Vec<(u32, String, String)> = self
                    .attribution
                    .as_ref()
                    .map(|a| {
                        let mut w: Vec<&Writer> = a.writers(path).iter().collect();
                        w.sort_by_key(|w| std::cmp::Reverse(w.last_seen));
                        w.into_iter()
                            .map(|w| (w.pid, w.service_name.clone(), w.exe.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                if writers.is_empty()
                    && let Some((_, Some(w))) = self.scanned_writers.get(path)
                {
                    writers.push((w.pid, w.service_name.clone(), w.exe.clone()));
                }
                let size = t.current_size();
                let lag = t.lag();
                LogFileStatus {
                    path: path.display().to_string(),
                    service: writers
                        .first()
                        .map(|w| w.1.clone())
                        .unwrap_or_else(|| "unknown_service".to_owned()),
                    writers,
                    offset: size.saturating_sub(lag),
                    size,
                    lag,
                    state: if t.wants_open() {
                        "waiting (fd cap)"
                    } else if t.is_draining() {
                        "tailing+draining"
                    } else if t.is_parked() {
                        "idle (closed)"
                    } else {
                        "tailing"
                    }
                    .to_owned(),
                }
            })
            .collect();
        list.sort_by(|a, b| a.path.cmp(&b.path));
        *self.files_status.lock().unwrap_or_else(|p| p.into_inner()) = list;
    }

    fn acknowledge(&mut self, batch: &RecordBatch, paths: &HashMap<FileKey, PathBuf>) {
        let mut saved = Vec::new();
        for end in batch.ends() {
            if self.ckeys.contains(&end.key) {
                continue;
            }
            let Some(path) = paths.get(&end.key) else {
                continue;
            };
            let file = self.files.values().find_map(|t| t.file(end.key));
            let Some(file) = file else { continue };
            // The tailer hashed the bytes as it read them; else read them again.
            let Some((head, tail)) = end
                .signatures
                .or_else(|| signatures(file, end.end_offset).ok())
            else {
                continue;
            };
            let cp = Checkpoint {
                key: end.key,
                path: path.clone(),
                offset: end.end_offset,
                head,
                tail,
            };
            self.checkpoints.insert(end.key, cp.clone());
            saved.push(cp);
        }
        // Container logs: up to the first line their assemblers still hold.
        for (path, c) in &self.containers {
            for &(key, end) in c.assembler.read_ends() {
                let offset = match c.assembler.safe(key) {
                    Safe::Anywhere => end,
                    Safe::UpTo(o) => o,
                    Safe::Hold => continue,
                };
                if self
                    .checkpoints
                    .get(&key)
                    .is_some_and(|cp| cp.offset >= offset)
                {
                    continue;
                }
                let Some(file) = self.files.get(path).and_then(|t| t.file(key)) else {
                    continue;
                };
                let Ok((head, tail)) = signatures(file, offset) else {
                    continue;
                };
                let cp = Checkpoint {
                    key,
                    path: path.clone(),
                    offset,
                    head,
                    tail,
                };
                self.checkpoints.insert(key, cp.clone());
                saved.push(cp);
            }
        }
        if let Err(e) = self.host.save_checkpoints(&saved) {
            tracing::error!(error = %e, "Saving log checkpoints failed; they will be saved with the next batch");
        }
    }
}

/// The group of container file `path` (its resource `resource`) in the batch in flight, added
/// when it has none yet.
fn group_of(
    cgroups: &mut Vec<(PathBuf, Arc<ContainerResource>)>,
    path: &Path,
    resource: &Arc<ContainerResource>,
) -> usize {
    if let Some(g) = cgroups.iter().position(|(p, _)| p == path) {
        return g;
    }
    cgroups.push((path.to_owned(), resource.clone()));
    cgroups.len() - 1
}

/// The index of `reason` in [`PipelineStats::container_bad_input`].
pub fn reason_index(reason: Reason) -> usize {
    Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
}

/// Reads what is waiting on the wake socket without blocking.
fn drain_wake(wake: &std::os::unix::net::UnixStream) {
    let _ = wake.set_nonblocking(true);
    let mut buf = [0u8; 64];
    while matches!(std::io::Read::read(&mut &*wake, &mut buf), Ok(n) if n > 0) {}
}

fn sleep_unless(stop: &AtomicBool, reconfigure: &AtomicBool, d: Duration) {
    // Short steps: a stop (or a new configuration) during a long backoff is noticed within 50 ms.
    let until = Instant::now() + d;
    while Instant::now() < until
        && !stop.load(Ordering::Relaxed)
        && !reconfigure.load(Ordering::Relaxed)
    {
        std::thread::sleep(
            Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())),
        );
    }
}
