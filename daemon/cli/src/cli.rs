//! Command-line definitions of oneagentctl, shared by the binary, its man page and the shell
//! completions so that they cannot disagree.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use oneagent::cli::render_man;
use oneagent::config::DEFAULT_CONFIG_PATH;

/// oneagentctl: control and inspect oneagentd.
#[derive(Debug, Parser)]
#[command(
    name = "oneagentctl",
    version = oneagent::VERSION,
    about = "Control and inspect the oneagent daemon",
    long_about = "Control and inspect the oneagent daemon (oneagentd) over its D-Bus API \
                  io.oneagent.Agent1 on the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured). \
                  Read-only commands are open to every local user; commands that change \
                  anything need root."
)]
pub struct CtlArgs {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The verbs of oneagentctl.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show the daemon's state, configuration summary and injection rules.
    Status,
    /// List processes with their runtime, service name and injection state.
    Ps {
        /// Only processes of this language (java, python, nodejs, dotnet, go, ruby, php).
        #[arg(long, value_name = "LANGUAGE")]
        language: Option<String>,
        /// Only processes of this service.
        #[arg(long, value_name = "SERVICE")]
        service: Option<String>,
        /// Only processes of this systemd unit (`.service` may be omitted).
        #[arg(long, value_name = "UNIT")]
        unit: Option<String>,
        /// Include processes that are not of a detected runtime.
        #[arg(long, short)]
        all: bool,
    },
    /// List running processes whose next start would gain or lose an agent.
    Pending,
    /// List the log files being tailed, with their writers, service, offset, lag and state.
    Logs,
    /// Show what the preload would decide for a command and why, and the variables it would set
    /// (`sets`); works without the daemon.
    Explain {
        /// An environment variable of the process (repeatable); the environment is otherwise empty,
        /// as for a service started by systemd.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Assume the process runs in this systemd unit.
        #[arg(long, value_name = "UNIT")]
        unit: Option<String>,
        /// Configuration file to use when the daemon is not running.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Make the daemon re-read its configuration file and apply it; prints the keys now in
    /// effect and names any that are not (root).
    Reload,
    /// Set the daemon's log level until the next reload or restart (root).
    LogLevel {
        /// error, warn, info, debug or trace.
        level: String,
    },
    /// Enable injection globally or for one service, from each process's next start (root).
    Enable(Target),
    /// Disable injection globally or for one service, from each process's next start (root).
    Disable(Target),
    /// Ask systemd to restart a unit so its processes pick up the current injection settings (root).
    Restart {
        /// The unit; `.service` is added when no type is given.
        unit: String,
    },
    /// Manage the preload library in /etc/ld.so.preload (root).
    Preload {
        /// What to do.
        #[command(subcommand)]
        action: PreloadAction,
    },
    /// Install the agent of a language into its configured directory (root).
    ///
    /// Runs here, not in the daemon: pip, npm or Maven download from the usual registries (Java
    /// without mvn: HTTPS from a Maven repository, checked against its .sha256/.sha1 file; or a
    /// local copy, --from), into a temporary directory that replaces the old one only when
    /// complete and checked (a Java agent must have the expected Premain-Class and version).
    Agents {
        /// What to do.
        #[command(subcommand)]
        action: AgentsAction,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// `oneagentctl agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsAction {
    /// Install the agent of LANGUAGE from PyPI, npm or Maven Central, or from a local copy
    /// (--from).
    ///
    /// Python: `python3 -m pip install --target` of opentelemetry-distro, the OTLP/HTTP exporter and instrumentations for common libraries
    /// (aiohttp-client, asgi, celery, dbapi, django, fastapi, flask, httpx, logging, psycopg2,
    /// pymongo, pymysql, redis, requests, sqlalchemy, sqlite3, urllib, urllib3, wsgi), all of
    /// one release, into `[agents] python`. Node.js: `npm install --prefix` of
    /// @opentelemetry/auto-instrumentations-node and @opentelemetry/api into the directory of
    /// `[agents] nodejs`, plus that file (register.js), which requires the package's register
    /// entry point. A running oneagentd is then asked to re-check its agents (a reload), so
    /// processes get the agent from their next start.
    Install {
        /// python, nodejs, java (OpenTelemetry) or skywalking.
        language: AgentLanguage,
        /// Install into this directory instead of the configured one.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The release to install: an opentelemetry-python-contrib version (default 0.66b1), an
        /// @opentelemetry/auto-instrumentations-node version (default 0.81.2), an
        /// opentelemetry-javaagent version (default 2.33.1) or a SkyWalking apm-agent version
        /// (default 9.4.0).
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Install without network access: a directory of wheels made with `pip download`
        /// (Python), an npm cache directory filled with `npm install --cache DIR` (Node.js), or a
        /// directory filled with `mvn dependency:copy` (Java; for SkyWalking also the plugins/
        /// of Apache's release archive).
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Java agents: a Maven repository (mirror) URL to fetch from, instead of Maven's
        /// configured repositories (Maven Central by default).
        #[arg(long, value_name = "URL")]
        repository: Option<String>,
        /// The daemon's configuration file, which names the agent paths.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
}

/// Languages whose agent `oneagentctl agents install` can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentLanguage {
    /// The OpenTelemetry Python distro, from PyPI.
    Python,
    /// The OpenTelemetry Node.js auto-instrumentation, from npm.
    Nodejs,
    /// The OpenTelemetry Java agent, from a Maven repository.
    Java,
    /// The Apache SkyWalking Java agent, from a Maven repository.
    Skywalking,
}

/// `oneagentctl preload …`.
#[derive(Debug, Subcommand)]
pub enum PreloadAction {
    /// Verify the library, then add it to the preload file (keeps every other entry).
    Install,
    /// Take our entry out of the preload file (the file goes if it was the only entry).
    Remove,
    /// Verify the library and show the preload file and the snapshot; changes nothing.
    Verify,
    /// Let executables blocked by the crash circuit breaker be injected again.
    Unblock {
        /// The executable path, as shown by `oneagentctl status`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        executable: Option<String>,
        /// Unblock every blocked executable.
        #[arg(long)]
        all: bool,
    },
}

/// What enable/disable applies to.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// Apply to every process on the host.
    #[arg(long)]
    pub global: bool,
    /// Apply to this service name (as shown by `oneagentctl status`).
    pub service: Option<String>,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
}

/// A failure of one oneagentctl invocation: the message and the exit code.
#[derive(Debug)]
pub struct CtlFailure {
    /// What to print on stderr.
    pub message: String,
    /// The exit code.
    pub code: u8,
}

impl CtlFailure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        CtlFailure {
            message: message.into(),
            code,
        }
    }
}

