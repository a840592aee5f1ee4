//! oneagentd's main loop: loads the configuration and the state (`daemon`), serves the D-Bus
//! API (`dbus`), talks to systemd, starts the OpAMP client (`daemon::start_opamp`), reloads on
//! SIGHUP and on the OpAMP client's requests (remote configurations) and stops cleanly on SIGTERM.

#![forbid(unsafe_code)]

use std::sync::Arc;

use crate::daemon::{
    DaemonState, EventSource, Paths, ReloadRequest, Shared, off_thread, reload, start_logs,
    start_metrics, start_opamp,
};
use crate::dbus::{Agent1, BUS_NAME, OBJECT_PATH};
use crate::error::{Error, Result};
use crate::logging::LogHandle;
use crate::notify;
use crate::sys::proc_connector::ProcConnector;

/// The safety-net rescan when process events arrive from the kernel.
const RESCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// The scan interval when the process events connector is unavailable.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Inventory changes are written at most this long after they happen.
const FLUSH_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long process events are gathered before they are applied together.
const EVENT_BATCH: std::time::Duration = std::time::Duration::from_millis(50);

fn open_connector(shared: &Shared) -> Option<tokio::io::unix::AsyncFd<ProcConnector>> {
    let opened = ProcConnector::open().and_then(ProcConnector::into_async);
    match opened {
        Ok(fd) => {
            shared.set_event_source(EventSource::Connector);
            Some(fd)
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                interval_secs = POLL_INTERVAL.as_secs(),
                "The kernel's process events connector is unavailable (it needs CAP_NET_ADMIN and the host network namespace); scanning /proc periodically instead"
            );
            shared.set_event_source(EventSource::Polling(e.to_string()));
            None
        }
    }
}

