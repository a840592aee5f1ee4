//! `oneagentctl agents install python|nodejs`: puts the OpenTelemetry agent of a language into
//! the directory the daemon's configuration names (`[agents] python`, the directory of
//! `[agents] nodejs`), with the language's own package manager, in the CLI (no D-Bus).
//!
//! - Python: `python3 -m pip install --target` of `opentelemetry-distro`, the OTLP/HTTP
//!   exporter and a fixed set of instrumentations ([`PYTHON_INSTRUMENTATIONS`]), all of one
//!   opentelemetry-python-contrib release (pinning them together keeps pip from backtracking).
//! - Node.js: `npm install --prefix` of `@opentelemetry/auto-instrumentations-node` and
//!   `@opentelemetry/api`, plus a `register.js` (the configured file name) that requires the
//!   package's `register` entry point — the file the preload gives to `node --require`.
//!
//! Nothing is ever half-installed: the package manager writes into a temporary sibling directory
//! (`.NAME.oneagent-new-PID`), the result is checked, and only then is it swapped into place
//! (`renameat2(RENAME_EXCHANGE)`, falling back to two renames where the file system lacks it).
//! A failed or interrupted run leaves the previous agent untouched; the next run removes its
//! leftovers. The installer's output is streamed with a step counter, the elapsed time and (on
//! a terminal) a spinner; failures say what to do (which package provides the missing tool, how
//! to install without network access).

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::CtlFailure;
use crate::cli::{AgentLanguage, AgentsAction, exit};
use oneagent::config::Config;

pub mod java;

/// The opentelemetry-python-contrib release installed when `--version` is not given (the one the
/// end-to-end tests run).
pub const DEFAULT_PYTHON_VERSION: &str = "0.66b1";
/// The `@opentelemetry/auto-instrumentations-node` version installed when `--version` is not
/// given (the one the end-to-end tests run).
pub const DEFAULT_NODE_VERSION: &str = "0.81.2";
/// The Python instrumentations installed with the distro (`opentelemetry-instrumentation-NAME`).
/// Each one is inert unless its library is imported by the application; none pulls in the
/// library it instruments.
pub const PYTHON_INSTRUMENTATIONS: &[&str] = &[
    "aiohttp-client",
    "asgi",
    "celery",
    "dbapi",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "logging",
    "psycopg2",
    "pymongo",
    "pymysql",
    "redis",
    "requests",
    "sqlalchemy",
    "sqlite3",
    "urllib",
    "urllib3",
    "wsgi",
];
/// The Node.js package whose `register` entry point starts the SDK.
pub const NODE_PACKAGE: &str = "@opentelemetry/auto-instrumentations-node";
/// Written into every agent directory this module installs: what, which version, when. Package
/// removal scripts (purge) delete only directories that carry it.
pub const STAMP_FILE: &str = ".oneagent-install.json";
/// The file that proves a Python agent directory is usable; the daemon's agent checks look for
/// the same file.
pub use oneagent::decision::PYTHON_SITECUSTOMIZE;

/// What `agents install` does; the CLI fills it from its flags.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The language.
    pub language: AgentLanguage,
    /// The daemon's configuration file (a missing file means the built-in defaults).
    pub config: PathBuf,
    /// Install here instead of the configured directory.
    pub dir: Option<PathBuf>,
    /// The version to install instead of the default.
    pub version: Option<String>,
    /// Install without the network: pip wheels directory or npm cache directory.
    pub from: Option<PathBuf>,
    /// A Maven repository (Java agents only) instead of Maven's configured ones.
    pub repository: Option<String>,
    /// Where python3, npm, node, java and mvn are looked up (`PATH`); also the tools' `PATH`.
    pub search_path: OsString,
}

/// The class of a failure; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bad argument or configuration file.
    Usage,
    /// The target directory is not writable (not root).
    Denied,
    /// python3, pip, node or npm is missing.
    MissingTool,
    /// The package registry cannot be reached.
    Unreachable,
    /// Anything else (the installer failed, the result is unusable).
    Failed,
}

/// A failure of `agents install`, with a message that says what to do.
#[derive(Debug)]
pub struct InstallError {
    /// The class.
    pub kind: ErrorKind,
    /// The message (may span several lines).
    pub message: String,
}

impl InstallError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        InstallError {
            kind,
            message: message.into(),
        }
    }

    /// The exit code of oneagentctl for this failure.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Usage => exit::USAGE,
            ErrorKind::Denied => exit::DENIED,
            ErrorKind::MissingTool | ErrorKind::Unreachable | ErrorKind::Failed => exit::FAILED,
        }
    }
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What was installed.
#[derive(Debug, Clone, Serialize)]
pub struct InstallSummary {
    /// `python` or `nodejs`.
    pub language: String,
    /// The directory that now holds the agent.
    pub dir: PathBuf,
    /// What the daemon's configuration must name: the directory (Python) or `register.js`.
    pub entry: PathBuf,
    /// The main package.
    pub package: String,
    /// Its installed version.
    pub version: String,
    /// How many packages the directory holds.
    pub packages: usize,
    /// The interpreter or package manager used, with versions.
    pub tool: String,
    /// Where the packages came from.
    pub source: String,
    /// Whether an earlier installation was replaced.
    pub replaced: bool,
    /// The configuration file read.
    pub config: PathBuf,
    /// Whether `entry` is what the configuration names (so the daemon uses it).
    pub configured: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The stamp written into an installed agent directory.
#[derive(Debug, Serialize)]
struct Stamp<'a> {
    language: &'a str,
    package: &'a str,
    version: &'a str,
    packages: usize,
    source: &'a str,
    installed_by: String,
    installed_at_unix: u64,
}

