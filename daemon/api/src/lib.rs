//! The D-Bus interface `io.oneagent.Agent1`: its names, its error type, the types its methods
//! take and return (in their wire order) and the client proxy [`Agent1Proxy`]. oneagentd serves
//! it (`oneagent::dbus`), oneagentctl and oneagent-k8s call it; none of the daemon's engines
//! depends on this crate, the daemon converts its own types at the interface.

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

/// The well-known bus name.
pub const BUS_NAME: &str = "io.oneagent.Agent1";
/// The object path of the agent.
pub const OBJECT_PATH: &str = "/io/oneagent/Agent1";
/// The interface name.
pub const INTERFACE: &str = "io.oneagent.Agent1";
/// Methods every local user may call: they only read. The shipped bus policy
/// (`systemd/io.oneagent.Agent1.conf`) allows exactly these to everyone; a test walks every
/// method as root and as an unprivileged user against both lists.
pub const OPEN_TO_ALL: &[&str] = &["Status", "Processes", "LogFiles", "Pending", "Explain"];
/// Methods only root may call: they change the daemon or the host, or run programs as root
/// (`PreloadVerify`). Refused twice: by the bus policy and by the daemon's own uid check.
pub const ROOT_ONLY: &[&str] = &[
    "Reload",
    "SetLogLevel",
    "SetInjection",
    "RestartUnit",
    "PreloadInstall",
    "PreloadRemove",
    "PreloadVerify",
    "PreloadUnblock",
];
/// The prefix of every error name this interface returns.
pub const ERROR_PREFIX: &str = "io.oneagent.Agent1.Error";

/// Errors of the interface, each with a stable D-Bus name `io.oneagent.Agent1.Error.<Variant>`.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "io.oneagent.Agent1.Error")]
pub enum AgentError {
    /// A transport error (client side only).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The caller may not do this; the message says what was refused.
    AccessDenied(String),
    /// An argument is not acceptable; the message says which and why.
    InvalidArgument(String),
    /// The configuration file is invalid; the running configuration was kept.
    InvalidConfig(String),
    /// The operation failed inside the daemon.
    Failed(String),
}

/// What `Status()` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct StatusReport {
    /// oneagentd version.
    pub version: String,
    /// `starting`, `running`, `reloading` or `stopping`.
    pub state: String,
    /// The daemon's pid.
    pub pid: u32,
    /// Unix time the daemon started.
    pub started_at: u64,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// The configuration file path.
    pub config_path: String,
    /// `file` when the file was read, `defaults` when it does not exist.
    pub config_source: String,
    /// Increments with every successful reload (1 after start).
    pub config_generation: u64,
    /// Unix time of the last successful load.
    pub config_loaded_at: u64,
    /// The last reload error, empty when the last reload succeeded.
    pub last_reload_error: String,
    /// The state directory.
    pub state_dir: String,
    /// The runtime directory.
    pub runtime_dir: String,
    /// The database file.
    pub database: String,
    /// Its schema version.
    pub schema_version: i64,
    /// How many times a daemon started on this database.
    pub daemon_starts: u64,
    /// Where a corrupt database was moved at this start, empty if none.
    pub database_recovered_to: String,
    /// The current log level.
    pub log_level: String,
    /// Whether injection is enabled globally.
    pub injection_enabled: bool,
    /// `config` when that comes from `[injection] enabled`, `rule` when from `oneagentctl`.
    pub injection_source: String,
    /// `opentelemetry` or `skywalking`.
    pub java_agent: String,
    /// The OTLP endpoint agents are given.
    pub otlp_endpoint: String,
    /// Rules set with `oneagentctl enable/disable`, the global one first.
    pub rules: Vec<InjectionRule>,
    /// Whether our library is in the preload file.
    pub preload_installed: bool,
    /// The last preload installation problem, empty when none.
    pub preload_problem: String,
    /// Executables the crash circuit breaker blocked.
    pub blocked: Vec<BlockedExecutable>,
    /// The address of the Prometheus endpoint, empty when it is not listening.
    pub metrics_listen: String,
    /// Log files being tailed, 0 when the log pipeline is off.
    pub log_files: u64,
    /// Processes in the inventory.
    pub processes: u64,
    /// Of those, processes of a detected runtime.
    pub runtime_processes: u64,
    /// How process starts and exits are followed: `connector`, or `polling: <why>`.
    pub process_events: String,
    /// Configured agents that are missing or unusable.
    pub agent_problems: Vec<AgentProblem>,
    /// The settings each component actually runs with (they can differ from the file when a
    /// reload could not apply them).
    pub effective: Vec<EffectiveSetting>,
    /// Changed keys the last reload did not apply, each as `key: what applies it`, and
    /// components that kept their previous settings.
    pub reload_pending: Vec<String>,
    /// The OpAMP client: the endpoint and how the last exchange went; empty when it is off.
    pub opamp: String,
    /// The remote configuration (OpAMP) over the local file: its hash, when it was applied and
    /// the keys it sets, or why it is not in effect; empty when there is none.
    pub remote_config: String,
}

