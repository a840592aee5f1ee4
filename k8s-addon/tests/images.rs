//! packaging/k8s/Containerfile and build-images agree with each other and with the manifests:
//! every file the Containerfile copies is staged, and every path the manifests run is in the
//! image that runs it. (No container engine runs here: the build context is staged and checked.)
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oneagent_k8s::manifests::{self, Images};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Per stage of the Containerfile: (source in the context or `--from` stage, destination).
#[derive(Debug, Default)]
struct Stage {
    copies: Vec<(Option<String>, String, String)>,
    entrypoint: Option<String>,
}

fn containerfile() -> BTreeMap<String, Stage> {
    let text = std::fs::read_to_string(repo().join("packaging/k8s/Containerfile")).unwrap();
    let mut stages: BTreeMap<String, Stage> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"FROM") => {
                assert_eq!(words.get(2), Some(&"AS"), "unnamed stage: {line}");
                current = words[3].to_owned();
                stages.entry(current.clone()).or_default();
            }
            Some(&"COPY") => {
                let from = words
                    .iter()
                    .find_map(|w| w.strip_prefix("--from="))
                    .map(str::to_owned);
                let args: Vec<&str> = words[1..]
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                assert_eq!(args.len(), 2, "{line}");
                stages.get_mut(&current).unwrap().copies.push((
                    from,
                    args[0].to_owned(),
                    args[1].to_owned(),
                ));
            }
            Some(&"ENTRYPOINT") => {
                let json: Vec<String> =
                    serde_json::from_str(line["ENTRYPOINT".len()..].trim()).unwrap();
                stages.get_mut(&current).unwrap().entrypoint = Some(json[0].clone());
            }
            _ => {}
        }
    }
    stages
}

fn stage_context(ctx: &Path, extra: &[&str]) -> Vec<String> {
    let bins = ctx.parent().unwrap().join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    for b in ["oneagentd", "oneagentctl", "oneagent-k8s"] {
        std::fs::write(bins.join(b), format!("#!/bin/sh\necho {b}\n")).unwrap();
    }
    let lib = bins.join("liboneagent_preload.so");
    std::fs::write(&lib, b"\x7fELF library").unwrap();
    let out = std::process::Command::new("bash")
        .arg(repo().join("packaging/k8s/build-images"))
        .arg("--context-only")
        .arg(ctx)
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--preload-lib")
        .arg(&lib)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_build_context_has_everything_the_containerfile_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("context");
    let images = stage_context(&ctx, &[]);
    let defaults = Images::default();
    assert_eq!(images, [defaults.addon.clone(), defaults.node.clone()]);
    assert!(
        defaults
            .addon
            .ends_with(&format!(":{}", env!("CARGO_PKG_VERSION")))
    );
    let stages = containerfile();
    for (name, stage) in &stages {
        for (from, src, _) in &stage.copies {
            match from {
                Some(other) => assert!(stages.contains_key(other), "{name}: no stage {other}"),
                None => assert!(ctx.join(src).exists(), "{name}: {src} is not staged"),
            }
        }
    }
    let dests = |stage: &str| -> Vec<String> {
        stages[stage]
            .copies
            .iter()
            .map(|(_, _, d)| d.clone())
            .collect()
    };
    // The add-on image runs `oneagent-k8s ARGS` (the manifests give only args).
    assert_eq!(
        stages["oneagent-k8s"].entrypoint.as_deref(),
        Some("/usr/bin/oneagent-k8s")
    );
    assert!(dests("oneagent-k8s").contains(&"/usr/bin/oneagent-k8s".to_owned()));
    // The node image has what the DaemonSet runs, and the payload its init container installs
    // from /usr/lib/oneagent (install-node-agents' default source).
    let docs = manifests::documents(&defaults);
    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    let node_dests = dests("oneagentd");
    for c in spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(spec["initContainers"].as_array().unwrap())
    {
        if c["image"] == defaults.node.as_str() {
            let command = c["command"][0].as_str().unwrap().to_owned();
            assert!(
                node_dests.contains(&command),
                "{command} is not in the node image"
            );
        } else {
            assert_eq!(c["image"], defaults.addon.as_str());
            assert!(
                c.get("command").is_none(),
                "the add-on image's entrypoint is used"
            );
        }
    }
    assert!(node_dests.contains(&format!(
        "{}/liboneagent_preload.so",
        manifests::NODE_AGENT_DIR
    )));
    assert!(node_dests.contains(&format!("{}/agents", manifests::NODE_AGENT_DIR)));
    let script = std::fs::read_to_string(ctx.join("install-node-agents")).unwrap();
    assert!(script.contains(&format!(
        "ONEAGENT_IMAGE_AGENTS:-{}",
        manifests::NODE_AGENT_DIR
    )));
}

#[test]
fn registry_and_tag_name_the_images_in_both_places() {
    let tmp = tempfile::tempdir().unwrap();
    let images = stage_context(
        &tmp.path().join("context"),
        &["--registry", "registry.example.com/team/", "--tag", "1.2.3"],
    );
    let want = Images::new("registry.example.com/team/", "1.2.3");
    assert_eq!(want.addon, "registry.example.com/team/oneagent-k8s:1.2.3");
    assert_eq!(images, [want.addon, want.node]);

    let out_dir = tmp.path().join("manifests");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oneagent-k8s"))
        .args([
            "manifests",
            "--registry",
            "registry.example.com/team",
            "--tag",
            "1.2.3",
        ])
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = std::fs::read_to_string(out_dir.join("40-node.yaml")).unwrap();
    assert!(node.contains("\"registry.example.com/team/oneagentd:1.2.3\""));
    assert!(node.contains("\"registry.example.com/team/oneagent-k8s:1.2.3\""));
    let webhook = std::fs::read_to_string(out_dir.join("20-webhook.yaml")).unwrap();
    assert!(webhook.contains("\"registry.example.com/team/oneagent-k8s:1.2.3\""));
    assert!(!webhook.contains("oneagent/oneagent-k8s"));
}
