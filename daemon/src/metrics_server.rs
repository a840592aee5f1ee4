//! The Prometheus endpoint (`[metrics] listen`, `GET /metrics`): the daemon's own metrics and the
//! per-service log metrics, in the text exposition format. A few lines of HTTP/1.1 over tokio:
//! one route, no keep-alive, bounded request size.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::daemon::Shared;
use crate::logs::metrics::SEVERITIES;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text.
pub fn render(shared: &Shared) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP oneagent_build_info Version of oneagentd.\n# TYPE oneagent_build_info gauge"
    );
    let _ = writeln!(
        text,
        "oneagent_build_info{{version=\"{}\"}} 1",
        crate::VERSION
    );
    let processes = shared.processes();
    let _ = writeln!(
        text,
        "# HELP oneagent_processes Processes in the inventory.\n# TYPE oneagent_processes gauge\noneagent_processes {}",
        processes.len()
    );
    let _ = writeln!(
        text,
        "# HELP oneagent_runtime_processes Processes of a detected runtime, by language and injection state.\n# TYPE oneagent_runtime_processes gauge"
    );
    let mut by: std::collections::BTreeMap<(String, String), u64> =
        std::collections::BTreeMap::new();
    for p in processes.iter().filter(|p| p.is_runtime()) {
        *by.entry((p.verdict.language.clone(), p.injection_state.clone()))
            .or_insert(0) += 1;
    }
    for ((lang, state), n) in by {
        let _ = writeln!(
            text,
            "oneagent_runtime_processes{{language=\"{lang}\",state=\"{state}\"}} {n}"
        );
    }
    if let Some(logs) = shared.logs_view() {
        let s = &logs.stats;
        for (name, help, kind, v) in [
            (
                "oneagent_log_files_watched",
                "Log files being tailed.",
                "gauge",
                s.files.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_directories_watched",
                "Directories with an inotify watch.",
                "gauge",
                s.watched_dirs.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_lag_bytes",
                "Bytes written to log files and not read yet.",
                "gauge",
                s.lag_bytes.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_records_exported_total",
                "Log records the collector acknowledged.",
                "counter",
                s.records.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_bytes_exported_total",
                "Bytes of log records the collector acknowledged.",
                "counter",
                s.bytes.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_export_errors_total",
                "Failed export attempts (retried).",
                "counter",
                s.export_errors.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_rejected_batches_total",
                "Batches the collector refused (not retried).",
                "counter",
                s.rejected_batches.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_truncations_total",
                "Truncations detected (copytruncate, > file).",
                "counter",
                s.truncations.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_rotations_total",
                "Rotations followed.",
                "counter",
                s.rotations.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_split_lines_total",
                "Lines longer than 1 MiB sent in pieces.",
                "counter",
                s.split_lines.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_attribution_marks",
                "Files with a fanotify mark.",
                "gauge",
                s.attribution_marks.load(Ordering::Relaxed),
            ),
            (
                "oneagent_log_attribution_events_total",
                "fanotify events handled.",
                "counter",
                s.attribution_events.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let metrics = logs.metrics.lock().unwrap_or_else(|p| p.into_inner());
        per_service(
            &mut text,
            &metrics.services,
            "oneagent_log_lines_total",
            "Log records per service.",
            |c| c.lines,
        );
        per_service(
            &mut text,
            &metrics.services,
            "oneagent_log_bytes_total",
            "Log bytes per service.",
            |c| c.bytes,
        );
        let _ = writeln!(
            text,
            "# HELP oneagent_log_severity_lines_total Log records per service and severity.\n# TYPE oneagent_log_severity_lines_total counter"
        );
        for (svc, c) in &metrics.services {
            for (sev, n) in SEVERITIES.iter().zip(c.by_severity) {
                if n > 0 {
                    let _ = writeln!(
                        text,
                        "oneagent_log_severity_lines_total{{service=\"{}\",severity=\"{}\"}} {n}",
                        escape(svc),
                        sev.label()
                    );
                }
            }
        }
        let _ = writeln!(
            text,
            "# HELP oneagent_log_exceptions_total Exceptions in log records per service and type.\n# TYPE oneagent_log_exceptions_total counter"
        );
        for (svc, c) in &metrics.services {
            for (t, n) in &c.exceptions {
                let _ = writeln!(
                    text,
                    "oneagent_log_exceptions_total{{service=\"{}\",type=\"{}\"}} {n}",
                    escape(svc),
                    escape(t)
                );
            }
        }
        per_service(
            &mut text,
            &metrics.services,
            "oneagent_log_sampled_out_total",
            "Log records dropped by the per-service rate limit.",
            |c| c.sampled_out,
        );
    }
    text
}

/// One counter family with a `service` label: its HELP and TYPE lines, then one sample per
/// service.
fn per_service(
    text: &mut String,
    services: &std::collections::BTreeMap<String, crate::logs::metrics::ServiceCounters>,
    name: &str,
    help: &str,
    value: impl Fn(&crate::logs::metrics::ServiceCounters) -> u64,
) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
    for (svc, c) in services {
        let _ = writeln!(text, "{name}{{service=\"{}\"}} {}", escape(svc), value(c));
    }
}

/// Serves `/metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            loop {
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    stream.read(buf.get_mut(len..).unwrap_or_default()),
                )
                .await;
                match read {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => len += n,
                }
                if buf
                    .get(..len)
                    .is_some_and(|b| b.windows(4).any(|w| w == b"\r\n\r\n"))
                    || len >= buf.len()
                {
                    break;
                }
            }
            let request = String::from_utf8_lossy(buf.get(..len).unwrap_or_default());
            let first = request.lines().next().unwrap_or_default();
            let response = if first.starts_with("GET /metrics ")
                || first.starts_with("GET /metrics?")
            {
                let body = render(&shared);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nnot found\n".to_owned()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
