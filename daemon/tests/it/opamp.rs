//! The OpAMP client against a real OpAMP server: `tests/opamp-server`, built on opamp-go's
//! `server` package by `scripts/build-opamp-server` (scripts/test runs it), over plain HTTP and
//! HTTPS with a client certificate. The server's control API shows what it received and
//! offers remote configurations; it can also misbehave (garbage, a 100 MB reply, a connection
//! closed mid-message, an error with RetryInfo).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{DaemonSetup, Policy, TestBus, http_get_within, repo, tempdir};

/// The test server, killed when dropped.
struct OpampServer {
    child: Child,
    /// Where agents connect (host:port).
    addr: String,
    control: String,
    http: ureq::Agent,
}

impl OpampServer {
    fn start(dir: &Path, args: &[&str]) -> OpampServer {
        let bin = repo().join("target/opamp-server/opamp-test-server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/build-opamp-server (scripts/test does)",
            bin.display()
        );
        let addr_file = dir.join(format!("opamp-addr-{}", std::process::id()));
        let _ = std::fs::remove_file(&addr_file);
        let child = Command::new(bin)
            .arg("-addr-file")
            .arg(&addr_file)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let line = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "the OpAMP test server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut parts = line.split_whitespace();
        let (addr, control) = (parts.next().unwrap(), parts.next().unwrap());
        // A wildcard listener ([::]:port) is reached on the loopback address.
        let port = addr.rsplit(':').next().unwrap();
        OpampServer {
            child,
            addr: format!("127.0.0.1:{port}"),
            control: control.to_owned(),
            http: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into(),
        }
    }

