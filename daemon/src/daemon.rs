//! oneagentd's state, shared by the D-Bus interface, the signal handlers and the main loop
//! ([`Shared`]), and how a reload applies a new configuration to every component; what the
//! OpAMP client sees of the daemon (its `Host`) and the remote configuration over the local file.
//! The main loop that owns it is `main_loop`.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::{Config, ConfigSource, JavaAgentKind};
use oneagent_api::StatusReport;

use crate::decision::OwnedPolicy;
use crate::error::{Error, Result};
use crate::inventory::{Inventory, InventoryHandle, ProcessEntry, ScanStats};
use crate::logging::{LogHandle, LogLevel};
pub use crate::logs_host::LogsView;
use crate::notify;
use crate::store::{GLOBAL_SCOPE, OpenReport, Store, StoreHandle, unix_now};

/// Where the daemon keeps things; every path has a default and a flag.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `--config`.
    pub config: PathBuf,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// `--runtime-dir`.
    pub runtime_dir: PathBuf,
    /// The proc file system (`/proc`; tests may point elsewhere).
    pub proc_root: PathBuf,
    /// `--peer-socket`: also serve io.oneagent.Agent1 peer-to-peer on this socket, and run
    /// without the system bus where there is none.
    pub peer_socket: Option<PathBuf>,
}

/// The lifecycle state shown in `status` and the `State` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    /// Loading configuration and state.
    Starting,
    /// Serving.
    Running,
    /// Re-reading the configuration.
    Reloading,
    /// Shutting down.
    Stopping,
}

impl DaemonState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DaemonState::Starting => "starting",
            DaemonState::Running => "running",
            DaemonState::Reloading => "reloading",
            DaemonState::Stopping => "stopping",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The configuration in force: replaced whole on reload, read by cloning the `Arc`.
    config: Arc<Config>,
    source: ConfigSource,
    generation: u64,
    loaded_at: u64,
    last_reload_error: String,
    state: DaemonState,
    log_level: LogLevel,
    open_report: OpenReport,
    starts: u64,
}

/// How the inventory learns about process starts and exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// Not started yet.
    None,
    /// The kernel's process events connector.
    Connector,
    /// The connector is unavailable: periodic scans (the reason is kept).
    Polling(String),
}

/// State shared by the D-Bus object, the signal handlers and the main loop: handles to the
/// engines' owner threads (store, inventory) and the log pipeline's view, the configuration in
/// force (an `Arc` replaced on reload) and status snapshots. Each lock is held for one statement
/// (never two at once, never across waiting for an owner or for blocking work); only
/// `components` (one reload at a time) is held across a reload.
#[derive(Debug)]
pub struct Shared {
    pub(crate) paths: Paths,
    pid: u32,
    started_at: u64,
    log: LogHandle,
    /// The state database, on its owner thread.
    store: StoreHandle,
    inner: Mutex<Inner>,
    /// The process inventory, on its owner thread.
    inventory: InventoryHandle,
    event_source: Mutex<EventSource>,
    preload: Mutex<PreloadState>,
    logs: Mutex<Option<LogsView>>,
    metrics_addr: Mutex<Option<std::net::SocketAddr>>,
    effective: Mutex<Effective>,
    pub(crate) components: tokio::sync::Mutex<Components>,
    /// The remote configuration (OpAMP) over the local file, when one is in effect.
    remote: Mutex<RemoteConfig>,
    opamp_stats: Arc<crate::opamp::OpampStats>,
    /// Asks the event loop for a reload (the OpAMP client's remote configurations).
    pub(crate) reload_requests: Mutex<Option<tokio::sync::mpsc::UnboundedSender<ReloadRequest>>>,
}

/// A reload asked for by another thread, and where its outcome goes.
pub(crate) type ReloadRequest = tokio::sync::oneshot::Sender<std::result::Result<(), String>>;

/// The remote configuration the OpAMP server gave, kept in the state database.
#[derive(Debug, Clone, Default)]
struct RemoteConfig {
    /// The oneagent.toml text, empty when none.
    text: String,
    /// The server's hash of it.
    hash: Vec<u8>,
    /// When it was applied (Unix seconds).
    at: u64,
    /// Why it is not in effect (the local file refuses it, or it does not merge), empty if it is.
    problem: String,
}

/// The configuration each component actually runs with, for `status`, and what the last reload
/// left unapplied.
#[derive(Debug, Clone, Default)]
pub(crate) struct Effective {
    /// The configuration the log pipeline took (its `[logs]` and `[exporter]` parts); `None`
    /// when it does not run.
    logs: Option<Config>,
    /// The address `[metrics] listen` named when the listener was bound; `None` when it is not
    /// listening.
    metrics_listen: Option<std::net::SocketAddr>,
    /// The node agent directory whose report socket is bound; `None` when none is.
    pub(crate) container_reports: Option<PathBuf>,
    /// Changed keys the last reload did not apply, and components that kept old settings.
    pending: Vec<String>,
}

/// The components a reload re-configures, owned here so that one reload at a time does it.
#[derive(Debug, Default)]
pub struct Components {
    pub(crate) logs: Option<Arc<crate::logs_host::LogsHandle>>,
    pub(crate) metrics: Option<tokio::task::JoinHandle<()>>,
    /// Hands a newly bound container report socket (or none) to the event loop.
    pub(crate) container_reports:
        Option<tokio::sync::mpsc::UnboundedSender<Option<crate::injection::report::ReportSocket>>>,
}

