//! Injection behaviour with real runtimes and snapshots encoded by core's encoder; the report
//! datagram received on a socket named in the snapshot.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use oneagent_preload_core::report::{self, Outcome, Report};
use oneagent_preload_core::snapshot;
use oneagent_preload_core::{Action, Language};

use super::common::*;

struct Env {
    dir: TempDir,
    agents: Agents,
    sock_path: PathBuf,
    sock: UnixDatagram,
    snap_path: PathBuf,
    script: PathBuf,
}

fn env(tag: &str) -> Env {
    let dir = TempDir::new(tag);
    let agents = Agents::fake(dir.path());
    let sock_path = dir.join("report.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let snap_path = dir.join("preload.snapshot");
    Snap::new(&agents, &sock_path).write(&snap_path);
    let script = dir.join("app.py");
    std::fs::write(&script, PY_PRINT_ENV).unwrap();
    Env {
        dir,
        agents,
        sock_path,
        sock,
        snap_path,
        script,
    }
}

impl Env {
    fn python(&self) -> Command {
        let mut c = cmd(python(), &[self.script.to_str().unwrap()]);
        c.env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &self.snap_path);
        c
    }

    /// The reports received so far (each datagram kept for the test's life: a report borrows
    /// its executable path from it).
    fn reports(&self) -> Vec<Report<'static>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; report::MAX_REPORT];
        while let Ok(n) = self.sock.recv(&mut buf) {
            let datagram: &'static [u8] = buf[..n].to_vec().leak();
            out.push(report::decode(datagram).unwrap());
        }
        out
    }
}

fn python_untouched(out: &std::process::Output) {
    let env = env_lines(&out.stdout);
    for k in OURS {
        assert_eq!(env[k], "<unset>", "{k} set: {env:?}");
    }
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}

#[test]
fn python_script_is_injected_and_reported() {
    let e = env("py");
    let out = output(&mut e.python());
    assert!(out.status.success());
    let env = env_lines(&out.stdout);
    let dir = e.agents.python_dir.to_str().unwrap();
    assert_eq!(
        env["PYTHONPATH"],
        format!("{dir}/opentelemetry/instrumentation/auto_instrumentation:{dir}")
    );
    assert_eq!(env["OTEL_SERVICE_NAME"], e.dir.name());
    assert_eq!(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://127.0.0.1:4318");
    assert_eq!(env["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf");
    assert_eq!(env["OTEL_METRICS_EXPORTER"], "none");
    assert_eq!(env["OTEL_LOGS_EXPORTER"], "none");
    let attrs = &env["OTEL_RESOURCE_ATTRIBUTES"];
    assert!(
        attrs.starts_with("host.name=testhost,service.instance.id=testhost-"),
        "{attrs}"
    );
    // The agent's sitecustomize really ran.
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), PY_MARKER);
    let reports = e.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.action, Action::Inject);
    assert_eq!(r.outcome, Outcome::Injected);
    assert_eq!(r.reason_code, "instrumentable");
    assert_eq!(r.language, Some(Language::Python));
    assert_eq!(r.service_name.as_str(), e.dir.name());
    assert!(r.runtime_version().is_some());
    // The executable as the process saw it (`/proc/self/exe`).
    let exe = std::fs::canonicalize(python()).unwrap();
    assert_eq!(r.exe(), exe.as_os_str().as_encoded_bytes(), "{r:?}");
}

