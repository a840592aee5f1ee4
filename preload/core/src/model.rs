//! The inputs and outputs of [`decide`](crate::decide).

use core::fmt;

use crate::bytes::write_bytes;
use crate::list::ByteList;
use crate::name::{ServiceName, ServiceNameSource};

/// A language runtime we recognise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// A JVM (`java`, or `libjvm.so` mapped).
    Java,
    /// CPython or PyPy.
    Python,
    /// Node.js.
    NodeJs,
    /// .NET (CoreCLR): the `dotnet` host or an apphost.
    DotNet,
    /// A Go binary (build info present). Reported, never injected.
    Go,
    /// Ruby. Reported, never injected.
    Ruby,
    /// PHP (CLI, FPM, CGI). Reported, never injected.
    Php,
}

impl Language {
    /// Every language, in a stable order.
    pub const ALL: [Language; 7] = [
        Self::Java,
        Self::Python,
        Self::NodeJs,
        Self::DotNet,
        Self::Go,
        Self::Ruby,
        Self::Php,
    ];

    /// Stable machine name: `java`, `python`, `nodejs`, `dotnet`, `go`, `ruby`, `php`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Java => "java",
            Self::Python => "python",
            Self::NodeJs => "nodejs",
            Self::DotNet => "dotnet",
            Self::Go => "go",
            Self::Ruby => "ruby",
            Self::Php => "php",
        }
    }

    /// Parses [`Language::as_str`] names (also `node`), ignoring ASCII case.
    pub fn parse(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"node") {
            return Some(Self::NodeJs);
        }
        Self::ALL
            .into_iter()
            .find(|l| name.eq_ignore_ascii_case(l.as_str().as_bytes()))
    }

    /// Go, Ruby and PHP are detected and reported but never injected.
    pub const fn is_report_only(self) -> bool {
        matches!(self, Self::Go | Self::Ruby | Self::Php)
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Java => 1,
            Self::Python => 1 << 1,
            Self::NodeJs => 1 << 2,
            Self::DotNet => 1 << 3,
            Self::Go => 1 << 4,
            Self::Ruby => 1 << 5,
            Self::Php => 1 << 6,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small set of [`Language`]s (a bitset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LanguageSet(u8);

impl LanguageSet {
    /// No language.
    pub const EMPTY: Self = Self(0);
    /// Every language.
    pub const ALL: Self = Self(0x7f);
    /// The languages we can inject: Java, Python, Node.js, .NET.
    pub const INJECTABLE: Self = Self(0x0f);

    /// Whether `lang` is in the set.
    pub const fn contains(self, lang: Language) -> bool {
        self.0 & lang.bit() != 0
    }

    /// The set with `lang` added.
    #[must_use]
    pub const fn with(self, lang: Language) -> Self {
        Self(self.0 | lang.bit())
    }

    /// The set with `lang` removed.
    #[must_use]
    pub const fn without(self, lang: Language) -> Self {
        Self(self.0 & !lang.bit())
    }

    /// The raw bits (bit order as in [`Language::ALL`]).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// A set from raw bits; unknown bits are dropped.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::ALL.0)
    }
}

/// What to do with the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Give the process its language's agent.
    Inject,
    /// Leave the process alone.
    Skip,
}

impl Action {
    /// `inject` or `skip`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Inject => "inject",
            Self::Skip => "skip",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which Java agent the host uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum JavaAgentKind {
    /// The OpenTelemetry Java agent.
    #[default]
    OpenTelemetry,
    /// The Apache SkyWalking Java agent (`SW_AGENT_NAME` is then preferred for the service name).
    SkyWalking,
}

impl JavaAgentKind {
    /// `opentelemetry` or `skywalking` (the config file's spelling).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenTelemetry => "opentelemetry",
            Self::SkyWalking => "skywalking",
        }
    }

    /// Parses [`JavaAgentKind::as_str`] names, ignoring ASCII case.
    pub fn parse(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"opentelemetry") {
            Some(Self::OpenTelemetry)
        } else if name.eq_ignore_ascii_case(b"skywalking") {
            Some(Self::SkyWalking)
        } else {
            None
        }
    }
}

