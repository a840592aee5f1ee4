//! The committed manifests in packaging/k8s match their source, and hold the contracts.
use std::path::PathBuf;

use oneagent_k8s::manifests::{self, Images};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/k8s")
}

#[test]
fn committed_manifests_do_not_drift() {
    let rendered = manifests::render(&Images::default());
    for (name, contents) in &rendered {
        let path = dir().join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == *contents,
            "{} is out of date: run `cargo run -p oneagent-k8s -- manifests --out packaging/k8s`",
            path.display()
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut names: Vec<String> = rendered.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(on_disk, names, "stale files in packaging/k8s");
}

#[test]
fn webhook_configuration_contract() {
    let docs = manifests::documents(&Images::default());
    let cfg = docs
        .iter()
        .find(|d| d["kind"] == "MutatingWebhookConfiguration")
        .unwrap();
    let w = &cfg["webhooks"][0];
    assert_eq!(w["failurePolicy"], "Ignore");
    assert_eq!(w["sideEffects"], "None");
    assert_eq!(w["timeoutSeconds"], 5);
    assert_eq!(w["admissionReviewVersions"], serde_json::json!(["v1"]));
    assert_eq!(
        w["namespaceSelector"]["matchExpressions"][0]["values"],
        serde_json::json!(["kube-system", "oneagent"])
    );
    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    assert_eq!(ds["spec"]["template"]["spec"]["hostPID"], true);
    // No role may touch secrets or pods beyond listing them, but the node collector's
    // (k8sattributes), which may only read pods, namespaces and replicasets.
    for role in docs.iter().filter(|d| d["kind"] == "ClusterRole") {
        if role["metadata"]["name"] == manifests::COLLECTOR {
            assert_eq!(
                role["rules"],
                serde_json::json!([
                    {"apiGroups": [""], "resources": ["pods", "namespaces"],
                     "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["apps"], "resources": ["replicasets"],
                     "verbs": ["get", "list", "watch"]},
                ])
            );
            continue;
        }
        for rule in role["rules"].as_array().unwrap() {
            let res = rule["resources"].to_string();
            assert!(!res.contains("secrets"), "{role}");
            if res.contains("\"pods\"") {
                assert_eq!(rule["verbs"], serde_json::json!(["list"]));
            }
        }
    }
}

#[test]
fn yaml_round_trips_through_python() {
    // Cross-check the hand-written YAML emitter with a real YAML parser: Debian's python3 with
    // python3-yaml, which scripts/test installs.
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import yaml,json,sys; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin)]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3: apt-get install -y python3 python3-yaml");
    {
        use std::io::Write as _;
        let all: String = manifests::render(&Images::default())
            .into_iter()
            .map(|(_, c)| c)
            .collect::<Vec<_>>()
            .join("---\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(all.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the YAML did not parse with PyYAML (apt-get install -y python3-yaml if it is missing): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, manifests::documents(&Images::default()));
}

fn container<'a>(pod_spec: &'a serde_json::Value, list: &str, name: &str) -> &'a serde_json::Value {
    pod_spec[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {list} {name}"))
}