/// A generic entry point takes its project's declared name, as `explain` and `ps` give it; a
/// malformed manifest leaves the directory name.
#[test]
fn generic_entry_points_take_the_declared_project_name() {
    let e = env("pyproj");
    std::fs::write(
        e.dir.join("pyproject.toml"),
        "[tool.poetry]\nname = \"Ledger-Service\"\n",
    )
    .unwrap();
    let out = output(&mut e.python());
    let env = env_lines(&out.stdout);
    assert_eq!(env["OTEL_SERVICE_NAME"], "ledger-service");
    let reports = e.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].service_name.as_str(), "ledger-service");

    std::fs::write(e.dir.join("pyproject.toml"), "[project]\nname = \"open\n").unwrap();
    let out = output(&mut e.python());
    assert_eq!(env_lines(&out.stdout)["OTEL_SERVICE_NAME"], e.dir.name());
    e.reports();

    require("node", "nodejs");
    let web = e.dir.join("web");
    std::fs::create_dir_all(web.join("src")).unwrap();
    std::fs::write(web.join("package.json"), r#"{"name": "@acme/storefront"}"#).unwrap();
    let js = web.join("src/index.js");
    std::fs::write(
        &js,
        "console.log('OTEL_SERVICE_NAME=' + process.env.OTEL_SERVICE_NAME);\n",
    )
    .unwrap();
    let out = output(
        cmd("node", &["src/index.js"])
            .current_dir(&web)
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path),
    );
    assert_eq!(
        env_lines(&out.stdout)["OTEL_SERVICE_NAME"],
        "acme-storefront"
    );
}

/// `OTEL_PYTHON_LOG_CORRELATION` is set only when the snapshot says so, and never over the
/// process's own value.
#[test]
fn python_log_correlation_follows_the_snapshot() {
    let e = env("pylogcorr");
    let out = output(&mut e.python());
    assert_eq!(
        env_lines(&out.stdout)["OTEL_PYTHON_LOG_CORRELATION"],
        "<unset>"
    );
    let mut snap = Snap::new(&e.agents, &e.sock_path);
    snap.python_log_correlation = true;
    snap.write(&e.snap_path);
    let out = output(&mut e.python());
    let env = env_lines(&out.stdout);
    assert_eq!(env["OTEL_PYTHON_LOG_CORRELATION"], "true");
    assert!(
        env["PYTHONPATH"].contains("auto_instrumentation"),
        "{env:?}"
    );
    let out = output(e.python().env("OTEL_PYTHON_LOG_CORRELATION", "false"));
    assert_eq!(
        env_lines(&out.stdout)["OTEL_PYTHON_LOG_CORRELATION"],
        "false"
    );
}

/// `[injection.environment]`: a real Python process under the preload gets its runtime's
/// configured variables (not another runtime's), and keeps its own value of one.
#[test]
fn configured_agent_environment_reaches_python() {
    let e = env("pyagentenv");
    let mut snap = Snap::new(&e.agents, &e.sock_path);
    snap.environment = vec![
        "python OTEL_TRACES_SAMPLER=parentbased_traceidratio".to_owned(),
        "python OTEL_TRACES_SAMPLER_ARG=0.25".to_owned(),
        "nodejs OTEL_PROPAGATORS=b3".to_owned(),
    ];
    snap.write(&e.snap_path);
    let out = output(&mut e.python());
    let env = env_lines(&out.stdout);
    assert_eq!(
        env["OTEL_TRACES_SAMPLER"], "parentbased_traceidratio",
        "{env:?}"
    );
    assert_eq!(env["OTEL_TRACES_SAMPLER_ARG"], "0.25");
    assert_eq!(env["OTEL_PROPAGATORS"], "<unset>");
    assert!(
        env["PYTHONPATH"].contains("auto_instrumentation"),
        "{env:?}"
    );
    // The process's own value wins.
    let out = output(e.python().env("OTEL_TRACES_SAMPLER", "always_on"));
    let env = env_lines(&out.stdout);
    assert_eq!(env["OTEL_TRACES_SAMPLER"], "always_on");
    assert_eq!(env["OTEL_TRACES_SAMPLER_ARG"], "0.25");
    let r = e.reports();
    assert_eq!(
        r.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [Outcome::Injected, Outcome::Injected]
    );
}