/// What `Reload()` returns: the new generation, what changed and what could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ReloadReport {
    /// The new configuration generation.
    pub generation: u64,
    /// Keys (`section.key`) whose values changed and are now in effect.
    pub applied: Vec<String>,
    /// Keys that changed but are not in effect, each as `key: what applies it`.
    pub not_applied: Vec<String>,
    /// Components that could not take the new settings and kept their previous ones, each
    /// naming the key and the reason.
    pub problems: Vec<String>,
}

/// One setting as the component that uses it runs with it (`status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct EffectiveSetting {
    /// `logs`, `metrics`, `container-reports`.
    pub component: String,
    /// The key (`section.key`).
    pub key: String,
    /// Its value in effect (endpoints with their secrets redacted); empty when the component
    /// does not run.
    pub value: String,
}

/// What the `Preload*` methods return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PreloadReport {
    /// The configured library.
    pub library: String,
    /// Whether it was verified by this call and passed.
    pub verified: bool,
    /// Why verification failed, empty when it passed or did not run.
    pub library_problem: String,
    /// The managed preload file.
    pub preload_file: String,
    /// Whether the configured library is in it.
    pub installed: bool,
    /// Our entries in it (normally the library, or nothing).
    pub our_entries: Vec<String>,
    /// Everybody else's entries, which we never touch.
    pub other_entries: Vec<String>,
    /// The snapshot file.
    pub snapshot: String,
    /// Its size, 0 when unreadable.
    pub snapshot_bytes: u64,
    /// What is wrong with the snapshot, empty when it decodes.
    pub snapshot_problem: String,
    /// The last installation problem, empty when none.
    pub last_problem: String,
    /// Whether this call changed the preload file.
    pub changed: bool,
}

/// Why a language's agent is unavailable on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct AgentProblem {
    /// The language.
    pub language: String,
    /// The configured path.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The outcome of a decision, owned, in the shape `ps`, `explain` and D-Bus use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Verdict {
    /// `java`, `python`, … or empty when not a runtime.
    pub language: String,
    /// Runtime version when known, else empty.
    pub runtime_version: String,
    /// `inject` or `skip`.
    pub action: String,
    /// Stable reason code.
    pub reason_code: String,
    /// Human reason.
    pub reason: String,
    /// Our agent is already configured in the environment.
    pub already_injected: bool,
    /// The service name.
    pub service_name: String,
    /// Where the service name came from.
    pub service_name_source: String,
}

