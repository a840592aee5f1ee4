//! On a Kubernetes node (`[kubernetes] node_agent_dir`), the daemon writes a second snapshot for
//! containers, with the paths they see under `/var/oneagent`, and receives their reports through
//! the node agent directory. The real preload library is then run in a private mount namespace
//! where that directory is bound read-only on `/var/oneagent`, as the device plugin mounts it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oneagent_preload_core::Language;
use oneagent_preload_core::snapshot;

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

/// A node agent directory laid out like the DaemonSet installs it: the library, `agents/python`.
fn node_agent_dir(setup: &DaemonSetup) -> PathBuf {
    let node = setup.dir.join("node-agents");
    let site = node.join("agents/python/opentelemetry/instrumentation/auto_instrumentation");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("sitecustomize.py"), "").unwrap();
    std::fs::copy(library(), node.join("liboneagent_preload.so")).unwrap();
    node
}

fn write_config(setup: &DaemonSetup, node: &Path, endpoint: &str) {
    std::fs::write(
        setup.config_path(),
        format!(
            "[injection]\nenabled = false\npreload_file = \"{file}\"\n\
             [agents]\npython = \"{node}/agents/python\"\n\
             [kubernetes]\nnode_agent_dir = \"{node}\"\notlp_endpoint = \"{endpoint}\"\n",
            file = setup.dir.join("ld.so.preload").display(),
            node = node.display(),
        ),
    )
    .unwrap();
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
fn the_container_snapshot_follows_the_configuration() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let node = node_agent_dir(&setup);
    write_config(&setup, &node, "http://10.0.0.1:4318");
    let _daemon = setup.start();

    let path = node.join("preload.snapshot");
    let first = std::fs::read(&path).unwrap();
    let view = snapshot::decode(&first).unwrap();
    assert_eq!(
        view.python_dir,
        b"/var/oneagent/agents/python",
        "{:?}",
        String::from_utf8_lossy(view.python_dir)
    );
    assert!(view.agents.contains(Language::Python));
    // The other agents are not installed in this node directory.
    assert!(!view.agents.contains(Language::Java));
    assert_eq!(view.report_socket, b"/var/oneagent/preload.sock");
    assert_eq!(view.otlp_endpoint, b"http://10.0.0.1:4318");
    // Our agents in a container's environment are recognised by their container paths.
    assert!(view.own_agent_marker.starts_with(b"/var/oneagent/"));
    // The host's snapshot keeps the host's paths.
    let host = std::fs::read(setup.state_dir().join("preload.snapshot")).unwrap();
    let host = snapshot::decode(&host).unwrap();
    assert_eq!(
        host.python_dir,
        node.join("agents/python").as_os_str().as_encoded_bytes()
    );

    // A rule and a configuration change rewrite it, like the host's snapshot.
    assert!(bus.ctl(None, &["disable", "payments"]).status.success());
    let second = std::fs::read(&path).unwrap();
    assert!(
        snapshot::decode(&second)
            .unwrap()
            .disabled_services
            .iter()
            .any(|s| s == b"payments")
    );
    write_config(&setup, &node, "http://10.0.0.2:4318");
    let out = bus.ctl(None, &["reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let third = std::fs::read(&path).unwrap();
    assert_eq!(
        snapshot::decode(&third).unwrap().otlp_endpoint,
        b"http://10.0.0.2:4318"
    );
}

/// The python in a private mount namespace where `node` is bound read-only on /var/oneagent
/// (over a private tmpfs on /var, so the machine's /var is never written), with the library and
/// the snapshot named by their in-container paths, as the webhook sets them.
fn python_in_pod_layout(node: &Path, script: &Path) -> std::process::Child {
    in_pod_layout(
        node,
        &format!("exec {} {}", real_python(), script.display()),
    )
}

/// The python of an image: a copy at `/var/app/python3` inside the pod layout, a path that
/// exists only in that mount namespace (as an image's interpreter is only in its container).
fn image_python_in_pod_layout(node: &Path, script: &Path) -> std::process::Child {
    in_pod_layout(
        node,
        &format!(
            "mkdir /var/app; cp {} /var/app/python3; exec /var/app/python3 {}",
            real_python(),
            script.display()
        ),
    )
}

/// Runs `command` (sh) in the pod layout described at [`python_in_pod_layout`].
fn in_pod_layout(node: &Path, command: &str) -> std::process::Child {
    let shell = format!(
        "set -e; mount -t tmpfs tmpfs /var; mkdir /var/oneagent; \
         mount --bind {node} /var/oneagent; mount -o remount,bind,ro /var/oneagent; \
         {command}",
        node = node.display(),
    );
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &shell])
        .env("LD_PRELOAD", "/var/oneagent/liboneagent_preload.so")
        .env(
            "ONEAGENT_PRELOAD_SNAPSHOT",
            "/var/oneagent/preload.snapshot",
        )
        .env_remove("PYTHONPATH")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) must be installed")
}

