//! The OpAMP client's state machine: what to send (a compressed status report, complete when the
//! server asks for the full state), what a server reply means (a remote configuration to apply
//! or refuse, a new instance uid, an error with a retry time) and when to try again (exponential
//! backoff with jitter). Pure: no I/O, no clock; the transport thread feeds it.

#![forbid(unsafe_code)]

use std::time::Duration;

use prost::Message as _;

use super::proto::{self, AgentToServer, ServerToAgent};

/// The custom capability that carries the fleet status.
pub const STATUS_CAPABILITY: &str = "io.oneagent.status";
/// The custom message type of the fleet status (JSON in `data`).
pub const STATUS_MESSAGE_TYPE: &str = "status";
/// The largest ServerToAgent message read; a larger one is refused unread.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// The first retry delay after a failure.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// The longest wait a server's RetryInfo can impose.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// `AgentCapabilities` bits.
pub mod capabilities {
    /// ReportsStatus.
    pub const REPORTS_STATUS: u64 = 1;
    /// AcceptsRemoteConfig.
    pub const ACCEPTS_REMOTE_CONFIG: u64 = 2;
    /// ReportsEffectiveConfig.
    pub const REPORTS_EFFECTIVE_CONFIG: u64 = 4;
    /// ReportsHealth.
    pub const REPORTS_HEALTH: u64 = 2048;
    /// ReportsRemoteConfig.
    pub const REPORTS_REMOTE_CONFIG: u64 = 4096;
}

/// `ServerToAgentFlags_ReportFullState`.
pub const FLAG_REPORT_FULL_STATE: u64 = 1;

/// The health of one part of the agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// Whether it works.
    pub healthy: bool,
    /// A short status.
    pub status: String,
    /// The last error, empty when none.
    pub last_error: String,
}

/// What the daemon is now, gathered by the transport thread.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// `host.name`.
    pub host_name: String,
    /// `os.description` (the kernel's name and release).
    pub os_description: String,
    /// oneagent's version.
    pub version: String,
    /// Start time of the daemon (Unix nanoseconds).
    pub start_time_unix_nano: u64,
    /// The configuration in effect, as TOML (secrets redacted).
    pub effective_config: String,
    /// Components by name (`injection`, `logs`, …).
    pub components: Vec<(String, Health)>,
    /// The fleet status (JSON) sent as the `io.oneagent.status` custom message.
    pub fleet_status: String,
}

/// What the daemon must do after a server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Validate and apply this remote configuration (empty text: none, the local file alone),
    /// then report with [`Machine::remote_config_done`].
    ApplyRemoteConfig {
        /// The server's hash of it.
        hash: Vec<u8>,
        /// The oneagent.toml text.
        text: String,
    },
    /// Keep this instance uid from now on (the server assigned it).
    NewInstanceUid([u8; 16]),
    /// Send a report now rather than at the next poll.
    SendSoon,
}

/// Why a server reply is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// Not a ServerToAgent protobuf.
    Garbage(String),
    /// The server said no; wait at least this long (when it said).
    Server {
        /// Its message.
        message: String,
        /// RetryInfo, capped at [`RETRY_AFTER_MAX`].
        retry_after: Option<Duration>,
    },
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Garbage(why) => {
                write!(f, "the server's reply is not an OpAMP message: {why}")
            }
            ReplyError::Server { message, .. } => {
                write!(f, "the server answered with an error: {message}")
            }
        }
    }
}

/// The OpAMP client state.
#[derive(Debug, Clone)]
pub struct Machine {
    uid: [u8; 16],
    sequence_num: u64,
    accept_remote_config: bool,
    /// The last values the server received, by field; `None` = send it.
    sent_description: Option<u64>,
    sent_health: Option<u64>,
    sent_effective: Option<u64>,
    sent_status: Option<u64>,
    sent_remote_status: Option<u64>,
    remote_status: Option<proto::RemoteConfigStatus>,
    /// The remote configuration hash being applied (not reported as new again).
    applying: Option<Vec<u8>>,
    failures: u32,
}

fn digest<M: prost::Message>(m: &M) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.encode_to_vec().hash(&mut h);
    h.finish()
}

