//! The environment plan: which variables to set so that an instrumentable process loads our agent.
//!
//! [`plan`] turns a [`Decision`], a [`SnapshotView`] and the process's current environment into at
//! most [`MAX_ASSIGNMENTS`] `(name, value)` pairs, writing the values (NUL-terminated, ready for
//! `setenv`) into a caller-provided buffer. No allocation.
//!
//! # Rules
//!
//! * Values the user set are never replaced: list variables get our part appended or prepended,
//!   other variables are set only when unset or empty. A blank value (only whitespace:
//!   `NODE_OPTIONS='   '`) counts as unset, so no stray separator is left around ours.
//! * Our own part already present (inherited from an injected parent, or set by hand) → that
//!   variable is left alone. "Present" means a whole option token with our exact path
//!   (`-javaagent:<jar>[=…]`, `--require <register.js>`/`-r`/`--require=`, the exact `PYTHONPATH`
//!   or `DOTNET_*` entry), never a substring (`-Dbackup.agent=<jar>.bak` is not our agent) — the
//!   same rules [`decide`](crate::decide) uses for [`Decision::already_injected`]; when the decision says our agent is already configured
//!   ([`Decision::already_injected`]) no agent flag is added at all, but missing plain variables are
//!   still filled in.
//! * Java (OpenTelemetry): `JAVA_TOOL_OPTIONS` += ` -javaagent:<jar>` (never `JAVA_OPTS`, which
//!   only some launch scripts read).
//! * Java, both agents: the configured extra JVM options ([`SnapshotView::java_options`]) follow
//!   `-javaagent:` in `JAVA_TOOL_OPTIONS`, except those the user's `JAVA_TOOL_OPTIONS` sets
//!   already (same `-D` property, `-XX` flag, `-Xss`/`-Xmx`/…).
//! * Java (SkyWalking): `JAVA_TOOL_OPTIONS` += ` -javaagent:<skywalking-agent.jar>`,
//!   `SW_AGENT_NAME`, `SW_AGENT_COLLECTOR_BACKEND_SERVICES`; the `OTEL_*` variables are not set
//!   (SkyWalking does not read them).
//! * Python: `PYTHONPATH` = `<dir>/opentelemetry/instrumentation/auto_instrumentation:<dir>` +
//!   `:<user's>`; `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`; `OTEL_PYTHON_LOG_CORRELATION=true`
//!   only when the snapshot says so ([`SnapshotView::python_log_correlation`]: it changes the
//!   application's log format) and the user has not set it.
//! * Node.js: `NODE_OPTIONS` = `--require <register.js>` + ` <user's>`.
//! * .NET: `CORECLR_ENABLE_PROFILING=1`, `CORECLR_PROFILER={918728DD-…}`,
//!   `CORECLR_PROFILER_PATH=<home>/<rid>/OpenTelemetry.AutoInstrumentation.Native.so`,
//!   `DOTNET_STARTUP_HOOKS`, `DOTNET_ADDITIONAL_DEPS`, `DOTNET_SHARED_STORE` (`:`-lists, ours
//!   appended after the user's entries, as the OpenTelemetry .NET auto-instrumentation's own
//!   injectors compose them; the last two only when `<home>/AdditionalDeps` and `<home>/store`
//!   exist, [`Context::dotnet_dirs`]), `OTEL_DOTNET_AUTO_HOME`. Any profiler variable the user
//!   set (`CORECLR_*`, `OTEL_DOTNET_AUTO_HOME`) that is not ours → we stand down
//!   ([`decide`](crate::decide) already says `other-agent`/`opted-out`; the plan refuses with
//!   [`PlanError::UserConfigured`] as a second line).
//! * OpenTelemetry agents: `OTEL_SERVICE_NAME` (unless the name came from the user),
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_METRICS_EXPORTER=none`, `OTEL_LOGS_EXPORTER=none`, and
//!   `OTEL_RESOURCE_ATTRIBUTES` += `host.name`, `service.instance.id=<host>-<pid>`,
//!   `systemd.unit` (each only when the user's attributes lack that key; values percent-encoded).
//! * Configured variables ([`SnapshotView::environment`], see [`agent_env`](crate::agent_env)):
//!   after ours, those of the process's runtime and agent (`OTEL_…` for the OpenTelemetry agents,
//!   `SW_…` for SkyWalking), each only when the process has no (non-blank) value of its own; a
//!   name the plan sets already is never set twice. Also for an already injected process.
//! * Values an injected ancestor chose are not the user's: with [`Context::mark_inherited`] the
//!   plan also sets [`INJECTED_MARKER`](crate::INJECTED_MARKER) to the service name and instance
//!   id it chose; in a child that inherited them, an `OTEL_SERVICE_NAME` equal to the marker's name
//!   is replaced by the child's own, and the marker's `service.instance.id` pair is replaced by
//!   the child's (every other attribute is kept as it is).
//! * Agent paths must be absolute and made of `[A-Za-z0-9/._+@~-]` only: they go into
//!   whitespace-, `:`- and `=`-separated variables, so anything else → [`PlanError::UnsafePath`].
//!
//! The caller must check the agent files before applying a plan ([`agent_files`] lists them with
//! the magic bytes they must start with): a `-javaagent:` whose jar is missing kills the JVM.

use core::fmt;

use crate::bytes::{Words, words};
use crate::env::{INJECTED_MARKER, Inherited, MAX_ENV};
use crate::list::ByteList;
use crate::model::{Decision, JavaAgentKind, Language};
use crate::report::Outcome;
use crate::snapshot::SnapshotView;

/// At most this many variables are set for one process (ours, and up to
/// [`MAX_PER_RUNTIME`](crate::agent_env::MAX_PER_RUNTIME) configured ones).
pub const MAX_ASSIGNMENTS: usize = 32;

pub use crate::own::{DOTNET_PROFILER_GUID, PYTHON_AUTO_DIR};

/// Looks up the current value of an environment variable.
pub trait EnvLookup {
    /// The value of `name`, or `None` when unset.
    fn get(&self, name: &[u8]) -> Option<&[u8]>;
}

impl EnvLookup for ByteList<'_> {
    /// The first `name=` entry wins (like `getenv`); at most [`MAX_ENV`] entries are looked at.
    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().take(MAX_ENV).find_map(|entry| {
            let rest = entry.strip_prefix(name)?;
            rest.strip_prefix(b"=")
        })
    }
}

impl<F> EnvLookup for F
where
    F: Fn(&[u8]) -> Option<&'static [u8]>,
{
    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self(name)
    }
}

/// The platform the .NET profiler is chosen for (its runtime identifier directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotnetRid {
    /// `linux-x64`
    LinuxX64,
    /// `linux-arm64`
    LinuxArm64,
    /// `linux-musl-x64`
    LinuxMuslX64,
    /// `linux-musl-arm64`
    LinuxMuslArm64,
}

impl DotnetRid {
    /// The identifier for the architecture this code is compiled for; `None` elsewhere.
    pub const fn current(musl: bool) -> Option<Self> {
        if cfg!(target_arch = "x86_64") {
            Some(if musl {
                Self::LinuxMuslX64
            } else {
                Self::LinuxX64
            })
        } else if cfg!(target_arch = "aarch64") {
            Some(if musl {
                Self::LinuxMuslArm64
            } else {
                Self::LinuxArm64
            })
        } else {
            None
        }
    }

    /// The directory name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LinuxX64 => "linux-x64",
            Self::LinuxArm64 => "linux-arm64",
            Self::LinuxMuslX64 => "linux-musl-x64",
            Self::LinuxMuslArm64 => "linux-musl-arm64",
        }
    }
}

/// Facts about the process that the plan needs besides the decision.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The process id (for `service.instance.id`).
    pub pid: u32,
    /// The systemd unit (`payments.service`), from [`systemd_unit`](crate::systemd_unit).
    pub systemd_unit: Option<&'a [u8]>,
    /// The .NET runtime identifier; `None` disables .NET injection.
    pub dotnet_rid: Option<DotnetRid>,
    /// Also set [`INJECTED_MARKER`](crate::INJECTED_MARKER) (the preload library, whose values
    /// children inherit; not the webhook, whose values are the pod's own configuration).
    pub mark_inherited: bool,
    /// Which of the .NET agent's optional directories exist (`DOTNET_ADDITIONAL_DEPS` and
    /// `DOTNET_SHARED_STORE` point only at directories that exist).
    pub dotnet_dirs: DotnetDirs,
}

/// Which of the .NET agent's optional directories exist: `<home>/AdditionalDeps` and
/// `<home>/store` (see [`DOTNET_DIRS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DotnetDirs {
    /// `<home>/AdditionalDeps` is a directory.
    pub additional_deps: bool,
    /// `<home>/store` is a directory.
    pub store: bool,
}

impl DotnetDirs {
    /// Both present (the packaged agent ships both).
    pub const BOTH: Self = Self {
        additional_deps: true,
        store: true,
    };
}

/// The .NET agent's optional directories, relative to its home, in [`DotnetDirs`] order.
pub const DOTNET_DIRS: [&[u8]; 2] = [b"/AdditionalDeps", b"/store"];

/// An agent file the caller must check before applying a plan: `prefix` + `suffix` must exist, be
/// readable and start with `magic` (empty: any content).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentFile<'a> {
    /// The configured path (a file, or the agent directory).
    pub prefix: &'a [u8],
    /// Appended to `prefix` (empty when `prefix` is the file).
    pub suffix: &'static [u8],
    /// The bytes the file must start with.
    pub magic: &'static [u8],
}

impl AgentFile<'_> {
    /// Writes `prefix` + `suffix` + NUL into `buf`, returning the path with its NUL.
    pub fn c_path<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let len = self
            .prefix
            .len()
            .checked_add(self.suffix.len())?
            .checked_add(1)?;
        let out = buf.get_mut(..len)?;
        for (dst, src) in out
            .iter_mut()
            .zip(self.prefix.iter().chain(self.suffix).chain(&[0u8]))
        {
            *dst = *src;
        }
        Some(out)
    }
}

/// Zip local file header magic (jar).
pub const MAGIC_ZIP: &[u8] = b"PK\x03\x04";
/// ELF magic (native profiler).
pub const MAGIC_ELF: &[u8] = b"\x7fELF";
/// PE/COFF magic (managed dll).
pub const MAGIC_PE: &[u8] = b"MZ";

