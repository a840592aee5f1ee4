//! The log pipeline end to end: files under a root are discovered, tailed and exported as OTLP
//! to a receiver in the test; rotation (rename+create and copytruncate, by logrotate itself),
//! multiline records, bad bytes and long lines, the collector down then up, and kill -9 of the
//! daemon during writes and rotations: every line arrives.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::otlp_receiver::Receiver;
use crate::support::*;

struct LogSetup<'a> {
    setup: DaemonSetup<'a>,
    root: PathBuf,
}

fn log_setup<'a>(bus: &'a TestBus, receiver: &Receiver, compression: &str) -> LogSetup<'a> {
    let setup = DaemonSetup::new(bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let root = bus.dir.path().join("srv");
    std::fs::create_dir_all(root.join("app/logs")).unwrap();
    std::fs::write(
        setup.config_path(),
        format!(
            "[exporter]\notlp_endpoint = \"{}\"\ncompression = \"{compression}\"\n\
             [injection]\nenabled = false\n\
             [logs]\nroots = [\"{}\"]\nstart_at = \"beginning\"\n",
            receiver.endpoint(),
            root.display()
        ),
    )
    .unwrap();
    LogSetup { setup, root }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Waits until `oneagentctl logs` lists every one of `paths` (the pipeline tracks them and has
/// asked fanotify about their writers), so that a writer started next is seen from its first line.
fn wait_tracked(bus: &TestBus, paths: &[&Path]) {
    let listed = wait_until(Duration::from_secs(10), || {
        let out = bus.ctl(None, &["--json", "logs"]);
        let files: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        paths
            .iter()
            .all(|p| files.iter().any(|f| f["path"] == p.to_str().unwrap()))
    });
    assert!(listed, "{paths:?} not tracked within 10 s");
}

/// Waits until every expected body arrived; returns how many times each arrived.
fn expect_all(receiver: &Receiver, expected: &[String], limit: Duration) -> HashMap<String, usize> {
    let ok = wait_until(limit, || {
        let got = receiver.bodies();
        expected.iter().all(|e| got.contains(e))
    });
    let mut counts: HashMap<String, usize> = HashMap::new();
    for b in receiver.bodies() {
        *counts.entry(b).or_default() += 1;
    }
    if !ok {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|e| !counts.contains_key(*e))
            .take(10)
            .collect();
        panic!(
            "{} of {} lines missing, e.g. {missing:?}",
            expected.iter().filter(|e| !counts.contains_key(*e)).count(),
            expected.len()
        );
    }
    counts
}

#[test]
fn lines_are_discovered_tailed_and_exported_with_their_file() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "gzip");
    let early = ls.root.join("app/logs/early.log");
    append(&early, "2026-11-25 10:00:00 INFO before the daemon\n");
    let _daemon = ls.setup.start();
    // A file created after start, in a directory created after start.
    std::fs::create_dir_all(ls.root.join("billing/logs")).unwrap();
    let later = ls.root.join("billing/logs/billing.log");
    append(&later, "2026-11-25 10:00:01 WARN card declined\n");
    append(&early, "2026-11-25 10:00:02 ERROR after start\n");
    // Not a log file by name.
    append(&ls.root.join("app/logs/notes.txt"), "ignored\n");
    // Trace context: the OpenTelemetry Java agent's MDC keys, and a malformed id.
    append(
        &early,
        "2026-11-25 10:00:03 INFO trace_id=4bf92f3577b34da6a3ce929d0e0e4736 \
         span_id=00f067aa0ba902b7 trace_flags=01 - traced\n",
    );
    append(
        &early,
        "2026-11-25 10:00:04 INFO trace_id=4bf92f3577b34da6a3ce929d0e0e473 span_id=00f067aa0ba902b7 - short id\n",
    );
    let expected: Vec<String> = [
        "2026-11-25 10:00:00 INFO before the daemon",
        "2026-11-25 10:00:01 WARN card declined",
        "2026-11-25 10:00:02 ERROR after start",
        "2026-11-25 10:00:03 INFO trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 trace_flags=01 - traced",
        "2026-11-25 10:00:04 INFO trace_id=4bf92f3577b34da6a3ce929d0e0e473 span_id=00f067aa0ba902b7 - short id",
    ]
    .map(String::from)
    .to_vec();
    expect_all(&receiver, &expected, Duration::from_secs(10));
    let records = receiver.records.lock().unwrap().clone();
    assert!(!records.iter().any(|r| r.text() == "ignored"));
    let warn = records
        .iter()
        .find(|r| r.text().contains("card declined"))
        .unwrap();
    assert_eq!(warn.severity, "WARN");
    assert_eq!(warn.attr("log.file.path"), Some(later.to_str().unwrap()));
    assert_eq!(warn.attr("log.file.name"), Some("billing.log"));
    assert!(warn.attr("host.name").is_some_and(|h| !h.is_empty()));
    assert!(warn.attr("service.name").is_some());
    let err = records
        .iter()
        .find(|r| r.text().contains("after start"))
        .unwrap();
    assert_eq!(err.severity, "ERROR");
    assert_eq!((err.trace_id.as_str(), err.span_id.as_str()), ("", ""));
    let traced = records
        .iter()
        .find(|r| r.text().ends_with("- traced"))
        .unwrap();
    assert_eq!(traced.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(traced.span_id, "00f067aa0ba902b7");
    assert_eq!(traced.flags, 1);
    let short = records
        .iter()
        .find(|r| r.text().ends_with("- short id"))
        .unwrap();
    assert_eq!(
        (short.trace_id.as_str(), short.span_id.as_str(), short.flags),
        ("", "", 0),
        "a malformed id: no ids at all"
    );
}