/// Reads every waiting datagram; returns true when the kernel dropped events.
fn drain_connector(
    connector: &ProcConnector,
    buf: &mut [u8],
    events: &mut Vec<crate::inventory::events::ProcEvent>,
) -> bool {
    let mut lost = false;
    loop {
        match connector.recv(buf) {
            Ok(n) => crate::inventory::events::decode(buf.get(..n).unwrap_or_default(), events),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return lost,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => lost = true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::error!(error = %e, "Reading process events failed");
                return lost;
            }
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(paths: Paths, log: LogHandle) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let nofile = crate::sys::rlimit::raise_nofile();
    tracing::debug!(limit = nofile, "Descriptor limit");
    let shared = Arc::new(Shared::load(paths, log)?);
    let sig = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|e| Error::io("installing signal handler", name, e))
    };
    let mut sigterm = sig(SignalKind::terminate(), "SIGTERM")?;
    let mut sigint = sig(SignalKind::interrupt(), "SIGINT")?;
    let mut sighup = sig(SignalKind::hangup(), "SIGHUP")?;

    notify::status("Scanning processes");
    let stats = shared.full_scan();
    shared.store_full_inventory();
    tracing::info!(
        processes = stats.processes,
        runtimes = stats.runtimes,
        "Process inventory ready"
    );
    let mut connector = open_connector(&shared);
    // The connector while a batch is gathered: out of epoll, so that events arriving in the
    // meantime wake nobody (they wait in the socket's buffer until the batch's timer).
    let mut parked: Option<ProcConnector> = None;

    notify::status("Preparing injection");
    let policy = shared.policy();
    shared.write_snapshot(&policy);
    let reports = match crate::injection::report::ReportSocket::bind(
        &shared.report_socket_path(),
        crate::injection::breaker::Scope::Host,
    ) {
        Ok(socket) => Some(socket),
        Err(e) => {
            tracing::warn!(error = %e, "Preload reports will not be received");
            None
        }
    };
    // On a Kubernetes node, containers report through the node agent directory.
    let mut container_reports = shared.container_report_socket_path().and_then(|path| {
        crate::injection::report::ReportSocket::bind(
            &path,
            crate::injection::breaker::Scope::Containers,
        )
        .map_err(
            |e| tracing::warn!(error = %e, "Preload reports from containers will not be received"),
        )
        .ok()
    });
    if shared.config().injection.enabled {
        // A failure is logged and shown by `status`; the daemon keeps running without injection.
        let _ = shared.preload_install();
    }

    // Every component is serving before the bus name is owned and before READY=1: a client
    // that sees the name (or `systemctl start` returning) finds the log pipeline watching its
    // roots and /metrics listening.
    notify::status("Starting the log pipeline");
    let config_logs = shared.config();
    let listen = config_logs.metrics.listen;
    let (rebind_tx, mut rebind_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let mut components = shared.components.lock().await;
        if config_logs.logs.enabled {
            components.logs = start_logs(&shared, &config_logs).await;
        }
        match start_metrics(&shared, listen).await {
            Ok(task) => components.metrics = Some(task),
            Err(e) => {
                tracing::warn!(address = %listen, error = %e, "The metrics endpoint could not listen")
            }
        }
        components.container_reports = Some(rebind_tx);
    }
    shared.effective().container_reports = container_reports.as_ref().and_then(|_| {
        (!config_logs.kubernetes.node_agent_dir.as_os_str().is_empty())
            .then(|| config_logs.kubernetes.node_agent_dir.clone())
    });

    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::unbounded_channel::<ReloadRequest>();
    *shared
        .reload_requests
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(reload_tx);

    let peer_socket = shared.paths.peer_socket.clone();
    let peer_task = match &peer_socket {
        Some(path) => {
            let agent = Agent1::new(shared.clone());
            let serve = crate::peer_bus::serve(path, OBJECT_PATH, move |uid| agent.for_peer(uid));
            Some(
                serve
                    .await
                    .map_err(|e| Error::io("serving the peer socket", path, e))?,
            )
        }
        None => None,
    };
    notify::status("Connecting to the system bus");
    let conn = match own_bus_name(&shared).await {
        Ok(conn) => Some(conn),
        Err(Error::Bus { source, .. }) if peer_socket.is_some() && system_bus_absent(&source) => {
            tracing::warn!(
                error = %source,
                "No system bus on this host: serving io.oneagent.Agent1 on the peer-to-peer \
                 socket only (set ONEAGENT_PEER_SOCKET for oneagentctl)"
            );
            None
        }
        Err(e) => return Err(e),
    };
    shared.set_state(DaemonState::Running);
    tracing::info!(name = BUS_NAME, version = crate::VERSION, "Ready");
    notify::ready("Running");

    let iface = match &conn {
        Some(conn) => Some(
            conn.object_server()
                .interface::<_, Agent1>(OBJECT_PATH)
                .await
                .map_err(|source| Error::Bus {
                    action: "looking up our own object",
                    source,
                })?,
        ),
        None => None,
    };

    // On its own thread: a slow or broken server never holds up this loop.
    let opamp = start_opamp(&shared);

    let watchdog = notify::watchdog_interval();
    let mut watchdog_tick = watchdog.map(tokio::time::interval);
    let rescan_every = match &connector {
        Some(_) => RESCAN_INTERVAL,
        None => POLL_INTERVAL,
    };
    let mut rescan =
        tokio::time::interval_at(tokio::time::Instant::now() + rescan_every, rescan_every);
    let mut flush_at: Option<tokio::time::Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Vec::new();
    let mut events_lost = false;
    let mut inventory_at: Option<tokio::time::Instant> = None;
    loop {
        if inventory_at.is_some() {
            if let Some(c) = connector.take() {
                parked = Some(c.into_inner());
            }
        } else if let Some(p) = parked.take() {
            match p.into_async() {
                Ok(c) => connector = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "Re-arming the process events connector failed; only the periodic rescan remains")
                }
            }
        }
        tokio::select! {
            // In this order: signals and the watchdog (a stop or a ping never waits behind a busy
            // host), then preload reports before process events (a process's report is always sent
            // before its exit, and the crash circuit breaker needs to see it first).
            biased;
            _ = sigterm.recv() => { tracing::info!(signal = "SIGTERM", "Stopping"); break; }
            _ = sigint.recv() => { tracing::info!(signal = "SIGINT", "Stopping"); break; }
            _ = sighup.recv() => {
                tracing::info!(signal = "SIGHUP", "Reloading");
                // On its own task: the reload waits for the log pipeline, which must not hold
                // up the watchdog or a stop.
                spawn_reload(&shared, &iface, None);
            }
            request = reload_rx.recv() => {
                if let Some(reply) = request {
                    tracing::info!("Reloading for a remote configuration");
                    spawn_reload(&shared, &iface, Some(reply));
                }
            }
            socket = rebind_rx.recv() => {
                // A reload moved the containers' report socket.
                if let Some(socket) = socket {
                    container_reports = socket;
                }
            }
            _ = async {
                match watchdog_tick.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => notify::watchdog(),
            report = next_report(reports.as_ref(), container_reports.as_ref()) => {
                shared.record_report(report);
                if flush_at.is_none() {
                    flush_at = Some(tokio::time::Instant::now() + FLUSH_DELAY);
                }
            }
            // Process events are gathered for EVENT_BATCH after the first one and applied
            // together, with the deferred reads that are due: a fork storm costs a few wake-ups
            // a second, not several per process.
            ready = async {
                match connector.as_ref() {
                    Some(c) => c.readable().await,
                    None => std::future::pending().await,
                }
            }, if inventory_at.is_none() => {
                match ready {
                    Ok(mut guard) => {
                        events_lost |= drain_connector(guard.get_inner(), &mut buf, &mut events);
                        guard.clear_ready();
                        if !events.is_empty() || events_lost {
                            inventory_at = Some(tokio::time::Instant::now() + EVENT_BATCH);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "Waiting for process events failed"),
                }
            }
            _ = async {
                match inventory_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(c) = connector.as_ref().map(|c| c.get_ref()).or(parked.as_ref()) {
                    events_lost |= drain_connector(c, &mut buf, &mut events);
                }
                let lost = std::mem::take(&mut events_lost);
                if lost {
                    tracing::warn!("Process events were lost (receive queue overflow); rescanning");
                }
                // Reading a process's files (its executable, package.json, /proc) is
                // done off this thread, which serves D-Bus, signals and the watchdog.
                let batch = std::mem::take(&mut events);
                let s = shared.clone();
                let (batch, next_read, changed) = off_thread(move || {
                    if lost {
                        s.full_scan();
                    }
                    let (next_read, changed) = s.apply_events(&batch);
                    let mut batch = batch;
                    batch.clear();
                    (batch, next_read, changed)
                })
                .await
                .unwrap_or_default();
                events = batch;
                let now = tokio::time::Instant::now();
                inventory_at = next_read
                    .map(|at| tokio::time::Instant::from_std(at).max(now + EVENT_BATCH));
                if changed && flush_at.is_none() {
                    flush_at = Some(now + FLUSH_DELAY);
                }
            }
            _ = async {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                flush_at = None;
                // Writing to the state database: its owner thread does it; this one awaits.
                let s = shared.clone();
                off_thread(move || s.flush_inventory()).await;
            }
            _ = rescan.tick() => {
                let s = shared.clone();
                off_thread(move || {
                    s.full_scan();
                    s.flush_inventory();
                })
                .await;
            }
        }
    }
    notify::stopping();
    shared.set_state(DaemonState::Stopping);
    drop(opamp);
    shared
        .reload_requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    // A reload in progress holds the components; it is given a moment, but a stop never waits
    // long behind it (systemd's stop budget): without them the process ends all the same.
    let (logs, metrics_task) =
        match tokio::time::timeout(STOP_WAIT_FOR_RELOAD, shared.components.lock()).await {
            Ok(mut components) => (components.logs.take(), components.metrics.take()),
            Err(_) => {
                tracing::warn!("Stopping during a reload; the log pipeline is not drained");
                (None, None)
            }
        };
    if let Some(task) = metrics_task {
        task.abort();
    }
    if let Some(logs) = logs {
        // Within systemd's and our 2 s budget: a batch in flight may be sent again next start.
        let _ = off_thread(move || logs.stop(std::time::Duration::from_millis(1200))).await;
    }
    let s = shared.clone();
    off_thread(move || s.flush_inventory()).await;
    drop(iface);
    if let Some(task) = peer_task {
        task.abort();
    }
    if let Some(path) = &peer_socket {
        let _ = std::fs::remove_file(path);
    }
    // Dropping the connection releases the name; the store closes with `shared`.
    drop(conn);
    tracing::info!("Stopped");
    Ok(())
}

