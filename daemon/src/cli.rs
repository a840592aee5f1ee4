//! Command-line definitions of both binaries, shared by the binaries, the man pages and the
//! shell completions so that they cannot disagree.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{DEFAULT_CONFIG_PATH, DEFAULT_RUNTIME_DIR, DEFAULT_STATE_DIR};

/// oneagentd: zero-configuration tracing and application-attributed logs for every process on
/// this host.
#[derive(Debug, Parser)]
#[command(
    name = "oneagentd",
    version = crate::VERSION,
    about = "oneagent host daemon",
    long_about = "oneagent host daemon: serves the io.oneagent.Agent1 D-Bus API on the system bus, \
                  keeps its state in SQLite and runs as a systemd notify service."
)]
pub struct DaemonArgs {
    /// Configuration file; a missing file means the built-in defaults.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Directory for state.db and preload.snapshot.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Directory for sockets.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RUNTIME_DIR)]
    pub runtime_dir: PathBuf,
    /// Also serve the D-Bus API peer-to-peer on this Unix socket (for oneagentctl with
    /// ONEAGENT_PEER_SOCKET, and the node agent pod's detections publisher); with it, a host
    /// without a system bus is not an error.
    #[arg(long, value_name = "PATH")]
    pub peer_socket: Option<PathBuf>,
    /// Check the configuration file, print the effective configuration and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// oneagentctl: control and inspect oneagentd.
#[derive(Debug, Parser)]
#[command(
    name = "oneagentctl",
    version = crate::VERSION,
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
    /// Show what the preload would decide for a command and why; works without the daemon.
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

/// Exit codes of oneagentd (documented in oneagentd(8)).
pub mod daemon_exit {
    /// Clean stop.
    pub const OK: u8 = 0;
    /// A runtime failure (for example the system bus is unreachable or the name is taken).
    pub const FAILED: u8 = 1;
    /// Usage error or invalid configuration.
    pub const CONFIG: u8 = 2;
    /// The state directory or database cannot be used.
    pub const STATE: u8 = 3;
}

const CTL_EXTRA: &str = r#".SH "EXIT STATUS"
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

const DAEMON_EXTRA: &str = r#".SH "D-BUS API"
oneagentd owns the name
.B io.oneagent.Agent1
on the system bus and serves the interface
.B io.oneagent.Agent1
at
.BR /io/oneagent/Agent1 .
The object is registered before the name is taken.
Methods:
.BR Status ,
.BR Reload ,
.BR SetLogLevel ,
.BR SetInjection ,
.BR RestartUnit ,
.BR Processes ,
.BR Pending ,
.BR LogFiles ,
.BR Explain ,
.BR PreloadInstall ,
.BR PreloadRemove ,
.BR PreloadVerify ,
.BR PreloadUnblock ;
properties:
.BR Version ,
.BR State ,
.BR LogLevel ,
.BR InjectionEnabled ;
signals:
.BR ConfigReloaded ,
.BR InjectionChanged .
.BR Status ,
.BR Processes ,
.BR Pending ,
.B LogFiles
and
.B Explain
are open to every user.
Every other method changes something or, like
.BR PreloadVerify ,
runs programs as root: it is allowed only to uid 0, by the bus policy and again by the daemon
from the caller's credentials on the bus; others get
.BR io.oneagent.Agent1.Error.AccessDenied .
Errors are named
.BR io.oneagent.Agent1.Error.AccessDenied ,
.BR InvalidArgument ,
.BR InvalidConfig
and
.BR Failed .
.SH SIGNALS
.TP
.B SIGHUP
Re-read the configuration file (as
.BR "oneagentctl reload" )
and apply every changed key to the component that uses it: the log filter, the injection
policy and the preload snapshots, the log pipeline (reconfigured in place: exporter endpoint and
compression, roots, include, exclude, depth, multiline, sampling; files keep their offsets and
checkpoints, and nothing read is lost), the /metrics listener and the containers' report socket
(bound again; when the new address cannot be bound the old one keeps serving).
A key that is not in effect afterwards
.RB ( "[injection] library" " and " preload_file ,
which only
.B "oneagentctl preload install"
applies, or a component that kept its previous settings) is named in the reload's reply, in
.BR "oneagentctl status" ,
in the
.B STATUS=
line and in the journal.
An invalid file is refused with an error in the journal and the running configuration is kept.
A remote configuration from an OpAMP server
.RB ( "[opamp] accept_remote_config" ,
see
.BR oneagent.toml (5))
is applied through the same path, over the file read at that moment.
.TP
.BR SIGTERM ", " SIGINT
Stop cleanly.
.SH SYSTEMD
oneagentd is a
.B Type=notify
service: it sends
.B READY=1
only once every component serves: the state is loaded, the log pipeline watches its roots,
/metrics listens and the bus name is owned,
.B STATUS=
lines while it works,
.B WATCHDOG=1
at half of
.BR WATCHDOG_USEC ,
.B RELOADING=1
and
.B READY=1
around reloads and
.B STOPPING=1
when it stops.
Logs go to the journal when standard error is the journal
.RB ( JOURNAL_STREAM ),
otherwise to standard error.
At start it raises its soft descriptor limit
.RB ( RLIMIT_NOFILE )
to the hard one; the unit sets
.BR LimitNOFILE= .
.SH "EXIT STATUS"
.TP
.B 0
Clean stop.
.TP
.B 1
Runtime failure, for example the system bus is unreachable or the name is owned by another process.
.TP
.B 2
Usage error or invalid configuration; the message names the file, line and key.
A configuration file that is not a regular file, is larger than 1 MiB or is not UTF\-8 is an
invalid configuration too.
.TP
.B 3
The state directory or database cannot be used (for example another oneagentd holds it).
.SH FILES
.TP
.I /etc/oneagent/oneagent.toml
Configuration; see
.BR oneagent.toml (5).
.TP
.I /var/lib/oneagent/state.db
State database (SQLite, WAL). A corrupt database is moved aside to
.I state.db.corrupt\-TIME
(never deleted) and a new one is created, with one warning in the journal.
.TP
.I /run/oneagent/
Runtime directory for sockets.
.SH ENVIRONMENT
.TP
.B DBUS_SYSTEM_BUS_ADDRESS
Address of the system bus. Without a system bus (no socket at the address, or nobody listening)
oneagentd exits with status 1, unless
.B \-\-peer\-socket
is given: it then serves the API on that socket only and warns once. Kubernetes nodes without
D\-Bus (Talos, Bottlerocket) run it this way; where the host's bus exists the name is owned on
it as well, so nothing changes there.
.TP
.BR NOTIFY_SOCKET ", " WATCHDOG_USEC
Set by systemd.
.SH "SEE ALSO"
.BR oneagentctl (1),
.BR oneagent.toml (5),
.BR oneagent\-preload (8),
.BR systemd.service (5)
"#;

/// Renders a man page from a clap command plus hand-written sections.
fn render_man(cmd: clap::Command, section: &str, extra: &str) -> Vec<u8> {
    let cmd_for_commands = cmd.clone();
    let man = clap_mangen::Man::new(cmd)
        .section(section)
        .source(format!("oneagent {}", crate::VERSION))
        .manual("oneagent");
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    render_commands(&cmd_for_commands, &mut out);
    out.extend_from_slice(extra.as_bytes());
    out
}

/// Escapes text for roff: backslashes, and a leading `.` or `'`.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// A COMMANDS section with every subcommand, its arguments and their help, inline (clap_mangen
/// would point at one page per subcommand, which we do not ship).
fn render_commands(cmd: &clap::Command, out: &mut Vec<u8>) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .collect();
    if subs.is_empty() {
        return;
    }
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in subs {
        let mut words = vec![sub.get_name().to_owned()];
        for a in sub.get_arguments().filter(|a| a.is_positional()) {
            let name = a
                .get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string());
            words.push(if a.is_required_set() {
                name
            } else {
                format!("[{name}]")
            });
        }
        for nested in sub.get_subcommands().filter(|c| c.get_name() != "help") {
            words.push(format!("[{}]", nested.get_name()));
        }
        out.extend_from_slice(format!(".SS \"{}\"\n", roff(&words.join(" "))).as_bytes());
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            out.extend_from_slice(format!("{}\n", roff(&about.to_string())).as_bytes());
        }
        for a in sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "json")
        {
            let flag = match (a.get_long(), a.get_short()) {
                (Some(l), Some(s)) => format!("\\-{s}, \\-\\-{l}"),
                (Some(l), None) => format!("\\-\\-{}", roff(l)),
                (None, Some(s)) => format!("\\-{s}"),
                (None, None) => a
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string()),
            };
            let help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| roff(&h.to_string()))
                .unwrap_or_default();
            out.extend_from_slice(format!(".TP\n.B {flag}\n{help}\n").as_bytes());
        }
        for nested in sub.get_subcommands().filter(|c| c.get_name() != "help") {
            let about = nested
                .get_about()
                .map(|a| roff(&a.to_string()))
                .unwrap_or_default();
            out.extend_from_slice(
                format!(".TP\n.B {}\n{about}\n", roff(nested.get_name())).as_bytes(),
            );
        }
    }
}

/// oneagentctl(1) as committed in `man/oneagentctl.1`.
pub fn ctl_man_page() -> Vec<u8> {
    use clap::CommandFactory;
    render_man(CtlArgs::command(), "1", CTL_EXTRA)
}

/// oneagentd(8) as committed in `man/oneagentd.8`.
pub fn daemon_man_page() -> Vec<u8> {
    use clap::CommandFactory;
    render_man(DaemonArgs::command(), "8", DAEMON_EXTRA)
}
