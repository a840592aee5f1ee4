//! The intent controller: for opted-in workloads, keeps `instrumentation.oneagent.io/intent` on
//! the workload's own metadata (never its pod template, so nothing rolls out) in step with the
//! node agents' `instrumentation.oneagent.io/detected`; removes it when the workload opts out;
//! disables it (with the reason, visible on the workload) when instrumented pods crash-loop.
//! Also `rollout`: restart opted-in workloads a few at a time.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::intent::{Intent, parse_detected};
use crate::owner::{OwnerLookup, WorkloadKind, opted_in, opted_in_with_default};
use crate::{ANNOTATION_DETECTED, ANNOTATION_INTENT, ANNOTATION_STATUS, Error};

/// A workload kind the controller manages.
pub trait Workload:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Its kind.
    const KIND: WorkloadKind;
    /// The label selector of its pods (`None`: not checked for crash loops).
    fn selector(&self) -> Option<&LabelSelector>;
    /// Whether its latest rollout has completed.
    fn rolled_out(&self) -> bool;
}

impl Workload for Deployment {
    const KIND: WorkloadKind = WorkloadKind::Deployment;
    fn selector(&self) -> Option<&LabelSelector> {
        Some(&self.spec.selector)
    }
    fn rolled_out(&self) -> bool {
        let want = self.spec.replicas.unwrap_or(1);
        let Some(st) = self.status.as_ref() else {
            return false;
        };
        st.observed_generation >= self.metadata.generation
            && st.updated_replicas.unwrap_or_default() >= want
            && st.replicas.unwrap_or_default() == st.updated_replicas.unwrap_or_default()
            && st.available_replicas.unwrap_or_default() >= want
    }
}

impl Workload for StatefulSet {
    const KIND: WorkloadKind = WorkloadKind::StatefulSet;
    fn selector(&self) -> Option<&LabelSelector> {
        Some(&self.spec.selector)
    }
    fn rolled_out(&self) -> bool {
        let want = self.spec.replicas.unwrap_or(1);
        let Some(st) = self.status.as_ref() else {
            return false;
        };
        st.observed_generation >= self.metadata.generation
            && st.updated_replicas.unwrap_or_default() >= want
            && st.ready_replicas.unwrap_or_default() >= want
    }
}

impl Workload for DaemonSet {
    const KIND: WorkloadKind = WorkloadKind::DaemonSet;
    fn selector(&self) -> Option<&LabelSelector> {
        Some(&self.spec.selector)
    }
    fn rolled_out(&self) -> bool {
        let Some(st) = self.status.as_ref() else {
            return false;
        };
        st.observed_generation >= self.metadata.generation
            && st.updated_number_scheduled.unwrap_or_default() >= st.desired_number_scheduled
            && st.number_available.unwrap_or_default() >= st.desired_number_scheduled
    }
}

impl Workload for CronJob {
    const KIND: WorkloadKind = WorkloadKind::CronJob;
    fn selector(&self) -> Option<&LabelSelector> {
        None
    }
    fn rolled_out(&self) -> bool {
        true
    }
}

/// `matchLabels` as a label selector string (`matchExpressions` are not needed to find a
/// workload's pods: every controller also sets `matchLabels` in practice).
pub fn selector_string(sel: &LabelSelector) -> Option<String> {
    let labels = sel.match_labels.as_ref().filter(|m| !m.is_empty())?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Why the workload's instrumented pods crash-loop, if they do.
pub fn crash_looping(pods: &[Pod]) -> Option<String> {
    pods.iter().find_map(|pod| {
        let injected = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_STATUS))
            .is_some_and(|s| s == "injected");
        if !injected {
            return None;
        }
        let status = pod.status.as_ref()?;
        status
            .container_statuses
            .iter()
            .flatten()
            .find(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
            })
            .map(|c| {
                format!(
                    "crash loop: pod {} container {} in CrashLoopBackOff after injection",
                    pod.name_any(),
                    c.name
                )
            })
    })
}