#[test]
fn python_user_values_are_kept() {
    let e = env("pyuser");
    let out = output(
        e.python()
            .env("OTEL_SERVICE_NAME", "mine")
            .env("PYTHONPATH", "/srv/lib")
            .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
    );
    let env = env_lines(&out.stdout);
    assert_eq!(env["OTEL_SERVICE_NAME"], "mine");
    assert!(env["PYTHONPATH"].ends_with(":/srv/lib"), "{env:?}");
    assert!(env["PYTHONPATH"].contains("auto_instrumentation"));
    assert!(
        env["OTEL_RESOURCE_ATTRIBUTES"]
            .starts_with("deployment.environment=prod,host.name=testhost,"),
        "{env:?}"
    );
    let r = e.reports();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].service_name.as_str(), "mine");
}

#[test]
fn kill_switch_and_disabled_service() {
    let e = env("kill");
    // The contract (oneagent-preload(8)): blank and the false spellings leave the library on,
    // every other value turns it off.
    for on in ["1", "true", "TRUE", "yes", "on", " 1 ", "anything"] {
        let out = output(e.python().env("ONEAGENT_PRELOAD_DISABLE", on));
        python_untouched(&out);
        assert!(
            e.reports().is_empty(),
            "a report was sent despite the kill switch {on:?}"
        );
    }
    for off in ["", " ", "0", "false", "False", "no", "off", "OFF", " n "] {
        let out = output(e.python().env("ONEAGENT_PRELOAD_DISABLE", off));
        let env = env_lines(&out.stdout);
        assert_eq!(
            env["OTEL_SERVICE_NAME"],
            e.dir.name(),
            "kill switch {off:?}: {env:?}"
        );
        let r = e.reports();
        assert_eq!(r.len(), 1, "kill switch {off:?}");
        assert_eq!(r[0].outcome, Outcome::Injected, "kill switch {off:?}");
    }

    let mut s = Snap::new(&e.agents, &e.sock_path);
    s.disabled_services = vec![e.dir.name()];
    s.write(&e.snap_path);
    let out = output(&mut e.python());
    python_untouched(&out);
    let r = e.reports();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].action, r[0].reason_code, r[0].outcome),
        (Action::Skip, "disabled-service", Outcome::Skipped)
    );
}

/// Another vendor's documented variables or preloaded library: nothing is set, the report names
/// the reason (`other-agent`); our own library in `LD_PRELOAD` is no other agent.
#[test]
fn other_vendors_stand_us_down() {
    let e = env("vendors");
    for (k, v) in [
        ("DD_TRACE_AGENT_URL", "http://127.0.0.1:8126"),
        ("NEW_RELIC_LICENSE_KEY", "x"),
        ("ELASTIC_APM_SERVER_URL", "http://apm:8200"),
        ("DT_TENANT", "abc"),
        ("INSTANA_AGENT_HOST", "10.0.0.1"),
        ("APPDYNAMICS_CONTROLLER_HOST_NAME", "c"),
        ("PYTHONPATH", "/opt/datadog/ddtrace/bootstrap"),
    ] {
        let out = output(e.python().env(k, v));
        let env = env_lines(&out.stdout);
        assert_eq!(env["OTEL_SERVICE_NAME"], "<unset>", "{k}: {env:?}");
        let r = e.reports();
        assert_eq!(r.len(), 1, "{k}");
        assert_eq!(
            (r[0].action, r[0].reason_code, r[0].outcome),
            (Action::Skip, "other-agent", Outcome::Skipped),
            "{k}"
        );
    }
    // The vendor's own off switch: its variables are no signal.
    let out = output(
        e.python()
            .env("DD_TRACE_AGENT_URL", "http://127.0.0.1:8126")
            .env("DD_TRACE_ENABLED", "false"),
    );
    assert_eq!(env_lines(&out.stdout)["OTEL_SERVICE_NAME"], e.dir.name());
    assert_eq!(e.reports()[0].outcome, Outcome::Injected);
    // Our own library, listed in LD_PRELOAD (as the Kubernetes webhook does): injected.
    let out = output(&mut e.python());
    assert_eq!(env_lines(&out.stdout)["OTEL_SERVICE_NAME"], e.dir.name());
    assert_eq!(e.reports()[0].outcome, Outcome::Injected);
}

