//! oneagentd's runtime: loads the configuration and the state, serves the D-Bus API, talks to
//! systemd, reloads on SIGHUP and stops cleanly on SIGTERM.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::{Config, ConfigSource, JavaAgentKind};
use crate::dbus::{Agent1, BUS_NAME, OBJECT_PATH, StatusReport};
use crate::error::{Error, Result};
use crate::logging::{LogHandle, LogLevel};
use crate::notify;
use crate::store::{GLOBAL_SCOPE, OpenReport, Store, unix_now};

/// Where the daemon keeps things; every path has a default and a flag.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `--config`.
    pub config: PathBuf,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// `--runtime-dir`.
    pub runtime_dir: PathBuf,
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
struct Inner {
    config: Config,
    source: ConfigSource,
    generation: u64,
    loaded_at: u64,
    last_reload_error: String,
    state: DaemonState,
    log_level: LogLevel,
    store: Store,
    open_report: OpenReport,
    starts: u64,
}

/// State shared by the D-Bus object, the signal handlers and the main loop.
#[derive(Debug)]
pub struct Shared {
    paths: Paths,
    pid: u32,
    started_at: u64,
    log: LogHandle,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere; the data is still consistent enough to read.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads configuration and state. Nothing is served yet.
    pub fn load(paths: Paths, log: LogHandle) -> Result<Shared> {
        notify::status("Loading configuration");
        let (config, source) = Config::load(&paths.config)?;
        log.set_level(config.daemon.log_level);
        std::fs::create_dir_all(&paths.runtime_dir)
            .map_err(|e| Error::io("creating runtime directory", &paths.runtime_dir, e))?;
        notify::status("Opening state database");
        let (store, open_report) = Store::open(&paths.state_dir)?;
        let pid = std::process::id();
        let starts = store.record_start(pid, crate::VERSION)?;
        let now = unix_now();
        tracing::info!(
            config = %source.describe(),
            database = %store.path().display(),
            starts,
            "Configuration and state loaded"
        );
        Ok(Shared {
            pid,
            started_at: now,
            log,
            inner: Mutex::new(Inner {
                log_level: config.daemon.log_level,
                config,
                source,
                generation: 1,
                loaded_at: now,
                last_reload_error: String::new(),
                state: DaemonState::Starting,
                store,
                open_report,
                starts,
            }),
            paths,
        })
    }

    /// The lifecycle state.
    pub fn state(&self) -> DaemonState {
        self.lock().state
    }

    fn set_state(&self, state: DaemonState) {
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
        let inner = self.lock();
        match inner.store.global_rule() {
            Ok(Some(enabled)) => enabled,
            Ok(None) => inner.config.injection.enabled,
            Err(e) => {
                tracing::error!(error = %e, "Reading the global injection rule failed");
                inner.config.injection.enabled
            }
        }
    }

    /// Stores an injection rule; returns whether it changed anything.
    pub fn set_injection(&self, scope: &str, enabled: bool, uid: u32) -> Result<bool> {
        let changed = self.lock().store.set_injection_rule(scope, enabled, uid)?;
        tracing::info!(scope, enabled, uid, changed, "Injection rule set");
        Ok(changed)
    }

    /// Re-reads the configuration. On error the running configuration stays.
    pub fn reload(&self) -> Result<u64> {
        notify::reloading();
        self.set_state(DaemonState::Reloading);
        let result = Config::load(&self.paths.config);
        let mut inner = self.lock();
        inner.state = DaemonState::Running;
        let outcome = match result {
            Ok((config, source)) => {
                inner.log_level = config.daemon.log_level;
                self.log.set_level(config.daemon.log_level);
                inner.config = config;
                inner.source = source;
                inner.generation += 1;
                inner.loaded_at = unix_now();
                inner.last_reload_error.clear();
                tracing::info!(generation = inner.generation, "Configuration reloaded");
                Ok(inner.generation)
            }
            Err(e) => {
                tracing::error!(error = %e, "Reload refused; keeping the running configuration");
                inner.last_reload_error = e.to_string();
                Err(e)
            }
        };
        drop(inner);
        let status = match &outcome {
            Ok(generation) => format!("Running (configuration generation {generation})"),
            Err(_) => "Running (last reload failed; previous configuration kept)".to_owned(),
        };
        notify::ready(&status);
        outcome
    }

    /// The report behind `oneagentctl status`.
    pub fn status(&self) -> Result<StatusReport> {
        let inner = self.lock();
        let rules = inner.store.injection_rules()?;
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
            database: inner.store.path().display().to_string(),
            schema_version: inner.store.schema_version()?,
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
            otlp_endpoint: inner.config.exporter.otlp_endpoint.clone(),
            rules,
        })
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(paths: Paths, log: LogHandle) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let shared = Arc::new(Shared::load(paths, log)?);
    let sig = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|e| Error::io("installing signal handler", name, e))
    };
    let mut sigterm = sig(SignalKind::terminate(), "SIGTERM")?;
    let mut sigint = sig(SignalKind::interrupt(), "SIGINT")?;
    let mut sighup = sig(SignalKind::hangup(), "SIGHUP")?;

    notify::status("Connecting to the system bus");
    // The object is registered before the name is requested (the builder does it in this order),
    // so nobody can see the name without the object behind it.
    let conn = zbus::connection::Builder::system()
        .serve_at(OBJECT_PATH, Agent1::new(shared.clone()))
        .name(BUS_NAME)
        // zbus allows replacement by default: a second daemon would silently steal the name.
        .allow_name_replacements(false)
        .replace_existing_names(false)
        .build()
        .await
        .map_err(|source| Error::Bus {
            action: "connecting to the system bus and owning io.oneagent.Agent1",
            source,
        })?;
    shared.set_state(DaemonState::Running);
    tracing::info!(name = BUS_NAME, version = crate::VERSION, "Ready");
    notify::ready("Running");

    let iface = conn
        .object_server()
        .interface::<_, Agent1>(OBJECT_PATH)
        .await
        .map_err(|source| Error::Bus {
            action: "looking up our own object",
            source,
        })?;

    let watchdog = notify::watchdog_interval();
    let mut watchdog_tick = watchdog.map(tokio::time::interval);
    loop {
        tokio::select! {
            _ = sigterm.recv() => { tracing::info!(signal = "SIGTERM", "Stopping"); break; }
            _ = sigint.recv() => { tracing::info!(signal = "SIGINT", "Stopping"); break; }
            _ = sighup.recv() => {
                tracing::info!(signal = "SIGHUP", "Reloading");
                if let Ok(generation) = shared.reload() {
                    use crate::dbus::Agent1Signals;
                    let emitter = iface.signal_emitter();
                    let agent = iface.get().await;
                    let sent = async {
                        iface.config_reloaded(generation).await?;
                        agent.log_level_changed(emitter).await?;
                        agent.injection_enabled_changed(emitter).await
                    }.await;
                    if let Err(e) = sent {
                        tracing::warn!(error = %e, "Emitting reload signals failed");
                    }
                }
            }
            _ = async {
                match watchdog_tick.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => notify::watchdog(),
        }
    }
    notify::stopping();
    shared.set_state(DaemonState::Stopping);
    drop(iface);
    // Dropping the connection releases the name; the store closes with `shared`.
    drop(conn);
    tracing::info!("Stopped");
    Ok(())
}
