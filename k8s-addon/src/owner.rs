//! The owner walk: from a pod to the workload whose labels and annotations govern it.
//!
//! ReplicaSet → Deployment, Job → CronJob, StatefulSet, DaemonSet, else the pod itself (a bare pod,
//! or an owner kind we do not know, e.g. a custom resource). Lookups go through [`OwnerLookup`]
//! (watch-backed reflectors in the webhook, a map in tests). When a lookup misses — a ReplicaSet
//! the cache has not seen yet — the parent's name is derived from the naming convention of its
//! controller (`<deployment>-<pod-template-hash>`, `<cronjob>-<scheduled minute>`).
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The kinds of workloads that carry intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 ReplicaSet without a Deployment.
    ReplicaSet,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// batch/v1 Job without a CronJob.
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// A pod without a known controller.
    Pod,
}

impl WorkloadKind {
    /// The API kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::ReplicaSet => "ReplicaSet",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::Pod => "Pod",
        }
    }

    /// The OpenTelemetry resource attribute naming this workload (`k8s.deployment.name`, …).
    pub const fn otel_attribute(self) -> Option<&'static str> {
        match self {
            Self::Deployment => Some("k8s.deployment.name"),
            Self::ReplicaSet => Some("k8s.replicaset.name"),
            Self::StatefulSet => Some("k8s.statefulset.name"),
            Self::DaemonSet => Some("k8s.daemonset.name"),
            Self::Job => Some("k8s.job.name"),
            Self::CronJob => Some("k8s.cronjob.name"),
            Self::Pod => None,
        }
    }

    /// Parses an API kind.
    pub fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "Deployment" => Self::Deployment,
            "ReplicaSet" => Self::ReplicaSet,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "Job" => Self::Job,
            "CronJob" => Self::CronJob,
            "Pod" => Self::Pod,
            _ => return None,
        })
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The workload that owns a pod, with the metadata that governs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Its kind (`None` only in [`Default`]).
    pub kind: Option<WorkloadKind>,
    /// Its name (for a bare pod: the pod's name or `generateName` without the trailing `-`).
    pub name: String,
    /// Its labels (empty when the object was not found).
    pub labels: BTreeMap<String, String>,
    /// Its annotations (empty when the object was not found).
    pub annotations: BTreeMap<String, String>,
    /// Whether the object was found (false: name derived, metadata unknown).
    pub found: bool,
}

/// Looks objects up by kind, namespace and name.
pub trait OwnerLookup {
    /// The metadata of a workload object.
    fn meta(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Option<ObjectMeta>;
    /// The labels of a namespace (`None`: unknown).
    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>>;
}

/// A map-backed [`OwnerLookup`] (tests, fixtures).
#[derive(Clone, Debug, Default)]
pub struct MapLookup {
    /// (kind, namespace, name) → metadata.
    pub objects: BTreeMap<(WorkloadKind, String, String), ObjectMeta>,
    /// namespace → labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl MapLookup {
    /// Adds an object.
    pub fn with(mut self, kind: WorkloadKind, meta: ObjectMeta) -> Self {
        let ns = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        self.objects.insert((kind, ns, name), meta);
        self
    }

    /// Adds a namespace with labels.
    pub fn with_namespace(mut self, ns: &str, labels: &[(&str, &str)]) -> Self {
        self.namespaces.insert(
            ns.into(),
            labels
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        self
    }
}

impl OwnerLookup for MapLookup {
    fn meta(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Option<ObjectMeta> {
        self.objects
            .get(&(kind, namespace.into(), name.into()))
            .cloned()
    }
    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(namespace).cloned()
    }
}

/// The controlling owner reference (`controller: true`), else the first one.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    let refs = meta.owner_references.as_deref()?;
    refs.iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())
}

/// `name` without its last `-suffix` when the suffix is made of `allowed` characters.
fn strip_suffix(name: &str, allowed: impl Fn(char) -> bool) -> Option<&str> {
    let (base, suffix) = name.rsplit_once('-')?;
    (!base.is_empty() && !suffix.is_empty() && suffix.chars().all(allowed)).then_some(base)
}

fn workload(kind: WorkloadKind, name: &str, meta: Option<ObjectMeta>) -> Workload {
    let found = meta.is_some();
    let meta = meta.unwrap_or_default();
    Workload {
        kind: Some(kind),
        name: name.into(),
        labels: meta.labels.unwrap_or_default(),
        annotations: meta.annotations.unwrap_or_default(),
        found,
    }
}