/// Why [`decide`](crate::decide) chose its [`Action`]. `Display` writes a human sentence (no
/// allocation: write it into any `core::fmt::Write`); [`Reason::code`] is a stable machine code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason<'a> {
    /// `unknown-input`: empty argv (and no executable path).
    UnknownInput,
    /// `not-runtime`: not a recognised runtime (shells, `grep java`, `vim app.py`, …).
    NotRuntime,
    /// `not-long-running`: the command prints something and exits (`java -version`, `python -c`).
    NotLongRunning {
        /// What runs (`java`, `inline code (-c)`).
        program: &'static str,
        /// The argument that makes it short-lived, from the command line (may be empty).
        arg: &'a [u8],
    },
    /// `build-tool`: a build tool, compiler, test runner or linter.
    BuildTool(&'a [u8]),
    /// `package-manager`: a package manager (`pip install`, `npm ci`, `apt`).
    PackageManager(&'a [u8]),
    /// `interactive`: a REPL or shell of the runtime.
    Interactive(&'static str),
    /// `tool`: a tool shipped with a runtime that is not an application (`keytool`, `jcmd`).
    Tool(&'a [u8]),
    /// `launcher`: a runtime process that only starts another process, which is decided on its own
    /// (`npm start`, `npx`, `pm2`, `nodemon`); injecting here would instrument the launcher too.
    Launcher(&'a [u8]),
    /// `other-agent`: another vendor's agent or profiler is configured.
    OtherAgent {
        /// The vendor (`Datadog`, `New Relic`, …; see [`crate::vendor`]), empty when unknown.
        vendor: &'static [u8],
        /// The agent as configured (a `-javaagent:` token, an env name, a `--require` value).
        what: &'a [u8],
        /// Where it was found (` in JAVA_TOOL_OPTIONS`), or empty for the command line.
        place: &'static str,
    },
    /// `opted-out`: the process's environment turns injection off: the kill switch
    /// ([`KILL_SWITCH`](crate::KILL_SWITCH) set to a true value) or, for .NET,
    /// `CORECLR_ENABLE_PROFILING=0`.
    OptedOut(&'a [u8]),
    /// `multiple-runtimes`: the executable embeds two runtimes (`libjvm` and `libpython`): which
    /// one runs the application cannot be told, so neither agent is given.
    MultipleRuntimes(Language, Language),
    /// `unsupported-runtime`: the runtime version or target framework is one our agent does not
    /// support (a .NET application built for `net6.0`).
    Unsupported {
        /// The runtime.
        language: Language,
        /// What was found (`net6.0`).
        what: &'a [u8],
        /// What is supported (`.NET 8 or later`).
        supported: &'static str,
    },
    /// `report-only`: Go, Ruby, PHP are detected and reported, nothing is injected.
    ReportOnly(Language),
    /// `skip-executable`: the executable is on the policy's skip list (crash circuit breaker).
    SkipExecutable,
    /// `disabled-service`: injection is disabled for this service.
    DisabledService(ServiceName),
    /// `disabled-global`: injection is disabled globally (and the service is not explicitly enabled).
    DisabledGlobal,
    /// `no-agent`: no agent is available for the language on this host.
    NoAgent(Language),
    /// `instrumentable`: inject.
    Instrumentable {
        /// The runtime.
        language: Language,
        /// Our agent is already configured (inherited from a parent, or set by hand): the caller
        /// must not add it again, but may still fill in variables that are missing.
        already_injected: bool,
    },
}

impl Reason<'_> {
    /// Stable machine code (`kebab-case`).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::UnknownInput => "unknown-input",
            Self::NotRuntime => "not-runtime",
            Self::NotLongRunning { .. } => "not-long-running",
            Self::BuildTool(_) => "build-tool",
            Self::PackageManager(_) => "package-manager",
            Self::Interactive(_) => "interactive",
            Self::Tool(_) => "tool",
            Self::Launcher(_) => "launcher",
            Self::OtherAgent { .. } => "other-agent",
            Self::ReportOnly(_) => "report-only",
            Self::SkipExecutable => "skip-executable",
            Self::DisabledService(_) => "disabled-service",
            Self::DisabledGlobal => "disabled-global",
            Self::NoAgent(_) => "no-agent",
            Self::Instrumentable { .. } => "instrumentable",
            Self::OptedOut(_) => "opted-out",
            Self::MultipleRuntimes(..) => "multiple-runtimes",
            Self::Unsupported { .. } => "unsupported-runtime",
        }
    }

    /// Every reason code, for documentation and metrics label sets.
    pub const CODES: [&'static str; 18] = [
        "unknown-input",
        "not-runtime",
        "not-long-running",
        "build-tool",
        "package-manager",
        "interactive",
        "tool",
        "launcher",
        "other-agent",
        "report-only",
        "skip-executable",
        "disabled-service",
        "disabled-global",
        "no-agent",
        "instrumentable",
        "opted-out",
        "multiple-runtimes",
        "unsupported-runtime",
    ];
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownInput => f.write_str("no command line to inspect (empty argv)"),
            Self::NotRuntime => f.write_str("not a recognised runtime"),
            Self::NotLongRunning { program, arg } => {
                f.write_str(program)?;
                if !arg.is_empty() {
                    f.write_str(" ")?;
                    write_bytes(f, arg)?;
                }
                f.write_str(": not a long-running application")
            }
            Self::BuildTool(name) => {
                f.write_str("build tool: ")?;
                write_bytes(f, name)
            }
            Self::PackageManager(name) => {
                f.write_str("package manager: ")?;
                write_bytes(f, name)
            }
            Self::Interactive(what) => f.write_str(what),
            Self::Tool(name) => {
                f.write_str("tool: ")?;
                write_bytes(f, name)?;
                f.write_str(" (not an application)")
            }
            Self::Launcher(name) => {
                f.write_str("launcher: ")?;
                write_bytes(f, name)?;
                f.write_str(" (the program it starts is decided on its own)")
            }
            Self::OtherAgent {
                vendor,
                what,
                place,
            } => {
                f.write_str("other agent present: ")?;
                if !vendor.is_empty() {
                    write_bytes(f, vendor)?;
                    f.write_str(": ")?;
                }
                write_bytes(f, what)?;
                f.write_str(place)
            }
            Self::OptedOut(what) => {
                f.write_str("opted out: ")?;
                write_bytes(f, what)?;
                f.write_str(" in the environment")
            }
            Self::MultipleRuntimes(a, b) => {
                write!(
                    f,
                    "the executable embeds two runtimes ({a} and {b}): not instrumented"
                )
            }
            Self::Unsupported {
                language,
                what,
                supported,
            } => {
                write!(f, "{language} ")?;
                write_bytes(f, what)?;
                write!(f, ": not supported by our agent ({supported})")
            }
            Self::ReportOnly(lang) => write!(f, "{lang}: no injection (report only)"),
            Self::SkipExecutable => {
                f.write_str("executable is on the skip list (crash circuit breaker)")
            }
            Self::DisabledService(name) => write!(f, "injection disabled for service {name}"),
            Self::DisabledGlobal => f.write_str("injection disabled globally"),
            Self::NoAgent(lang) => write!(f, "no agent available for {lang}"),
            Self::Instrumentable {
                language,
                already_injected,
            } => {
                write!(f, "instrumentable {language} application")?;
                if already_injected {
                    f.write_str(" (our agent is already configured)")?;
                }
                Ok(())
            }
        }
    }
}