/// One process as shown by `oneagentctl ps` and the `Processes` D-Bus method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ProcessEntry {
    /// The pid.
    pub pid: u32,
    /// Start time in clock ticks since boot; (pid, start_time) identifies a process.
    pub start_time: u64,
    /// The parent pid.
    pub ppid: u32,
    /// The executable image (`/proc/PID/exe`), empty if unreadable.
    pub exe: String,
    /// The command line, arguments separated by spaces, at most 4 KiB.
    pub command_line: String,
    /// The systemd unit from the cgroup path, empty if none.
    pub systemd_unit: String,
    /// The container id from the cgroup path, empty if none.
    pub container_id: String,
    /// The Kubernetes pod uid from the cgroup path, empty if none.
    pub pod_uid: String,
    /// The decision for the process's next start.
    pub verdict: Verdict,
    /// `injected` (our agent is configured in its environment), `not-injected` (running
    /// without it although the next start would inject) or `skipped`.
    pub injection_state: String,
    /// `gains-agent` or `loses-agent` at the next start, empty when nothing changes.
    pub pending_change: String,
    /// What the preload library reported doing in this process (`injected`, `skipped`,
    /// `agent-missing`, …), empty when it sent no report.
    pub preload_outcome: String,
    /// Unix time the daemon first saw this process.
    pub first_seen: u64,
    /// The executable's C library, `glibc` or `musl` (from its `PT_INTERP`); empty when static,
    /// unknown, or not a runtime.
    pub libc: String,
}

/// The answer of `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ExplainReport {
    /// The decision.
    pub verdict: Verdict,
    /// The argv decided on, space-separated.
    pub command_line: String,
    /// The executable image, empty when the command was not found.
    pub executable: String,
    /// The `#!` script, if any.
    pub script: String,
    /// `DT_NEEDED` libraries of the executable.
    pub libraries: Vec<String>,
    /// Go version from the build info, empty when none.
    pub go_version: String,
    /// The systemd unit the process was assumed to run in, empty when none.
    pub systemd_unit: String,
    /// Who decided: `oneagentd` (its configuration and rules) or `local` (the configuration
    /// file only).
    pub decided_by: String,
    /// Agents that are configured but unusable.
    pub agent_problems: Vec<AgentProblem>,
    /// For an `inject` verdict, the variables the preload library would set (`KEY=VALUE`), or
    /// one entry `none: <why>` when it would set none.
    pub environment: Vec<String>,
}

/// An injection rule set by `oneagentctl enable/disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct InjectionRule {
    /// `*` for the global rule, otherwise a service name.
    pub scope: String,
    /// Whether injection is enabled for the scope.
    pub enabled: bool,
    /// Unix time of the last change.
    pub updated_at: u64,
    /// Uid of the caller that made the change.
    pub updated_by_uid: u32,
}

/// An executable the crash circuit breaker blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct BlockedExecutable {
    /// `host`, or `containers` (blocked in the containers' snapshot, by its path inside them).
    pub scope: String,
    /// The executable path.
    pub exe: String,
    /// Why it was blocked.
    pub reason: String,
    /// Unix time it was blocked.
    pub blocked_at: u64,
}

/// One file as `oneagentctl logs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct LogFileStatus {
    /// The path.
    pub path: String,
    /// The service its records carry.
    pub service: String,
    /// Its writers: pid, service and executable, most recent first.
    pub writers: Vec<(u32, String, String)>,
    /// Bytes read.
    pub offset: u64,
    /// Current size.
    pub size: u64,
    /// Bytes not read yet.
    pub lag: u64,
    /// `tailing`, `tailing+draining` while an old rotated file is still being read, `idle
    /// (closed)` while it is closed to stay under the fd cap, `waiting (fd cap)` while it waits
    /// for a descriptor.
    pub state: String,
}

impl ProcessEntry {
    /// Whether the process is of a detected runtime.
    pub fn is_runtime(&self) -> bool {
        !self.verdict.language.is_empty()
    }
}

/// The D-Bus error name and message of a method call that failed remotely (zbus keeps the
/// well-known `org.freedesktop.DBus.Error.*` ones apart from the others); `None` for local errors.
pub fn remote_error(e: &zbus::Error) -> Option<(String, String)> {
    match e {
        zbus::Error::MethodError(name, message, _) => {
            Some((name.to_string(), message.clone().unwrap_or_default()))
        }
        zbus::Error::FDO(fdo) => {
            use zbus::DBusError;
            Some((
                fdo.name().to_string(),
                fdo.description().unwrap_or_default().to_owned(),
            ))
        }
        _ => None,
    }
}

