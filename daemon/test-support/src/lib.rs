//! Fixtures shared by oneagent's integration tests (the daemon's `it` suite and oneagent-k8s's
//! tests): a private dbus-daemon configured like the system bus, oneagentd under test with its
//! own directories and notify socket, and oneagentctl as root or as another uid.
//!
//! A fixture that cannot set up its real component panics with what is missing: that is the
//! test's failure report, hence the lints allowed here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// A binary of the workspace, next to the running test (Cargo puts tests in `<profile>/deps`
/// and binaries in `<profile>`).
fn workspace_bin(name: &str) -> &'static str {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from <target>/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --workspace --bins` before these tests",
        bin.display()
    );
    String::leak(bin.display().to_string())
}

/// oneagentd, the `oneagent` crate's binary (Cargo builds it before that crate's tests, which
/// check that this is the path Cargo names to them as `CARGO_BIN_EXE_oneagentd`).
pub static DAEMON: LazyLock<&'static str> = LazyLock::new(|| workspace_bin("oneagentd"));
/// oneagentctl, the `oneagent-cli` crate's binary, built next to oneagentd
/// (`cargo build --workspace --bins`, which `scripts/test` runs before the tests).
pub static CTL: LazyLock<&'static str> = LazyLock::new(|| workspace_bin("oneagentctl"));
pub const NOBODY: u32 = 65534;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches to an unprivileged uid and needs root (CI runs as root)"
    );
}

/// A world-traversable temporary directory (so that uid 65534 can reach the bus socket).
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Which policy the private bus loads next to the stock rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `systemd/io.oneagent.Agent1.conf`, as shipped.
    Shipped,
    /// Everyone may call everything: proves the daemon's own uid check.
    Permissive,
    /// None of ours: the bus refuses our name until the test installs the policy.
    Missing,
}

/// A private dbus-daemon configured like the system bus.
#[derive(Debug)]
pub struct TestBus {
    child: Child,
    pub dir: tempfile::TempDir,
    pub address: String,
}

impl TestBus {
    pub fn start(policy: Policy) -> TestBus {
        let dir = tempdir();
        let policy_dir = dir.path().join("system.d");
        std::fs::create_dir(&policy_dir).unwrap();
        let shipped = repo().join("systemd/io.oneagent.Agent1.conf");
        match policy {
            Policy::Shipped => {
                std::fs::copy(&shipped, policy_dir.join("io.oneagent.Agent1.conf")).unwrap();
            }
            Policy::Permissive => {
                let text = std::fs::read_to_string(&shipped).unwrap();
                let open = text.replace(
                    "<policy context=\"default\">",
                    "<policy context=\"default\">\n    <allow send_destination=\"io.oneagent.Agent1\"/>",
                );
                assert_ne!(open, text, "policy file has no default context");
                std::fs::write(policy_dir.join("io.oneagent.Agent1.conf"), open).unwrap();
            }
            Policy::Missing => {}
        }
        // Lets root own systemd's name, as systemd's own policy file does, for the fake manager.
        std::fs::write(
            policy_dir.join("fake-systemd1.conf"),
            "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\n \
             <policy user=\"root\">\n  <allow own=\"org.freedesktop.systemd1\"/>\n  \
             <allow send_destination=\"org.freedesktop.systemd1\"/>\n </policy>\n</busconfig>\n",
        )
        .unwrap();
        let socket = dir.path().join("system_bus_socket");
        let config = derive_bus_config(&socket, &policy_dir);
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
            dir,
            address: format!("unix:path={}", socket.display()),
        }
    }

    /// Installs the shipped policy file into the bus's policy directory (by rename, as the
    /// Kubernetes node's init container does).
    pub fn install_policy(&self) {
        let dir = self.dir.path().join("system.d");
        let tmp = dir.join(".io.oneagent.Agent1.conf.tmp");
        std::fs::copy(repo().join("systemd/io.oneagent.Agent1.conf"), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("io.oneagent.Agent1.conf")).unwrap();
    }

    /// Runs oneagentctl as root (`uid = None`) or as another uid, on this bus.
    pub fn ctl(&self, uid: Option<u32>, args: &[&str]) -> Output {
        ctl_command(uid)
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .output()
            .unwrap()
    }

    /// A client connection to this bus.
    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .unwrap()
    }

    /// oneagentctl --json status, parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.ctl(None, &["--json", "status"]);
        assert!(out.status.success(), "status failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// oneagentctl as root (`uid = None`) or as another uid (through setpriv).
pub fn ctl_command(uid: Option<u32>) -> Command {
    match uid {
        None => Command::new(*CTL),
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                *CTL,
            ]);
            c
        }
    }
}

