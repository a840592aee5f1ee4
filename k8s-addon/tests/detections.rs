//! The detections publisher end to end at the wire: oneagentd's `Processes` served on a private
//! system-like D-Bus daemon, a fake API server over HTTP, and the exact server-side-apply PATCHes.
use std::time::Duration;

use oneagent_api::{Agent1Proxy, ProcessEntry, Verdict};
use oneagent_k8s::detections::{self, PublishSettings, Publisher, Round};
use serde_json::{Value, json};

use crate::support::apiserver::{FakeApiServer, Recorded};
use crate::support::bus::{FakeAgent, Policy, TestBus};

fn owner(kind: &str, api_version: &str, name: &str) -> Value {
    json!([{"apiVersion": api_version, "kind": kind, "name": name,
            "uid": format!("uid-{name}"), "controller": true, "blockOwnerDeletion": true}])
}

/// A running pod as the API server lists it.
fn pod(name: &str, node: &str, uid: &str, owners: Value, containers: &[(&str, &str)]) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": uid,
                     "creationTimestamp": "2026-05-01T10:00:00Z", "ownerReferences": owners},
        "spec": {"nodeName": node,
                 "containers": containers.iter().map(|(c, _)| json!({"name": c, "image": "i:1"}))
                     .collect::<Vec<_>>()},
        "status": {"phase": "Running", "podIP": "10.1.2.3",
                   "containerStatuses": containers.iter().map(|(c, id)| json!({
                       "name": c, "containerID": format!("containerd://{id}"), "ready": true,
                       "restartCount": 0, "image": "i:1", "imageID": "sha256:0",
                       "started": true, "state": {"running": {"startedAt": "2026-05-01T10:00:05Z"}}
                   })).collect::<Vec<_>>()}
    })
}

fn workload(api_version: &str, kind: &str, name: &str, owners: Value) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "generation": 1, "ownerReferences": owners,
                     "labels": {"app": name}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "i:1"}]}}}
    })
}

fn cluster(api: &FakeApiServer) {
    api.insert(workload("apps/v1", "Deployment", "web", Value::Null));
    api.insert(workload(
        "apps/v1",
        "ReplicaSet",
        "web-7d4b9c8f5",
        owner("Deployment", "apps/v1", "web"),
    ));
    api.insert(workload("apps/v1", "StatefulSet", "db", Value::Null));
    api.insert(workload("batch/v1", "CronJob", "report", Value::Null));
    api.insert(workload(
        "batch/v1",
        "Job",
        "report-29100000",
        owner("CronJob", "batch/v1", "report"),
    ));
    api.insert(pod(
        "web-7d4b9c8f5-x2x9q",
        "node-1",
        "pod-web",
        owner("ReplicaSet", "apps/v1", "web-7d4b9c8f5"),
        &[("app", "c-web-app"), ("proxy", "c-web-proxy")],
    ));
    api.insert(pod(
        "db-0",
        "node-1",
        "pod-db",
        owner("StatefulSet", "apps/v1", "db"),
        &[("db", "c-db")],
    ));
    api.insert(pod(
        "report-29100000-7hh2k",
        "node-1",
        "pod-report",
        owner("Job", "batch/v1", "report-29100000"),
        &[("report", "c-report")],
    ));
    // Another node's pod: not this publisher's business.
    api.insert(pod(
        "web-7d4b9c8f5-zz9kd",
        "node-2",
        "pod-web-2",
        owner("ReplicaSet", "apps/v1", "web-7d4b9c8f5"),
        &[("app", "c-web-app-2")],
    ));
}

fn process(pid: u32, pod_uid: &str, container_id: &str, language: &str) -> ProcessEntry {
    ProcessEntry {
        pid,
        pod_uid: pod_uid.into(),
        container_id: container_id.into(),
        exe: "/usr/bin/app".into(),
        libc: if language.is_empty() { "" } else { "glibc" }.into(),
        verdict: Verdict {
            language: language.into(),
            action: "inject".into(),
            ..Verdict::default()
        },
        ..ProcessEntry::default()
    }
}

fn patches(requests: &[Recorded]) -> Vec<Recorded> {
    requests
        .iter()
        .filter(|r| r.method == http::Method::PATCH)
        .cloned()
        .collect()
}