/// `compression = "zstd"`: bodies go out as `Content-Encoding: zstd` and the receiver decodes
/// every record from them.
#[test]
fn zstd_bodies_are_decoded_by_the_receiver() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "zstd");
    let _daemon = ls.setup.start();
    let file = ls.root.join("app/logs/app.log");
    let expected: Vec<String> = (0..500)
        .map(|i| {
            format!(
                "2026-11-25 10:00:00 INFO zstd line {i} {}",
                "x".repeat(i % 97)
            )
        })
        .collect();
    append(&file, &(expected.join("\n") + "\n"));
    let counts = expect_all(&receiver, &expected, Duration::from_secs(15));
    assert!(counts.values().all(|&n| n == 1), "duplicates: {counts:?}");
    assert!(*receiver.zstd_requests.lock().unwrap() > 0);
    assert_eq!(
        *receiver.zstd_requests.lock().unwrap(),
        *receiver.requests.lock().unwrap(),
        "every request is zstd"
    );
    assert_eq!(*receiver.gzip_requests.lock().unwrap(), 0);
}

#[test]
fn multiline_bad_bytes_and_long_lines_arrive_whole() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "none");
    let _daemon = ls.setup.start();
    let file = ls.root.join("app/logs/app.log");
    let java = "2026-11-25 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat com.shop.Cart.add(Cart.java:42)\n\tat com.shop.Api.post(Api.java:7)\nCaused by: java.io.IOException: disk\n\t... 2 more\n";
    let python = "2026-11-25 ERROR handler crashed\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\nValueError: bad input\n";
    append(&file, java);
    append(&file, python);
    append(&file, "2026-11-25 INFO next record\n");
    let mut bad = b"binary \xff\xfe garbage \x00 here".to_vec();
    bad.push(b'\n');
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(&bad)
        .unwrap();
    let long: String = "x".repeat(3 * 1024 * 1024 + 17);
    append(&file, &format!("{long}\n"));
    append(&file, "2026-11-25 INFO last\n");
    let expected = vec![
        java.trim_end().to_owned(),
        python.trim_end().to_owned(),
        "2026-11-25 INFO next record".to_owned(),
        "2026-11-25 INFO last".to_owned(),
    ];
    expect_all(&receiver, &expected, Duration::from_secs(15));
    let records = receiver.records.lock().unwrap().clone();
    assert!(
        records.iter().any(|r| r.body == bad[..bad.len() - 1]),
        "invalid UTF-8 must arrive unchanged (as bytes)"
    );
    let pieces: usize = records
        .iter()
        .filter(|r| r.body.iter().all(|&b| b == b'x') && !r.body.is_empty())
        .map(|r| r.body.len())
        .sum();
    assert_eq!(
        pieces,
        long.len(),
        "the long line arrives in pieces, nothing lost"
    );
}

fn logrotate(conf: &Path, state: &Path) {
    let out = std::process::Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(state)
        .arg(conf)
        .output()
        .expect("logrotate (Debian package logrotate) must be installed");
    assert!(out.status.success(), "logrotate: {}", stderr(&out));
}

