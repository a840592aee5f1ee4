//! The Prometheus endpoint (`[metrics] listen`, `GET /metrics`): the daemon's own metrics and the
//! per-service log metrics, in the text exposition format. Served by hyper (HTTP/1.1, one
//! route, no keep-alive) with a connection cap and deadlines: any local user can connect.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::time::Duration;

use crate::inventory::ProcessEntry;
use crate::logs::metrics::SEVERITIES;
use crate::logs_host::LogsView;
use crate::opamp::OpampStats;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Metrics without labels: name, help, type, value.
fn plain<const N: usize>(text: &mut String, metrics: [(&str, &str, &str, u64); N]) {
    for (name, help, kind, v) in metrics {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
}

/// What the endpoint reads at each scrape (the daemon's shared state implements it).
pub trait MetricsSource: Send + Sync + 'static {
    /// Every process in the inventory.
    fn processes(&self) -> Vec<ProcessEntry>;
    /// The log pipeline's counters, when it runs.
    fn logs_view(&self) -> Option<LogsView>;
    /// The OpAMP client's counters.
    fn opamp_stats(&self) -> &OpampStats;
}

/// The exposition text.
pub fn render(shared: &dyn MetricsSource) -> String {
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
    let o = shared.opamp_stats();
    plain(
        &mut text,
        [
            (
                "oneagent_opamp_exchanges_total",
                "OpAMP exchanges the server answered.",
                "counter",
                o.exchanges.load(Ordering::Relaxed),
            ),
            (
                "oneagent_opamp_failures_total",
                "Failed OpAMP exchanges (unreachable, HTTP error, garbage, oversized, server error); each one backs off.",
                "counter",
                o.failures.load(Ordering::Relaxed),
            ),
            (
                "oneagent_opamp_remote_configs_applied_total",
                "Remote configurations applied.",
                "counter",
                o.remote_applied.load(Ordering::Relaxed),
            ),
            (
                "oneagent_opamp_remote_configs_refused_total",
                "Remote configurations refused (reported to the server with the reason).",
                "counter",
                o.remote_refused.load(Ordering::Relaxed),
            ),
            (
                "oneagent_opamp_connected",
                "1 when the last OpAMP exchange succeeded.",
                "gauge",
                o.connected.load(Ordering::Relaxed),
            ),
        ],
    );
    if let Some(logs) = shared.logs_view() {
        let s = &logs.stats;
        plain(
            &mut text,
            [
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
                (
                    "oneagent_log_files_parked_total",
                    "Idle log files closed to stay under [logs] max_open_files (reopened when they grow).",
                    "counter",
                    s.parked.load(Ordering::Relaxed),
                ),
                (
                    "oneagent_log_files_refused_total",
                    "Files under the log roots not tailed: special files, other users' links.",
                    "counter",
                    s.refused.load(Ordering::Relaxed),
                ),
            ],
        );
        let _ = writeln!(
            text,
            "# HELP oneagent_log_container_bad_input_total Container log lines (or files) not in their format, sent as raw text, by reason.\n# TYPE oneagent_log_container_bad_input_total counter"
        );
        for (reason, n) in crate::logs::container::Reason::ALL
            .iter()
            .zip(&s.container_bad_input)
        {
            let _ = writeln!(
                text,
                "oneagent_log_container_bad_input_total{{reason=\"{}\"}} {}",
                reason.label(),
                n.load(Ordering::Relaxed)
            );
        }
        let metrics = logs.metrics();
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

/// At most this many connections are served at once; more wait in the kernel's accept queue,
/// costing the daemon neither a descriptor nor CPU.
pub const MAX_CONNECTIONS: usize = 128;
/// A client must have sent its request headers this long after connecting …
pub const HEADER_DEADLINE: Duration = Duration::from_secs(3);
/// … and the whole exchange must be over after this long.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// Serves `/metrics` on `listener` until the task is dropped. HTTP/1.1 by hyper, one request per
/// connection, with a connection cap, a header deadline, a request deadline and backoff when
/// `accept` fails (out of descriptors: retrying at once would spin).
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<dyn MetricsSource>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut warned = false;
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                stream
            }
            Err(e) => {
                if !warned {
                    warned = true;
                    tracing::warn!(error = %e, "The metrics endpoint cannot accept connections; backing off");
                }
                drop(permit);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move {
                    let body = if is_metrics(&req) {
                        // The exposition waits for the inventory's owner: on the blocking pool,
                        // never on the thread that serves D-Bus, signals and the watchdog.
                        tokio::task::spawn_blocking(move || render(&*shared))
                            .await
                            .map_err(|e| tracing::error!(error = %e, "Rendering /metrics failed"))
                            .ok()
                    } else {
                        None
                    };
                    Ok::<_, std::convert::Infallible>(respond(body))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_DEADLINE)
                .keep_alive(false)
                .max_buf_size(16 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // Whatever the client does, the connection and its descriptor go at the deadline.
            let _ = tokio::time::timeout(REQUEST_DEADLINE, connection).await;
        });
    }
}

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

type Body = http_body_util::Full<hyper::body::Bytes>;

/// Whether `req` asks for the exposition (`GET /metrics`).
fn is_metrics<B>(req: &hyper::Request<B>) -> bool {
    req.method() == hyper::Method::GET && req.uri().path() == "/metrics"
}

/// The response: the exposition `body` when `GET /metrics` rendered one, else 404.
fn respond(body: Option<String>) -> hyper::Response<Body> {
    let (status, content_type, body) = match body {
        Some(text) => (hyper::StatusCode::OK, "text/plain; version=0.0.4", text),
        None => (
            hyper::StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = hyper::Response::new(Body::new(body.into()));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}
