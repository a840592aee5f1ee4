//! Generated artefacts must match their sources: man pages and completions.

use crate::support::*;

fn check(path: &str, generated: Vec<u8>) {
    let file = repo().join(path);
    if std::env::var_os("ONEAGENT_UPDATE_GENERATED").is_some() {
        std::fs::write(&file, &generated).unwrap();
        return;
    }
    let committed = std::fs::read(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} drifted from its source; regenerate with `ONEAGENT_UPDATE_GENERATED=1 cargo test -p oneagent --test it docs`"
    );
}

#[test]
fn man_pages_match_the_cli_definitions() {
    check("man/oneagentctl.1", oneagent_cli::cli::ctl_man_page());
    check("man/oneagentd.8", oneagent::cli::daemon_man_page());
}

#[test]
fn completions_are_generated_for_bash_and_zsh() {
    for shell in ["bash", "zsh"] {
        let out = std::process::Command::new(*CTL)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = stdout(&out);
        for verb in ["status", "reload", "log-level", "enable", "disable"] {
            assert!(text.contains(verb), "{shell} completion lacks {verb}");
        }
    }
}

#[test]
fn man_pages_pass_mandoc_lint() {
    for page in [
        "man/oneagentctl.1",
        "man/oneagentd.8",
        "man/oneagent.toml.5",
    ] {
        let out = std::process::Command::new("mandoc")
            .args(["-T", "lint", "-W", "error"])
            .arg(repo().join(page))
            .output()
            .expect("mandoc (Debian package mandoc) must be installed");
        assert!(
            out.status.success(),
            "{page}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn systemd_unit_verifies_with_empty_stderr() {
    let unit = std::fs::read_to_string(repo().join("systemd/oneagent.service")).unwrap();
    for directive in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "CapabilityBoundingSet=",
        "ExecStart=/usr/sbin/oneagentd",
        "ExecReload=",
    ] {
        assert!(
            unit.contains(directive),
            "oneagent.service lacks {directive}"
        );
    }
    // systemd-analyze verify wants ExecStart to exist: point it at the binary under test, nothing
    // else changes. It returns 0 even on bad values, so stderr must be empty.
    let dir = tempdir();
    let copy = dir.path().join("oneagent.service");
    std::fs::write(&copy, unit.replace("/usr/sbin/oneagentd", *DAEMON)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tmpfiles_creates_the_state_and_runtime_dirs_in_a_private_root() {
    let root = tempdir();
    let out = std::process::Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(repo().join("systemd/oneagent.tmpfiles"))
        .output()
        .expect("systemd-tmpfiles (Debian package systemd) must be installed");
    assert!(out.status.success(), "{}", stderr(&out));
    for dir in ["var/lib/oneagent", "run/oneagent"] {
        assert!(root.path().join(dir).is_dir(), "{dir} not created");
    }
}
