//! Exporters of encoded OTLP log requests: OTLP/HTTP protobuf (`/v1/logs`, gzip or not) and a
//! stdout exporter for demos. The pipeline retries with backoff and stops reading while the
//! collector is down, so memory stays bounded and nothing is lost.

#![forbid(unsafe_code)]

use std::io::Write;
use std::time::Duration;

use crate::config::Compression;

/// Why an export did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// Worth retrying (connection refused, timeout, 429, 5xx).
    Retry(String),
    /// The collector refused the data itself (4xx other than 429): retrying cannot help.
    Rejected(String),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Retry(m) => write!(f, "will retry: {m}"),
            ExportError::Rejected(m) => write!(f, "rejected: {m}"),
        }
    }
}

/// Where batches go.
pub trait Exporter: Send {
    /// Sends one encoded `ExportLogsServiceRequest`; `records` is for summaries.
    fn export(&mut self, request: &[u8], records: usize) -> Result<(), ExportError>;
}

/// OTLP/HTTP protobuf.
#[derive(Debug)]
pub struct OtlpHttp {
    /// Where to post, with the endpoint's credentials (sent as HTTP basic authentication).
    url: String,
    /// The same, as messages may show it.
    shown: String,
    compression: Compression,
    agent: ureq::Agent,
}

impl OtlpHttp {
    /// An exporter posting to `<endpoint>/v1/logs`.
    pub fn new(endpoint: &str, compression: Compression) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}/v1/logs", endpoint.trim_end_matches('/'));
        OtlpHttp {
            shown: crate::config::redact_url(&url),
            url,
            compression,
            agent,
        }
    }
}

impl Exporter for OtlpHttp {
    fn export(&mut self, request: &[u8], _records: usize) -> Result<(), ExportError> {
        let mut post = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf");
        let gz;
        let body: &[u8] = match self.compression {
            Compression::None => request,
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(request.len() / 4),
                    flate2::Compression::fast(),
                );
                e.write_all(request)
                    .map_err(|err| ExportError::Retry(format!("compressing: {err}")))?;
                gz = e
                    .finish()
                    .map_err(|err| ExportError::Retry(format!("compressing: {err}")))?;
                post = post.header("Content-Encoding", "gzip");
                &gz
            }
        };
        let response = post.send(body).map_err(|e| {
            // Messages are logged: never with the endpoint's credentials.
            let why = crate::config::redact_in(&e.to_string(), &self.url);
            ExportError::Retry(format!("{}: {why}", self.shown))
        })?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => {
                Err(ExportError::Retry(format!("{}: HTTP {status}", self.shown)))
            }
            _ => Err(ExportError::Rejected(format!(
                "{}: HTTP {status}",
                self.shown
            ))),
        }
    }
}

/// Prints a one-line summary per batch and the request size (for demos without a collector).
#[derive(Debug, Default)]
pub struct Stdout;

impl Exporter for Stdout {
    fn export(&mut self, request: &[u8], records: usize) -> Result<(), ExportError> {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "oneagent logs: exported {records} records ({} bytes of OTLP protobuf)",
            request.len()
        )
        .map_err(|e| ExportError::Retry(format!("stdout: {e}")))
    }
}
