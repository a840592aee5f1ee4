//! The intent annotation (`instrumentation.oneagent.io/intent`) and the detections annotation
//! (`instrumentation.oneagent.io/detected`): small JSON documents on a workload's own metadata.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the webhook should inject into the pods of one workload.
///
/// ```json
/// {"version":1,"agent":"opentelemetry","service":"checkout","containers":{"app":"java"}}
/// ```
/// `disabled` (with a reason) turns injection off for the workload (the crash-loop guard).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Format version (1).
    #[serde(default = "one")]
    pub version: u32,
    /// `opentelemetry` or `skywalking` (the Java agent kind).
    #[serde(default = "default_agent")]
    pub agent: String,
    /// The service name (defaults to the workload name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Container name → language (`java`, `python`, `nodejs`, `dotnet`, `go`, …).
    #[serde(default)]
    pub containers: BTreeMap<String, String>,
    /// Set when injection is disabled for this workload, with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
}

fn one() -> u32 {
    1
}

fn default_agent() -> String {
    "opentelemetry".into()
}

/// Intent documents larger than this are refused (an annotation is at most 256 KiB in total).
pub const MAX_INTENT: usize = 16 * 1024;

impl Intent {
    /// Parses an annotation value; errors are sentences for the pod's status annotation.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.len() > MAX_INTENT {
            return Err(format!("intent annotation larger than {MAX_INTENT} bytes"));
        }
        let intent: Intent =
            serde_json::from_str(value).map_err(|e| format!("invalid intent annotation: {e}"))?;
        if intent.version != 1 {
            return Err(format!("unsupported intent version {}", intent.version));
        }
        if oneagent_preload_core::JavaAgentKind::parse(intent.agent.as_bytes()).is_none() {
            return Err(format!("unknown agent kind {:?}", intent.agent));
        }
        Ok(intent)
    }

    /// The annotation value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Detections published by node agents: container name → language.
pub type Detected = BTreeMap<String, String>;

/// Parses a detections annotation (invalid → empty).
pub fn parse_detected(value: &str) -> Detected {
    if value.len() > MAX_INTENT {
        return Detected::new();
    }
    serde_json::from_str(value).unwrap_or_default()
}