#[test]
fn the_node_agent_directory_is_the_same_everywhere() {
    let docs = manifests::documents(&Images::default());
    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "agents")
        .unwrap();
    assert_eq!(volume["hostPath"]["path"], manifests::NODE_AGENT_DIR);
    // oneagentd sees the directory at the node's path, so the configured agent paths and
    // node_agent_dir are the same inside its container and on the node.
    let daemon = container(spec, "containers", "oneagentd");
    assert!(
        daemon["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "agents" && m["mountPath"] == manifests::NODE_AGENT_DIR)
    );
    assert!(manifests::node_config().contains(&format!(
        "node_agent_dir = \"{}\"",
        manifests::NODE_AGENT_DIR
    )));
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == manifests::NODE_CONFIG)
        .unwrap();
    assert_eq!(config["data"]["oneagent.toml"], manifests::node_config());
    // The device plugin mounts that same directory at /var/oneagent.
    let plugin = container(spec, "containers", "device-plugin");
    let args: Vec<&str> = plugin["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args.iter().position(|a| *a == "--agent-dir").unwrap();
    assert_eq!(args[at + 1], manifests::NODE_AGENT_DIR);
    let plugin_default = oneagent_k8s::deviceplugin::PluginConfig::default();
    assert_eq!(
        plugin_default.host_agent_dir,
        std::path::Path::new(manifests::NODE_AGENT_DIR)
    );
    assert_eq!(plugin_default.container_agent_dir, "/var/oneagent");
    // The init container fills it from the node image.
    let init = container(spec, "initContainers", "install-agents");
    assert_eq!(init["image"], Images::default().node);
    assert_eq!(init["command"][0], manifests::INSTALL_SCRIPT);
    let target = init["command"][1].as_str().unwrap();
    assert!(
        init["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "agents" && m["mountPath"] == target)
    );
}

#[test]
fn install_node_agents_replaces_files_by_rename_and_keeps_the_snapshot() {
    use std::os::unix::fs::MetadataExt as _;
    let script = dir().join("install-node-agents.sh");
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("image");
    let node = tmp.path().join("node");
    std::fs::create_dir_all(image.join("agents/python/otel")).unwrap();
    std::fs::write(image.join("liboneagent_preload.so"), b"new library").unwrap();
    std::fs::write(image.join("agents/python/otel/site file.py"), b"# agent").unwrap();
    std::fs::create_dir_all(&node).unwrap();
    std::fs::write(node.join("liboneagent_preload.so"), b"old library").unwrap();
    std::fs::write(node.join("preload.snapshot"), b"OASNAP from oneagentd").unwrap();
    // A process of a running container keeps the old library open.
    let held = std::fs::File::open(node.join("liboneagent_preload.so")).unwrap();
    let old_inode = held.metadata().unwrap().ino();

    let run = || {
        std::process::Command::new("sh")
            .arg(&script)
            .arg(&node)
            .env("ONEAGENT_IMAGE_AGENTS", &image)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(node.join("liboneagent_preload.so")).unwrap(),
        b"new library"
    );
    assert_eq!(
        std::fs::read(node.join("agents/python/otel/site file.py")).unwrap(),
        b"# agent"
    );
    let new_inode = std::fs::metadata(node.join("liboneagent_preload.so"))
        .unwrap()
        .ino();
    assert_ne!(old_inode, new_inode, "the library was rewritten in place");
    let mut old = String::new();
    std::io::Read::read_to_string(&mut &held, &mut old).unwrap();
    assert_eq!(old, "old library", "the open file changed under its reader");
    assert_eq!(
        std::fs::read(node.join("preload.snapshot")).unwrap(),
        b"OASNAP from oneagentd"
    );
    // Unchanged files are left alone the second time.
    let out = run();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("updated"));
    assert_eq!(
        std::fs::metadata(node.join("liboneagent_preload.so"))
            .unwrap()
            .ino(),
        new_inode
    );
    // An image without the library is refused.
    std::fs::remove_file(image.join("liboneagent_preload.so")).unwrap();
    assert!(!run().status.success());
}

/// The init container also installs the D-Bus policy into the host's `/etc/dbus-1/system.d`
/// (mounted), by rename, only when it changed; the shipped file is what the image carries.
#[test]
fn install_node_agents_installs_the_dbus_policy() {
    let script = dir().join("install-node-agents.sh");
    let shipped = dir().join("../../systemd/io.oneagent.Agent1.conf");
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("image");
    std::fs::create_dir_all(&image).unwrap();
    std::fs::write(image.join("liboneagent_preload.so"), b"library").unwrap();
    let policy_dir = tmp.path().join("system.d");
    let run = |policy: &std::path::Path| {
        std::process::Command::new("sh")
            .arg(&script)
            .arg(tmp.path().join("node"))
            .arg(&policy_dir)
            .env("ONEAGENT_IMAGE_AGENTS", &image)
            .env("ONEAGENT_IMAGE_POLICY", policy)
            .output()
            .unwrap()
    };
    let out = run(&shipped);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = policy_dir.join("io.oneagent.Agent1.conf");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&shipped).unwrap()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated the D-Bus policy"));
    let out = run(&shipped);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("D-Bus policy"));
    let names: Vec<_> = std::fs::read_dir(&policy_dir).unwrap().collect();
    assert_eq!(names.len(), 1, "temporary files left: {names:?}");
    // An image without the policy file is refused rather than half-installed.
    assert!(!run(&tmp.path().join("missing.conf")).status.success());
}

