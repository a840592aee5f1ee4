//! Benchmark: the OTLP/HTTP body codecs alone, in MB of request per CPU-second of this thread,
//! and the wire bytes per request byte, on a 5.4 MB request shaped like the log pipeline's
//! (25,000 records of 150-byte lines with timestamps, severity and a file attribute).
//!
//! `cargo bench -p oneagent --bench compression`. gzip is flate2 with miniz_oxide (the daemon's
//! backend) at levels 1 (the daemon's) and 2; zstd at levels -5, -1, 1 (the daemon's) and 3.
//! Each figure is the best of 3 passes of 20 compressions.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/lines.rs"]
mod lines;
use lines::make_line;

fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// A request of `n` records, each framed roughly as the OTLP encoder frames a LogRecord.
fn request(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        out.extend_from_slice(&[0x12, 0xc0, 0x01, 0x09]);
        out.extend_from_slice(&(1_764_000_000_000_000_000u64 + i * 1000).to_le_bytes());
        out.push(0x59);
        out.extend_from_slice(&(1_764_000_000_000_000_000u64 + i * 1000 + h % 5000).to_le_bytes());
        out.extend_from_slice(b"\x10\x09\x2a\x97\x01\x0a\x94\x01");
        make_line(i, true, &mut out);
        // The body has no newline.
        out.pop();
        out.extend_from_slice(b"\x32\x20\x0a\x0dlog.file.name\x12\x0f\x0a\x0dapp-017.log");
    }
    out
}

fn run(name: &str, data: &[u8], f: &mut dyn FnMut(&[u8]) -> usize) {
    let reps = 20;
    let mut best = f64::MAX;
    let mut out = 0;
    for _ in 0..3 {
        let c0 = thread_cpu_seconds();
        for _ in 0..reps {
            out = f(data);
        }
        best = best.min((thread_cpu_seconds() - c0) / f64::from(reps));
    }
    println!(
        "{name:28} {:7.1} MB/cpu-s  {:.3} wire bytes per request byte",
        data.len() as f64 / best / 1e6,
        out as f64 / data.len() as f64
    );
}

fn main() {
    let data = request(25_000);
    println!("request: {} bytes", data.len());
    for level in [1, 2] {
        let mut deflate = flate2::Compress::new(flate2::Compression::new(level), false);
        let mut out = Vec::with_capacity(data.len());
        run(
            &format!("gzip (miniz_oxide) level {level}"),
            &data,
            &mut |d| {
                deflate.reset();
                out.clear();
                deflate
                    .compress_vec(d, &mut out, flate2::FlushCompress::Finish)
                    .unwrap();
                out.len() + 18
            },
        );
    }
    for level in [-5, -1, 1, 3] {
        let mut c = zstd::bulk::Compressor::new(level).unwrap();
        let mut out = Vec::with_capacity(data.len());
        run(&format!("zstd level {level}"), &data, &mut |d| {
            out.clear();
            c.compress_to_buffer(d, &mut out).unwrap();
            out.len()
        });
    }
}