/// The client side of the interface. The daemon's `#[interface]` block (`oneagent::dbus`)
/// serves the same methods; a test in that crate checks both against each other.
#[zbus::proxy(
    interface = "io.oneagent.Agent1",
    default_service = "io.oneagent.Agent1",
    default_path = "/io/oneagent/Agent1"
)]
pub trait Agent1 {
    /// The daemon's state, configuration summary and injection rules. Open to everyone.
    fn status(&self) -> Result<StatusReport, AgentError>;
    /// Re-reads the configuration file and applies it to every component. Root only.
    fn reload(&self) -> Result<ReloadReport, AgentError>;
    /// Sets the log level until the next reload or restart. Root only.
    fn set_log_level(&self, level: &str) -> Result<(), AgentError>;
    /// Enables or disables injection for `service`, or globally when `service` is empty.
    /// Returns whether anything changed. Root only.
    fn set_injection(&self, service: &str, enabled: bool) -> Result<bool, AgentError>;
    /// Asks systemd to restart `unit`; returns the systemd job path. Root only.
    fn restart_unit(&self, unit: &str) -> Result<String, AgentError>;
    /// Every process in the inventory. Open to everyone.
    fn processes(&self) -> Result<Vec<ProcessEntry>, AgentError>;
    /// The log files being tailed. Open to everyone.
    fn log_files(&self) -> Result<Vec<LogFileStatus>, AgentError>;
    /// Running processes whose next start would gain or lose an agent. Open to everyone.
    fn pending(&self) -> Result<Vec<ProcessEntry>, AgentError>;
    /// The decision the preload would make for a command line. Open to everyone.
    fn explain(
        &self,
        argv: Vec<String>,
        env: Vec<String>,
        exe: &str,
        unit: &str,
    ) -> Result<ExplainReport, AgentError>;
    /// Verifies the library and adds it to the preload file. Root only.
    fn preload_install(&self) -> Result<PreloadReport, AgentError>;
    /// Takes our entry out of the preload file. Root only.
    fn preload_remove(&self) -> Result<PreloadReport, AgentError>;
    /// Verifies the library and reports the preload file and snapshot. Root only.
    fn preload_verify(&self) -> Result<PreloadReport, AgentError>;
    /// Lets a blocked executable (every one when empty) be injected again. Root only.
    fn preload_unblock(&self, exe: &str) -> Result<u32, AgentError>;
    /// Emitted after a successful reload, with the new configuration generation.
    #[zbus(signal)]
    fn config_reloaded(&self, generation: u64) -> zbus::Result<()>;
    /// Emitted when an injection rule changes; `scope` is `*` for the global rule.
    #[zbus(signal)]
    fn injection_changed(&self, scope: &str, enabled: bool) -> zbus::Result<()>;
    /// The daemon version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> zbus::Result<String>;
    /// `starting`, `running`, `reloading` or `stopping`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<String>;
    /// The current log level.
    #[zbus(property)]
    fn log_level(&self) -> zbus::Result<String>;
    /// Whether injection is enabled globally.
    #[zbus(property)]
    fn injection_enabled(&self) -> zbus::Result<bool>;
}

/// The environment variable naming oneagentd's peer-to-peer socket (`oneagentd --peer-socket`);
/// when set, oneagentctl talks to the daemon there instead of on the system bus.
pub const PEER_SOCKET_ENV: &str = "ONEAGENT_PEER_SOCKET";

/// Connects peer-to-peer to oneagentd's `--peer-socket` at `path`: no bus daemon, no names.
pub async fn connect_peer(path: &std::path::Path) -> zbus::Result<Agent1Proxy<'static>> {
    let address = format!("unix:path={}", path.display());
    let conn = zbus::connection::Builder::address(address.as_str())
        .p2p()
        .build()
        .await?;
    Agent1Proxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_entries_keep_their_wire_signature() {
        // oneagent-k8s and scripts read `Processes`: a changed field order is a changed API.
        assert_eq!(
            ProcessEntry::SIGNATURE.to_string(),
            "(utusssss(sssssbss)sssts)"
        );
    }
}