/// Runs `test` with a node daemon whose node agent directory is `node` and injection on by the
/// global rule.
fn with_node_daemon(test: impl FnOnce(&TestBus, &DaemonSetup, &Path)) {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let node = node_agent_dir(&setup);
    write_config(&setup, &node, "http://10.0.0.1:4318");
    let _daemon = setup.start();
    assert!(bus.ctl(None, &["enable", "--global"]).status.success());
    test(&bus, &setup, &node);
}

/// A script that prints `PYTHONPATH` and `OTEL_EXPORTER_OTLP_ENDPOINT`, then lives 1.5 s.
fn env_printer(setup: &DaemonSetup) -> PathBuf {
    let script = setup.dir.join("checkout_api.py");
    std::fs::write(
        &script,
        "import os, sys, time\n\
         print(os.environ.get('PYTHONPATH', ''))\n\
         print(os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT', ''))\n\
         sys.stdout.flush()\n\
         time.sleep(1.5)\n",
    )
    .unwrap();
    script
}

/// The `ps` entry of `pid` once its preload report arrived (within 5 s).
fn reported_entry(bus: &TestBus, pid: u32) -> Option<serde_json::Value> {
    let mut found = None;
    wait_for(Duration::from_secs(5), || {
        let out = bus.ctl(None, &["--json", "ps", "--all"]);
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        found = list
            .into_iter()
            .find(|p| p["pid"] == pid && p["preload_outcome"] != "");
        found.is_some()
    });
    found
}

#[test]
fn a_python_process_in_the_pod_layout_gets_the_in_container_agent() {
    require_root();
    with_node_daemon(a_python_process_in_the_pod_layout_gets_the_in_container_agent_with);
}

fn a_python_process_in_the_pod_layout_gets_the_in_container_agent_with(
    bus: &TestBus,
    setup: &DaemonSetup,
    node: &Path,
) {
    assert!(
        node.join("preload.sock").exists(),
        "no container report socket"
    );

    let script = env_printer(setup);
    let child = python_in_pod_layout(node, &script);
    let pid = child.id();
    // The report travels through the read-only mount to the daemon's socket.
    let reported = reported_entry(bus, pid).is_some_and(|p| p["preload_outcome"] == "injected");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let pythonpath = lines.next().unwrap_or_default();
    assert!(
        pythonpath
            .split(':')
            .any(|p| p.starts_with("/var/oneagent/agents/python")),
        "PYTHONPATH = {pythonpath:?}"
    );
    assert!(
        !pythonpath.contains(&node.display().to_string()),
        "a host path leaked into the container: {pythonpath:?}"
    );
    assert_eq!(lines.next(), Some("http://10.0.0.1:4318"));
    assert!(
        reported,
        "no `injected` report from pid {pid} through /var/oneagent/preload.sock"
    );
}

