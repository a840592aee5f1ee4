//! The daemon's side of host injection, against the real preload library: the snapshot follows
//! the configuration and rules, /etc/ld.so.preload management (here a file of the test's own,
//! named by `[injection] preload_file`; the real /etc/ld.so.preload is tested in a mount
//! namespace by tests/e2e), verification, reports over the socket and the crash circuit breaker.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn library() -> PathBuf {
    let lib = repo().join("preload/lib/target/release/liboneagent_preload.so");
    assert!(
        lib.exists(),
        "{} is missing: build it with `cargo build --release --manifest-path preload/lib/Cargo.toml` (scripts/test does)",
        lib.display()
    );
    lib
}

struct Fixture {
    preload_file: PathBuf,
}

fn configure(setup: &DaemonSetup, library: &Path, enabled: bool) -> Fixture {
    let agents = setup.dir.join("oneagent/agents");
    let python = agents.join("python/opentelemetry/instrumentation/auto_instrumentation");
    std::fs::create_dir_all(&python).unwrap();
    std::fs::write(python.join("sitecustomize.py"), "").unwrap();
    std::fs::create_dir_all(agents.join("dotnet")).unwrap();
    std::fs::write(agents.join("agent.jar"), b"PK\x03\x04 test jar").unwrap();
    std::fs::write(agents.join("register.js"), b"// test\n").unwrap();
    let preload_file = setup.dir.join("ld.so.preload");
    std::fs::write(
        setup.config_path(),
        format!(
            "[injection]\nenabled = {enabled}\nlibrary = \"{lib}\"\npreload_file = \"{file}\"\n\
             [agents]\njava = \"{a}/agent.jar\"\npython = \"{a}/python\"\nnodejs = \"{a}/register.js\"\ndotnet = \"{a}/dotnet\"\n",
            lib = library.display(),
            file = preload_file.display(),
            a = agents.display()
        ),
    )
    .unwrap();
    Fixture { preload_file }
}

