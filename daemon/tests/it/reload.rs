//! A reload applies every key to the component that uses it, or says which it could not apply:
//! one test per key (or per group of keys one component takes together). Each checks the reply,
//! `status` (the settings each component runs with) and the component's behaviour itself.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::otlp_receiver::Receiver;
use crate::support::*;

struct Fixture<'a> {
    bus: &'a TestBus,
    setup: DaemonSetup<'a>,
    root: PathBuf,
    /// The `[logs]`, `[exporter]`, `[metrics]` and `[kubernetes]` sections, rewritten by tests.
    sections: HashMap<&'static str, String>,
}

impl<'a> Fixture<'a> {
    fn new(bus: &'a TestBus, receiver: &Receiver) -> Fixture<'a> {
        let setup = DaemonSetup::new(bus);
        std::fs::create_dir_all(&setup.dir).unwrap();
        let root = bus.dir.path().join("srv");
        std::fs::create_dir_all(root.join("app/logs")).unwrap();
        let mut sections = HashMap::new();
        sections.insert(
            "exporter",
            format!(
                "otlp_endpoint = \"{}\"\ncompression = \"gzip\"\n",
                receiver.endpoint()
            ),
        );
        sections.insert(
            "logs",
            format!(
                "roots = [\"{}\"]\nstart_at = \"beginning\"\n",
                root.display()
            ),
        );
        sections.insert("metrics", "listen = \"127.0.0.1:0\"\n".to_owned());
        sections.insert("kubernetes", String::new());
        let f = Fixture {
            bus,
            setup,
            root,
            sections,
        };
        f.write();
        f
    }

    fn set(&mut self, section: &'static str, text: String) {
        self.sections.insert(section, text);
        self.write();
    }

    fn write(&self) {
        // The preload file the support code would name, so that it does not change.
        let mut text = format!(
            "[injection]\nenabled = false\npreload_file = \"{}\"\n",
            self.setup.dir.join("ld.so.preload").display()
        );
        for name in ["exporter", "logs", "metrics", "kubernetes"] {
            text.push_str(&format!("[{name}]\n{}", self.sections[name]));
        }
        std::fs::write(self.setup.config_path(), text).unwrap();
    }

    /// `oneagentctl --json reload`, parsed.
    fn reload(&self) -> serde_json::Value {
        let out = self.bus.ctl(None, &["--json", "reload"]);
        assert!(out.status.success(), "reload failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The value `status` shows for `key` as its component runs with it.
    fn effective(&self, key: &str) -> String {
        let status = self.bus.status();
        status["effective"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("{key} not in {status}"))["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn append(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn wait_for_body(receiver: &Receiver, body: &str) {
    let t0 = Instant::now();
    while !receiver.bodies().iter().any(|b| b == body) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{body:?} never arrived; got {:?}",
            receiver.bodies()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(receiver: &Receiver, body: &str) -> usize {
    receiver.bodies().iter().filter(|b| *b == body).count()
}

/// `[exporter] otlp_endpoint` and `compression`: the log pipeline sends to the new collector,
/// uncompressed, and nothing read before the reload is lost or sent twice.
#[test]
fn exporter_endpoint_and_compression() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &a);
    let file = f.root.join("app/logs/api.log");
    append(&file, "before\n");
    let _daemon = f.setup.start();
    wait_for_body(&a, "before");
    assert!(*a.gzip_requests.lock().unwrap() >= 1);

    f.set(
        "exporter",
        format!(
            "otlp_endpoint = \"{}\"\ncompression = \"none\"\n",
            b.endpoint()
        ),
    );
    let reply = f.reload();
    let applied = names(&reply["applied"]);
    assert!(
        applied.contains(&"exporter.otlp_endpoint".to_owned())
            && applied.contains(&"exporter.compression".to_owned()),
        "{reply}"
    );
    assert!(names(&reply["not_applied"]).is_empty(), "{reply}");
    assert_eq!(f.effective("exporter.otlp_endpoint"), b.endpoint());
    assert_eq!(f.effective("exporter.compression"), "none");

    append(&file, "after\n");
    wait_for_body(&b, "after");
    assert_eq!(*b.gzip_requests.lock().unwrap(), 0, "compression stayed on");
    assert_eq!(count(&a, "after"), 0);
    assert_eq!(count(&b, "before"), 0, "the file was read again");
    assert_eq!(count(&a, "before"), 1);
}

/// `[logs] roots`: a new root's files are tailed, a removed root's are not, and a root that
/// comes back resumes at its checkpoint (nothing sent twice).
#[test]
fn logs_roots() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let other = bus.dir.path().join("data");
    let old_file = f.root.join("app/logs/old.log");
    let new_file = other.join("new.log");
    append(&old_file, "old 1\n");
    append(&new_file, "new 1\n");
    let _daemon = f.setup.start();
    wait_for_body(&receiver, "old 1");
    assert_eq!(count(&receiver, "new 1"), 0);

    f.set(
        "logs",
        format!(
            "roots = [\"{}\"]\nstart_at = \"beginning\"\n",
            other.display()
        ),
    );
    let reply = f.reload();
    assert_eq!(names(&reply["applied"]), ["logs.roots"], "{reply}");
    assert_eq!(f.effective("logs.roots"), other.display().to_string());
    // A root added by a reload is history: with start_at = "beginning" it is read from the start.
    wait_for_body(&receiver, "new 1");
    append(&old_file, "old 2\n");
    append(&new_file, "new 2\n");
    wait_for_body(&receiver, "new 2");
    assert_eq!(
        count(&receiver, "old 2"),
        0,
        "a removed root is still tailed"
    );

    // Back to the first root: old.log resumes at its checkpoint.
    f.set(
        "logs",
        format!(
            "roots = [\"{}\"]\nstart_at = \"beginning\"\n",
            f.root.display()
        ),
    );
    f.reload();
    wait_for_body(&receiver, "old 2");
    assert_eq!(count(&receiver, "old 1"), 1, "old.log was read again");
}

/// `[logs] include`, `exclude` and `max_depth`: discovery follows them.
#[test]
fn logs_include_exclude_and_max_depth() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let txt = f.root.join("app/logs/app.txt");
    let noisy = f.root.join("app/logs/noisy.log");
    let deep = f.root.join("a/b/c/d/e/f/deep.log");
    append(&txt, "txt 1\n");
    append(&noisy, "noisy 1\n");
    append(&deep, "deep 1\n");
    let _daemon = f.setup.start();
    wait_for_body(&receiver, "noisy 1");

    f.set(
        "logs",
        format!(
            "roots = [\"{}\"]\nstart_at = \"beginning\"\ninclude = [\"*.log\", \"*.txt\"]\n\
             exclude = [\"noisy*\"]\nmax_depth = 8\n",
            f.root.display()
        ),
    );
    let reply = f.reload();
    let mut applied = names(&reply["applied"]);
    applied.sort();
    assert_eq!(
        applied,
        ["logs.exclude", "logs.include", "logs.max_depth"],
        "{reply}"
    );
    assert_eq!(f.effective("logs.include"), "*.log, *.txt");
    assert_eq!(f.effective("logs.exclude"), "noisy*");
    assert_eq!(f.effective("logs.max_depth"), "8");
    wait_for_body(&receiver, "txt 1");
    wait_for_body(&receiver, "deep 1");
    append(&noisy, "noisy 2\n");
    append(&txt, "txt 2\n");
    wait_for_body(&receiver, "txt 2");
    assert_eq!(
        count(&receiver, "noisy 2"),
        0,
        "an excluded file is still tailed"
    );
    assert_eq!(count(&receiver, "noisy 1"), 1);
}

/// `[logs] multiline`: turned off by a reload, a traceback's lines arrive one by one.
#[test]
fn logs_multiline() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let file = f.root.join("app/logs/worker.log");
    let trace = "ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n";
    append(&file, trace);
    append(&file, "marker 1\n");
    let _daemon = f.setup.start();
    wait_for_body(&receiver, "marker 1");
    assert_eq!(
        count(
            &receiver,
            "ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)"
        ),
        1,
        "{:?}",
        receiver.bodies()
    );

    f.set(
        "logs",
        format!(
            "roots = [\"{}\"]\nstart_at = \"beginning\"\nmultiline = false\n",
            f.root.display()
        ),
    );
    let reply = f.reload();
    assert_eq!(names(&reply["applied"]), ["logs.multiline"], "{reply}");
    assert_eq!(f.effective("logs.multiline"), "false");
    append(&file, trace);
    append(&file, "marker 2\n");
    wait_for_body(&receiver, "marker 2");
    assert_eq!(count(&receiver, "\tat a.B.c(B.java:1)"), 1);
    assert_eq!(count(&receiver, "ERROR boom"), 1);
}

/// `[logs] rate_limit_per_service`: sampling starts at the reload (warnings are always kept).
#[test]
fn logs_sampling() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let file = f.root.join("app/logs/chatty.log");
    let burst = |tag: &str| {
        let text: String = (0..300).map(|i| format!("INFO {tag} {i}\n")).collect();
        append(&file, &text);
        append(&file, &format!("WARN {tag} end\n"));
    };
    let _daemon = f.setup.start();
    append(&file, "");
    burst("a");
    wait_for_body(&receiver, "WARN a end");
    let kept = |tag: &str| {
        receiver
            .bodies()
            .iter()
            .filter(|b| b.starts_with(&format!("INFO {tag} ")))
            .count()
    };
    assert_eq!(kept("a"), 300);