fn daemonset<'a>(docs: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no DaemonSet {name}"))
}

/// The downward-API variable `name` of a container: its `fieldPath`.
fn field_env<'a>(container: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &container["env"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no env", container["name"]))
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{} has no env {name}", container["name"]))["valueFrom"]["fieldRef"]
        ["fieldPath"]
}

/// Every port, hostPort, variable and volume of the node collector and of oneagentd agree with
/// each other, with the collector's configuration and with what the webhook gives pods.
#[test]
fn collector_listeners_and_every_sender_agree() {
    use manifests::{NODE_IP_ENV, OTLP_GRPC_PORT, OTLP_HTTP_PORT, SKYWALKING_PORT};
    let docs = manifests::documents(&Images::default());
    let ds = daemonset(&docs, manifests::COLLECTOR);
    let spec = &ds["spec"]["template"]["spec"];
    // Host network: the node's address reaches it without the CNI's portmap.
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(spec["serviceAccountName"], manifests::COLLECTOR);
    let otelcol = container(spec, "containers", "otelcol");
    assert_eq!(otelcol["image"], manifests::COLLECTOR_IMAGE);
    let mut ports: Vec<(u64, u64)> = otelcol["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["containerPort"].as_u64().unwrap(),
                p["hostPort"].as_u64().unwrap(),
            )
        })
        .collect();
    ports.sort();
    let want: Vec<(u64, u64)> = [OTLP_GRPC_PORT, OTLP_HTTP_PORT, SKYWALKING_PORT]
        .iter()
        .map(|p| (u64::from(*p), u64::from(*p)))
        .collect();
    assert_eq!(
        ports, want,
        "containerPort == hostPort for 4317, 4318, 11800"
    );
    assert_eq!(field_env(otelcol, NODE_IP_ENV), "status.hostIP");
    assert_eq!(field_env(otelcol, "K8S_NODE_NAME"), "spec.nodeName");
    // Its configuration: the ConfigMap, mounted where --config points.
    let arg = otelcol["args"][0].as_str().unwrap();
    let file = arg.strip_prefix("--config=").unwrap();
    let (dir, name) = file.rsplit_once('/').unwrap();
    let mount = otelcol["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap();
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let cm_name = volume["configMap"]["name"].as_str().unwrap();
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == cm_name)
        .unwrap();
    let config = cm["data"][name].as_str().unwrap();
    assert_eq!(config, manifests::collector_config(None));
    for port in [OTLP_GRPC_PORT, OTLP_HTTP_PORT, SKYWALKING_PORT] {
        let listen = format!("endpoint: ${{env:{NODE_IP_ENV}}}:{port}\n");
        assert_eq!(config.matches(&listen).count(), 1, "{listen} in\n{config}");
    }
    assert!(config.contains("node_from_env_var: K8S_NODE_NAME\n"));
    for component in ["memory_limiter:", "k8sattributes:", "batch:", "skywalking:"] {
        assert!(config.contains(component), "{component}");
    }
    assert!(config.contains("receivers: [otlp, skywalking]"));
    assert!(config.contains("NO BACKEND CONFIGURED"));

    // oneagentd exports to the collector's OTLP/HTTP port on the node's address, and hands the
    // SkyWalking agent the collector's SkyWalking port.
    let node = daemonset(&docs, "oneagent-node");
    let daemon = container(&node["spec"]["template"]["spec"], "containers", "oneagentd");
    assert_eq!(field_env(daemon, NODE_IP_ENV), "status.hostIP");
    let toml = manifests::node_config();
    assert!(toml.contains(&format!(
        "otlp_endpoint = \"http://${{env:{NODE_IP_ENV}}}:{OTLP_HTTP_PORT}\"\n"
    )));
    assert!(toml.contains(&format!(
        "skywalking_backend = \"${{env:{NODE_IP_ENV}}}:{SKYWALKING_PORT}\"\n"
    )));
    // The webhook gives pods the node's address (status.hostIP) and the same ports.
    let inject = oneagent_k8s::decide::InjectConfig::default();
    let var = oneagent_k8s::decide::DOWNWARD_VARS
        .iter()
        .find(|(_, field)| *field == "status.hostIP")
        .unwrap()
        .0;
    assert_eq!(
        inject.otlp_endpoint,
        format!("http://$({var}):{OTLP_HTTP_PORT}")
    );
    assert_eq!(
        inject.skywalking_backend,
        format!("$({var}):{SKYWALKING_PORT}")
    );
    // Nothing in the manifests points at a loopback address.
    for (file, text) in manifests::render(&Images::default()) {
        for loopback in ["127.0.0.1", "localhost", "[::1]"] {
            assert!(!text.contains(loopback), "{file} mentions {loopback}");
        }
    }
}

