//! An OTLP/HTTP logs receiver for tests: a small HTTP/1.1 server on loopback that decodes
//! `ExportLogsServiceRequest` bodies (plain, gzip or zstd) with prost messages written from the
//! opentelemetry-proto field numbers, and can be told to fail or to stop answering.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    #[prost(string, tag = "3")]
    pub severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    #[prost(int64, optional, tag = "3")]
    pub int_value: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub bytes_value: Option<Vec<u8>>,
}

/// One received record, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub body: Vec<u8>,
    pub severity: String,
    /// The resource's attributes, then the record's own.
    pub attributes: Vec<(String, String)>,
    /// Hex of the record's trace id, span id, and its flags (empty and 0 when absent).
    pub trace_id: String,
    pub span_id: String,
    pub flags: u32,
    /// `time_unix_nano` (0: not set).
    pub time: u64,
}

impl Received {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Receiver {
    pub port: u16,
    pub records: Arc<Mutex<Vec<Received>>>,
    /// 0 = answer 200; otherwise the status to answer with.
    pub fail_with: Arc<AtomicU16>,
    pub requests: Arc<Mutex<u64>>,
    /// Requests that came gzip-compressed.
    pub gzip_requests: Arc<Mutex<u64>>,
    /// Requests that came zstd-compressed.
    pub zstd_requests: Arc<Mutex<u64>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let records = Arc::new(Mutex::new(Vec::new()));
        let fail_with = Arc::new(AtomicU16::new(0));
        let requests = Arc::new(Mutex::new(0));
        let gzip_requests = Arc::new(Mutex::new(0));
        let zstd_requests = Arc::new(Mutex::new(0));
        let (r, f, q, g, z) = (
            records.clone(),
            fail_with.clone(),
            requests.clone(),
            gzip_requests.clone(),
            zstd_requests.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, f, q, g, z) = (r.clone(), f.clone(), q.clone(), g.clone(), z.clone());
                std::thread::spawn(move || serve(stream, &r, &f, &q, &g, &z));
            }
        });
        Receiver {
            port,
            records,
            fail_with,
            requests,
            gzip_requests,
            zstd_requests,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn bodies(&self) -> Vec<String> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(Received::text)
            .collect()
    }
}

fn serve(
    stream: TcpStream,
    records: &Mutex<Vec<Received>>,
    fail: &AtomicU16,
    requests: &Mutex<u64>,
    gzip_requests: &Mutex<u64>,
    zstd_requests: &Mutex<u64>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut gzip = false;
        let mut zstd = false;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("content-encoding:") && lower.contains("gzip") {
                gzip = true;
            }
            if lower.starts_with("content-encoding:") && lower.contains("zstd") {
                zstd = true;
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap();
        }
        *requests.lock().unwrap() += 1;
        let status = fail.load(Ordering::Relaxed);
        if status != 0 {
            let _ = write!(
                out,
                "HTTP/1.1 {status} Failing\r\nContent-Length: 0\r\n\r\n"
            );
            continue;
        }
        if gzip {
            *gzip_requests.lock().unwrap() += 1;
            let mut d = flate2::read::GzDecoder::new(&body[..]);
            let mut plain = Vec::new();
            d.read_to_end(&mut plain).unwrap();
            body = plain;
        }
        if zstd {
            *zstd_requests.lock().unwrap() += 1;
            body = zstd::stream::decode_all(&body[..]).expect("a valid zstd frame");
        }
        let request = <ExportLogsServiceRequest as prost::Message>::decode(&body[..])
            .expect("valid OTLP protobuf");
        let mut got = records.lock().unwrap();
        for rl in request.resource_logs {
            let attributes: Vec<(String, String)> = rl
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default()
                .into_iter()
                .map(|kv| {
                    let v = kv.value.unwrap_or_default();
                    (
                        kv.key,
                        v.string_value
                            .or(v.int_value.map(|i| i.to_string()))
                            .unwrap_or_default(),
                    )
                })
                .collect();
            for sl in rl.scope_logs {
                assert_eq!(sl.scope.map(|s| s.name).as_deref(), Some("oneagent.logs"));
                for rec in sl.log_records {
                    assert!(rec.observed_time_unix_nano > 0);
                    let body = rec.body.unwrap_or_default();
                    got.push(Received {
                        body: body
                            .string_value
                            .map(String::into_bytes)
                            .or(body.bytes_value)
                            .unwrap_or_default(),
                        severity: rec.severity_text,
                        attributes: attributes
                            .iter()
                            .cloned()
                            .chain(rec.attributes.into_iter().map(|kv| {
                                let v = kv.value.unwrap_or_default();
                                (
                                    kv.key,
                                    v.string_value
                                        .or(v.int_value.map(|i| i.to_string()))
                                        .unwrap_or_default(),
                                )
                            }))
                            .collect(),
                        time: rec.time_unix_nano,
                        trace_id: rec.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                        span_id: rec.span_id.iter().map(|b| format!("{b:02x}")).collect(),
                        flags: rec.flags,
                    });
                }
            }
        }
        drop(got);
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        );
    }
}