/// The next preload report from the host's socket or the containers' (the host's first when
/// both have one waiting); never, when neither is bound.
async fn next_report(
    host: Option<&crate::injection::report::ReportSocket>,
    containers: Option<&crate::injection::report::ReportSocket>,
) -> crate::injection::report::ReceivedReport {
    tokio::select! {
        biased;
        report = next_from(host) => report,
        report = next_from(containers) => report,
    }
}

/// The next report from `socket`; never when there is none.
async fn next_from(
    socket: Option<&crate::injection::report::ReportSocket>,
) -> crate::injection::report::ReceivedReport {
    match socket {
        Some(r) => r.next().await,
        None => std::future::pending().await,
    }
}

/// Reloads on its own task (the reload waits for the log pipeline, which must not hold up the
/// watchdog or a stop), emits the reload signals and answers `reply` when one waits.
fn spawn_reload(
    shared: &Arc<Shared>,
    iface: &Option<zbus::object_server::InterfaceRef<Agent1>>,
    reply: Option<ReloadRequest>,
) {
    let (s, iface) = (shared.clone(), iface.clone());
    tokio::spawn(async move {
        let report = match reload(&s).await {
            Ok(report) => report,
            Err(e) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(e.to_string()));
                }
                return;
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(if report.problems.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "applied, but not every component took it: {}",
                    report.problems.join("; ")
                ))
            });
        }
        // Signals go to the system bus; peer-to-peer clients poll.
        let Some(iface) = iface else { return };
        use crate::dbus::Agent1Signals;
        let emitter = iface.signal_emitter();
        let agent = iface.get().await;
        let sent = async {
            iface.config_reloaded(report.generation).await?;
            agent.log_level_changed(emitter).await?;
            agent.injection_enabled_changed(emitter).await
        }
        .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "Emitting reload signals failed");
        }
    });
}