/// Exit codes of oneagentctl (documented in oneagentctl(1)).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The daemon reported a failure (including an invalid configuration on reload).
    pub const FAILED: u8 = 1;
    /// Usage error or an argument the daemon refused.
    pub const USAGE: u8 = 2;
    /// The daemon is not running or the system bus cannot be reached.
    pub const NOT_RUNNING: u8 = 3;
    /// Permission denied: the command needs root.
    pub const DENIED: u8 = 4;
}

const CTL_EXTRA: &str = r#".SH "SERVICE NAMES"
.BR ps ,
.B explain
and the preload library name a process alike.
A generic entry point (index.js, server.js, app.py, main.py, manage.py, app.jar, \&...) takes
the name its project declares: for a Node.js script the nearest
.IR package.json ,
for a Python entry point
.I pyproject.toml
.RB ( "[project] name" ,
else
.BR "[tool.poetry] name" )
or
.I setup.cfg
.RB ( "[metadata] name" ),
looked for from the script's directory at most 8 directories up, files of at most 64 KiB.
Without one, or when the file is malformed, too large or not a regular file, the directory the
entry point lives in names it (skipping src, dist, target, \&...).
Scoped npm names keep their scope (@acme/shop gives acme\-shop).
A jar's manifest is not read.
.B explain
resolves a relative script against the current directory.
.SH "EXIT STATUS"
.TP
.B 0
Success.
.TP
.B 1
The daemon reported a failure, including an invalid configuration file on
.BR reload ,
in which case the running configuration is kept.
.TP
.B 2
Usage error, or an argument the daemon refused.
.TP
.B 3
oneagentd is not running, or the system bus cannot be reached.
Start it with
.BR "systemctl start oneagent" .
.TP
.B 4
Permission denied: the command needs root (commands marked (root) above).
.SH ENVIRONMENT
.TP
.B DBUS_SYSTEM_BUS_ADDRESS
Address of the system bus, instead of
.IR unix:path=/run/dbus/system_bus_socket .
.TP
.B ONEAGENT_PEER_SOCKET
Talk to oneagentd on its peer\-to\-peer socket (the
.B \-\-peer\-socket
of
.BR oneagentd (8))
instead of the system bus: on hosts without a system bus, such as a Kubernetes node agent's
pod, where it is set. Commands that need root are refused to other users there too (the caller's
uid comes from the socket).
.SH EXAMPLES
.nf
oneagentctl status
oneagentctl \-\-json status
oneagentctl ps \-\-language java
oneagentctl pending
oneagentctl logs
oneagentctl explain \-\-env OTEL_SERVICE_NAME=shop \-\- java \-jar /srv/shop.jar
sudo oneagentctl disable payments
sudo oneagentctl enable \-\-global
sudo oneagentctl log\-level debug
sudo oneagentctl restart payments
sudo oneagentctl preload verify
sudo oneagentctl preload install
sudo oneagentctl preload unblock /usr/bin/java
sudo oneagentctl agents install python
sudo oneagentctl agents install nodejs \-\-from ./oneagent\-npm\-cache
sudo oneagentctl agents install java
sudo oneagentctl agents install skywalking \-\-from ./skywalking\-agent
oneagentctl completions bash > /etc/bash_completion.d/oneagentctl
.fi
.SH "SEE ALSO"
.BR oneagentd (8),
.BR oneagent.toml (5),
.BR oneagent\-preload (8)
"#;

/// oneagentctl(1) as committed in `man/oneagentctl.1`.
pub fn ctl_man_page() -> Vec<u8> {
    use clap::CommandFactory;
    render_man(CtlArgs::command(), "1", CTL_EXTRA)
}
