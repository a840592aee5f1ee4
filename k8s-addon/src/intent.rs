//! The intent annotation (`instrumentation.oneagent.io/intent`) and the detections annotation
//! (`instrumentation.oneagent.io/detected`): small JSON documents on a workload's own metadata.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the webhook should inject into the pods of one workload.
///
/// ```json
/// {"version":1,"agent":"opentelemetry","service":"checkout","containers":{"app":"dotnet"},"libc":{"app":"musl"}}
/// ```
/// `libc` (container name → `glibc` or `musl`, from the node's detection) picks the build of an
/// agent that has one per C library (.NET's `linux-musl-*` directories in direct mode); a
/// container it does not name is taken as glibc. `disabled` (with a reason) turns injection off
/// for the workload (the crash-loop guard).
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
    /// Container name → C library (`glibc` or `musl`), where the node's detection knows it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub libc: BTreeMap<String, String>,
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
        if let Some((container, libc)) = intent.libc.iter().find(|(_, l)| !is_libc(l)) {
            return Err(format!(
                "unknown C library {libc:?} for container {container:?} (glibc or musl)"
            ));
        }
        Ok(intent)
    }

    /// Whether `container` runs on musl (else glibc is assumed).
    pub fn musl(&self, container: &str) -> bool {
        self.libc.get(container).is_some_and(|l| l == "musl")
    }

    /// The annotation value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether `libc` is a C library name the annotations carry.
fn is_libc(libc: &str) -> bool {
    matches!(libc, "glibc" | "musl")
}

/// What a node agent detected in one container.
///
/// On the wire `{"language":"dotnet","libc":"musl"}` (`libc` absent when unknown); a bare
/// language string (`"java"`, what node agents before the C library wrote) is read as a
/// detection without one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DetectionWire")]
pub struct Detection {
    /// `java`, `python`, `nodejs`, `dotnet`, `go`, …
    pub language: String,
    /// `glibc` or `musl` (the process's `PT_INTERP`), `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libc: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DetectionWire {
    Language(String),
    Full {
        language: String,
        #[serde(default)]
        libc: Option<String>,
    },
}

impl From<DetectionWire> for Detection {
    fn from(w: DetectionWire) -> Self {
        match w {
            DetectionWire::Language(language) => Detection {
                language,
                libc: None,
            },
            // An unknown C library is as good as none: glibc is assumed.
            DetectionWire::Full { language, libc } => Detection {
                language,
                libc: libc.filter(|l| is_libc(l)),
            },
        }
    }
}

/// Detections published by node agents: container name → [`Detection`].
///
/// ```json
/// {"app":{"language":"dotnet","libc":"musl"},"proxy":{"language":"go"}}
/// ```
pub type Detected = BTreeMap<String, Detection>;

/// Parses a detections annotation (invalid → empty).
pub fn parse_detected(value: &str) -> Detected {
    if value.len() > MAX_INTENT {
        return Detected::new();
    }
    serde_json::from_str(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detections_read_both_forms_and_unknown_libcs_are_dropped() {
        let d = parse_detected(
            r#"{"app":{"language":"dotnet","libc":"musl"},"web":{"language":"java","libc":"glibc"},
                "old":"python","odd":{"language":"dotnet","libc":"bionic"},"bare":{"language":"go"}}"#,
        );
        let get = |c: &str| d.get(c).cloned().unwrap();
        assert_eq!(get("app").libc.as_deref(), Some("musl"));
        assert_eq!(get("web").libc.as_deref(), Some("glibc"));
        assert_eq!(
            get("old"),
            Detection {
                language: "python".into(),
                libc: None
            }
        );
        assert_eq!(get("odd").libc, None);
        assert_eq!(get("bare").libc, None);
        // Written back: objects, `libc` only when known.
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"app":{"language":"dotnet","libc":"musl"},"bare":{"language":"go"},"odd":{"language":"dotnet"},"old":{"language":"python"},"web":{"language":"java","libc":"glibc"}}"#
        );
        assert!(parse_detected("[1,2]").is_empty());
        assert!(
            parse_detected(r#"{"app":{"libc":"musl"}}"#).is_empty(),
            "no language"
        );
    }

    #[test]
    fn intents_carry_the_libc_and_refuse_unknown_ones() {
        let i = Intent::parse(
            r#"{"version":1,"agent":"opentelemetry","containers":{"app":"dotnet"},"libc":{"app":"musl"}}"#,
        )
        .unwrap();
        assert!(i.musl("app"));
        assert!(!i.musl("other"));
        assert!(i.to_annotation().contains(r#""libc":{"app":"musl"}"#));
        let old = Intent::parse(r#"{"version":1,"containers":{"app":"dotnet"}}"#).unwrap();
        assert!(old.libc.is_empty() && !old.musl("app"));
        assert!(
            !old.to_annotation().contains("libc"),
            "an empty map is not written"
        );
        let err = Intent::parse(r#"{"version":1,"libc":{"app":"uclibc"}}"#).unwrap_err();
        assert!(err.contains("uclibc") && err.contains("\"app\""), "{err}");
    }
}