    f.set(
        "logs",
        format!(
            "roots = [\"{}\"]\nstart_at = \"beginning\"\nrate_limit_per_service = 10\n",
            f.root.display()
        ),
    );
    let reply = f.reload();
    assert_eq!(
        names(&reply["applied"]),
        ["logs.rate_limit_per_service"],
        "{reply}"
    );
    assert_eq!(f.effective("logs.rate_limit_per_service"), "10");
    burst("b");
    wait_for_body(&receiver, "WARN b end");
    assert!(
        kept("b") < 300,
        "sampling did not start: {} kept",
        kept("b")
    );
}

/// `[logs] enabled`: off stops the pipeline, on starts it again where it stopped.
#[test]
fn logs_enabled() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let file = f.root.join("app/logs/api.log");
    append(&file, "one\n");
    let _daemon = f.setup.start();
    wait_for_body(&receiver, "one");
    let on = f.sections["logs"].clone();
    f.set("logs", format!("{on}enabled = false\n"));
    let reply = f.reload();
    assert_eq!(names(&reply["applied"]), ["logs.enabled"], "{reply}");
    assert_eq!(f.effective("logs.enabled"), "false");
    assert_eq!(bus.status()["log_files"], 0);
    append(&file, "two\n");
    f.set("logs", on);
    f.reload();
    assert_eq!(f.effective("logs.enabled"), "true");
    wait_for_body(&receiver, "two");
    assert_eq!(count(&receiver, "one"), 1, "the file was read again");
}