    fn agents(&self) -> Vec<serde_json::Value> {
        let text = self
            .http
            .get(format!("http://{}/agents", self.control))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The one agent, once `ready` holds for it.
    fn wait_agent(
        &self,
        what: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let agents = self.agents();
            if let [a] = agents.as_slice()
                && ready(a)
            {
                return a.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the server has {agents:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn push_config(&self, uid: &str, text: &str) -> String {
        self.http
            .post(format!("http://{}/agents/{uid}/config", self.control))
            .send(text)
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Pushes `text` to agent `uid` and waits for the agent to report it FAILED with an error
    /// that names `reason`.
    fn expect_refused(&self, uid: &str, text: &str, reason: &str) {
        let hash = self.push_config(uid, text);
        let agent = self.wait_agent("the pushed config refused", |a| {
            a["remote_config_hash"] == hash.as_str()
        });
        assert_eq!(
            agent["remote_config_status"], "RemoteConfigStatuses_FAILED",
            "{text}: {agent}"
        );
        let error = agent["remote_config_error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{text}: {error}");
    }

    fn set_mode(&self, mode: &str) {
        self.http
            .post(format!("http://{}/mode", self.control))
            .send(mode)
            .unwrap();
    }
}

impl Drop for OpampServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(setup: &DaemonSetup<'_>, opamp: &str, extra: &str) {
    std::fs::create_dir_all(&setup.dir).unwrap();
    std::fs::write(
        setup.config_path(),
        format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n{extra}\n[opamp]\npoll_interval_secs = 1\n{opamp}"
        ),
    )
    .unwrap();
}

/// A /metrics value.
fn metric(bus: &TestBus, name: &str) -> u64 {
    let addr = bus.status()["metrics_listen"].as_str().unwrap().to_owned();
    let text = http_get_within(&addr, "/metrics", Duration::from_secs(10));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics: {text}"))
        .trim()
        .parse()
        .unwrap()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn http_reports_applies_and_refuses_remote_config_and_keeps_it_without_the_server() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    let server = OpampServer::start(bus.dir.path(), &[]);
    write_config(
        &setup,
        &format!(
            "endpoint = \"http://{}/v1/opamp\"\naccept_remote_config = true\nheaders = {{ Authorization = \"Bearer s3cret\" }}\n",
            server.addr
        ),
        "",
    );
    let daemon = setup.start();

    // What the server sees: description, health, effective configuration, fleet status.
    let agent = server.wait_agent("a complete report", |a| {
        a["effective_config"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
            && a["healthy"].is_boolean()
            && !a["custom_messages"].as_array().is_none_or(|m| m.is_empty())
    });
    assert_eq!(agent["transport"], "http");
    assert_eq!(agent["identifying"]["service.name"], "oneagent");
    assert_eq!(
        agent["identifying"]["service.version"],
        env!("CARGO_PKG_VERSION")
    );
    let uid = agent["uid"].as_str().unwrap().to_owned();
    assert_eq!(
        agent["identifying"]["service.instance.id"]
            .as_str()
            .unwrap()
            .replace('-', ""),
        uid
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(agent["non_identifying"]["host.name"], host.trim());
    assert_eq!(agent["non_identifying"]["os.type"], "linux");
    let components = agent["health_components"].as_object().unwrap();
    assert!(
        components.contains_key("injection") && components.contains_key("logs"),
        "{agent}"
    );
    let effective = agent["effective_config"].as_str().unwrap();
    assert!(
        effective.contains("[opamp]") && effective.contains("poll_interval_secs = 1"),
        "{effective}"
    );
    assert!(
        !effective.contains("s3cret"),
        "a header's value reached the server: {effective}"
    );
    let status_msg = &agent["custom_messages"][0];
    assert_eq!(status_msg["capability"], "io.oneagent.status");
    let fleet: serde_json::Value =
        serde_json::from_str(status_msg["data"].as_str().unwrap()).unwrap();
    assert!(fleet["processes"].as_u64().unwrap() > 0, "{fleet}");
    assert!(fleet["preload"]["breaker_trips"].is_u64(), "{fleet}");
    assert!(fleet["logs"]["lag_bytes"].is_u64(), "{fleet}");
    assert_eq!(
        agent["custom_capabilities"],
        serde_json::json!(["io.oneagent.status"])
    );
    let capabilities = agent["capabilities"].as_u64().unwrap();
    assert_ne!(capabilities & 2, 0, "AcceptsRemoteConfig not announced");
    // The instance uid is kept in the state database.
    let status = bus.status();
    assert!(
        status["opamp"]
            .as_str()
            .unwrap()
            .contains("connected over HTTP"),
        "{status}"
    );
    assert_eq!(status["remote_config"], "");

    // A valid remote configuration: applied through the reload path, seen by the server.
    let valid =
        "[exporter]\notlp_endpoint = \"http://127.0.0.1:4999\"\n[daemon]\nlog_level = \"debug\"\n";
    let hash = server.push_config(&uid, valid);
    let agent = server.wait_agent("the valid config applied", |a| {
        a["remote_config_hash"] == hash.as_str() && a["remote_config_status"] != ""
    });
    assert_eq!(
        agent["remote_config_status"], "RemoteConfigStatuses_APPLIED",
        "{agent}"
    );
    server.wait_agent("the new effective config", |a| {
        a["effective_config"]
            .as_str()
            .is_some_and(|c| c.contains("otlp_endpoint = \"http://127.0.0.1:4999\""))
    });
    let status = bus.status();
    assert_eq!(status["otlp_endpoint"], "http://127.0.0.1:4999");
    assert_eq!(status["log_level"], "debug");
    let remote = status["remote_config"].as_str().unwrap();
    assert!(
        remote.contains("exporter.otlp_endpoint") && remote.contains("daemon.log_level"),
        "{remote}"
    );
    assert!(remote.starts_with(&hash[..12]), "{remote}");

    // Invalid ones: refused with the validation message, the running configuration kept.
    for (text, reason) in [
        ("[logs]\n\nmax_depth = 100\n", "key `logs.max_depth`"),
        (
            "[injection]\nlibrary = \"/tmp/evil.so\"\n",
            "key `injection.library`",
        ),
        ("[opamp]\naccept_remote_config = false\n", "key `opamp`"),
        (
            "[exporter]\notlp_endpoint = 4\n",
            "<remote configuration>:2:",
        ),
    ] {
        server.expect_refused(&uid, text, reason);
    }
    assert_eq!(bus.status()["otlp_endpoint"], "http://127.0.0.1:4999");
    assert_eq!(
        metric(&bus, "oneagent_opamp_remote_configs_applied_total"),
        1
    );
    assert_eq!(
        metric(&bus, "oneagent_opamp_remote_configs_refused_total"),
        4
    );

    // A restart without the server: the remote configuration is still in effect.
    daemon.stop();
    drop(server);
    let _daemon = setup.start();
    let status = bus.status();
    assert_eq!(status["otlp_endpoint"], "http://127.0.0.1:4999", "{status}");
    assert_eq!(status["log_level"], "debug");
    assert!(
        status["remote_config"]
            .as_str()
            .unwrap()
            .contains("applied"),
        "{status}"
    );
    wait_until("a failed exchange", Duration::from_secs(30), || {
        metric(&bus, "oneagent_opamp_failures_total") >= 1
    });
    let line = bus.status()["opamp"].as_str().unwrap().to_owned();
    assert!(line.contains("next attempt in"), "{line}");
    // The local file turns remote configuration off: the file alone is in effect.
    let text = std::fs::read_to_string(setup.config_path()).unwrap();
    std::fs::write(
        setup.config_path(),
        text.replace(
            "accept_remote_config = true",
            "accept_remote_config = false",
        ),
    )
    .unwrap();
    let out = bus.ctl(None, &["reload"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let status = bus.status();
    assert_eq!(status["otlp_endpoint"], "http://127.0.0.1:4318", "{status}");
    assert!(
        status["remote_config"]
            .as_str()
            .unwrap()
            .contains("accept_remote_config is false"),
        "{status}"
    );
}

#[test]
fn a_misbehaving_server_backs_off_and_is_counted_while_the_daemon_works() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    let server = OpampServer::start(bus.dir.path(), &[]);
    let logs = tempdir();
    write_config(
        &setup,
        &format!("endpoint = \"http://{}/v1/opamp\"\n", server.addr),
        &format!(
            "[logs]\nroots = [\"{}\"]\nexporter = \"stdout\"\nstart_at = \"beginning\"\n",
            logs.path().display()
        ),
    );
    let _daemon = setup.start();
    let agent = server.wait_agent("a first report", |a| a["messages"].as_u64() > Some(0));
    let uid = agent["uid"].as_str().unwrap().to_owned();

    // Remote configuration is refused: the local file does not accept it.
    server.expect_refused(
        &uid,
        "[daemon]\nlog_level = \"debug\"\n",
        "accept_remote_config",
    );
    assert_eq!(bus.status()["log_level"], "info");

    for (mode, shown) in [
        ("garbage", "not an OpAMP message"),
        ("oversized", "larger than 4194304 bytes"),
        ("close", "reading the reply"),
        ("unavailable", "the test server is unavailable"),
    ] {
        let before = metric(&bus, "oneagent_opamp_failures_total");
        server.set_mode(mode);
        wait_until(mode, Duration::from_secs(60), || {
            metric(&bus, "oneagent_opamp_failures_total") > before
        });
        assert_eq!(metric(&bus, "oneagent_opamp_connected"), 0);
        let line = bus.status()["opamp"].as_str().unwrap().to_owned();
        assert!(
            line.contains(shown) && line.contains("next attempt in"),
            "{mode}: {line}"
        );
        // The daemon works meanwhile: the log pipeline takes a new file.
        let file = logs.path().join(format!("{mode}.log"));
        std::fs::write(&file, "a line\n").unwrap();
        wait_until("the log file tailed", Duration::from_secs(30), || {
            bus.status()["log_files"].as_u64().unwrap_or(0) >= 1
        });
        // And comes back when the server does.
        server.set_mode("normal");
        let exchanges = metric(&bus, "oneagent_opamp_exchanges_total");
        wait_until("recovery", Duration::from_secs(60), || {
            metric(&bus, "oneagent_opamp_exchanges_total") > exchanges
        });
        assert_eq!(metric(&bus, "oneagent_opamp_connected"), 1);
    }
    // Every failure re-sent the full state, so the server's view is complete again.
    server.wait_agent("a full report after recovery", |a| {
        a["effective_config"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    });
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl(1).
fn make_pki(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&pki)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=oneagent test CA",
    ]);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(pki.join(format!("{name}.ext")), ext).unwrap();
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN=oneagent test {name}"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }
    pki
}

/// A test PKI and a TLS server that requires a client certificate signed by its CA.
fn tls_server(bus: &TestBus) -> (PathBuf, OpampServer) {
    let pki = make_pki(bus.dir.path());
    let p = |f: &str| pki.join(f).display().to_string();
    let args = [
        "-tls-cert",
        &p("server.pem"),
        "-tls-key",
        &p("server.key"),
        "-client-ca",
        &p("ca.pem"),
    ]
    .map(|a| a.to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = OpampServer::start(bus.dir.path(), &args);
    (pki, server)
}

#[test]
fn https_with_a_configured_ca_and_a_client_certificate() {
    let bus = TestBus::start(Policy::Shipped);
    let (pki, server) = tls_server(&bus);
    let p = |f: &str| pki.join(f).display().to_string();
    let endpoint = format!("https://{}/v1/opamp", server.addr);

    // Without a client certificate the server refuses the handshake: counted, backed off.
    let setup = DaemonSetup::new(&bus);
    write_config(
        &setup,
        &format!("endpoint = \"{endpoint}\"\nca_file = \"{}\"\n", p("ca.pem")),
        "",
    );
    let daemon = setup.start();
    wait_until("a refused handshake", Duration::from_secs(30), || {
        metric(&bus, "oneagent_opamp_failures_total") >= 1
    });
    assert!(server.agents().is_empty());
    daemon.stop();

    write_config(
        &setup,
        &format!(
            "endpoint = \"{endpoint}\"\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
            p("ca.pem"),
            p("client.pem"),
            p("client.key")
        ),
        "",
    );
    let _daemon = setup.start();
    let agent = server.wait_agent("a report over TLS", |a| {
        a["effective_config"]
            .as_str()
            .is_some_and(|c| c.contains("client_cert"))
    });
    assert_eq!(agent["transport"], "http");
    assert_eq!(agent["identifying"]["service.name"], "oneagent");
    assert_eq!(metric(&bus, "oneagent_opamp_connected"), 1);
}

/// WebSocket over TLS with a client certificate: one connection, and a remote configuration
/// the server pushes is applied without waiting for a poll (the poll interval is an hour).
#[test]
fn websocket_over_tls_with_a_client_certificate_takes_a_pushed_config() {
    let bus = TestBus::start(Policy::Shipped);
    let (pki, server) = tls_server(&bus);
    let p = |f: &str| pki.join(f).display().to_string();
    let setup = DaemonSetup::new(&bus);
    write_config(
        &setup,
        &format!(
            "endpoint = \"wss://{}/v1/opamp\"\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\naccept_remote_config = true\n",
            server.addr,
            p("ca.pem"),
            p("client.pem"),
            p("client.key")
        ),
        "",
    );
    let text = std::fs::read_to_string(setup.config_path()).unwrap();
    std::fs::write(
        setup.config_path(),
        text.replace("poll_interval_secs = 1", "poll_interval_secs = 3600"),
    )
    .unwrap();
    let _daemon = setup.start();
    let agent = server.wait_agent("a report over wss", |a| {
        a["effective_config"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    });
    assert_eq!(agent["transport"], "ws");
    assert_eq!(agent["identifying"]["service.name"], "oneagent");
    let uid = agent["uid"].as_str().unwrap().to_owned();
    let line = bus.status()["opamp"].as_str().unwrap().to_owned();
    assert!(line.contains("connected over WebSocket"), "{line}");

    let hash = server.push_config(&uid, "[daemon]\nlog_level = \"debug\"\n");
    let agent = server.wait_agent("the pushed config applied", |a| {
        a["remote_config_hash"] == hash.as_str()
            && a["effective_config"]
                .as_str()
                .is_some_and(|c| c.contains("log_level = \"debug\""))
    });
    assert_eq!(
        agent["remote_config_status"],
        "RemoteConfigStatuses_APPLIED"
    );
    assert_eq!(bus.status()["log_level"], "debug");
    server.expect_refused(&uid, "[daemon]\nlog_level = \"loud\"\n", "daemon.log_level");
    assert_eq!(metric(&bus, "oneagent_opamp_failures_total"), 0);
}
