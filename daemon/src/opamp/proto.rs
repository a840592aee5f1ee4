//! The OpAMP messages oneagentd sends and reads (`opamp.proto` and `anyvalue.proto` of the
//! OpAMP specification, package `opamp.proto.v1`), written by hand with the field numbers of
//! the specification. Only the fields oneagentd uses are declared; protobuf skips the others
//! when it decodes, so a newer server's additions are harmless.

#![forbid(unsafe_code)]

use std::collections::HashMap;

/// `AgentToServer`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentToServer {
    /// 16 bytes, a UUID v7.
    #[prost(bytes = "vec", tag = "1")]
    pub instance_uid: Vec<u8>,
    /// +1 for every message sent.
    #[prost(uint64, tag = "2")]
    pub sequence_num: u64,
    /// Who this agent is.
    #[prost(message, optional, tag = "3")]
    pub agent_description: Option<AgentDescription>,
    /// `AgentCapabilities` bits.
    #[prost(uint64, tag = "4")]
    pub capabilities: u64,
    /// The agent's health.
    #[prost(message, optional, tag = "5")]
    pub health: Option<ComponentHealth>,
    /// The configuration in effect.
    #[prost(message, optional, tag = "6")]
    pub effective_config: Option<EffectiveConfig>,
    /// What became of the last remote configuration.
    #[prost(message, optional, tag = "7")]
    pub remote_config_status: Option<RemoteConfigStatus>,
    /// The agent is going away.
    #[prost(message, optional, tag = "9")]
    pub agent_disconnect: Option<AgentDisconnect>,
    /// `AgentToServerFlags` bits.
    #[prost(uint64, tag = "10")]
    pub flags: u64,
    /// Custom capabilities the agent supports.
    #[prost(message, optional, tag = "12")]
    pub custom_capabilities: Option<CustomCapabilities>,
    /// A custom message.
    #[prost(message, optional, tag = "13")]
    pub custom_message: Option<CustomMessage>,
}

/// `AgentDisconnect` (empty).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentDisconnect {}

/// `ServerToAgent`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerToAgent {
    /// The agent this is for.
    #[prost(bytes = "vec", tag = "1")]
    pub instance_uid: Vec<u8>,
    /// The server could not process the last message.
    #[prost(message, optional, tag = "2")]
    pub error_response: Option<ServerErrorResponse>,
    /// A configuration offered by the server.
    #[prost(message, optional, tag = "3")]
    pub remote_config: Option<AgentRemoteConfig>,
    /// `ServerToAgentFlags` bits.
    #[prost(uint64, tag = "6")]
    pub flags: u64,
    /// `ServerCapabilities` bits.
    #[prost(uint64, tag = "7")]
    pub capabilities: u64,
    /// A new instance uid assigned by the server.
    #[prost(message, optional, tag = "8")]
    pub agent_identification: Option<AgentIdentification>,
    /// A command (restart); oneagentd runs none.
    #[prost(message, optional, tag = "9")]
    pub command: Option<ServerToAgentCommand>,
    /// Custom capabilities the server supports.
    #[prost(message, optional, tag = "10")]
    pub custom_capabilities: Option<CustomCapabilities>,
    /// A custom message.
    #[prost(message, optional, tag = "11")]
    pub custom_message: Option<CustomMessage>,
}

/// `ServerErrorResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerErrorResponse {
    /// `ServerErrorResponseType`: 0 unknown, 1 bad request, 2 unavailable.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// What the server says.
    #[prost(string, tag = "2")]
    pub error_message: String,
    /// When to retry (`oneof Details`, its only member).
    #[prost(message, optional, tag = "3")]
    pub retry_info: Option<RetryInfo>,
}

/// `ServerErrorResponseType_Unavailable`.
pub const ERROR_UNAVAILABLE: i32 = 2;

/// `RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// Retry no sooner than this.
    #[prost(uint64, tag = "1")]
    pub retry_after_nanoseconds: u64,
}