/// `[logs] start_at`, `attribution_rearm_secs` and `max_open_files` are taken by the pipeline.
#[test]
fn logs_start_rearm_and_fd_cap() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let _daemon = f.setup.start();
    assert_eq!(f.effective("logs.start_at"), "beginning");
    f.set(
        "logs",
        format!(
            "roots = [\"{}\"]\nstart_at = \"end\"\nattribution_rearm_secs = 7\nmax_open_files = 64\n",
            f.root.display()
        ),
    );
    let reply = f.reload();
    let mut applied = names(&reply["applied"]);
    applied.sort();
    assert_eq!(
        applied,
        [
            "logs.attribution_rearm_secs",
            "logs.max_open_files",
            "logs.start_at"
        ],
        "{reply}"
    );
    assert_eq!(f.effective("logs.start_at"), "end");
    assert_eq!(f.effective("logs.attribution_rearm_secs"), "7");
    assert_eq!(f.effective("logs.max_open_files"), "64");
    // start_at = "end" now applies to files a reload brings in: history is not sent.
    let other = bus.dir.path().join("more");
    append(&other.join("history.log"), "history\n");
    f.set(
        "logs",
        format!(
            "roots = [\"{}\", \"{}\"]\nstart_at = \"end\"\n",
            f.root.display(),
            other.display()
        ),
    );
    f.reload();
    append(&other.join("history.log"), "fresh\n");
    wait_for_body(&receiver, "fresh");
    assert_eq!(count(&receiver, "history"), 0);
}