fn skip_list(snapshot_file: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(snapshot_file).unwrap();
    snapshot::decode(&bytes)
        .unwrap()
        .skip_executables
        .iter()
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn the_crash_breaker_blocks_a_containers_executable_in_the_containers_snapshot() {
    require_root();
    with_node_daemon(
        the_crash_breaker_blocks_a_containers_executable_in_the_containers_snapshot_with,
    );
}

fn the_crash_breaker_blocks_a_containers_executable_in_the_containers_snapshot_with(
    bus: &TestBus,
    setup: &DaemonSetup,
    node: &Path,
) {
    // Three injected runs of the image's python that fail within 2 s trip the breaker for
    // /var/app/python3, the path inside the container (the report names it).
    let crasher = setup.dir.join("crashy.py");
    std::fs::write(&crasher, "import time, sys\ntime.sleep(0.3)\nsys.exit(1)\n").unwrap();
    for run in 0..3 {
        let out = image_python_in_pod_layout(node, &crasher)
            .wait_with_output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    let blocked = || {
        bus.status()["blocked"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        wait_for(Duration::from_secs(5), || blocked().iter().any(
            |b| b["exe"] == "/var/app/python3" && b["scope"] == "containers"
        )),
        "breaker did not trip for the container's executable: {:#}",
        bus.status()
    );
    assert_eq!(blocked().len(), 1, "{:?}", blocked());
    let table = stdout(&bus.ctl(None, &["status"]));
    assert!(
        table.contains("/var/app/python3 (in containers)"),
        "{table}"
    );
    // Into the containers' snapshot, by that path; not into the host's.
    assert_eq!(
        skip_list(&node.join("preload.snapshot")),
        [b"/var/app/python3".to_vec()]
    );
    assert!(
        skip_list(&setup.state_dir().join("preload.snapshot")).is_empty(),
        "a container's block leaked into the host's snapshot"
    );

    // The next start of that image's python is not injected, by the snapshot the library reads
    // in the container.
    let script = env_printer(setup);
    let child = image_python_in_pod_layout(node, &script);
    // The shell execs the python: same pid.
    let reported = reported_entry(bus, child.id()).unwrap_or_default();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pythonpath = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !pythonpath.contains("/var/oneagent"),
        "a blocked executable got the agent: PYTHONPATH = {pythonpath:?}"
    );
    assert_eq!(reported["preload_outcome"], "skipped", "{reported:#}");

    // The host's python is not blocked: a host process of the same interpreter still is.
    let out = bus.ctl(None, &["preload", "unblock", "/var/app/python3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(skip_list(&node.join("preload.snapshot")).is_empty());
}

#[test]
fn the_daemonset_configuration_is_valid() {
    // packaging/k8s/40-node.yaml carries oneagentd's oneagent.toml in a ConfigMap, as one
    // double-quoted (JSON-escaped) YAML string.
    let manifest = std::fs::read_to_string(repo().join("packaging/k8s/40-node.yaml")).unwrap();
    let quoted = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("oneagent.toml: "))
        .expect("40-node.yaml has no oneagent.toml");
    let text: String = serde_json::from_str(quoted).unwrap();
    assert!(text.contains("[kubernetes]"), "{text}");
    let dir = tempdir();
    let path = dir.path().join("oneagent.toml");
    std::fs::write(&path, &text).unwrap();
    // As the DaemonSet runs it: ONEAGENT_NODE_IP from status.hostIP, expanded into the
    // endpoints (the node collector).
    let out = Command::new(*DAEMON)
        .arg("--check-config")
        .arg("--config")
        .arg(&path)
        .env("ONEAGENT_NODE_IP", "10.0.0.9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let effective = String::from_utf8_lossy(&out.stdout);
    assert!(
        effective.contains("http://10.0.0.9:4318") && effective.contains("10.0.0.9:11800"),
        "{effective}"
    );
    // Without the variable, a configuration error naming it.
    let out = Command::new(*DAEMON)
        .arg("--check-config")
        .arg("--config")
        .arg(&path)
        .env_remove("ONEAGENT_NODE_IP")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ONEAGENT_NODE_IP"),
        "{}",
        stderr(&out)
    );
}
