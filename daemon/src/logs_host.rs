//! The daemon as the log pipeline's host: checkpoints in the state database and the resource
//! attributes of each file (the writer's identity, following the OpenTelemetry semantic
//! conventions).

#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, LogExporter, StartAt};
use crate::daemon::Shared;
use crate::logs::discover::DiscoveryConfig;
use crate::logs::export::{Exporter, OtlpHttp, Stdout};
use crate::logs::pipeline::{LogsHost, Pipeline, PipelineConfig, PipelineStats};
use crate::logs::tail::Checkpoint;

/// The host implementation.
#[derive(Debug)]
pub struct DaemonLogsHost {
    shared: Arc<Shared>,
    host_name: String,
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

    fn resource(&self, path: &Path) -> Vec<(String, String)> {
        let mut attrs = vec![
            ("host.name".to_owned(), self.host_name.clone()),
            ("log.file.path".to_owned(), path.display().to_string()),
            (
                "log.file.name".to_owned(),
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
        ];
        let writer = self.shared.log_writer(path);
        match writer {
            Some(w) => {
                let mut push = |k: &str, v: String| {
                    if !v.is_empty() {
                        attrs.push((k.to_owned(), v));
                    }
                };
                push("service.name", w.service_name);
                push("process.pid", w.pid.to_string());
                push("process.executable.path", w.exe);
                push("process.command_line", w.command_line);
                push("systemd.unit", w.systemd_unit);
                push("container.id", w.container_id);
                push("k8s.pod.uid", w.pod_uid);
                push("telemetry.sdk.language", w.language);
            }
            None => attrs.push(("service.name".to_owned(), "unknown_service".to_owned())),
        }
        attrs
    }
}

/// The identity of a file's writer, for resource attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterIdentity {
    /// Writer pid.
    pub pid: u32,
    /// Its executable.
    pub exe: String,
    /// Its command line.
    pub command_line: String,
    /// Its service name.
    pub service_name: String,
    /// Its systemd unit.
    pub systemd_unit: String,
    /// Its container.
    pub container_id: String,
    /// Its pod.
    pub pod_uid: String,
    /// Its runtime.
    pub language: String,
}

/// A running pipeline thread.
#[derive(Debug)]
pub struct LogsHandle {
    stop: Arc<AtomicBool>,
    wake: std::os::unix::net::UnixStream,
    done: Arc<AtomicBool>,
    /// Its counters.
    pub stats: Arc<PipelineStats>,
}

impl LogsHandle {
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

/// Starts the pipeline thread for `config`, ignoring the daemon's own directories.
pub fn start(
    shared: Arc<Shared>,
    config: &Config,
    ignore: Vec<std::path::PathBuf>,
) -> std::io::Result<LogsHandle> {
    let exporter: Box<dyn Exporter> = match config.logs.exporter {
        LogExporter::Otlp => Box::new(OtlpHttp::new(
            &config.exporter.otlp_endpoint,
            config.exporter.compression,
        )),
        LogExporter::Stdout => Box::new(Stdout),
    };
    let pipeline_config = PipelineConfig {
        discovery: DiscoveryConfig {
            roots: config.logs.roots.clone(),
            include: config.logs.include.clone(),
            exclude: config.logs.exclude.clone(),
            max_depth: config.logs.max_depth,
            ignore,
        },
        multiline: config.logs.multiline,
        start_at_end: config.logs.start_at == StartAt::End,
    };
    let host = Arc::new(DaemonLogsHost {
        shared,
        host_name: crate::injection::snapshot::host_name(),
    });
    let pipeline = Pipeline::new(pipeline_config, host, exporter)?;
    let stats = pipeline.stats.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (stop2, done2) = (stop.clone(), done.clone());
    let (wake, wake_rx) = std::os::unix::net::UnixStream::pair()?;
    std::thread::Builder::new()
        .name("oneagent-logs".to_owned())
        .spawn(move || {
            pipeline.run(stop2, wake_rx);
            done2.store(true, Ordering::Relaxed);
        })?;
    Ok(LogsHandle {
        stop,
        wake,
        done,
        stats,
    })
}