/// The agent files that must be valid before a plan for `language` is applied.
pub fn agent_files<'a>(
    language: Language,
    snap: &SnapshotView<'a>,
    rid: Option<DotnetRid>,
) -> [Option<AgentFile<'a>>; 2] {
    let file = |prefix, suffix, magic| {
        Some(AgentFile {
            prefix,
            suffix,
            magic,
        })
    };
    match language {
        Language::Java => match snap.java_agent {
            JavaAgentKind::OpenTelemetry => [file(snap.java_agent_path, b"", MAGIC_ZIP), None],
            JavaAgentKind::SkyWalking => [file(snap.skywalking_agent_path, b"", MAGIC_ZIP), None],
        },
        Language::Python => [
            file(
                snap.python_dir,
                b"/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py",
                b"",
            ),
            None,
        ],
        Language::NodeJs => [file(snap.nodejs_register, b"", b""), None],
        Language::DotNet => [
            file(
                snap.dotnet_home,
                b"/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll",
                MAGIC_PE,
            ),
            rid.and_then(|rid| {
                file(
                    snap.dotnet_home,
                    match rid {
                        DotnetRid::LinuxX64 => {
                            b"/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so"
                        }
                        DotnetRid::LinuxArm64 => {
                            b"/linux-arm64/OpenTelemetry.AutoInstrumentation.Native.so"
                        }
                        DotnetRid::LinuxMuslX64 => {
                            b"/linux-musl-x64/OpenTelemetry.AutoInstrumentation.Native.so"
                        }
                        DotnetRid::LinuxMuslArm64 => {
                            b"/linux-musl-arm64/OpenTelemetry.AutoInstrumentation.Native.so"
                        }
                    },
                    MAGIC_ELF,
                )
            }),
        ],
        Language::Go | Language::Ruby | Language::Php => [None, None],
    }
}

/// Why no plan was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The decision is not [`Action::Inject`](crate::Action::Inject), or the language has no agent.
    NotInject,
    /// The snapshot has no path for this language's agent.
    NoAgentPath,
    /// An agent path cannot be placed in a variable safely.
    UnsafePath,
    /// The user configured the runtime's profiler/agent themselves.
    UserConfigured(&'static str),
    /// The buffer (or [`MAX_ASSIGNMENTS`]) is too small.
    TooLarge,
}

impl PlanError {
    /// The report outcome for this error.
    pub const fn outcome(self) -> Outcome {
        match self {
            Self::NotInject => Outcome::Skipped,
            Self::NoAgentPath => Outcome::AgentMissing,
            Self::UnsafePath => Outcome::UnsafePath,
            Self::UserConfigured(_) => Outcome::UserConfigured,
            Self::TooLarge => Outcome::PlanTooLarge,
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInject => f.write_str("nothing to inject"),
            Self::NoAgentPath => f.write_str("no agent path configured"),
            Self::UnsafePath => f.write_str("agent path has characters unsafe in a variable"),
            Self::UserConfigured(var) => write!(f, "{var} is set by the user: standing down"),
            Self::TooLarge => f.write_str("environment plan too large"),
        }
    }
}

/// One variable to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment<'b> {
    name: &'b [u8],
    value: &'b [u8],
}

impl<'b> Assignment<'b> {
    /// The variable name.
    pub fn name(&self) -> &'b [u8] {
        self.name.strip_suffix(b"\0").unwrap_or(self.name)
    }
    /// The variable name followed by a NUL.
    pub fn name_with_nul(&self) -> &'b [u8] {
        self.name
    }
    /// The value.
    pub fn value(&self) -> &'b [u8] {
        self.value.strip_suffix(b"\0").unwrap_or(self.value)
    }
    /// The value followed by a NUL.
    pub fn value_with_nul(&self) -> &'b [u8] {
        self.value
    }
}

/// A variable's name (NUL included): one of ours, or a configured one copied into the buffer.
#[derive(Clone, Copy, Debug)]
enum Name {
    Static(&'static [u8]),
    InBuf(usize, usize),
}

type Item = Option<(Name, usize, usize)>;

/// The variables to set, with values (and configured names) in the caller's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'b> {
    buf: &'b [u8],
    items: [Item; MAX_ASSIGNMENTS],
}

impl<'b> Plan<'b> {
    /// The assignments, in the order they should be applied.
    pub fn iter(&self) -> impl Iterator<Item = Assignment<'b>> + '_ {
        let buf = self.buf;
        self.items
            .iter()
            .flatten()
            .filter_map(move |&(name, s, e)| {
                Some(Assignment {
                    name: match name {
                        Name::Static(n) => n,
                        Name::InBuf(ns, ne) => buf.get(ns..ne)?,
                    },
                    value: buf.get(s..e)?,
                })
            })
    }

    /// Number of assignments.
    pub fn len(&self) -> usize {
        self.items.iter().flatten().count()
    }

    /// Whether there is nothing to set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value planned for `name`, if any.
    pub fn get(&self, name: &[u8]) -> Option<&'b [u8]> {
        self.iter().find(|a| a.name() == name).map(|a| a.value())
    }
}

/// Accumulates values into the caller's buffer.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    items: [Item; MAX_ASSIGNMENTS],
    count: usize,
    overflow: bool,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                // A zip, not `copy_from_slice`: no length-mismatch panic path in the library.
                for (d, s) in dst.iter_mut().zip(bytes) {
                    *d = *s;
                }
                self.pos = end;
            }
            None => self.overflow = true,
        }
    }

    /// Copies bytes already written (`start..end` of the buffer) to the end.
    fn put_own(&mut self, start: usize, end: usize) {
        for i in start..end {
            match self.buf.get(i).copied() {
                Some(b) => self.put(&[b]),
                None => self.overflow = true,
            }
        }
    }

    /// Writes the pieces and a NUL as the value of `name` (`name` carries its own NUL).
    fn assign(&mut self, name: &'static [u8], pieces: &[&[u8]]) {
        let start = self.pos;
        for p in pieces {
            self.put(p);
        }
        self.put(b"\0");
        self.close(name, start);
    }

    /// Records `start..pos` (NUL included) as the value of `name`.
    fn close(&mut self, name: &'static [u8], start: usize) {
        self.close_named(Name::Static(name), start);
    }

    fn close_named(&mut self, name: Name, start: usize) {
        match self.items.get_mut(self.count) {
            Some(slot) if !self.overflow => {
                *slot = Some((name, start, self.pos));
                self.count = self.count.saturating_add(1);
            }
            _ => self.overflow = true,
        }
    }
}

/// The user's value of `name`, when it is set and not blank (a value of only whitespace counts
/// as unset: ours replaces it instead of gaining stray separators around it).
fn user<'e>(env: &'e dyn EnvLookup, name: &[u8]) -> Option<&'e [u8]> {
    env.get(name).filter(|v| !v.trim_ascii().is_empty())
}

fn safe_path(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
        && path
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"/._+@~-".contains(b))
}

/// Plans the environment of an instrumentable process. See the module documentation.
pub fn plan<'b>(
    decision: &Decision<'_>,
    snap: &SnapshotView<'_>,
    ctx: &Context<'_>,
    env: &dyn EnvLookup,
    buf: &'b mut [u8],
) -> Result<Plan<'b>, PlanError> {
    if !decision.is_inject() {
        return Err(PlanError::NotInject);
    }
    let language = decision.language.ok_or(PlanError::NotInject)?;
    let add_agent = !decision.already_injected;
    let mut w = Writer {
        buf,
        pos: 0,
        items: [None; MAX_ASSIGNMENTS],
        count: 0,
        overflow: false,
    };
    let mut otel = true;
    match language {
        Language::Java => {
            let (jar, flag_name) = match snap.java_agent {
                JavaAgentKind::OpenTelemetry => (snap.java_agent_path, ""),
                JavaAgentKind::SkyWalking => (snap.skywalking_agent_path, "sw"),
            };
            check_path(jar)?;
            if add_agent {
                let ours_present = user(env, b"JAVA_TOOL_OPTIONS")
                    .is_some_and(|v| crate::own::java_agent_in(v, jar));
                if !ours_present {
                    append_java_agent(&mut w, env, jar, snap.java_options);
                }
            }
            if !flag_name.is_empty() {
                otel = false;
                if !decision.service_name_source.is_explicit()
                    && user(env, b"SW_AGENT_NAME").is_none()
                    && !decision.service_name.is_empty()
                {
                    w.assign(b"SW_AGENT_NAME\0", &[decision.service_name.as_bytes()]);
                }
                set_default(
                    &mut w,
                    env,
                    b"SW_AGENT_COLLECTOR_BACKEND_SERVICES\0",
                    snap.skywalking_backend,
                );
            }
        }
        Language::Python => {
            let dir = snap.python_dir;
            check_path(dir)?;
            let ours_present = user(env, b"PYTHONPATH").is_some_and(|v| {
                v.split(|&b| b == b':')
                    .any(|part| crate::own::python_auto_entry(part, dir))
            });
            if add_agent && !ours_present {
                prepend(
                    &mut w,
                    env,
                    b"PYTHONPATH\0",
                    b":",
                    &[dir, PYTHON_AUTO_DIR, b":", dir],
                );
            }
            set_default(
                &mut w,
                env,
                b"OTEL_EXPORTER_OTLP_PROTOCOL\0",
                b"http/protobuf",
            );
            if snap.python_log_correlation {
                // It changes the application's log format (the trace ids join every record):
                // only when configured, and never over the user's own value.
                set_default(&mut w, env, b"OTEL_PYTHON_LOG_CORRELATION\0", b"true");
            }
        }
        Language::NodeJs => {
            let register = snap.nodejs_register;
            check_path(register)?;
            let ours_present = user(env, b"NODE_OPTIONS")
                .is_some_and(|v| crate::own::node_require_in(v, register));
            if add_agent && !ours_present {
                prepend(
                    &mut w,
                    env,
                    b"NODE_OPTIONS\0",
                    b" ",
                    &[b"--require ", register],
                );
            }
        }
        Language::DotNet => dotnet(&mut w, snap, ctx, env)?,
        Language::Go | Language::Ruby | Language::Php => return Err(PlanError::NotInject),
    }
    if otel {
        common(&mut w, decision, snap, ctx, env);
    }
    configured(&mut w, language, snap, env);
    if w.overflow {
        return Err(PlanError::TooLarge);
    }
    let items = w.items;
    let buf: &'b [u8] = w.buf;
    Ok(Plan { buf, items })
}

fn check_path(path: &[u8]) -> Result<(), PlanError> {
    if path.is_empty() {
        return Err(PlanError::NoAgentPath);
    }
    if !safe_path(path) {
        return Err(PlanError::UnsafePath);
    }
    Ok(())
}

/// `JAVA_TOOL_OPTIONS` = user's value + ` -javaagent:<jar>` + the configured extra options
/// ([`SnapshotView::java_options`]) that the user's value does not already set: an option the
/// process sets itself wins (the JVM keeps the last of two, and ours come after the user's).
fn append_java_agent(w: &mut Writer<'_>, env: &dyn EnvLookup, jar: &[u8], extra: &[u8]) {
    let start = w.pos;
    let user_opts = user(env, b"JAVA_TOOL_OPTIONS");
    if let Some(v) = user_opts {
        w.put(v);
        w.put(b" ");
    }
    w.put(b"-javaagent:");
    w.put(jar);
    let user_opts = user_opts.unwrap_or_default();
    for opt in extra
        .split(|&b| b == b' ')
        .filter(|o| !o.is_empty())
        .take(crate::MAX_LIST)
    {
        let key = jvm_option_key(opt);
        let set_by_user = user_opts
            .split(|b| b.is_ascii_whitespace())
            .take(crate::MAX_LIST)
            .any(|u| jvm_option_key(u) == key);
        if !set_by_user {
            w.put(b" ");
            w.put(opt);
        }
    }
    w.put(b"\0");
    w.close(b"JAVA_TOOL_OPTIONS\0", start);
}

