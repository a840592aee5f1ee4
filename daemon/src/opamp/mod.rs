//! The OpAMP client (Open Agent Management Protocol, opamp-spec): reports this host to a fleet
//! server (agent description, health, effective configuration, remote-config status and the
//! `io.oneagent.status` fleet status) and takes a remote configuration from it when the local
//! file allows. [`machine`] decides (pure), [`proto`] holds the messages, this module is the
//! plain-HTTP transport and the client loop, and `ws` the WebSocket transport. They run on their
//! own thread: a slow, broken or hostile server delays nothing but itself.
//!
//! The daemon is reached through [`Host`], so this module does not depend on it.

#![forbid(unsafe_code)]

pub mod machine;
pub mod proto;
mod ws;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message as _;

use crate::config::OpampSection;
use machine::{Action, Machine, ReplyError, Snapshot};

/// What the client needs from the daemon. Every method may block (the client has its own
/// thread).
pub trait Host: Send + Sync + 'static {
    /// What the daemon is now.
    fn snapshot(&self) -> Snapshot;
    /// Validates and applies a remote configuration (empty: none, back to the local file
    /// alone) through the reload path and persists it; `Err` holds the reason it was refused.
    fn apply_remote_config(&self, hash: &[u8], text: &str) -> Result<(), String>;
    /// Keeps the outcome of the last remote configuration (so that a restart reports it).
    fn save_remote_status(&self, status: &proto::RemoteConfigStatus);
    /// Keeps an instance uid the server assigned.
    fn save_instance_uid(&self, uid: [u8; 16]);
}

/// Counters and the status line, for `/metrics` and `oneagentctl status`.
#[derive(Debug, Default)]
pub struct OpampStats {
    /// Exchanges the server answered.
    pub exchanges: AtomicU64,
    /// Failed exchanges (unreachable, HTTP error, garbage, oversized, server error).
    pub failures: AtomicU64,
    /// Remote configurations applied.
    pub remote_applied: AtomicU64,
    /// Remote configurations refused.
    pub remote_refused: AtomicU64,
    /// 1 while the last exchange succeeded.
    pub connected: AtomicU64,
    /// One line: the endpoint and how the last exchange went.
    pub status: Mutex<String>,
}