// ---------------------------------------------------------------------------------------------
// Progress display

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Step counter, streamed tool output with elapsed time, and a spinner line on terminals.
/// Output errors are ignored: progress is best effort, the summary and errors are not.
pub struct Progress<'a> {
    out: &'a mut dyn Write,
    tty: bool,
    start: Instant,
    step: usize,
    total: usize,
    spin: usize,
    status_shown: bool,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("tty", &self.tty)
            .field("step", &self.step)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl<'a> Progress<'a> {
    /// Progress on `out`; `tty` adds the spinner line (redrawn in place).
    pub fn new(out: &'a mut dyn Write, tty: bool) -> Self {
        Progress {
            out,
            tty,
            start: Instant::now(),
            step: 0,
            total: 0,
            spin: 0,
            status_shown: false,
        }
    }

    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Starts the next of `total` steps.
    pub fn step(&mut self, total: usize, title: &str) {
        self.clear_status();
        self.total = total;
        self.step += 1;
        let _ = writeln!(
            self.out,
            "==> [{}/{}] {title}  ({:.1}s)",
            self.step,
            self.total,
            self.elapsed()
        );
        let _ = self.out.flush();
    }

    /// A line of the installer's output.
    pub fn line(&mut self, text: &str) {
        self.clear_status();
        let _ = writeln!(self.out, "    {:>6.1}s  {text}", self.elapsed());
        self.draw_status();
    }

    /// A remark of ours inside a step.
    pub fn note(&mut self, text: &str) {
        self.clear_status();
        let _ = writeln!(self.out, "    {text}");
        let _ = self.out.flush();
    }

    /// Advances the spinner (terminals only).
    pub fn tick(&mut self) {
        self.spin = self.spin.wrapping_add(1);
        self.draw_status();
    }

    fn draw_status(&mut self) {
        if !self.tty {
            let _ = self.out.flush();
            return;
        }
        let glyph = SPINNER
            .get(self.spin % SPINNER.len())
            .copied()
            .unwrap_or('-');
        let _ = write!(
            self.out,
            "\r\x1b[K{glyph} [{}/{}] {:.1}s",
            self.step,
            self.total,
            self.elapsed()
        );
        let _ = self.out.flush();
        self.status_shown = true;
    }

    fn clear_status(&mut self) {
        if self.status_shown {
            let _ = write!(self.out, "\r\x1b[K");
            self.status_shown = false;
        }
    }

    /// Removes the spinner line.
    pub fn finish(&mut self) {
        self.clear_status();
        let _ = self.out.flush();
    }
}

