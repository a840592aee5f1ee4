//! A private D-Bus daemon configured like the system bus (the distribution's stock
//! `system.conf` with its default-deny rules, our shipped policy file, our own socket), and a
//! test service exporting oneagentd's `io.oneagent.Agent1.Processes` on it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use oneagent_api::ProcessEntry;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

pub struct TestBus {
    child: Child,
    _dir: tempfile::TempDir,
    pub address: String,
}

impl TestBus {
    pub fn start() -> TestBus {
        let dir = tempfile::tempdir().unwrap();
        let policy_dir = dir.path().join("system.d");
        std::fs::create_dir(&policy_dir).unwrap();
        std::fs::copy(
            repo().join("systemd/io.oneagent.Agent1.conf"),
            policy_dir.join("io.oneagent.Agent1.conf"),
        )
        .unwrap();
        let socket = dir.path().join("system_bus_socket");
        let stock = std::fs::read_to_string("/usr/share/dbus-1/system.conf")
            .expect("stock /usr/share/dbus-1/system.conf (Debian package dbus)");
        let mut config = String::new();
        for line in stock.lines() {
            let t = line.trim();
            let dropped = t.starts_with("<user>")
                || t == "<fork/>"
                || t.starts_with("<pidfile>")
                || t == "<syslog/>"
                || t == "<standard_system_servicedirs/>"
                || t.starts_with("<servicehelper>")
                || t.starts_with("<includedir>")
                || t.starts_with("<include ");
            if t.starts_with("<listen>") {
                config.push_str(&format!(
                    "  <listen>unix:path={}</listen>\n",
                    socket.display()
                ));
            } else if t == "</busconfig>" {
                config.push_str(&format!(
                    "  <includedir>{}</includedir>\n</busconfig>\n",
                    policy_dir.display()
                ));
            } else if !dropped {
                config.push_str(line);
                config.push('\n');
            }
        }
        assert!(
            config.contains("<deny own=\"*\"/>"),
            "stock config lost its default deny"
        );
        let config_path = dir.path().join("system.conf");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config_path.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus) must be installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("unix:"), "dbus-daemon printed {line:?}");
        TestBus {
            child,
            _dir: dir,
            address: format!("unix:path={}", socket.display()),
        }
    }

    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .unwrap()
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// oneagentd's `Processes`, answered from a list the test changes, and how often it was called.
#[derive(Clone, Default)]
pub struct FakeAgent {
    pub processes: Arc<Mutex<Vec<ProcessEntry>>>,
    pub calls: Arc<Mutex<usize>>,
}

#[zbus::interface(name = "io.oneagent.Agent1")]
impl FakeAgent {
    async fn processes(&self) -> Vec<ProcessEntry> {
        *self.calls.lock().unwrap() += 1;
        self.processes.lock().unwrap().clone()
    }
}

impl FakeAgent {
    /// Serves this agent as `io.oneagent.Agent1` at `/io/oneagent/Agent1` on `bus` (object
    /// first, then the name, as the daemon does).
    pub async fn serve(&self, bus: &TestBus) -> zbus::Connection {
        zbus::connection::Builder::address(bus.address.as_str())
            .serve_at("/io/oneagent/Agent1", self.clone())
            .name("io.oneagent.Agent1")
            .build()
            .await
            .unwrap()
    }

    /// Serves this agent peer-to-peer on a Unix socket at `path`, as `oneagentd --peer-socket`
    /// does, until the task is aborted (which closes every connection).
    pub fn serve_peer(&self, path: &Path) -> tokio::task::JoinHandle<()> {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let agent = self.clone();
        tokio::spawn(async move {
            let mut conns = Vec::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let conn = zbus::connection::Builder::unix_stream(stream.into_std().unwrap())
                    .server(zbus::Guid::generate())
                    .p2p()
                    .serve_at("/io/oneagent/Agent1", agent.clone())
                    .build()
                    .await
                    .unwrap();
                conns.push(conn);
            }
        })
    }
}
