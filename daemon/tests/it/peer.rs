//! `oneagentd --peer-socket` on a host without a system bus (Talos, Bottlerocket): the system bus
//! address points at nothing, and oneagentctl (ONEAGENT_PEER_SOCKET) and a peer-to-peer D-Bus
//! client (the node pod's detections publisher) reach the daemon on its socket; uid checks hold.
//! Without `--peer-socket` a missing bus is still fatal, and where the bus exists it is still used.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// oneagentctl as root (`uid = None`) or another uid, with `bus` and the peer socket.
fn ctl_peer(socket: &std::path::Path, bus: &str, uid: Option<u32>, args: &[&str]) -> Output {
    ctl_command(uid)
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .env("ONEAGENT_PEER_SOCKET", socket)
        .output()
        .unwrap()
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn without_a_system_bus_the_peer_socket_serves_ctl_and_the_detections_reader() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut setup = DaemonSetup::new(&bus);
    let no_bus = format!(
        "unix:path={}",
        bus.dir.path().join("no-such-system-bus").display()
    );
    let socket = bus.dir.path().join("pod-bus/agent.sock");
    setup.bus_address = Some(no_bus.clone());
    setup.peer_socket = Some(socket.clone());
    // A python process for the detections reader to find.
    let work = bus.dir.path().join("apps");
    std::fs::create_dir_all(&work).unwrap();
    let script = work.join("billing_worker.py");
    std::fs::write(&script, "import time\ntime.sleep(60)\n").unwrap();
    let python = Reaped(
        Command::new(real_python())
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let daemon = setup.start();

    // The test bus has no owner of our name: everything below went through the socket.
    let on_bus = bus.ctl(None, &["status"]);
    assert_eq!(on_bus.status.code(), Some(3), "{}", stderr(&on_bus));

    let out = ctl_peer(&socket, &no_bus, None, &["--json", "status"]);
    assert!(out.status.success(), "status: {}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state"], "running", "{status:#}");
    assert_eq!(status["pid"], daemon.child.id(), "{status:#}");

    // Read-only for everyone, changes for root only: the uid comes from the socket.
    let out = ctl_peer(&socket, &no_bus, Some(65534), &["status"]);
    assert!(
        out.status.success(),
        "unprivileged status: {}",
        stderr(&out)
    );
    let out = ctl_peer(&socket, &no_bus, Some(65534), &["log-level", "debug"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("uid 65534"), "{}", stderr(&out));
    let out = ctl_peer(&socket, &no_bus, None, &["log-level", "debug"]);
    assert!(out.status.success(), "root log-level: {}", stderr(&out));
    let out = ctl_peer(&socket, &no_bus, None, &["--json", "status"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["log_level"], "debug", "{status:#}");

    // The detections reader's path: a peer-to-peer D-Bus client calling Processes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pid = python.0.id();
    let t0 = Instant::now();
    let entry = loop {
        let processes = rt.block_on(async {
            let agent = oneagent_api::connect_peer(&socket).await.unwrap();
            agent.processes().await.unwrap()
        });
        if let Some(p) = processes.into_iter().find(|p| p.pid == pid) {
            break p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "pid {pid} never listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(entry.verdict.language, "python", "{entry:?}");

    // Many clients one after another: each connection is served and released.
    for _ in 0..100 {
        rt.block_on(async {
            let agent = oneagent_api::connect_peer(&socket).await.unwrap();
            agent.status().await.unwrap();
        });
    }
    let (exit, _) = daemon.stop();
    assert!(exit.success(), "{exit:?}");
    assert!(!socket.exists(), "the socket is removed at stop");
}

#[test]
fn without_a_peer_socket_a_missing_system_bus_is_still_fatal() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut setup = DaemonSetup::new(&bus);
    setup.bus_address = Some(format!(
        "unix:path={}",
        bus.dir.path().join("no-such-system-bus").display()
    ));
    let mut daemon = setup.spawn();
    let exit = wait_timeout(&mut daemon.child, Duration::from_secs(20));
    assert_eq!(exit.code(), Some(1), "{exit:?}");
    let text = daemon.stderr_text();
    assert!(text.contains("no-such-system-bus"), "{text}");
}

#[test]
fn with_a_system_bus_the_peer_socket_is_served_beside_it() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut setup = DaemonSetup::new(&bus);
    let socket = bus.dir.path().join("pod-bus/agent.sock");
    setup.peer_socket = Some(socket.clone());
    let daemon = setup.start();
    let status = bus.status();
    assert_eq!(status["pid"], daemon.child.id(), "{status:#}");
    let out = ctl_peer(&socket, &bus.address, None, &["--json", "status"]);
    assert!(out.status.success(), "status: {}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pid"], daemon.child.id(), "{status:#}");

    // A second daemon on the same socket is refused rather than stealing it.
    let dir2 = bus.dir.path().join("daemon2");
    let mut second = DaemonSetup::new(&bus);
    second.dir = dir2;
    second.bus_address = Some(format!(
        "unix:path={}",
        bus.dir.path().join("no-such-system-bus").display()
    ));
    second.peer_socket = Some(socket.clone());
    let mut d2 = second.spawn();
    let exit = wait_timeout(&mut d2.child, Duration::from_secs(20));
    assert_ne!(exit.code(), Some(0), "{exit:?}");
    assert!(
        d2.stderr_text().contains("another process serves it"),
        "second daemon"
    );
    // The first still answers there.
    let out = ctl_peer(&socket, &bus.address, None, &["status"]);
    assert!(out.status.success(), "status: {}", stderr(&out));
}