#[test]
fn logrotate_create_and_copytruncate_mid_stream_lose_nothing() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "gzip");
    let _daemon = ls.setup.start();
    let created = ls.root.join("app/logs/create.log");
    let copied = ls.root.join("app/logs/copy.log");
    let conf = bus.dir.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 20\n  create\n  nocompress\n}}\n{} {{\n  rotate 20\n  copytruncate\n  nocompress\n}}\n",
            created.display(),
            copied.display()
        ),
    )
    .unwrap();
    let state = bus.dir.path().join("logrotate.state");
    // Two writers append steadily while logrotate rotates both files six times.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (created, copied, stop) = (created.clone(), copied.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut written = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let a = format!("create line {i}");
                let b = format!("copy line {i}");
                append(&created, &format!("{a}\n"));
                append(&copied, &format!("{b}\n"));
                written.push(a);
                written.push(b);
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            written
        })
    };
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(300));
        logrotate(&conf, &state);
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    // copytruncate itself loses what is written between its copy and its truncation (logrotate(8)
    // says so): expect every line that is in some file on disk, and every line of `create`.
    let mut on_disk = std::collections::HashSet::new();
    for entry in std::fs::read_dir(copied.parent().unwrap())
        .unwrap()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("copy.log") {
            for l in std::fs::read_to_string(entry.path()).unwrap().lines() {
                on_disk.insert(l.to_owned());
            }
        }
    }
    let lost_by_logrotate = written
        .iter()
        .filter(|l| l.starts_with("copy") && !on_disk.contains(*l))
        .count();
    eprintln!(
        "copytruncate: {lost_by_logrotate} lines lost by logrotate between copy and truncate"
    );
    let expected: Vec<String> = written
        .into_iter()
        .filter(|l| l.starts_with("create") || on_disk.contains(l))
        .collect();
    let counts = expect_all(&receiver, &expected, Duration::from_secs(20));
    let dup = |prefix: &str| {
        expected
            .iter()
            .filter(|e| e.starts_with(prefix) && counts.get(*e).copied().unwrap_or(0) > 1)
            .count()
    };
    let (create_dups, copy_dups) = (dup("create"), dup("copy"));
    eprintln!("duplicates: create {create_dups}, copytruncate {copy_dups}");
    assert_eq!(
        create_dups, 0,
        "rename+create rotation sends each line once"
    );
    // copytruncate is racy by design (the copy and the truncation are two steps): a line read from
    // the original just before the truncation may be read again from the copy. Bounded, and never
    // a loss.
    assert!(
        copy_dups * 50 <= expected.len(),
        "{copy_dups} duplicates under copytruncate"
    );
    assert!(
        expected.len() > 1000,
        "the writers wrote {} lines",
        expected.len()
    );
}

#[test]
fn collector_down_then_up_loses_nothing() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "gzip");
    receiver.fail_with.store(503, Ordering::Relaxed);
    let _daemon = ls.setup.start();
    let file = ls.root.join("app/logs/down.log");
    let mut expected = Vec::new();
    for i in 0..3000 {
        let l = format!("while down {i}");
        append(&file, &format!("{l}\n"));
        expected.push(l);
    }
    assert!(
        wait_until(Duration::from_secs(5), || *receiver
            .requests
            .lock()
            .unwrap()
            >= 2),
        "no retries seen"
    );
    assert!(receiver.records.lock().unwrap().is_empty());
    receiver.fail_with.store(0, Ordering::Relaxed);
    let counts = expect_all(&receiver, &expected, Duration::from_secs(40));
    assert!(
        counts.values().all(|&n| n == 1),
        "a batch refused with 503 is sent once it is accepted"
    );
}

#[test]
fn kill_9_during_writes_and_rotations_loses_no_line() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "none");
    let file = ls.root.join("app/logs/svc.log");
    let mut expected = Vec::new();
    let mut n = 0;
    for round in 0..10u64 {
        let daemon = ls.setup.start();
        for _ in 0..150 {
            let l = format!("line {n}");
            append(&file, &format!("{l}\n"));
            expected.push(l);
            n += 1;
        }
        if round % 3 == 1 {
            let rotated = file.with_extension(format!("log.{round}"));
            std::fs::rename(&file, &rotated).unwrap();
            for _ in 0..50 {
                let l = format!("line {n}");
                append(&file, &format!("{l}\n"));
                expected.push(l);
                n += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(100 + round * 37));
        daemon.signal(nix::sys::signal::Signal::SIGKILL);
        drop(daemon);
    }
    let _daemon = ls.setup.start();
    let counts = expect_all(&receiver, &expected, Duration::from_secs(30));
    let duplicated: usize = counts.values().filter(|&&c| c > 1).count();
    eprintln!(
        "kill -9 x10: {} lines, {duplicated} delivered more than once",
        expected.len()
    );
    assert!(
        duplicated <= expected.len() / 2,
        "duplicates only from unacknowledged batches"
    );
}

