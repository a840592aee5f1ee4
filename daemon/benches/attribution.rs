//! Benchmark: log-writer attribution latency, from a process's first write to a file to the
//! engine knowing the writer.
//!
//! One python process keeps every file it is told about open and writes one line to each; the
//! clock starts when the bench tells it the path (so the figure also holds a pipe wake-up and
//! python's `open`+`write`, an upper bound of the engine's share). Two rounds: processes unknown
//! to the inventory (described from `/proc`, the worst case) and known to it (the daemon's usual
//! case). Also prints the cost of the `process_events` call that found the writer.
//!
//! `cargo bench -p oneagent --bench attribution` (root: fanotify needs `CAP_SYS_ADMIN`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use oneagent::logs::attribute::{AttributionChange, AttributionConfig, AttributionEngine};

const TRIALS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<44} n={:<4} p50={:>9.3?} p90={:>9.3?} p99={:>9.3?} max={:>9.3?}",
        v.len(),
        percentile(&v, 0.50),
        percentile(&v, 0.90),
        percentile(&v, 0.99),
        v[v.len() - 1]
    );
}

fn round(known_to_inventory: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut helper = Command::new("python3")
        .args([
            "-c",
            "import sys\nfiles = []\n\
             for line in sys.stdin:\n    f = open(line.strip(), 'a', buffering=1)\n    \
             f.write('hello\\n')\n    files.append(f)\n",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3");
    let helper_pid = helper.id();
    let mut stdin = helper.stdin.take().unwrap();
    let mut engine =
        AttributionEngine::new(AttributionConfig::default()).expect("fanotify_init (run as root)");
    if known_to_inventory {
        // Describe the helper once, as the daemon's inventory would have.
        let entry = {
            let policy = std::sync::Arc::new(oneagent::decision::OwnedPolicy::build(
                &oneagent::config::Config::default(),
                &[],
                &[],
            ));
            let mut inv = oneagent::inventory::Inventory::new("/proc".into(), 0, policy);
            std::thread::sleep(Duration::from_millis(100));
            inv.observe(helper_pid);
            inv.get(helper_pid).cloned().expect("helper in inventory")
        };
        engine.set_lookup(Box::new(move |pid: u32| {
            (pid == entry.pid).then(|| entry.clone())
        }));
    }
    let mut latency = Vec::with_capacity(TRIALS);
    let mut handling = Vec::with_capacity(TRIALS);
    // Trial 0 warms up (python's start, the ELF cache) and is not counted.
    for i in 0..=TRIALS {
        let path = dir.path().join(format!("f{i}.log"));
        std::fs::write(&path, b"").unwrap();
        engine.file_changed(&path).unwrap();
        let t0 = Instant::now();
        writeln!(stdin, "{}", path.display()).unwrap();
        stdin.flush().unwrap();
        'wait: loop {
            {
                let mut fds = [PollFd::new(engine.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, 2000u16).unwrap();
            }
            let h0 = Instant::now();
            let changes = engine.process_events(Instant::now());
            let h1 = Instant::now();
            for c in changes {
                if let AttributionChange::NewWriter { path: p, writer } = c
                    && p == path
                {
                    assert_eq!(writer.pid, helper_pid);
                    if i > 0 {
                        latency.push(h1 - t0);
                        handling.push(h1 - h0);
                    }
                    break 'wait;
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "writer not found");
        }
    }
    drop(stdin);
    let _ = helper.wait();
    let what = if known_to_inventory {
        "known to the inventory"
    } else {
        "described from /proc"
    };
    report(&format!("write → writer known ({what})"), latency);
    report(&format!("process_events call ({what})"), handling);
    let c = engine.counters();
    println!(
        "  counters: marks={} events={} writers={} rejected={}",
        c.marks, c.events, c.writers_found, c.rejected
    );
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("attribution bench needs root (fanotify); skipped");
        return;
    }
    round(false);
    round(true);
}