/// `AgentIdentification`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentIdentification {
    /// The uid to use from now on.
    #[prost(bytes = "vec", tag = "1")]
    pub new_instance_uid: Vec<u8>,
}

/// `ServerToAgentCommand`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerToAgentCommand {
    /// `CommandType`.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
}

/// `AgentDescription`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentDescription {
    /// `service.name`, `service.version`, `service.instance.id`, …
    #[prost(message, repeated, tag = "1")]
    pub identifying_attributes: Vec<KeyValue>,
    /// `host.name`, `os.type`, `os.description`, …
    #[prost(message, repeated, tag = "2")]
    pub non_identifying_attributes: Vec<KeyValue>,
}

/// `ComponentHealth`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ComponentHealth {
    /// Whether the component works.
    #[prost(bool, tag = "1")]
    pub healthy: bool,
    /// When it started.
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    /// The last error, empty when none.
    #[prost(string, tag = "3")]
    pub last_error: String,
    /// A short status.
    #[prost(string, tag = "4")]
    pub status: String,
    /// When the status was taken.
    #[prost(fixed64, tag = "5")]
    pub status_time_unix_nano: u64,
    /// Sub-components.
    #[prost(map = "string, message", tag = "6")]
    pub component_health_map: HashMap<String, ComponentHealth>,
    /// Attributes.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
}

/// `EffectiveConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EffectiveConfig {
    /// The files.
    #[prost(message, optional, tag = "1")]
    pub config_map: Option<AgentConfigMap>,
}

/// `RemoteConfigStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoteConfigStatus {
    /// The hash of the remote configuration this is about.
    #[prost(bytes = "vec", tag = "1")]
    pub last_remote_config_hash: Vec<u8>,
    /// `RemoteConfigStatuses`.
    #[prost(int32, tag = "2")]
    pub status: i32,
    /// Why it failed.
    #[prost(string, tag = "3")]
    pub error_message: String,
}

/// `RemoteConfigStatuses_APPLIED`.
pub const REMOTE_CONFIG_APPLIED: i32 = 1;
/// `RemoteConfigStatuses_FAILED`.
pub const REMOTE_CONFIG_FAILED: i32 = 3;

/// `AgentRemoteConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentRemoteConfig {
    /// The files offered.
    #[prost(message, optional, tag = "1")]
    pub config: Option<AgentConfigMap>,
    /// Their hash, as the server computed it.
    #[prost(bytes = "vec", tag = "2")]
    pub config_hash: Vec<u8>,
}

/// `AgentConfigMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentConfigMap {
    /// File name to file.
    #[prost(map = "string, message", tag = "1")]
    pub config_map: HashMap<String, AgentConfigFile>,
}

/// `AgentConfigFile`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentConfigFile {
    /// The content.
    #[prost(bytes = "vec", tag = "1")]
    pub body: Vec<u8>,
    /// Its media type.
    #[prost(string, tag = "2")]
    pub content_type: String,
}

/// `CustomCapabilities`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CustomCapabilities {
    /// Reverse-FQDN capability names.
    #[prost(string, repeated, tag = "1")]
    pub capabilities: Vec<String>,
}

/// `CustomMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CustomMessage {
    /// The capability it belongs to.
    #[prost(string, tag = "1")]
    pub capability: String,
    /// Its type within the capability.
    #[prost(string, tag = "2")]
    pub r#type: String,
    /// The payload.
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
}

/// `KeyValue` (anyvalue.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`, the members oneagentd sends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3")]
    pub value: Option<any_value::Value>,
}

/// `AnyValue.value`.
pub mod any_value {
    /// The members of the oneof.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `string_value`.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// `bool_value`.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// `int_value`.
        #[prost(int64, tag = "3")]
        IntValue(i64),
    }
}

/// A string attribute.
pub fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

/// An integer attribute.
pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
    }
}