/// What the daemon knows about the preload library's installation.
#[derive(Debug, Clone, Default)]
pub struct PreloadState {
    /// The last install/verify problem, empty when none.
    pub problem: String,
    /// The last snapshot problem, empty when none.
    pub snapshot_problem: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere; the data is still consistent enough to read.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in force (a snapshot: a reload replaces it, never changes it).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.lock().config)
    }

    /// Loads configuration and state. Nothing is served yet.
    pub fn load(mut paths: Paths, log: LogHandle) -> Result<Shared> {
        notify::status("Loading configuration");
        let (local, source) = Config::load(&paths.config)?;
        for (what, dir) in [
            ("creating runtime directory", &mut paths.runtime_dir),
            ("creating state directory", &mut paths.state_dir),
        ] {
            std::fs::create_dir_all(&*dir).map_err(|e| Error::io(what, &*dir, e))?;
            // Absolute paths: the snapshot tells every process where the report socket is.
            *dir = std::fs::canonicalize(&*dir).map_err(|e| Error::io(what, &*dir, e))?;
        }
        notify::status("Opening state database");
        let (mut store, open_report) = Store::open(&paths.state_dir)?;
        let pid = std::process::id();
        let starts = store.record_start(pid, crate::VERSION)?;
        let mut remote = RemoteConfig::default();
        if local.opamp.accept_remote_config {
            let state = store.opamp_state(crate::opamp::new_instance_uid)?;
            remote = RemoteConfig {
                text: state.remote_config,
                hash: state.remote_config_hash,
                at: state.remote_config_at,
                problem: String::new(),
            };
        }
        let config = remote.over(local);
        log.set_level(config.daemon.log_level);
        let now = unix_now();
        let policy = Arc::new(policy_for(&config, policy_inputs(&mut store)?));
        let mut inventory = Inventory::new(paths.proc_root.clone(), pid, policy);
        inventory.restore_first_seen(store.processes_first_seen()?);
        tracing::info!(
            config = %source.describe(),
            database = %store.path().display(),
            starts,
            "Configuration and state loaded"
        );
        let store = StoreHandle::spawn(store)?;
        let inventory = InventoryHandle::spawn(inventory)?;
        Ok(Shared {
            pid,
            store,
            started_at: now,
            log,
            inner: Mutex::new(Inner {
                log_level: config.daemon.log_level,
                config: Arc::new(config),
                source,
                generation: 1,
                loaded_at: now,
                last_reload_error: String::new(),
                state: DaemonState::Starting,
                open_report,
                starts,
            }),
            inventory,
            event_source: Mutex::new(EventSource::None),
            preload: Mutex::new(PreloadState::default()),
            logs: Mutex::new(None),
            metrics_addr: Mutex::new(None),
            effective: Mutex::new(Effective::default()),
            components: tokio::sync::Mutex::new(Components::default()),
            remote: Mutex::new(remote),
            opamp_stats: Arc::default(),
            reload_requests: Mutex::new(None),
            paths,
        })
    }

    fn remote(&self) -> MutexGuard<'_, RemoteConfig> {
        self.remote.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The OpAMP client's counters and status line.
    pub fn opamp_stats(&self) -> &crate::opamp::OpampStats {
        &self.opamp_stats
    }

    /// The lifecycle state.
    pub fn state(&self) -> DaemonState {
        self.lock().state
    }

    pub(crate) fn set_state(&self, state: DaemonState) {
        self.lock().state = state;
    }

    /// The current log level.
    pub fn log_level(&self) -> LogLevel {
        self.lock().log_level
    }

    /// Changes the log level until the next reload.
    pub fn set_log_level(&self, level: LogLevel) {
        self.lock().log_level = level;
        self.log.set_level(level);
        tracing::info!(level = %level, "Log level changed");
    }

    /// Whether injection is enabled globally: the global rule if set, else the config.
    pub fn injection_enabled(&self) -> bool {
        let global = self.store.call(|s| s.global_rule());
        let configured = self.config().injection.enabled;
        match global {
            Ok(Some(enabled)) => enabled,
            Ok(None) => configured,
            Err(e) => {
                tracing::error!(error = %e, "Reading the global injection rule failed");
                configured
            }
        }
    }

    /// Stores an injection rule; returns whether it changed anything.
    pub fn set_injection(&self, scope: &str, enabled: bool, uid: u32) -> Result<bool> {
        let owned = scope.to_owned();
        let changed = (self.store).call(move |s| s.set_injection_rule(&owned, enabled, uid))?;
        tracing::info!(scope, enabled, uid, changed, "Injection rule set");
        if changed {
            self.refresh_policy()?;
        }
        Ok(changed)
    }

    /// The process inventory's handle.
    pub fn inventory(&self) -> &InventoryHandle {
        &self.inventory
    }

    /// Every process in the inventory, ordered by pid.
    pub fn processes(&self) -> Vec<ProcessEntry> {
        self.inventory.list()
    }

    /// The current policy (configuration + rules + agents on disk).
    pub fn policy(&self) -> Arc<OwnedPolicy> {
        match self.inventory.policy() {
            Some(policy) => policy,
            None => {
                // Only when the inventory's thread is gone (never while `self` lives).
                tracing::error!("The inventory did not answer; using the configuration's policy");
                Arc::new(OwnedPolicy::build(&self.config(), &[], &[]))
            }
        }
    }

    /// Rebuilds the policy from the configuration and the rules and re-decides every process.
    pub fn refresh_policy(&self) -> Result<ScanStats> {
        let inputs = self.store.call(policy_inputs)?;
        let config = self.config();
        let policy = Arc::new(policy_for(&config, inputs));
        self.write_snapshot(&policy);
        for p in &policy.agent_problems {
            tracing::debug!(language = %p.language, path = %p.path, problem = %p.problem, "Agent unavailable");
        }
        let stats = self.inventory.full_scan(Some(policy)).unwrap_or_default();
        self.flush_inventory();
        Ok(stats)
    }

    /// Compiles and writes the snapshot for `policy`; problems are kept for `status`.
    pub(crate) fn write_snapshot(&self, policy: &OwnedPolicy) {
        let config = self.config();
        let result = crate::injection::snapshot::compile(&config, policy, &self.paths.runtime_dir)
            .and_then(|bytes| crate::injection::snapshot::write(&self.paths.state_dir, &bytes));
        let problem = match result {
            Ok(changed) => {
                if changed {
                    tracing::info!(path = %self.snapshot_path().display(), "Preload snapshot written");
                }
                String::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "Writing the preload snapshot failed; processes keep the previous one");
                e.to_string()
            }
        };
        self.preload_state().snapshot_problem = problem;
        self.write_container_snapshot(&config, policy);
    }

    /// On a Kubernetes node (`[kubernetes] node_agent_dir` set), writes the containers'
    /// snapshot `<node_agent_dir>/preload.snapshot`, atomically and only when it changes, like the
    /// host's.
    fn write_container_snapshot(&self, config: &Config, policy: &OwnedPolicy) {
        let dir = &config.kubernetes.node_agent_dir;
        if dir.as_os_str().is_empty() {
            return;
        }
        let result = std::fs::create_dir_all(dir)
            .map_err(|e| Error::io("creating node agent directory", dir, e))
            .and_then(|()| crate::injection::snapshot::compile_for_containers(config, policy, dir))
            .and_then(|bytes| crate::injection::snapshot::write(dir, &bytes));
        match result {
            Ok(true) => {
                tracing::info!(
                    path = %dir.join(crate::injection::snapshot::SNAPSHOT_FILE).display(),
                    "Container preload snapshot written"
                );
                let library = dir.join(crate::injection::snapshot::LIBRARY_FILE);
                if !library.is_file() {
                    tracing::warn!(
                        library = %library.display(),
                        "The node agent directory has no preload library; containers get no agents until it is installed"
                    );
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(
                error = %e,
                "Writing the container preload snapshot failed; containers keep the previous one"
            ),
        }
    }

    /// The containers' report socket (`<node_agent_dir>/preload.sock`), when configured.
    pub fn container_report_socket_path(&self) -> Option<PathBuf> {
        let config = self.config();
        let dir = &config.kubernetes.node_agent_dir;
        (!dir.as_os_str().is_empty()).then(|| dir.join(crate::injection::snapshot::REPORT_SOCKET))
    }

    fn preload_state(&self) -> MutexGuard<'_, PreloadState> {
        self.preload.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The snapshot file.
    pub fn snapshot_path(&self) -> PathBuf {
        self.paths
            .state_dir
            .join(crate::injection::snapshot::SNAPSHOT_FILE)
    }

    /// The report socket path.
    pub fn report_socket_path(&self) -> PathBuf {
        self.paths
            .runtime_dir
            .join(crate::injection::snapshot::REPORT_SOCKET)
    }

    /// Verifies the library and adds it to the preload file. Returns whether the file changed.
    pub fn preload_install(&self) -> Result<bool> {
        let config = self.config();
        let (library, file) = (
            config.injection.library.clone(),
            config.injection.preload_file.clone(),
        );
        let result = crate::injection::verify::verify_library(&library, &self.snapshot_path())
            .map_err(|f| Error::PreloadVerify {
                library: library.clone(),
                problem: f.problem,
            })
            .and_then(|()| {
                crate::injection::preload_file::install(&file, &library.display().to_string())
            });
        match &result {
            Ok(changed) => {
                tracing::info!(library = %library.display(), file = %file.display(), changed, "Preload library installed");
                self.preload_state().problem.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, file = %file.display(), "Preload library not installed");
                self.preload_state().problem = e.to_string();
            }
        }
        result
    }

    /// Takes our entry out of the preload file. Returns whether the file changed.
    pub fn preload_remove(&self) -> Result<bool> {
        let file = self.config().injection.preload_file.clone();
        let changed = crate::injection::preload_file::remove(&file)?;
        tracing::info!(file = %file.display(), changed, "Preload library removed");
        self.preload_state().problem.clear();
        Ok(changed)
    }

    /// The preload installation as it is now; `verify` also runs the library trial.
    pub fn preload_report(
        &self,
        verify: bool,
        changed: bool,
    ) -> Result<oneagent_api::PreloadReport> {
        let config = self.config();
        let (library, file) = (
            config.injection.library.clone(),
            config.injection.preload_file.clone(),
        );
        let state = crate::injection::preload_file::state(&file)?;
        let library_text = library.display().to_string();
        let library_problem = if verify {
            crate::injection::verify::verify_library(&library, &self.snapshot_path())
                .err()
                .map(|f| f.problem)
                .unwrap_or_default()
        } else {
            String::new()
        };
        let snapshot = crate::injection::snapshot::check(&self.paths.state_dir);
        let preload = self.preload_state().clone();
        Ok(oneagent_api::PreloadReport {
            installed: state.ours.iter().any(|e| e == &library_text),
            library: library_text,
            verified: verify && library_problem.is_empty(),
            library_problem,
            preload_file: file.display().to_string(),
            our_entries: state.ours,
            other_entries: state.others,
            snapshot: self.snapshot_path().display().to_string(),
            snapshot_bytes: snapshot.as_ref().map_or(0, |n| *n as u64),
            snapshot_problem: match snapshot {
                Ok(_) => preload.snapshot_problem,
                Err(e) => e,
            },
            last_problem: preload.problem,
            changed,
        })
    }

    /// Records a report of the preload library.
    pub fn record_report(&self, report: crate::injection::report::ReceivedReport) {
        tracing::debug!(pid = report.pid, outcome = %report.outcome, service = %report.service_name, "Preload report");
        // Queued, not awaited: the event loop goes on; the inventory applies it before the
        // process events read after it (the crash circuit breaker needs it first).
        self.inventory.post(move |i| i.record_report(report));
    }

    /// Executables blocked by the crash circuit breaker.
    pub fn blocked_executables(&self) -> Result<Vec<crate::store::BlockedExecutable>> {
        self.store.call(|s| s.blocked_executables())
    }

    /// Unblocks `exe` (all when `None`); returns how many were unblocked.
    pub fn unblock(&self, exe: Option<&str>) -> Result<usize> {
        let owned = exe.map(str::to_owned);
        let n = (self.store).call(move |s| s.unblock_executable(owned.as_deref()))?;
        let owned = exe.map(str::to_owned);
        let _ = (self.inventory).change(move |i| i.reset_breaker(owned.as_deref()));
        if n > 0 {
            tracing::info!(
                executable = exe.unwrap_or("*"),
                count = n,
                "Unblocked executables"
            );
            self.refresh_policy()?;
        }
        Ok(n)
    }

    /// Blocks the executable the crash circuit breaker tripped on; a container's block goes
    /// into the containers' snapshot only.
    fn block_tripped(&self, trip: crate::inventory::Trip) {
        let crate::inventory::Trip { scope, exe, reason } = trip;
        let (e, r) = (exe.clone(), reason.clone());
        match (self.store).call(move |s| s.block_executable(scope, &e, &r)) {
            Ok(_) => {
                tracing::warn!(executable = %exe, scope = %scope, reason = %reason, "Crash circuit breaker: injection disabled for this executable; `oneagentctl preload unblock` re-enables it");
                notify::status(&format!(
                    "Running; injection blocked for {exe} ({scope}): {reason}"
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, executable = %exe, "Recording a blocked executable failed")
            }
        }
        if let Err(e) = self.refresh_policy() {
            tracing::error!(error = %e, "Rewriting the snapshot after blocking an executable failed");
        }
    }

    /// Every saved log checkpoint.
    pub fn log_checkpoints(&self) -> Result<Vec<crate::logs::tail::Checkpoint>> {
        self.store.call(|s| s.log_checkpoints())
    }

    /// Saves log checkpoints.
    pub fn save_log_checkpoints(
        &self,
        checkpoints: &[crate::logs::tail::Checkpoint],
    ) -> Result<()> {
        let checkpoints = checkpoints.to_vec();
        (self.store).call(move |s| s.save_log_checkpoints(&checkpoints))
    }

    /// The log pipeline, when it runs.
    pub fn logs_view(&self) -> Option<LogsView> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The log files being tailed.
    pub fn log_files(&self) -> Vec<crate::logs::pipeline::LogFileStatus> {
        self.logs_view().map(|v| v.files()).unwrap_or_default()
    }

    /// The address the metrics endpoint listens on.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        *self.metrics_addr.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One process of the inventory.
    pub fn process(&self, pid: u32) -> Option<ProcessEntry> {
        self.inventory.get(pid)
    }

    /// A process that exited in the last few seconds, as the inventory knew it.
    pub fn recently_exited(&self, pid: u32) -> Option<ProcessEntry> {
        self.inventory.recently_exited(pid)
    }

    /// The state database's handle.
    pub fn store(&self) -> &StoreHandle {
        &self.store
    }

    /// The daemon's own directories, never watched for logs.
    pub fn own_dirs(&self) -> Vec<PathBuf> {
        vec![self.paths.state_dir.clone(), self.paths.runtime_dir.clone()]
    }

    /// Runs a full scan of /proc (at start and as the safety net).
    pub fn full_scan(&self) -> ScanStats {
        let stats = self.inventory.full_scan(None).unwrap_or_default();
        tracing::debug!(
            processes = stats.processes,
            runtimes = stats.runtimes,
            unreadable = stats.unreadable,
            "Process scan done"
        );
        stats
    }

    /// Applies decoded process events and reads the processes whose deferred read is due (on
    /// the inventory's owner thread); blocks what the crash circuit breaker trips. Returns when
    /// the next read is due and whether there are changes to save.
    pub fn apply_events(
        &self,
        events: &[crate::inventory::events::ProcEvent],
    ) -> (Option<std::time::Instant>, bool) {
        let events = events.to_vec();
        let (trips, next) = (self.inventory)
            .change(move |inventory| {
                let now = std::time::Instant::now();
                let exits = inventory.apply_events(&events, now);
                inventory.read_due(now);
                let trips = inventory.crash_trips(&exits);
                (trips, (inventory.next_read(), inventory.has_changes()))
            })
            .unwrap_or_default();
        for trip in trips {
            self.block_tripped(trip);
        }
        next
    }

    /// Writes inventory changes to the database; returns whether there were any.
    pub fn flush_inventory(&self) -> bool {
        let changes = (self.inventory)
            .change(Inventory::take_changes)
            .unwrap_or_default();
        if changes.is_empty() {
            return false;
        }
        if let Err(e) = (self.store).call(move |s| s.apply_process_changes(&changes)) {
            tracing::error!(error = %e, "Saving the process inventory failed");
        }
        true
    }

    /// Replaces the stored inventory with the in-memory one (after the first scan).
    pub(crate) fn store_full_inventory(&self) {
        let all = (self.inventory)
            .change(|inventory| {
                let _ = inventory.take_changes();
                inventory.list()
            })
            .unwrap_or_default();
        if let Err(e) = (self.store).call(move |s| s.replace_processes(&all)) {
            tracing::error!(error = %e, "Saving the process inventory failed");
        }
    }

    pub(crate) fn set_event_source(&self, source: EventSource) {
        *self.event_source.lock().unwrap_or_else(|p| p.into_inner()) = source;
    }

    /// How process events arrive.
    pub fn event_source(&self) -> EventSource {
        self.event_source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn effective(&self) -> MutexGuard<'_, Effective> {
        self.effective.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads the configuration and applies what the log filter and the policy use (the
    /// other components are applied by [`reload`]). Returns the new generation and the
    /// previous and new configurations. On error the running configuration stays.
    fn reload_config(&self) -> Result<(u64, Config, Config)> {
        notify::reloading();
        self.set_state(DaemonState::Reloading);
        let result = Config::load(&self.paths.config).map(|(local, source)| {
            let mut remote = self.remote();
            (remote.over_mut(local), source)
        });
        let mut inner = self.lock();
        let outcome = match result {
            Ok((config, source)) => {
                inner.log_level = config.daemon.log_level;
                self.log.set_level(config.daemon.log_level);
                let old = std::mem::replace(&mut inner.config, Arc::new(config.clone()));
                let old = Arc::unwrap_or_clone(old);
                inner.source = source;
                inner.generation += 1;
                inner.loaded_at = unix_now();
                inner.last_reload_error.clear();
                tracing::info!(generation = inner.generation, "Configuration reloaded");
                Ok((inner.generation, old, config))
            }
            Err(e) => {
                tracing::error!(error = %e, "Reload refused; keeping the running configuration");
                inner.last_reload_error = e.to_string();
                inner.state = DaemonState::Running;
                Err(e)
            }
        };
        drop(inner);
        if outcome.is_ok()
            && let Err(e) = self.refresh_policy()
        {
            tracing::error!(error = %e, "Re-deciding processes after the reload failed");
        }
        outcome
    }

    /// The report behind `oneagentctl status`.
    pub fn status(&self) -> Result<StatusReport> {
        let (rules, schema_version, blocked) = self.store.call(|s| {
            Ok((
                s.injection_rules()?,
                s.schema_version()?,
                s.blocked_executables()?,
            ))
        })?;
        let inner = self.lock();
        let global = rules
            .iter()
            .find(|r| r.scope == GLOBAL_SCOPE)
            .map(|r| r.enabled);
        let now = unix_now();
        Ok(StatusReport {
            version: crate::VERSION.to_owned(),
            state: inner.state.as_str().to_owned(),
            pid: self.pid,
            started_at: self.started_at,
            uptime_secs: now.saturating_sub(self.started_at),
            config_path: self.paths.config.display().to_string(),
            config_source: match inner.source {
                ConfigSource::File(_) => "file",
                ConfigSource::Defaults(_) => "defaults",
            }
            .to_owned(),
            config_generation: inner.generation,
            config_loaded_at: inner.loaded_at,
            last_reload_error: inner.last_reload_error.clone(),
            state_dir: self.paths.state_dir.display().to_string(),
            runtime_dir: self.paths.runtime_dir.display().to_string(),
            database: self.store.path().display().to_string(),
            schema_version,
            daemon_starts: inner.starts,
            database_recovered_to: inner
                .open_report
                .moved_aside
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            log_level: inner.log_level.as_str().to_owned(),
            injection_enabled: global.unwrap_or(inner.config.injection.enabled),
            injection_source: if global.is_some() { "rule" } else { "config" }.to_owned(),
            java_agent: match inner.config.injection.java_agent {
                JavaAgentKind::Opentelemetry => "opentelemetry",
                JavaAgentKind::Skywalking => "skywalking",
            }
            .to_owned(),
            otlp_endpoint: crate::config::redact_url(&inner.config.exporter.otlp_endpoint),
            rules: rules.into_iter().map(Into::into).collect(),
            metrics_listen: String::new(),
            log_files: 0,
            preload_installed: false,
            preload_problem: String::new(),
            blocked: blocked.into_iter().map(Into::into).collect(),
            processes: 0,
            runtime_processes: 0,
            process_events: String::new(),
            agent_problems: Vec::new(),
            effective: Vec::new(),
            reload_pending: Vec::new(),
            opamp: String::new(),
            remote_config: String::new(),
        })
        .map(|mut report| {
            drop(inner);
            let (processes, runtimes, problems) = (self.inventory)
                .lookup(|inventory| {
                    let all = inventory.list();
                    let runtimes = all.iter().filter(|p| p.is_runtime()).count();
                    (
                        all.len(),
                        runtimes,
                        inventory.policy().agent_problems.clone(),
                    )
                })
                .unwrap_or_default();
            report.processes = processes as u64;
            report.runtime_processes = runtimes as u64;
            report.agent_problems = problems.into_iter().map(Into::into).collect();
            let library = self.config().injection.clone();
            report.preload_installed = crate::injection::preload_file::state(&library.preload_file)
                .map(|s| s.ours.iter().any(|e| Path::new(e) == library.library))
                .unwrap_or(false);
            report.preload_problem = self.preload_state().problem.clone();
            report.metrics_listen = self
                .metrics_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            report.log_files = self.logs_view().map_or(0, |v| {
                v.stats.files.load(std::sync::atomic::Ordering::Relaxed)
            });
            report.process_events = match self.event_source() {
                EventSource::None => "starting".to_owned(),
                EventSource::Connector => "connector".to_owned(),
                EventSource::Polling(why) => format!("polling: {why}"),
            };
            let effective = self.effective().clone();
            report.effective = effective_settings(&effective);
            report.reload_pending = effective.pending;
            let opamp = self.config().opamp.clone();
            report.opamp = if opamp.endpoint.is_empty() {
                String::new()
            } else {
                self.opamp_stats.status_line()
            };
            report.remote_config = self.remote().describe(opamp.accept_remote_config);
            report
        })
    }
}

impl RemoteConfig {
    /// `local` with this remote configuration over it; when they do not merge, `local` (and the
    /// reason is kept in `problem`).
    fn over_mut(&mut self, local: Config) -> Config {
        self.problem.clear();
        if self.text.is_empty() || !local.opamp.accept_remote_config {
            return local;
        }
        match local.with_remote(&self.text) {
            Ok(merged) => merged,
            Err(e) => {
                tracing::error!(error = %e, "The remote configuration is not in effect; the local file alone is");
                self.problem = e.to_string();
                local
            }
        }
    }

    fn over(&mut self, local: Config) -> Config {
        self.over_mut(local)
    }

    /// For `status`: which configuration wins.
    fn describe(&self, accepted: bool) -> String {
        if self.text.is_empty() {
            return String::new();
        }
        let hash: String = self
            .hash
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        if !accepted {
            return format!("{hash} not in effect: [opamp] accept_remote_config is false");
        }
        if !self.problem.is_empty() {
            return format!("{hash} not in effect: {}", self.problem);
        }
        let keys = toml::from_str::<toml::Table>(&self.text)
            .map(|t| {
                t.iter()
                    .flat_map(|(section, v)| {
                        v.as_table()
                            .map(|k| k.keys().map(|k| format!("{section}.{k}")).collect())
                            .unwrap_or_else(|| vec![section.clone()])
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        format!(
            "{hash} applied at {} over the local file; it sets: {}",
            self.at,
            if keys.is_empty() {
                "nothing".to_owned()
            } else {
                keys.join(", ")
            }
        )
    }
}

/// What the OpAMP client sees of the daemon.
struct OpampHost(Arc<Shared>);

impl crate::opamp::Host for OpampHost {
    fn snapshot(&self) -> crate::opamp::machine::Snapshot {
        opamp_snapshot(&self.0)
    }

    fn apply_remote_config(&self, hash: &[u8], text: &str) -> std::result::Result<(), String> {
        let shared = &self.0;
        // Validated exactly like a local file, over the local file as it is now.
        let (local, _) = Config::load(&shared.paths.config).map_err(|e| e.to_string())?;
        if !text.is_empty() {
            local.with_remote(text).map_err(|e| e.to_string())?;
        }
        let previous = std::mem::replace(
            &mut *shared.remote(),
            RemoteConfig {
                text: text.to_owned(),
                hash: hash.to_vec(),
                at: unix_now(),
                problem: String::new(),
            },
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let asked = shared
            .reload_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|r| r.send(tx).is_ok());
        let outcome = if asked {
            rx.blocking_recv()
                .unwrap_or_else(|_| Err("the daemon is stopping".to_owned()))
        } else {
            Err("the daemon is not running its event loop".to_owned())
        };
        match outcome {
            Ok(()) => {
                let (text, hash) = (text.to_owned(), hash.to_vec());
                let saved = (shared.store).call(move |s| s.set_remote_config(&text, &hash));
                if let Err(e) = saved {
                    tracing::error!(error = %e, "The remote configuration is applied but not saved; a restart goes back to the previous one");
                }
                Ok(())
            }
            Err(why) => {
                *shared.remote() = previous;
                Err(why)
            }
        }
    }

    fn save_remote_status(&self, status: &crate::opamp::proto::RemoteConfigStatus) {
        let status = status.clone();
        let saved = self.0.store.call(move |s| {
            s.set_remote_status(
                &status.last_remote_config_hash,
                status.status,
                &status.error_message,
            )
        });
        if let Err(e) = saved {
            tracing::warn!(error = %e, "The remote configuration status is not saved");
        }
    }

    fn save_instance_uid(&self, uid: [u8; 16]) {
        if let Err(e) = self.0.store.call(move |s| s.set_opamp_uid(uid)) {
            tracing::warn!(error = %e, "The instance uid the OpAMP server assigned is not saved");
        }
    }
}

/// The daemon as the OpAMP server sees it.
fn opamp_snapshot(shared: &Shared) -> crate::opamp::machine::Snapshot {
    use crate::opamp::machine::Health;
    use std::sync::atomic::Ordering::Relaxed;
    let mut config = (*shared.config()).clone();
    for v in config.opamp.headers.values_mut() {
        *v = "***".to_owned();
    }
    config.exporter.otlp_endpoint = crate::config::redact_url(&config.exporter.otlp_endpoint);
    config.kubernetes.otlp_endpoint = crate::config::redact_url(&config.kubernetes.otlp_endpoint);
    let effective_config = toml::to_string(&config).unwrap_or_default();
    let status = shared.status().ok();
    let processes = shared.processes();
    let mut by: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
        Default::default();
    for p in processes.iter().filter(|p| p.is_runtime()) {
        *by.entry(p.verdict.language.clone())
            .or_default()
            .entry(p.injection_state.clone())
            .or_insert(0) += 1;
    }
    let installed = status.as_ref().is_some_and(|s| s.preload_installed);
    let preload_problem = status
        .as_ref()
        .map(|s| s.preload_problem.clone())
        .unwrap_or_default();
    let breaker_trips = status.as_ref().map_or(0, |s| s.blocked.len());
    let injection_on = config.injection.enabled;
    let logs = shared.logs_view();
    let (lag, errors, rejected, files) = logs.as_ref().map_or((0, 0, 0, 0), |l| {
        (
            l.stats.lag_bytes.load(Relaxed),
            l.stats.export_errors.load(Relaxed),
            l.stats.rejected_batches.load(Relaxed),
            l.stats.files.load(Relaxed),
        )
    });
    let dropped: u64 = logs.as_ref().map_or(0, LogsView::sampled_out);
    let fleet = serde_json::json!({
        "processes": processes.len(),
        "runtime_processes": by,
        "preload": {
            "injection_enabled": injection_on,
            "library_installed": installed,
            "library_verified": installed && preload_problem.is_empty(),
            "problem": preload_problem,
            "breaker_trips": breaker_trips,
        },
        "logs": {
            "enabled": config.logs.enabled,
            "files": files,
            "lag_bytes": lag,
            "dropped_records": dropped,
            "export_errors": errors,
            "rejected_batches": rejected,
        },
    });
    crate::opamp::machine::Snapshot {
        host_name: crate::injection::snapshot::host_name(),
        os_description: os_description(),
        version: crate::VERSION.to_owned(),
        start_time_unix_nano: shared.started_at.saturating_mul(1_000_000_000),
        effective_config,
        components: vec![
            (
                "injection".to_owned(),
                Health {
                    healthy: !injection_on || (installed && preload_problem.is_empty()),
                    status: if !injection_on {
                        "disabled".to_owned()
                    } else if installed {
                        format!(
                            "preload library installed; {breaker_trips} executables blocked by the crash breaker"
                        )
                    } else {
                        "preload library not installed".to_owned()
                    },
                    last_error: preload_problem,
                },
            ),
            (
                "logs".to_owned(),
                Health {
                    healthy: !config.logs.enabled || logs.is_some(),
                    status: if logs.is_some() {
                        format!(
                            "{files} files, lag {lag} bytes, {dropped} records dropped by sampling, {errors} export errors"
                        )
                    } else if config.logs.enabled {
                        "the log pipeline is not running".to_owned()
                    } else {
                        "disabled".to_owned()
                    },
                    last_error: String::new(),
                },
            ),
        ],
        fleet_status: fleet.to_string(),
    }
}

/// The kernel's name and release (`Linux 6.1.0`).
fn os_description() -> String {
    let read = |p: &str| {
        crate::safe_fs::read_head(Path::new(p), 256, crate::safe_fs::OpenOpts::TRUSTED)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease")
    )
}

/// Starts the OpAMP client when `[opamp] endpoint` is set; a problem is logged and shown by
/// `status`, and the daemon runs on without it.
pub(crate) fn start_opamp(shared: &Arc<Shared>) -> Option<crate::opamp::Client> {
    let settings = shared.config().opamp.clone();
    if settings.endpoint.is_empty() {
        return None;
    }
    let state = match (shared.store).call(|s| s.opamp_state(crate::opamp::new_instance_uid)) {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(error = %e, "The OpAMP client does not start: its state is unreadable");
            shared.opamp_stats.set_problem(format!("not started: {e}"));
            return None;
        }
    };
    let remote_status =
        (!state.last_hash.is_empty()).then(|| crate::opamp::proto::RemoteConfigStatus {
            last_remote_config_hash: state.last_hash.clone(),
            status: state.last_status,
            error_message: state.last_error.clone(),
        });
    let host: Arc<dyn crate::opamp::Host> = Arc::new(OpampHost(shared.clone()));
    match crate::opamp::start(
        settings.clone(),
        state.instance_uid,
        remote_status,
        host,
        shared.opamp_stats.clone(),
    ) {
        Ok(client) => {
            tracing::info!(
                endpoint = %crate::config::redact_url(&settings.endpoint),
                instance_uid = %crate::opamp::machine::uuid_string(&state.instance_uid),
                accept_remote_config = settings.accept_remote_config,
                "OpAMP client started"
            );
            Some(client)
        }
        Err(e) => {
            tracing::error!(error = %e, "The OpAMP client does not start");
            shared.opamp_stats.set_problem(format!("not started: {e}"));
            None
        }
    }
}

/// What the policy takes from the state database: the injection rules and the executables the
/// crash circuit breaker blocked.
type PolicyInputs = (
    Vec<crate::store::InjectionRule>,
    Vec<crate::store::BlockedExecutable>,
);

/// Reads [`PolicyInputs`] (on the store's owner thread).
fn policy_inputs(store: &mut Store) -> Result<PolicyInputs> {
    Ok((store.injection_rules()?, store.blocked_executables()?))
}

/// The policy from the configuration, the injection rules and the executables the crash circuit
/// breaker blocked.
fn policy_for(config: &Config, (rules, blocked): PolicyInputs) -> OwnedPolicy {
    let (host, containers): (Vec<_>, Vec<_>) = blocked
        .into_iter()
        .partition(|b| b.scope == crate::injection::breaker::Scope::Host.as_str());
    let exes = |list: Vec<crate::store::BlockedExecutable>| -> Vec<String> {
        list.into_iter().map(|b| b.exe).collect()
    };
    OwnedPolicy::build(config, &rules, &exes(host))
        .with_container_skip_executables(&exes(containers))
}

/// How long start-up waits for the log pipeline to watch its roots before it reports ready anyway
/// (a huge tree of directories; systemd's start timeout is 90 s).
const LOGS_START_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `work` on tokio's blocking pool, so the event loop's thread (D-Bus, signals, watchdog)
/// stays free while it reads files; `None` if it panicked.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "Background work failed");
            None
        }
    }
}

/// How long a reload waits for the log pipeline to take new settings (it is between two
/// rounds within milliseconds unless an export is in progress).
const LOGS_RECONFIGURE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Re-reads the configuration and applies every changed key to the component that uses it:
/// the log filter and the policy (and so the preload snapshots), the log pipeline (reconfigured
/// in place, keeping its files, offsets and the batch in flight), the /metrics listener and the
/// containers' report socket (re-bound). What cannot be applied live is named in the reply, in
/// `status` and in the log. Used by SIGHUP and the D-Bus `Reload` method; one at a time.
pub async fn reload(shared: &Arc<Shared>) -> Result<oneagent_api::ReloadReport> {
    let mut components = shared.components.lock().await;
    let s = shared.clone();
    let loaded = off_thread(move || s.reload_config())
        .await
        .unwrap_or(Err(Error::Worker {
            action: "reloading the configuration",
        }));
    let (generation, old, new) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            shared.set_state(DaemonState::Running);
            notify::ready("Running (last reload failed; previous configuration kept)");
            return Err(e);
        }
    };
    let changed = crate::reload::changed_keys(&old, &new);
    let mut report = oneagent_api::ReloadReport {
        generation,
        applied: Vec::new(),
        not_applied: Vec::new(),
        problems: Vec::new(),
    };
    use crate::reload::Applier;
    let mut appliers = Vec::new();
    for key in &changed {
        let mut live = true;
        for a in crate::reload::applier(key) {
            if let Applier::NotLive(what) = a {
                live = false;
                tracing::warn!(key = %key, applies = what, "A changed key is not in effect after the reload");
                report.not_applied.push(format!("{key}: {what}"));
            } else if !appliers.contains(&a) {
                appliers.push(a);
            }
        }
        if live {
            report.applied.push(key.clone());
        }
    }
    if appliers.contains(&Applier::Logs) {
        apply_logs(shared, &mut components, &new, &mut report).await;
    }
    if appliers.contains(&Applier::Metrics) {
        apply_metrics(shared, &mut components, &new, &mut report).await;
    }
    if appliers.contains(&Applier::ContainerReports) {
        apply_container_reports(shared, &components, &new, &mut report);
    }
    // A key whose component kept its previous settings is not in effect.
    report.applied.retain(|k| {
        !report
            .problems
            .iter()
            .any(|p| p.starts_with(&format!("{k}:")))
    });
    let pending: Vec<String> = report
        .not_applied
        .iter()
        .chain(&report.problems)
        .cloned()
        .collect();
    shared.effective().pending = pending.clone();
    shared.set_state(DaemonState::Running);
    let status = if pending.is_empty() {
        format!("Running (configuration generation {generation})")
    } else {
        let keys: Vec<&str> = pending
            .iter()
            .map(|p| p.split(':').next().unwrap_or_default())
            .collect();
        format!(
            "Running (configuration generation {generation}; not in effect: {})",
            keys.join(", ")
        )
    };
    tracing::info!(
        generation,
        applied = ?report.applied,
        not_applied = ?report.not_applied,
        problems = ?report.problems,
        "Reload applied"
    );
    notify::ready(&status);
    Ok(report)
}

/// Starts, stops or reconfigures the log pipeline for `config`.
async fn apply_logs(
    shared: &Arc<Shared>,
    components: &mut Components,
    config: &Config,
    report: &mut oneagent_api::ReloadReport,
) {
    let keys: Vec<String> = report
        .applied
        .iter()
        .filter(|k| crate::reload::applier(k).contains(&crate::reload::Applier::Logs))
        .cloned()
        .collect();
    let fail = |report: &mut oneagent_api::ReloadReport, why: &str| {
        for k in &keys {
            report.problems.push(format!("{k}: {why}"));
        }
    };
    match (components.logs.clone(), config.logs.enabled) {
        (Some(handle), true) => {
            let c = config.clone();
            let applied = off_thread(move || handle.reconfigure(&c, LOGS_RECONFIGURE_LIMIT))
                .await
                .unwrap_or(false);
            if applied {
                shared.effective().logs = Some(config.clone());
            } else {
                tracing::error!(
                    limit_secs = LOGS_RECONFIGURE_LIMIT.as_secs(),
                    "The log pipeline did not take the new settings in time; it keeps its previous ones until it does"
                );
                fail(
                    report,
                    "the log pipeline did not take the new settings in time",
                );
            }
        }
        (Some(handle), false) => {
            components.logs = None;
            let _ = off_thread(move || handle.stop(std::time::Duration::from_secs(5))).await;
            *shared.logs.lock().unwrap_or_else(|p| p.into_inner()) = None;
            shared.effective().logs = None;
            tracing::info!("Log pipeline stopped ([logs] enabled = false)");
        }
        (None, true) => match start_logs(shared, config).await {
            Some(handle) => components.logs = Some(handle),
            None => fail(report, "the log pipeline could not start"),
        },
        (None, false) => {}
    }
}

/// Starts the log pipeline and waits until it watches its roots.
pub(crate) async fn start_logs(
    shared: &Arc<Shared>,
    config: &Config,
) -> Option<Arc<crate::logs_host::LogsHandle>> {
    let handle = match crate::logs_host::start(shared.clone(), config, shared.own_dirs()) {
        Ok(handle) => Arc::new(handle),
        Err(e) => {
            tracing::error!(error = %e, "The log pipeline could not start; logs are not collected");
            return None;
        }
    };
    *shared.logs.lock().unwrap_or_else(|p| p.into_inner()) = Some(LogsView::new(&handle));
    shared.effective().logs = Some(config.clone());
    let h = handle.clone();
    let started = off_thread(move || h.wait_started(LOGS_START_LIMIT)).await;
    if started != Some(true) {
        tracing::warn!(
            limit_secs = LOGS_START_LIMIT.as_secs(),
            "The log pipeline is still scanning its roots; going on without waiting"
        );
    }
    Some(handle)
}

/// Binds `[metrics] listen` and serves /metrics there.
pub(crate) async fn start_metrics(
    shared: &Arc<Shared>,
    listen: std::net::SocketAddr,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    *shared
        .metrics_addr
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = listener.local_addr().ok();
    shared.effective().metrics_listen = Some(listen);
    tracing::info!(address = %listen, "Serving Prometheus metrics at /metrics");
    Ok(tokio::spawn(crate::metrics_server::serve(
        listener,
        shared.clone(),
    )))
}

/// Moves /metrics to the new address: the new one is bound first, so a failure keeps the old
/// listener serving.
async fn apply_metrics(
    shared: &Arc<Shared>,
    components: &mut Components,
    config: &Config,
    report: &mut oneagent_api::ReloadReport,
) {
    let listen = config.metrics.listen;
    let previous = shared.effective().metrics_listen;
    let bound = shared.metrics_addr();
    match start_metrics(shared, listen).await {
        Ok(task) => {
            if let Some(old) = components.metrics.replace(task) {
                old.abort();
            }
        }
        Err(e) => {
            // The old listener (if any) still serves: put its address back.
            *shared
                .metrics_addr
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = bound;
            shared.effective().metrics_listen = previous;
            tracing::error!(address = %listen, error = %e, key = "metrics.listen", "The metrics endpoint could not move; it keeps its previous address");
            report.problems.push(format!(
                "metrics.listen: cannot listen on {listen}: {e}; {}",
                match bound {
                    Some(a) => format!("still serving on {a}"),
                    None => "not serving".to_owned(),
                }
            ));
        }
    }
}

/// Binds the containers' report socket in the new node agent directory (or none) and hands it
/// to the event loop, which drops the previous one.
fn apply_container_reports(
    shared: &Arc<Shared>,
    components: &Components,
    config: &Config,
    report: &mut oneagent_api::ReloadReport,
) {
    let dir = &config.kubernetes.node_agent_dir;
    let old = shared.effective().container_reports.clone();
    let socket = if dir.as_os_str().is_empty() {
        None
    } else {
        let path = dir.join(crate::injection::snapshot::REPORT_SOCKET);
        match crate::injection::report::ReportSocket::bind(
            &path,
            crate::injection::breaker::Scope::Containers,
        ) {
            Ok(socket) => Some(socket),
            Err(e) => {
                tracing::error!(error = %e, key = "kubernetes.node_agent_dir", "Preload reports from containers will not be received");
                report
                    .problems
                    .push(format!("kubernetes.node_agent_dir: {e}"));
                None
            }
        }
    };
    let new_dir = socket.as_ref().map(|_| dir.clone());
    if let Some(tx) = &components.container_reports
        && tx.send(socket).is_ok()
    {
        if let Some(old) = old
            && Some(&old) != new_dir.as_ref()
        {
            let _ = std::fs::remove_file(old.join(crate::injection::snapshot::REPORT_SOCKET));
        }
        shared.effective().container_reports = new_dir;
    }
}

/// The settings in effect, per component, as `status` lists them.
fn effective_settings(e: &Effective) -> Vec<oneagent_api::EffectiveSetting> {
    let mut out = Vec::new();
    let mut push = |component: &str, key: &str, value: String| {
        out.push(oneagent_api::EffectiveSetting {
            component: component.to_owned(),
            key: key.to_owned(),
            value,
        });
    };
    match &e.logs {
        Some(c) => {
            let l = &c.logs;
            let paths = |v: &[PathBuf]| {
                v.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            push("logs", "logs.enabled", "true".to_owned());
            push(
                "logs",
                "logs.exporter",
                format!("{:?}", l.exporter).to_lowercase(),
            );
            push(
                "logs",
                "exporter.otlp_endpoint",
                crate::config::redact_url(&c.exporter.otlp_endpoint),
            );
            push(
                "logs",
                "exporter.compression",
                format!("{:?}", c.exporter.compression).to_lowercase(),
            );
            push("logs", "logs.roots", paths(&l.roots));
            push("logs", "logs.include", l.include.join(", "));
            push("logs", "logs.exclude", l.exclude.join(", "));
            push("logs", "logs.max_depth", l.max_depth.to_string());
            push("logs", "logs.multiline", l.multiline.to_string());
            push(
                "logs",
                "logs.start_at",
                format!("{:?}", l.start_at).to_lowercase(),
            );
            push(
                "logs",
                "logs.rate_limit_per_service",
                l.rate_limit_per_service.to_string(),
            );
            push(
                "logs",
                "logs.attribution_rearm_secs",
                l.attribution_rearm_secs.to_string(),
            );
            push("logs", "logs.max_open_files", l.max_open_files.to_string());
            push(
                "logs",
                "logs.container_logs",
                if c.container_logs_on() {
                    format!("on ({}, {})", l.pods_dir.display(), l.docker_dir.display())
                } else {
                    "off".to_owned()
                },
            );
        }
        None => push("logs", "logs.enabled", "false".to_owned()),
    }
    push(
        "metrics",
        "metrics.listen",
        e.metrics_listen.map(|a| a.to_string()).unwrap_or_default(),
    );
    push(
        "container-reports",
        "kubernetes.node_agent_dir",
        e.container_reports
            .as_ref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    );
    out
}

impl crate::logs_host::HostState for Shared {
    fn log_checkpoints(&self) -> Result<Vec<crate::logs::tail::Checkpoint>> {
        Shared::log_checkpoints(self)
    }

    fn save_log_checkpoints(&self, checkpoints: &[crate::logs::tail::Checkpoint]) -> Result<()> {
        Shared::save_log_checkpoints(self, checkpoints)
    }

    fn process(&self, pid: u32) -> Option<ProcessEntry> {
        Shared::process(self, pid)
    }

    fn recently_exited(&self, pid: u32) -> Option<ProcessEntry> {
        Shared::recently_exited(self, pid)
    }

    fn load_attribution(
        &self,
        engine: &mut crate::logs::attribute::AttributionEngine,
    ) -> Result<usize> {
        engine.load(&self.store)
    }

    fn save_attribution(
        &self,
        engine: &mut crate::logs::attribute::AttributionEngine,
    ) -> Result<()> {
        engine.save(&mut self.store.clone())
    }
}

impl crate::metrics_server::MetricsSource for Shared {
    fn processes(&self) -> Vec<ProcessEntry> {
        Shared::processes(self)
    }

    fn logs_view(&self) -> Option<LogsView> {
        Shared::logs_view(self)
    }

    fn opamp_stats(&self) -> &crate::opamp::OpampStats {
        Shared::opamp_stats(self)
    }
}