#[test]
fn every_record_carries_its_true_writer() {
    require_root();
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "gzip");
    let _daemon = ls.setup.start();
    let billing = ls.root.join("app/logs/billing.log");
    let audit = ls.root.join("app/logs/audit.log");
    // Both files exist before their writers start, as with most services.
    append(&billing, "");
    append(&audit, "");
    wait_tracked(&bus, &[&billing, &audit]);
    let script = bus.dir.path().join("billing_worker.py");
    std::fs::write(
        &script,
        format!(
            "import time\nf = open({:?}, 'a', buffering=1)\nfor i in range(40):\n    f.write('billing %d\\n' % i)\n    time.sleep(0.02)\ntime.sleep(1)\n",
            billing.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut python = std::process::Command::new(real_python())
        .arg(&script)
        .spawn()
        .unwrap();
    let mut shell = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3>>{}; for i in $(seq 0 39); do echo audit $i >&3; sleep 0.02; done; sleep 1",
            audit.display()
        ))
        .spawn()
        .unwrap();
    let expected: Vec<String> = (0..40)
        .map(|i| format!("billing {i}"))
        .chain((0..40).map(|i| format!("audit {i}")))
        .collect();
    expect_all(&receiver, &expected, Duration::from_secs(15));
    python.wait().unwrap();
    shell.wait().unwrap();
    let records = receiver.records.lock().unwrap().clone();
    for r in &records {
        let text = r.text();
        if text.starts_with("billing") {
            assert_eq!(
                r.attr("service.name"),
                Some("billing_worker"),
                "{text}: {:?}",
                r.attributes
            );
            assert_eq!(r.attr("process.runtime.name"), Some("python"));
            assert_eq!(
                r.attr("process.pid"),
                Some(python.id().to_string().as_str())
            );
        } else if text.starts_with("audit") {
            assert_eq!(
                r.attr("process.pid"),
                Some(shell.id().to_string().as_str()),
                "{text}: {:?}",
                r.attributes
            );
            assert!(
                r.attr("process.executable.path")
                    .is_some_and(|e| e.ends_with("sh")
                        || e.ends_with("dash")
                        || e.ends_with("bash"))
            );
        }
    }
}

