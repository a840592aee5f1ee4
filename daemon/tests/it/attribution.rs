//! Log-writer attribution against the real kernel: real writer processes (python, sh with `>>`)
//! on files in a temporary directory, a real fanotify group, a real SQLite store. Needs root
//! (`CAP_SYS_ADMIN` for fanotify).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use oneagent::logs::attribute::{AttributionChange, AttributionConfig, AttributionEngine};
use oneagent::store::Store;
use std::os::fd::AsFd;

use crate::support::*;

/// Kills and reaps a child when the test ends, whatever happens.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Proc {
    Proc(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A python writer that keeps `path` open and appends a line every `every` seconds.
fn python_writer(path: &Path, every: f64) -> Proc {
    spawn(Command::new(real_python()).args([
        "-c",
        "import sys, time\n\
         f = open(sys.argv[1], 'a', buffering=1)\n\
         while True:\n    f.write('python line\\n')\n    time.sleep(float(sys.argv[2]))\n",
        path.to_str().unwrap(),
        &every.to_string(),
    ]))
}

/// A shell loop whose output is appended to `path` (`>>` on the loop: the shell keeps it open).
fn sh_writer(path: &Path, every: f64) -> Proc {
    spawn(Command::new("/bin/sh").args([
        "-c",
        "while :; do echo shell line; sleep \"$2\"; done >> \"$1\"",
        "sh",
        path.to_str().unwrap(),
        &every.to_string(),
    ]))
}

fn engine(rearm: Duration) -> AttributionEngine {
    require_root();
    AttributionEngine::new(AttributionConfig {
        rearm_interval: rearm,
        ..AttributionConfig::default()
    })
    .unwrap()
}

/// Waits for events (or the next re-arm) and handles them until `done` or `limit`.
fn pump(
    engine: &mut AttributionEngine,
    limit: Duration,
    changes: &mut Vec<AttributionChange>,
    mut done: impl FnMut(&AttributionEngine) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done(engine) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let next = engine
            .rearm_due(now)
            .map_or(deadline, |t| t.min(deadline))
            .max(now + Duration::from_millis(1));
        let wait = (next - now).min(Duration::from_millis(50));
        {
            let mut fds = [PollFd::new(engine.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, u16::try_from(wait.as_millis()).unwrap_or(50));
        }
        changes.extend(engine.process_events(Instant::now()));
    }
}

fn writer_pids(engine: &AttributionEngine, path: &Path) -> BTreeSet<u32> {
    engine.writers(path).iter().map(|w| w.pid).collect()
}

fn new_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, b"").unwrap();
    path
}

#[test]
fn each_file_has_exactly_its_true_writers() {
    let mut engine = engine(Duration::from_secs(1));
    let dir = tempdir();
    let a = new_file(dir.path(), "a.log");
    let b = new_file(dir.path(), "b.log");
    let c = new_file(dir.path(), "c.log");
    let quiet = new_file(dir.path(), "quiet.log");
    for p in [&a, &b, &c, &quiet] {
        engine.watch(p).unwrap();
        engine.file_changed(p).unwrap();
    }
    let py_a = python_writer(&a, 0.02);
    let sh_b = sh_writer(&b, 0.05);
    let py_c = python_writer(&c, 0.01);
    let sh_c = sh_writer(&c, 0.2);
    // A reader of b must not count: it never writes.
    let reader = spawn(Command::new("tail").args(["-f", b.to_str().unwrap()]));

    let expected = [
        (&a, BTreeSet::from([py_a.pid()])),
        (&b, BTreeSet::from([sh_b.pid()])),
        (&c, BTreeSet::from([py_c.pid(), sh_c.pid()])),
        (&quiet, BTreeSet::new()),
    ];
    let mut changes = Vec::new();
    let found = pump(&mut engine, Duration::from_secs(5), &mut changes, |e| {
        expected.iter().all(|(p, want)| writer_pids(e, p) == *want)
    });
    // Keep running past two re-arms: no false writer may appear.
    pump(
        &mut engine,
        Duration::from_millis(2500),
        &mut changes,
        |_| false,
    );
    for (path, want) in &expected {
        assert_eq!(
            writer_pids(&engine, path),
            *want,
            "{} (found all in time: {found}; changes: {changes:?})",
            path.display()
        );
    }
    assert!(!writer_pids(&engine, &b).contains(&reader.pid()));
    let py = &engine.writers(&a)[0];
    assert!(py.exe.contains("python"), "{py:?}");
    assert!(py.command_line.contains("a.log"), "{py:?}");
    assert_eq!(py.language, "python", "{py:?}");
    assert!(py.start_time > 0 && py.first_seen > 0 && py.last_seen >= py.first_seen);
    let sh = &engine.writers(&b)[0];
    assert!(sh.command_line.starts_with("/bin/sh -c"), "{sh:?}");
    let counters = engine.counters();
    assert_eq!(counters.marks, 4, "{counters:?}");
    assert_eq!(counters.writers_found, 4, "{counters:?}");
    assert!(counters.rearms >= 1, "{counters:?}");
    // Re-arming did not leave the chatty files listening for every write.
    assert!(counters.events < 400, "{counters:?}");
    drop(reader);
}