/// Facts about the executable that the caller gathered (all optional).
#[derive(Clone, Copy, Debug, Default)]
pub struct ExeFacts<'a> {
    /// The executable image (`/proc/PID/exe`; a ` (deleted)` suffix is ignored). Empty when unknown.
    /// This is the ELF file, never a script: for `#!/usr/bin/python3` scripts it is the interpreter.
    pub path: &'a [u8],
    /// Library names or paths the executable needs or maps (`DT_NEEDED` entries or paths from
    /// `/proc/PID/maps`): `libjvm.so`, `libpython3.11.so.1.0`, `libnode.so.108`, `libcoreclr.so`,
    /// `libhostfxr.so`, … At most [`MAX_LIST`](crate::MAX_LIST) entries are looked at.
    pub libraries: ByteList<'a>,
    /// The executable carries Go build info (`.go.buildinfo`).
    pub go_build_info: bool,
    /// The Go version from the build info (`go1.22.3`), if read.
    pub go_version: Option<&'a [u8]>,
    /// The caller found evidence that the executable is a .NET apphost (for example
    /// `<exe>.runtimeconfig.json` beside it) when the runtime libraries are not mapped yet.
    pub dotnet_apphost: bool,
    /// The name the process's project declares and the file it comes from (Node.js: the
    /// nearest `package.json`; Python: `pyproject.toml` or `setup.cfg` of a generic entry
    /// point), if the caller read it: see [`crate::project`].
    pub declared_name: Option<(&'a [u8], ServiceNameSource)>,
    /// A .NET application's target framework (`net8.0`, or the `Microsoft.NETCore.App` version),
    /// from its `*.runtimeconfig.json` (see [`crate::dotnet_app`]), if the caller read it.
    pub dotnet_target: Option<&'a [u8]>,
    /// The .NET application's `*.deps.json` references OpenTelemetry packages (it is
    /// instrumented already; a second copy would conflict).
    pub dotnet_references_otel: bool,
}

