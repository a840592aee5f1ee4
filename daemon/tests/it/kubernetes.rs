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
    let shell = format!(
        "set -e; mount -t tmpfs tmpfs /var; mkdir /var/oneagent; \
         mount --bind {node} /var/oneagent; mount -o remount,bind,ro /var/oneagent; \
         exec {python} {script}",
        node = node.display(),
        python = real_python(),
        script = script.display(),
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

#[test]
fn a_python_process_in_the_pod_layout_gets_the_in_container_agent() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    let node = node_agent_dir(&setup);
    write_config(&setup, &node, "http://10.0.0.1:4318");
    let _daemon = setup.start();
    assert!(bus.ctl(None, &["enable", "--global"]).status.success());
    assert!(
        node.join("preload.sock").exists(),
        "no container report socket"
    );

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
    let child = python_in_pod_layout(&node, &script);
    let pid = child.id();
    // The report travels through the read-only mount to the daemon's socket.
    let reported = wait_for(Duration::from_secs(5), || {
        let out = bus.ctl(None, &["--json", "ps", "--all"]);
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.iter()
            .any(|p| p["pid"] == pid && p["preload_outcome"] == "injected")
    });
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
    let out = Command::new(DAEMON)
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
    let out = Command::new(DAEMON)
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