/// A missing, truncated, corrupt, oversized or newer snapshot: the process starts normally, with
/// no change and no output, and no report.
#[test]
fn bad_snapshots_do_nothing() {
    let e = env("badsnap");
    let good = std::fs::read(&e.snap_path).unwrap();
    let mut variants: Vec<(String, Option<Vec<u8>>)> = vec![("missing".into(), None)];
    variants.push(("empty".into(), Some(Vec::new())));
    for n in [1, 8, 23, 24, 25, good.len() / 2, good.len() - 1] {
        variants.push((format!("truncated to {n}"), Some(good[..n].to_vec())));
    }
    let mut positions: Vec<usize> = (0..24).collect();
    positions.extend((24..good.len()).step_by(17));
    positions.push(good.len() - 1);
    for i in positions {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        variants.push((format!("byte {i} corrupted"), Some(b)));
    }
    let mut newer = good.clone();
    newer[8..10].copy_from_slice(&(snapshot::VERSION + 1).to_le_bytes());
    variants.push(("newer version".into(), Some(newer)));
    let mut big = good.clone();
    big.resize(snapshot::MAX_SNAPSHOT + 100, 0);
    variants.push(("oversized".into(), Some(big)));
    for (what, bytes) in variants {
        let _ = std::fs::remove_file(&e.snap_path);
        if let Some(b) = &bytes {
            std::fs::write(&e.snap_path, b).unwrap();
        }
        let out = output(&mut e.python());
        let env = env_lines(&out.stdout);
        for k in OURS {
            assert_eq!(env[k], "<unset>", "{what}: {k} set");
        }
        assert!(
            out.stderr.is_empty(),
            "{what}: stderr {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{what}");
    }
    assert!(e.reports().is_empty());
}

#[test]
fn node_script_is_injected() {
    require("node", "nodejs");
    let e = env("node");
    let js = e.dir.join("server.js");
    std::fs::write(&js, "console.log('NODE_OPTIONS=' + process.env.NODE_OPTIONS); console.log('OTEL_SERVICE_NAME=' + process.env.OTEL_SERVICE_NAME);\n").unwrap();
    let out = output(
        cmd("node", &[js.to_str().unwrap()])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path)
            .env("NODE_OPTIONS", "--max-old-space-size=256"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = env_lines(&out.stdout);
    assert_eq!(
        env["NODE_OPTIONS"],
        format!(
            "--require {} --max-old-space-size=256",
            e.agents.node_register.display()
        )
    );
    assert_eq!(env["OTEL_SERVICE_NAME"], e.dir.name());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ONEAGENT-TEST-NODE"));
}

// --- Java -------------------------------------------------------------------------------------

const AGENT_JAVA: &str = r#"public class TestAgent {
    public static void premain(String args) { System.err.println("ONEAGENT-TEST-JAVAAGENT"); }
}
"#;

const APP_JAVA: &str = r#"public class App {
    public static void main(String[] a) {
        System.out.println("JAVA_TOOL_OPTIONS=" + System.getenv("JAVA_TOOL_OPTIONS"));
        System.out.println("OTEL_SERVICE_NAME=" + System.getenv("OTEL_SERVICE_NAME"));
    }
}
"#;