impl ExeFacts<'_> {
    /// No facts.
    pub const EMPTY: ExeFacts<'static> = ExeFacts {
        path: &[],
        libraries: ByteList::EMPTY,
        go_build_info: false,
        go_version: None,
        dotnet_apphost: false,
        declared_name: None,
        dotnet_target: None,
        dotnet_references_otel: false,
    };
}

/// Everything [`decide`](crate::decide) looks at for one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessInput<'a> {
    /// The command line (`/proc/PID/cmdline`, or a slice the CLI built).
    pub argv: ByteList<'a>,
    /// The environment (`/proc/PID/environ`, or `KEY=VALUE` entries); the first of duplicate keys
    /// wins, like `getenv`.
    pub env: ByteList<'a>,
    /// Facts about the executable.
    pub exe: ExeFacts<'a>,
    /// The contents of `/proc/PID/cgroup` (may be empty).
    pub cgroup: &'a [u8],
    /// The working directory (`/proc/PID/cwd`), used only to name Django projects; may be empty.
    pub cwd: &'a [u8],
}

impl<'a> ProcessInput<'a> {
    /// An input with just a command line and an environment.
    pub const fn new(argv: ByteList<'a>, env: ByteList<'a>) -> Self {
        Self {
            argv,
            env,
            exe: ExeFacts::EMPTY,
            cgroup: &[],
            cwd: &[],
        }
    }
}