/// The intent a workload should carry (`None`: no intent annotation).
pub fn desired_intent(
    meta: &ObjectMeta,
    namespace_labels: Option<&BTreeMap<String, String>>,
    crash: Option<String>,
    agent: &str,
    cluster_wide: bool,
) -> Option<Intent> {
    let labels = meta.labels.clone().unwrap_or_default();
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    if opted_in_with_default(&labels, namespace, namespace_labels, cluster_wide) != Some(true) {
        return None;
    }
    let annotations = meta.annotations.clone().unwrap_or_default();
    let existing = annotations
        .get(ANNOTATION_INTENT)
        .and_then(|v| Intent::parse(v).ok());
    let detected = annotations
        .get(ANNOTATION_DETECTED)
        .map(|v| parse_detected(v))
        .unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    Some(Intent {
        version: 1,
        agent: agent.to_owned(),
        service: Some(
            existing
                .as_ref()
                .and_then(|i| i.service.clone())
                .unwrap_or(name),
        ),
        libc: detected
            .iter()
            .filter_map(|(c, d)| Some((c.clone(), d.libc.clone()?)))
            .collect(),
        containers: detected.into_iter().map(|(c, d)| (c, d.language)).collect(),
        // Once disabled, the intent stays disabled until an operator removes the annotation.
        disabled: existing.and_then(|i| i.disabled).or(crash),
    })
}

/// The controller's context.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Namespace labels (a reflector in production, a map in tests).
    pub lookup: Arc<dyn OwnerLookup + Send + Sync>,
    /// The Java agent kind written into new intents.
    pub agent: String,
    /// How often opted-in workloads are re-checked for crash loops.
    pub recheck: Duration,
    /// The cluster-wide default (`controller --cluster-wide`, as the webhook's).
    pub cluster_wide: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

/// Brings one workload's intent annotation in line with [`desired_intent`].
pub async fn reconcile<K: Workload>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().ok_or(Error::MissingField {
        kind: K::KIND.as_str(),
        field: "metadata.namespace",
    })?;
    let name = obj.name_any();
    let ns_labels = ctx.lookup.namespace_labels(&ns);
    let meta = obj.meta();
    let labels = meta.labels.clone().unwrap_or_default();
    let opted =
        opted_in_with_default(&labels, &ns, ns_labels.as_ref(), ctx.cluster_wide) == Some(true);
    let crash = match (opted, obj.selector().and_then(selector_string)) {
        (true, Some(selector)) => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
            let list = pods.list(&ListParams::default().labels(&selector)).await?;
            crash_looping(&list.items)
        }
        _ => None,
    };
    let desired = desired_intent(
        meta,
        ns_labels.as_ref(),
        crash,
        &ctx.agent,
        ctx.cluster_wide,
    );
    let current = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_INTENT))
        .cloned();
    let wanted = desired.as_ref().map(Intent::to_annotation);
    if current != wanted {
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"metadata": {"annotations": {ANNOTATION_INTENT: wanted}}});
        api.patch_metadata(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        match &desired {
            Some(i) if i.disabled.is_some() => tracing::warn!(
                kind = %K::KIND, %ns, %name, reason = ?i.disabled, "Disabled instrumentation"
            ),
            Some(_) => tracing::info!(kind = %K::KIND, %ns, %name, "Wrote intent"),
            None => tracing::info!(kind = %K::KIND, %ns, %name, "Removed intent"),
        }
    }
    Ok(if opted {
        Action::requeue(ctx.recheck)
    } else {
        Action::await_change()
    })
}

/// Requeues a failed reconcile after a short delay.
pub fn error_policy<K: Workload>(_obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(kind = %K::KIND, error = %error, label = error.metric_label(), "Reconcile failed");
    Action::requeue(Duration::from_secs(30))
}

async fn run_kind<K: Workload>(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<K>::all(client.clone()), watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            Api::<Namespace>::all(client),
            watcher::Config::default(),
            move |ns: Namespace| {
                let name = ns.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|o| o.namespace().as_deref() == Some(name.as_str()))
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|_| futures_util::future::ready(()))
        .await;
}