#[test]
fn a_second_writer_is_found_within_the_rearm_bound() {
    let rearm = Duration::from_secs(1);
    let mut engine = engine(rearm);
    let dir = tempdir();
    let log = new_file(dir.path(), "app.log");
    engine.file_changed(&log).unwrap();
    // A chatty first writer that never closes the file.
    let first = python_writer(&log, 0.005);
    let mut changes = Vec::new();
    assert!(pump(
        &mut engine,
        Duration::from_secs(3),
        &mut changes,
        |e| { writer_pids(e, &log).contains(&first.pid()) }
    ));
    // Let modify be turned off, so the second writer can only be found by a re-arm.
    pump(
        &mut engine,
        Duration::from_millis(300),
        &mut changes,
        |_| false,
    );
    assert_eq!(engine.counters().armed, 0, "{:?}", engine.counters());

    // Time from the second writer's first line (not from its start: fork and exec of a
    // shell may be slow on a loaded machine).
    let second = sh_writer(&log, 0.1);
    let mut first_line: Option<Instant> = None;
    let found = pump(&mut engine, Duration::from_secs(5), &mut changes, |e| {
        if first_line.is_none()
            && std::fs::read(&log).is_ok_and(|b| b.windows(10).any(|w| w == b"shell line"))
        {
            first_line = Some(Instant::now());
        }
        writer_pids(e, &log).contains(&second.pid())
    });
    let took = first_line.map(|t| t.elapsed()).unwrap_or_default();
    assert!(found, "second writer not found; changes: {changes:?}");
    eprintln!("second writer found {took:?} after its first line (re-arm bound {rearm:?})");
    // The bound, plus scheduling slack.
    assert!(took <= rearm + Duration::from_millis(500), "{took:?}");
    assert_eq!(
        writer_pids(&engine, &log),
        BTreeSet::from([first.pid(), second.pid()])
    );
}

#[test]
fn a_closed_writer_rearms_at_once() {
    // The re-arm interval is long and there is no listen window: only close-write can turn
    // modify back on.
    require_root();
    let mut engine = AttributionEngine::new(AttributionConfig {
        rearm_interval: Duration::from_secs(60),
        listen_window: Duration::ZERO,
        ..AttributionConfig::default()
    })
    .unwrap();
    let dir = tempdir();
    let log = new_file(dir.path(), "closing.log");
    engine.file_changed(&log).unwrap();
    // Writes for a while, closes the file, stays alive.
    let first = spawn(Command::new(real_python()).args([
        "-c",
        "import sys, time\n\
         f = open(sys.argv[1], 'a', buffering=1)\n\
         for _ in range(20):\n    f.write('x\\n'); time.sleep(0.01)\n\
         f.close()\ntime.sleep(30)\n",
        log.to_str().unwrap(),
    ]));
    let mut changes = Vec::new();
    assert!(pump(
        &mut engine,
        Duration::from_secs(3),
        &mut changes,
        |e| { writer_pids(e, &log).contains(&first.pid()) }
    ));
    pump(
        &mut engine,
        Duration::from_millis(500),
        &mut changes,
        |_| false,
    );
    // The first writer closed the file: modify is listened for again.
    assert_eq!(engine.counters().armed, 1, "{:?}", engine.counters());
    let second = python_writer(&log, 0.05);
    assert!(
        pump(&mut engine, Duration::from_secs(5), &mut changes, |e| {
            writer_pids(e, &log).contains(&second.pid())
        }),
        "{changes:?}"
    );
    assert_eq!(engine.counters().rearms, 0, "{:?}", engine.counters());
}