fn applied(api_version: &str, kind: &str, name: &str, detected: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": name, "namespace": "shop",
                        "annotations": {"instrumentation.oneagent.io/detected": detected.to_string()}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_changed_detections_with_server_side_apply_rate_limited() {
    let bus = TestBus::start(Policy::Shipped);
    let agent = FakeAgent::default();
    *agent.processes.lock().unwrap() = vec![
        process(4101, "pod-web", "c-web-app", "java"),
        process(4102, "pod-web", "c-web-proxy", ""), // not a runtime
        ProcessEntry {
            libc: "musl".into(), // an Alpine image
            ..process(4201, "pod-db", "c-db", "python")
        },
        process(4301, "pod-report", "c-report", "nodejs"),
        process(4401, "pod-web-2", "c-web-app-2", "go"), // node-2's pod
        process(1, "", "", "python"),                    // a host process
    ];
    let _service = agent.serve(&bus).await;
    let api = FakeApiServer::start().await;
    cluster(&api);

    let conn = bus.connect().await;
    let proxy = Agent1Proxy::new(&conn).await.unwrap();
    let settings = PublishSettings {
        interval: Duration::from_secs(30),
        max_patches_per_sec: 10,
    };
    let mut publisher = Publisher::new(api.client(), "node-1".into(), &settings);
    let started = std::time::Instant::now();
    let round = publisher.round(&proxy).await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        round,
        Round {
            published: 3,
            unchanged: 0,
            failed: 0
        }
    );
    assert_eq!(*agent.calls.lock().unwrap(), 1);

    let requests = api.requests();
    // This node's pods only, by field selector.
    let list = &requests[0];
    assert_eq!(list.method, http::Method::GET);
    assert_eq!(list.path, "/api/v1/pods");
    assert_eq!(
        list.query.get("fieldSelector").map(String::as_str),
        Some("spec.nodeName=node-1")
    );
    // Owners are read as metadata only.
    for path in [
        "/apis/apps/v1/namespaces/shop/replicasets/web-7d4b9c8f5",
        "/apis/batch/v1/namespaces/shop/jobs/report-29100000",
    ] {
        let get = requests.iter().find(|r| r.path == path).unwrap();
        assert!(
            get.accept.contains("as=PartialObjectMetadata"),
            "{}",
            get.accept
        );
    }
    let sent = patches(&requests);
    let mut by_path: Vec<(String, Value)> = sent
        .iter()
        .map(|p| (p.path.clone(), p.body.clone()))
        .collect();
    by_path.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_path,
        vec![
            (
                "/apis/apps/v1/namespaces/shop/deployments/web".to_owned(),
                applied(
                    "apps/v1",
                    "Deployment",
                    "web",
                    json!({"app": {"language": "java", "libc": "glibc"}})
                )
            ),
            (
                "/apis/apps/v1/namespaces/shop/statefulsets/db".to_owned(),
                applied(
                    "apps/v1",
                    "StatefulSet",
                    "db",
                    json!({"db": {"language": "python", "libc": "musl"}})
                )
            ),
            (
                "/apis/batch/v1/namespaces/shop/cronjobs/report".to_owned(),
                applied(
                    "batch/v1",
                    "CronJob",
                    "report",
                    json!({"report": {"language": "nodejs", "libc": "glibc"}})
                )
            ),
        ]
    );
    for p in &sent {
        assert_eq!(p.content_type, "application/apply-patch+yaml");
        assert_eq!(
            p.query.get("fieldManager").map(String::as_str),
            Some("oneagent-k8s-node")
        );
        assert_eq!(p.query.get("force").map(String::as_str), Some("true"));
    }
    // 10 patches a second: the third may go no sooner than 200 ms after the first. Arrival times
    // at the server jitter under load, so the bound is on the round, which load only lengthens;
    // the even spacing itself is the limiter's unit test, on simulated instants.
    assert!(took >= Duration::from_millis(200), "3 patches in {took:?}");
    let web = api
        .get("/apis/apps/v1/namespaces/shop/deployments/web")
        .unwrap();
    assert_eq!(
        web["metadata"]["annotations"]["instrumentation.oneagent.io/detected"],
        r#"{"app":{"language":"java","libc":"glibc"}}"#
    );

    // Nothing changed: nothing is written.
    api.clear_requests();
    let round = publisher.round(&proxy).await.unwrap();
    assert_eq!(round.published, 0);
    assert_eq!(round.unchanged, 3);
    assert!(patches(&api.requests()).is_empty());

    // One container changes: one patch, for its workload only.
    agent.processes.lock().unwrap()[2] = process(4202, "pod-db", "c-db", "java");
    api.clear_requests();
    let round = publisher.round(&proxy).await.unwrap();
    assert_eq!(round.published, 1);
    let sent = patches(&api.requests());
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].path,
        "/apis/apps/v1/namespaces/shop/statefulsets/db"
    );
    assert_eq!(
        sent[0].body,
        applied(
            "apps/v1",
            "StatefulSet",
            "db",
            json!({"db": {"language": "java", "libc": "glibc"}})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_patch_is_retried_next_round() {
    let bus = TestBus::start(Policy::Shipped);
    let agent = FakeAgent::default();
    *agent.processes.lock().unwrap() = vec![process(4201, "pod-db", "c-db", "python")];
    let _service = agent.serve(&bus).await;
    let api = FakeApiServer::start().await;
    // The pod's StatefulSet does not exist (yet): the API server answers 404.
    api.insert(pod(
        "db-0",
        "node-1",
        "pod-db",
        owner("StatefulSet", "apps/v1", "db"),
        &[("db", "c-db")],
    ));
    let conn = bus.connect().await;
    let proxy = Agent1Proxy::new(&conn).await.unwrap();
    let mut publisher = Publisher::new(api.client(), "node-1".into(), &PublishSettings::default());
    let round = publisher.round(&proxy).await.unwrap();
    assert_eq!(round.failed, 1);
    api.insert(workload("apps/v1", "StatefulSet", "db", Value::Null));
    let round = publisher.round(&proxy).await.unwrap();
    assert_eq!(round.published, 1, "not retried: {round:?}");
}

/// `detections::run` for node-1 on its own task, reading every 100 ms.
fn run_every_100ms(
    api: &FakeApiServer,
    bus: detections::AgentBus,
) -> tokio::task::JoinHandle<Result<(), oneagent_k8s::Error>> {
    let settings = PublishSettings {
        interval: Duration::from_millis(100),
        max_patches_per_sec: 50,
    };
    tokio::spawn(detections::run(
        api.client(),
        bus,
        "node-1".into(),
        settings,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reads_the_daemon_every_interval() {
    let bus = TestBus::start(Policy::Shipped);
    let agent = FakeAgent::default();
    *agent.processes.lock().unwrap() = vec![process(4201, "pod-db", "c-db", "python")];
    let _service = agent.serve(&bus).await;
    let api = FakeApiServer::start().await;
    cluster(&api);
    let task = run_every_100ms(&api, detections::AgentBus::Connected(bus.connect().await));
    tokio::time::sleep(Duration::from_millis(550)).await;
    task.abort();
    let calls = *agent.calls.lock().unwrap();
    assert!((2..=7).contains(&calls), "{calls} reads in 550 ms");
    assert_eq!(
        patches(&api.requests()).len(),
        1,
        "published once, not every round"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reads_the_daemon_on_its_peer_socket_and_reconnects_after_a_restart() {
    // No system bus at all: the publisher must not need one.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let agent = FakeAgent::default();
    *agent.processes.lock().unwrap() = vec![process(4201, "pod-db", "c-db", "python")];
    let server = agent.serve_peer(&socket);
    let api = FakeApiServer::start().await;
    cluster(&api);
    let task = run_every_100ms(
        &api,
        detections::AgentBus::from_peer_socket(Some(socket.clone())),
    );
    let wait_calls = |at_least: usize| {
        let agent = agent.clone();
        async move {
            for _ in 0..100 {
                if *agent.calls.lock().unwrap() >= at_least {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("fewer than {at_least} reads in 5 s");
        }
    };
    wait_calls(2).await;
    assert_eq!(patches(&api.requests()).len(), 1, "published once");
    // oneagentd restarts: its connections close and the socket is made again.
    server.abort();
    let _ = server.await;
    *agent.calls.lock().unwrap() = 0;
    *agent.processes.lock().unwrap() = vec![
        process(4201, "pod-db", "c-db", "python"),
        process(4301, "pod-report", "c-report", "nodejs"),
    ];
    let _server = agent.serve_peer(&socket);
    wait_calls(2).await;
    task.abort();
    assert_eq!(
        patches(&api.requests()).len(),
        2,
        "the new detection was published after the reconnect"
    );
}
