//! Command-line definition of oneagentd, shared by the binary and its man page so that they
//! cannot disagree, and the man-page renderer oneagentctl's page uses too.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::Parser;

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
pub fn render_man(cmd: clap::Command, section: &str, extra: &str) -> Vec<u8> {
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

/// oneagentd(8) as committed in `man/oneagentd.8`.
pub fn daemon_man_page() -> Vec<u8> {
    use clap::CommandFactory;
    render_man(DaemonArgs::command(), "8", DAEMON_EXTRA)
}