/// What a JVM option sets, for "does the user set it already": `-Dname=v` → `-Dname`,
/// `-XX:+Name`/`-XX:-Name`/`-XX:Name=v` → `Name`, `-Xss2m`/`-Xmx1g` → `-Xss`/`-Xmx`, anything
/// else up to its `=` or `:`.
fn jvm_option_key(opt: &[u8]) -> &[u8] {
    if let Some(xx) = opt.strip_prefix(b"-XX:") {
        let xx = xx
            .strip_prefix(b"+")
            .or_else(|| xx.strip_prefix(b"-"))
            .unwrap_or(xx);
        return crate::bytes::before(xx, b'=');
    }
    // A match, not a table of slices: no load-time relocations in the library.
    if let Some(p @ (b"-Xss" | b"-Xms" | b"-Xmx" | b"-Xmn")) = opt.get(..4) {
        return p;
    }
    let end = opt
        .iter()
        .position(|&b| b == b'=' || b == b':')
        .unwrap_or(opt.len());
    opt.get(..end).unwrap_or(opt)
}

/// The configured variables ([`SnapshotView::environment`]) this process's agent reads, each
/// unless the process sets it (not blank) or the plan sets it already. The name is copied into
/// the buffer (NUL-terminated for `setenv`).
fn configured(
    w: &mut Writer<'_>,
    language: Language,
    snap: &SnapshotView<'_>,
    env: &dyn EnvLookup,
) {
    let entries = snap
        .environment
        .iter()
        .take(crate::agent_env::MAX_PER_RUNTIME.saturating_mul(4))
        .filter_map(|e| crate::agent_env::parse_entry(e).ok())
        .filter(|e| e.applies(language, snap.java_agent));
    for e in entries {
        let planned = w.items.iter().flatten().any(|&(name, _, _)| match name {
            Name::Static(n) => n.strip_suffix(b"\0") == Some(e.name),
            Name::InBuf(s, end) => w.buf.get(s..end.saturating_sub(1)) == Some(e.name),
        });
        if planned || user(env, e.name).is_some() {
            continue;
        }
        let name_start = w.pos;
        w.put(e.name);
        w.put(b"\0");
        let name_end = w.pos;
        let start = w.pos;
        w.put(e.value);
        w.put(b"\0");
        w.close_named(Name::InBuf(name_start, name_end), start);
    }
}

/// `name` = user's value + `sep` + ours (or ours alone).
fn append(
    w: &mut Writer<'_>,
    env: &dyn EnvLookup,
    name: &'static [u8],
    sep: &[u8],
    ours: &[&[u8]],
) {
    let key = name.strip_suffix(b"\0").unwrap_or(name);
    let mut pieces: [&[u8]; 8] = [&[]; 8];
    let mut it = pieces.iter_mut();
    if let Some(v) = user(env, key) {
        if let Some(slot) = it.next() {
            *slot = v;
        }
        if let Some(slot) = it.next() {
            *slot = sep;
        }
    }
    for p in ours {
        if let Some(slot) = it.next() {
            *slot = p;
        }
    }
    w.assign(name, &pieces);
}

/// `name` = ours + `sep` + user's value (or ours alone).
fn prepend(
    w: &mut Writer<'_>,
    env: &dyn EnvLookup,
    name: &'static [u8],
    sep: &[u8],
    ours: &[&[u8]],
) {
    let key = name.strip_suffix(b"\0").unwrap_or(name);
    let mut pieces: [&[u8]; 8] = [&[]; 8];
    let mut it = pieces.iter_mut();
    for p in ours {
        if let Some(slot) = it.next() {
            *slot = p;
        }
    }
    if let Some(v) = user(env, key) {
        if let Some(slot) = it.next() {
            *slot = sep;
        }
        if let Some(slot) = it.next() {
            *slot = v;
        }
    }
    w.assign(name, &pieces);
}

/// `name` = `value` when the user has no (non-empty) value and `value` is not empty.
fn set_default(w: &mut Writer<'_>, env: &dyn EnvLookup, name: &'static [u8], value: &[u8]) {
    let key = name.strip_suffix(b"\0").unwrap_or(name);
    if !value.is_empty() && user(env, key).is_none() {
        w.assign(name, &[value]);
    }
}

const DOTNET_USER_VARS: Words = words![
    b"CORECLR_ENABLE_PROFILING",
    b"CORECLR_PROFILER",
    b"CORECLR_PROFILER_PATH",
    b"CORECLR_PROFILER_PATH_64",
    b"OTEL_DOTNET_AUTO_HOME",
];

fn dotnet(
    w: &mut Writer<'_>,
    snap: &SnapshotView<'_>,
    ctx: &Context<'_>,
    env: &dyn EnvLookup,
) -> Result<(), PlanError> {
    let home = snap.dotnet_home;
    check_path(home)?;
    let rid = ctx.dotnet_rid.ok_or(PlanError::NotInject)?;
    // Ours exactly when `decide` says so (see `detect::dotnet::env_agents`): every profiler path
    // and `OTEL_DOTNET_AUTO_HOME` set lies in our home, and the profiler, when set, is our CLSID
    // (when unset, some path of ours must be set or profiling not be switched on alone).
    let paths = [
        &b"CORECLR_PROFILER_PATH"[..],
        b"CORECLR_PROFILER_PATH_64",
        b"OTEL_DOTNET_AUTO_HOME",
    ];
    let paths_ours = paths
        .iter()
        .all(|k| user(env, k).is_none_or(|v| crate::own::in_dir(v.trim_ascii(), home)));
    let any_path = paths.iter().any(|k| user(env, k).is_some());
    let enable = user(env, b"CORECLR_ENABLE_PROFILING").map(<[u8]>::trim_ascii);
    let ours = enable != Some(b"0")
        && paths_ours
        && match user(env, b"CORECLR_PROFILER") {
            Some(g) => g.trim_ascii().eq_ignore_ascii_case(DOTNET_PROFILER_GUID),
            None => any_path || enable.is_none(),
        };
    if !ours && let Some(k) = DOTNET_USER_VARS.iter().find(|k| user(env, k).is_some()) {
        return Err(PlanError::UserConfigured(match k {
            b"CORECLR_ENABLE_PROFILING" => "CORECLR_ENABLE_PROFILING",
            b"CORECLR_PROFILER" => "CORECLR_PROFILER",
            b"CORECLR_PROFILER_PATH" => "CORECLR_PROFILER_PATH",
            b"CORECLR_PROFILER_PATH_64" => "CORECLR_PROFILER_PATH_64",
            _ => "OTEL_DOTNET_AUTO_HOME",
        }));
    }
    set_default(w, env, b"CORECLR_ENABLE_PROFILING\0", b"1");
    set_default(w, env, b"CORECLR_PROFILER\0", DOTNET_PROFILER_GUID);
    if user(env, b"CORECLR_PROFILER_PATH").is_none() {
        w.assign(
            b"CORECLR_PROFILER_PATH\0",
            &[
                home,
                b"/",
                rid.as_str().as_bytes(),
                b"/OpenTelemetry.AutoInstrumentation.Native.so",
            ],
        );
    }
    for (name, suffix, exists) in [
        (
            &b"DOTNET_STARTUP_HOOKS\0"[..],
            &b"/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll"[..],
            true,
        ),
        (
            b"DOTNET_ADDITIONAL_DEPS\0",
            b"/AdditionalDeps",
            ctx.dotnet_dirs.additional_deps,
        ),
        (b"DOTNET_SHARED_STORE\0", b"/store", ctx.dotnet_dirs.store),
    ] {
        if !exists {
            continue;
        }
        let key = name.strip_suffix(b"\0").unwrap_or(name);
        let present = user(env, key).is_some_and(|v| {
            v.split(|&b| b == b':')
                .any(|p| p.strip_prefix(home) == Some(suffix))
        });
        if !present {
            // `name` is a 'static literal from the table above.
            append(w, env, static_name(name), b":", &[home, suffix]);
        }
    }
    set_default(w, env, b"OTEL_DOTNET_AUTO_HOME\0", home);
    Ok(())
}

/// Maps a table name back to its `'static` literal (the table holds only literals).
fn static_name(name: &[u8]) -> &'static [u8] {
    match name {
        b"DOTNET_STARTUP_HOOKS\0" => b"DOTNET_STARTUP_HOOKS\0",
        b"DOTNET_ADDITIONAL_DEPS\0" => b"DOTNET_ADDITIONAL_DEPS\0",
        _ => b"DOTNET_SHARED_STORE\0",
    }
}

/// Percent-encodes `value` for an `OTEL_RESOURCE_ATTRIBUTES` value (W3C baggage octets).
fn put_encoded(w: &mut Writer<'_>, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        if b.is_ascii_alphanumeric() || b"._-@:~".contains(&b) {
            w.put(&[b]);
        } else {
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
            w.put(&[b'%', hi, lo]);
        }
    }
}

/// Writes the decimal form of `n`.
fn put_u32(w: &mut Writer<'_>, n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0usize;
    let mut n = n;
    for slot in digits.iter_mut().rev() {
        // `n % 10` is below 10, so the addition cannot overflow.
        *slot = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        n /= 10;
        len = len.saturating_add(1);
        if n == 0 {
            break;
        }
    }
    let start = digits.len().saturating_sub(len);
    w.put(digits.get(start..).unwrap_or_default());
}