impl Machine {
    /// A client with `uid`; `remote_status` is the persisted outcome of the last remote config.
    pub fn new(
        uid: [u8; 16],
        accept_remote_config: bool,
        remote_status: Option<proto::RemoteConfigStatus>,
    ) -> Machine {
        Machine {
            uid,
            sequence_num: 0,
            accept_remote_config,
            sent_description: None,
            sent_health: None,
            sent_effective: None,
            sent_status: None,
            sent_remote_status: None,
            remote_status,
            applying: None,
            failures: 0,
        }
    }

    /// The instance uid.
    pub fn uid(&self) -> [u8; 16] {
        self.uid
    }

    /// The capabilities announced.
    pub fn capabilities(&self) -> u64 {
        use capabilities::*;
        let mut c =
            REPORTS_STATUS | REPORTS_EFFECTIVE_CONFIG | REPORTS_HEALTH | REPORTS_REMOTE_CONFIG;
        if self.accept_remote_config {
            c |= ACCEPTS_REMOTE_CONFIG;
        }
        c
    }

    /// Forgets what the server has, so that the next message carries everything.
    pub fn report_full_state(&mut self) {
        self.sent_description = None;
        self.sent_health = None;
        self.sent_effective = None;
        self.sent_status = None;
        self.sent_remote_status = None;
    }

    /// The next AgentToServer: the fields that changed since the server last received them
    /// (all of them the first time and after [`Machine::report_full_state`]). The caller calls
    /// [`Machine::sent`] once the server answered, or [`Machine::failed`].
    pub fn next_message(&mut self, snap: &Snapshot) -> AgentToServer {
        self.sequence_num += 1;
        let description = description(snap, &self.uid);
        let health = health(snap);
        let effective = proto::EffectiveConfig {
            config_map: Some(config_map(&snap.effective_config)),
        };
        let status = proto::CustomMessage {
            capability: STATUS_CAPABILITY.to_owned(),
            r#type: STATUS_MESSAGE_TYPE.to_owned(),
            data: snap.fleet_status.clone().into_bytes(),
        };
        let changed = |sent: Option<u64>, d: u64| sent != Some(d);
        let mut msg = AgentToServer {
            instance_uid: self.uid.to_vec(),
            sequence_num: self.sequence_num,
            capabilities: self.capabilities(),
            ..AgentToServer::default()
        };
        if changed(self.sent_description, digest(&description)) {
            msg.agent_description = Some(description);
            // Custom capabilities go with the description: both say what this agent is.
            msg.custom_capabilities = Some(proto::CustomCapabilities {
                capabilities: vec![STATUS_CAPABILITY.to_owned()],
            });
        }
        if changed(self.sent_health, digest(&health)) {
            msg.health = Some(health);
        }
        if changed(self.sent_effective, digest(&effective)) {
            msg.effective_config = Some(effective);
        }
        if changed(self.sent_status, digest(&status)) {
            msg.custom_message = Some(status);
        }
        if let Some(r) = &self.remote_status
            && changed(self.sent_remote_status, digest(r))
        {
            msg.remote_config_status = Some(r.clone());
        }
        msg
    }

    /// The server received `msg`: its fields need not be sent again until they change.
    pub fn sent(&mut self, msg: &AgentToServer) {
        self.failures = 0;
        if let Some(d) = &msg.agent_description {
            self.sent_description = Some(digest(d));
        }
        if let Some(h) = &msg.health {
            self.sent_health = Some(digest(h));
        }
        if let Some(e) = &msg.effective_config {
            self.sent_effective = Some(digest(e));
        }
        if let Some(c) = &msg.custom_message {
            self.sent_status = Some(digest(c));
        }
        if let Some(r) = &msg.remote_config_status {
            self.sent_remote_status = Some(digest(r));
        }
    }

    /// Decodes a reply and turns it into actions.
    pub fn on_reply(&mut self, bytes: &[u8]) -> Result<Vec<Action>, ReplyError> {
        let reply = ServerToAgent::decode(bytes).map_err(|e| ReplyError::Garbage(e.to_string()))?;
        self.on_message(reply)
    }