impl OpampStats {
    fn set_status(&self, line: String) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = line;
    }

    /// Records why the client is not running.
    pub fn set_problem(&self, line: String) {
        self.set_status(line);
    }

    /// The status line.
    pub fn status_line(&self) -> String {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why the client cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A certificate or key file is unusable.
    #[error("`[opamp] {key}` {path}: {why}")]
    Tls {
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// A handle on the client thread; dropping it stops the thread at its next wake-up.
#[derive(Debug)]
pub struct Client {
    _stop: std::sync::mpsc::Sender<()>,
}

fn pem_items(
    key: &'static str,
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::PemItem<'static>>, SetupError> {
    let err = |why: String| SetupError::Tls {
        key,
        path: path.display().to_string(),
        why,
    };
    let pem = crate::safe_fs::read_capped(path, 1 << 20, crate::safe_fs::OpenOpts::TRUSTED)
        .map_err(|e| err(e.to_string()))?;
    let items: Vec<_> = ureq::tls::parse_pem(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("not PEM: {e}")))?;
    if items.is_empty() {
        return Err(err("holds no PEM certificate or key".to_owned()));
    }
    Ok(items)
}

fn certificates(
    key: &'static str,
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, SetupError> {
    let certs: Vec<_> = pem_items(key, path)?
        .into_iter()
        .filter_map(|i| match i {
            ureq::tls::PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(SetupError::Tls {
            key,
            path: path.display().to_string(),
            why: "holds no certificate".to_owned(),
        });
    }
    Ok(certs)
}

/// The private key in `client_key`.
fn private_key(settings: &OpampSection) -> Result<ureq::tls::PrivateKey<'static>, SetupError> {
    pem_items("client_key", &settings.client_key)?
        .into_iter()
        .find_map(|i| match i {
            ureq::tls::PemItem::PrivateKey(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| SetupError::Tls {
            key: "client_key",
            path: settings.client_key.display().to_string(),
            why: "holds no private key".to_owned(),
        })
}

/// The HTTP agent for `settings`: its CA, its client certificate, a 30 s deadline.
fn http_agent(settings: &OpampSection) -> Result<ureq::Agent, SetupError> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if !settings.ca_file.as_os_str().is_empty() {
        let certs = certificates("ca_file", &settings.ca_file)?;
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    if !settings.client_cert.as_os_str().is_empty() {
        let chain = certificates("client_cert", &settings.client_cert)?;
        let key = private_key(settings)?;
        tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(EXCHANGE_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into())
}

/// The longest one exchange may take (a slow server is a failed exchange).
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many exchanges follow each other without waiting (a server that keeps asking
/// for the full state cannot make the client spin).
const IMMEDIATE_LIMIT: u32 = 3;

/// Why one exchange failed.
#[derive(Debug)]
enum ExchangeError {
    Transport(String),
    Status(u16, Option<Duration>),
    TooLarge,
    Reply(ReplyError),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Transport(why) => f.write_str(why),
            ExchangeError::Status(code, _) => write!(f, "HTTP status {code}"),
            ExchangeError::TooLarge => write!(
                f,
                "the server's reply is larger than {} bytes; refused unread",
                machine::MAX_MESSAGE_BYTES
            ),
            ExchangeError::Reply(e) => e.fmt(f),
        }
    }
}

/// One POST of `msg`; the reply's bytes.
fn exchange(
    agent: &ureq::Agent,
    settings: &OpampSection,
    msg: &proto::AgentToServer,
) -> Result<Vec<u8>, ExchangeError> {
    let mut post = agent
        .post(&settings.endpoint)
        .header("Content-Type", "application/x-protobuf");
    for (name, value) in &settings.headers {
        post = post.header(name.as_str(), value.as_str());
    }
    let mut response = post.send(&msg.encode_to_vec()[..]).map_err(|e| {
        ExchangeError::Transport(crate::config::redact_in(&e.to_string(), &settings.endpoint))
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let retry_after = response
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(machine::RETRY_AFTER_MAX));
        return Err(ExchangeError::Status(status, retry_after));
    }
    response
        .body_mut()
        .with_config()
        .limit(machine::MAX_MESSAGE_BYTES as u64)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => ExchangeError::TooLarge,
            e => ExchangeError::Transport(format!("reading the reply: {e}")),
        })
}

/// How the client reaches the server.
enum Transport {
    /// Plain HTTP: one POST per report, polling.
    Http(ureq::Agent),
    /// WebSocket: one connection (opened again after a failure); the server may push.
    Ws {
        tls: std::sync::Arc<rustls::ClientConfig>,
        conn: Option<Box<ws::Connection>>,
    },
}

/// How a wait between reports ended.
enum Waited {
    Stop,
    Elapsed,
    Pushed(Vec<u8>),
    Failed(ExchangeError),
}

impl Transport {
    fn new(settings: &OpampSection) -> Result<Transport, SetupError> {
        if settings.endpoint.starts_with("ws://") || settings.endpoint.starts_with("wss://") {
            Ok(Transport::Ws {
                tls: ws::tls_config(settings)?,
                conn: None,
            })
        } else {
            Ok(Transport::Http(http_agent(settings)?))
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Transport::Http(_) => "HTTP",
            Transport::Ws { .. } => "WebSocket",
        }
    }

    /// Sends `msg`; the server's reply.
    fn exchange(
        &mut self,
        settings: &OpampSection,
        msg: &proto::AgentToServer,
    ) -> Result<Vec<u8>, ExchangeError> {
        match self {
            Transport::Http(agent) => exchange(agent, settings, msg),
            Transport::Ws { tls, conn } => {
                let outcome = (|| {
                    if conn.is_none() {
                        *conn = Some(Box::new(ws::Connection::open(settings, tls)?));
                    }
                    let c = conn
                        .as_mut()
                        .ok_or_else(|| ExchangeError::Transport("no connection".to_owned()))?;
                    c.send(msg.encode_to_vec())?;
                    c.receive(EXCHANGE_TIMEOUT)?
                        .ok_or_else(|| ExchangeError::Transport("no reply in time".to_owned()))
                })();
                if outcome.is_err() {
                    *conn = None;
                }
                outcome
            }
        }
    }

    /// Waits `wait` (or until stopped), reading what the server pushes meanwhile.
    fn wait(&mut self, wait: Duration, stop: &std::sync::mpsc::Receiver<()>) -> Waited {
        use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
        let Transport::Ws {
            conn: Some(conn), ..
        } = self
        else {
            return match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => Waited::Elapsed,
                _ => Waited::Stop,
            };
        };
        let deadline = std::time::Instant::now() + wait;
        let failed = loop {
            if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                return Waited::Stop;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Waited::Elapsed;
            }
            match conn.receive(left.min(Duration::from_secs(1))) {
                Ok(Some(bytes)) => return Waited::Pushed(bytes),
                Ok(None) => {}
                Err(e) => break e,
            }
        };
        if let Transport::Ws { conn, .. } = self {
            *conn = None;
        }
        Waited::Failed(failed)
    }
}