/// Builds the test agent jar and the app classes (once per test).
fn build_java(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    let classes = dir.join("classes");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&classes).unwrap();
    std::fs::write(src.join("TestAgent.java"), AGENT_JAVA).unwrap();
    std::fs::write(src.join("App.java"), APP_JAVA).unwrap();
    let st = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(src.join("TestAgent.java"))
        .arg(src.join("App.java"))
        .status()
        .unwrap();
    assert!(st.success());
    let manifest = dir.join("MANIFEST.MF");
    std::fs::write(&manifest, "Premain-Class: TestAgent\n").unwrap();
    let jar = dir.join("oneagent/agents/java/test-agent.jar");
    std::fs::create_dir_all(jar.parent().unwrap()).unwrap();
    let st = Command::new("jar")
        .arg("cfm")
        .arg(&jar)
        .arg(&manifest)
        .arg("-C")
        .arg(&classes)
        .arg("TestAgent.class")
        .status()
        .unwrap();
    assert!(st.success());
    (jar, classes)
}

#[test]
fn java_agent_is_applied_only_when_valid() {
    for tool in ["java", "javac", "jar"] {
        require(tool, "default-jdk-headless");
    }
    let e = env("java");
    let (jar, classes) = build_java(e.dir.path());
    let run = |jar_path: &Path| {
        let mut s = Snap::new(&e.agents, &e.sock_path);
        s.java_jar = jar_path.to_path_buf();
        s.write(&e.snap_path);
        output(
            cmd("java", &["-cp", classes.to_str().unwrap(), "App"])
                .env("LD_PRELOAD", so())
                .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path)
                .env("JAVA_TOOL_OPTIONS", "-Xmx64m"),
        )
    };

    let out = run(&jar);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let env = env_lines(&out.stdout);
    assert_eq!(
        env["JAVA_TOOL_OPTIONS"],
        format!("-Xmx64m -javaagent:{}", jar.display())
    );
    assert!(
        stderr.contains(&format!(
            "Picked up JAVA_TOOL_OPTIONS: -Xmx64m -javaagent:{}",
            jar.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("ONEAGENT-TEST-JAVAAGENT"), "{stderr}");
    assert_ne!(env["OTEL_SERVICE_NAME"], "null");
    let r = e.reports();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(
        (r[0].language, r[0].outcome),
        (Some(Language::Java), Outcome::Injected)
    );

    // Extra JVM options follow the agent, except one the process sets itself (-Xmx); the JVM
    // takes them.
    let mut s = Snap::new(&e.agents, &e.sock_path);
    s.java_jar = jar.clone();
    s.java_options = "-Xmx32m -Doneagent.extra=yes -XX:+UseSerialGC".to_owned();
    s.write(&e.snap_path);
    let out = output(
        cmd("java", &["-cp", classes.to_str().unwrap(), "App"])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path)
            .env("JAVA_TOOL_OPTIONS", "-Xmx64m"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let want = format!(
        "-Xmx64m -javaagent:{} -Doneagent.extra=yes -XX:+UseSerialGC",
        jar.display()
    );
    assert_eq!(env_lines(&out.stdout)["JAVA_TOOL_OPTIONS"], want);
    assert!(
        stderr.contains(&format!("Picked up JAVA_TOOL_OPTIONS: {want}")),
        "{stderr}"
    );
    assert!(stderr.contains("ONEAGENT-TEST-JAVAAGENT"), "{stderr}");
    assert_eq!(e.reports().len(), 1);

    // Missing jar: no flag (the JVM would refuse to start), reported.
    let out = run(&e.dir.join("oneagent/agents/java/missing.jar"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(env_lines(&out.stdout)["JAVA_TOOL_OPTIONS"], "-Xmx64m");
    assert!(!stderr.contains("-javaagent"), "{stderr}");
    assert_eq!(
        e.reports().iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [Outcome::AgentMissing]
    );

    // Not a zip: no flag, reported.
    let bogus = e.dir.join("oneagent/agents/java/bogus.jar");
    std::fs::write(&bogus, "this is not a jar").unwrap();
    let out = run(&bogus);
    assert!(out.status.success());
    assert_eq!(env_lines(&out.stdout)["JAVA_TOOL_OPTIONS"], "-Xmx64m");
    assert_eq!(
        e.reports().iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [Outcome::AgentInvalid]
    );

    // `java -version` is not a target: identical output, and JAVA_TOOL_OPTIONS untouched.
    let mut s = Snap::new(&e.agents, &e.sock_path);
    s.java_jar = jar.clone();
    s.write(&e.snap_path);
    let out = output(
        cmd("java", &["-version"])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path),
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("javaagent"));
}

/// The non-runtime fast path looks at the path given to `execve` (`AT_EXECFN`) only when it names
/// the running ELF file itself. A `#!` script whose name says nothing (`server`) runs the Python
/// interpreter: it is still found and injected.
#[test]
fn shebang_script_with_a_plain_name_is_injected() {
    let e = env("py-shebang");
    let server = e.dir.join("server");
    std::fs::write(&server, format!("#!{}\n{PY_PRINT_ENV}", python().display())).unwrap();
    chmod(&server, 0o755);
    let out = output(
        cmd(&server, &[])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path),
    );
    assert!(out.status.success(), "{out:?}");
    let env = env_lines(&out.stdout);
    let dir = e.agents.python_dir.to_str().unwrap();
    assert_eq!(
        env["PYTHONPATH"],
        format!("{dir}/opentelemetry/instrumentation/auto_instrumentation:{dir}")
    );
    assert_eq!(env["OTEL_SERVICE_NAME"], e.dir.name());
}

/// A symbolic link with an unrelated name (`myapp` → the Python interpreter): the link's name is
/// not the executable's, so the real image (`/proc/self/exe`) decides, and it is Python.
#[test]
fn runtime_behind_a_symlink_with_another_name_is_injected() {
    let e = env("py-symlink");
    let real = std::fs::canonicalize(python()).unwrap();
    let link = e.dir.join("myapp");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = output(
        cmd(&link, &[e.script.to_str().unwrap()])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path),
    );
    assert!(out.status.success(), "{out:?}");
    let env = env_lines(&out.stdout);
    assert_ne!(env["PYTHONPATH"], "<unset>", "not injected: {env:?}");
    // `argv[0]` differs from the interpreter's name: core takes it for the program's name.
    assert_eq!(env["OTEL_SERVICE_NAME"], "myapp");
    let reports = e.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].outcome, Outcome::Injected);
}