fn common(
    w: &mut Writer<'_>,
    decision: &Decision<'_>,
    snap: &SnapshotView<'_>,
    ctx: &Context<'_>,
    env: &dyn EnvLookup,
) {
    let inherited = user(env, INJECTED_MARKER.as_bytes())
        .map(Inherited::parse)
        .unwrap_or_default();
    let name = decision.service_name.as_bytes();
    let user_name = user(env, b"OTEL_SERVICE_NAME").filter(|v| !inherited.is_inherited_name(v));
    let set_name =
        !decision.service_name_source.is_explicit() && !name.is_empty() && user_name.is_none();
    if set_name {
        w.assign(b"OTEL_SERVICE_NAME\0", &[name]);
    }
    set_default(w, env, b"OTEL_EXPORTER_OTLP_ENDPOINT\0", snap.otlp_endpoint);
    set_default(w, env, b"OTEL_METRICS_EXPORTER\0", b"none");
    set_default(w, env, b"OTEL_LOGS_EXPORTER\0", b"none");

    let existing = user(env, b"OTEL_RESOURCE_ATTRIBUTES");
    // The pair an injected ancestor added (`service.instance.id=<its id>`) is not the user's.
    let inherited_pair = |pair: &[u8]| {
        inherited.instance_id.is_some()
            && split_pair(pair) == (b"service.instance.id".as_slice(), inherited.instance_id)
    };
    let drop_inherited = existing.is_some_and(|a| a.split(|&b| b == b',').any(inherited_pair));
    let have = |k: &[u8]| {
        existing.is_some_and(|a| {
            a.split(|&b| b == b',')
                .take(256)
                .any(|pair| !inherited_pair(pair) && split_pair(pair).0 == k)
        })
    };
    let host = snap.host_name;
    let add_host = !host.is_empty() && !have(b"host.name");
    let add_instance = !host.is_empty() && !have(b"service.instance.id");
    let unit = ctx.systemd_unit.filter(|u| !u.is_empty());
    let add_unit = unit.is_some() && !have(b"systemd.unit");
    let mut instance = None;
    if add_host || add_instance || add_unit || drop_inherited {
        let start = w.pos;
        let mut first = true;
        let mut sep = |w: &mut Writer<'_>| {
            if !core::mem::replace(&mut first, false) {
                w.put(b",");
            }
        };
        if let Some(a) = existing {
            if drop_inherited {
                for pair in a.split(|&b| b == b',').filter(|p| !inherited_pair(p)) {
                    sep(w);
                    w.put(pair);
                }
            } else {
                sep(w);
                w.put(a);
            }
        }
        if add_host {
            sep(w);
            w.put(b"host.name=");
            put_encoded(w, host);
        }
        if add_instance {
            sep(w);
            w.put(b"service.instance.id=");
            let id_start = w.pos;
            put_encoded(w, host);
            w.put(b"-");
            put_u32(w, ctx.pid);
            instance = Some((id_start, w.pos));
        }
        if let (true, Some(unit)) = (add_unit, unit) {
            sep(w);
            w.put(b"systemd.unit=");
            put_encoded(w, unit);
        }
        w.put(b"\0");
        w.close(b"OTEL_RESOURCE_ATTRIBUTES\0", start);
    }
    if ctx.mark_inherited && (set_name || instance.is_some()) {
        let start = w.pos;
        if set_name {
            w.put(b"service.name=");
            w.put(name);
        }
        if let Some((s, e)) = instance {
            if set_name {
                w.put(b",");
            }
            w.put(b"service.instance.id=");
            w.put_own(s, e);
        }
        w.put(b"\0");
        w.close(b"ONEAGENT_INJECTED\0", start);
    }
}