/// A port nobody listens on (the kernel's choice, released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `[metrics] listen`: /metrics moves to the new address; an address that cannot be bound
/// keeps the old listener and is named in the reply and in `status`.
#[test]
fn metrics_listen() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let _daemon = f.setup.start();
    let old = bus.status()["metrics_listen"].as_str().unwrap().to_owned();
    let port = free_port();
    f.set("metrics", format!("listen = \"127.0.0.1:{port}\"\n"));
    let reply = f.reload();
    assert_eq!(names(&reply["applied"]), ["metrics.listen"], "{reply}");
    let new = format!("127.0.0.1:{port}");
    assert_eq!(bus.status()["metrics_listen"], new.as_str());
    assert_eq!(f.effective("metrics.listen"), new);
    let text = http_get_within(&new, "/metrics", Duration::from_secs(10));
    assert!(text.contains("oneagent_build_info"), "{text}");
    assert!(
        std::net::TcpStream::connect(&old).is_err(),
        "the old address still listens"
    );

    // A taken address: the reply and status say so, and the endpoint stays where it was.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    f.set("metrics", format!("listen = \"{taken_addr}\"\n"));
    let reply = f.reload();
    let problems = names(&reply["problems"]);
    assert!(
        problems.len() == 1 && problems[0].starts_with("metrics.listen: "),
        "{reply}"
    );
    assert!(names(&reply["applied"]).is_empty(), "{reply}");
    let status = bus.status();
    assert_eq!(status["metrics_listen"], new.as_str());
    assert!(
        names(&status["reload_pending"])
            .iter()
            .any(|p| p.starts_with("metrics.listen: ")),
        "{status}"
    );
    let text = http_get_within(&new, "/metrics", Duration::from_secs(10));
    assert!(text.contains("oneagent_build_info"), "{text}");
}

/// `[kubernetes] node_agent_dir`: the containers' snapshot and report socket move to the new
/// directory, and the old socket is gone.
#[test]
fn kubernetes_node_agent_dir() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let mut f = Fixture::new(&bus, &receiver);
    let (a, b) = (bus.dir.path().join("node-a"), bus.dir.path().join("node-b"));
    f.set(
        "kubernetes",
        format!("node_agent_dir = \"{}\"\n", a.display()),
    );
    let _daemon = f.setup.start();
    assert!(a.join("preload.sock").exists());
    assert_eq!(
        f.effective("kubernetes.node_agent_dir"),
        a.display().to_string()
    );

    f.set(
        "kubernetes",
        format!("node_agent_dir = \"{}\"\n", b.display()),
    );
    let reply = f.reload();
    assert_eq!(
        names(&reply["applied"]),
        ["kubernetes.node_agent_dir"],
        "{reply}"
    );
    assert_eq!(
        f.effective("kubernetes.node_agent_dir"),
        b.display().to_string()
    );
    assert!(b.join("preload.snapshot").is_file());
    use std::os::unix::fs::FileTypeExt;
    let sock = std::fs::metadata(b.join("preload.sock")).unwrap();
    assert!(sock.file_type().is_socket());
    assert!(!a.join("preload.sock").exists(), "the old socket is left");
}

/// A key a reload cannot apply (`[injection] library`: only `preload install` edits the preload
/// file) is named in the reply, in `status`, in the STATUS= line and in the log.
#[test]
fn a_key_that_is_not_applied_live_is_named() {
    let receiver = Receiver::start();
    let bus = TestBus::start(Policy::Shipped);
    let f = Fixture::new(&bus, &receiver);
    let mut daemon = f.setup.start();
    let text = std::fs::read_to_string(f.setup.config_path()).unwrap();
    std::fs::write(
        f.setup.config_path(),
        text.replace(
            "[injection]\n",
            "[injection]\nlibrary = \"/opt/other/liboneagent_preload.so\"\n",
        ),
    )
    .unwrap();
    daemon.notes.clear();
    let reply = f.reload();
    let not_applied = names(&reply["not_applied"]);
    assert!(
        not_applied.len() == 1 && not_applied[0].starts_with("injection.library: "),
        "{reply}"
    );
    assert!(names(&reply["applied"]).is_empty(), "{reply}");
    let status = bus.status();
    assert!(
        names(&status["reload_pending"])
            .iter()
            .any(|p| p.starts_with("injection.library: ")),
        "{status}"
    );
    let table = stdout(&bus.ctl(None, &["status"]));
    assert!(table.contains("injection.library"), "{table}");
    daemon.wait_for("READY=1", Duration::from_secs(5));
    assert!(
        daemon
            .notes
            .iter()
            .any(|n| n.contains("STATUS=") && n.contains("not in effect: injection.library")),
        "{:?}",
        daemon.notes
    );
    let log = daemon.stderr_text();
    assert!(
        log.lines()
            .any(|l| l.contains("not in effect") && l.contains("injection.library")),
        "{log}"
    );
}