    /// Turns a decoded reply into actions.
    pub fn on_message(&mut self, reply: ServerToAgent) -> Result<Vec<Action>, ReplyError> {
        if let Some(err) = reply.error_response {
            let retry_after = err
                .retry_info
                .map(|r| Duration::from_nanos(r.retry_after_nanoseconds).min(RETRY_AFTER_MAX));
            return Err(ReplyError::Server {
                message: if err.error_message.is_empty() {
                    format!("error type {}", err.r#type)
                } else {
                    err.error_message
                },
                retry_after,
            });
        }
        let mut actions = Vec::new();
        if let Some(id) = reply.agent_identification
            && let Ok(uid) = <[u8; 16]>::try_from(id.new_instance_uid.as_slice())
            && uid != self.uid
        {
            self.uid = uid;
            actions.push(Action::NewInstanceUid(uid));
            self.report_full_state();
        }
        if reply.flags & FLAG_REPORT_FULL_STATE != 0 {
            self.report_full_state();
            actions.push(Action::SendSoon);
        }
        if let Some(offer) = reply.remote_config {
            let known = self
                .remote_status
                .as_ref()
                .is_some_and(|s| s.last_remote_config_hash == offer.config_hash)
                || self.applying.as_deref() == Some(offer.config_hash.as_slice());
            if !known {
                match self.remote_text(&offer) {
                    Ok(text) => {
                        self.applying = Some(offer.config_hash.clone());
                        actions.push(Action::ApplyRemoteConfig {
                            hash: offer.config_hash,
                            text,
                        });
                    }
                    Err(why) => {
                        self.remote_config_done(offer.config_hash, Err(why));
                        actions.push(Action::SendSoon);
                    }
                }
            }
        }
        Ok(actions)
    }

    /// The oneagent.toml of an offer, or why it is refused before it is validated.
    fn remote_text(&self, offer: &proto::AgentRemoteConfig) -> Result<String, String> {
        if !self.accept_remote_config {
            return Err(
                "remote configuration is not accepted: `[opamp] accept_remote_config` \
                        is false in the local oneagent.toml"
                    .to_owned(),
            );
        }
        let files = offer
            .config
            .as_ref()
            .map(|c| &c.config_map)
            .filter(|m| !m.is_empty());
        let Some(files) = files else {
            return Ok(String::new());
        };
        let file = match files.get(REMOTE_FILE_NAME) {
            Some(f) => f,
            None if files.len() == 1 => files.values().next().unwrap_or_else(|| unreachable!()),
            None => {
                let mut names: Vec<&str> = files.keys().map(String::as_str).collect();
                names.sort_unstable();
                return Err(format!(
                    "the remote configuration has {} files ({}) and none is named `{REMOTE_FILE_NAME}`",
                    files.len(),
                    names.join(", ")
                ));
            }
        };
        String::from_utf8(file.body.clone()).map_err(|e| {
            format!(
                "the remote oneagent.toml is not UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            )
        })
    }

    /// Records what became of the remote configuration `hash` (reported with the next message).
    pub fn remote_config_done(&mut self, hash: Vec<u8>, outcome: Result<(), String>) {
        self.applying = None;
        self.remote_status = Some(match outcome {
            Ok(()) => proto::RemoteConfigStatus {
                last_remote_config_hash: hash,
                status: proto::REMOTE_CONFIG_APPLIED,
                error_message: String::new(),
            },
            Err(why) => proto::RemoteConfigStatus {
                last_remote_config_hash: hash,
                status: proto::REMOTE_CONFIG_FAILED,
                error_message: why,
            },
        });
    }

    /// The outcome of the last remote configuration.
    pub fn remote_status(&self) -> Option<&proto::RemoteConfigStatus> {
        self.remote_status.as_ref()
    }

    /// An exchange failed: the server may have missed state, so the next message carries all
    /// of it; returns how long to wait before the next attempt. `jitter` is uniform in [0, 1).
    pub fn failed(&mut self, retry_after: Option<Duration>, jitter: f64) -> Duration {
        self.report_full_state();
        let delay = backoff(self.failures, retry_after, jitter);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Consecutive failed exchanges.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The name of the file in the AgentConfigMap that holds oneagent.toml.
pub const REMOTE_FILE_NAME: &str = "oneagent.toml";

/// Exponential backoff with jitter: attempt `n` (0-based) waits between half and all of
/// `BACKOFF_START * 2^n` (at most [`BACKOFF_MAX`]), and never less than the server's RetryInfo.
pub fn backoff(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let ceiling = BACKOFF_START
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX);
    let jitter = jitter.clamp(0.0, 1.0);
    let delay = ceiling / 2 + ceiling.mul_f64(jitter / 2.0);
    delay.max(retry_after.unwrap_or_default())
}

fn description(snap: &Snapshot, uid: &[u8; 16]) -> proto::AgentDescription {
    proto::AgentDescription {
        identifying_attributes: vec![
            proto::kv("service.name", "oneagent"),
            proto::kv("service.version", snap.version.clone()),
            proto::kv("service.instance.id", uuid_string(uid)),
        ],
        non_identifying_attributes: vec![
            proto::kv("host.name", snap.host_name.clone()),
            proto::kv("os.type", "linux"),
            proto::kv("os.description", snap.os_description.clone()),
        ],
    }
}

fn health(snap: &Snapshot) -> proto::ComponentHealth {
    let healthy = snap.components.iter().all(|(_, h)| h.healthy);
    let failing: Vec<&str> = snap
        .components
        .iter()
        .filter(|(_, h)| !h.healthy)
        .map(|(n, _)| n.as_str())
        .collect();
    proto::ComponentHealth {
        healthy,
        start_time_unix_nano: snap.start_time_unix_nano,
        status: if healthy {
            "running".to_owned()
        } else {
            format!("degraded: {}", failing.join(", "))
        },
        component_health_map: snap
            .components
            .iter()
            .map(|(name, h)| {
                (
                    name.clone(),
                    proto::ComponentHealth {
                        healthy: h.healthy,
                        status: h.status.clone(),
                        last_error: h.last_error.clone(),
                        ..proto::ComponentHealth::default()
                    },
                )
            })
            .collect(),
        ..proto::ComponentHealth::default()
    }
}

fn config_map(text: &str) -> proto::AgentConfigMap {
    proto::AgentConfigMap {
        config_map: [(
            REMOTE_FILE_NAME.to_owned(),
            proto::AgentConfigFile {
                body: text.as_bytes().to_vec(),
                content_type: "application/toml".to_owned(),
            },
        )]
        .into_iter()
        .collect(),
    }
}

/// A uid as the usual 8-4-4-4-12 hex text.
pub fn uuid_string(uid: &[u8; 16]) -> String {
    let hex: String = uid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A UUID v7 from a Unix time in milliseconds and 10 random bytes.
pub fn uuid_v7(unix_ms: u64, random: [u8; 10]) -> [u8; 16] {
    let mut u = [0u8; 16];
    u[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    u[6..].copy_from_slice(&random);
    u[6] = 0x70 | (u[6] & 0x0f);
    u[8] = 0x80 | (u[8] & 0x3f);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            host_name: "web-1".to_owned(),
            os_description: "Linux 6.1".to_owned(),
            version: "1.2.3".to_owned(),
            start_time_unix_nano: 1,
            effective_config: "[daemon]\nlog_level = \"info\"\n".to_owned(),
            components: vec![(
                "injection".to_owned(),
                Health {
                    healthy: true,
                    status: "ok".to_owned(),
                    last_error: String::new(),
                },
            )],
            fleet_status: "{\"processes\":3}".to_owned(),
        }
    }

    fn offer(hash: &[u8], files: &[(&str, &[u8])]) -> ServerToAgent {
        ServerToAgent {
            remote_config: Some(proto::AgentRemoteConfig {
                config: Some(proto::AgentConfigMap {
                    config_map: files
                        .iter()
                        .map(|(n, b)| {
                            (
                                (*n).to_owned(),
                                proto::AgentConfigFile {
                                    body: b.to_vec(),
                                    content_type: String::new(),
                                },
                            )
                        })
                        .collect(),
                }),
                config_hash: hash.to_vec(),
            }),
            ..ServerToAgent::default()
        }
    }

    #[test]
    fn first_message_is_complete_and_later_ones_only_carry_changes() {
        let mut m = Machine::new([7; 16], false, None);
        let first = m.next_message(&snap());
        assert_eq!(first.sequence_num, 1);
        assert_eq!(first.instance_uid, vec![7; 16]);
        let d = first.agent_description.as_ref().unwrap();
        assert!(
            d.non_identifying_attributes
                .contains(&proto::kv("host.name", "web-1"))
        );
        assert!(first.health.as_ref().unwrap().healthy);
        assert!(first.effective_config.is_some());
        assert_eq!(
            first.custom_message.as_ref().unwrap().capability,
            STATUS_CAPABILITY
        );
        assert_eq!(first.capabilities & capabilities::ACCEPTS_REMOTE_CONFIG, 0);
        m.sent(&first);
        let second = m.next_message(&snap());
        assert_eq!(second.sequence_num, 2);
        assert!(second.agent_description.is_none() && second.health.is_none());
        assert!(second.effective_config.is_none() && second.custom_message.is_none());
        assert_ne!(second.capabilities, 0, "capabilities are in every message");
        m.sent(&second);
        let mut changed = snap();
        changed.components[0].1.healthy = false;
        let third = m.next_message(&changed);
        assert!(!third.health.as_ref().unwrap().healthy);
        assert!(third.agent_description.is_none());
    }

    #[test]
    fn report_full_state_and_failures_resend_everything() {
        let mut m = Machine::new([1; 16], false, None);
        let first = m.next_message(&snap());
        m.sent(&first);
        let actions = m
            .on_message(ServerToAgent {
                flags: FLAG_REPORT_FULL_STATE,
                ..ServerToAgent::default()
            })
            .unwrap();
        assert_eq!(actions, vec![Action::SendSoon]);
        assert!(m.next_message(&snap()).agent_description.is_some());
        let mut m = Machine::new([1; 16], false, None);
        let first = m.next_message(&snap());
        m.sent(&first);
        m.failed(None, 0.5);
        assert!(m.next_message(&snap()).effective_config.is_some());
    }

    #[test]
    fn remote_config_is_refused_unless_accepted() {
        let mut m = Machine::new([1; 16], false, None);
        let actions = m
            .on_message(offer(b"h1", &[("oneagent.toml", b"[logs]\n")]))
            .unwrap();
        assert_eq!(actions, vec![Action::SendSoon]);
        let status = m.next_message(&snap()).remote_config_status.unwrap();
        assert_eq!(status.status, proto::REMOTE_CONFIG_FAILED);
        assert_eq!(status.last_remote_config_hash, b"h1");
        assert!(
            status.error_message.contains("accept_remote_config"),
            "{}",
            status.error_message
        );
    }

    #[test]
    fn an_accepted_remote_config_is_applied_once_and_its_outcome_reported() {
        let mut m = Machine::new([1; 16], true, None);
        assert_ne!(m.capabilities() & capabilities::ACCEPTS_REMOTE_CONFIG, 0);
        let o = offer(b"h2", &[("oneagent.toml", b"[logs]\nmax_depth = 2\n")]);
        let actions = m.on_message(o.clone()).unwrap();
        assert_eq!(
            actions,
            vec![Action::ApplyRemoteConfig {
                hash: b"h2".to_vec(),
                text: "[logs]\nmax_depth = 2\n".to_owned()
            }]
        );
        // Offered again while it is being applied: not applied twice.
        assert!(m.on_message(o.clone()).unwrap().is_empty());
        m.remote_config_done(b"h2".to_vec(), Err("key `logs.max_depth`: bad".to_owned()));
        let msg = m.next_message(&snap());
        let status = msg.remote_config_status.clone().unwrap();
        assert_eq!(status.status, proto::REMOTE_CONFIG_FAILED);
        assert!(status.error_message.contains("logs.max_depth"));
        m.sent(&msg);
        assert!(m.next_message(&snap()).remote_config_status.is_none());
        // The same hash again after it was decided: not re-applied.
        assert!(m.on_message(o).unwrap().is_empty());
        // An empty map means: no remote configuration.
        let actions = m.on_message(offer(b"h3", &[])).unwrap();
        assert_eq!(
            actions,
            vec![Action::ApplyRemoteConfig {
                hash: b"h3".to_vec(),
                text: String::new()
            }]
        );
    }

    #[test]
    fn bad_offers_are_refused_with_a_reason() {
        let mut m = Machine::new([1; 16], true, None);
        m.on_message(offer(b"a", &[("x.toml", b""), ("y.toml", b"")]))
            .unwrap();
        let e = m.remote_status().unwrap().error_message.clone();
        assert!(
            e.contains("x.toml, y.toml") && e.contains("oneagent.toml"),
            "{e}"
        );
        m.on_message(offer(b"b", &[("oneagent.toml", b"\xff\xfe")]))
            .unwrap();
        let e = m.remote_status().unwrap().error_message.clone();
        assert!(e.contains("not UTF-8"), "{e}");
        // A single file of another name is taken.
        let actions = m
            .on_message(offer(b"c", &[("config", b"[logs]\n")]))
            .unwrap();
        assert!(
            matches!(&actions[0], Action::ApplyRemoteConfig { text, .. } if text == "[logs]\n")
        );
    }

    #[test]
    fn garbage_and_server_errors_are_errors_with_retry_info() {
        let mut m = Machine::new([1; 16], true, None);
        assert!(matches!(
            m.on_reply(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage"),
            Err(ReplyError::Garbage(_))
        ));
        let reply = ServerToAgent {
            error_response: Some(proto::ServerErrorResponse {
                r#type: proto::ERROR_UNAVAILABLE,
                error_message: "busy".to_owned(),
                retry_info: Some(proto::RetryInfo {
                    retry_after_nanoseconds: 7_000_000_000,
                }),
            }),
            ..ServerToAgent::default()
        };
        let err = m.on_reply(&reply.encode_to_vec()).unwrap_err();
        assert_eq!(
            err,
            ReplyError::Server {
                message: "busy".to_owned(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(m.failed(Some(Duration::from_secs(7)), 0.0) >= Duration::from_secs(7));
    }

    #[test]
    fn a_new_instance_uid_is_taken() {
        let mut m = Machine::new([1; 16], false, None);
        let actions = m
            .on_message(ServerToAgent {
                agent_identification: Some(proto::AgentIdentification {
                    new_instance_uid: vec![9; 16],
                }),
                ..ServerToAgent::default()
            })
            .unwrap();
        assert_eq!(actions, vec![Action::NewInstanceUid([9; 16])]);
        assert_eq!(m.next_message(&snap()).instance_uid, vec![9; 16]);
        // Not 16 bytes: ignored.
        let actions = m
            .on_message(ServerToAgent {
                agent_identification: Some(proto::AgentIdentification {
                    new_instance_uid: vec![9; 3],
                }),
                ..ServerToAgent::default()
            })
            .unwrap();
        assert!(actions.is_empty());
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_a_ceiling() {
        assert_eq!(backoff(0, None, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(0, None, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, None, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(40, None, 1.0), BACKOFF_MAX);
        assert!(backoff(40, None, 0.0) >= BACKOFF_MAX / 2);
        assert_eq!(
            backoff(0, Some(Duration::from_secs(60)), 0.3),
            Duration::from_secs(60)
        );
        let mut m = Machine::new([1; 16], false, None);
        let delays: Vec<Duration> = (0..5).map(|_| m.failed(None, 0.0)).collect();
        assert!(delays.windows(2).all(|w| w[1] == w[0] * 2), "{delays:?}");
        let first = m.next_message(&snap());
        m.sent(&first);
        assert_eq!(m.failures(), 0);
        assert_eq!(m.failed(None, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn uuid_v7_has_its_version_and_variant() {
        let u = uuid_v7(0x0123_4567_89ab, [0xff; 10]);
        assert_eq!(&u[..6], &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
        assert_eq!(u[6] >> 4, 7);
        assert_eq!(u[8] >> 6, 0b10);
        assert_eq!(uuid_string(&[0xab; 16]).len(), 36);
    }
}
