//! `oneagent-k8s rollout` against a fake API server over HTTP that simulates rollouts: opted-in
//! workloads only, the exact restart patch, never more than `--max-concurrent` rolling out at
//! once, the next one started only after one has rolled out, and a timeout that stops it.
use std::time::Duration;

use oneagent_k8s::Error;
use oneagent_k8s::controller::{self, RolloutOptions};
use serde_json::{Value, json};

use crate::support::apiserver::{FakeApiServer, Recorded};

fn workload(api_version: &str, kind: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "generation": 4, "labels": labels,
                     "creationTimestamp": "2026-05-01T10:00:00Z"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "i:1"}]}}}
    })
}

const ON: (&str, &str) = ("instrumentation.oneagent.io/enabled", "true");
const OFF: (&str, &str) = ("instrumentation.oneagent.io/enabled", "false");

fn labels(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Namespace `shop` opted in; deployments a..e (d opted out by its own label), statefulset db,
/// daemonset agent; a deployment in another namespace.
fn cluster(api: &FakeApiServer) {
    api.insert(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "uid": "uid-shop",
                     "labels": {"kubernetes.io/metadata.name": "shop", ON.0: ON.1}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    for name in ["a", "b", "c", "e"] {
        api.insert(workload(
            "apps/v1",
            "Deployment",
            name,
            labels(&[("app", name)]),
        ));
    }
    api.insert(workload(
        "apps/v1",
        "Deployment",
        "d",
        labels(&[("app", "d"), OFF]),
    ));
    api.insert(workload(
        "apps/v1",
        "StatefulSet",
        "db",
        labels(&[("app", "db")]),
    ));
    api.insert(workload(
        "apps/v1",
        "DaemonSet",
        "agent",
        labels(&[("app", "agent")]),
    ));
    let mut other = workload("apps/v1", "Deployment", "x", labels(&[ON]));
    other["metadata"]["namespace"] = json!("elsewhere");
    api.insert(other);
}

fn options(max_concurrent: usize) -> RolloutOptions {
    RolloutOptions {
        max_concurrent,
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(20),
    }
}

fn restarts(requests: &[Recorded]) -> Vec<Recorded> {
    requests
        .iter()
        .filter(|r| r.method == http::Method::PATCH)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_opted_in_workloads_never_more_than_max_concurrent() {
    let api = FakeApiServer::start().await;
    cluster(&api);
    api.set_reads_until_ready(3);
    let done = controller::rollout(&api.client(), "shop", &options(2))
        .await
        .unwrap();
    let mut sorted = done.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "DaemonSet/agent",
            "Deployment/a",
            "Deployment/b",
            "Deployment/c",
            "Deployment/e",
            "StatefulSet/db"
        ]
    );
    assert_eq!(
        api.max_rolling(),
        2,
        "never more than --max-concurrent at once"
    );

    let requests = api.requests();
    let ns = requests
        .iter()
        .find(|r| r.path == "/api/v1/namespaces/shop")
        .unwrap();
    assert!(ns.accept.contains("as=PartialObjectMetadata"));
    for collection in [
        "/apis/apps/v1/namespaces/shop/deployments",
        "/apis/apps/v1/namespaces/shop/statefulsets",
        "/apis/apps/v1/namespaces/shop/daemonsets",
    ] {
        let list = requests.iter().find(|r| r.path == collection).unwrap();
        assert!(
            list.accept.contains("as=PartialObjectMetadataList"),
            "{}",
            list.accept
        );
    }
    let patches = restarts(&requests);
    assert_eq!(
        patches.len(),
        6,
        "opted-out d and other namespaces untouched"
    );
    assert!(!patches.iter().any(|p| p.path.ends_with("/deployments/d")));
    for p in &patches {
        // `kubectl rollout restart`'s patch: a merge patch of the template's annotation.
        assert_eq!(p.content_type, "application/merge-patch+json");
        let at = p.body["spec"]["template"]["metadata"]["annotations"]
            ["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .unwrap();
        assert!(at.len() == 20 && at.ends_with('Z'), "{at}");
        assert_eq!(p.body.as_object().unwrap().len(), 1, "{}", p.body);
        assert!(!p.query.contains_key("fieldManager"));
    }
    // Each workload was read until it reported rolled out before it counted as done, and a
    // third restart only started after one of the first two had rolled out.
    for p in &patches {
        let reads = requests
            .iter()
            .filter(|r| r.method == http::Method::GET && r.path == p.path && r.at > p.at)
            .count();
        assert!(
            reads >= 3,
            "{} read {reads} times after its restart",
            p.path
        );
    }
    let third = &patches[2];
    let first_two_done = patches[..2].iter().any(|p| {
        requests
            .iter()
            .filter(|r| r.method == http::Method::GET && r.path == p.path && r.at < third.at)
            .count()
            >= 3
    });
    assert!(
        first_two_done,
        "the third restart did not wait for a rollout to finish"
    );
    let db = api
        .get("/apis/apps/v1/namespaces/shop/statefulsets/db")
        .unwrap();
    assert_eq!(db["metadata"]["generation"], 5);
    assert_eq!(db["status"]["updatedReplicas"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_at_a_time_is_strictly_sequential() {
    let api = FakeApiServer::start().await;
    cluster(&api);
    let done = controller::rollout(&api.client(), "shop", &options(1))
        .await
        .unwrap();
    assert_eq!(done.len(), 6);
    assert_eq!(api.max_rolling(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_that_never_rolls_out_times_out_and_stops_the_rollout() {
    let api = FakeApiServer::start().await;
    cluster(&api);
    api.never_ready("/apis/apps/v1/namespaces/shop/deployments/a");
    let opts = RolloutOptions {
        max_concurrent: 1,
        timeout: Duration::from_millis(300),
        poll: Duration::from_millis(20),
    };
    let err = controller::rollout(&api.client(), "shop", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RolloutTimeout { .. }), "{err}");
    assert!(err.to_string().contains("shop/a"), "{err}");
    let patches = restarts(&api.requests());
    assert_eq!(
        patches.len(),
        1,
        "nothing else restarted after the stuck one"
    );
}
