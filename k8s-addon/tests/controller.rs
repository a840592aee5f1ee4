//! The intent controller against kube's mock service (tower-test), scenario by scenario.
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::client::Body;
use oneagent_k8s::controller::{self, Context};
use oneagent_k8s::intent::Intent;
use oneagent_k8s::owner::MapLookup;
use serde_json::{Value, json};

use crate::support::{DISABLED, ENABLED, NS};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn deployment(labels: Value, annotations: Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "labels": labels, "annotations": annotations,
                     "resourceVersion": "100", "generation": 3},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}
    }))
    .unwrap()
}

fn context(namespace_enabled: bool) -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let lookup = if namespace_enabled {
        MapLookup::default().with_namespace(NS, &[ENABLED])
    } else {
        MapLookup::default().with_namespace(NS, &[])
    };
    let ctx = Context {
        client,
        lookup: Arc::new(lookup),
        agent: "opentelemetry".into(),
        recheck: Duration::from_secs(60),
        cluster_wide: false,
    };
    (Arc::new(ctx), handle)
}

/// Scenario steps the fake API server answers in order.
enum Step {
    /// GET pods with the workload's selector → this PodList.
    ListPods(Value),
    /// PATCH the deployment; the closure checks the merge patch body.
    Patch(Box<dyn Fn(&Value) + Send>),
}

async fn serve(mut handle: Handle, steps: Vec<Step>) {
    for step in steps {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
            .await
            .expect("expected a request")
            .expect("service dropped");
        let (parts, body) = request.into_parts();
        let body = body.collect_bytes().await.unwrap();
        match step {
            Step::ListPods(list) => {
                assert_eq!(parts.method, http::Method::GET);
                assert_eq!(parts.uri.path(), format!("/api/v1/namespaces/{NS}/pods"));
                assert!(
                    parts
                        .uri
                        .query()
                        .unwrap()
                        .contains("labelSelector=app%3Dweb")
                );
                send.send_response(Response::new(Body::from(
                    serde_json::to_vec(&list).unwrap(),
                )));
            }
            Step::Patch(check) => {
                assert_eq!(parts.method, http::Method::PATCH);
                assert_eq!(
                    parts.uri.path(),
                    format!("/apis/apps/v1/namespaces/{NS}/deployments/web")
                );
                assert_eq!(
                    parts.headers.get("content-type").unwrap(),
                    "application/merge-patch+json"
                );
                let patch: Value = serde_json::from_slice(&body).unwrap();
                // Only the workload's own metadata: never the pod template.
                assert!(patch.get("spec").is_none(), "{patch}");
                check(&patch);
                let meta = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                                  "metadata": {"name": "web", "namespace": NS}});
                send.send_response(Response::new(Body::from(
                    serde_json::to_vec(&meta).unwrap(),
                )));
            }
        }
    }
}

fn pod_list(items: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items})
}

fn intent_of(patch: &Value) -> Option<Intent> {
    let v = &patch["metadata"]["annotations"]["instrumentation.oneagent.io/intent"];
    v.as_str().map(|s| Intent::parse(s).unwrap())
}