/// The printable part of a tool's output line: the text after the last carriage return, without
/// escape sequences or other control characters.
fn clean_line(raw: &str) -> String {
    let last = raw
        .rsplit('\r')
        .find(|s| !s.trim().is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(last.len());
    let mut chars = last.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}

/// The result of one installer run.
#[derive(Debug)]
struct ToolRun {
    status: ExitStatus,
    /// The last lines of its output (stdout and stderr interleaved as they came).
    tail: Vec<String>,
}

const TAIL_LINES: usize = 40;

/// Runs `cmd`, streaming every line of its stdout and stderr through `progress`.
fn run_streaming(progress: &mut Progress<'_>, cmd: &mut Command) -> std::io::Result<ToolRun> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut pipes: Vec<Box<dyn Read + Send>> = Vec::new();
    if let Some(p) = child.stdout.take() {
        pipes.push(Box::new(p));
    }
    if let Some(p) = child.stderr.take() {
        pipes.push(Box::new(p));
    }
    let readers: Vec<_> = pipes
        .into_iter()
        .map(|pipe| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).split(b'\n') {
                    let Ok(bytes) = line else { break };
                    if tx
                        .send(String::from_utf8_lossy(&bytes).into_owned())
                        .is_err()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    loop {
        match rx.recv_timeout(Duration::from_millis(120)) {
            Ok(raw) => {
                let line = clean_line(&raw);
                if line.is_empty() {
                    continue;
                }
                progress.line(&line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => progress.tick(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait()?;
    Ok(ToolRun {
        status,
        tail: tail.into(),
    })
}

/// Runs `cmd` and returns its trimmed stdout, or a description of the failure.
fn capture(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(format!("{} {}", describe_status(out.status), last.trim()))
    }
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "failed".to_owned(),
    }
}

/// The first executable file called `name` in `search_path`.
pub fn find_in_path(name: &str, search_path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(search_path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

// ---------------------------------------------------------------------------------------------
// Staging: install beside the target, swap into place on success

/// A temporary sibling directory of the target; removed on drop unless committed.
#[derive(Debug)]
struct Staging {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

fn io_failure(what: &str, path: &Path, e: &std::io::Error) -> InstallError {
    if e.kind() == std::io::ErrorKind::PermissionDenied
        || e.raw_os_error() == Some(libc::EROFS)
        || e.raw_os_error() == Some(libc::EPERM)
    {
        InstallError::new(
            ErrorKind::Denied,
            format!(
                "{what} {}: {e}; agents are installed for every process on the host, run it as \
                 root (sudo), or choose a writable directory with --dir",
                path.display()
            ),
        )
    } else {
        InstallError::new(ErrorKind::Failed, format!("{what} {}: {e}", path.display()))
    }
}

/// Whether the process that a leftover's name points to is gone.
fn leftover_is_stale(name: &str) -> bool {
    name.rsplit('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_none_or(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists())
}

impl Staging {
    /// Creates the target's parent when needed, removes leftovers of earlier interrupted runs and
    /// creates the temporary directory (mode 0755).
    fn new(target: &Path) -> Result<Staging, InstallError> {
        use std::os::unix::fs::DirBuilderExt;
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(InstallError::new(
                ErrorKind::Usage,
                format!("{} cannot be an agent directory", target.display()),
            ));
        };
        let name = name.to_string_lossy();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| io_failure("cannot create", parent, &e))?;
        let prefix = format!(".{name}.oneagent-");
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if file_name.starts_with(&prefix) && leftover_is_stale(&file_name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let tmp = parent.join(format!("{prefix}new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&tmp)
            .map_err(|e| io_failure("cannot create", &tmp, &e))?;
        // The mode given to mkdir is filtered by the umask; agents must be readable by all.
        let _ = std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        Ok(Staging {
            target: target.to_owned(),
            tmp,
            committed: false,
        })
    }

    /// Puts the staged directory in place. Returns whether an earlier installation was
    /// replaced (it is deleted).
    fn commit(mut self) -> Result<bool, InstallError> {
        let replaced = match std::fs::symlink_metadata(&self.target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_failure("cannot inspect", &self.target, &e)),
            Ok(m) if !m.is_dir() => {
                return Err(InstallError::new(
                    ErrorKind::Failed,
                    format!(
                        "{} exists and is not a directory; move it away and try again",
                        self.target.display()
                    ),
                ));
            }
            Ok(_) => true,
        };
        if !replaced {
            std::fs::rename(&self.tmp, &self.target)
                .map_err(|e| io_failure("cannot rename into place", &self.target, &e))?;
            self.committed = true;
            return Ok(false);
        }
        // One atomic step: the target is the old directory or the new one, never neither.
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(
            AT_FDCWD,
            &self.tmp,
            AT_FDCWD,
            &self.target,
            RenameFlags::RENAME_EXCHANGE,
        ) {
            Ok(()) => {
                // self.tmp now holds the old installation; Drop deletes it.
                return Ok(true);
            }
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {}
            Err(e) => {
                return Err(io_failure(
                    "cannot swap into place",
                    &self.target,
                    &std::io::Error::from(e),
                ));
            }
        }
        // No RENAME_EXCHANGE here: move the old one aside, then the new one in.
        let name = self
            .target
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let old = self
            .target
            .with_file_name(format!(".{name}.oneagent-old-{}", std::process::id()));
        std::fs::rename(&self.target, &old)
            .map_err(|e| io_failure("cannot move aside", &self.target, &e))?;
        if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
            let _ = std::fs::rename(&old, &self.target);
            return Err(io_failure("cannot rename into place", &self.target, &e));
        }
        self.committed = true;
        let _ = std::fs::remove_dir_all(&old);
        Ok(true)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Installing

/// A version must be a plain version string: it becomes part of a package specifier.
fn check_version(version: &str) -> Result<(), InstallError> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && !version.starts_with('-')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if ok {
        Ok(())
    } else {
        Err(InstallError::new(
            ErrorKind::Usage,
            format!("--version `{version}` is not a version such as 0.66b1 or 0.81.2"),
        ))
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_owned())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The end every install shares: the stamp written into the staging directory (`stamp_source`
/// says where the files came from), the directory swapped in, and the summary completed with
/// whether an earlier installation was replaced and how long it all took.
fn complete(
    staging: Staging,
    progress: &mut Progress<'_>,
    steps: usize,
    stamp_source: &str,
    mut summary: InstallSummary,
    started: Instant,
) -> Result<InstallSummary, InstallError> {
    write_stamp(
        &staging.tmp,
        &Stamp {
            language: &summary.language,
            package: &summary.package,
            version: &summary.version,
            packages: summary.packages,
            source: stamp_source,
            installed_by: format!("oneagentctl {}", oneagent::VERSION),
            installed_at_unix: unix_now(),
        },
    )?;
    progress.step(
        steps,
        &format!("moving into place: {}", summary.dir.display()),
    );
    summary.replaced = staging.commit()?;
    progress.finish();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn write_stamp(dir: &Path, stamp: &Stamp<'_>) -> Result<(), InstallError> {
    let path = dir.join(STAMP_FILE);
    let text = serde_json::to_string_pretty(stamp).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| io_failure("cannot write", &path, &e))
}

/// Whether a failed installer's output says the registry could not be reached.
fn looks_unreachable(tail: &[String]) -> bool {
    const SIGNS: &[&str] = &[
        // pip / urllib3 / requests
        "failed to establish a new connection",
        "temporary failure in name resolution",
        "name or service not known",
        "max retries exceeded",
        "connection refused",
        "network is unreachable",
        "connecttimeout",
        "read timed out",
        "proxyerror",
        "could not fetch url",
        "(from versions: none)",
        // npm
        "enotfound",
        "eai_again",
        "etimedout",
        "econnrefused",
        "econnreset",
        "enetunreach",
        "ehostunreach",
        "network request to",
        "request to https://",
        "socket hang up",
    ];
    tail.iter().any(|line| {
        let l = line.to_ascii_lowercase();
        SIGNS.iter().any(|s| l.contains(s))
    })
}

/// The pip requirements of a contrib release.
pub fn python_requirements(version: &str) -> Vec<String> {
    let mut reqs = vec![
        format!("opentelemetry-distro=={version}"),
        // The exporter follows the core release train (1.x); pip picks the one that matches the
        // distro's SDK.
        "opentelemetry-exporter-otlp-proto-http".to_owned(),
    ];
    reqs.extend(
        PYTHON_INSTRUMENTATIONS
            .iter()
            .map(|i| format!("opentelemetry-instrumentation-{i}=={version}")),
    );
    reqs
}

/// The npm package specifiers of a release.
pub fn node_packages(version: &str) -> Vec<String> {
    vec![
        format!("{NODE_PACKAGE}@{version}"),
        "@opentelemetry/api@^1".to_owned(),
    ]
}

fn count_dist_infos(dir: &Path) -> (usize, Option<String>) {
    let mut count = 0;
    let mut distro = None;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".dist-info") {
                count += 1;
                if let Some(v) = stem.strip_prefix("opentelemetry_distro-") {
                    distro = Some(v.to_owned());
                }
            }
        }
    }
    (count, distro)
}

fn python_offline_hint(version: &str, py_version: &str) -> String {
    let minor: String = py_version.split('.').take(2).collect::<Vec<_>>().join(".");
    format!(
        "To install without access to the package index:\n\
         \x20 1. on a host that can reach it, with Python {minor} and the same CPU architecture:\n\
         \x20      python3 -m pip download --dest oneagent-python-wheels {}\n\
         \x20 2. copy the directory oneagent-python-wheels to this host and run:\n\
         \x20      sudo oneagentctl agents install python --version {version} --from oneagent-python-wheels\n\
         Behind a proxy, set HTTPS_PROXY; to use a mirror, set PIP_INDEX_URL.",
        python_requirements(version).join(" ")
    )
}

fn node_offline_hint(version: &str) -> String {
    format!(
        "To install without access to the npm registry:\n\
         \x20 1. on a host that can reach it:\n\
         \x20      npm install --prefix \"$(mktemp -d)\" --cache oneagent-npm-cache {}\n\
         \x20 2. copy the directory oneagent-npm-cache to this host and run:\n\
         \x20      sudo oneagentctl agents install nodejs --version {version} --from oneagent-npm-cache\n\
         Behind a proxy, run `npm config set https-proxy URL`; to use a mirror, `npm config set registry URL`.",
        node_packages(version)
            .iter()
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn check_from(from: Option<&Path>) -> Result<Option<PathBuf>, InstallError> {
    match from {
        None => Ok(None),
        Some(p) if p.is_dir() => Ok(Some(absolute(p))),
        Some(p) => Err(InstallError::new(
            ErrorKind::Usage,
            format!("--from {}: not a directory", p.display()),
        )),
    }
}

const PYTHON_STEPS: usize = 4;

fn install_python(
    opts: &InstallOptions,
    config: &Config,
    progress: &mut Progress<'_>,
) -> Result<InstallSummary, InstallError> {
    let started = Instant::now();
    let target = absolute(opts.dir.as_deref().unwrap_or(&config.agents.python));
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_PYTHON_VERSION.to_owned());
    check_version(&version)?;
    let from = check_from(opts.from.as_deref())?;

    progress.step(PYTHON_STEPS, "checking python3 and pip");
    let python = find_in_path("python3", &opts.search_path).ok_or_else(|| {
        InstallError::new(
            ErrorKind::MissingTool,
            "python3 not found in PATH: install Python 3 (Debian/Ubuntu: `apt install python3 \
             python3-pip`; RHEL/Fedora: `dnf install python3 python3-pip`; SUSE: `zypper install \
             python3 python3-pip`) and run this again",
        )
    })?;
    let py_version = capture(
        Command::new(&python)
            .env("PATH", &opts.search_path)
            .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]),
    )
    .map_err(|e| {
        InstallError::new(
            ErrorKind::MissingTool,
            format!("{} does not run: {e}", python.display()),
        )
    })?;
    let pip_version = capture(Command::new(&python).env("PATH", &opts.search_path).args([
        "-m",
        "pip",
        "--version",
    ]))
    .map_err(|_| {
        InstallError::new(
            ErrorKind::MissingTool,
            format!(
                "pip is not available for {} (Python {py_version}): install it (Debian/Ubuntu: \
                 `apt install python3-pip`; RHEL/Fedora: `dnf install python3-pip`; SUSE: \
                 `zypper install python3-pip`) and run this again",
                python.display()
            ),
        )
    })?;
    let pip_short: String = pip_version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let tool = format!("{} (Python {py_version}, {pip_short})", python.display());
    progress.note(&tool);
    let source = match &from {
        Some(dir) => format!("local wheels in {} (no index)", dir.display()),
        None => std::env::var("PIP_INDEX_URL")
            .map(|u| format!("package index {u}"))
            .unwrap_or_else(|_| "PyPI (https://pypi.org/simple)".to_owned()),
    };

    let staging = Staging::new(&target)?;
    let requirements = python_requirements(&version);
    progress.step(
        PYTHON_STEPS,
        &format!(
            "installing opentelemetry-distro {version} with {} instrumentations from {source}",
            PYTHON_INSTRUMENTATIONS.len()
        ),
    );
    let mut cmd = Command::new(&python);
    cmd.env("PATH", &opts.search_path)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_PROGRESS_BAR", "off")
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PYTHONUNBUFFERED", "1")
        .args(["-m", "pip", "install", "--target"])
        .arg(&staging.tmp);
    if let Some(dir) = &from {
        cmd.arg("--no-index").arg("--find-links").arg(dir);
    }
    cmd.args(&requirements);
    let run = run_streaming(progress, &mut cmd).map_err(|e| {
        InstallError::new(
            ErrorKind::Failed,
            format!("cannot run {} -m pip: {e}", python.display()),
        )
    })?;
    if !run.status.success() {
        let unchanged = format!("Nothing was changed in {}.", target.display());
        let status = describe_status(run.status);
        return Err(if from.is_none() && looks_unreachable(&run.tail) {
            InstallError::new(
                ErrorKind::Unreachable,
                format!(
                    "pip could not reach the package index ({status}). {unchanged}\n{}",
                    python_offline_hint(&version, &py_version)
                ),
            )
        } else {
            InstallError::new(
                ErrorKind::Failed,
                format!("pip failed ({status}); its last lines are above. {unchanged}"),
            )
        });
    }

    progress.step(PYTHON_STEPS, "checking the installed agent");
    if !staging.tmp.join(PYTHON_SITECUSTOMIZE).is_file() {
        return Err(InstallError::new(
            ErrorKind::Failed,
            format!(
                "pip succeeded but {PYTHON_SITECUSTOMIZE} is missing, so Python would not load the \
                 agent. Nothing was changed in {}.",
                target.display()
            ),
        ));
    }
    capture(
        Command::new(&python)
            .env("PATH", &opts.search_path)
            .env_remove("PYTHONPATH")
            .args([
                "-c",
                "import sys; sys.path.insert(0, sys.argv[1]); \
                 import opentelemetry.distro, opentelemetry.exporter.otlp.proto.http",
            ])
            .arg(&staging.tmp),
    )
    .map_err(|e| {
        InstallError::new(
            ErrorKind::Failed,
            format!(
                "the installed agent cannot be imported by {}: {e}. Nothing was changed in {}.",
                python.display(),
                target.display()
            ),
        )
    })?;
    let (packages, distro) = count_dist_infos(&staging.tmp);
    let installed = distro.unwrap_or_else(|| version.clone());
    progress.note(&format!(
        "opentelemetry-distro {installed}, {packages} packages; imports with Python {py_version}"
    ));
    complete(
        staging,
        progress,
        PYTHON_STEPS,
        &source.clone(),
        InstallSummary {
            language: "python".to_owned(),
            configured: target == absolute(&config.agents.python),
            entry: target.clone(),
            dir: target,
            package: "opentelemetry-distro".to_owned(),
            version: installed,
            packages,
            tool,
            source,
            replaced: false,
            config: opts.config.clone(),
            seconds: 0.0,
        },
        started,
    )
}

/// `register.js`: what `node --require` loads.
pub fn register_js() -> String {
    format!(
        "// Written by `oneagentctl agents install nodejs` (oneagent {}).\n\
         // Loads the OpenTelemetry Node.js auto-instrumentation installed beside this file;\n\
         // oneagent passes this file to `node --require`.\n\
         'use strict';\n\
         require('{NODE_PACKAGE}/register');\n",
        oneagent::VERSION
    )
}

const NODE_STEPS: usize = 4;

fn install_nodejs(
    opts: &InstallOptions,
    config: &Config,
    progress: &mut Progress<'_>,
) -> Result<InstallSummary, InstallError> {
    let started = Instant::now();
    let file_name = config
        .agents
        .nodejs
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| "register.js".into());
    let entry = match &opts.dir {
        Some(dir) => absolute(dir).join(&file_name),
        None => absolute(&config.agents.nodejs),
    };
    let Some(target) = entry.parent().map(Path::to_path_buf) else {
        return Err(InstallError::new(
            ErrorKind::Usage,
            format!("{} has no directory", entry.display()),
        ));
    };
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_NODE_VERSION.to_owned());
    check_version(&version)?;
    let from = check_from(opts.from.as_deref())?;

    progress.step(NODE_STEPS, "checking node and npm");
    let missing = |what: &str| {
        InstallError::new(
            ErrorKind::MissingTool,
            format!(
                "{what} not found in PATH: install Node.js with npm (Debian/Ubuntu: `apt install \
                 nodejs npm`; RHEL/Fedora: `dnf install nodejs npm`; SUSE: `zypper install nodejs \
                 npm`; or from https://nodejs.org) and run this again"
            ),
        )
    };
    let node = find_in_path("node", &opts.search_path).ok_or_else(|| missing("node"))?;
    let npm = find_in_path("npm", &opts.search_path).ok_or_else(|| missing("npm"))?;
    let node_version = capture(
        Command::new(&node)
            .env("PATH", &opts.search_path)
            .arg("--version"),
    )
    .map_err(|e| {
        InstallError::new(
            ErrorKind::MissingTool,
            format!("{} does not run: {e}", node.display()),
        )
    })?;
    let npm_version = capture(
        Command::new(&npm)
            .env("PATH", &opts.search_path)
            .arg("--version"),
    )
    .map_err(|e| {
        InstallError::new(
            ErrorKind::MissingTool,
            format!("{} does not run: {e}", npm.display()),
        )
    })?;
    let tool = format!(
        "{} (node {node_version}), {} (npm {npm_version})",
        node.display(),
        npm.display()
    );
    progress.note(&tool);
    let source = match &from {
        Some(dir) => format!("npm cache {} (offline)", dir.display()),
        None => std::env::var("npm_config_registry")
            .map(|u| format!("registry {u}"))
            .unwrap_or_else(|_| "the npm registry".to_owned()),
    };

    let staging = Staging::new(&target)?;
    progress.step(
        NODE_STEPS,
        &format!("installing {NODE_PACKAGE} {version} from {source}"),
    );
    let mut cmd = Command::new(&npm);
    cmd.env("PATH", &opts.search_path)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_progress", "false")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=http"])
        .arg("--prefix")
        .arg(&staging.tmp);
    if let Some(dir) = &from {
        cmd.arg("--offline").arg("--cache").arg(dir);
    }
    cmd.args(node_packages(&version));
    let run = run_streaming(progress, &mut cmd).map_err(|e| {
        InstallError::new(
            ErrorKind::Failed,
            format!("cannot run {}: {e}", npm.display()),
        )
    })?;
    if !run.status.success() {
        let unchanged = format!("Nothing was changed in {}.", target.display());
        let status = describe_status(run.status);
        return Err(if from.is_none() && looks_unreachable(&run.tail) {
            InstallError::new(
                ErrorKind::Unreachable,
                format!(
                    "npm could not reach the registry ({status}). {unchanged}\n{}",
                    node_offline_hint(&version)
                ),
            )
        } else {
            InstallError::new(
                ErrorKind::Failed,
                format!("npm failed ({status}); its last lines are above. {unchanged}"),
            )
        });
    }

    progress.step(
        NODE_STEPS,
        &format!("writing and checking {}", file_name.to_string_lossy()),
    );
    let package_json = staging
        .tmp
        .join("node_modules")
        .join(NODE_PACKAGE)
        .join("package.json");
    let installed = std::fs::read_to_string(&package_json)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned))
        .ok_or_else(|| {
            InstallError::new(
                ErrorKind::Failed,
                format!(
                    "npm succeeded but {} is missing or unreadable. Nothing was changed in {}.",
                    package_json.display(),
                    target.display()
                ),
            )
        })?;
    let register = staging.tmp.join(&file_name);
    std::fs::write(&register, register_js())
        .map_err(|e| io_failure("cannot write", &register, &e))?;
    capture(
        Command::new(&node)
            .env("PATH", &opts.search_path)
            .env_remove("NODE_OPTIONS")
            .current_dir(&staging.tmp)
            .args([
                "-e",
                "require.resolve(process.argv[2], { paths: [process.argv[1]] })",
            ])
            .arg(&staging.tmp)
            .arg(format!("{NODE_PACKAGE}/register")),
    )
    .map_err(|e| {
        InstallError::new(
            ErrorKind::Failed,
            format!(
                "node cannot resolve {NODE_PACKAGE}/register in the installed directory: {e}. \
                 Nothing was changed in {}.",
                target.display()
            ),
        )
    })?;
    let packages = count_node_packages(&staging.tmp.join("node_modules"));
    progress.note(&format!("{NODE_PACKAGE} {installed}, {packages} packages"));
    complete(
        staging,
        progress,
        NODE_STEPS,
        &source.clone(),
        InstallSummary {
            language: "nodejs".to_owned(),
            configured: entry == absolute(&config.agents.nodejs),
            entry,
            dir: target,
            package: NODE_PACKAGE.to_owned(),
            version: installed,
            packages,
            tool,
            source,
            replaced: false,
            config: opts.config.clone(),
            seconds: 0.0,
        },
        started,
    )
}

/// Packages under `node_modules` (scoped ones counted individually).
fn count_node_packages(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            if n.starts_with('@') {
                std::fs::read_dir(dir.join(&n))
                    .map(|d| d.count())
                    .unwrap_or(0)
            } else {
                1
            }
        })
        .sum()
}

