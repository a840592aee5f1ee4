//! The state database: corruption is moved aside and rebuilt, state survives restarts, and
//! kill -9 during writes never leaves an unreadable database.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::*;

#[test]
fn corrupt_database_is_moved_aside_and_rebuilt() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(setup.state_dir()).unwrap();
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(setup.state_dir().join("state.db"), &garbage).unwrap();
    let daemon = setup.start();
    let status = bus.status();
    let aside = status["database_recovered_to"].as_str().unwrap().to_owned();
    assert!(aside.contains("state.db.corrupt-"), "{status}");
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        garbage,
        "the corrupt file must be kept intact"
    );
    assert_eq!(status["schema_version"], oneagent::store::SCHEMA_VERSION);
    assert!(bus.ctl(None, &["disable", "payments"]).status.success());
    let err = daemon.stderr_text();
    assert_eq!(err.matches("State database is corrupt").count(), 1, "{err}");
}

#[test]
fn damaged_page_inside_a_real_database_is_detected() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    {
        let d = setup.start();
        for i in 0..50 {
            assert!(
                bus.ctl(None, &["disable", &format!("svc-{i}")])
                    .status
                    .success()
            );
        }
        d.stop();
    }
    let db = setup.state_dir().join("state.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(
        bytes.len() >= 8192,
        "database smaller than expected: {}",
        bytes.len()
    );
    // Overwrite the second page (a b-tree page) with noise; keep the header intact.
    for b in &mut bytes[4096..8192] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let _d = setup.start();
    let status = bus.status();
    assert!(
        status["database_recovered_to"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{status}"
    );
}

#[test]
fn state_survives_a_restart() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    let first = setup.start();
    assert!(bus.ctl(None, &["disable", "payments"]).status.success());
    assert!(bus.ctl(None, &["disable", "--global"]).status.success());
    first.stop();
    let _second = setup.start();
    let status = bus.status();
    assert_eq!(status["daemon_starts"], 2);
    assert_eq!(status["injection_enabled"], false);
    assert_eq!(status["rules"][1]["scope"], "payments");
    assert_eq!(status["database_recovered_to"], "");
}

#[test]
fn kill_9_during_writes_never_leaves_an_unreadable_database() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..10u32 {
        let daemon = setup.start();
        // Write as fast as the CLI can, then kill -9 at a different moment each round.
        let stop_at = std::time::Instant::now() + Duration::from_millis(40 + u64::from(round) * 23);
        let mut i = 0;
        while std::time::Instant::now() < stop_at {
            let name = format!("r{round}-s{i}");
            if bus.ctl(None, &["disable", &name]).status.success() {
                acknowledged.push(name);
            }
            i += 1;
        }
        let killer = {
            let pid = daemon.pid();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(3));
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            })
        };
        // A write in flight while the kill lands.
        let _ = bus.ctl(None, &["disable", &format!("r{round}-inflight")]);
        killer.join().unwrap();
        drop(daemon);
    }
    let _d = setup.start();
    let status = bus.status();
    assert_eq!(
        status["database_recovered_to"], "",
        "database was found corrupt: {status}"
    );
    assert_eq!(status["daemon_starts"], 11);
    let rules: Vec<String> = status["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scope"].as_str().unwrap().to_owned())
        .collect();
    assert!(!acknowledged.is_empty());
    for name in &acknowledged {
        assert!(
            rules.contains(name),
            "acknowledged rule {name} lost after kill -9"
        );
    }
}
