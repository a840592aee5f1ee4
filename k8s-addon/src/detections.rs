//! Publishes the node daemon's detections on the owning workloads.
//!
//! oneagentd reports every process with its pod uid, container id and verdict over D-Bus
//! (`io.oneagent.Agent1.Processes`, through the `oneagent-api` proxy). The device plugin process on each node reads them, maps
//! (pod uid, container id) to the container's name through the pods on its node, walks the pod's
//! owners and publishes `instrumentation.oneagent.io/detected` (container name → language and C
//! library, [`Detection`]) on the workload with server-side apply, only when the value changed, at most
//! [`PublishSettings::max_patches_per_sec`] patches a second.
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::json;

use oneagent_api::{Agent1Proxy, ProcessEntry};

use crate::intent::{Detected, Detection};
use crate::owner::{self, MapLookup, WorkloadKind};
use crate::{ANNOTATION_DETECTED, Error};

/// A workload's identity.
pub type WorkloadKey = (WorkloadKind, String, String);

/// Groups detections by owning workload: (kind, namespace, name) → container name → language and
/// C library (of the container's first runtime process). Pods are those of this node; processes
/// without a language or a known container are ignored.
pub fn group(
    processes: &[ProcessEntry],
    pods: &[Pod],
    lookup: &MapLookup,
) -> BTreeMap<WorkloadKey, Detected> {
    // (pod uid, container id) → (pod index, container name)
    let mut containers: HashMap<(&str, &str), (usize, &str)> = HashMap::new();
    for (i, pod) in pods.iter().enumerate() {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        for s in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            // `containerd://<id>`, `cri-o://<id>`, `docker://<id>`.
            let id = s.container_id.as_deref().unwrap_or_default();
            let id = id.rsplit_once("://").map_or(id, |(_, id)| id);
            containers.insert((uid, id), (i, s.name.as_str()));
        }
    }
    let mut out: BTreeMap<WorkloadKey, Detected> = BTreeMap::new();
    for p in processes {
        if p.verdict.language.is_empty() || p.pod_uid.is_empty() {
            continue;
        }
        let Some(&(i, name)) = containers.get(&(p.pod_uid.as_str(), p.container_id.as_str()))
        else {
            continue;
        };
        let Some(pod) = pods.get(i) else { continue };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let w = owner::resolve(&pod.metadata, &ns, lookup);
        let Some(kind) = w.kind.filter(|k| *k != WorkloadKind::Pod) else {
            continue;
        };
        out.entry((kind, ns, w.name))
            .or_default()
            .entry(name.to_owned())
            .or_insert_with(|| Detection {
                language: p.verdict.language.clone(),
                libc: (!p.libc.is_empty()).then(|| p.libc.clone()),
            });
    }
    out
}

fn api_resource(kind: WorkloadKind) -> Option<ApiResource> {
    let (group, version) = match kind {
        WorkloadKind::Deployment
        | WorkloadKind::ReplicaSet
        | WorkloadKind::StatefulSet
        | WorkloadKind::DaemonSet => ("apps", "v1"),
        WorkloadKind::Job | WorkloadKind::CronJob => ("batch", "v1"),
        WorkloadKind::Pod => return None,
    };
    let gvk = GroupVersionKind::gvk(group, version, kind.as_str());
    Some(ApiResource::from_gvk(&gvk))
}

/// Publishes one workload's detections with server-side apply (this node's field manager).
pub async fn publish(
    client: &Client,
    manager: &str,
    key: &WorkloadKey,
    detected: &Detected,
) -> Result<(), Error> {
    let (kind, ns, name) = key;
    let Some(ar) = api_resource(*kind) else {
        return Ok(());
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let body = json!({
        "apiVersion": ar.api_version,
        "kind": ar.kind,
        "metadata": {"name": name, "namespace": ns,
                     "annotations": {ANNOTATION_DETECTED: serde_json::to_string(detected)?}},
    });
    api.patch(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(body),
    )
    .await?;
    Ok(())
}

/// How often the publisher reads the daemon and how fast it writes to the API server.
#[derive(Clone, Copy, Debug)]
pub struct PublishSettings {
    /// Between two reads of the daemon's processes.
    pub interval: Duration,
    /// At most this many patches per second, across all workloads (a node that starts with many
    /// workloads does not burst the API server). At least 1.
    pub max_patches_per_sec: u32,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            max_patches_per_sec: 5,
        }
    }
}