/// Installs the agent of `opts.language`, reporting progress; the configuration file says where.
pub fn install(
    opts: &InstallOptions,
    progress: &mut Progress<'_>,
) -> Result<InstallSummary, InstallError> {
    let (config, _) = Config::load(&opts.config)
        .map_err(|e| InstallError::new(ErrorKind::Usage, e.to_string()))?;
    if opts.repository.is_some()
        && matches!(opts.language, AgentLanguage::Python | AgentLanguage::Nodejs)
    {
        return Err(InstallError::new(
            ErrorKind::Usage,
            "--repository is a Maven repository, for java and skywalking only (pip: set \
             PIP_INDEX_URL; npm: `npm config set registry URL`)",
        ));
    }
    match opts.language {
        AgentLanguage::Python => install_python(opts, &config, progress),
        AgentLanguage::Nodejs => install_nodejs(opts, &config, progress),
        AgentLanguage::Java => java::install_java(opts, &config, &java::OTEL_JAVA, progress),
        AgentLanguage::Skywalking => java::install_java(opts, &config, &java::SKYWALKING, progress),
    }
}

/// The closing lines for people.
pub fn render_summary(s: &InstallSummary) -> String {
    let what = match s.language.as_str() {
        "python" => "Python",
        "java" => "OpenTelemetry Java",
        "skywalking" => "SkyWalking Java",
        _ => "Node.js",
    };
    let mut text = format!(
        "installed the {what} agent: {} {} ({} packages) in {} in {:.1}s{}\n",
        s.package,
        s.version,
        s.packages,
        s.dir.display(),
        s.seconds,
        if s.replaced {
            " (replaced the previous one)"
        } else {
            ""
        }
    );
    text.push_str(&format!("    with {}, from {}\n", s.tool, s.source));
    if s.configured {
        text.push_str(&format!(
            "    {} processes get it from their next start once the daemon has re-checked its \
             agents (a running oneagentd is asked to, else `sudo oneagentctl reload`); \
             `oneagentctl pending` lists running processes that would gain it.\n",
            match s.language.as_str() {
                "java" | "skywalking" => "Java",
                _ => what,
            }
        ));
    } else {
        let key = match s.language.as_str() {
            "python" => "python",
            "java" => "java",
            "skywalking" => "java_skywalking",
            _ => "nodejs",
        };
        text.push_str(&format!(
            "    note: {} does not use this path; to use it, set `{key} = \"{}\"` in [agents] \
             there and run `sudo oneagentctl reload`.\n",
            s.config.display(),
            s.entry.display()
        ));
    }
    text
}

