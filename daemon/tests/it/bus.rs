//! The D-Bus API end to end: round trips, authorization, signals, "not running".

use std::time::Duration;

use crate::support::*;

#[test]
fn status_reload_enable_disable_round_trip() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    let daemon = setup.start();

    let status = bus.status();
    assert_eq!(status["state"], "running");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["config_source"], "file");
    assert_eq!(status["injection_enabled"], true);
    assert_eq!(status["injection_source"], "config");
    assert_eq!(status["pid"], daemon.child.id());

    let out = bus.ctl(None, &["disable", "Payments"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("disabled for service payments"),
        "{}",
        stdout(&out)
    );
    let again = bus.ctl(None, &["--json", "disable", "payments"]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["changed"], false);

    let out = bus.ctl(None, &["disable", "--global"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = bus.status();
    assert_eq!(status["injection_enabled"], false);
    assert_eq!(status["injection_source"], "rule");
    let rules = status["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["scope"], "*");
    assert_eq!(rules[1]["scope"], "payments");
    assert_eq!(rules[1]["enabled"], false);
    assert_eq!(rules[1]["updated_by_uid"], 0);

    assert!(bus.ctl(None, &["enable", "--global"]).status.success());
    assert!(bus.ctl(None, &["enable", "payments"]).status.success());
    let status = bus.status();
    assert_eq!(status["injection_enabled"], true);
    assert_eq!(status["rules"][1]["enabled"], true);

    // The human table shows the rule.
    let table = stdout(&bus.ctl(None, &["status"]));
    assert!(
        table.contains("payments") && table.contains("enabled"),
        "{table}"
    );

    // Reload: the generation goes up and the file's values apply.
    std::fs::write(
        setup.config_path(),
        "[injection]\njava_agent = \"skywalking\"\n",
    )
    .unwrap();
    let out = bus.ctl(None, &["--json", "reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["generation"], 2);
    let status = bus.status();
    assert_eq!(status["config_generation"], 2);
    assert_eq!(status["config_source"], "file");
    assert_eq!(status["java_agent"], "skywalking");

    // Log level round trip; a bad level is a usage error named in the message.
    assert!(bus.ctl(None, &["log-level", "debug"]).status.success());
    assert_eq!(bus.status()["log_level"], "debug");
    let bad = bus.ctl(None, &["log-level", "loud"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown log level `loud`"),
        "{}",
        stderr(&bad)
    );

    // A service name the daemon cannot store is refused before anything changes.
    let bad = bus.ctl(None, &["disable", "no spaces"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let (status, _) = daemon.stop();
    assert!(status.success());
}

const MUTATIONS: &[&[&str]] = &[
    &["reload"],
    &["log-level", "debug"],
    &["enable", "--global"],
    &["disable", "--global"],
    &["enable", "payments"],
    &["disable", "payments"],
    &["restart", "payments"],
];

#[test]
fn unprivileged_caller_is_refused_by_the_shipped_policy_and_can_read() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let _daemon = DaemonSetup::new(&bus).start();
    for args in MUTATIONS {
        let out = bus.ctl(Some(NOBODY), args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("permission denied"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = bus.ctl(Some(NOBODY), &["--json", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state"], "running");
    // Nothing changed.
    let status = bus.status();
    assert_eq!(status["rules"].as_array().map(Vec::len), Some(0));
    assert_eq!(status["config_generation"], 1);
    assert_eq!(status["log_level"], "info");
}

#[test]
fn daemon_checks_the_caller_itself_even_when_the_policy_lets_everyone_through() {
    require_root();
    let bus = TestBus::start(Policy::Permissive);
    let _daemon = DaemonSetup::new(&bus).start();
    for args in MUTATIONS {
        let out = bus.ctl(Some(NOBODY), args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("requires root (the caller has uid 65534)"),
            "{args:?}: {err}"
        );
    }
    let status = bus.status();
    assert_eq!(status["rules"].as_array().map(Vec::len), Some(0));
    assert_eq!(status["log_level"], "info");
    assert_eq!(status["config_generation"], 1);
}

#[test]
fn errors_have_stable_names_and_signals_are_emitted() {
    let bus = TestBus::start(Policy::Shipped);
    let _daemon = DaemonSetup::new(&bus).start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use futures_util::StreamExt;
        let conn = zbus::connection::Builder::address(bus.address.as_str())
            .build()
            .await
            .unwrap();
        let proxy = oneagent::dbus::Agent1Proxy::new(&conn).await.unwrap();
        assert_eq!(proxy.version().await.unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(proxy.state().await.unwrap(), "running");

        let mut changes = proxy.receive_injection_changed().await.unwrap();
        let mut reloads = proxy.receive_config_reloaded().await.unwrap();
        assert!(proxy.set_injection("orders", false).await.unwrap());
        let signal = tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("InjectionChanged within 5 s")
            .unwrap();
        let args = signal.args().unwrap();
        assert_eq!((args.scope(), *args.enabled()), (&"orders", false));

        let generation = proxy.reload().await.unwrap().generation;
        let signal = tokio::time::timeout(Duration::from_secs(5), reloads.next())
            .await
            .expect("ConfigReloaded within 5 s")
            .unwrap();
        assert_eq!(*signal.args().unwrap().generation(), generation);

        // Stable error names.
        let err = proxy.set_log_level("loud").await.unwrap_err();
        assert!(
            matches!(err, oneagent::dbus::AgentError::InvalidArgument(_)),
            "{err:?}"
        );
        let err = proxy.set_injection("bad name!", true).await.unwrap_err();
        assert!(
            matches!(err, oneagent::dbus::AgentError::InvalidArgument(_)),
            "{err:?}"
        );
        let msg = conn
            .call_method(
                Some(oneagent::dbus::BUS_NAME),
                oneagent::dbus::OBJECT_PATH,
                Some(oneagent::dbus::INTERFACE),
                "SetLogLevel",
                &("loud",),
            )
            .await
            .unwrap_err();
        let zbus::Error::MethodError(name, _, _) = msg else {
            panic!("expected a method error, got {msg:?}");
        };
        assert_eq!(name.as_str(), "io.oneagent.Agent1.Error.InvalidArgument");
    });
}

#[test]
fn not_running_is_one_line_with_the_start_command() {
    // A bus without the daemon.
    let bus = TestBus::start(Policy::Shipped);
    let out = bus.ctl(None, &["status"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("not running") && err.contains("systemctl start oneagent"),
        "{err}"
    );

    // No bus at all.
    let out = std::process::Command::new(*CTL)
        .arg("reload")
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/oneagent-test-bus",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("systemctl start oneagent"), "{err}");
}

#[test]
fn second_daemon_on_the_same_bus_fails_cleanly() {
    let bus = TestBus::start(Policy::Shipped);
    let _first = DaemonSetup::new(&bus).start();
    let mut other = DaemonSetup::new(&bus);
    other.dir = bus.dir.path().join("other");
    let mut second = other.spawn();
    let status = wait_timeout(&mut second.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    let err = second.stderr_text();
    assert!(err.contains("io.oneagent.Agent1"), "{err}");
}

/// On a Kubernetes node the DaemonSet's init container installs our D-Bus policy into the host's
/// `/etc/dbus-1/system.d` just before the daemon starts: while the bus refuses the name, the
/// daemon says so, asks the bus to reload its configuration and tries again, and becomes ready
/// once the policy is there — it does not exit.
#[test]
fn waits_for_the_bus_policy_instead_of_exiting() {
    let bus = TestBus::start(Policy::Missing);
    let mut daemon = DaemonSetup::new(&bus).spawn();
    daemon.wait_for(
        "STATUS=Waiting for the D-Bus policy of io.oneagent.Agent1",
        Duration::from_secs(10),
    );
    let out = bus.ctl(None, &["status"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "not running yet: {}",
        stderr(&out)
    );
    assert!(daemon.is_running(), "the daemon exited without the policy");
    bus.install_policy();
    daemon.wait_for("READY=1", Duration::from_secs(15));
    let out = bus.ctl(None, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