/// Short-lived writers (`sh -c 'echo … >> file'`, as cron jobs and shell scripts write) are gone
/// before their fanotify event is read: each is named from what the inventory knew of it when
/// it exited, or from its parent when it exited before it could be read.
#[test]
fn short_lived_writers_are_named() {
    require_root();
    const WRITERS: usize = 1000;
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "gzip");
    let _daemon = ls.setup.start();
    let log = ls.root.join("app/logs/cron.log");
    append(&log, "");
    wait_tracked(&bus, &[&log]);
    let pids = bus.dir.path().join("writer-pids");
    let script = bus.dir.path().join("nightly_job.py");
    std::fs::write(
        &script,
        format!(
            "import subprocess\npids = []\nfor i in range({WRITERS}):\n    \
             p = subprocess.Popen(['sh', '-c', 'echo short %d >> {}' % i])\n    \
             pids.append(p.pid)\n    p.wait()\n\
             open({:?}, 'w').write(' '.join(map(str, pids)))\n",
            log.display(),
            pids.to_str().unwrap()
        ),
    )
    .unwrap();
    let status = std::process::Command::new(real_python())
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
    let writer_pids: std::collections::HashSet<String> = std::fs::read_to_string(&pids)
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(writer_pids.len(), WRITERS);
    let expected: Vec<String> = (0..WRITERS).map(|i| format!("short {i}")).collect();
    expect_all(&receiver, &expected, Duration::from_secs(60));
    let records = receiver.records.lock().unwrap().clone();
    let mut services: HashMap<String, usize> = HashMap::new();
    for r in records.iter().filter(|r| r.text().starts_with("short ")) {
        let service = r.attr("service.name").unwrap_or("(none)");
        *services.entry(service.to_owned()).or_default() += 1;
        // The writer is one of the shells: named as the inventory read it, or, for a child
        // gone before it was read, as its parent, whose cgroup it shared; never nobody.
        let pid = r.attr("process.pid").unwrap_or_default();
        assert!(
            writer_pids.contains(pid),
            "{}: pid {pid} is not a writer: {:?}",
            r.text(),
            r.attributes
        );
    }
    assert_eq!(services.values().sum::<usize>(), WRITERS);
    assert!(!services.contains_key("unknown_service"), "{services:?}");
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_sampling_and_the_logs_command() {
    require_root();
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let ls = log_setup(&bus, &receiver, "none");
    let mut config = std::fs::read_to_string(ls.setup.config_path()).unwrap();
    config.push_str("rate_limit_per_service = 50\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(ls.setup.config_path(), config).unwrap();
    let daemon = ls.setup.start();
    let file = ls.root.join("app/logs/chatty.log");
    append(&file, "");
    wait_tracked(&bus, &[&file]);
    let script = bus.dir.path().join("chatty_api.py");
    std::fs::write(
        &script,
        format!(
            "import time\nf = open({:?}, 'a', buffering=1)\nfor i in range(500):\n    f.write('INFO request %d\\n' % i)\nfor i in range(5):\n    f.write('ERROR failed %d\\njava.lang.IllegalStateException: boom\\n\\tat a.B.c(B.java:1)\\n' % i)\nf.write('INFO done\\n')\ntime.sleep(2)\n",
            file.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut writer = std::process::Command::new(real_python())
        .arg(&script)
        .spawn()
        .unwrap();
    // Errors always pass the rate limit.
    let errors: Vec<String> = (0..5)
        .map(|i| {
            format!("ERROR failed {i}\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)")
        })
        .collect();
    expect_all(&receiver, &errors, Duration::from_secs(15));
    let status = bus.status();
    let addr = status["metrics_listen"].as_str().unwrap().to_owned();
    assert!(!addr.is_empty(), "{status:#}");
    let mut text = String::new();
    let found = wait_until(Duration::from_secs(5), || {
        text = http_get(&addr, "/metrics");
        text.contains("oneagent_log_sampled_out_total{service=\"chatty_api\"}")
    });
    if !found {
        let err = daemon.stderr_text();
        let relevant: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("ttribut") || l.contains("riter") || l.contains("chatty"))
            .collect();
        panic!("{text}\n--- daemon:\n{}", relevant.join("\n"));
    }
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // The last record waits for its multiline quiet period before it goes out.
    let counted = |text: &str| -> u64 {
        [
            "oneagent_log_lines_total{service=\"chatty_api\"}",
            "oneagent_log_sampled_out_total{service=\"chatty_api\"}",
        ]
        .iter()
        .filter_map(|name| text.lines().find(|l| l.starts_with(name)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
    };
    wait_until(Duration::from_secs(5), || {
        text = http_get(&addr, "/metrics");
        counted(&text) >= 506
    });
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    let lines = value("oneagent_log_lines_total{service=\"chatty_api\"}");
    let dropped = value("oneagent_log_sampled_out_total{service=\"chatty_api\"}");
    assert_eq!(
        lines + dropped,
        506,
        "every record is either exported or counted as dropped"
    );
    assert!(
        dropped >= 300,
        "the rate limit of 50/s dropped only {dropped}"
    );
    assert_eq!(
        value("oneagent_log_severity_lines_total{service=\"chatty_api\",severity=\"error\"}"),
        5
    );
    assert_eq!(
        value(
            "oneagent_log_exceptions_total{service=\"chatty_api\",type=\"java.lang.IllegalStateException\"}"
        ),
        5
    );
    assert!(text.contains("oneagent_log_files_watched 1"), "{text}");
    assert!(http_get(&addr, "/nope").starts_with("HTTP/1.1 404"));

    let out = bus.ctl(None, &["--json", "logs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let f = files
        .iter()
        .find(|f| f["path"] == file.to_str().unwrap())
        .unwrap();
    assert_eq!(f["service"], "chatty_api", "{f:#}");
    assert_eq!(f["writers"][0][0], writer.id());
    let table = stdout(&bus.ctl(None, &["logs"]));
    assert!(
        table.contains("chatty_api") && table.contains("chatty.log"),
        "{table}"
    );
    writer.wait().unwrap();
}