/// Spaces events evenly: at most `per_sec` a second, no bursts.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    spacing: Duration,
    next: Option<Instant>,
}

impl RateLimiter {
    /// At most `per_sec` (at least 1) events a second.
    pub fn new(per_sec: u32) -> Self {
        Self {
            spacing: Duration::from_secs(1) / per_sec.max(1),
            next: None,
        }
    }

    /// When the next event may happen, given that it is `now`, and books that slot.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let at = self.next.map_or(now, |next| next.max(now));
        self.next = Some(at + self.spacing);
        at
    }
}

/// What one publishing round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Workloads patched.
    pub published: usize,
    /// Workloads whose detections had not changed since the last patch.
    pub unchanged: usize,
    /// Patches that failed (retried next round).
    pub failed: usize,
}

/// Publishes one node's detections: remembers what it wrote, patches only changes, rate-limited.
pub struct Publisher {
    client: Client,
    node: String,
    manager: String,
    limiter: RateLimiter,
    published: HashMap<WorkloadKey, Detected>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("node", &self.node)
            .field("manager", &self.manager)
            .field("limiter", &self.limiter)
            .field("published", &self.published.len())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher for `node` writing with the field manager `oneagent-k8s-node`.
    pub fn new(client: Client, node: String, settings: &PublishSettings) -> Self {
        Self {
            client,
            node,
            manager: node_field_manager(),
            limiter: RateLimiter::new(settings.max_patches_per_sec),
            published: HashMap::new(),
        }
    }

    /// One round: the daemon's processes and this node's pods → patches for what changed.
    pub async fn round(&mut self, agent: &Agent1Proxy<'_>) -> Result<Round, Error> {
        let processes = agent.processes().await?;
        let pods_api: Api<Pod> = Api::all(self.client.clone());
        let pods = pods_api
            .list(&ListParams::default().fields(&format!("spec.nodeName={}", self.node)))
            .await?
            .items;
        let lookup = owner_lookup(&self.client, &pods).await;
        let mut round = Round::default();
        for (key, detected) in group(&processes, &pods, &lookup) {
            if self.published.get(&key) == Some(&detected) {
                round.unchanged += 1;
                continue;
            }
            let at = self.limiter.reserve(Instant::now());
            tokio::time::sleep_until(at.into()).await;
            match publish(&self.client, &self.manager, &key, &detected).await {
                Ok(()) => {
                    tracing::info!(kind = %key.0, namespace = %key.1, workload = %key.2, "Published detections");
                    self.published.insert(key, detected);
                    round.published += 1;
                }
                Err(e) => {
                    tracing::warn!(kind = %key.0, namespace = %key.1, workload = %key.2, error = %e, "Publishing detections failed");
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }
}

/// The field manager of every node's detections.
pub fn node_field_manager() -> String {
    format!("{}-node", crate::FIELD_MANAGER)
}

/// Where the publisher finds oneagentd's API.
#[derive(Debug)]
pub enum AgentBus {
    /// `io.oneagent.Agent1` on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
    System,
    /// oneagentd's peer-to-peer socket (`oneagentd --peer-socket`), shared in the node agent's
    /// pod: no host bus needed. Reconnected when oneagentd restarts.
    Peer(std::path::PathBuf),
    /// A connection made by the caller.
    Connected(zbus::Connection),
}

impl AgentBus {
    /// `--peer-socket`'s value, else the system bus.
    pub fn from_peer_socket(socket: Option<std::path::PathBuf>) -> Self {
        socket.map_or(AgentBus::System, AgentBus::Peer)
    }

    async fn connect(&self) -> zbus::Result<zbus::Connection> {
        match self {
            AgentBus::System => zbus::Connection::system().await,
            AgentBus::Peer(path) => {
                let address = format!("unix:path={}", path.display());
                zbus::connection::Builder::address(address.as_str())
                    .p2p()
                    .build()
                    .await
            }
            AgentBus::Connected(conn) => Ok(conn.clone()),
        }
    }
}

/// Reads the daemon's processes on `bus` every `settings.interval` and publishes changed
/// detections, forever; a connection that closed (oneagentd restarted) is made again.
pub async fn run(
    client: Client,
    bus: AgentBus,
    node: String,
    settings: PublishSettings,
) -> Result<(), Error> {
    let mut publisher = Publisher::new(client, node, &settings);
    let mut conn: Option<zbus::Connection> = None;
    loop {
        if conn.as_ref().is_none_or(zbus::Connection::is_closed) {
            conn = match bus.connect().await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, bus = ?bus, "Cannot reach oneagentd");
                    None
                }
            };
        }
        if let Some(c) = &conn {
            let result = match Agent1Proxy::new(c).await {
                Ok(agent) => publisher.round(&agent).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "Reading detections failed");
            }
        }
        tokio::time::sleep(settings.interval).await;
    }
}