/// `oneagentctl agents …`: runs in the CLI. Progress goes to `out` (to stderr with `--json`,
/// where `out` gets the summary as JSON).
pub fn run(action: AgentsAction, json: bool, out: &mut dyn Write) -> Result<(), CtlFailure> {
    match action {
        AgentsAction::Install {
            language,
            dir,
            version,
            from,
            repository,
            config,
        } => {
            let opts = InstallOptions {
                language,
                config,
                dir,
                version,
                from,
                repository,
                search_path: std::env::var_os("PATH").unwrap_or_else(|| {
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
                }),
            };
            let result = if json {
                let mut err = std::io::stderr();
                let tty = err.is_terminal();
                install(&opts, &mut Progress::new(&mut err, tty))
            } else {
                let tty = std::io::stdout().is_terminal();
                install(&opts, &mut Progress::new(out, tty))
            };
            let summary = result.map_err(|e| CtlFailure {
                code: e.exit_code(),
                message: format!("agents install {}: {}", language_name(language), e.message),
            })?;
            let text = if json {
                serde_json::to_string_pretty(&summary).unwrap_or_default() + "\n"
            } else {
                render_summary(&summary)
            };
            out.write_all(text.as_bytes()).map_err(|e| CtlFailure {
                code: exit::FAILED,
                message: format!("writing output: {e}"),
            })
        }
    }
}

