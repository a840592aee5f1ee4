//! Watch-backed caches of workload and namespace metadata (kube reflectors over metadata-only
//! watches: labels, annotations and owner references are all the webhook reads).
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt as _;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::owner::{OwnerLookup, WorkloadKind};

type MetaStore<K> = Store<PartialObjectMeta<K>>;

/// The caches the webhook reads.
#[derive(Clone)]
pub struct ClusterCache {
    deployments: MetaStore<Deployment>,
    replicasets: MetaStore<ReplicaSet>,
    statefulsets: MetaStore<StatefulSet>,
    daemonsets: MetaStore<DaemonSet>,
    jobs: MetaStore<Job>,
    cronjobs: MetaStore<CronJob>,
    namespaces: MetaStore<Namespace>,
}

impl std::fmt::Debug for ClusterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCache").finish_non_exhaustive()
    }
}

fn start<K>(client: &Client) -> MetaStore<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<PartialObjectMeta<K>>();
    // `Api<PartialObjectMeta<K>>` makes metadata-only list and watch requests.
    let api: Api<PartialObjectMeta<K>> = Api::all(client.clone());
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    tokio::spawn(async move {
        let kind = K::kind(&());
        futures_util::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(e) = event {
                tracing::warn!(%kind, error = %e, "Watch failed; retrying with backoff");
            }
        }
    });
    reader
}

fn meta_of<K>(store: &MetaStore<K>, namespace: Option<&str>, name: &str) -> Option<ObjectMeta>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let mut r = ObjectRef::<PartialObjectMeta<K>>::new(name);
    if let Some(ns) = namespace {
        r = r.within(ns);
    }
    store.get(&r).map(|o| o.metadata.clone())
}

impl ClusterCache {
    /// Starts the watches (on the current tokio runtime).
    pub fn start(client: &Client) -> Self {
        Self {
            deployments: start(client),
            replicasets: start(client),
            statefulsets: start(client),
            daemonsets: start(client),
            jobs: start(client),
            cronjobs: start(client),
            namespaces: start(client),
        }
    }

    /// Waits until every cache has listed once, then sets `ready`.
    pub async fn wait_ready(&self, ready: Arc<AtomicBool>) {
        let _ = tokio::join!(
            self.deployments.wait_until_ready(),
            self.replicasets.wait_until_ready(),
            self.statefulsets.wait_until_ready(),
            self.daemonsets.wait_until_ready(),
            self.jobs.wait_until_ready(),
            self.cronjobs.wait_until_ready(),
            self.namespaces.wait_until_ready(),
        );
        ready.store(true, Ordering::Relaxed);
        tracing::info!("Caches synced");
    }
}

impl OwnerLookup for ClusterCache {
    fn meta(&self, kind: WorkloadKind, namespace: &str, name: &str) -> Option<ObjectMeta> {
        let ns = Some(namespace);
        match kind {
            WorkloadKind::Deployment => meta_of(&self.deployments, ns, name),
            WorkloadKind::ReplicaSet => meta_of(&self.replicasets, ns, name),
            WorkloadKind::StatefulSet => meta_of(&self.statefulsets, ns, name),
            WorkloadKind::DaemonSet => meta_of(&self.daemonsets, ns, name),
            WorkloadKind::Job => meta_of(&self.jobs, ns, name),
            WorkloadKind::CronJob => meta_of(&self.cronjobs, ns, name),
            WorkloadKind::Pod => None,
        }
    }

    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        meta_of(&self.namespaces, None, namespace).map(|m| m.labels.unwrap_or_default())
    }
}

/// Namespace labels only (the controller's lookup: it needs no workload caches, so its RBAC
/// does not include ReplicaSets or Jobs).
#[derive(Clone)]
pub struct NamespaceCache {
    namespaces: MetaStore<Namespace>,
}

impl std::fmt::Debug for NamespaceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceCache").finish_non_exhaustive()
    }
}

impl NamespaceCache {
    /// Starts the namespace watch.
    pub fn start(client: &Client) -> Self {
        Self {
            namespaces: start(client),
        }
    }
}

impl OwnerLookup for NamespaceCache {
    fn meta(&self, _: WorkloadKind, _: &str, _: &str) -> Option<ObjectMeta> {
        None
    }

    fn namespace_labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        meta_of(&self.namespaces, None, namespace).map(|m| m.labels.unwrap_or_default())
    }
}