/// The distribution's stock system bus configuration, with our socket, no fork, no user switch,
/// no activation, and only our policy directory included.
fn derive_bus_config(socket: &Path, policy_dir: &Path) -> String {
    let stock = std::fs::read_to_string("/usr/share/dbus-1/system.conf")
        .expect("stock /usr/share/dbus-1/system.conf (Debian package dbus)");
    let mut out = String::new();
    for line in stock.lines() {
        let t = line.trim();
        let drop_line = t.starts_with("<user>")
            || t == "<fork/>"
            || t.starts_with("<pidfile>")
            || t == "<syslog/>"
            || t == "<standard_system_servicedirs/>"
            || t.starts_with("<servicehelper>")
            || t.starts_with("<includedir>")
            || t.starts_with("<include ");
        if t.starts_with("<listen>") {
            out.push_str(&format!(
                "  <listen>unix:path={}</listen>\n",
                socket.display()
            ));
        } else if t == "</busconfig>" {
            out.push_str(&format!(
                "  <includedir>{}</includedir>\n</busconfig>\n",
                policy_dir.display()
            ));
        } else if !drop_line {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(
        out.contains("<deny own=\"*\"/>"),
        "stock config lost its default deny"
    );
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running oneagentd with its own config, state and runtime directories.
#[derive(Debug)]
pub struct Daemon {
    pub child: Child,
    pub notify: UnixDatagram,
    pub notes: Vec<String>,
}

/// How to start oneagentd under test.
#[derive(Debug)]
pub struct DaemonSetup<'a> {
    pub bus: &'a TestBus,
    pub dir: PathBuf,
    pub watchdog_usec: Option<u64>,
    /// Start the daemon under this descriptor limit (soft, hard), through prlimit(1).
    pub nofile: Option<(u64, u64)>,
    /// `--peer-socket`.
    pub peer_socket: Option<PathBuf>,
    /// The system bus address given to the daemon instead of the test bus's.
    pub bus_address: Option<String>,
}

impl<'a> DaemonSetup<'a> {
    pub fn new(bus: &'a TestBus) -> Self {
        DaemonSetup {
            bus,
            dir: bus.dir.path().join("daemon"),
            watchdog_usec: None,
            nofile: None,
            peer_socket: None,
            bus_address: None,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("oneagent.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Starts the daemon and waits for READY=1.
    pub fn start(&self) -> Daemon {
        let mut d = self.spawn();
        d.wait_for("READY=1", Duration::from_secs(10));
        d
    }

    /// Starts the daemon without waiting.
    pub fn spawn(&self) -> Daemon {
        std::fs::create_dir_all(&self.dir).unwrap();
        self.keep_preload_file_private();
        let notify_path = self.dir.join(format!("notify-{}", rand_suffix()));
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut cmd = match self.nofile {
            None => Command::new(*DAEMON),
            Some((soft, hard)) => {
                // prlimit execs the daemon: same pid.
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={soft}:{hard}"))
                    .arg("--")
                    .arg(*DAEMON);
                c
            }
        };
        cmd.arg("--config")
            .arg(self.config_path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--runtime-dir")
            .arg(self.dir.join("run"))
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                self.bus_address.as_deref().unwrap_or(&self.bus.address),
            )
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(usec) = self.watchdog_usec {
            cmd.env("WATCHDOG_USEC", usec.to_string());
        }
        if let Some(socket) = &self.peer_socket {
            cmd.arg("--peer-socket").arg(socket);
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            notify,
            notes: Vec::new(),
        }
    }
}

impl DaemonSetup<'_> {
    /// Tests must never touch the machine's /etc/ld.so.preload: unless the test's configuration
    /// names its own `preload_file`, point it into the test directory.
    fn keep_preload_file_private(&self) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let line = format!(
            "preload_file = \"{}\"",
            self.dir.join("ld.so.preload").display()
        );
        let new = if text.contains("preload_file") {
            text
        } else if text.lines().any(|l| l.trim() == "[injection]") {
            text.replacen("[injection]", &format!("[injection]\n{line}"), 1)
        } else {
            format!("{text}\n[injection]\n{line}\n")
        };
        // Nor read the machine's /var/log: log tests configure their own roots.
        let new = if new.lines().any(|l| l.trim() == "[logs]") {
            new
        } else {
            format!("{new}\n[logs]\nenabled = false\n")
        };
        std::fs::write(&path, new).unwrap();
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Daemon {
    /// Reads notify datagrams until one contains `needle` (a whole line), or panics after `limit`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = msg.lines().any(|l| l == needle);
                self.notes.push(msg);
                if found {
                    return Instant::now();
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "oneagentd exited with {status} before {needle:?}; notes {:?}; stderr:\n{err}",
                    self.notes
                );
            }
        }
        panic!(
            "no {needle:?} within {limit:?}; notes so far: {:?}",
            self.notes
        );
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), sig).unwrap();
    }

    /// SIGTERM and wait; returns the exit status and how long the exit took.
    pub fn stop(mut self) -> (std::process::ExitStatus, Duration) {
        let t0 = Instant::now();
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = wait_timeout(&mut self.child, Duration::from_secs(10));
        (status, t0.elapsed())
    }

    /// Whether the daemon process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr_text(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The real python3 interpreter (not a version manager's shell shim), so that the process under
/// test is python from its first exec.
pub fn real_python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 must be installed");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!path.is_empty(), "python3 did not say where it is");
    std::fs::canonicalize(&path)
        .map(|p| p.display().to_string())
        .unwrap_or(path)
}

/// GET `path` from `addr` with a deadline; the response text.
pub fn http_get_within(addr: &str, path: &str, limit: Duration) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
