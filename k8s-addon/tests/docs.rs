//! `man/oneagent-k8s.8` matches the CLI definition and passes mandoc's lint.
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn man_page_matches_the_cli_definition() {
    let path = repo().join("man/oneagent-k8s.8");
    let generated = oneagent_k8s::manpage::man_page();
    if std::env::var_os("ONEAGENT_UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "man/oneagent-k8s.8 drifted from the CLI; regenerate with `ONEAGENT_UPDATE_GENERATED=1 cargo test -p oneagent-k8s --test tests docs`"
    );
    let text = String::from_utf8(generated).unwrap();
    // Every subcommand and flag is documented.
    for word in [
        "webhook",
        "controller",
        "device\\-plugin",
        "rollout",
        "\\-\\-max\\-concurrent",
        "\\-\\-detections\\-max\\-patches\\-per\\-sec",
        "certs",
        "manifests",
        "EXIT STATUS",
    ] {
        assert!(text.contains(word), "the man page lacks {word}");
    }
}

#[test]
fn man_page_passes_mandoc_lint() {
    let out = std::process::Command::new("mandoc")
        .args(["-T", "lint", "-W", "error"])
        .arg(repo().join("man/oneagent-k8s.8"))
        .output()
        .expect("mandoc (Debian package mandoc) must be installed");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
