//! The process inventory with real processes: python, java, a Go binary, and a process inside a
//! systemd-like cgroup; they appear and disappear within 1 s with the right language and service.
//! Also `ps` filters, `pending` and `explain` end to end.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Writes agent files so that every language has an agent, and a config that points at them.
fn config_with_agents(setup: &DaemonSetup) {
    let agents = setup.dir.join("oneagent/agents");
    let site = agents.join("python/opentelemetry/instrumentation/auto_instrumentation");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("sitecustomize.py"), "").unwrap();
    std::fs::create_dir_all(agents.join("dotnet/net")).unwrap();
    std::fs::write(
        agents.join("dotnet/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll"),
        "",
    )
    .unwrap();
    std::fs::write(agents.join("agent.jar"), b"PK\x03\x04 test jar").unwrap();
    std::fs::write(agents.join("register.js"), b"// test\n").unwrap();
    std::fs::write(
        setup.config_path(),
        format!(
            "[agents]\njava = \"{a}/agent.jar\"\npython = \"{a}/python\"\nnodejs = \"{a}/register.js\"\ndotnet = \"{a}/dotnet\"\n",
            a = agents.display()
        ),
    )
    .unwrap();
}

fn ps(bus: &TestBus) -> Vec<serde_json::Value> {
    let out = bus.ctl(None, &["--json", "ps", "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

fn find(bus: &TestBus, pid: u32) -> Option<serde_json::Value> {
    ps(bus).into_iter().find(|p| p["pid"] == pid)
}

/// Polls until the process is listed (or not), at most `limit`; returns the entry.
fn wait_listed(
    bus: &TestBus,
    pid: u32,
    listed: bool,
    limit: Duration,
) -> Option<serde_json::Value> {
    let t0 = Instant::now();
    loop {
        let entry = find(bus, pid);
        if entry.is_some() == listed {
            return entry;
        }
        assert!(
            t0.elapsed() < limit,
            "pid {pid} {} within {limit:?}",
            if listed { "not listed" } else { "still listed" }
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command) -> Reaped {
    Reaped(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Starts `cmd`, checks it appears within 1 s with `language` and `service`, kills it and checks
/// it disappears within 1 s.
fn appears_and_disappears(
    bus: &TestBus,
    cmd: &mut Command,
    language: &str,
    service: &str,
) -> serde_json::Value {
    let mut child = spawn(cmd);
    let pid = child.0.id();
    let entry = wait_listed(bus, pid, true, Duration::from_secs(1)).unwrap();
    // An exec right after fork may be seen first as the fork; the exec event follows at once.
    let t0 = Instant::now();
    let mut entry = entry;
    while entry["verdict"]["language"] != language && t0.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(25));
        entry = find(bus, pid).unwrap_or(entry);
    }
    assert_eq!(entry["verdict"]["language"], language, "{entry:#}");
    assert_eq!(entry["verdict"]["service_name"], service, "{entry:#}");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    wait_listed(bus, pid, false, Duration::from_secs(1));
    entry
}

#[test]
fn real_processes_appear_and_disappear_within_a_second() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let daemon = setup.start();
    let status = bus.status();
    assert_eq!(status["process_events"], "connector", "{status:#}");
    // The daemon never lists itself.
    assert!(find(&bus, daemon.child.id()).is_none());

    let work = bus.dir.path().join("apps");
    std::fs::create_dir_all(&work).unwrap();

    // Python.
    let script = work.join("billing_worker.py");
    std::fs::write(&script, "import time\ntime.sleep(60)\n").unwrap();
    let entry = appears_and_disappears(
        &bus,
        Command::new(real_python()).arg(&script),
        "python",
        "billing_worker",
    );
    assert_eq!(entry["verdict"]["action"], "inject");
    assert_eq!(entry["injection_state"], "not-injected");
    assert_eq!(entry["pending_change"], "gains-agent");
    // A generic entry point (`python3 app.py` run from its directory): named after its
    // project's declared name (pyproject.toml) when it has one, else after the directory, as
    // `explain` and the preload name it.
    let generic = |dir: &str, pyproject: Option<&str>, name: &str, source: &str| {
        let dir = work.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.py"), "import time\ntime.sleep(60)\n").unwrap();
        if let Some(text) = pyproject {
            std::fs::write(dir.join("pyproject.toml"), text).unwrap();
        }
        let mut cmd = Command::new(real_python());
        cmd.arg("app.py").current_dir(&dir);
        let entry = appears_and_disappears(&bus, &mut cmd, "python", name);
        assert_eq!(entry["verdict"]["service_name_source"], source);
    };
    generic("ledger", None, "ledger", "directory");
    generic(
        "books",
        Some("[project]\nname = \"bookkeeping\"\n"),
        "bookkeeping",
        "pyproject.toml",
    );

    // Java: a compiled main class.
    let src = work.join("java/com/example");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("OrderService.java"),
        "package com.example; public class OrderService { public static void main(String[] a) throws Exception { Thread.sleep(60000); } }",
    )
    .unwrap();
    let javac = Command::new("javac")
        .arg("-d")
        .arg(work.join("classes"))
        .arg(src.join("OrderService.java"))
        .status()
        .expect("javac (Debian package default-jdk-headless) must be installed");
    assert!(javac.success());
    appears_and_disappears(
        &bus,
        Command::new("java")
            .arg("-cp")
            .arg(work.join("classes"))
            .arg("com.example.OrderService"),
        "java",
        "orderservice",
    );

    // Go: built here with Debian's golang-go.
    let go_dir = work.join("go");
    std::fs::create_dir_all(&go_dir).unwrap();
    std::fs::write(
        go_dir.join("go.mod"),
        "module example.com/inventorysvc\n\ngo 1.19\n",
    )
    .unwrap();
    std::fs::write(
        go_dir.join("main.go"),
        "package main\nimport \"time\"\nfunc main() { time.Sleep(60 * time.Second) }\n",
    )
    .unwrap();
    let go = Command::new("go")
        .args(["build", "-o", "inventorysvc", "."])
        .current_dir(&go_dir)
        .env("GOCACHE", work.join("gocache"))
        .env("GOFLAGS", "-mod=mod")
        .status()
        .expect("go (Debian package golang-go) must be installed");
    assert!(go.success());
    let entry = appears_and_disappears(
        &bus,
        &mut Command::new(go_dir.join("inventorysvc")),
        "go",
        "inventorysvc",
    );
    assert_eq!(entry["verdict"]["action"], "skip");
    assert_eq!(entry["verdict"]["reason_code"], "report-only");
    assert!(
        entry["verdict"]["runtime_version"]
            .as_str()
            .unwrap()
            .starts_with("1."),
        "{entry:#}"
    );

    // A process inside a systemd-like cgroup, when this machine lets us make one.
    if let Some(cgroup) = SystemdLikeCgroup::create("oneagent-it-payments.service") {
        let mut child = spawn(Command::new(real_python()).arg(&script));
        let pid = child.0.id();
        cgroup.adopt(pid);
        // Moving a process between cgroups raises no process event: the rescan, or any event of
        // the process, picks it up; a reload forces a rescan.
        assert!(bus.ctl(None, &["reload"]).status.success());
        let entry = wait_listed(&bus, pid, true, Duration::from_secs(1)).unwrap();
        assert_eq!(
            entry["systemd_unit"], "oneagent-it-payments.service",
            "{entry:#}"
        );
        assert_eq!(entry["verdict"]["service_name"], "oneagent-it-payments");
        assert_eq!(entry["verdict"]["service_name_source"], "systemd-unit");
        let out = bus.ctl(None, &["--json", "ps", "--unit", "oneagent-it-payments"]);
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(listed.len(), 1);
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        wait_listed(&bus, pid, false, Duration::from_secs(1));
    } else {
        eprintln!(
            "note: no writable cgroup hierarchy here; the systemd-unit case is covered by preload/core's table test"
        );
    }
}

/// A copy of the real python whose `PT_INTERP` names a musl loader (`…/ld-musl-x`), which is in
/// fact a copy of this machine's glibc loader: it runs as python does, and only its interpreter's
/// name says musl, as an Alpine image's python would (no musl is installed here). The directory is
/// short (`/tmp/oam<pid>`) because the new path must fit in the old `PT_INTERP` segment.
struct MuslNamedPython {
    dir: std::path::PathBuf,
}

impl MuslNamedPython {
    fn create() -> Self {
        let python = real_python();
        let image = std::fs::read(&python).unwrap();
        let old_interp = image
            .windows(4)
            .position(|w| w == b"/lib")
            .map(|start| {
                let end = start + image[start..].iter().position(|&b| b == 0).unwrap();
                (start, end)
            })
            .filter(|&(start, end)| image[start..end].windows(8).any(|w| w == b"ld-linux"))
            .expect("the real python names a glibc loader (ld-linux*) first in its image");
        let loader =
            std::fs::canonicalize(std::str::from_utf8(&image[old_interp.0..old_interp.1]).unwrap())
                .unwrap();
        let dir = std::path::PathBuf::from(format!("/tmp/oam{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let interp = format!("{}/ld-musl-x", dir.display());
        assert!(
            interp.len() <= old_interp.1 - old_interp.0,
            "{interp} does not fit in PT_INTERP"
        );
        std::fs::copy(&loader, dir.join("ld-musl-x")).unwrap();
        let mut patched = image.clone();
        patched[old_interp.0..old_interp.1].fill(0);
        patched[old_interp.0..old_interp.0 + interp.len()].copy_from_slice(interp.as_bytes());
        let exe = dir.join("python3");
        std::fs::write(&exe, patched).unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let check = Command::new(&exe).args(["-c", "pass"]).output().unwrap();
        assert!(check.status.success(), "{}", stderr(&check));
        MuslNamedPython { dir }
    }

    fn exe(&self) -> std::path::PathBuf {
        self.dir.join("python3")
    }
}

impl Drop for MuslNamedPython {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn runtimes_carry_the_c_library_of_their_interpreter() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let _daemon = setup.start();
    let script = setup.dir.join("ledger_sync.py");
    std::fs::write(&script, "import time\ntime.sleep(60)\n").unwrap();
    let musl = MuslNamedPython::create();
    for (exe, libc) in [
        (std::path::PathBuf::from(real_python()), "glibc"),
        (musl.exe(), "musl"),
    ] {
        let child = spawn(Command::new(&exe).arg(&script));
        let pid = child.0.id();
        let t0 = Instant::now();
        let entry = loop {
            // Listed at its fork first, then re-read at its exec.
            let entry = find(&bus, pid);
            if entry
                .as_ref()
                .is_some_and(|e| e["verdict"]["language"] == "python")
                || t0.elapsed() > Duration::from_secs(5)
            {
                break entry;
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        let entry = entry.unwrap_or_else(|| panic!("{} (pid {pid}) not listed", exe.display()));
        assert_eq!(entry["verdict"]["language"], "python", "{entry:#}");
        assert_eq!(entry["libc"], libc, "{}: {entry:#}", exe.display());
    }
    // Not a runtime: the C library is not looked up.
    let sleeper = spawn(Command::new("sleep").arg("60"));
    let entry = wait_listed(&bus, sleeper.0.id(), true, Duration::from_secs(5)).unwrap();
    assert_eq!(entry["libc"], "", "{entry:#}");
}

#[test]
fn pending_and_ps_filters_follow_the_rules() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let _daemon = setup.start();
    let script = bus.dir.path().join("inventory_api.py");
    std::fs::write(&script, "import time\ntime.sleep(60)\n").unwrap();
    // One process already carries our agent (as if started under the preload), one does not.
    let agent_dir = setup.dir.join("oneagent/agents/python");
    let injected = spawn(Command::new(real_python()).arg(&script).env(
        "PYTHONPATH",
        format!(
            "{}/opentelemetry/instrumentation/auto_instrumentation:{}",
            agent_dir.display(),
            agent_dir.display()
        ),
    ));
    let plain = spawn(Command::new(real_python()).arg(&script));
    let (a, b) = (injected.0.id(), plain.0.id());
    wait_listed(&bus, a, true, Duration::from_secs(1));
    wait_listed(&bus, b, true, Duration::from_secs(1));
    let entry = find(&bus, a).unwrap();
    assert_eq!(entry["injection_state"], "injected", "{entry:#}");
    assert_eq!(entry["pending_change"], "");

    let pending = |bus: &TestBus| -> Vec<(u64, String)> {
        let out = bus.ctl(None, &["--json", "pending"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let mut v: Vec<(u64, String)> = list
            .iter()
            .filter(|p| p["pid"] == a || p["pid"] == b)
            .map(|p| {
                (
                    p["pid"].as_u64().unwrap(),
                    p["pending_change"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(pending(&bus), [(u64::from(b), "gains-agent".to_owned())]);

    // Disabling the service turns it around: the injected one would lose its agent.
    assert!(
        bus.ctl(None, &["disable", "inventory_api"])
            .status
            .success()
    );
    assert_eq!(pending(&bus), [(u64::from(a), "loses-agent".to_owned())]);
    let table = stdout(&bus.ctl(None, &["pending"]));
    assert!(
        table.contains("loses-agent") && table.contains("inventory_api"),
        "{table}"
    );

    // Filters.
    let out = bus.ctl(
        None,
        &[
            "--json",
            "ps",
            "--language",
            "python",
            "--service",
            "inventory_api",
        ],
    );
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let pids: Vec<u64> = listed.iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    assert!(
        pids.contains(&u64::from(a)) && pids.contains(&u64::from(b)),
        "{pids:?}"
    );
    let out = bus.ctl(None, &["--json", "ps", "--language", "java"]);
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed.iter().all(|p| p["verdict"]["language"] == "java"));
    let table = stdout(&bus.ctl(None, &["ps"]));
    assert!(
        table.contains("inventory_api") && table.contains("PID"),
        "{table}"
    );

    // The inventory is kept in SQLite.
    drop(injected);
    drop(plain);
}

/// `explain` names generic entry points (`node index.js`, `python3 app.py`, `java -jar
/// app.jar`, …) after the project: its declared name where the daemon reads one
/// (`package.json`), else the directory, skipping `src/`, `dist/`, `target/`.
#[test]
fn explain_names_generic_entry_points() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let root = bus.dir.path().join("projects");
    let file = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let storefront = file("web/index.js", "");
    file(
        "web/package.json",
        r#"{"name": "storefront", "version": "1.0.0"}"#,
    );
    // The interpreter itself (`python3` on the PATH may be a pyenv shim, a shell script).
    let python = real_python();
    let rows = [
        (
            vec!["node".to_owned(), storefront],
            "storefront",
            "package.json",
        ),
        (
            vec!["node".to_owned(), file("cart/server.js", "")],
            "cart",
            "directory",
        ),
        (
            vec!["node".to_owned(), file("billing/dist/index.js", "")],
            "billing",
            "directory",
        ),
        (
            vec![python.clone(), file("ledger/app.py", "")],
            "ledger",
            "directory",
        ),
        (
            vec![python.clone(), file("inventory/src/main.py", "")],
            "inventory",
            "directory",
        ),
        (
            vec![
                python.clone(),
                file("blog/manage.py", ""),
                "runserver".to_owned(),
            ],
            "blog",
            "python-app",
        ),
        (
            vec![
                "java".to_owned(),
                "-jar".to_owned(),
                file("orders/target/app.jar", ""),
            ],
            "orders",
            "directory",
        ),
        // Not generic: the script's own name.
        (
            vec![python.clone(), file("ledger/reconcile.py", "")],
            "reconcile",
            "script",
        ),
    ];
    // Declared project names beside a generic entry point (looked for upwards from it).
    let declared = |dir: &str, manifest: &str, text: &str, entry: &str| {
        file(&format!("{dir}/{manifest}"), text);
        file(&format!("{dir}/{entry}"), "")
    };
    let py = |script: String| vec![python.clone(), script];
    let node = |script: String| vec!["node".to_owned(), script];
    let big = format!(
        r#"{{"name": "huge", "description": "{}"}}"#,
        "x".repeat(70_000)
    );
    let mut rows = rows.to_vec();
    rows.extend([
        (
            node(declared(
                "cart2",
                "package.json",
                r#"{"name": "@acme/cart"}"#,
                "server.js",
            )),
            "acme-cart",
            "package.json",
        ),
        (
            py(declared(
                "shop",
                "pyproject.toml",
                "[build-system]\nrequires = []\n\n[project]\nname = \"Storefront\"\n",
                "app.py",
            )),
            "storefront",
            "pyproject.toml",
        ),
        (
            py(declared(
                "stock",
                "pyproject.toml",
                "[tool.poetry]\nname = 'stock-keeper'\n",
                "src/main.py",
            )),
            "stock-keeper",
            "pyproject.toml",
        ),
        (
            py(declared(
                "pay",
                "setup.cfg",
                "[metadata]\nname = payments\n",
                "main.py",
            )),
            "payments",
            "setup.cfg",
        ),
        (
            {
                let mut cmd = py(declared(
                    "cms",
                    "pyproject.toml",
                    "[project]\nname = \"cms\"\n",
                    "manage.py",
                ));
                cmd.push("runserver".to_owned());
                cmd
            },
            "cms",
            "pyproject.toml",
        ),
        // A pyproject.toml without a name defers to setup.cfg beside it.
        (
            {
                file("legacy/pyproject.toml", "[build-system]\nrequires = []\n");
                py(declared(
                    "legacy",
                    "setup.cfg",
                    "[metadata]\nname = old-ledger\n",
                    "app.py",
                ))
            },
            "old-ledger",
            "setup.cfg",
        ),
        // Malformed, nameless, huge or not a file: the directory name.
        (
            node(declared(
                "broken",
                "package.json",
                r#"{"name": "x""#,
                "index.js",
            )),
            "broken",
            "directory",
        ),
        (
            py(declared(
                "bare",
                "pyproject.toml",
                "[project]\nname = bare\n",
                "app.py",
            )),
            "bare",
            "directory",
        ),
        (
            py(declared(
                "binary",
                "setup.cfg",
                "[metadata]\nname = a\0b\n",
                "app.py",
            )),
            "binary",
            "directory",
        ),
        (
            node(declared("huge", "package.json", &big, "index.js")),
            "huge",
            "directory",
        ),
        (
            {
                std::fs::create_dir_all(root.join("dir/package.json")).unwrap();
                node(file("dir/index.js", ""))
            },
            "dir",
            "directory",
        ),
        (
            {
                let fifo = root.join("fifo/pyproject.toml");
                std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
                nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644))
                    .unwrap();
                py(file("fifo/app.py", ""))
            },
            "fifo",
            "directory",
        ),
        // A Python project's name is for its generic entry points only.
        (py(file("shop/worker.py", "")), "worker", "script"),
    ]);
    let config = setup.config_path().display().to_string();
    for (cmd, name, source) in rows {
        let mut args = vec!["--json", "explain", "--config", &config, "--"];
        args.extend(cmd.iter().map(String::as_str));
        let out = bus.ctl(None, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (
                v["service_name"].as_str(),
                v["service_name_source"].as_str()
            ),
            (Some(name), Some(source)),
            "{cmd:?}: {v:#}"
        );
    }
}

/// The `environment` rows of `oneagentctl --json explain --config CONFIG EXTRA…` (an `inject`
/// verdict).
fn explain_sets(bus: &TestBus, config: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--json", "explain", "--config", config];
    args.extend_from_slice(extra);
    let out = bus.ctl(None, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["action"], "inject", "{v:#}");
    serde_json::from_value(v["environment"].clone()).unwrap()
}

/// `[injection] python_log_correlation` and `java_options`: off/empty by default; set, `explain`
/// shows the library setting `OTEL_PYTHON_LOG_CORRELATION=true` for Python and the extra JVM
/// options after the Java agent (never over the process's own values, never for another
/// runtime), with and without the daemon.
#[test]
fn explain_shows_configured_agent_settings() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let config = setup.config_path().display().to_string();
    let sets = |bus: &TestBus, extra: &[&str]| explain_sets(bus, &config, extra);
    // The interpreter itself (`python3` on the PATH may be a pyenv shim, a shell script).
    let python = real_python();
    let py = ["--", python.as_str(), "/srv/shop/app.py"];
    let off = sets(&bus, &py);
    assert!(off.iter().any(|e| e.starts_with("PYTHONPATH=")), "{off:?}");
    assert!(
        off.contains(&"OTEL_SERVICE_NAME=shop".to_owned()),
        "{off:?}"
    );
    assert!(
        !off.iter()
            .any(|e| e.starts_with("OTEL_PYTHON_LOG_CORRELATION")),
        "{off:?}"
    );

    let java = ["--", "java", "-jar", "/srv/orders/orders.jar"];
    let jto = |v: Vec<String>| {
        v.into_iter()
            .find_map(|e| e.strip_prefix("JAVA_TOOL_OPTIONS=").map(str::to_owned))
            .unwrap()
    };
    let agent = format!(
        "-javaagent:{}",
        setup.dir.join("oneagent/agents/agent.jar").display()
    );
    assert_eq!(jto(sets(&bus, &java)), agent);

    // A JVM option that is not one option is refused, naming the key.
    let original = std::fs::read_to_string(setup.config_path()).unwrap();
    std::fs::write(
        setup.config_path(),
        format!("{original}[injection]\njava_options = [\"-Da=1 -Db=2\"]\n"),
    )
    .unwrap();
    let out = bus.ctl(
        None,
        &[
            "explain", "--config", &config, "--", "java", "-jar", "/x.jar",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("injection.java_options"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        setup.config_path(),
        format!(
            "{original}[injection]\npython_log_correlation = true\n\
             java_options = [\"-Dotel.traces.sampler=always_off\", \"-Xss2m\"]\n"
        ),
    )
    .unwrap();
    let check = |bus: &TestBus| {
        let on = sets(bus, &py);
        assert!(
            on.contains(&"OTEL_PYTHON_LOG_CORRELATION=true".to_owned()),
            "{on:?}"
        );
        let user = sets(
            bus,
            &[
                "--env",
                "OTEL_PYTHON_LOG_CORRELATION=false",
                "--",
                python.as_str(),
                "/srv/shop/app.py",
            ],
        );
        assert!(
            !user
                .iter()
                .any(|e| e.starts_with("OTEL_PYTHON_LOG_CORRELATION")),
            "{user:?}"
        );
        // Extra JVM options follow the agent; the process's own -Xss wins.
        assert_eq!(
            jto(sets(bus, &java)),
            format!("{agent} -Dotel.traces.sampler=always_off -Xss2m")
        );
        let mut own = vec!["--env", "JAVA_TOOL_OPTIONS=-Xss512k"];
        own.extend_from_slice(&java);
        assert_eq!(
            jto(sets(bus, &own)),
            format!("-Xss512k {agent} -Dotel.traces.sampler=always_off")
        );
        let node = sets(bus, &["--", "node", "/srv/shop/server.js"]);
        assert!(
            node.iter().any(|e| e.starts_with("NODE_OPTIONS=")),
            "{node:?}"
        );
        assert!(
            !node
                .iter()
                .any(|e| e.starts_with("OTEL_PYTHON_LOG_CORRELATION")),
            "{node:?}"
        );
    };
    check(&bus);
    let _daemon = setup.start();
    check(&bus);
}

/// `[injection.environment]`: `explain` shows each runtime's configured variables (the
/// library's own plan), never over the process's own value nor for another runtime, with and
/// without the daemon; a variable oneagent sets itself, a list it composes or `LD_*` is refused
/// naming the key and the variable.
#[test]
fn explain_shows_configured_agent_environment() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let config = setup.config_path().display().to_string();
    let sets = |bus: &TestBus, extra: &[&str]| explain_sets(bus, &config, extra);
    let python = real_python();
    let py = ["--", python.as_str(), "/srv/shop/app.py"];
    let original = std::fs::read_to_string(setup.config_path()).unwrap();
    for (table, want) in [
        (
            "python = { PYTHONPATH = \"/tmp/x\" }",
            "injection.environment.python",
        ),
        (
            "nodejs = { NODE_OPTIONS = \"-r /tmp/x.js\" }",
            "NODE_OPTIONS: not an agent variable",
        ),
        (
            "java = { JAVA_TOOL_OPTIONS = \"-Da=1\" }",
            "injection.environment.java",
        ),
        (
            "python = { OTEL_RESOURCE_ATTRIBUTES = \"a=b\" }",
            "OTEL_RESOURCE_ATTRIBUTES: oneagent sets it itself",
        ),
        (
            "dotnet = { LD_PRELOAD = \"/tmp/x.so\" }",
            "LD_PRELOAD: oneagent sets it itself",
        ),
        (
            "python = { SW_AGENT_SAMPLE = \"1\" }",
            "SW_AGENT_SAMPLE: not an agent variable",
        ),
        ("ruby = { OTEL_X = \"1\" }", "ruby"),
    ] {
        std::fs::write(
            setup.config_path(),
            format!("{original}[injection.environment]\n{table}\n"),
        )
        .unwrap();
        let mut args = vec!["explain", "--config", &config];
        args.extend_from_slice(&py);
        let out = bus.ctl(None, &args);
        assert_eq!(out.status.code(), Some(2), "{table}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{table}: {}", stderr(&out));
    }

    std::fs::write(
        setup.config_path(),
        format!(
            "{original}[injection.environment]\n\
             python = {{ OTEL_TRACES_SAMPLER = \"parentbased_traceidratio\", \
             OTEL_TRACES_SAMPLER_ARG = \"0.25\" }}\n\
             nodejs = {{ OTEL_PROPAGATORS = \"tracecontext,baggage,b3\" }}\n\
             java = {{ OTEL_INSTRUMENTATION_JDBC_ENABLED = \"false\", SW_AGENT_SAMPLE = \"100\" }}\n"
        ),
    )
    .unwrap();
    let check = |bus: &TestBus| {
        let on = sets(bus, &py);
        for want in [
            "OTEL_TRACES_SAMPLER=parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG=0.25",
        ] {
            assert!(on.contains(&want.to_owned()), "{want}: {on:?}");
        }
        assert!(
            !on.iter().any(|e| e.starts_with("OTEL_PROPAGATORS")),
            "{on:?}"
        );
        let user = sets(
            bus,
            &[
                "--env",
                "OTEL_TRACES_SAMPLER=always_on",
                "--",
                python.as_str(),
                "/srv/shop/app.py",
            ],
        );
        assert!(
            !user.iter().any(|e| e.starts_with("OTEL_TRACES_SAMPLER=")),
            "{user:?}"
        );
        assert!(
            user.contains(&"OTEL_TRACES_SAMPLER_ARG=0.25".to_owned()),
            "{user:?}"
        );
        let node = sets(bus, &["--", "node", "/srv/shop/server.js"]);
        assert!(
            node.contains(&"OTEL_PROPAGATORS=tracecontext,baggage,b3".to_owned()),
            "{node:?}"
        );
        assert!(!node.iter().any(|e| e.contains("SAMPLER")), "{node:?}");
        // The OpenTelemetry Java agent reads OTEL_*, not SkyWalking's SW_*.
        let java = sets(bus, &["--", "java", "-jar", "/srv/orders/orders.jar"]);
        assert!(
            java.contains(&"OTEL_INSTRUMENTATION_JDBC_ENABLED=false".to_owned()),
            "{java:?}"
        );
        assert!(!java.iter().any(|e| e.starts_with("SW_")), "{java:?}");
    };
    check(&bus);
    let _daemon = setup.start();
    check(&bus);
}

#[test]
fn explain_works_with_and_without_the_daemon() {
    let bus = TestBus::start(Policy::Shipped);
    let setup = DaemonSetup::new(&bus);
    std::fs::create_dir_all(&setup.dir).unwrap();
    config_with_agents(&setup);
    let explain = |bus: &TestBus, extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["--json", "explain", "--config"];
        let config = setup.config_path().display().to_string();
        args.push(&config);
        args.extend_from_slice(extra);
        let out = bus.ctl(None, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Without the daemon: the config file alone.
    let v = explain(
        &bus,
        &["--", "java", "-jar", "/srv/order-service-1.4.2.jar"],
    );
    assert_eq!(v["language"], "java");
    assert_eq!(v["action"], "inject");
    assert_eq!(v["service_name"], "order-service");
    assert_eq!(v["service_name_source"], "jar");
    assert!(
        v["decided_by"].as_str().unwrap().starts_with("local"),
        "{v:#}"
    );
    assert!(
        v["executable"].as_str().unwrap().ends_with("/java"),
        "{v:#}"
    );
    for key in [
        "language",
        "action",
        "reason",
        "service_name",
        "service_name_source",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let v = explain(&bus, &["--", "grep", "java", "/etc/hosts"]);
    assert_eq!(v["language"], serde_json::Value::Null);
    assert_eq!(v["action"], "skip");
    let v = explain(
        &bus,
        &[
            "--env",
            "OTEL_SERVICE_NAME=Shop Front",
            "--",
            "python3",
            "/srv/app.py",
        ],
    );
    assert_eq!(v["service_name"], "shop-front");
    let v = explain(
        &bus,
        &["--unit", "payments", "--", "node", "/srv/server.js"],
    );
    assert_eq!(
        (v["service_name"].as_str(), v["systemd_unit"].as_str()),
        (Some("payments"), Some("payments.service"))
    );
    let v = explain(&bus, &["--", "no-such-command-oneagent", "x"]);
    assert_eq!(v["executable"], "");

    // With the daemon: its rules apply.
    let _daemon = setup.start();
    assert!(
        bus.ctl(None, &["disable", "order-service"])
            .status
            .success()
    );
    let v = explain(
        &bus,
        &["--", "java", "-jar", "/srv/order-service-1.4.2.jar"],
    );
    assert_eq!(v["decided_by"], "oneagentd");
    assert_eq!(v["action"], "skip");
    assert_eq!(v["reason_code"], "disabled-service");

    // Bad --env is a usage error.
    let out = bus.ctl(None, &["explain", "--env", "NOEQUALS", "--", "java"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A cgroup named like a systemd service, removed on drop.
struct SystemdLikeCgroup {
    dir: std::path::PathBuf,
}

impl SystemdLikeCgroup {
    fn create(unit: &str) -> Option<Self> {
        for root in [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup",
        ] {
            let base = Path::new(root);
            if !base.join("cgroup.procs").exists() {
                continue;
            }
            let dir = base
                .join(format!("oneagent-it-{}", std::process::id()))
                .join(unit);
            if std::fs::create_dir_all(&dir).is_ok() {
                return Some(SystemdLikeCgroup { dir });
            }
        }
        None
    }

    fn adopt(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for SystemdLikeCgroup {
    fn drop(&mut self) {
        // Processes are gone by now; wait for the kernel to empty the group, then remove it.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}