/// A random number in [0, 1).
fn jitter() -> f64 {
    let mut b = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// A new instance uid (UUID v7).
pub fn new_instance_uid() -> [u8; 16] {
    let mut random = [0u8; 10];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    machine::uuid_v7(ms, random)
}

/// Starts the client thread for `settings` (its `endpoint` is set).
pub fn start(
    settings: OpampSection,
    uid: [u8; 16],
    remote_status: Option<proto::RemoteConfigStatus>,
    host: std::sync::Arc<dyn Host>,
    stats: std::sync::Arc<OpampStats>,
) -> Result<Client, SetupError> {
    let transport = Transport::new(&settings)?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let shown = crate::config::redact_url(&settings.endpoint);
    stats.set_status(format!("{shown}: connecting"));
    let machine = Machine::new(uid, settings.accept_remote_config, remote_status);
    let spawned = std::thread::Builder::new()
        .name("opamp".to_owned())
        .spawn(move || run(settings, transport, machine, &*host, &stats, &stop_rx));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "The OpAMP client thread could not start");
    }
    Ok(Client { _stop: stop_tx })
}

fn run(
    settings: OpampSection,
    mut transport: Transport,
    mut machine: Machine,
    host: &dyn Host,
    stats: &OpampStats,
    stop: &std::sync::mpsc::Receiver<()>,
) {
    let shown = crate::config::redact_url(&settings.endpoint);
    let poll = Duration::from_secs(settings.poll_interval_secs);
    let mut immediate = 0;
    let mut pushed: Option<Result<Vec<u8>, ExchangeError>> = None;
    loop {
        // A message the server pushed (WebSocket) is handled without sending a report first.
        let (msg, outcome) = match pushed.take() {
            Some(p) => (None, p),
            None => {
                let msg = machine.next_message(&host.snapshot());
                let reply = transport.exchange(&settings, &msg);
                (Some(msg), reply)
            }
        };
        let outcome =
            outcome.and_then(|bytes| machine.on_reply(&bytes).map_err(ExchangeError::Reply));
        let wait = match outcome {
            Ok(actions) => {
                if let Some(msg) = &msg {
                    machine.sent(msg);
                }
                stats.exchanges.fetch_add(1, Ordering::Relaxed);
                stats.connected.store(1, Ordering::Relaxed);
                let mut soon = false;
                for action in actions {
                    match action {
                        Action::SendSoon => soon = true,
                        Action::NewInstanceUid(uid) => host.save_instance_uid(uid),
                        Action::ApplyRemoteConfig { hash, text } => {
                            let outcome = host.apply_remote_config(&hash, &text);
                            match &outcome {
                                Ok(()) => {
                                    stats.remote_applied.fetch_add(1, Ordering::Relaxed);
                                    tracing::info!(endpoint = %shown, "Remote configuration applied");
                                }
                                Err(why) => {
                                    stats.remote_refused.fetch_add(1, Ordering::Relaxed);
                                    tracing::warn!(endpoint = %shown, reason = %why, "Remote configuration refused");
                                }
                            }
                            machine.remote_config_done(hash, outcome);
                            soon = true;
                        }
                    }
                }
                // A refusal decided before validation (not accepted, not UTF-8) is kept too.
                if let Some(s) = machine.remote_status() {
                    host.save_remote_status(s);
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                stats.set_status(format!(
                    "{shown}: connected over {}, last exchange at {now} (Unix time)",
                    transport.name()
                ));
                if soon && immediate < IMMEDIATE_LIMIT {
                    immediate += 1;
                    Duration::ZERO
                } else {
                    immediate = 0;
                    poll
                }
            }
            Err(e) => {
                let retry_after = match &e {
                    ExchangeError::Status(_, r) => *r,
                    ExchangeError::Reply(ReplyError::Server { retry_after, .. }) => *retry_after,
                    _ => None,
                };
                let delay = machine.failed(retry_after, jitter());
                stats.failures.fetch_add(1, Ordering::Relaxed);
                stats.connected.store(0, Ordering::Relaxed);
                stats.set_status(format!(
                    "{shown}: {e}; {} failures in a row, next attempt in {} s",
                    machine.failures(),
                    delay.as_secs()
                ));
                tracing::warn!(endpoint = %shown, error = %e, retry_in_ms = delay.as_millis() as u64, "OpAMP exchange failed");
                immediate = 0;
                delay
            }
        };
        match transport.wait(wait, stop) {
            Waited::Stop => return,
            Waited::Elapsed => {}
            Waited::Pushed(bytes) => pushed = Some(Ok(bytes)),
            Waited::Failed(e) => pushed = Some(Err(e)),
        }
    }
}
