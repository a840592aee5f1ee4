//! `oneagent-k8s`: the Kubernetes add-on of oneagent.
//!
//! * [`decide`] — the pure admission decision: from the *current* pod, its owning workload, the
//!   namespace's labels and the workload's intent, the JSONPatch that instruments the pod (or why
//!   not). [`admission`] parses and serialises AdmissionReview v1 around it; [`webhook`] is the
//!   HTTPS transport (axum + rustls/ring, certificates reloaded when they change).
//! * [`owner`] — the owner walk (ReplicaSet → Deployment, Job → CronJob, StatefulSet, DaemonSet,
//!   bare pods) over a lookup trait; [`cache`] implements it with watch-backed reflectors.
//! * [`controller`] — writes `instrumentation.oneagent.io/intent` on opted-in workloads from the
//!   node agents' `instrumentation.oneagent.io/detected`, the crash-loop guard and `rollout`.
//! * [`deviceplugin`] — registers `oneagent.io/agents` with the kubelet (v1beta1) and mounts the
//!   agent directory read-only; [`detections`] publishes the node daemon's detections.
//! * [`certs`] — a CA and a serving certificate per install; [`manifests`] — `packaging/k8s/`;
//!   [`manpage`] — `oneagent-k8s(8)`.
#![forbid(unsafe_code)]

pub mod admission;
pub mod cache;
pub mod certs;
pub mod cli;
pub mod controller;
pub mod decide;
pub mod detections;
pub mod deviceplugin;
mod error;
pub mod intent;
pub mod manifests;
pub mod manpage;
pub mod metrics;
pub mod owner;
pub mod webhook;
pub mod yaml;

pub use error::Error;

/// Label that opts a namespace or a workload in (`true`) or out (`false`).
pub const LABEL_ENABLED: &str = "instrumentation.oneagent.io/enabled";
/// Workload annotation: what the webhook should inject (written by the controller).
pub const ANNOTATION_INTENT: &str = "instrumentation.oneagent.io/intent";
/// Workload annotation: languages detected per container (published by node agents).
pub const ANNOTATION_DETECTED: &str = "instrumentation.oneagent.io/detected";
/// Pod annotation: `injected` or `skipped: <reason>`.
pub const ANNOTATION_STATUS: &str = "instrumentation.oneagent.io/status";
/// The extended resource the device plugin advertises.
pub const RESOURCE_NAME: &str = "oneagent.io/agents";
/// Where the agent directory is mounted in containers.
pub const CONTAINER_AGENT_DIR: &str = "/var/oneagent";
/// The field manager used for every write to the API server.
pub const FIELD_MANAGER: &str = "oneagent-k8s";