/// Fetches the ReplicaSets and Jobs that own `pods` (for the owner walk).
async fn owner_lookup(client: &Client, pods: &[Pod]) -> MapLookup {
    let mut lookup = MapLookup::default();
    for pod in pods {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(owner) = owner::controller_of(&pod.metadata) else {
            continue;
        };
        let kind = match owner.kind.as_str() {
            "ReplicaSet" => WorkloadKind::ReplicaSet,
            "Job" => WorkloadKind::Job,
            _ => continue,
        };
        if lookup
            .objects
            .contains_key(&(kind, ns.to_owned(), owner.name.clone()))
        {
            continue;
        }
        let Some(ar) = api_resource(kind) else {
            continue;
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        if let Ok(meta) = api.get_metadata(&owner.name).await {
            lookup = lookup.with(kind, meta.metadata);
        }
    }
    lookup
}

#[cfg(test)]
mod tests {
    use oneagent_api::Verdict;

    use super::*;

    #[test]
    fn groups_processes_by_workload_and_container() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-7d4b9c8f5-abcde", "namespace": "shop", "uid": "pod-1",
                "labels": {"pod-template-hash": "7d4b9c8f5"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-7d4b9c8f5", "uid": "rs", "controller": true}]},
            "status": {"containerStatuses": [
                {"name": "app", "containerID": "containerd://abc123", "ready": true,
                 "restartCount": 0, "image": "i", "imageID": ""},
                {"name": "proxy", "containerID": "containerd://def456", "ready": true,
                 "restartCount": 0, "image": "i", "imageID": ""}]}
        }))
        .unwrap_or_default();
        let entry = |container: &str, language: &str, libc: &str| ProcessEntry {
            pod_uid: "pod-1".into(),
            container_id: container.into(),
            verdict: Verdict {
                language: language.into(),
                ..Verdict::default()
            },
            libc: libc.into(),
            ..ProcessEntry::default()
        };
        let processes = [
            entry("abc123", "java", "musl"),
            entry("def456", "go", ""),
            entry("def456", "", "glibc"),
            entry("unknown", "python", "glibc"),
        ];
        let grouped = group(&processes, &[pod], &MapLookup::default());
        let key = (
            WorkloadKind::Deployment,
            "shop".to_owned(),
            "web".to_owned(),
        );
        let want: Detected = [
            (
                "app".to_owned(),
                Detection {
                    language: "java".into(),
                    libc: Some("musl".into()),
                },
            ),
            (
                "proxy".to_owned(),
                Detection {
                    language: "go".into(),
                    libc: None,
                },
            ),
        ]
        .into();
        assert_eq!(grouped.get(&key), Some(&want));
        assert_eq!(grouped.len(), 1);
    }

    #[test]
    fn the_rate_limiter_spaces_events_evenly() {
        let mut limiter = RateLimiter::new(4);
        let t0 = Instant::now();
        assert_eq!(limiter.reserve(t0), t0);
        assert_eq!(limiter.reserve(t0), t0 + Duration::from_millis(250));
        assert_eq!(limiter.reserve(t0), t0 + Duration::from_millis(500));
        // After a quiet period the next event goes at once; no burst is saved up.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limiter.reserve(later), later);
        assert_eq!(limiter.reserve(later), later + Duration::from_millis(250));
        assert_eq!(RateLimiter::new(0).spacing, Duration::from_secs(1));
    }
}
