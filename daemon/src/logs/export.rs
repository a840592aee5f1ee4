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
    body: BodyEncoder,
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
            body: BodyEncoder::new(compression),
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
        let body = match self.body.encode(request) {
            Ok(Some((encoding, body))) => {
                post = post.header("Content-Encoding", encoding);
                body
            }
            Ok(None) => request,
            Err(err) => return Err(ExportError::Retry(format!("compressing: {err}"))),
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

/// The gzip level: 1, the fastest (deflate's greedy matching); see BENCHMARKS.md for the
/// levels and backends measured.
const GZIP_LEVEL: u32 = 1;
/// The zstd level: 1, zstd's fast default for streaming (see BENCHMARKS.md).
const ZSTD_LEVEL: i32 = 1;

/// Compresses request bodies, keeping its compressor state and output buffer from request to
/// request (a deflate or zstd context is hundreds of KiB: allocated once, reset per request).
enum BodyEncoder {
    None,
    Gzip {
        deflate: flate2::Compress,
        out: Vec<u8>,
    },
    Zstd {
        /// Created on the first request (creating it cannot fail later than that).
        context: Option<zstd::bulk::Compressor<'static>>,
        out: Vec<u8>,
    },
}

impl std::fmt::Debug for BodyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyEncoder::None => "none",
            BodyEncoder::Gzip { .. } => "gzip",
            BodyEncoder::Zstd { .. } => "zstd",
        })
    }
}

/// The fixed gzip member header (RFC 1952): deflate, no flags, no time, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl BodyEncoder {
    fn new(compression: Compression) -> BodyEncoder {
        match compression {
            Compression::None => BodyEncoder::None,
            Compression::Gzip => BodyEncoder::Gzip {
                deflate: flate2::Compress::new(flate2::Compression::new(GZIP_LEVEL), false),
                out: Vec::new(),
            },
            Compression::Zstd => BodyEncoder::Zstd {
                context: None,
                out: Vec::new(),
            },
        }
    }

    /// The `Content-Encoding` and the encoded body, or `None` to send `request` as it is.
    fn encode(&mut self, request: &[u8]) -> std::io::Result<Option<(&'static str, &[u8])>> {
        match self {
            BodyEncoder::None => Ok(None),
            BodyEncoder::Gzip { deflate, out } => {
                gzip(deflate, request, out)?;
                Ok(Some(("gzip", out)))
            }
            BodyEncoder::Zstd { context, out } => {
                let context = match context {
                    Some(c) => c,
                    None => context.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
                };
                out.clear();
                out.reserve(zstd::zstd_safe::compress_bound(request.len()));
                context.compress_to_buffer(request, out)?;
                Ok(Some(("zstd", out)))
            }
        }
    }
}

/// One gzip member of `input` into `out`: the header, raw deflate with the reused `deflate`
/// state, then CRC-32 and length (RFC 1952).
fn gzip(deflate: &mut flate2::Compress, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    out.clear();
    out.extend_from_slice(&GZIP_HEADER);
    deflate.reset();
    let mut rest = input;
    loop {
        // Deflate never grows data by more than 5 bytes per 16 KiB block, plus its end.
        out.reserve(rest.len() + rest.len() / 1024 + 64);
        let before = deflate.total_in();
        let status = deflate
            .compress_vec(rest, out, flate2::FlushCompress::Finish)
            .map_err(std::io::Error::other)?;
        let used = usize::try_from(deflate.total_in() - before).unwrap_or(rest.len());
        rest = rest.get(used..).unwrap_or_default();
        if status == flate2::Status::StreamEnd {
            break;
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE: the length modulo 2^32.
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Ok(())
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
