//! Helpers: the artefact's path, temporary directories, snapshots, C programs, running commands
//! with and without the library.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use oneagent_preload_core::snapshot::{self, SnapshotData};
use oneagent_preload_core::{JavaAgentKind, LanguageSet};

/// The release library under test.
pub fn so() -> PathBuf {
    if let Some(p) = std::env::var_os("ONEAGENT_PRELOAD_SO") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let p = target.join("release/liboneagent_preload.so");
    assert!(
        p.exists(),
        "{} missing: run `cargo build --release --manifest-path preload/lib/Cargo.toml` first",
        p.display()
    );
    // `cargo test` does not rebuild the cdylib: refuse to test a stale artefact.
    let built = std::fs::metadata(&p).unwrap().modified().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        root.join("src"),
        root.join("../core/src"),
        root.join("../core/src/detect"),
    ] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let m = entry.metadata().unwrap().modified().unwrap();
            assert!(
                m <= built,
                "{} is newer than {}: rebuild with `cargo build --release --manifest-path preload/lib/Cargo.toml`",
                entry.path().display(),
                p.display()
            );
        }
    }
    p
}

/// A fresh temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!(
            "oneagent-preload-it-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
    /// The directory's own name: the service name of a generic entry point in it (`app.py`,
    /// `server.js`, …), which is named after its directory.
    pub fn name(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Agent files laid out under `<dir>/oneagent/agents/…` (so the `/oneagent/` marker applies).
#[derive(Debug)]
pub struct Agents {
    pub java_jar: PathBuf,
    pub python_dir: PathBuf,
    pub node_register: PathBuf,
    pub dotnet_home: PathBuf,
}

/// The marker line the fake Python agent's sitecustomize prints to stderr.
pub const PY_MARKER: &str = "ONEAGENT-TEST-SITECUSTOMIZE";

impl Agents {
    /// Fake agents: a zip-magic jar (not loadable: use [`Agents::with_jar`] for Java runs), a
    /// Python sitecustomize that prints a marker, a register.js.
    pub fn fake(root: &Path) -> Self {
        let base = root.join("oneagent/agents");
        let java_jar = base.join("java/opentelemetry-javaagent.jar");
        std::fs::create_dir_all(java_jar.parent().unwrap()).unwrap();
        std::fs::write(&java_jar, b"PK\x03\x04not really a jar").unwrap();
        let python_dir = base.join("python");
        let auto = python_dir.join("opentelemetry/instrumentation/auto_instrumentation");
        std::fs::create_dir_all(&auto).unwrap();
        std::fs::write(
            auto.join("sitecustomize.py"),
            format!("import sys\nsys.stderr.write('{PY_MARKER}\\n')\n"),
        )
        .unwrap();
        let node_register = base.join("nodejs/register.js");
        std::fs::create_dir_all(node_register.parent().unwrap()).unwrap();
        std::fs::write(
            &node_register,
            "process.stderr.write('ONEAGENT-TEST-NODE\\n');\n",
        )
        .unwrap();
        let dotnet_home = base.join("dotnet");
        std::fs::create_dir_all(&dotnet_home).unwrap();
        Self {
            java_jar,
            python_dir,
            node_register,
            dotnet_home,
        }
    }
}

/// Snapshot options for a test.
#[derive(Debug, Clone)]
pub struct Snap {
    pub enabled: bool,
    pub java_agent: JavaAgentKind,
    pub java_jar: PathBuf,
    pub python_dir: PathBuf,
    pub node_register: PathBuf,
    pub dotnet_home: PathBuf,
    pub report_socket: PathBuf,
    pub disabled_services: Vec<String>,
    /// `[injection] python_log_correlation`.
    pub python_log_correlation: bool,
    /// `[injection] java_options`, space-separated.
    pub java_options: String,
    /// `[injection.environment]` entries, `<runtime> <NAME>=<VALUE>`.
    pub environment: Vec<String>,
}

impl Snap {
    pub fn new(agents: &Agents, report_socket: &Path) -> Self {
        Self {
            enabled: true,
            java_agent: JavaAgentKind::OpenTelemetry,
            java_jar: agents.java_jar.clone(),
            python_dir: agents.python_dir.clone(),
            node_register: agents.node_register.clone(),
            dotnet_home: agents.dotnet_home.clone(),
            report_socket: report_socket.to_path_buf(),
            disabled_services: Vec::new(),
            python_log_correlation: false,
            java_options: String::new(),
            environment: Vec::new(),
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let b = |p: &Path| p.as_os_str().as_bytes().to_vec();
        let (jar, py, node, net, sock) = (
            b(&self.java_jar),
            b(&self.python_dir),
            b(&self.node_register),
            b(&self.dotnet_home),
            b(&self.report_socket),
        );
        let disabled: Vec<&[u8]> = self
            .disabled_services
            .iter()
            .map(|s| s.as_bytes())
            .collect();
        let environment: Vec<&[u8]> = self.environment.iter().map(|s| s.as_bytes()).collect();
        let data = SnapshotData {
            enabled: self.enabled,
            java_agent: self.java_agent,
            agents: LanguageSet::INJECTABLE,
            python_log_correlation: self.python_log_correlation,
            java_agent_path: &jar,
            skywalking_agent_path: &jar,
            python_dir: &py,
            nodejs_register: &node,
            dotnet_home: &net,
            otlp_endpoint: b"http://127.0.0.1:4318",
            skywalking_backend: b"127.0.0.1:11800",
            host_name: b"testhost",
            report_socket: &sock,
            own_agent_marker: b"/oneagent/",
            java_options: self.java_options.as_bytes(),
            environment: &environment,
            disabled_services: &disabled,
            enabled_services: &[],
            skip_executables: &[],
        };
        let mut buf = vec![0u8; snapshot::MAX_SNAPSHOT];
        let n = snapshot::encode(&data, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).unwrap();
    }
}

/// A command with a clean, fixed environment (PATH, HOME, LANG), optionally preloaded.
pub fn cmd(program: impl AsRef<OsStr>, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", "/root")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null());
    c
}

pub fn output(c: &mut Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

/// Runs `c` without and with the library (plus `extra` env for the preloaded run) and asserts
/// identical stdout, stderr and exit status. Returns the preloaded run's output.
pub fn assert_same(mut make: impl FnMut() -> Command, extra: &[(&str, &OsStr)]) -> Output {
    let plain = output(&mut make());
    let mut c = make();
    c.env("LD_PRELOAD", so());
    for (k, v) in extra {
        c.env(k, v);
    }
    let pre = output(&mut c);
    assert_eq!(
        (
            &plain.status.code(),
            String::from_utf8_lossy(&plain.stdout),
            String::from_utf8_lossy(&plain.stderr)
        ),
        (
            &pre.status.code(),
            String::from_utf8_lossy(&pre.stdout),
            String::from_utf8_lossy(&pre.stderr)
        ),
        "output differs with LD_PRELOAD for {:?}",
        make()
    );
    pre
}

/// Compiles a C program (dynamic unless `flags` says otherwise).
pub fn cc(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let st = Command::new("gcc")
        .args(flags)
        .arg("-O1")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "gcc {name}");
    out
}

pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The Python interpreter used for targets (a real ELF, not a pyenv shim).
pub fn python() -> PathBuf {
    for p in ["/usr/bin/python3", "/usr/local/bin/python3"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("python3")
}

/// `KEY=VALUE` lines a target printed, as a map.
pub fn env_lines(out: &[u8]) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A Python script that prints the variables of interest (`KEY=VALUE`, `KEY=<unset>`).
pub const PY_PRINT_ENV: &str = r#"import os
for k in ["PYTHONPATH", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
          "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER", "OTEL_RESOURCE_ATTRIBUTES", "JAVA_TOOL_OPTIONS",
          "NODE_OPTIONS", "OTEL_PYTHON_LOG_CORRELATION", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
          "OTEL_PROPAGATORS"]:
    print(k + "=" + os.environ.get(k, "<unset>"))
"#;

/// Variables the library may set: none may appear when nothing is to be injected.
pub const OURS: [&str; 7] = [
    "PYTHONPATH",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_RESOURCE_ATTRIBUTES",
];

/// Whether `tool` runs (`tool --version` or similar exits).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails the test, naming the Debian package to install, when `tool` is missing: scripts/test
/// installs every tool the tests use, so a missing one is a broken setup, never a pass.
pub fn require(tool: &str, package: &str) {
    assert!(
        have(tool),
        "`{tool}` is not installed: apt-get install -y {package} (bash scripts/test installs it)"
    );
}
