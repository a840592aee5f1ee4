//! `oneagentctl restart UNIT`: the daemon asks systemd's manager over D-Bus. systemd does not run
//! here, so a fake `org.freedesktop.systemd1.Manager` on the private bus answers with the same
//! method, signature and error names as the real one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.systemd1")]
enum SystemdError {
    #[zbus(error)]
    ZBus(zbus::Error),
    NoSuchUnit(String),
}

type Calls = Arc<Mutex<Vec<(String, String)>>>;

struct FakeManager {
    calls: Calls,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl FakeManager {
    fn restart_unit(
        &self,
        name: String,
        mode: String,
    ) -> Result<zbus::OwnedObjectPath, SystemdError> {
        if name != "payments.service" {
            return Err(SystemdError::NoSuchUnit(format!("Unit {name} not found.")));
        }
        let mut calls = self.calls.lock().unwrap();
        calls.push((name, mode));
        let path = format!("/org/freedesktop/systemd1/job/{}", calls.len() + 41);
        Ok(zbus::OwnedObjectPath::try_from(path).unwrap())
    }
}

/// Serves the fake manager until the returned sender is dropped.
fn fake_systemd(address: &str) -> (Calls, std::sync::mpsc::Sender<()>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let address = address.to_owned();
    let manager = FakeManager {
        calls: calls.clone(),
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let _conn = zbus::connection::Builder::address(address.as_str())
                .serve_at("/org/freedesktop/systemd1", manager)
                .name("org.freedesktop.systemd1")
                .build()
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            loop {
                if matches!(
                    stop_rx.try_recv(),
                    Err(std::sync::mpsc::TryRecvError::Disconnected)
                ) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (calls, stop_tx)
}

#[test]
fn restart_asks_systemd_and_reports_the_job() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let _daemon = DaemonSetup::new(&bus).start();
    let (calls, _stop) = fake_systemd(&bus.address);

    let out = bus.ctl(None, &["restart", "payments"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("/org/freedesktop/systemd1/job/42"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        calls.lock().unwrap().as_slice(),
        [("payments.service".to_owned(), "replace".to_owned())]
    );

    let out = bus.ctl(None, &["--json", "restart", "payments.service"]);
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["unit"], "payments.service");

    // An unknown unit is the user's mistake, named as such.
    let out = bus.ctl(None, &["restart", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no unit named nosuch.service"),
        "{}",
        stderr(&out)
    );

    // Unprivileged callers never reach systemd.
    let out = bus.ctl(Some(NOBODY), &["restart", "payments"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[test]
fn restart_without_systemd_says_so() {
    let bus = TestBus::start(Policy::Shipped);
    let _daemon = DaemonSetup::new(&bus).start();
    let out = bus.ctl(None, &["restart", "payments"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("systemd is not running"),
        "{}",
        stderr(&out)
    );
}