#[tokio::test]
async fn writes_intent_from_detections() {
    let (ctx, handle) = context(true);
    let d = deployment(
        json!({"app": "web"}),
        json!({"instrumentation.oneagent.io/detected": r#"{"app":"java","sidecar":"go"}"#}),
    );
    let server = tokio::spawn(serve(
        handle,
        vec![
            Step::ListPods(pod_list(json!([]))),
            Step::Patch(Box::new(|p| {
                let i = intent_of(p).unwrap();
                assert_eq!(i.containers["app"], "java");
                assert_eq!(i.containers["sidecar"], "go");
                assert_eq!(i.service.as_deref(), Some("web"));
                assert_eq!(i.agent, "opentelemetry");
                assert_eq!(i.disabled, None);
            })),
        ],
    ));
    let action = controller::reconcile(Arc::new(d), ctx).await.unwrap();
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(Duration::from_secs(60))
    );
    server.await.unwrap();
}

#[tokio::test]
async fn the_detected_libc_reaches_the_intent() {
    // As a node agent publishes it (objects), beside a container an older one wrote (a string).
    let (ctx, handle) = context(true);
    let d = deployment(
        json!({"app": "web"}),
        json!({"instrumentation.oneagent.io/detected":
            r#"{"app":{"language":"dotnet","libc":"musl"},"api":{"language":"java","libc":"glibc"},"sidecar":"go"}"#}),
    );
    let server = tokio::spawn(serve(
        handle,
        vec![
            Step::ListPods(pod_list(json!([]))),
            Step::Patch(Box::new(|p| {
                let raw = p["metadata"]["annotations"]["instrumentation.oneagent.io/intent"]
                    .as_str()
                    .unwrap();
                let v: Value = serde_json::from_str(raw).unwrap();
                assert_eq!(
                    v["containers"],
                    json!({"api": "java", "app": "dotnet", "sidecar": "go"})
                );
                assert_eq!(v["libc"], json!({"api": "glibc", "app": "musl"}));
                let i = intent_of(p).unwrap();
                assert!(i.musl("app") && !i.musl("api") && !i.musl("sidecar"));
            })),
        ],
    ));
    controller::reconcile(Arc::new(d), ctx).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn opting_out_removes_the_intent() {
    let (ctx, handle) = context(true);
    let d = deployment(
        json!({"app": "web", DISABLED.0: DISABLED.1}),
        json!({"instrumentation.oneagent.io/intent": r#"{"version":1,"agent":"opentelemetry","containers":{}}"#}),
    );
    let server = tokio::spawn(serve(
        handle,
        vec![Step::Patch(Box::new(|p| {
            assert_eq!(
                p["metadata"]["annotations"]["instrumentation.oneagent.io/intent"],
                Value::Null
            );
            assert!(
                p["metadata"]["annotations"]
                    .as_object()
                    .unwrap()
                    .contains_key("instrumentation.oneagent.io/intent")
            );
        }))],
    ));
    controller::reconcile(Arc::new(d), ctx).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn crash_loop_disables_the_intent() {
    let (ctx, handle) = context(true);
    let d = deployment(
        json!({"app": "web"}),
        json!({"instrumentation.oneagent.io/detected": r#"{"app":"java"}"#}),
    );
    let crashing = json!([{
        "metadata": {"name": "web-7d4b9c8f5-x2k9q", "namespace": NS,
                     "annotations": {"instrumentation.oneagent.io/status": "injected"}},
        "spec": {"containers": [{"name": "app", "image": "web:1"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "app", "ready": false, "restartCount": 5, "image": "web:1", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}}]}
    }]);
    let server = tokio::spawn(serve(
        handle,
        vec![
            Step::ListPods(pod_list(crashing)),
            Step::Patch(Box::new(|p| {
                let i = intent_of(p).unwrap();
                let reason = i.disabled.unwrap();
                assert!(reason.contains("web-7d4b9c8f5-x2k9q"), "{reason}");
                assert!(reason.contains("CrashLoopBackOff"), "{reason}");
            })),
        ],
    ));
    controller::reconcile(Arc::new(d), ctx).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn in_sync_and_not_opted_in_write_nothing() {
    // Not opted in, no intent: no request at all.
    let (ctx, handle) = context(false);
    let d = deployment(json!({"app": "web"}), json!({}));
    let action = controller::reconcile(Arc::new(d), ctx).await.unwrap();
    assert_eq!(action, kube::runtime::controller::Action::await_change());
    drop(handle);

    // Opted in and already in sync: only the crash-loop check.
    let (ctx, handle) = context(true);
    let current = Intent {
        service: Some("web".into()),
        containers: [("app".to_owned(), "java".to_owned())].into(),
        ..Intent::parse("{}").unwrap()
    };
    let d = deployment(
        json!({"app": "web"}),
        json!({"instrumentation.oneagent.io/detected": r#"{"app":"java"}"#,
               "instrumentation.oneagent.io/intent": current.to_annotation()}),
    );
    let server = tokio::spawn(serve(handle, vec![Step::ListPods(pod_list(json!([])))]));
    controller::reconcile(Arc::new(d), ctx).await.unwrap();
    server.await.unwrap();
}

#[test]
fn restart_patch_touches_only_the_template_annotation() {
    let p = controller::restart_patch("2026-01-01T00:00:00Z");
    assert_eq!(
        p,
        json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}})
    );
    let now = controller::rfc3339_now();
    assert_eq!(now.len(), 20, "{now}");
    assert!(now.ends_with('Z'));
}
