//! systemd integration: READY only with the name owned, STATUS, WATCHDOG, RELOADING, STOPPING.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::*;

#[test]
fn ready_status_watchdog_reload_and_stop() {
    let bus = TestBus::start(Policy::Shipped);
    let mut setup = DaemonSetup::new(&bus);
    setup.watchdog_usec = Some(200_000);
    let mut daemon = setup.spawn();
    daemon.wait_for("READY=1", Duration::from_secs(10));
    // READY=1 came after STATUS= lines saying what it did, and the name is owned by now.
    assert!(
        daemon
            .notes
            .iter()
            .any(|n| n.contains("STATUS=Loading configuration")),
        "{:?}",
        daemon.notes
    );
    assert!(
        daemon
            .notes
            .iter()
            .any(|n| n.contains("STATUS=Opening state database")),
        "{:?}",
        daemon.notes
    );
    let out = bus.ctl(None, &["status"]);
    assert!(
        out.status.success(),
        "name not owned at READY=1: {}",
        stderr(&out)
    );

    // Watchdog at half of WATCHDOG_USEC: 100 ms; expect several pings in a second.
    let t0 = Instant::now();
    let mut pings = 0;
    while t0.elapsed() < Duration::from_secs(1) {
        daemon.wait_for("WATCHDOG=1", Duration::from_secs(2));
        pings += 1;
    }
    assert!(
        (5..=15).contains(&pings),
        "{pings} watchdog pings in 1 s with WATCHDOG_USEC=200000"
    );

    // SIGHUP: RELOADING=1 then READY=1.
    daemon.notes.clear();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for("RELOADING=1", Duration::from_secs(5));
    daemon.wait_for("READY=1", Duration::from_secs(5));
    assert_eq!(bus.status()["config_generation"], 2);

    // D-Bus reload does the same.
    daemon.notes.clear();
    assert!(bus.ctl(None, &["reload"]).status.success());
    daemon.wait_for("RELOADING=1", Duration::from_secs(5));
    daemon.wait_for("READY=1", Duration::from_secs(5));

    // SIGTERM: STOPPING=1 and a clean exit within 2 s, the name released.
    daemon.signal(Signal::SIGTERM);
    let t0 = Instant::now();
    daemon.wait_for("STOPPING=1", Duration::from_secs(2));
    let status = wait_timeout(&mut daemon.child, Duration::from_secs(2));
    assert!(status.success(), "{status}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(bus.ctl(None, &["status"]).status.code(), Some(3));
}

#[test]
fn no_watchdog_pings_without_watchdog_usec() {
    let bus = TestBus::start(Policy::Shipped);
    let mut daemon = DaemonSetup::new(&bus).start();
    daemon.notes.clear();
    let mut buf = [0u8; 512];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(700) {
        if let Ok(n) = daemon.notify.recv(&mut buf) {
            panic!(
                "unexpected notification {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
    }
}

/// READY=1 means every component serves: the bus name is owned, the log pipeline watches its
/// roots (every file already there is tracked, and a file created right after READY=1 is found
/// by inotify) and /metrics answers. Many directories make the pipeline's first scan slow enough
/// that a READY=1 sent before it would show fewer files.
#[test]
fn ready_only_when_every_component_serves() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let root = bus.dir.path().join("srv");
    let files = 1500;
    for i in 0..files {
        let dir = root.join(format!("app{}/logs", i % 300));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.log")), "x\n").unwrap();
    }
    std::fs::write(
        setup.config_path(),
        format!(
            "[exporter]\notlp_endpoint = \"http://127.0.0.1:9\"\n[injection]\nenabled = false\n\
             [logs]\nroots = [\"{}\"]\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
            root.display()
        ),
    )
    .unwrap();
    let _daemon = setup.start();
    // No waiting from here on: everything must already be true.
    let status = bus.status();
    assert_eq!(status["state"], "running");
    assert_eq!(status["log_files"], files, "{status}");
    let addr = status["metrics_listen"].as_str().unwrap().to_owned();
    assert!(!addr.is_empty(), "{status}");
    let text = http_get_within(&addr, "/metrics", Duration::from_secs(10));
    assert!(
        text.contains(&format!("oneagent_log_files_watched {files}")),
        "{text}"
    );
    // A file created now, in a directory that was there at READY=1, is found by inotify.
    let late = root.join("app7/logs/late.log");
    std::fs::write(&late, "late\n").unwrap();
    let t0 = Instant::now();
    while bus.status()["log_files"] != files + 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "a file created after READY=1 was not found"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
