//! The log lines of the log benchmarks (`logs_throughput`, `compression`).

use std::io::Write;

/// Bytes per line, newline included.
pub const LINE: usize = 150;

/// One log line of exactly `LINE` bytes (a typical access log line with a level word), ending
/// with a trace id (`trace_id=`) or, with `traced` false, a request id (`request=`).
pub fn make_line(i: u64, traced: bool, out: &mut Vec<u8>) {
    let start = out.len();
    let level = match i % 20 {
        0 => "WARN",
        1 => "ERROR",
        2 | 3 => "DEBUG",
        _ => "INFO",
    };
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let key = if traced { "trace_id" } else { "request" };
    write!(
        out,
        "2026-11-25T12:{:02}:{:02}.{:06}Z {level} [worker-{}] GET /api/v1/items/{} bytes={} duration_ms={} {key}={:016x}{:016x}",
        (i / 60_000_000) % 60,
        (i / 1_000_000) % 60,
        i % 1_000_000,
        h % 16,
        h % 10_000_000,
        (h >> 20) % 100_000,
        (h >> 40) % 1000,
        h,
        h.rotate_left(17)
    )
    .unwrap();
    out.resize(start + LINE - 1, b'.');
    out.push(b'\n');
}
