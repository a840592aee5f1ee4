//! Times `read_go_build_info` on a Go binary padded to 100 MB, and `read_elf_facts` on `/bin/ls`,
//! against reading the padded file whole once. The bounded reader should take microseconds and
//! not grow with the file.
//!
//! Run: `cargo bench -p oneagent --bench buildinfo`. The Go binary comes from the
//! `ONEAGENT_BENCH_GO_BIN` environment variable, else it is built with `go build` in a temporary
//! directory.

use std::error::Error;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use oneagent::elf::{read_elf_facts, read_go_build_info};

const ITERATIONS: usize = 200;
const WARM_UP: usize = 10;
const PADDED_SIZE: u64 = 100_000_000;
const TARGET: Duration = Duration::from_millis(2);

type BoxResult<T> = Result<T, Box<dyn Error>>;

fn main() -> BoxResult<()> {
    let dir = tempfile::tempdir()?;
    let go_bin = match std::env::var_os("ONEAGENT_BENCH_GO_BIN") {
        Some(path) => PathBuf::from(path),
        None => build_go_binary(dir.path())?,
    };
    // Padding at the end leaves every offset in the headers unchanged.
    let padded = dir.path().join("padded");
    std::fs::copy(&go_bin, &padded)?;
    let file = OpenOptions::new().write(true).open(&padded)?;
    let len = file.metadata()?.len();
    file.set_len(len.max(PADDED_SIZE))?; // sparse
    drop(file);

    let info = read_go_build_info(&padded)?.ok_or("no Go build info in the benchmark binary")?;
    println!(
        "Go binary {} ({len} bytes, padded to {PADDED_SIZE}): {} {}",
        go_bin.display(),
        info.go_version,
        info.main_module.as_deref().unwrap_or("-")
    );

    let go = measure(|| read_go_build_info(&padded).map(drop))?;
    report("read_go_build_info(100 MB Go binary)", &go);
    let ls = Path::new("/bin/ls");
    let elf = measure(|| read_elf_facts(ls).map(drop))?;
    report("read_elf_facts(/bin/ls)", &elf);

    let start = Instant::now();
    let whole = std::fs::read(&padded)?;
    let baseline = start.elapsed();
    println!(
        "baseline std::fs::read(100 MB) once: {:.0} µs ({} bytes)",
        micros(baseline),
        whole.len()
    );
    let median = percentile(&go, 50);
    println!(
        "whole-file read / read_go_build_info median: {:.0}x",
        baseline.as_secs_f64() / median.as_secs_f64().max(1e-9)
    );
    println!(
        "target: median <= {} µs: {}",
        TARGET.as_micros(),
        if median <= TARGET { "met" } else { "MISSED" }
    );
    Ok(())
}

/// Runs `f` [`ITERATIONS`] times after a warm-up; returns the sorted durations.
fn measure(mut f: impl FnMut() -> Result<(), oneagent::elf::ElfError>) -> BoxResult<Vec<Duration>> {
    for _ in 0..WARM_UP {
        f()?;
    }
    let mut times = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted.get(rank).copied().unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(label: &str, sorted: &[Duration]) {
    println!(
        "{label}: median {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} runs",
        micros(percentile(sorted, 50)),
        micros(percentile(sorted, 99)),
        micros(sorted.last().copied().unwrap_or_default()),
        sorted.len()
    );
}

fn build_go_binary(dir: &Path) -> BoxResult<PathBuf> {
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"bench\") }\n",
    )?;
    std::fs::write(
        dir.join("go.mod"),
        "module example.com/oneagent-bench\n\ngo 1.18\n",
    )?;
    let out = dir.join("bench-go");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-buildvcs=false")
        .status()
        .map_err(|e| {
            format!("`go` is not on PATH ({e}); install golang-go or set ONEAGENT_BENCH_GO_BIN")
        })?;
    if !status.success() {
        return Err(format!("go build failed: {status}").into());
    }
    Ok(out)
}