/// Runs the controller for Deployments, StatefulSets, DaemonSets and CronJobs.
pub async fn run(ctx: Arc<Context>) {
    tokio::join!(
        run_kind::<Deployment>(ctx.clone()),
        run_kind::<StatefulSet>(ctx.clone()),
        run_kind::<DaemonSet>(ctx.clone()),
        run_kind::<CronJob>(ctx),
    );
}

/// RFC 3339 UTC time (what `kubectl rollout restart` writes).
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = i64::try_from(secs / 86_400).unwrap_or_default();
    let rem = secs % 86_400;
    let (y, m, d) = crate::certs::civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The patch `kubectl rollout restart` applies.
pub fn restart_patch(at: &str) -> serde_json::Value {
    json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}})
}

/// Opted-in workloads of kind `K` in `ns`.
async fn opted_in_names<K: Workload>(
    client: &Client,
    ns: &str,
    ns_labels: Option<&BTreeMap<String, String>>,
) -> Result<Vec<(WorkloadKind, String)>, Error> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list_metadata(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|o| {
            opted_in(&o.metadata.labels.clone().unwrap_or_default(), ns_labels) == Some(true)
        })
        .map(|o| (K::KIND, o.name_any()))
        .collect())
}

/// How `rollout` paces restarts.
#[derive(Clone, Copy, Debug)]
pub struct RolloutOptions {
    /// Workloads restarting at once (at least 1): the next starts when one has rolled out.
    pub max_concurrent: usize,
    /// How long one workload may take to roll out.
    pub timeout: Duration,
    /// How often a restarting workload's status is read.
    pub poll: Duration,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        Self {
            max_concurrent: 2,
            timeout: Duration::from_secs(600),
            poll: Duration::from_secs(2),
        }
    }
}

async fn restart_and_wait<K: Workload>(
    client: &Client,
    ns: &str,
    name: &str,
    options: &RolloutOptions,
) -> Result<(), Error> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&restart_patch(&rfc3339_now())),
    )
    .await?;
    let start = Instant::now();
    loop {
        tokio::time::sleep(options.poll).await;
        if api.get(name).await?.rolled_out() {
            return Ok(());
        }
        if start.elapsed() > options.timeout {
            return Err(Error::RolloutTimeout {
                kind: K::KIND.as_str(),
                namespace: ns.to_owned(),
                name: name.to_owned(),
                after: options.timeout,
            });
        }
    }
}

/// Restarts the opted-in Deployments, StatefulSets and DaemonSets of `ns` (like `kubectl
/// rollout restart`), at most `max_concurrent` at a time: each is restarted, then its status
/// polled until it has rolled out, and only then does the next one start. Stops at the first
/// failure or timeout. Returns the restarted workloads (`Kind/name`), in completion order.
pub async fn rollout(
    client: &Client,
    ns: &str,
    options: &RolloutOptions,
) -> Result<Vec<String>, Error> {
    let ns_labels = Api::<Namespace>::all(client.clone())
        .get_metadata(ns)
        .await?
        .metadata
        .labels;
    let mut all = opted_in_names::<Deployment>(client, ns, ns_labels.as_ref()).await?;
    all.extend(opted_in_names::<StatefulSet>(client, ns, ns_labels.as_ref()).await?);
    all.extend(opted_in_names::<DaemonSet>(client, ns, ns_labels.as_ref()).await?);
    let mut restarts = std::pin::pin!(
        futures_util::stream::iter(all.into_iter().map(|(kind, name)| async move {
            let result = match kind {
                WorkloadKind::Deployment => {
                    restart_and_wait::<Deployment>(client, ns, &name, options).await
                }
                WorkloadKind::StatefulSet => {
                    restart_and_wait::<StatefulSet>(client, ns, &name, options).await
                }
                _ => restart_and_wait::<DaemonSet>(client, ns, &name, options).await,
            };
            result.map(|()| (kind, name))
        }))
        .buffer_unordered(options.max_concurrent.max(1))
    );
    let mut done = Vec::new();
    while let Some(result) = restarts.next().await {
        let (kind, name) = result?;
        tracing::info!(%kind, %ns, %name, "Restarted");
        done.push(format!("{kind}/{name}"));
    }
    Ok(done)
}
