//! The D-Bus API `io.oneagent.Agent1`, defined once: the service side (`Agent1`) and the client
//! proxy (`Agent1Proxy`, used by `oneagentctl`) are generated from the same `#[interface]` block.
//!
//! Every method that changes anything checks the caller's uid from the bus (not only the policy
//! file) and refuses anyone but root with `io.oneagent.Agent1.Error.AccessDenied`.

#![forbid(unsafe_code)]

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, interface};

use crate::daemon::Shared;
use crate::explain::ExplainReport;
use crate::inventory::ProcessEntry;
use crate::store::InjectionRule;

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

/// How long a method may spend reading files a caller named before it answers with an error.
const FILE_WORK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, zbus::Type)]
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
    pub blocked: Vec<crate::store::BlockedExecutable>,
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
    pub agent_problems: Vec<crate::decision::AgentProblem>,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, zbus::Type)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, zbus::Type)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, zbus::Type)]
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

/// The object served at [`OBJECT_PATH`].
#[derive(Debug, Clone)]
pub struct Agent1 {
    shared: Arc<Shared>,
    /// `Explain` calls in progress (any user may call it, and each reads files the caller names).
    explains: Arc<tokio::sync::Semaphore>,
    /// The uid of the peer on a peer-to-peer connection (the pod-private socket), from the
    /// socket's credentials; `None` on the bus, where the bus daemon knows the caller.
    peer_uid: Option<u32>,
}

/// How many `Explain` calls run at once; more are refused at once rather than queued, so that
/// files that never answer (a FUSE file system of the caller's) cannot pile up threads.
const MAX_EXPLAINS: usize = 4;

impl Agent1 {
    /// Wraps the daemon's shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Agent1 {
            shared,
            explains: Arc::new(tokio::sync::Semaphore::new(MAX_EXPLAINS)),
            peer_uid: None,
        }
    }

    /// The same object for one peer-to-peer connection whose peer has `uid` (the limits, such
    /// as concurrent `Explain` calls, stay shared with every other connection).
    pub fn for_peer(&self, uid: u32) -> Self {
        Agent1 {
            peer_uid: Some(uid),
            ..self.clone()
        }
    }
}

/// Returns the caller's uid: the peer's on a peer-to-peer connection, else the bus daemon's
/// view of the sender.
async fn caller_uid(
    peer_uid: Option<u32>,
    header: &Header<'_>,
    conn: &Connection,
) -> Result<u32, AgentError> {
    if let Some(uid) = peer_uid {
        return Ok(uid);
    }
    let sender = header.sender().ok_or_else(|| {
        AgentError::AccessDenied("the call has no sender, so its credentials are unknown".into())
    })?;
    let dbus = DBusProxy::new(conn)
        .await
        .map_err(|e| AgentError::Failed(format!("asking the bus for caller credentials: {e}")))?;
    dbus.get_connection_unix_user(BusName::Unique(sender.to_owned()))
        .await
        .map_err(|e| AgentError::AccessDenied(format!("caller credentials unavailable: {e}")))
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

/// Turns an error of systemd's manager into one of ours.
fn systemd_error(unit: &str, e: zbus::Error) -> AgentError {
    let name = remote_error(&e).map(|(name, _)| name).unwrap_or_default();
    match name.as_str() {
        "org.freedesktop.systemd1.NoSuchUnit" => {
            AgentError::InvalidArgument(format!("systemd has no unit named {unit}"))
        }
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
            AgentError::Failed("systemd is not running on this system bus".to_owned())
        }
        _ => AgentError::Failed(format!("systemd refused to restart {unit}: {e}")),
    }
}

/// Runs `work` on tokio's blocking pool: work that reads files or runs programs (a re-scan of
/// every process, verifying the preload library) never holds the thread that serves D-Bus,
/// signals and the watchdog.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    work: impl FnOnce(&Shared) -> T + Send + 'static,
) -> Result<T, AgentError> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || work(&shared))
        .await
        .map_err(|e| AgentError::Failed(format!("the daemon's worker failed: {e}")))
}

/// Allows only uid 0; `what` says what was refused.
async fn require_root(
    peer_uid: Option<u32>,
    header: &Header<'_>,
    conn: &Connection,
    what: &str,
) -> Result<u32, AgentError> {
    let uid = caller_uid(peer_uid, header, conn).await?;
    if uid == 0 {
        Ok(uid)
    } else {
        tracing::warn!(
            uid,
            action = what,
            "Refused a change from an unprivileged caller"
        );
        Err(AgentError::AccessDenied(format!(
            "{what} requires root (the caller has uid {uid})"
        )))
    }
}

