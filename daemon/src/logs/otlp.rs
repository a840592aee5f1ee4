//! OTLP logs encoded by hand as protobuf (`ExportLogsServiceRequest`), straight into one buffer
//! per resource: no per-record allocation, no code generator. Field numbers follow
//! opentelemetry-proto `logs/v1/logs.proto`, `common/v1/common.proto` and
//! `collector/logs/v1/logs_service.proto`.

#![forbid(unsafe_code)]

use super::record::Severity;

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;

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
        let mut resource = Vec::new();
        for (k, v) in attributes {
            put_key_value(&mut resource, 1, k, v);
        }
        ResourceLogs {
            resource,
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
        let text = severity.text();
        let body_value_size = match std::str::from_utf8(body) {
            Ok(_) => len_field_size(1, body.len()),
            Err(_) => len_field_size(7, body.len()),
        };
        let mut size = 1 + 8 + len_field_size(5, body_value_size);
        if severity != Severity::Unspecified {
            size += 1 + varint_len(severity as u64) + len_field_size(3, text.len());
        }
        let out = &mut self.records;
        out.reserve(size + 8);
        put_tag(out, 2, WIRE_LEN);
        put_varint(out, size as u64);
        if severity != Severity::Unspecified {
            put_tag(out, 2, WIRE_VARINT);
            put_varint(out, severity as u64);
            put_bytes(out, 3, text.as_bytes());
        }
        put_tag(out, 5, WIRE_LEN);
        put_varint(out, body_value_size as u64);
        match std::str::from_utf8(body) {
            Ok(_) => put_bytes(out, 1, body),
            Err(_) => put_bytes(out, 7, body),
        }
        put_tag(out, 11, WIRE_FIXED64);
        out.extend_from_slice(&observed_unix_nanos.to_le_bytes());
        self.count += 1;
    }
}

/// The scope every record is reported under.
pub const SCOPE_NAME: &str = "oneagent.logs";

/// Encodes an `ExportLogsServiceRequest` from resources.
pub fn encode_request(resources: &[ResourceLogs]) -> Vec<u8> {
    let scope_len = len_field_size(1, SCOPE_NAME.len());
    let mut out = Vec::with_capacity(resources.iter().map(|r| r.encoded_len() + 64).sum());
    for r in resources.iter().filter(|r| !r.is_empty()) {
        let scope_logs_len = len_field_size(1, scope_len) + r.records.len();
        let resource_logs_len =
            len_field_size(1, r.resource.len()) + len_field_size(2, scope_logs_len);
        put_tag(&mut out, 1, WIRE_LEN);
        put_varint(&mut out, resource_logs_len as u64);
        put_bytes(&mut out, 1, &r.resource);
        put_tag(&mut out, 2, WIRE_LEN);
        put_varint(&mut out, scope_logs_len as u64);
        put_tag(&mut out, 1, WIRE_LEN);
        put_varint(&mut out, scope_len as u64);
        put_bytes(&mut out, 1, SCOPE_NAME.as_bytes());
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
}
