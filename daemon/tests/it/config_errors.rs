//! Bad configuration: exit code 2 and a message naming file, line and key; reload keeps the
//! running configuration.

use std::time::Duration;

use crate::support::*;

fn start_with(text: &str) -> (i32, String, String) {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    std::fs::write(setup.config_path(), text).unwrap();
    let mut daemon = setup.spawn();
    let status = wait_timeout(&mut daemon.child, Duration::from_secs(10));
    let path = setup.config_path().display().to_string();
    (status.code().unwrap_or(-1), daemon.stderr_text(), path)
}

#[test]
fn unknown_key_exits_2_naming_file_line_and_key() {
    let (code, err, path) = start_with("[logs]\nenabled = true\nroot = [\"/srv\"]\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{path}:3:1: key `logs.root`")),
        "{err}"
    );
    assert!(err.contains("unknown field `root`"), "{err}");
}

#[test]
fn wrong_type_exits_2_naming_file_line_and_key() {
    let (code, err, path) = start_with("# comment\n[metrics]\nlisten = 9464\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{path}:3:")), "{err}");
    assert!(err.contains("key `metrics.listen`"), "{err}");
}

#[test]
fn bad_toml_exits_2_naming_file_and_line() {
    let (code, err, path) = start_with("[exporter]\notlp_endpoint = \"http://x\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{path}:2:")), "{err}");
}

#[test]
fn check_config_reports_the_same_errors() {
    let dir = tempdir();
    let path = dir.path().join("oneagent.toml");
    std::fs::write(&path, "[injection]\nenabled = 3\n").unwrap();
    let out = std::process::Command::new(*DAEMON)
        .arg("--check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("key `injection.enabled`"),
        "{}",
        stderr(&out)
    );
    let shipped = repo().join("packaging/oneagent.toml");
    let out = std::process::Command::new(*DAEMON)
        .arg("--check-config")
        .arg("--config")
        .arg(&shipped)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shipped example config is invalid: {}",
        stderr(&out)
    );
}

#[test]
fn invalid_file_on_reload_is_refused_and_the_daemon_keeps_running() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    std::fs::write(setup.config_path(), "[injection]\nenabled = false\n").unwrap();
    let _daemon = setup.start();
    assert_eq!(bus.status()["injection_enabled"], false);
    std::fs::write(setup.config_path(), "[injection]\nenabled = maybe\n").unwrap();
    let out = bus.ctl(None, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("previous one") && err.contains(":2:"), "{err}");
    let status = bus.status();
    assert_eq!(status["state"], "running");
    assert_eq!(status["config_generation"], 1);
    assert_eq!(status["injection_enabled"], false);
    assert!(
        status["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("oneagent.toml:2:")
    );
}