#[interface(
    name = "io.oneagent.Agent1",
    proxy(
        default_service = "io.oneagent.Agent1",
        default_path = "/io/oneagent/Agent1",
    )
)]
impl Agent1 {
    /// The daemon's state, configuration summary and injection rules. Open to everyone.
    async fn status(&self) -> Result<StatusReport, AgentError> {
        // SQLite reads, and the inventory's lock (held through a full /proc scan): never on the
        // thread that serves D-Bus, signals and the watchdog.
        blocking(&self.shared, |s| s.status())
            .await?
            .map_err(|e| AgentError::Failed(e.to_string()))
    }

    /// Re-reads the configuration file and applies it to every component (the log pipeline and
    /// the /metrics listener are reconfigured in place); an invalid file is refused and the
    /// running configuration kept. Returns the new generation, the changed keys now in effect,
    /// those that are not (and what applies them) and components that kept their previous
    /// settings. Root only.
    async fn reload(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<ReloadReport, AgentError> {
        require_root(self.peer_uid, &header, conn, "reloading the configuration").await?;
        let report = crate::daemon::reload(&self.shared)
            .await
            .map_err(|e| AgentError::InvalidConfig(e.to_string()))?;
        Self::config_reloaded(&emitter, report.generation).await?;
        self.log_level_changed(&emitter).await?;
        self.injection_enabled_changed(&emitter).await?;
        Ok(report)
    }

    /// Sets the log level (error, warn, info, debug, trace) until the next reload or restart.
    /// Root only.
    async fn set_log_level(
        &self,
        level: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), AgentError> {
        require_root(self.peer_uid, &header, conn, "changing the log level").await?;
        let level = level
            .parse()
            .map_err(|e: crate::Error| AgentError::InvalidArgument(e.to_string()))?;
        self.shared.set_log_level(level);
        self.log_level_changed(&emitter).await?;
        Ok(())
    }

    /// Enables or disables injection for `service`, or globally when `service` is empty.
    /// Takes effect at each process's next start. Returns whether anything changed. Root only.
    async fn set_injection(
        &self,
        service: &str,
        enabled: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<bool, AgentError> {
        let what = match (service.is_empty(), enabled) {
            (true, true) => "enabling injection globally".to_owned(),
            (true, false) => "disabling injection globally".to_owned(),
            (false, true) => format!("enabling injection for service `{service}`"),
            (false, false) => format!("disabling injection for service `{service}`"),
        };
        let uid = require_root(self.peer_uid, &header, conn, &what).await?;
        let scope = if service.is_empty() {
            crate::store::GLOBAL_SCOPE.to_owned()
        } else {
            crate::store::normalise_service(service)
                .map_err(|e| AgentError::InvalidArgument(e.to_string()))?
        };
        let rule = scope.clone();
        let changed = blocking(&self.shared, move |s| s.set_injection(&rule, enabled, uid))
            .await?
            .map_err(|e| AgentError::Failed(e.to_string()))?;
        if changed {
            Self::injection_changed(&emitter, &scope, enabled).await?;
            if scope == crate::store::GLOBAL_SCOPE {
                self.injection_enabled_changed(&emitter).await?;
            }
        }
        Ok(changed)
    }

    /// Asks systemd to restart `unit` (`.service` is added when no type is given), so that its
    /// processes start again with the current injection settings. Returns the systemd job path.
    /// Root only.
    async fn restart_unit(
        &self,
        unit: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<String, AgentError> {
        let unit = crate::systemd::normalise_unit(unit).map_err(|why| {
            AgentError::InvalidArgument(format!("invalid unit name `{unit}`: {why}"))
        })?;
        require_root(self.peer_uid, &header, conn, &format!("restarting {unit}")).await?;
        let manager = crate::systemd::ManagerProxy::new(conn)
            .await
            .map_err(|e| AgentError::Failed(format!("talking to systemd: {e}")))?;
        match manager.restart_unit(&unit, "replace").await {
            Ok(job) => {
                tracing::info!(unit = %unit, job = %job.as_str(), "Asked systemd to restart a unit");
                Ok(job.as_str().to_owned())
            }
            Err(e) => Err(systemd_error(&unit, e)),
        }
    }

    /// Every process in the inventory with its runtime, service name and injection state.
    /// Open to everyone.
    async fn processes(&self) -> Result<Vec<ProcessEntry>, AgentError> {
        blocking(&self.shared, |s| s.processes()).await
    }

    /// The log files being tailed, with their writers, service, offset, lag and state. Open to
    /// everyone.
    async fn log_files(&self) -> Result<Vec<crate::logs::pipeline::LogFileStatus>, AgentError> {
        Ok(self.shared.log_files())
    }

    /// Running processes whose next start would gain or lose an agent. Open to everyone.
    async fn pending(&self) -> Result<Vec<ProcessEntry>, AgentError> {
        let all = blocking(&self.shared, |s| s.processes()).await?;
        Ok(all
            .into_iter()
            .filter(|p| !p.pending_change.is_empty())
            .collect())
    }

    /// The decision the preload would make for a command line, with the daemon's configuration and
    /// rules. `exe` is the resolved executable (empty if unknown), `unit` a systemd unit to assume
    /// (empty for none), `env` `KEY=VALUE` entries. Open to everyone.
    async fn explain(
        &self,
        argv: Vec<String>,
        env: Vec<String>,
        exe: &str,
        unit: &str,
    ) -> Result<ExplainReport, AgentError> {
        if argv.is_empty() {
            return Err(AgentError::InvalidArgument(
                "explain needs a command".to_owned(),
            ));
        }
        let permit = self.explains.clone().try_acquire_owned().map_err(|_| {
            AgentError::Failed(format!(
                "{MAX_EXPLAINS} explain calls are already running; try again"
            ))
        })?;
        let policy = self.shared.policy();
        let (exe, unit) = (exe.to_owned(), unit.to_owned());
        // The caller names the files read here: never on the thread that serves D-Bus, the
        // watchdog and signals, and never for longer than a deadline.
        // The permit goes with the work: a call that timed out still counts until its thread
        // is done.
        let work = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::explain::explain(&argv, &env, &exe, &unit, &policy, "oneagentd")
        });
        match tokio::time::timeout(FILE_WORK_DEADLINE, work).await {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(e)) => Err(AgentError::Failed(format!("explain failed: {e}"))),
            Err(_) => Err(AgentError::Failed(format!(
                "explain gave up after {} s reading the command's files",
                FILE_WORK_DEADLINE.as_secs()
            ))),
        }
    }

