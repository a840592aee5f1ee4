//! The committed manifests in packaging/k8s match their source, and hold the contracts.
use std::path::PathBuf;

use oneagent_k8s::manifests::{self, IMAGE, NODE_IMAGE};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/k8s")
}

#[test]
fn committed_manifests_do_not_drift() {
    let rendered = manifests::render(IMAGE, NODE_IMAGE);
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
    let docs = manifests::documents(IMAGE, NODE_IMAGE);
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
    // No role may touch secrets or pods beyond listing them.
    for role in docs.iter().filter(|d| d["kind"] == "ClusterRole") {
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
    // Cross-check the hand-written YAML emitter with a real YAML parser when one is installed.
    let Ok(out) = std::process::Command::new("python3")
        .args([
            "-c",
            "import yaml,json,sys; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin)]))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            let all: String = manifests::render(IMAGE, NODE_IMAGE)
                .into_iter()
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join("---\n");
            child.stdin.take().unwrap().write_all(all.as_bytes())?;
            child.wait_with_output()
        })
    else {
        return;
    };
    if !out.status.success() {
        eprintln!("python3 with PyYAML not available: skipping the cross-check");
        return;
    }
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed, manifests::documents(IMAGE, NODE_IMAGE));
}
