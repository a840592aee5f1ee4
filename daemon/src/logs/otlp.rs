//! OTLP logs encoded by hand as protobuf (`ExportLogsServiceRequest`), straight into one buffer
//! per resource: no per-record allocation, no code generator. Field numbers follow
//! opentelemetry-proto `logs/v1/logs.proto`, `common/v1/common.proto` and
//! `collector/logs/v1/logs_service.proto`.

#![forbid(unsafe_code)]

use super::record::Severity;
use super::trace_context::TraceContext;

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn len_field_size(field: u32, len: usize) -> usize {
    varint_len(u64::from(field) << 3) + varint_len(len as u64) + len
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_tag(out, field, WIRE_LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
}

fn any_value_size(v: &Value<'_>) -> usize {
    match v {
        Value::Str(s) => len_field_size(1, s.len()),
        Value::Int(i) => 1 + varint_len(*i as u64),
    }
}

fn put_any_value(out: &mut Vec<u8>, field: u32, v: &Value<'_>) {
    put_tag(out, field, WIRE_LEN);
    put_varint(out, any_value_size(v) as u64);
    match v {
        Value::Str(s) => put_bytes(out, 1, s.as_bytes()),
        Value::Int(i) => {
            put_tag(out, 3, WIRE_VARINT);
            put_varint(out, *i as u64);
        }
    }
}

fn key_value_size(key: &str, v: &Value<'_>) -> usize {
    len_field_size(1, key.len()) + len_field_size(2, any_value_size(v))
}

fn put_key_value(out: &mut Vec<u8>, field: u32, key: &str, v: &Value<'_>) {
    put_tag(out, field, WIRE_LEN);
    put_varint(out, key_value_size(key, v) as u64);
    put_bytes(out, 1, key.as_bytes());
    put_any_value(out, 2, v);
}

/// The severity's fields of a log record, if it has one: number (field 2) and text (field 3).
fn severity_fields_size(severity: Severity) -> usize {
    if severity == Severity::Unspecified {
        0
    } else {
        1 + varint_len(severity as u64) + len_field_size(3, severity.text().len())
    }
}

/// The `AnyValue` of a body: a string (field 1) when it is UTF-8, else bytes (field 7).
fn body_value_size(body_len: usize, body_is_text: bool) -> usize {
    len_field_size(if body_is_text { 1 } else { 7 }, body_len)
}

/// Bytes of the trace context fields of a log record: `flags` (8, fixed32), `trace_id` (9)
/// and `span_id` (10).
fn trace_fields_size(trace: Option<&TraceContext>) -> usize {
    trace.map_or(0, |t| {
        18 + if t.span_id.is_some() { 10 } else { 0 } + if t.flags.is_some() { 5 } else { 0 }
    })
}

/// Bytes of a `LogRecord` message (without its tag and length).
fn log_record_size(
    severity: Severity,
    body_len: usize,
    body_is_text: bool,
    trace: Option<&TraceContext>,
) -> usize {
    severity_fields_size(severity)
        + len_field_size(5, body_value_size(body_len, body_is_text))
        + 1
        + 8
        + trace_fields_size(trace)
}

fn log_record_with_size(
    time_unix_nanos: u64,
    severity: Severity,
    body_len: usize,
    body_is_text: bool,
    attributes: &[(&str, Value<'_>)],
) -> usize {
    let mut size = log_record_size(severity, body_len, body_is_text, None);
    if time_unix_nanos != 0 {
        size += 9;
    }
    size + attributes
        .iter()
        .map(|(k, v)| len_field_size(6, key_value_size(k, v)))
        .sum::<usize>()
}

/// Bytes the `log_records` field [`put_log_record_with`] appends takes.
pub fn log_record_with_field_len(
    time_unix_nanos: u64,
    severity: Severity,
    body_len: usize,
    body_is_text: bool,
    attributes: &[(&str, Value<'_>)],
) -> usize {
    len_field_size(
        2,
        log_record_with_size(
            time_unix_nanos,
            severity,
            body_len,
            body_is_text,
            attributes,
        ),
    )
}

/// Bytes one `log_records` field of a `ScopeLogs` takes: tag, length and record.
pub fn log_record_field_len(
    severity: Severity,
    body_len: usize,
    body_is_text: bool,
    trace: Option<&TraceContext>,
) -> usize {
    len_field_size(2, log_record_size(severity, body_len, body_is_text, trace))
}

/// Appends one `log_records` field of a `ScopeLogs`. `body_is_text` says whether `body` is
/// UTF-8 (sent as a string; else as bytes, unchanged); `trace` is the line's trace context.
pub fn put_log_record(
    out: &mut Vec<u8>,
    observed_unix_nanos: u64,
    severity: Severity,
    body: &[u8],
    body_is_text: bool,
    trace: Option<&TraceContext>,
) {
    let size = log_record_size(severity, body.len(), body_is_text, trace);
    // The fields before the body are put together on the stack and appended at once.
    // At most 42 bytes: three tags and three varints of up to 10 bytes, and the severity.
    let mut head = [0u8; 48];
    let mut at = 0usize;
    let mut put = |v: u64| {
        let mut v = v;
        while let Some(b) = head.get_mut(at) {
            at += 1;
            if v < 0x80 {
                *b = v as u8;
                break;
            }
            *b = (v as u8) | 0x80;
            v >>= 7;
        }
    };
    put((2 << 3) | u64::from(WIRE_LEN));
    put(size as u64);
    if severity != Severity::Unspecified {
        let text = severity.text().as_bytes();
        put((2 << 3) | u64::from(WIRE_VARINT));
        put(severity as u64);
        put((3 << 3) | u64::from(WIRE_LEN));
        put(text.len() as u64);
        // ASCII: every byte is its own varint.
        for &b in text {
            put(u64::from(b));
        }
    }
    put((5 << 3) | u64::from(WIRE_LEN));
    put(body_value_size(body.len(), body_is_text) as u64);
    put((if body_is_text { 1 << 3 } else { 7 << 3 }) | u64::from(WIRE_LEN));
    put(body.len() as u64);
    out.reserve(at + body.len() + 9);
    out.extend_from_slice(head.get(..at).unwrap_or_default());
    out.extend_from_slice(body);
    let mut observed = [0u8; 9];
    observed[0] = (11 << 3) | WIRE_FIXED64;
    observed[1..].copy_from_slice(&observed_unix_nanos.to_le_bytes());
    out.extend_from_slice(&observed);
    if let Some(t) = trace {
        if let Some(flags) = t.flags {
            out.push((8 << 3) | WIRE_FIXED32);
            out.extend_from_slice(&u32::from(flags).to_le_bytes());
        }
        out.extend_from_slice(&[(9 << 3) | WIRE_LEN, 16]);
        out.extend_from_slice(&t.trace_id);
        if let Some(span) = t.span_id {
            out.extend_from_slice(&[(10 << 3) | WIRE_LEN, 8]);
            out.extend_from_slice(&span);
        }
    }
}

/// Appends one `log_records` field of a `ScopeLogs` with the time the line carries
/// (`time_unix_nano`, when not 0) and record attributes (`log.iostream`): the container-log
/// form of [`put_log_record`].
pub fn put_log_record_with(
    out: &mut Vec<u8>,
    time_unix_nanos: u64,
    observed_unix_nanos: u64,
    severity: Severity,
    body: &[u8],
    body_is_text: bool,
    attributes: &[(&str, Value<'_>)],
) {
    let size = log_record_with_size(
        time_unix_nanos,
        severity,
        body.len(),
        body_is_text,
        attributes,
    );
    put_tag(out, 2, WIRE_LEN);
    put_varint(out, size as u64);
    if time_unix_nanos != 0 {
        put_tag(out, 1, WIRE_FIXED64);
        out.extend_from_slice(&time_unix_nanos.to_le_bytes());
    }
    if severity != Severity::Unspecified {
        put_tag(out, 2, WIRE_VARINT);
        put_varint(out, severity as u64);
        put_bytes(out, 3, severity.text().as_bytes());
    }
    put_tag(out, 5, WIRE_LEN);
    put_varint(out, body_value_size(body.len(), body_is_text) as u64);
    put_bytes(out, if body_is_text { 1 } else { 7 }, body);
    for (k, v) in attributes {
        put_key_value(out, 6, k, v);
    }
    put_tag(out, 11, WIRE_FIXED64);
    out.extend_from_slice(&observed_unix_nanos.to_le_bytes());
}

/// A `Resource` message with these attributes (`service.name`, `log.file.path`, …).
pub fn encode_resource(attributes: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut resource = Vec::new();
    for (k, v) in attributes {
        put_key_value(&mut resource, 1, k, v);
    }
    resource
}

fn scope_len() -> usize {
    len_field_size(1, SCOPE_NAME.len())
}

fn scope_logs_len(records_len: usize) -> usize {
    len_field_size(1, scope_len()) + records_len
}

fn resource_logs_len(resource_len: usize, records_len: usize) -> usize {
    len_field_size(1, resource_len) + len_field_size(2, scope_logs_len(records_len))
}

/// Bytes one `resource_logs` field of the request takes, with `records_len` bytes of
/// `log_records` fields.
pub fn resource_logs_field_len(resource_len: usize, records_len: usize) -> usize {
    len_field_size(1, resource_logs_len(resource_len, records_len))
}

/// Appends the head of one `resource_logs` field of an `ExportLogsServiceRequest`: its tag and
/// length, the resource, and the head of its one `ScopeLogs` with the scope. Exactly
/// `records_len` bytes of `log_records` fields ([`put_log_record`]) must follow.
pub fn put_resource_logs_head(out: &mut Vec<u8>, resource: &[u8], records_len: usize) {
    put_tag(out, 1, WIRE_LEN);
    put_varint(out, resource_logs_len(resource.len(), records_len) as u64);
    put_bytes(out, 1, resource);
    put_tag(out, 2, WIRE_LEN);
    put_varint(out, scope_logs_len(records_len) as u64);
    put_tag(out, 1, WIRE_LEN);
    put_varint(out, scope_len() as u64);
    put_bytes(out, 1, SCOPE_NAME.as_bytes());
}

/// One resource's records, encoded as they are added.
#[derive(Debug, Default)]
pub struct ResourceLogs {
    resource: Vec<u8>,
    records: Vec<u8>,
    count: usize,
}

impl ResourceLogs {
    /// Starts a resource with these attributes (`service.name`, `log.file.path`, …).
    pub fn new(attributes: &[(&str, Value<'_>)]) -> Self {
        ResourceLogs {
            resource: encode_resource(attributes),
            records: Vec::new(),
            count: 0,
        }
    }

    /// Records added so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No records yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes encoded so far.
    pub fn encoded_len(&self) -> usize {
        self.resource.len() + self.records.len()
    }

    /// Adds one log record. A body that is not UTF-8 is sent as bytes, unchanged.
    pub fn push(&mut self, observed_unix_nanos: u64, severity: Severity, body: &[u8]) {
        let body_is_text = std::str::from_utf8(body).is_ok();
        put_log_record(
            &mut self.records,
            observed_unix_nanos,
            severity,
            body,
            body_is_text,
            super::trace_context::find(body).as_ref(),
        );
        self.count += 1;
    }
}

/// The scope every record is reported under.
pub const SCOPE_NAME: &str = "oneagent.logs";

/// Encodes an `ExportLogsServiceRequest` from resources.
pub fn encode_request(resources: &[ResourceLogs]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        resources
            .iter()
            .map(|r| resource_logs_field_len(r.resource.len(), r.records.len()))
            .sum(),
    );
    for r in resources.iter().filter(|r| !r.is_empty()) {
        put_resource_logs_head(&mut out, &r.resource, r.records.len());
        out.extend_from_slice(&r.records);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut v = Vec::new();
        put_varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        assert_eq!(varint_len(300), 2);
        assert_eq!(varint_len(0), 1);
    }

    #[test]
    fn a_record_encodes_to_the_expected_bytes() {
        let mut r = ResourceLogs::new(&[("service.name", Value::Str("a"))]);
        r.push(1, Severity::Info, b"hi");
        let bytes = encode_request(&[r]);
        // resource_logs { resource { attributes { key "service.name" value { string "a" } } }
        //   scope_logs { scope { name "oneagent.logs" } log_records { severity 9 "INFO" body "hi" observed 1 } } }
        let expected_record: Vec<u8> = [
            &[0x10, 9, 0x1a, 4][..],
            b"INFO",
            &[0x2a, 4, 0x0a, 2],
            b"hi",
            &[0x59, 1, 0, 0, 0, 0, 0, 0, 0],
        ]
        .concat();
        assert!(
            bytes
                .windows(expected_record.len())
                .any(|w| w == expected_record.as_slice())
        );
        assert_eq!(bytes.first(), Some(&0x0a));
    }

    #[test]
    fn sizes_announced_are_the_sizes_written() {
        for severity in [Severity::Unspecified, Severity::Info, Severity::Fatal] {
            for len in [0usize, 1, 100, 127, 128, 16_383, 16_384, 1 << 20] {
                for text in [true, false] {
                    let body = vec![b'a'; len];
                    for trace in [
                        None,
                        Some(TraceContext {
                            trace_id: [1; 16],
                            span_id: None,
                            flags: None,
                        }),
                        Some(TraceContext {
                            trace_id: [1; 16],
                            span_id: Some([2; 8]),
                            flags: Some(1),
                        }),
                    ] {
                        let mut out = Vec::new();
                        put_log_record(&mut out, u64::MAX, severity, &body, text, trace.as_ref());
                        assert_eq!(
                            out.len(),
                            log_record_field_len(severity, len, text, trace.as_ref())
                        );
                    }
                    for time in [0u64, 1, u64::MAX] {
                        for attrs in [&[][..], &[("log.iostream", Value::Str("stderr"))][..]] {
                            let mut out = Vec::new();
                            put_log_record_with(&mut out, time, 7, severity, &body, text, attrs);
                            assert_eq!(
                                out.len(),
                                log_record_with_field_len(time, severity, len, text, attrs)
                            );
                        }
                    }
                }
            }
        }
        let resource = encode_resource(&[("service.name", Value::Str("a"))]);
        for records_len in [0usize, 1, 127, 128, 4 << 20] {
            let mut out = Vec::new();
            put_resource_logs_head(&mut out, &resource, records_len);
            assert_eq!(
                out.len() + records_len,
                resource_logs_field_len(resource.len(), records_len)
            );
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_go_out_as_bytes() {
        let mut r = ResourceLogs::new(&[]);
        r.push(1, Severity::Unspecified, b"\xff");
        let bytes = encode_request(&[r]);
        let expected: &[u8] = &[
            0x12, 14, 0x2a, 3, 0x3a, 1, 0xff, 0x59, 1, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(bytes.ends_with(expected), "{bytes:x?}");
    }
}
