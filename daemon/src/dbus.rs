//! The service side of the D-Bus API `io.oneagent.Agent1`. Its names, wire types, errors and
//! client proxy are the `oneagent-api` crate's (re-exported here); this module serves them and
//! converts the engines' types (which know nothing of D-Bus) into them.
//!
//! Every method that changes anything checks the caller's uid from the bus (not only the policy
//! file) and refuses anyone but root with `io.oneagent.Agent1.Error.AccessDenied`.

#![forbid(unsafe_code)]

use std::sync::Arc;

use zbus::fdo::DBusProxy;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, interface};

pub use oneagent_api::{
    Agent1Proxy, AgentError, AgentProblem, BUS_NAME, BlockedExecutable, ERROR_PREFIX,
    EffectiveSetting, ExplainReport, INTERFACE, InjectionRule, LogFileStatus, OBJECT_PATH,
    OPEN_TO_ALL, PreloadReport, ProcessEntry, ROOT_ONLY, ReloadReport, StatusReport, Verdict,
    remote_error,
};

use crate::daemon::Shared;

/// How long a method may spend reading files a caller named before it answers with an error.
const FILE_WORK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

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

#[interface(name = "io.oneagent.Agent1")]
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
        let all = blocking(&self.shared, |s| s.processes()).await?;
        Ok(all.into_iter().map(Into::into).collect())
    }

    /// The log files being tailed, with their writers, service, offset, lag and state. Open to
    /// everyone.
    async fn log_files(&self) -> Result<Vec<LogFileStatus>, AgentError> {
        Ok(self
            .shared
            .log_files()
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Running processes whose next start would gain or lose an agent. Open to everyone.
    async fn pending(&self) -> Result<Vec<ProcessEntry>, AgentError> {
        let all = blocking(&self.shared, |s| s.processes()).await?;
        Ok(all
            .into_iter()
            .filter(|p| !p.pending_change.is_empty())
            .map(Into::into)
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
            Ok(Ok(report)) => Ok(report.into()),
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
    async fn injection_enabled(&self) -> zbus::fdo::Result<bool> {
        // The global rule is in the state database: read by its owner, not on this thread.
        blocking(&self.shared, |s| s.injection_enabled())
            .await
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
    }
}

/// The engines' types on the wire: same fields, same order.
mod wire {
    use oneagent_api as api;

    impl From<crate::decision::AgentProblem> for api::AgentProblem {
        fn from(p: crate::decision::AgentProblem) -> Self {
            let crate::decision::AgentProblem {
                language,
                path,
                problem,
            } = p;
            api::AgentProblem {
                language,
                path,
                problem,
            }
        }
    }

    impl From<crate::decision::Verdict> for api::Verdict {
        fn from(v: crate::decision::Verdict) -> Self {
            let crate::decision::Verdict {
                language,
                runtime_version,
                action,
                reason_code,
                reason,
                already_injected,
                service_name,
                service_name_source,
            } = v;
            api::Verdict {
                language,
                runtime_version,
                action,
                reason_code,
                reason,
                already_injected,
                service_name,
                service_name_source,
            }
        }
    }

    impl From<crate::inventory::ProcessEntry> for api::ProcessEntry {
        fn from(p: crate::inventory::ProcessEntry) -> Self {
            let crate::inventory::ProcessEntry {
                pid,
                start_time,
                ppid,
                exe,
                command_line,
                systemd_unit,
                container_id,
                pod_uid,
                verdict,
                injection_state,
                pending_change,
                preload_outcome,
                first_seen,
                libc,
            } = p;
            api::ProcessEntry {
                pid,
                start_time,
                ppid,
                exe,
                command_line,
                systemd_unit,
                container_id,
                pod_uid,
                verdict: verdict.into(),
                injection_state,
                pending_change,
                preload_outcome,
                first_seen,
                libc,
            }
        }
    }

    impl From<crate::explain::ExplainReport> for api::ExplainReport {
        fn from(r: crate::explain::ExplainReport) -> Self {
            let crate::explain::ExplainReport {
                verdict,
                command_line,
                executable,
                script,
                libraries,
                go_version,
                systemd_unit,
                decided_by,
                agent_problems,
                environment,
            } = r;
            api::ExplainReport {
                verdict: verdict.into(),
                command_line,
                executable,
                script,
                libraries,
                go_version,
                systemd_unit,
                decided_by,
                agent_problems: agent_problems.into_iter().map(Into::into).collect(),
                environment,
            }
        }
    }

    impl From<crate::store::InjectionRule> for api::InjectionRule {
        fn from(r: crate::store::InjectionRule) -> Self {
            let crate::store::InjectionRule {
                scope,
                enabled,
                updated_at,
                updated_by_uid,
            } = r;
            api::InjectionRule {
                scope,
                enabled,
                updated_at,
                updated_by_uid,
            }
        }
    }

    impl From<crate::store::BlockedExecutable> for api::BlockedExecutable {
        fn from(b: crate::store::BlockedExecutable) -> Self {
            let crate::store::BlockedExecutable {
                scope,
                exe,
                reason,
                blocked_at,
            } = b;
            api::BlockedExecutable {
                scope,
                exe,
                reason,
                blocked_at,
            }
        }
    }

    impl From<crate::logs::pipeline::LogFileStatus> for api::LogFileStatus {
        fn from(f: crate::logs::pipeline::LogFileStatus) -> Self {
            let crate::logs::pipeline::LogFileStatus {
                path,
                service,
                writers,
                offset,
                size,
                lag,
                state,
            } = f;
            api::LogFileStatus {
                path,
                service,
                writers,
                offset,
                size,
                lag,
                state,
            }
        }
    }
}