/// `key=value` → (trimmed key, value); no `=` → (trimmed pair, `None`).
fn split_pair(pair: &[u8]) -> (&[u8], Option<&[u8]>) {
    match pair.iter().position(|&b| b == b'=') {
        Some(i) => (
            pair.get(..i).unwrap_or_default().trim_ascii(),
            pair.get(i.saturating_add(1)..),
        ),
        None => (pair.trim_ascii(), None),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::snapshot::{SnapshotData, decode, encode};
    use crate::{LanguageSet, ProcessInput, decide};
    use std::string::String;
    use std::vec::Vec;

    const JAR: &str = "/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar";
    const SW: &str = "/usr/lib/oneagent/agents/skywalking/skywalking-agent.jar";
    const PY: &str = "/usr/lib/oneagent/agents/python";
    const NODE: &str = "/usr/lib/oneagent/agents/nodejs/register.js";
    const NET: &str = "/usr/lib/oneagent/agents/dotnet";

    fn data(kind: JavaAgentKind) -> SnapshotData<'static> {
        SnapshotData {
            enabled: true,
            java_agent: kind,
            agents: LanguageSet::INJECTABLE,
            python_log_correlation: false,
            java_agent_path: JAR.as_bytes(),
            skywalking_agent_path: SW.as_bytes(),
            python_dir: PY.as_bytes(),
            nodejs_register: NODE.as_bytes(),
            dotnet_home: NET.as_bytes(),
            otlp_endpoint: b"http://127.0.0.1:4318",
            skywalking_backend: b"127.0.0.1:11800",
            host_name: b"web-01",
            report_socket: b"/run/oneagent/preload.sock",
            own_agent_marker: b"/oneagent/",
            java_options: b"",
            environment: &[],
            disabled_services: &[],
            enabled_services: &[],
            skip_executables: &[],
        }
    }

    struct Case {
        argv: &'static [&'static str],
        env: &'static [&'static str],
        kind: JavaAgentKind,
        /// Expected `NAME=value` assignments, in any order; `Err` for an error.
        want: Result<&'static [&'static str], PlanError>,
    }

    const BASE_PY: [&str; 6] = [
        "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "OTEL_SERVICE_NAME=app",
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
        "OTEL_METRICS_EXPORTER=none",
        "OTEL_LOGS_EXPORTER=none",
        "OTEL_RESOURCE_ATTRIBUTES=host.name=web-01,service.instance.id=web-01-42,systemd.unit=shop.service",
    ];

    fn run_with(
        data: &SnapshotData<'_>,
        case: &Case,
        buf_len: usize,
    ) -> Result<Vec<String>, PlanError> {
        run_marked(data, case, buf_len, false)
    }

    fn run_marked(
        data: &SnapshotData<'_>,
        case: &Case,
        buf_len: usize,
        mark_inherited: bool,
    ) -> Result<Vec<String>, PlanError> {
        let mut sbuf = std::vec![0u8; 4096];
        let n = encode(data, &mut sbuf).unwrap();
        let snap = decode(&sbuf[..n]).unwrap();
        let argv: Vec<&[u8]> = case.argv.iter().map(|s| s.as_bytes()).collect();
        let env: Vec<&[u8]> = case.env.iter().map(|s| s.as_bytes()).collect();
        let input = ProcessInput::new(ByteList::slices(&argv), ByteList::slices(&env));
        let policy = snap.policy();
        let decision = decide(&input, &policy);
        let ctx = Context {
            pid: 42,
            systemd_unit: Some(b"shop.service"),
            dotnet_rid: Some(DotnetRid::LinuxX64),
            mark_inherited,
            dotnet_dirs: DotnetDirs::BOTH,
        };
        let mut buf = std::vec![0u8; buf_len];
        let lookup = ByteList::slices(&env);
        let plan = plan(&decision, &snap, &ctx, &lookup, &mut buf)?;
        let mut out: Vec<String> = plan
            .iter()
            .map(|a| {
                assert_eq!(a.value_with_nul().last(), Some(&0));
                assert_eq!(a.name_with_nul().last(), Some(&0));
                std::format!(
                    "{}={}",
                    String::from_utf8_lossy(a.name()),
                    String::from_utf8_lossy(a.value())
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn check(case: &Case) {
        let got = run_with(&data(case.kind), case, 8192);
        let want = case.want.map(|w| {
            let mut w: Vec<String> = w.iter().map(|s| String::from(*s)).collect();
            w.sort();
            w
        });
        assert_eq!(got, want, "argv {:?} env {:?}", case.argv, case.env);
    }

    fn with(extra: &[&'static str], base: &[&'static str]) -> &'static [&'static str] {
        let mut v: Vec<&'static str> = base.to_vec();
        for e in extra {
            let key = e.split('=').next().unwrap();
            v.retain(|x| x.split('=').next().unwrap() != key);
            v.push(e);
        }
        v.leak()
    }

    fn without(keys: &[&str], base: &[&'static str]) -> &'static [&'static str] {
        let mut v: Vec<&'static str> = base.to_vec();
        v.retain(|x| !keys.contains(&x.split('=').next().unwrap()));
        v.leak()
    }

    #[test]
    fn inherited_values_are_replaced_in_children() {
        let pp =
            std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}")
                .leak();
        let oj = JavaAgentKind::OpenTelemetry;
        let marked = |case: &Case| {
            let mut got = run_marked(&data(case.kind), case, 8192, true);
            if let Ok(v) = &mut got {
                v.sort();
            }
            got
        };
        let sorted = |v: &[&str]| {
            let mut v: Vec<String> = v.iter().map(|s| String::from(*s)).collect();
            v.sort();
            v
        };
        // The parent (pid 42 in these tests): the marker names what we chose.
        let parent = Case {
            argv: &["python3", "app.py"],
            env: &[],
            kind: oj,
            want: Ok(&[]),
        };
        let mut want = with(&[pp], &BASE_PY).to_vec();
        want.push("ONEAGENT_INJECTED=service.name=app,service.instance.id=web-01-42");
        assert_eq!(marked(&parent), Ok(sorted(&want)));

        // Its child `python3 worker.py` inherited everything (the parent was pid 7): its own name
        // and instance id replace the inherited ones; the user's attribute stays, in place.
        let inherited: &'static [&'static str] = with(
            &[
                pp,
                "OTEL_SERVICE_NAME=app",
                "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                "OTEL_METRICS_EXPORTER=none",
                "OTEL_LOGS_EXPORTER=none",
                "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,host.name=web-01,service.instance.id=web-01-7,systemd.unit=shop.service",
                "ONEAGENT_INJECTED=service.name=app,service.instance.id=web-01-7",
            ],
            &[],
        );
        let child = Case {
            argv: &["python3", "worker.py"],
            env: inherited,
            kind: oj,
            want: Ok(&[]),
        };
        assert_eq!(
            marked(&child),
            Ok(sorted(&[
                "OTEL_SERVICE_NAME=worker",
                "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,host.name=web-01,systemd.unit=shop.service,service.instance.id=web-01-42",
                "ONEAGENT_INJECTED=service.name=worker,service.instance.id=web-01-42",
            ]))
        );
        // Without the marker the same values count as the user's: nothing replaced.
        let unmarked = Case {
            argv: &["python3", "worker.py"],
            env: with(&[], &inherited[..inherited.len() - 1]),
            kind: oj,
            want: Ok(&[]),
        };
        assert_eq!(marked(&unmarked), Ok(Vec::new()));
        // The parent's code changed the name before starting the child: the user's choice wins,
        // and a user's own `service.instance.id` is never dropped.
        let changed = Case {
            argv: &["python3", "worker.py"],
            env: with(
                &[
                    "OTEL_SERVICE_NAME=billing",
                    "OTEL_RESOURCE_ATTRIBUTES=host.name=web-01,service.instance.id=mine,systemd.unit=shop.service",
                ],
                inherited,
            ),
            kind: oj,
            want: Ok(&[]),
        };
        assert_eq!(marked(&changed), Ok(Vec::new()));
    }

    /// `[injection] java_options` follow `-javaagent:` unless the user's `JAVA_TOOL_OPTIONS` sets
    /// the same option; both Java agents; no other runtime.
    #[test]
    fn java_options_follow_the_agent_unless_the_user_sets_them() {
        let opts = |kind: JavaAgentKind, env: &'static [&'static str]| {
            let mut d = data(kind);
            d.java_options = b"-Dotel.traces.sampler=parentbased_traceidratio -XX:+UseG1GC -Xss2m -Dotel.instrumentation.jdbc.enabled=false";
            let case = Case {
                argv: &["java", "-jar", "/srv/orders.jar"],
                env,
                kind,
                want: Ok(&[]),
            };
            let got = run_with(&d, &case, 8192).unwrap();
            got.into_iter()
                .find_map(|a| a.strip_prefix("JAVA_TOOL_OPTIONS=").map(String::from))
                .unwrap()
        };
        assert_eq!(
            opts(JavaAgentKind::OpenTelemetry, &[]),
            std::format!(
                "-javaagent:{JAR} -Dotel.traces.sampler=parentbased_traceidratio -XX:+UseG1GC -Xss2m -Dotel.instrumentation.jdbc.enabled=false"
            )
        );
        assert_eq!(
            opts(
                JavaAgentKind::OpenTelemetry,
                &[
                    "JAVA_TOOL_OPTIONS=-Dotel.traces.sampler=always_on  -XX:-UseG1GC -Xss512k -Dfile.encoding=UTF-8"
                ]
            ),
            std::format!(
                "-Dotel.traces.sampler=always_on  -XX:-UseG1GC -Xss512k -Dfile.encoding=UTF-8 -javaagent:{JAR} -Dotel.instrumentation.jdbc.enabled=false"
            )
        );
        assert!(
            opts(JavaAgentKind::SkyWalking, &[])
                .starts_with(&std::format!("-javaagent:{SW} -Dotel.traces.sampler="))
        );
        // Not for another runtime.
        let mut d = data(JavaAgentKind::OpenTelemetry);
        d.java_options = b"-Dx=1";
        let py = Case {
            argv: &["python3", "app.py"],
            env: &[],
            kind: JavaAgentKind::OpenTelemetry,
            want: Ok(&[]),
        };
        assert!(
            !run_with(&d, &py, 8192)
                .unwrap()
                .iter()
                .any(|a| a.contains("-Dx=1"))
        );
        assert_eq!(jvm_option_key(b"-Dname=v"), b"-Dname");
        assert_eq!(
            jvm_option_key(b"-XX:MaxRAMPercentage=75"),
            b"MaxRAMPercentage"
        );
        assert_eq!(jvm_option_key(b"-XX:+UseG1GC"), b"UseG1GC");
        assert_eq!(jvm_option_key(b"-Xmx1g"), b"-Xmx");
        assert_eq!(jvm_option_key(b"-verbose:gc"), b"-verbose");
    }

    /// `[injection.environment]`: each runtime's agent gets its own variables (`OTEL_…` for the
    /// OpenTelemetry agents, `SW_…` for SkyWalking), after ours; the process's own value wins,
    /// a blank one counts as unset; a name the plan sets itself is never doubled.
    #[test]
    fn configured_environment_per_runtime() {
        let entries: &[&[u8]] = &[
            b"python OTEL_TRACES_SAMPLER=parentbased_traceidratio",
            b"python OTEL_TRACES_SAMPLER_ARG=0.25",
            b"python OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis,kafka",
            b"nodejs OTEL_PROPAGATORS=tracecontext,baggage,b3",
            b"java OTEL_INSTRUMENTATION_JDBC_ENABLED=false",
            b"java SW_AGENT_SAMPLE=100",
            b"dotnet OTEL_DOTNET_AUTO_TRACES_INSTRUMENTATION_ENABLED=false",
        ];
        let run =
            |kind: JavaAgentKind, argv: &'static [&'static str], env: &'static [&'static str]| {
                let mut d = data(kind);
                d.environment = entries;
                let case = Case {
                    argv,
                    env,
                    kind,
                    want: Ok(&[]),
                };
                run_with(&d, &case, 8192).unwrap()
            };
        let py = run(
            JavaAgentKind::OpenTelemetry,
            &["python3", "/srv/shop/shop.py"],
            &[],
        );
        for want in [
            "OTEL_TRACES_SAMPLER=parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG=0.25",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis,kafka",
        ] {
            assert!(py.contains(&String::from(want)), "{want}: {py:?}");
        }
        assert!(py.iter().any(|a| a.starts_with("PYTHONPATH=")));
        assert!(
            !py.iter()
                .any(|a| a.contains("PROPAGATORS") || a.contains("JDBC"))
        );
        // The process's own value wins (the whole value: not merged); blank counts as unset.
        let py = run(
            JavaAgentKind::OpenTelemetry,
            &["python3", "/srv/shop/shop.py"],
            &[
                "OTEL_TRACES_SAMPLER=always_on",
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=  ",
            ],
        );
        assert!(!py.iter().any(|a| a.starts_with("OTEL_TRACES_SAMPLER=")));
        assert!(py.contains(&String::from("OTEL_TRACES_SAMPLER_ARG=0.25")));
        assert!(py.contains(&String::from(
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=redis,kafka"
        )));
        let node = run(
            JavaAgentKind::OpenTelemetry,
            &["node", "/srv/shop/shop.js"],
            &[],
        );
        assert!(node.contains(&String::from("OTEL_PROPAGATORS=tracecontext,baggage,b3")));
        assert!(!node.iter().any(|a| a.contains("SAMPLER")));
        let node = run(
            JavaAgentKind::OpenTelemetry,
            &["node", "/srv/shop/shop.js"],
            &["OTEL_PROPAGATORS=b3multi"],
        );
        assert!(!node.iter().any(|a| a.starts_with("OTEL_PROPAGATORS=")));
        let java = run(
            JavaAgentKind::OpenTelemetry,
            &["java", "-jar", "/srv/orders.jar"],
            &[],
        );
        assert!(java.contains(&String::from("OTEL_INSTRUMENTATION_JDBC_ENABLED=false")));
        assert!(!java.iter().any(|a| a.starts_with("SW_AGENT_SAMPLE")));
        let sw = run(
            JavaAgentKind::SkyWalking,
            &["java", "-jar", "/srv/orders.jar"],
            &[],
        );
        assert!(sw.contains(&String::from("SW_AGENT_SAMPLE=100")));
        assert!(!sw.iter().any(|a| a.starts_with("OTEL_")));
        let net = run(
            JavaAgentKind::OpenTelemetry,
            &["dotnet", "/srv/Shop.dll"],
            &[],
        );
        assert!(net.contains(&String::from(
            "OTEL_DOTNET_AUTO_TRACES_INSTRUMENTATION_ENABLED=false"
        )));
        let mut d = data(JavaAgentKind::OpenTelemetry);
        d.environment = entries;
        // An inherited (already injected) Python child still gets missing plain variables.
        let case = Case {
            argv: &["python3", "/srv/shop/shop.py"],
            env: &[
                "PYTHONPATH=/usr/lib/oneagent/agents/python/opentelemetry/instrumentation/auto_instrumentation:/usr/lib/oneagent/agents/python",
                "OTEL_TRACES_SAMPLER=parentbased_traceidratio",
            ],
            kind: JavaAgentKind::OpenTelemetry,
            want: Ok(&[]),
        };
        let child = run_with(&d, &case, 8192).unwrap();
        assert!(
            !child
                .iter()
                .any(|a| a.starts_with("PYTHONPATH=") || a.starts_with("OTEL_TRACES_SAMPLER="))
        );
        assert!(child.contains(&String::from("OTEL_TRACES_SAMPLER_ARG=0.25")));
        // A small buffer: TooLarge, never a cut value.
        let case = Case {
            argv: &["python3", "/srv/shop/shop.py"],
            env: &[],
            kind: JavaAgentKind::OpenTelemetry,
            want: Ok(&[]),
        };
        let full = run_with(&d, &case, 8192).unwrap();
        let smallest = (0..8192)
            .find(|&len| match run_with(&d, &case, len) {
                Ok(got) => {
                    assert_eq!(got, full);
                    true
                }
                Err(e) => {
                    assert_eq!(e, PlanError::TooLarge);
                    false
                }
            })
            .unwrap();
        // Values and the configured names (ours are static) with their NULs.
        let configured_names =
            "OTEL_TRACES_SAMPLER OTEL_TRACES_SAMPLER_ARG OTEL_PYTHON_DISABLED_INSTRUMENTATIONS "
                .len();
        let values: usize = full.iter().map(|a| a.len() - a.find('=').unwrap()).sum();
        assert_eq!(smallest, values + configured_names);
        // A view built by hand (explain, the webhook) with an entry that fails the checks: skipped.
        let mut sbuf = std::vec![0u8; 4096];
        let n = encode(&data(JavaAgentKind::OpenTelemetry), &mut sbuf).unwrap();
        let mut snap = decode(&sbuf[..n]).unwrap();
        snap.environment = crate::NulList::new(b"python LD_PRELOAD=/tmp/x.so\0python OTEL_A=1\0");
        let argv: [&[u8]; 2] = [b"python3", b"/srv/shop/shop.py"];
        let input = ProcessInput::new(ByteList::slices(&argv), ByteList::slices(&[]));
        let decision = decide(&input, &snap.policy());
        let ctx = Context {
            pid: 1,
            systemd_unit: None,
            dotnet_rid: None,
            mark_inherited: false,
            dotnet_dirs: DotnetDirs::BOTH,
        };
        let env: ByteList<'_> = ByteList::slices(&[]);
        let mut buf = [0u8; 4096];
        let plan = plan(&decision, &snap, &ctx, &env, &mut buf).unwrap();
        assert_eq!(plan.get(b"OTEL_A"), Some(&b"1"[..]));
        assert_eq!(plan.get(b"LD_PRELOAD"), None);
        let a = plan.iter().find(|a| a.name() == b"OTEL_A").unwrap();
        assert_eq!(
            (a.name_with_nul(), a.value_with_nul()),
            (&b"OTEL_A\0"[..], &b"1\0"[..])
        );
    }

    /// `OTEL_PYTHON_LOG_CORRELATION`: off by default; when configured, set unless the user set
    /// it (any value, `false` included); never for another runtime.
    #[test]
    fn python_log_correlation_is_an_option() {
        let pp =
            std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}")
                .leak();
        let oj = JavaAgentKind::OpenTelemetry;
        let case = |argv: &'static [&'static str], env: &'static [&'static str]| Case {
            argv,
            env,
            kind: oj,
            want: Ok(&[]),
        };
        let py = case(&["python3", "app.py"], &[]);
        let got = |on: bool, c: &Case| {
            let mut d = data(oj);
            d.python_log_correlation = on;
            run_with(&d, c, 8192).unwrap()
        };
        let sorted = |v: &[&str]| {
            let mut v: Vec<String> = v.iter().map(|s| String::from(*s)).collect();
            v.sort();
            v
        };
        assert_eq!(got(false, &py), sorted(with(&[pp], &BASE_PY)));
        assert_eq!(
            got(true, &py),
            sorted(with(&[pp, "OTEL_PYTHON_LOG_CORRELATION=true"], &BASE_PY))
        );
        let user = case(
            &["python3", "app.py"],
            &["OTEL_PYTHON_LOG_CORRELATION=false"],
        );
        assert!(
            !got(true, &user)
                .iter()
                .any(|a| a.starts_with("OTEL_PYTHON_LOG"))
        );
        let node = case(&["node", "server.js"], &[]);
        assert!(
            !got(true, &node)
                .iter()
                .any(|a| a.starts_with("OTEL_PYTHON_LOG"))
        );
    }

    #[test]
    fn python_rules() {
        let pp =
            std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}")
                .leak();
        let pp_user = std::format!(
            "PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}:/srv/lib"
        )
        .leak();
        let ours =
            std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}")
                .leak();
        let oj = JavaAgentKind::OpenTelemetry;
        for case in [
            Case {
                argv: &["python3", "app.py"],
                env: &[],
                kind: oj,
                want: Ok(with(&[pp], &BASE_PY)),
            },
            // The user's PYTHONPATH is kept, ours goes first.
            Case {
                argv: &["python3", "app.py"],
                env: &["PYTHONPATH=/srv/lib"],
                kind: oj,
                want: Ok(with(&[pp_user], &BASE_PY)),
            },
            // An empty value counts as unset.
            Case {
                argv: &["python3", "app.py"],
                env: &["PYTHONPATH="],
                kind: oj,
                want: Ok(with(&[pp], &BASE_PY)),
            },
            // Ours already present: PYTHONPATH untouched, missing variables filled in.
            Case {
                argv: &["python3", "app.py"],
                env: with(&[ours], &[]),
                kind: oj,
                want: Ok(&BASE_PY),
            },
            // The user's values win.
            Case {
                argv: &["python3", "app.py"],
                env: &[
                    "OTEL_SERVICE_NAME=mine",
                    "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
                    "OTEL_METRICS_EXPORTER=otlp",
                ],
                kind: oj,
                want: Ok(with(
                    &[pp],
                    without(
                        &[
                            "OTEL_SERVICE_NAME",
                            "OTEL_EXPORTER_OTLP_PROTOCOL",
                            "OTEL_METRICS_EXPORTER",
                        ],
                        &BASE_PY,
                    ),
                )),
            },
            Case {
                argv: &["python3", "app.py"],
                env: &["OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,host.name=h1"],
                kind: oj,
                want: Ok(with(
                    &[
                        pp,
                        "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,host.name=h1,service.instance.id=web-01-42,systemd.unit=shop.service",
                    ],
                    &BASE_PY,
                )),
            },
            // service.name in the user's attributes names the service: no OTEL_SERVICE_NAME.
            Case {
                argv: &["python3", "app.py"],
                env: &[
                    "OTEL_RESOURCE_ATTRIBUTES=service.name=Shop API,host.name=h,service.instance.id=i,systemd.unit=u",
                ],
                kind: oj,
                want: Ok(with(
                    &[pp],
                    without(&["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"], &BASE_PY),
                )),
            },
            // Not a target.
            Case {
                argv: &["python3", "-c", "print(1)"],
                env: &[],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
            Case {
                argv: &["ls", "/"],
                env: &[],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
        ] {
            check(&case);
        }
    }

    const BASE_OTEL: [&str; 4] = [
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
        "OTEL_METRICS_EXPORTER=none",
        "OTEL_LOGS_EXPORTER=none",
        "OTEL_RESOURCE_ATTRIBUTES=host.name=web-01,service.instance.id=web-01-42,systemd.unit=shop.service",
    ];

    #[test]
    fn java_rules() {
        let oj = JavaAgentKind::OpenTelemetry;
        let sw = JavaAgentKind::SkyWalking;
        let jto = std::format!("JAVA_TOOL_OPTIONS=-javaagent:{JAR}").leak();
        let jto_user = std::format!("JAVA_TOOL_OPTIONS=-Xmx1g -javaagent:{JAR}").leak();
        let jto_sw = std::format!("JAVA_TOOL_OPTIONS=-javaagent:{SW}").leak();
        let base = with(&["OTEL_SERVICE_NAME=orders"], &BASE_OTEL);
        for case in [
            Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: &[],
                kind: oj,
                want: Ok(with(&[jto], base)),
            },
            Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: &["JAVA_TOOL_OPTIONS=-Xmx1g"],
                kind: oj,
                want: Ok(with(&[jto_user], base)),
            },
            // JAVA_OPTS is never touched.
            Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: &["JAVA_OPTS=-Xmx1g"],
                kind: oj,
                want: Ok(with(&[jto], base)),
            },
            // Ours already configured (inherited): no second -javaagent.
            Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: with(&[jto], &[]),
                kind: oj,
                want: Ok(base),
            },
            // A system property names the service: OTEL_SERVICE_NAME is not set.
            Case {
                argv: &[
                    "java",
                    "-Dotel.service.name=x",
                    "-jar",
                    "/srv/orders-1.2.jar",
                ],
                env: &[],
                kind: oj,
                want: Ok(with(&[jto], &BASE_OTEL)),
            },
            // Another vendor's agent: decide() skips.
            Case {
                argv: &[
                    "java",
                    "-javaagent:/opt/dd/dd-java-agent.jar",
                    "-jar",
                    "/srv/orders-1.2.jar",
                ],
                env: &[],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
            // SkyWalking: its own variables, no OTEL_*.
            Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: &[],
                kind: sw,
                want: Ok(with(
                    &[
                        jto_sw,
                        "SW_AGENT_NAME=orders",
                        "SW_AGENT_COLLECTOR_BACKEND_SERVICES=127.0.0.1:11800",
                    ],
                    &[],
                )),
            },
            Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: &[
                    "SW_AGENT_NAME=Mine",
                    "SW_AGENT_COLLECTOR_BACKEND_SERVICES=oap:11800",
                ],
                kind: sw,
                want: Ok(with(&[jto_sw], &[])),
            },
        ] {
            check(&case);
        }
    }

    #[test]
    fn node_rules() {
        let oj = JavaAgentKind::OpenTelemetry;
        let no = std::format!("NODE_OPTIONS=--require {NODE}").leak();
        let no_user = std::format!("NODE_OPTIONS=--require {NODE} --max-old-space-size=512").leak();
        let base = with(&["OTEL_SERVICE_NAME=server"], &BASE_OTEL);
        for case in [
            Case {
                argv: &["node", "/srv/app/server.js"],
                env: &[],
                kind: oj,
                want: Ok(with(&[no], base)),
            },
            Case {
                argv: &["node", "/srv/app/server.js"],
                env: &["NODE_OPTIONS=--max-old-space-size=512"],
                kind: oj,
                want: Ok(with(&[no_user], base)),
            },
            Case {
                argv: &["node", "/srv/app/server.js"],
                env: with(&[no_user], &[]),
                kind: oj,
                want: Ok(base),
            },
            Case {
                argv: &["node", "-v"],
                env: &[],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
        ] {
            check(&case);
        }
    }

    #[test]
    fn dotnet_rules() {
        let oj = JavaAgentKind::OpenTelemetry;
        let full: &'static [&'static str] = with(
            &[
                "CORECLR_ENABLE_PROFILING=1",
                "CORECLR_PROFILER={918728DD-259F-4A6A-AC2B-B85E1B658318}",
                std::format!("CORECLR_PROFILER_PATH={NET}/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so").leak(),
                std::format!("DOTNET_STARTUP_HOOKS={NET}/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll").leak(),
                std::format!("DOTNET_ADDITIONAL_DEPS={NET}/AdditionalDeps").leak(),
                std::format!("DOTNET_SHARED_STORE={NET}/store").leak(),
                std::format!("OTEL_DOTNET_AUTO_HOME={NET}").leak(),
                "OTEL_SERVICE_NAME=orders.api",
            ],
            &BASE_OTEL,
        );
        let hooks = std::format!("DOTNET_STARTUP_HOOKS=/app/hook.dll:{NET}/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll").leak();
        for case in [
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &[],
                kind: oj,
                want: Ok(full),
            },
            // The user's startup hook is kept, ours appended.
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &["DOTNET_STARTUP_HOOKS=/app/hook.dll"],
                kind: oj,
                want: Ok(with(&[hooks], full)),
            },
            // A user's profiler configuration: decide() stands down already (other-agent), so
            // there is nothing to plan; `user_configured_is_a_second_line` covers the plan's own
            // check.
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &["OTEL_DOTNET_AUTO_HOME=/opt/otel"],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &["CORECLR_PROFILER_PATH=/opt/x.so"],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &["CORECLR_ENABLE_PROFILING=0"],
                kind: oj,
                want: Err(PlanError::NotInject),
            },
            // Every user list is composed: ours appended after the user's entries.
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &[
                    "DOTNET_ADDITIONAL_DEPS=/srv/deps",
                    "DOTNET_SHARED_STORE=/srv/store:/srv/store2",
                ],
                kind: oj,
                want: Ok(with(
                    &[
                        std::format!("DOTNET_ADDITIONAL_DEPS=/srv/deps:{NET}/AdditionalDeps")
                            .leak(),
                        std::format!("DOTNET_SHARED_STORE=/srv/store:/srv/store2:{NET}/store")
                            .leak(),
                    ],
                    full,
                )),
            },
            // Blank values count as unset: no stray `:`.
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &[
                    "DOTNET_STARTUP_HOOKS=  ",
                    "DOTNET_ADDITIONAL_DEPS=\t",
                    "CORECLR_PROFILER= ",
                ],
                kind: oj,
                want: Ok(full),
            },
            // Only our profiler path inherited: ours, the rest is filled in (decide says
            // already configured, and the plan agrees).
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: std::vec![&*std::format!("CORECLR_PROFILER_PATH={NET}/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so").leak()].leak(),
                kind: oj,
                want: Ok(without(&["CORECLR_PROFILER_PATH"], full)),
            },
            // Our own GUID and paths inherited from an injected parent are ours, not another agent.
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: &[
                    "CORECLR_PROFILER={918728dd-259f-4a6a-ac2b-b85e1b658318}",
                    "CORECLR_ENABLE_PROFILING=1",
                ],
                kind: oj,
                want: Ok(without(
                    &["CORECLR_PROFILER", "CORECLR_ENABLE_PROFILING"],
                    full,
                )),
            },
            // Ours inherited: nothing added twice.
            Case {
                argv: &["dotnet", "/app/Orders.Api.dll"],
                env: without(
                    &[
                        "OTEL_SERVICE_NAME",
                        "OTEL_EXPORTER_OTLP_ENDPOINT",
                        "OTEL_METRICS_EXPORTER",
                        "OTEL_LOGS_EXPORTER",
                        "OTEL_RESOURCE_ATTRIBUTES",
                    ],
                    full,
                ),
                kind: oj,
                want: Ok(with(&["OTEL_SERVICE_NAME=orders.api"], &BASE_OTEL)),
            },
        ] {
            check(&case);
        }
    }

    /// The plan's own stand-down, for callers whose decision did not see the variables.
    #[test]
    fn user_configured_is_a_second_line() {
        let mut sbuf = [0u8; 4096];
        let n = encode(&data(JavaAgentKind::OpenTelemetry), &mut sbuf).unwrap();
        let snap = decode(&sbuf[..n]).unwrap();
        let argv: &[&[u8]] = &[b"dotnet", b"/app/Orders.Api.dll"];
        let decision = decide(
            &ProcessInput::new(ByteList::slices(argv), ByteList::EMPTY),
            &snap.policy(),
        );
        assert!(decision.is_inject());
        let ctx = Context {
            pid: 1,
            systemd_unit: None,
            dotnet_rid: Some(DotnetRid::LinuxX64),
            mark_inherited: false,
            dotnet_dirs: DotnetDirs::BOTH,
        };
        for (var, name) in [
            (
                &b"OTEL_DOTNET_AUTO_HOME=/opt/otel"[..],
                "OTEL_DOTNET_AUTO_HOME",
            ),
            (b"CORECLR_PROFILER_PATH=/opt/x.so", "CORECLR_PROFILER_PATH"),
            (b"CORECLR_ENABLE_PROFILING=0", "CORECLR_ENABLE_PROFILING"),
        ] {
            let env: &[&[u8]] = &[var];
            let mut buf = [0u8; 4096];
            assert_eq!(
                plan(&decision, &snap, &ctx, &ByteList::slices(env), &mut buf).map(|p| p.len()),
                Err(PlanError::UserConfigured(name))
            );
        }
    }

    /// `DOTNET_ADDITIONAL_DEPS` and `DOTNET_SHARED_STORE` only for directories that exist.
    #[test]
    fn dotnet_optional_directories() {
        let mut sbuf = [0u8; 4096];
        let n = encode(&data(JavaAgentKind::OpenTelemetry), &mut sbuf).unwrap();
        let snap = decode(&sbuf[..n]).unwrap();
        let argv: &[&[u8]] = &[b"dotnet", b"/app/Orders.Api.dll"];
        let decision = decide(
            &ProcessInput::new(ByteList::slices(argv), ByteList::EMPTY),
            &snap.policy(),
        );
        for (dirs, deps, store) in [
            (DotnetDirs::BOTH, true, true),
            (DotnetDirs::default(), false, false),
            (
                DotnetDirs {
                    additional_deps: true,
                    store: false,
                },
                true,
                false,
            ),
            (
                DotnetDirs {
                    additional_deps: false,
                    store: true,
                },
                false,
                true,
            ),
        ] {
            let ctx = Context {
                pid: 1,
                systemd_unit: None,
                dotnet_rid: Some(DotnetRid::LinuxX64),
                mark_inherited: false,
                dotnet_dirs: dirs,
            };
            let mut buf = [0u8; 4096];
            let p = plan(&decision, &snap, &ctx, &ByteList::EMPTY, &mut buf).unwrap();
            assert_eq!(p.get(b"DOTNET_ADDITIONAL_DEPS").is_some(), deps, "{dirs:?}");
            assert_eq!(p.get(b"DOTNET_SHARED_STORE").is_some(), store, "{dirs:?}");
            assert!(p.get(b"DOTNET_STARTUP_HOOKS").is_some());
        }
    }

    /// "Already configured" only for whole tokens with our exact path, and what `decide` says
    /// (`already_injected`) always matches what the plan does (no flag added, or added).
    #[test]
    fn exact_tokens_and_decide_agree() {
        let oj = JavaAgentKind::OpenTelemetry;
        let base_java = with(&["OTEL_SERVICE_NAME=orders"], &BASE_OTEL);
        let base_node = with(&["OTEL_SERVICE_NAME=server"], &BASE_OTEL);
        let jto = |user: &str| -> &'static str {
            if user.is_empty() {
                std::format!("JAVA_TOOL_OPTIONS=-javaagent:{JAR}").leak()
            } else {
                std::format!("JAVA_TOOL_OPTIONS={user} -javaagent:{JAR}").leak()
            }
        };
        let no = |user: &str| -> &'static str {
            if user.is_empty() {
                std::format!("NODE_OPTIONS=--require {NODE}").leak()
            } else {
                std::format!("NODE_OPTIONS=--require {NODE} {user}").leak()
            }
        };
        let bak = std::format!("-Dbackup.agent={JAR}.bak");
        let prop = std::format!("-Dx=-javaagent:{JAR}");
        let node_bak = std::format!("--require {NODE}.bak");
        let node_title = std::format!("--title={NODE}");
        /// argv, env, the plan's assignments (empty: skip), `already_injected`.
        type Row = (Vec<&'static str>, Vec<String>, Vec<&'static str>, bool);
        let cases: Vec<Row> = std::vec![
            // Java: our jar's name inside another option is not our agent.
            (std::vec!["java", "-jar", "/srv/orders-1.2.jar"], std::vec![std::format!("JAVA_TOOL_OPTIONS={bak}")],
                with(&[jto(&bak)], base_java).to_vec(), false),
            (std::vec!["java", "-jar", "/srv/orders-1.2.jar"], std::vec![std::format!("JAVA_TOOL_OPTIONS={prop}")],
                with(&[jto(&prop)], base_java).to_vec(), false),
            // Our exact token, with agent arguments, is ours.
            (std::vec!["java", "-jar", "/srv/orders-1.2.jar"], std::vec![std::format!("JAVA_TOOL_OPTIONS=-javaagent:{JAR}=debug")],
                base_java.to_vec(), true),
            // Node: exact --require/-r/--require= values only.
            (std::vec!["node", "/srv/app/server.js"], std::vec![std::format!("NODE_OPTIONS={node_bak}")],
                with(&[no(&node_bak)], base_node).to_vec(), false),
            (std::vec!["node", "/srv/app/server.js"], std::vec![std::format!("NODE_OPTIONS={node_title}")],
                with(&[no(&node_title)], base_node).to_vec(), false),
            (std::vec!["node", "/srv/app/server.js"], std::vec![std::format!("NODE_OPTIONS=-r {NODE}")],
                base_node.to_vec(), true),
            (std::vec!["node", "/srv/app/server.js"], std::vec![std::format!("NODE_OPTIONS=--require={NODE}")],
                base_node.to_vec(), true),
            // Python: the agent directory alone does not load the agent; the exact
            // auto_instrumentation entry does.
            (std::vec!["python3", "app.py"], std::vec![std::format!("PYTHONPATH={PY}")],
                with(&[std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}:{PY}").leak()], &BASE_PY).to_vec(), false),
            // A trailing slash is the same directory to Python: ours.
            (std::vec!["python3", "app.py"], std::vec![std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation/")],
                BASE_PY.to_vec(), true),
            // Another OpenTelemetry install's entry is another agent: nothing to plan.
            (std::vec!["python3", "app.py"], std::vec![String::from("PYTHONPATH=/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation:/otel-auto-instrumentation-python")],
                std::vec![], false),
        ];
        let mut sbuf = [0u8; 4096];
        let n = encode(&data(oj), &mut sbuf).unwrap();
        let snap = decode(&sbuf[..n]).unwrap();
        for (argv, env, want, already) in cases {
            let env_refs: Vec<&'static str> =
                env.iter().map(|e| &*String::clone(e).leak()).collect();
            let argv_refs: Vec<&'static str> = argv.clone();
            let case = Case {
                argv: argv_refs.leak(),
                env: env_refs.clone().leak(),
                kind: oj,
                // No assignment at all: the decision is to skip.
                want: if want.is_empty() {
                    Err(PlanError::NotInject)
                } else {
                    Ok(want.leak())
                },
            };
            check(&case);
            let a: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
            let e: Vec<&[u8]> = env_refs.iter().map(|s| s.as_bytes()).collect();
            let d = decide(
                &ProcessInput::new(ByteList::slices(&a), ByteList::slices(&e)),
                &snap.policy(),
            );
            assert_eq!(d.already_injected, already, "{argv:?} {env:?}");
        }
    }

    /// `explain` never lies: over random environments built from our values, near-misses, other
    /// vendors' values and blanks, whenever `decide` says inject the plan succeeds and the process
    /// ends up with exactly one copy of our agent flag — added when `already_injected` is false,
    /// already there (and untouched) when it is true.
    #[test]
    fn decide_and_plan_agree_on_random_environments() {
        let jar = JAR;
        let vocab: &[(&str, &[&str])] = &[
            (
                "JAVA_TOOL_OPTIONS",
                &[
                    "-Xmx1g",
                    " ",
                    "\t",
                    "",
                    "-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar",
                    "-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar=a=b",
                    "-Dbackup.agent=/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar.bak",
                    "-javaagent:/opt/dd/dd-java-agent.jar",
                ],
            ),
            (
                "NODE_OPTIONS",
                &[
                    "--max-old-space-size=512",
                    "   ",
                    "",
                    "--require /usr/lib/oneagent/agents/nodejs/register.js",
                    "-r /usr/lib/oneagent/agents/nodejs/register.js",
                    "--require=/usr/lib/oneagent/agents/nodejs/register.js",
                    "--title=/usr/lib/oneagent/agents/nodejs/register.js",
                    "--require dd-trace/init",
                ],
            ),
            (
                "PYTHONPATH",
                &[
                    "/srv/lib",
                    " ",
                    "",
                    "/usr/lib/oneagent/agents/python",
                    "/usr/lib/oneagent/agents/python/opentelemetry/instrumentation/auto_instrumentation",
                    "/srv/a:/usr/lib/oneagent/agents/python/opentelemetry/instrumentation/auto_instrumentation/",
                    "/opt/ddtrace/bootstrap",
                ],
            ),
            (
                "CORECLR_PROFILER",
                &[
                    "{918728DD-259F-4A6A-AC2B-B85E1B658318}",
                    "{846F5F1C-F9AE-4B07-969E-05C26BC060D8}",
                    " ",
                ],
            ),
            (
                "CORECLR_PROFILER_PATH",
                &[
                    "/usr/lib/oneagent/agents/dotnet/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so",
                    "/opt/x/profiler.so",
                    "",
                ],
            ),
            ("CORECLR_ENABLE_PROFILING", &["1", "0", " "]),
            (
                "OTEL_DOTNET_AUTO_HOME",
                &["/usr/lib/oneagent/agents/dotnet", "/opt/otel", ""],
            ),
            ("DOTNET_STARTUP_HOOKS", &["/srv/Hook.dll", " "]),
            ("ONEAGENT_PRELOAD_DISABLE", &["0", "false", "1", "yes", ""]),
            ("DD_TRACE_AGENT_URL", &["http://x:8126", " "]),
            ("DD_TRACE_ENABLED", &["false", "true"]),
        ];
        let commands: &[(&[&str], &[u8], &str)] = &[
            (
                &["java", "-jar", "/srv/orders-1.2.jar"],
                b"JAVA_TOOL_OPTIONS",
                "-javaagent:",
            ),
            (
                &["node", "/srv/app/server.js"],
                b"NODE_OPTIONS",
                "--require ",
            ),
            (&["python3", "app.py"], b"PYTHONPATH", ""),
            (
                &["dotnet", "/app/Orders.Api.dll"],
                b"CORECLR_PROFILER_PATH",
                "",
            ),
        ];
        let mut sbuf = [0u8; 4096];
        let n = encode(&data(JavaAgentKind::OpenTelemetry), &mut sbuf).unwrap();
        let snap = decode(&sbuf[..n]).unwrap();
        let ctx = Context {
            pid: 7,
            systemd_unit: None,
            dotnet_rid: Some(DotnetRid::LinuxX64),
            mark_inherited: true,
            dotnet_dirs: DotnetDirs::BOTH,
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % u64::try_from(n).unwrap()).unwrap()
        };
        let ours_in = |var: &[u8], value: &[u8]| -> usize {
            let v = core::str::from_utf8(value).unwrap();
            match var {
                b"JAVA_TOOL_OPTIONS" => v
                    .split_ascii_whitespace()
                    .filter(|t| {
                        t.strip_prefix("-javaagent:")
                            .is_some_and(|p| p.split('=').next() == Some(jar))
                    })
                    .count(),
                b"NODE_OPTIONS" => {
                    let t: Vec<&str> = v.split_ascii_whitespace().collect();
                    t.iter()
                        .enumerate()
                        .filter(|(i, x)| {
                            (matches!(**x, "--require" | "-r") && t.get(i + 1) == Some(&NODE))
                                || x.strip_prefix("--require=") == Some(NODE)
                        })
                        .count()
                }
                b"PYTHONPATH" => v
                    .split(':')
                    .filter(|e| {
                        e.trim_end_matches('/')
                            == std::format!(
                                "{PY}/opentelemetry/instrumentation/auto_instrumentation"
                            )
                    })
                    .count(),
                _ => usize::from(v.starts_with(NET)),
            }
        };
        let mut seen = [0usize; 3];
        for _ in 0..20_000 {
            let (argv, var, _) = commands[next(commands.len())];
            let mut env: Vec<String> = Vec::new();
            for (k, values) in vocab {
                if next(3) == 0 {
                    env.push(std::format!("{k}={}", values[next(values.len())]));
                }
            }
            let env_b: Vec<&[u8]> = env.iter().map(|s| s.as_bytes()).collect();
            let argv_b: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
            let list = ByteList::slices(&env_b);
            let d = decide(
                &ProcessInput::new(ByteList::slices(&argv_b), list),
                &snap.policy(),
            );
            let mut buf = std::vec![0u8; 8192];
            let p = plan(&d, &snap, &ctx, &list, &mut buf);
            if !d.is_inject() {
                assert_eq!(p.map(|p| p.len()).err(), Some(PlanError::NotInject));
                seen[0] += 1;
                continue;
            }
            let p = p.unwrap_or_else(|e| {
                panic!("decide says inject, plan says {e:?}: {argv:?} {env:?}")
            });
            if var == b"CORECLR_PROFILER_PATH" {
                // .NET: what the process ends up with is our profiler, from our home, and our
                // startup hook exactly once.
                let effective = |k: &[u8]| {
                    p.get(k)
                        .or_else(|| list.get(k).filter(|v| !v.trim_ascii().is_empty()))
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                assert_eq!(
                    effective(b"CORECLR_PROFILER").map(|g| g.trim().to_ascii_uppercase()),
                    Some(String::from_utf8_lossy(DOTNET_PROFILER_GUID).into_owned()),
                    "{env:?}"
                );
                assert!(
                    effective(b"CORECLR_PROFILER_PATH").is_some_and(|v| v.starts_with(NET)),
                    "{env:?}"
                );
                let hook =
                    std::format!("{NET}/net/OpenTelemetry.AutoInstrumentation.StartupHook.dll");
                assert_eq!(
                    effective(b"DOTNET_STARTUP_HOOKS")
                        .map(|v| v.split(':').filter(|e| *e == hook).count()),
                    Some(1),
                    "{env:?}"
                );
                seen[usize::from(!d.already_injected) + 1] += 1;
                continue;
            }
            let before = list.get(var).map_or(0, |v| ours_in(var, v));
            let after = p.get(var).map_or(before, |v| ours_in(var, v));
            if d.already_injected {
                assert!(
                    before >= 1,
                    "already_injected without our flag: {argv:?} {env:?}"
                );
                assert!(
                    p.get(var).is_none() || after == before,
                    "changed: {argv:?} {env:?}"
                );
                seen[1] += 1;
            } else {
                assert_eq!(
                    (before, after),
                    (0, 1),
                    "{argv:?} {env:?} -> {:?}",
                    p.get(var).map(String::from_utf8_lossy)
                );
                seen[2] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 500), "{seen:?}");
    }

    /// A blank user value is replaced by ours, with no stray separator around it.
    #[test]
    fn blank_values_count_as_unset() {
        let oj = JavaAgentKind::OpenTelemetry;
        let base_java = with(&["OTEL_SERVICE_NAME=orders"], &BASE_OTEL);
        let base_node = with(&["OTEL_SERVICE_NAME=server"], &BASE_OTEL);
        let jto = std::format!("JAVA_TOOL_OPTIONS=-javaagent:{JAR}").leak();
        let no = std::format!("NODE_OPTIONS=--require {NODE}").leak();
        let pp =
            std::format!("PYTHONPATH={PY}/opentelemetry/instrumentation/auto_instrumentation:{PY}")
                .leak();
        for blank in [" ", "   ", "\t", " \t \n", "\r\n"] {
            let e = |k: &str| -> &'static [&'static str] {
                std::vec![&*std::format!("{k}={blank}").leak()].leak()
            };
            check(&Case {
                argv: &["java", "-jar", "/srv/orders-1.2.jar"],
                env: e("JAVA_TOOL_OPTIONS"),
                kind: oj,
                want: Ok(with(&[jto], base_java)),
            });
            check(&Case {
                argv: &["node", "/srv/app/server.js"],
                env: e("NODE_OPTIONS"),
                kind: oj,
                want: Ok(with(&[no], base_node)),
            });
            check(&Case {
                argv: &["python3", "app.py"],
                env: e("PYTHONPATH"),
                kind: oj,
                want: Ok(with(&[pp], &BASE_PY)),
            });
            // A blank OTEL_SERVICE_NAME or attribute list is no user value either.
            check(&Case {
                argv: &["python3", "app.py"],
                env: e("OTEL_RESOURCE_ATTRIBUTES"),
                kind: oj,
                want: Ok(with(&[pp], &BASE_PY)),
            });
            check(&Case {
                argv: &["python3", "app.py"],
                env: e("OTEL_EXPORTER_OTLP_ENDPOINT"),
                kind: oj,
                want: Ok(with(&[pp], &BASE_PY)),
            });
        }
    }

    #[test]
    fn unsafe_or_missing_paths_and_small_buffers() {
        let case = Case {
            argv: &["java", "-jar", "/srv/a.jar"],
            env: &[],
            kind: JavaAgentKind::OpenTelemetry,
            want: Ok(&[]),
        };
        for (path, want) in [
            (&b"/opt/my agent/a.jar"[..], PlanError::UnsafePath),
            (b"relative/a.jar", PlanError::UnsafePath),
            (b"/opt/a.jar=opt", PlanError::UnsafePath),
            (b"/opt/a.jar:x", PlanError::UnsafePath),
            (b"", PlanError::NoAgentPath),
        ] {
            let mut d = data(JavaAgentKind::OpenTelemetry);
            d.java_agent_path = path;
            assert_eq!(run_with(&d, &case, 8192), Err(want), "{path:?}");
        }
        let d = data(JavaAgentKind::OpenTelemetry);
        for len in [0, 1, 10, 100] {
            assert_eq!(run_with(&d, &case, len), Err(PlanError::TooLarge));
        }
        assert!(run_with(&d, &case, 400).is_ok());
    }

    #[test]
    fn resource_attribute_values_are_encoded() {
        let mut d = data(JavaAgentKind::OpenTelemetry);
        d.host_name = b"web 01,x=y";
        let case = Case {
            argv: &["python3", "app.py"],
            env: &[],
            kind: JavaAgentKind::OpenTelemetry,
            want: Ok(&[]),
        };
        let got = run_with(&d, &case, 8192).unwrap();
        assert!(got.contains(&String::from(
            "OTEL_RESOURCE_ATTRIBUTES=host.name=web%2001%2Cx%3Dy,service.instance.id=web%2001%2Cx%3Dy-42,systemd.unit=shop.service"
        )), "{got:?}");
    }

    #[test]
    fn agent_files_per_language() {
        let mut sbuf = [0u8; 4096];
        let n = encode(&data(JavaAgentKind::OpenTelemetry), &mut sbuf).unwrap();
        let snap = decode(&sbuf[..n]).unwrap();
        let [f, none] = agent_files(Language::Java, &snap, None);
        assert_eq!(none, None);
        let f = f.unwrap();
        assert_eq!(f.magic, MAGIC_ZIP);
        let mut p = [0u8; 256];
        assert_eq!(
            f.c_path(&mut p).unwrap(),
            std::format!("{JAR}\0").as_bytes()
        );
        let [hook, native] = agent_files(Language::DotNet, &snap, DotnetRid::current(false));
        assert_eq!(hook.unwrap().magic, MAGIC_PE);
        let native = native.unwrap();
        assert!(
            native
                .c_path(&mut p)
                .unwrap()
                .ends_with(b"OpenTelemetry.AutoInstrumentation.Native.so\0")
        );
        let [py, _] = agent_files(Language::Python, &snap, None);
        assert!(
            py.unwrap()
                .c_path(&mut p)
                .unwrap()
                .ends_with(b"auto_instrumentation/sitecustomize.py\0")
        );
        assert_eq!(agent_files(Language::Go, &snap, None), [None, None]);
        let mut tiny = [0u8; 4];
        assert_eq!(py.unwrap().c_path(&mut tiny), None);
    }

    #[test]
    fn env_lookup_first_wins() {
        let env: &[&[u8]] = &[b"A=1", b"AB=2", b"A=3", b"B"];
        let l = ByteList::slices(env);
        assert_eq!(l.get(b"A"), Some(&b"1"[..]));
        assert_eq!(l.get(b"AB"), Some(&b"2"[..]));
        assert_eq!(l.get(b"B"), None);
        assert_eq!(l.get(b"C"), None);
    }
}