#[test]
fn truncations_are_not_writers() {
    let mut engine = engine(Duration::from_secs(1));
    let dir = tempdir();
    let log = dir.path().join("trunc.log");
    std::fs::write(&log, b"some old content\n".repeat(100)).unwrap();
    engine.file_changed(&log).unwrap();
    // `: > file` from a shell that stays alive but does not keep the file open, then a
    // copytruncate-style truncation (open for writing, ftruncate, close) by `truncate`.
    let shell = spawn(Command::new("/bin/sh").args([
        "-c",
        ": > \"$1\"; truncate -s 0 \"$1\"; exec sleep 30",
        "sh",
        log.to_str().unwrap(),
    ]));
    let mut changes = Vec::new();
    pump(
        &mut engine,
        Duration::from_millis(800),
        &mut changes,
        |_| false,
    );
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "not truncated");
    assert!(
        engine.writers(&log).is_empty(),
        "{:?} {changes:?}",
        engine.writers(&log)
    );
    eprintln!(
        "truncation: rejected {} ({changes:?})",
        engine.counters().rejected
    );
    // The mark still listens: a real writer afterwards is found.
    let writer = sh_writer(&log, 0.05);
    assert!(pump(
        &mut engine,
        Duration::from_secs(3),
        &mut changes,
        |e| { writer_pids(e, &log) == BTreeSet::from([writer.pid()]) }
    ));
    assert!(!writer_pids(&engine, &log).contains(&shell.pid()));
}