fn language_name(language: AgentLanguage) -> &'static str {
    match language {
        AgentLanguage::Python => "python",
        AgentLanguage::Nodejs => "nodejs",
        AgentLanguage::Java => "java",
        AgentLanguage::Skywalking => "skywalking",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake `python3` that understands `-c` (version, import check) and `-m pip`, driven by
    /// `FAKE_MODE`: ok, fail, offline, nopip, nosite, partial.
    const FAKE_PYTHON: &str = r#"#!/bin/sh
mode=$(cat "$(dirname "$0")/mode")
if [ "$1" = "-c" ]; then
    case "$2" in
    *version_info*) echo 3.11.2; exit 0 ;;
    *) [ "$mode" = noimport ] && { echo "ModuleNotFoundError: No module named 'wrapt'" >&2; exit 1; }
       exit 0 ;;
    esac
fi
[ "$1 $2" = "-m pip" ] || exit 64
[ "$mode" = nopip ] && { echo "/usr/bin/python3: No module named pip" >&2; exit 1; }
[ "$3" = "--version" ] && { echo "pip 23.0.1 from /fake/pip (python 3.11)"; exit 0; }
shift 2
target=
while [ $# -gt 0 ]; do
    [ "$1" = "--target" ] && target=$2
    echo "$1" >>"$(dirname "$0")/args"
    shift
done
echo "Collecting opentelemetry-distro==0.66b1"
echo "  Downloading opentelemetry_distro-0.66b1-py3-none-any.whl (4 kB)" >&2
case "$mode" in
offline)
    echo "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(Failed to establish a new connection: [Errno -3] Temporary failure in name resolution)'" >&2
    echo "ERROR: Could not find a version that satisfies the requirement opentelemetry-distro==0.66b1 (from versions: none)" >&2
    exit 1 ;;
fail)
    echo "ERROR: ResolutionImpossible: conflicting dependencies" >&2
    exit 1 ;;
partial)
    mkdir -p "$target/opentelemetry/instrumentation/auto_instrumentation"
    : >"$target/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py"
    echo "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device" >&2
    exit 1 ;;
esac
mkdir -p "$target/opentelemetry_distro-0.66b1.dist-info" "$target/wrapt-2.5.2.dist-info"
if [ "$mode" != nosite ]; then
    mkdir -p "$target/opentelemetry/instrumentation/auto_instrumentation"
    : >"$target/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py"
fi
echo "Installing collected packages: wrapt, opentelemetry-distro"
printf 'Successfully installed opentelemetry-distro-0.66b1 wrapt-2.5.2\n'
"#;

    /// A fake `npm` (and `node`) for the Node.js installer.
    const FAKE_NPM: &str = r#"#!/bin/sh