/// The host's injection policy (compiled from the configuration by the daemon).
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// Global switch; when off, only services in `enabled_services` are injected.
    pub enabled: bool,
    /// Languages whose agent is installed and readable.
    pub agents: LanguageSet,
    /// Which Java agent is configured.
    pub java_agent: JavaAgentKind,
    /// Service names never injected (compared after sanitizing both sides).
    pub disabled_services: ByteList<'a>,
    /// Service names injected even when `enabled` is false.
    pub enabled_services: ByteList<'a>,
    /// Executable paths never injected (the crash circuit breaker fills this).
    pub skip_executables: ByteList<'a>,
    /// A byte string that identifies our own agents' paths (default `/oneagent/`), used only for
    /// a language whose path in `own_agents` is empty. Paths that also contain `dynatrace` are
    /// never ours (Dynatrace installs to `/opt/dynatrace/oneagent/`).
    pub own_agent_marker: &'a [u8],
    /// Our agents' exact paths: our agent is "already configured" only when exactly this path is
    /// given as a whole option (`-javaagent:<java>`, `--require <nodejs>`, the `PYTHONPATH` entry
    /// `<python>/opentelemetry/instrumentation/auto_instrumentation`, profiler paths under
    /// `<dotnet>/`).
    pub own_agents: OwnAgents<'a>,
}

/// Our agents' configured paths (as in the snapshot); an empty path falls back to the marker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnAgents<'a> {
    /// The OpenTelemetry Java agent jar.
    pub java: &'a [u8],
    /// The SkyWalking Java agent jar.
    pub skywalking: &'a [u8],
    /// The Python agent directory (a `pip install --target` directory).
    pub python: &'a [u8],
    /// The Node.js file given to `--require`.
    pub nodejs: &'a [u8],
    /// The .NET agent's home (`OTEL_DOTNET_AUTO_HOME`).
    pub dotnet: &'a [u8],
}

impl OwnAgents<'_> {
    /// The default install paths (DESIGN §3 and §10).
    pub const DEFAULT: OwnAgents<'static> = OwnAgents {
        java: b"/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar",
        skywalking: b"/usr/lib/oneagent/agents/skywalking/skywalking-agent.jar",
        python: b"/usr/lib/oneagent/agents/python",
        nodejs: b"/usr/lib/oneagent/agents/nodejs/register.js",
        dotnet: b"/usr/lib/oneagent/agents/dotnet",
    };
    /// No paths: the marker decides.
    pub const NONE: OwnAgents<'static> = OwnAgents {
        java: b"",
        skywalking: b"",
        python: b"",
        nodejs: b"",
        dotnet: b"",
    };
}

impl Policy<'_> {
    /// Enabled, every agent available, OpenTelemetry for Java, empty lists, marker `/oneagent/`,
    /// our agents at their default paths ([`OwnAgents::DEFAULT`]).
    pub const DEFAULT: Policy<'static> = Policy {
        enabled: true,
        agents: LanguageSet::ALL,
        java_agent: JavaAgentKind::OpenTelemetry,
        disabled_services: ByteList::EMPTY,
        enabled_services: ByteList::EMPTY,
        skip_executables: ByteList::EMPTY,
        own_agent_marker: b"/oneagent/",
        own_agents: OwnAgents::DEFAULT,
    };
}

impl Default for Policy<'_> {
    fn default() -> Self {
        Policy::DEFAULT
    }
}

/// The outcome of [`decide`](crate::decide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision<'a> {
    /// The detected runtime, if any.
    pub language: Option<Language>,
    /// The runtime version when known (`3.11` from `python3.11`, `20` from `node20`, the Go version
    /// without its `go` prefix, `17` from a `/usr/lib/jvm/java-17-…` path, `8.0.1` from a .NET
    /// runtime directory). Borrowed from the input.
    pub runtime_version: Option<&'a [u8]>,
    /// Inject or skip.
    pub action: Action,
    /// Why.
    pub reason: Reason<'a>,
    /// Our agent is already configured for this process (see [`Reason::Instrumentable`]).
    pub already_injected: bool,
    /// The service name (never empty once argv is non-empty).
    pub service_name: ServiceName,
    /// Where the service name came from.
    pub service_name_source: ServiceNameSource,
}

impl Decision<'_> {
    /// Whether the action is [`Action::Inject`].
    pub const fn is_inject(&self) -> bool {
        matches!(self.action, Action::Inject)
    }
}