#[test]
fn a_process_that_modified_but_closed_the_file_is_rejected() {
    let mut engine = engine(Duration::from_secs(1));
    let dir = tempdir();
    let log = new_file(dir.path(), "closed.log");
    engine.file_changed(&log).unwrap();
    // Writes once, closes, then lives on: by the time the event is handled it holds no
    // descriptor of the file, exactly like a truncating shell.
    let mut child = Command::new(real_python())
        .args([
            "-c",
            "import sys, time\n\
             with open(sys.argv[1], 'a') as f: f.write('once\\n')\n\
             print('done', flush=True)\ntime.sleep(30)\n",
            log.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let child = Proc(child);
    let changes = engine.process_events(Instant::now());
    assert!(engine.writers(&log).is_empty(), "{changes:?}");
    assert!(
        changes.iter().any(|c| matches!(
            c,
            AttributionChange::Rejected { pid, reason: "not-open-for-writing", .. } if *pid == child.pid()
        )),
        "{changes:?}"
    );
    assert_eq!(engine.counters().rejected, 1);
}

#[test]
fn the_engines_own_writes_are_ignored() {
    let mut engine = engine(Duration::from_secs(1));
    let dir = tempdir();
    let log = new_file(dir.path(), "own.log");
    engine.file_changed(&log).unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for _ in 0..5 {
        std::io::Write::write_all(&mut file, b"our own line\n").unwrap();
    }
    let mut changes = Vec::new();
    pump(
        &mut engine,
        Duration::from_millis(300),
        &mut changes,
        |_| false,
    );
    assert!(engine.writers(&log).is_empty(), "{changes:?}");
    let counters = engine.counters();
    assert!(counters.own_events >= 1, "{counters:?}");
    assert_eq!(counters.armed, 1, "own writes must not turn modify off");
    // Another process on the same file is still found.
    let other = python_writer(&log, 0.05);
    assert!(pump(
        &mut engine,
        Duration::from_secs(3),
        &mut changes,
        |e| { writer_pids(e, &log) == BTreeSet::from([other.pid()]) }
    ));
}

#[test]
fn attribution_survives_a_restart_and_forgets_replaced_files() {
    let dir = tempdir();
    let state = dir.path().join("state");
    let kept = new_file(dir.path(), "kept.log");
    let replaced = new_file(dir.path(), "replaced.log");
    let renamed = new_file(dir.path(), "renamed.log");
    let before;
    {
        let (mut store, _) = Store::open(&state).unwrap();
        let mut engine = engine(Duration::from_secs(1));
        engine.file_changed(&kept).unwrap();
        engine.file_changed(&replaced).unwrap();
        engine.file_changed(&renamed).unwrap();
        let w1 = python_writer(&kept, 0.05);
        let w2 = sh_writer(&replaced, 0.05);
        let w3 = sh_writer(&renamed, 0.05);
        let mut changes = Vec::new();
        assert!(pump(
            &mut engine,
            Duration::from_secs(3),
            &mut changes,
            |e| {
                writer_pids(e, &kept).contains(&w1.pid())
                    && writer_pids(e, &replaced).contains(&w2.pid())
                    && writer_pids(e, &renamed).contains(&w3.pid())
            }
        ));
        assert!(engine.is_dirty());
        engine.save(&mut store).unwrap();
        assert!(!engine.is_dirty());
        before = engine.writers(&kept).to_vec();
    }
    // The writers are gone. renamed.log was rotated (a new inode at the path); replaced.log
    // was deleted and created again, a second later: the file system may well give the new
    // file the old inode number, which the birth time tells apart.
    std::fs::rename(&renamed, dir.path().join("renamed.log.1")).unwrap();
    std::fs::write(&renamed, b"new file\n").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::remove_file(&replaced).unwrap();
    std::fs::write(&replaced, b"new file\n").unwrap();

    let (mut store, _) = Store::open(&state).unwrap();
    let mut engine = engine(Duration::from_secs(1));
    assert_eq!(engine.load(&store).unwrap(), 3);
    engine.watch(&kept).unwrap();
    engine.watch(&replaced).unwrap();
    engine.watch(&renamed).unwrap();
    assert_eq!(engine.writers(&kept), before.as_slice());
    assert!(engine.writers(&replaced).is_empty());
    assert!(engine.writers(&renamed).is_empty());
    engine.save(&mut store).unwrap();
    let stored = store.log_files().unwrap();
    // The stale records are replaced by the new files' (no writers yet).
    assert_eq!(stored.len(), 3, "{stored:?}");
    let stored_kept = stored.iter().find(|f| f.path == kept).unwrap();
    assert_eq!(stored_kept.writers, before);
    assert!(
        stored
            .iter()
            .find(|f| f.path == replaced)
            .unwrap()
            .writers
            .is_empty()
    );
}

#[test]
fn rotation_marks_the_new_file() {
    let mut engine = engine(Duration::from_secs(1));
    let dir = tempdir();
    let log = new_file(dir.path(), "rot.log");
    engine.file_changed(&log).unwrap();
    let old = python_writer(&log, 0.02);
    let mut changes = Vec::new();
    assert!(pump(
        &mut engine,
        Duration::from_secs(3),
        &mut changes,
        |e| { writer_pids(e, &log).contains(&old.pid()) }
    ));
    // Rotate by rename; the old writer keeps writing the renamed file.
    std::fs::rename(&log, dir.path().join("rot.log.1")).unwrap();
    std::fs::write(&log, b"").unwrap();
    engine.file_changed(&log).unwrap();
    let new = sh_writer(&log, 0.05);
    assert!(pump(
        &mut engine,
        Duration::from_secs(3),
        &mut changes,
        |e| { writer_pids(e, &log) == BTreeSet::from([new.pid()]) }
    ));
    // The old inode's mark is dropped at its next event, not counted any more.
    pump(
        &mut engine,
        Duration::from_millis(200),
        &mut changes,
        |_| false,
    );
    assert_eq!(engine.counters().marks, 1, "{:?}", engine.counters());
}

#[test]
fn without_cap_sys_admin_new_fails_clearly() {
    if std::env::var_os("ONEAGENT_ATTRIBUTION_CHILD").is_some() {
        let err = AttributionEngine::new(AttributionConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
        return;
    }
    require_root();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "attribution::without_cap_sys_admin_new_fails_clearly",
            "--exact",
            "--nocapture",
        ])
        .env("ONEAGENT_ATTRIBUTION_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 passed"), "{}", stdout(&out));
}

