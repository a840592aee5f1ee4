//! What the `procfs` crate reads for one process whose owner chose a large environment, next to
//! oneagentd's cap (`MAX_LIST_BYTES`, 256 KiB), and how its stat parser takes a cut-short line.
//!
//! Run: `cargo run --release --manifest-path bench/procfs-probe/Cargo.toml --target-dir target/procfs-probe`

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

/// oneagentd's cap on `environ` and `cmdline` (daemon/src/inventory/procfs.rs).
const ONEAGENTD_CAP: usize = 256 * 1024;

fn main() {
    // Any user may raise their own soft stack limit, and with it the room execve gives to the
    // environment (a quarter of it, up to 6 MiB since Linux 4.13; 128 KiB per string): 40
    // variables of 120 KiB.
    let mut child = Command::new("prlimit")
        .args(["--stack=268435456", "--", "sh", "-c"])
        .arg(
            "v=$(printf '%0122880d' 0); i=0; \
             while [ $i -lt 40 ]; do export BIG$i=$v; i=$((i+1)); done; exec sleep 30",
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("prlimit(1), sh(1) and sleep(1)");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id() as i32;
    let process = procfs::process::Process::new(pid).expect("the child in /proc");
    // Median of 5 reads each, alternating.
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    let (mut bytes, mut variables, mut capped_len) = (0, 0, 0);
    for _ in 0..5 {
        let t0 = Instant::now();
        let environ = process.environ().expect("environ of our own child");
        theirs.push(t0.elapsed());
        variables = environ.len();
        bytes = environ.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>();
        // The peer: the same file read as oneagentd does, stopping at its cap.
        let t0 = Instant::now();
        let mut capped = Vec::new();
        std::fs::File::open(format!("/proc/{pid}/environ"))
            .and_then(|f| f.take(ONEAGENTD_CAP as u64).read_to_end(&mut capped))
            .expect("environ of our own child");
        ours.push(t0.elapsed());
        capped_len = capped.len();
    }
    theirs.sort();
    ours.sort();
    println!(
        "procfs environ(): {variables} variables, {bytes} bytes read, median {:?}; \
         capped read: {capped_len} bytes, median {:?} ({:.2}x the bytes, {:.1}x the time)",
        theirs[2],
        ours[2],
        bytes as f64 / capped_len as f64,
        theirs[2].as_secs_f64() / ours[2].as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();

    // A stat line cut short after the command name (as a short read or a test root gives).
    use procfs::FromRead;
    std::panic::set_hook(Box::new(|info| println!("  ({info})")));
    let cut = std::panic::catch_unwind(|| procfs::process::Stat::from_read(&b"1 (x)"[..]).is_ok());
    println!(
        "procfs Stat::from_read(\"1 (x)\"): {}",
        match cut {
            Ok(ok) => format!("returned (ok = {ok})"),
            Err(_) => "panicked".to_owned(),
        }
    );
}