    /// Verifies the library (trivial programs run with it preloaded must behave normally) and
    /// adds it to the preload file, keeping every other entry. Root only.
    async fn preload_install(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<PreloadReport, AgentError> {
        require_root(
            self.peer_uid,
            &header,
            conn,
            "installing the preload library",
        )
        .await?;
        let changed = blocking(&self.shared, |s| s.preload_install())
            .await?
            .map_err(|e| match e {
                crate::Error::PreloadVerify { .. } => AgentError::InvalidArgument(e.to_string()),
                _ => AgentError::Failed(e.to_string()),
            })?;
        self.shared
            .preload_report(false, changed)
            .map_err(|e| AgentError::Failed(e.to_string()))
    }

    /// Takes our entry out of the preload file (removing the file when it was the only entry).
    /// Root only.
    async fn preload_remove(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<PreloadReport, AgentError> {
        require_root(self.peer_uid, &header, conn, "removing the preload library").await?;
        let changed = blocking(&self.shared, |s| s.preload_remove())
            .await?
            .map_err(|e| AgentError::Failed(e.to_string()))?;
        self.shared
            .preload_report(false, changed)
            .map_err(|e| AgentError::Failed(e.to_string()))
    }

    /// Verifies the library and reports the preload file and snapshot. Changes nothing. Root only
    /// (it runs programs as root).
    async fn preload_verify(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<PreloadReport, AgentError> {
        require_root(
            self.peer_uid,
            &header,
            conn,
            "verifying the preload library",
        )
        .await?;
        blocking(&self.shared, |s| s.preload_report(true, false))
            .await?
            .map_err(|e| AgentError::Failed(e.to_string()))
    }

    /// Lets the crash circuit breaker's blocked executable `exe` (every one when empty) be
    /// injected again. Returns how many were unblocked. Root only.
    async fn preload_unblock(
        &self,
        exe: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<u32, AgentError> {
        require_root(self.peer_uid, &header, conn, "unblocking executables").await?;
        let exe = (!exe.is_empty()).then(|| exe.to_owned());
        blocking(&self.shared, move |s| s.unblock(exe.as_deref()))
            .await?
            .map(|n| n as u32)
            .map_err(|e| AgentError::Failed(e.to_string()))
    }

    /// Emitted after a successful reload, with the new configuration generation.
    #[zbus(signal)]
    async fn config_reloaded(emitter: &SignalEmitter<'_>, generation: u64) -> zbus::Result<()>;

    /// Emitted when an injection rule changes; `scope` is `*` for the global rule.
    #[zbus(signal)]
    async fn injection_changed(
        emitter: &SignalEmitter<'_>,
        scope: &str,
        enabled: bool,
    ) -> zbus::Result<()>;

    /// The daemon version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        crate::VERSION.to_owned()
    }

    /// `starting`, `running`, `reloading` or `stopping`.
    #[zbus(property)]
    fn state(&self) -> String {
        self.shared.state().as_str().to_owned()
    }

    /// The current log level.
    #[zbus(property)]
    fn log_level(&self) -> String {
        self.shared.log_level().as_str().to_owned()
    }

    /// Whether injection is enabled globally (rule, else `[injection] enabled`).
    #[zbus(property)]
    fn injection_enabled(&self) -> bool {
        self.shared.injection_enabled()
    }
}
