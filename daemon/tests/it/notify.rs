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