/// The daemon's inventory as the engine sees it, fed by the test as the process connector would.
struct SharedInventory(std::sync::Arc<std::sync::Mutex<oneagent::inventory::Inventory>>);

impl oneagent::logs::attribute::ProcessLookup for SharedInventory {
    fn process(&self, pid: u32) -> Option<oneagent::inventory::ProcessEntry> {
        self.0.lock().unwrap().get(pid).cloned()
    }

    fn recently_exited(&self, pid: u32) -> Option<oneagent::inventory::ProcessEntry> {
        self.0.lock().unwrap().recently_exited(pid)
    }
}

/// Runs `sh -c 'echo x >> log'` to its end (reaped): its event is read after it is gone.
fn short_lived_write(log: &Path) -> u32 {
    let mut child = Command::new("/bin/sh")
        .args(["-c", "echo short >> \"$1\"", "sh", log.to_str().unwrap()])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

#[test]
fn a_writer_gone_before_its_event_is_named_from_the_inventory() {
    let mut engine = engine(Duration::from_secs(30));
    let policy = std::sync::Arc::new(oneagent::decision::OwnedPolicy::build(
        &oneagent::config::Config::default(),
        &[],
        &[],
    ));
    let inventory = std::sync::Arc::new(std::sync::Mutex::new(
        oneagent::inventory::Inventory::new("/proc".into(), 0, policy),
    ));
    engine.set_lookup(Box::new(SharedInventory(inventory.clone())));
    let dir = tempdir();
    let log = new_file(dir.path(), "cron.log");
    engine.file_changed(&log).unwrap();
    let parent = std::process::id();
    let service = {
        let mut inv = inventory.lock().unwrap();
        assert!(inv.observe(parent));
        inv.get(parent).unwrap().verdict.service_name.clone()
    };
    let pid = short_lived_write(&log);
    // The connector's events of a child too quick to be read: fork, then exit.
    {
        let mut inv = inventory.lock().unwrap();
        inv.forked(pid, parent);
        inv.exited(pid);
    }
    let mut changes = Vec::new();
    let found = pump(&mut engine, Duration::from_secs(10), &mut changes, |e| {
        !e.writers(&log).is_empty()
    });
    assert!(found, "{changes:?}");
    let writer = &engine.writers(&log)[0];
    assert_eq!(
        (writer.pid, writer.service_name.as_str()),
        (pid, service.as_str())
    );
    assert_eq!(engine.counters().exited_writers, 1);
}

#[test]
fn a_gone_writer_the_inventory_never_knew_is_rejected_after_waiting() {
    let mut engine = engine(Duration::from_secs(30));
    let dir = tempdir();
    let log = new_file(dir.path(), "cron.log");
    engine.file_changed(&log).unwrap();
    let pid = short_lived_write(&log);
    let mut changes = Vec::new();
    let rejected = pump(&mut engine, Duration::from_secs(10), &mut changes, |e| {
        e.counters().rejected > 0
    });
    assert!(rejected, "{changes:?}");
    assert!(engine.writers(&log).is_empty());
    assert!(
        changes.iter().any(|c| matches!(
            c,
            AttributionChange::Rejected { pid: p, reason: "gone", .. } if *p == pid
        )),
        "{changes:?}"
    );
}