#[test]
fn preload_file_lifecycle_keeps_other_entries() {
    require_root();
    let lib = library();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let fx = configure(&setup, &lib, true);
    std::fs::write(&fx.preload_file, "/opt/other.so\n").unwrap();
    let _daemon = setup.start();
    let expected = format!("/opt/other.so\n{}\n", lib.display());
    assert_eq!(std::fs::read_to_string(&fx.preload_file).unwrap(), expected);
    let status = bus.status();
    assert_eq!(status["preload_installed"], true, "{status:#}");

    let out = bus.ctl(None, &["preload", "install"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&fx.preload_file).unwrap(),
        expected,
        "install twice = once"
    );

    let out = bus.ctl(None, &["preload", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("verified"), "{}", stdout(&out));

    let out = bus.ctl(Some(NOBODY), &["preload", "remove"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(std::fs::read_to_string(&fx.preload_file).unwrap(), expected);

    let out = bus.ctl(None, &["--json", "preload", "remove"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["changed"], true);
    assert_eq!(report["other_entries"][0], "/opt/other.so");
    assert_eq!(
        std::fs::read_to_string(&fx.preload_file).unwrap(),
        "/opt/other.so\n",
        "remove restores exactly"
    );
    let out = bus.ctl(None, &["preload", "remove"]);
    assert!(stdout(&out).contains("nothing changed"), "{}", stdout(&out));

    // Ours as the only entry: remove takes the file away.
    std::fs::remove_file(&fx.preload_file).unwrap();
    assert!(bus.ctl(None, &["preload", "install"]).status.success());
    assert!(bus.ctl(None, &["preload", "remove"]).status.success());
    assert!(!fx.preload_file.exists());
}

#[test]
fn a_library_that_fails_verification_is_never_written() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let bogus = setup.dir.join("liboneagent_preload.so");
    std::fs::write(&bogus, "#!/bin/sh\necho not a library\n").unwrap();
    let fx = configure(&setup, &bogus, true);
    let _daemon = setup.start();
    assert!(!fx.preload_file.exists(), "a bad library was written");
    let status = bus.status();
    assert_eq!(status["preload_installed"], false);
    assert!(
        status["preload_problem"]
            .as_str()
            .unwrap()
            .contains("failed verification"),
        "{status:#}"
    );
    let out = bus.ctl(None, &["preload", "install"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("failed verification"),
        "{}",
        stderr(&out)
    );
    assert!(!fx.preload_file.exists());
    let out = bus.ctl(None, &["preload", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAILED"), "{}", stdout(&out));
}

#[test]
fn the_snapshot_follows_rules_and_configuration() {
    let lib = library();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let fx = configure(&setup, &lib, false);
    let _daemon = setup.start();
    // Injection disabled in the configuration: the snapshot exists, the preload file is untouched.
    assert!(!fx.preload_file.exists());
    let snapshot = setup.state_dir().join("preload.snapshot");
    let first = std::fs::read(&snapshot).unwrap();
    assert!(first.starts_with(b"OASNAP"));
    assert!(bus.ctl(None, &["disable", "payments"]).status.success());
    let second = std::fs::read(&snapshot).unwrap();
    assert_ne!(first, second);
    assert!(second.windows(8).any(|w| w == b"payments"));
    let out = bus.ctl(None, &["--json", "preload", "verify"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["snapshot_problem"], "", "{report:#}");
    assert_eq!(report["snapshot_bytes"], second.len());
}

/// Starts the real python on `script` with the library preloaded and the daemon's snapshot.
fn start_preloaded(setup: &DaemonSetup, script: &Path) -> std::process::Child {
    Command::new(real_python())
        .arg(script)
        .env("LD_PRELOAD", library())
        .env(
            "ONEAGENT_PRELOAD_SNAPSHOT",
            setup.state_dir().join("preload.snapshot"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn entry(bus: &TestBus, pid: u32) -> Option<serde_json::Value> {
    let out = bus.ctl(None, &["--json", "ps", "--all"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.into_iter().find(|p| p["pid"] == pid)
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

#[test]
fn reports_reach_the_inventory_and_the_crash_breaker_trips() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    configure(&setup, &library(), false);
    // Injection is on by rule (the configuration keeps the preload file alone in this test).
    let _daemon = setup.start();
    assert!(bus.ctl(None, &["enable", "--global"]).status.success());

    let sleeper = setup.dir.join("ledger_api.py");
    std::fs::write(&sleeper, "import time\ntime.sleep(60)\n").unwrap();
    let mut child = start_preloaded(&setup, &sleeper);
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(3), || entry(&bus, pid)
            .is_some_and(|e| e["preload_outcome"] == "injected")),
        "no injected report for {pid}: {:?}",
        entry(&bus, pid)
    );
    let e = entry(&bus, pid).unwrap();
    assert_eq!(e["injection_state"], "injected", "{e:#}");
    assert_eq!(e["verdict"]["service_name"], "ledger_api");
    child.kill().unwrap();
    child.wait().unwrap();

    // Three injected runs in a row that fail within 2 s trip the breaker.
    let crasher = setup.dir.join("crashy.py");
    std::fs::write(&crasher, "import time, sys\ntime.sleep(0.3)\nsys.exit(1)\n").unwrap();
    for _ in 0..3 {
        let mut c = start_preloaded(&setup, &crasher);
        assert_eq!(c.wait().unwrap().code(), Some(1));
        std::thread::sleep(Duration::from_millis(150));
    }
    let python = real_python();
    assert!(
        wait_for(Duration::from_secs(3), || {
            bus.status()["blocked"]
                .as_array()
                .is_some_and(|b| b.iter().any(|x| x["exe"] == python.as_str()))
        }),
        "breaker did not trip: {:#}",
        bus.status()
    );
    let table = stdout(&bus.ctl(None, &["status"]));
    assert!(
        table.contains("blocked") && table.contains("preload unblock"),
        "{table}"
    );

    // The next start of that executable is skipped, by the snapshot the library reads.
    let mut child = start_preloaded(&setup, &sleeper);
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(3), || entry(&bus, pid)
            .is_some_and(|e| e["preload_outcome"] == "skipped")),
        "{:?}",
        entry(&bus, pid)
    );
    assert_eq!(
        entry(&bus, pid).unwrap()["verdict"]["reason_code"],
        "skip-executable"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let out = bus.ctl(None, &["preload", "unblock", "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(bus.status()["blocked"].as_array().map(Vec::len), Some(0));
}

/// A preload library whose constructor sleeps `millis` with a raw system call (no libc, so the
/// daemon's "needs no other library" check accepts it): every verification trial takes that long.
fn slow_library(dir: &Path, millis: u64) -> PathBuf {
    let src = dir.join("slow.c");
    std::fs::write(
        &src,
        format!(
            "struct ts {{ long s; long ns; }};\n\
             __attribute__((constructor)) static void slow(void) {{\n\
               struct ts t = {{ {s}, {ns} }};\n\
             #if defined(__x86_64__)\n\
               long r; __asm__ volatile (\"syscall\" : \"=a\"(r) : \"a\"(35L), \"D\"(&t), \"S\"(0L) : \"rcx\", \"r11\", \"memory\");\n\
             #elif defined(__aarch64__)\n\
               register long x8 __asm__(\"x8\") = 101; register long x0 __asm__(\"x0\") = (long)&t;\n\
               register long x1 __asm__(\"x1\") = 0;\n\
               __asm__ volatile (\"svc 0\" : \"+r\"(x0) : \"r\"(x8), \"r\"(x1) : \"memory\");\n\
             #else\n\
             #error unsupported architecture\n\
             #endif\n\
             }}\n",
            s = millis / 1000,
            ns = (millis % 1000) * 1_000_000
        ),
    )
    .unwrap();
    let lib = dir.join("libslow.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-nostdlib", "-O2", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("cc (Debian package gcc) must be installed");
    assert!(out.status.success(), "cc failed: {}", stderr(&out));
    lib
}

/// Whether some process runs with `LD_PRELOAD=<library>` (a verification trial in progress).
fn trial_running(library: &Path) -> bool {
    let needle = format!("LD_PRELOAD={}", library.display());
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
    })
}

/// Verifying the library runs programs and waits for them (here 3 trials of 1.5 s each), on the
/// blocking pool: `status` (and any other call) answers while it runs, long before it ends.
#[test]
fn status_answers_while_a_preload_install_verifies() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let lib = slow_library(&setup.dir, 1500);
    configure(&setup, &lib, false);
    let _daemon = setup.start();
    let mut install = Command::new(*CTL)
        .args(["preload", "install"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !trial_running(&lib) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the verification never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The verification is running now; three status calls answer before it ends.
    let started = Instant::now();
    for _ in 0..3 {
        let status = bus.status();
        assert_eq!(status["state"], "running");
        assert_eq!(
            install.try_wait().unwrap(),
            None,
            "status waited for the verification to end"
        );
    }
    let answered = started.elapsed();
    let result = wait_timeout(&mut install, Duration::from_secs(30));
    let verified = started.elapsed();
    assert!(result.success(), "{result}");
    assert!(
        answered < verified / 2,
        "status took {answered:?}, the verification {verified:?}"
    );
}