/// How long a stop waits for a reload in progress before it goes on without it.
const STOP_WAIT_FOR_RELOAD: std::time::Duration = std::time::Duration::from_millis(500);

/// Whether connecting to the system bus failed because there is none: no socket at its address
/// (nodes without D-Bus, such as Talos or Bottlerocket) or nobody listening on it.
pub fn system_bus_absent(error: &zbus::Error) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, NotFound};
    match error {
        zbus::Error::Connection(e, _) | zbus::Error::InputOutput(e) => {
            matches!(e.kind(), NotFound | ConnectionRefused)
        }
        _ => false,
    }
}

/// How long to wait between attempts to own the bus name while the bus's policy refuses it.
const POLICY_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Connects to the system bus, serves the object and owns [`BUS_NAME`]. The object is registered
/// before the name is requested (the builder does it in this order), so nobody can see the name
/// without the object behind it. While the bus's policy refuses the name (`AccessDenied`: our
/// policy file is not installed yet, as on a Kubernetes node where the DaemonSet's init container
/// has just put it in the host's `/etc/dbus-1/system.d`), the bus is asked to reload its
/// configuration (dbus-broker does not watch the directory) and the name is asked for again.
async fn own_bus_name(shared: &Arc<Shared>) -> Result<zbus::Connection> {
    let mut warned = false;
    loop {
        let result = zbus::connection::Builder::system()
            .serve_at(OBJECT_PATH, Agent1::new(shared.clone()))
            .name(BUS_NAME)
            // zbus allows replacement by default: a second daemon would silently steal the name.
            .allow_name_replacements(false)
            .replace_existing_names(false)
            .build()
            .await;
        let error = match result {
            Ok(conn) => return Ok(conn),
            Err(e) => e,
        };
        let denied = crate::dbus::remote_error(&error)
            .is_some_and(|(name, _)| name == "org.freedesktop.DBus.Error.AccessDenied");
        if !denied {
            return Err(Error::Bus {
                action: "connecting to the system bus and owning io.oneagent.Agent1",
                source: error,
            });
        }
        if !warned {
            warned = true;
            tracing::warn!(
                name = BUS_NAME,
                error = %error,
                policy = "/usr/share/dbus-1/system.d/io.oneagent.Agent1.conf",
                "The system bus refuses our name: its policy for io.oneagent.Agent1 is not installed \
                 or not loaded. Asking the bus to reload its configuration and trying again every 2 s"
            );
            notify::status("Waiting for the D-Bus policy of io.oneagent.Agent1");
        }
        if let Ok(conn) = zbus::Connection::system().await
            && let Ok(bus) = zbus::fdo::DBusProxy::new(&conn).await
            && let Err(e) = bus.reload_config().await
        {
            tracing::debug!(error = %e, "ReloadConfig failed");
        }
        tokio::time::sleep(POLICY_RETRY).await;
    }
}