/// Finds the workload that owns a pod (see the module documentation).
pub fn resolve(pod: &ObjectMeta, namespace: &str, lookup: &dyn OwnerLookup) -> Workload {
    let Some(owner) = controller_of(pod) else {
        let name = pod
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                pod.generate_name
                    .as_deref()
                    .unwrap_or_default()
                    .trim_end_matches('-')
                    .to_owned()
            });
        return Workload {
            kind: Some(WorkloadKind::Pod),
            name,
            labels: pod.labels.clone().unwrap_or_default(),
            annotations: pod.annotations.clone().unwrap_or_default(),
            found: true,
        };
    };
    match WorkloadKind::parse(&owner.kind) {
        Some(WorkloadKind::ReplicaSet) => {
            let rs = lookup.meta(WorkloadKind::ReplicaSet, namespace, &owner.name);
            let deployment = match &rs {
                Some(rs) => controller_of(rs)
                    .filter(|r| r.kind == "Deployment")
                    .map(|r| r.name.clone()),
                // Not cached yet: a Deployment names its ReplicaSets `<name>-<pod-template-hash>`.
                None => pod
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("pod-template-hash"))
                    .and_then(|hash| owner.name.strip_suffix(&format!("-{hash}")))
                    .map(str::to_owned),
            };
            match deployment {
                Some(d) => {
                    let meta = lookup.meta(WorkloadKind::Deployment, namespace, &d);
                    workload(WorkloadKind::Deployment, &d, meta)
                }
                None => workload(WorkloadKind::ReplicaSet, &owner.name, rs),
            }
        }
        Some(WorkloadKind::Job) => {
            let job = lookup.meta(WorkloadKind::Job, namespace, &owner.name);
            let cronjob = match &job {
                Some(job) => controller_of(job)
                    .filter(|r| r.kind == "CronJob")
                    .map(|r| r.name.clone()),
                // A CronJob names its Jobs `<name>-<scheduled time in minutes>`.
                None => strip_suffix(&owner.name, |c| c.is_ascii_digit())
                    .filter(|base| {
                        lookup
                            .meta(WorkloadKind::CronJob, namespace, base)
                            .is_some()
                    })
                    .map(str::to_owned),
            };
            match cronjob {
                Some(c) => {
                    let meta = lookup.meta(WorkloadKind::CronJob, namespace, &c);
                    workload(WorkloadKind::CronJob, &c, meta)
                }
                None => workload(WorkloadKind::Job, &owner.name, job),
            }
        }
        Some(kind @ (WorkloadKind::StatefulSet | WorkloadKind::DaemonSet)) => {
            let meta = lookup.meta(kind, namespace, &owner.name);
            workload(kind, &owner.name, meta)
        }
        _ => Workload {
            // An owner we do not manage (a custom controller): the pod governs itself.
            kind: Some(WorkloadKind::Pod),
            name: owner.name.clone(),
            labels: pod.labels.clone().unwrap_or_default(),
            annotations: pod.annotations.clone().unwrap_or_default(),
            found: true,
        },
    }
}

/// Namespaces the cluster-wide default never instruments: the control plane's and the add-on's.
pub const NEVER_BY_DEFAULT: [&str; 2] = ["kube-system", crate::manifests::NAMESPACE];

/// [`opted_in`] with the cluster-wide default (webhook and controller `--cluster-wide`): a
/// workload that neither it nor its namespace labels is opted in, unless its namespace is one of
/// [`NEVER_BY_DEFAULT`]. Labels still win, `false` included.
pub fn opted_in_with_default(
    workload_labels: &BTreeMap<String, String>,
    namespace: &str,
    namespace_labels: Option<&BTreeMap<String, String>>,
    cluster_wide: bool,
) -> Option<bool> {
    match opted_in(workload_labels, namespace_labels) {
        None if cluster_wide && !NEVER_BY_DEFAULT.contains(&namespace) => Some(true),
        labelled => labelled,
    }
}

/// Whether a workload in a namespace is opted in: the workload's label wins over the
/// namespace's; `true` opts in, `false` out. `Some(false)` means an explicit opt-out.
pub fn opted_in(
    workload_labels: &BTreeMap<String, String>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Option<bool> {
    let parse = |v: &String| match v.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    workload_labels
        .get(crate::LABEL_ENABLED)
        .and_then(parse)
        .or_else(|| namespace_labels?.get(crate::LABEL_ENABLED).and_then(parse))
}