#[test]
fn backend_and_cluster_wide_options_reach_the_manifests() {
    let options = manifests::Options {
        backend: Some(manifests::Backend {
            url: "https://otlp.example:4318".into(),
            headers: vec![("Authorization".into(), "Bearer \"k\"".into())],
        }),
        cluster_wide: true,
        ..manifests::Options::default()
    };
    let docs = manifests::documents_with(&options);
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == manifests::COLLECTOR)
        .unwrap();
    let config = cm["data"]["config.yaml"].as_str().unwrap();
    assert!(config.contains("  otlphttp:\n    endpoint: \"https://otlp.example:4318\"\n"));
    // Header values are quoted (YAML-safe).
    assert!(config.contains("      \"Authorization\": \"Bearer \\\"k\\\"\"\n"));
    assert_eq!(config.matches("exporters: [otlphttp]").count(), 3);
    assert!(!config.contains("debug"));
    for name in ["oneagent-webhook", "oneagent-controller"] {
        let deployment = docs
            .iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
            .unwrap();
        let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
        assert!(
            args.as_array()
                .unwrap()
                .iter()
                .any(|a| a == "--cluster-wide"),
            "{name}: {args}"
        );
    }
    // The defaults: neither.
    let text: String = manifests::render(&Images::default())
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(!text.contains("--cluster-wide") && !text.contains("otlphttp:"));
}

/// oneagentd's peer socket: the daemon serves it, oneagentctl in its container and the device
/// plugin's detections publisher use it, and both containers mount the same pod-private
/// directory at its parent (nodes without a system bus, such as Talos, need nothing else).
#[test]
fn the_peer_socket_is_shared_by_the_daemon_and_the_detections_publisher() {
    let docs = manifests::documents(&Images::default());
    let ds = daemonset(&docs, "oneagent-node");
    let spec = &ds["spec"]["template"]["spec"];
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let after = |list: &[String], flag: &str| -> String {
        let at = list.iter().position(|a| a == flag).unwrap();
        list[at + 1].clone()
    };
    let daemon = container(spec, "containers", "oneagentd");
    assert_eq!(
        after(&strings(&daemon["command"]), "--peer-socket"),
        manifests::PEER_SOCKET
    );
    assert!(
        daemon["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "ONEAGENT_PEER_SOCKET" && e["value"] == manifests::PEER_SOCKET)
    );
    let plugin = container(spec, "containers", "device-plugin");
    assert_eq!(
        after(&strings(&plugin["args"]), "--peer-socket"),
        manifests::PEER_SOCKET
    );
    let dir = std::path::Path::new(manifests::PEER_SOCKET)
        .parent()
        .unwrap()
        .to_str()
        .unwrap();
    let volume_at = |c: &serde_json::Value| -> String {
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == dir)
            .unwrap_or_else(|| panic!("{} does not mount {dir}", c["name"]))["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let name = volume_at(daemon);
    assert_eq!(volume_at(plugin), name);
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name.as_str())
        .unwrap();
    assert!(volume["emptyDir"].is_object(), "{volume}");
    // The host's bus directory may be missing: the pod must start anyway.
    let dbus = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "dbus")
        .unwrap();
    assert_eq!(dbus["hostPath"]["type"], "DirectoryOrCreate");
}