mode=$(cat "$(dirname "$0")/mode")
[ "$1" = "--version" ] && { echo 9.2.0; exit 0; }
prefix=
while [ $# -gt 0 ]; do
    [ "$1" = "--prefix" ] && prefix=$2
    echo "$1" >>"$(dirname "$0")/args"
    shift
done
echo "npm http fetch GET 200 https://registry.npmjs.org/@opentelemetry%2fauto-instrumentations-node 120ms" >&2
if [ "$mode" = offline ]; then
    echo "npm ERR! code ENOTFOUND" >&2
    echo "npm ERR! request to https://registry.npmjs.org/@opentelemetry%2fapi failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org" >&2
    exit 1
fi
pkg="$prefix/node_modules/@opentelemetry/auto-instrumentations-node"
mkdir -p "$pkg/build/src" "$prefix/node_modules/@opentelemetry/api"
echo '{"name":"@opentelemetry/auto-instrumentations-node","version":"0.81.2","exports":{"./register":"./build/src/register.js"}}' >"$pkg/package.json"
: >"$pkg/build/src/register.js"
echo "added 2 packages in 1s"
"#;

    const FAKE_NODE: &str = r#"#!/bin/sh
[ "$1" = "--version" ] && { echo v20.20.2; exit 0; }
[ "$1" = "-e" ] && [ -f "$3/node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js" ] && exit 0
echo "Error: Cannot find module" >&2
exit 1
"#;

    /// A temporary root with fake tools in `bin/` (each file written executable, `bin/mode`
    /// telling the fakes how to behave) and `agents/` as the install target; the Java
    /// installer's tests use it too.
    pub(super) struct Fixture {
        _tmp: tempfile::TempDir,
        pub(super) root: PathBuf,
        pub(super) bin: PathBuf,
    }

    impl Fixture {
        /// The Python and Node.js fakes.
        fn new(mode: &str) -> Fixture {
            Fixture::with_tools(
                mode,
                &[
                    ("python3", FAKE_PYTHON.as_bytes()),
                    ("npm", FAKE_NPM.as_bytes()),
                    ("node", FAKE_NODE.as_bytes()),
                ],
            )
        }

        pub(super) fn with_tools(mode: &str, tools: &[(&str, &[u8])]) -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_owned();
            let bin = root.join("bin");
            std::fs::create_dir(&bin).unwrap();
            for (name, content) in tools {
                let p = bin.join(name);
                std::fs::write(&p, content).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            std::fs::write(bin.join("mode"), mode).unwrap();
            Fixture {
                _tmp: tmp,
                root,
                bin,
            }
        }

        pub(super) fn options(&self, language: AgentLanguage) -> InstallOptions {
            InstallOptions {
                language,
                config: self.root.join("oneagent.toml"),
                dir: Some(self.root.join("agents").join(match language {
                    AgentLanguage::Python => "python",
                    AgentLanguage::Nodejs => "nodejs",
                    AgentLanguage::Java => "java",
                    AgentLanguage::Skywalking => "skywalking",
                })),
                version: None,
                from: None,
                repository: None,
                // The fakes need /bin/sh, mkdir, cat and dirname only.
                search_path: OsString::from(format!("{}:/usr/bin:/bin", self.bin.display())),
            }
        }

        pub(super) fn run(
            &self,
            opts: &InstallOptions,
        ) -> (Result<InstallSummary, InstallError>, String) {
            let mut out = Vec::new();
            let result = install(opts, &mut Progress::new(&mut out, false));
            (result, String::from_utf8(out).unwrap())
        }

        fn args(&self) -> Vec<String> {
            std::fs::read_to_string(self.bin.join("args"))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect()
        }

        pub(super) fn leftovers(&self) -> Vec<String> {
            std::fs::read_dir(self.root.join("agents"))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| n.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default()
        }
    }

    #[test]
    fn python_install_streams_progress_and_lands_atomically() {
        let f = Fixture::new("ok");
        let opts = f.options(AgentLanguage::Python);
        let (result, out) = f.run(&opts);
        let s = result.unwrap();
        // Steps in order with a counter, tool lines streamed with the elapsed time.
        let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("==> [")).collect();
        assert_eq!(steps.len(), 4, "{out}");
        for (i, step) in steps.iter().enumerate() {
            assert!(step.starts_with(&format!("==> [{}/4] ", i + 1)), "{out}");
        }
        assert!(steps[1].contains("opentelemetry-distro 0.66b1"), "{out}");
        let streamed = out
            .lines()
            .find(|l| l.contains("Successfully installed"))
            .unwrap();
        assert!(
            streamed
                .trim_start()
                .split('s')
                .next()
                .unwrap()
                .parse::<f64>()
                .is_ok(),
            "{streamed}"
        );
        assert!(
            out.contains("Downloading opentelemetry_distro"),
            "stderr is streamed too: {out}"
        );
        assert!(
            !out.contains('\x1b'),
            "no escape sequences off a terminal: {out}"
        );
        // The directory is in place, complete, stamped; nothing else is left beside it.
        let dir = opts.dir.clone().unwrap();
        assert_eq!(s.dir, dir);
        assert!(dir.join(PYTHON_SITECUSTOMIZE).is_file());
        let stamp = std::fs::read_to_string(dir.join(STAMP_FILE)).unwrap();
        assert!(stamp.contains("\"version\": \"0.66b1\""), "{stamp}");
        assert_eq!(
            (s.version.as_str(), s.packages, s.replaced),
            ("0.66b1", 2, false)
        );
        assert!(f.leftovers().is_empty(), "{:?}", f.leftovers());
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // pip got the pinned set, into a temporary sibling directory, not the target itself.
        let args = f.args();
        let target_arg = args.iter().skip_while(|a| *a != "--target").nth(1).unwrap();
        assert!(target_arg.contains("/.python.oneagent-new-"), "{args:?}");
        assert!(args.contains(&"opentelemetry-distro==0.66b1".to_owned()));
        assert!(args.contains(&"opentelemetry-instrumentation-flask==0.66b1".to_owned()));
        assert!(args.contains(&"opentelemetry-exporter-otlp-proto-http".to_owned()));
        // The configured path is not the --dir: the summary says how to use it.
        assert!(!s.configured);
        let summary = render_summary(&s);
        assert!(summary.contains("python = \""), "{summary}");
    }

    #[test]
    fn a_reinstall_replaces_the_previous_directory_in_one_step() {
        let f = Fixture::new("ok");
        let opts = f.options(AgentLanguage::Python);
        let dir = opts.dir.clone().unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("old-marker"), "old").unwrap();
        // A leftover of an interrupted earlier run (its pid no longer exists) is cleaned up.
        let stale = f.root.join("agents/.python.oneagent-new-4000000000");
        std::fs::create_dir_all(&stale).unwrap();
        let (result, _) = f.run(&opts);
        assert!(result.unwrap().replaced);
        assert!(!dir.join("old-marker").exists());
        assert!(dir.join(PYTHON_SITECUSTOMIZE).is_file());
        assert!(f.leftovers().is_empty(), "{:?}", f.leftovers());
    }

    #[test]
    fn a_failing_installer_leaves_the_previous_agent_untouched() {
        for mode in ["fail", "partial", "nosite", "noimport"] {
            let f = Fixture::new(mode);
            let opts = f.options(AgentLanguage::Python);
            let dir = opts.dir.clone().unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("old-marker"), "old").unwrap();
            let (result, out) = f.run(&opts);
            let e = result.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Failed, "{mode}: {e}");
            assert_eq!(e.exit_code(), exit::FAILED);
            assert!(e.message.contains("Nothing was changed in"), "{mode}: {e}");
            assert!(dir.join("old-marker").is_file(), "{mode}");
            assert!(!dir.join(PYTHON_SITECUSTOMIZE).exists(), "{mode}");
            assert!(f.leftovers().is_empty(), "{mode}: {:?}", f.leftovers());
            if mode == "fail" {
                assert!(
                    out.contains("ResolutionImpossible"),
                    "the reason is shown: {out}"
                );
                assert!(e.message.contains("pip failed (exit status 1)"), "{e}");
            }
        }
    }

    #[test]
    fn an_unreachable_index_explains_the_offline_install() {
        let f = Fixture::new("offline");
        let (result, _) = f.run(&f.options(AgentLanguage::Python));
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
        assert!(
            e.message
                .contains("pip download --dest oneagent-python-wheels"),
            "{e}"
        );
        assert!(e.message.contains("with Python 3.11"), "{e}");
        assert!(e.message.contains("--from oneagent-python-wheels"), "{e}");
        assert!(e.message.contains("HTTPS_PROXY"), "{e}");
    }

    #[test]
    fn from_a_local_directory_pip_uses_no_index() {
        let f = Fixture::new("ok");
        let wheels = f.root.join("wheels");
        std::fs::create_dir(&wheels).unwrap();
        let mut opts = f.options(AgentLanguage::Python);
        opts.from = Some(wheels.clone());
        opts.version = Some("0.60b0".to_owned());
        let (result, _) = f.run(&opts);
        assert!(result.unwrap().source.contains("local wheels"));
        let args = f.args();
        assert!(args.contains(&"--no-index".to_owned()), "{args:?}");
        assert!(args.contains(&wheels.display().to_string()), "{args:?}");
        assert!(
            args.contains(&"opentelemetry-distro==0.60b0".to_owned()),
            "{args:?}"
        );
    }

    #[test]
    fn missing_tools_name_the_package_to_install() {
        // No python3 at all.
        let f = Fixture::new("ok");
        let mut opts = f.options(AgentLanguage::Python);
        let empty = f.root.join("empty");
        std::fs::create_dir(&empty).unwrap();
        opts.search_path = empty.clone().into_os_string();
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingTool);
        assert!(
            e.message.contains("python3 not found") && e.message.contains("apt install python3"),
            "{e}"
        );
        // python3 without pip.
        let f = Fixture::new("nopip");
        let (result, _) = f.run(&f.options(AgentLanguage::Python));
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingTool);
        assert!(e.message.contains("apt install python3-pip"), "{e}");
        assert!(
            f.leftovers().is_empty(),
            "nothing is created before the tools are found"
        );
        // No npm.
        let f = Fixture::new("ok");
        std::fs::remove_file(f.bin.join("npm")).unwrap();
        let mut opts = f.options(AgentLanguage::Nodejs);
        opts.search_path = f.bin.clone().into_os_string();
        let (result, _) = f.run(&opts);
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingTool);
        assert!(
            e.message.contains("npm not found") && e.message.contains("apt install nodejs npm"),
            "{e}"
        );
    }

    #[test]
    fn nodejs_install_writes_register_js_and_lands_atomically() {
        let f = Fixture::new("ok");
        let opts = f.options(AgentLanguage::Nodejs);
        let (result, out) = f.run(&opts);
        let s = result.unwrap();
        let dir = opts.dir.clone().unwrap();
        assert_eq!(s.entry, dir.join("register.js"));
        let register = std::fs::read_to_string(dir.join("register.js")).unwrap();
        assert!(register.contains("require('@opentelemetry/auto-instrumentations-node/register')"));
        assert_eq!((s.version.as_str(), s.packages), ("0.81.2", 2));
        assert!(dir.join(STAMP_FILE).is_file());
        assert!(out.contains("npm http fetch GET 200"), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("==> [")).count(),
            4,
            "{out}"
        );
        let args = f.args();
        assert!(args.contains(&"@opentelemetry/auto-instrumentations-node@0.81.2".to_owned()));
        let prefix = args.iter().skip_while(|a| *a != "--prefix").nth(1).unwrap();
        assert!(prefix.contains("/.nodejs.oneagent-new-"), "{args:?}");
        assert!(f.leftovers().is_empty());
    }

    #[test]
    fn nodejs_unreachable_registry_explains_the_npm_cache() {
        let f = Fixture::new("offline");
        let opts = f.options(AgentLanguage::Nodejs);
        let (result, out) = f.run(&opts);
        let e = result.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreachable, "{e}");
        assert!(e.message.contains("--cache oneagent-npm-cache"), "{e}");
        assert!(e.message.contains("--from oneagent-npm-cache"), "{e}");
        assert!(out.contains("ENOTFOUND"), "{out}");
        assert!(!opts.dir.unwrap().exists());
        assert!(f.leftovers().is_empty());
    }

    #[test]
    fn the_configured_paths_are_used_without_dir() {
        let f = Fixture::new("ok");
        let config = f.root.join("oneagent.toml");
        let py = f.root.join("cfg/agents/python");
        let node = f.root.join("cfg/agents/nodejs/start.js");
        std::fs::write(
            &config,
            format!(
                "[agents]\npython = \"{}\"\nnodejs = \"{}\"\n",
                py.display(),
                node.display()
            ),
        )
        .unwrap();
        for language in [AgentLanguage::Python, AgentLanguage::Nodejs] {
            let mut opts = f.options(language);
            opts.dir = None;
            let (result, _) = f.run(&opts);
            let s = result.unwrap();
            assert!(s.configured, "{s:?}");
            assert!(render_summary(&s).contains("oneagentctl reload"));
        }
        assert!(py.join(PYTHON_SITECUSTOMIZE).is_file());
        assert!(node.is_file(), "the configured file name is used");
        // A bad configuration file is a usage error.
        std::fs::write(&config, "[agents]\npyton = 1\n").unwrap();
        let (result, _) = f.run(&f.options(AgentLanguage::Python));
        assert_eq!(result.unwrap_err().exit_code(), exit::USAGE);
    }

    #[test]
    fn versions_are_checked_before_they_reach_a_command_line() {
        for bad in ["", "--index-url=http://evil", "1.0 ; rm", "a/b"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        for good in ["0.66b1", "0.81.2", "1.0.0-rc.1", "2.0+local"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_terminal_gets_a_spinner_line_that_is_cleared() {
        let mut out = Vec::new();
        {
            let mut p = Progress::new(&mut out, true);
            p.step(2, "one");
            p.line("hello");
            p.tick();
            p.step(2, "two");
            p.finish();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\x1b[K⠙ [1/2]"), "{text:?}");
        assert!(
            text.ends_with("\r\x1b[K") || text.ends_with("\n"),
            "{text:?}"
        );
        assert!(text.contains("==> [2/2] two"), "{text:?}");
    }

    #[test]
    fn tool_lines_are_cleaned() {
        assert_eq!(clean_line("\x1b[1;31mERROR\x1b[0m: x\r"), "ERROR: x");
        assert_eq!(clean_line("10%\r50%\r100% done"), "100% done");
        assert_eq!(clean_line("a\tb\x07"), "a b");
    }

    /// NETWORK: installs the real Python agent from PyPI into a temporary directory (about 10 s
    /// here). Ignored by default; run it with
    /// `cargo test -p oneagent-cli --lib agents::tests::real_pypi_install -- --ignored`.
    #[test]
    #[ignore = "network: installs opentelemetry-distro from PyPI"]
    fn real_pypi_install() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("oneagent/agents/python");
        let opts = InstallOptions {
            language: AgentLanguage::Python,
            config: tmp.path().join("absent.toml"),
            dir: Some(dir.clone()),
            version: None,
            from: None,
            repository: None,
            search_path: std::env::var_os("PATH").unwrap(),
        };
        let mut out = Vec::new();
        let started = Instant::now();
        let s = install(&opts, &mut Progress::new(&mut out, false))
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
        assert!(started.elapsed() < Duration::from_secs(120));
        assert_eq!(s.version, DEFAULT_PYTHON_VERSION);
        assert!(s.packages > 30, "{s:?}");
        assert!(dir.join(PYTHON_SITECUSTOMIZE).is_file());
        assert!(dir.join("opentelemetry/instrumentation/flask").is_dir());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Successfully installed"), "{text}");
    }
}