/// A child started by an injected process inherits the variables we set for its parent; the
/// marker (`ONEAGENT_INJECTED`) tells them from the user's, so the child gets its own service name
/// and instance id, and the parent's user attributes stay.
#[test]
fn child_of_an_injected_process_names_itself() {
    let e = env("py-child");
    let worker = e.dir.join("worker.py");
    std::fs::write(
        &worker,
        "import os\nprint(os.getpid(), os.environ['OTEL_SERVICE_NAME'], os.environ['OTEL_RESOURCE_ATTRIBUTES'])\n",
    )
    .unwrap();
    let parent = e.dir.join("shop.py");
    std::fs::write(
        &parent,
        format!(
            "import os, subprocess, sys\nprint(os.getpid(), os.environ['OTEL_SERVICE_NAME'], os.environ['OTEL_RESOURCE_ATTRIBUTES'], flush=True)\nsubprocess.run([sys.executable, {:?}], check=True)\n",
            worker.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = output(
        cmd(python(), &[parent.to_str().unwrap()])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &e.snap_path)
            .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, name) in lines.iter().zip(["shop", "worker"]) {
        let (pid, service, attrs) = (line[0], line[1], line[2]);
        assert_eq!(service, name, "{stdout}");
        let mut keys: Vec<&str> = attrs.split(',').collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "deployment.environment=prod",
                "host.name=testhost",
                &format!("service.instance.id=testhost-{pid}")
            ],
            "{stdout}"
        );
    }
    let reports = e.reports();
    let names: Vec<&str> = reports.iter().map(|r| r.service_name.as_str()).collect();
    assert_eq!(names, ["shop", "worker"], "{reports:?}");
}
