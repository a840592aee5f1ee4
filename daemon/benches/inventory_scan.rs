//! Benchmark: a full inventory scan of /proc with 2,000 extra processes running, against
//! `ps -e -o pid=,args=` (procps, which also reads every /proc/PID) in the same run.
//!
//! `cargo bench -p oneagent --bench inventory_scan` (needs `ps`; about 2,000 `sleep` processes).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oneagent::config::Config;
use oneagent::decision::OwnedPolicy;
use oneagent::inventory::Inventory;

const EXTRA: usize = 2000;
const ROUNDS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut children: Vec<Child> = Vec::with_capacity(EXTRA);
    for i in 0..EXTRA {
        // A mix of non-runtime and runtime-looking processes (sleep under names the engine checks).
        let child = Command::new("sleep")
            .arg(format!("{}", 600 + i % 7))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sleep");
        children.push(child);
    }
    std::thread::sleep(Duration::from_millis(300));

    let policy = Arc::new(OwnedPolicy::build(&Config::default(), &[], &[]));
    let mut inventory = Inventory::new("/proc".into(), std::process::id(), policy);
    // The first scan also fills the ELF cache; the daemon pays that once.
    let first = Instant::now();
    let stats = inventory.full_scan();
    let first = first.elapsed();

    let mut ours = Vec::new();
    let mut ps = Vec::new();
    for _ in 0..ROUNDS {
        // A fresh inventory each round: every process is read and decided again.
        let policy = Arc::new(OwnedPolicy::build(&Config::default(), &[], &[]));
        let mut fresh = Inventory::new("/proc".into(), std::process::id(), policy);
        let t = Instant::now();
        let s = fresh.full_scan();
        ours.push(t.elapsed());
        assert!(s.processes >= EXTRA);

        let t = Instant::now();
        let out = Command::new("ps")
            .args(["-e", "-o", "pid=,args="])
            .output()
            .expect("ps");
        ps.push(t.elapsed());
        assert!(out.stdout.len() > EXTRA * 5);
    }
    let (o, p) = (median(ours), median(ps));
    println!(
        "inventory full scan, {} processes ({} of a runtime): first scan {:.1} ms (cold ELF cache); median of {ROUNDS} fresh scans {:.1} ms; ps -e -o pid=,args= {:.1} ms; ratio {:.2}",
        stats.processes,
        stats.runtimes,
        first.as_secs_f64() * 1e3,
        o.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3,
        o.as_secs_f64() / p.as_secs_f64()
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}
