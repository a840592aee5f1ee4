//! The webhook over real HTTPS, with certificates from `certs`, and AdmissionReviews shaped like
//! the API server's.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use base64::Engine as _;
use oneagent_k8s::certs;
use oneagent_k8s::decide::InjectConfig;
use oneagent_k8s::metrics::Metrics;
use oneagent_k8s::webhook::{self, AppState, TlsFiles};
use serde_json::{Value, json};

use crate::support::client::HttpsClient;
use crate::support::*;

const HOST: &str = "oneagent-webhook.oneagent.svc";

struct Server {
    addr: SocketAddr,
    ca: String,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let bundle =
        certs::generate(&certs::service_dns_names("oneagent-webhook", "oneagent")).unwrap();
    let files = certs::write(&bundle, dir.path()).unwrap();
    let listener = webhook::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        lookup: Arc::new(cluster(&intent(&[("app", "java")]), &[ENABLED])),
        config: Arc::new(InjectConfig::default()),
        metrics: Arc::new(Metrics::default()),
        ready: Arc::new(AtomicBool::new(true)),
    };
    let tls = TlsFiles {
        cert: files.cert,
        key: files.key,
        poll: Duration::from_millis(100),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(webhook::serve(listener, tls, state, async move {
        let _ = rx.await;
    }));
    // Wait for the listener to accept TLS.
    for _ in 0..100 {
        if HttpsClient::connect(addr, HOST, &bundle.ca_cert)
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server {
        addr,
        ca: bundle.ca_cert,
        dir,
        _stop: tx,
    }
}

async fn post(client: &mut HttpsClient, body: &Value) -> (u16, Value) {
    let (status, body) = client
        .request("POST", "/mutate", serde_json::to_vec(body).unwrap())
        .await;
    (status, serde_json::from_slice(&body).unwrap())
}

fn patch_ops(resp: &Value) -> Vec<Value> {
    let Some(p) = resp["response"]["patch"].as_str() else {
        return Vec::new();
    };
    assert_eq!(resp["response"]["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn mutates_a_realistic_pod_create() {
    let s = start().await;
    let mut c = HttpsClient::connect(s.addr, HOST, &s.ca).await.unwrap();
    let object = pod_json(json!([container(
        "app",
        json!([{"name": "TZ", "value": "UTC"}])
    )]));
    let (status, resp) = post(&mut c, &review(&object)).await;
    assert_eq!(status, 200);
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(resp["kind"], "AdmissionReview");
    assert_eq!(
        resp["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(resp["response"]["allowed"], true);
    let patched = apply(&object, &patch_ops(&resp));
    assert_eq!(
        patched["metadata"]["annotations"]["instrumentation.oneagent.io/status"],
        "injected"
    );
    assert_eq!(env_value(&patched, "app", "TZ").unwrap(), "UTC");
    assert_eq!(
        env_value(&patched, "app", "LD_PRELOAD").unwrap(),
        "/var/oneagent/liboneagent_preload.so"
    );
    // Exactly what decide() computes for the same pod.
    let p = pod(&object);
    let lookup = cluster(&intent(&[("app", "java")]), &[ENABLED]);
    let workload = oneagent_k8s::owner::resolve(&p.metadata, NS, &lookup);
    let ns_labels = oneagent_k8s::owner::OwnerLookup::namespace_labels(&lookup, NS);
    let want = oneagent_k8s::decide::decide(
        &p,
        &oneagent_k8s::decide::Inputs {
            namespace: NS,
            namespace_labels: ns_labels.as_ref(),
            workload: &workload,
            config: &InjectConfig::default(),
        },
    )
    .unwrap();
    assert_eq!(patched, apply(&object, &want.ops));

    // The same kept-alive connection serves health, readiness and metrics.
    let (status, body) = c.request("GET", "/healthz", Vec::new()).await;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (status, _) = c.request("GET", "/readyz", Vec::new()).await;
    assert_eq!(status, 200);
    let (_, metrics) = c.request("GET", "/metrics", Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics
            .contains(r#"oneagent_webhook_reviews_total{result="injected",reason="injected"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn errors_admit_unchanged_or_answer_400() {
    let s = start().await;
    let mut c = HttpsClient::connect(s.addr, HOST, &s.ca).await.unwrap();
    // Not JSON, not an AdmissionReview, no uid: 400.
    let (status, _) = c.request("POST", "/mutate", b"{oops".to_vec()).await;
    assert_eq!(status, 400);
    let (status, _) = post(&mut c, &json!({"kind": "Pod", "apiVersion": "v1"})).await;
    assert_eq!(status, 400);
    let mut no_uid = review(&pod_json(json!([])));
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    assert_eq!(post(&mut c, &no_uid).await.0, 400);

    // Another API version: allowed, unchanged.
    let mut v1beta1 = review(&pod_json(json!([container("app", Value::Null)])));
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (status, resp) = post(&mut c, &v1beta1).await;
    assert_eq!(status, 200);
    assert_eq!(resp["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(resp["response"]["allowed"], true);
    assert!(resp["response"].get("patch").is_none());

    // Not a valid pod: allowed, with the status annotation only.
    let mut object = pod_json(json!([container("app", Value::Null)]));
    object["spec"]["containers"] = json!("not a list");
    let (status, resp) = post(&mut c, &review(&object)).await;
    assert_eq!(status, 200);
    assert_eq!(resp["response"]["allowed"], true);
    let patched = apply(&object, &patch_ops(&resp));
    let st = patched["metadata"]["annotations"]["instrumentation.oneagent.io/status"]
        .as_str()
        .unwrap();
    assert!(
        st.starts_with("skipped: invalid request: object is not a pod"),
        "{st}"
    );

    // An UPDATE or another resource: allowed, unchanged.
    let mut update = review(&pod_json(json!([container("app", Value::Null)])));
    update["request"]["operation"] = json!("UPDATE");
    let (status, resp) = post(&mut c, &update).await;
    assert_eq!((status, resp["response"].get("patch")), (200, None));

    // A pod without containers: allowed with `skipped: pod has no containers`.
    let object = pod_json(json!([]));
    let (_, resp) = post(&mut c, &review(&object)).await;
    let patched = apply(&object, &patch_ops(&resp));
    assert_eq!(
        patched["metadata"]["annotations"]["instrumentation.oneagent.io/status"],
        "skipped: pod has no containers"
    );

    let (_, metrics) = c.request("GET", "/metrics", Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(r#"result="bad-request",reason="not-admission-review"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"result="skipped",reason="no-containers"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn reloads_tls_files_when_they_change() {
    let s = start().await;
    let fresh = certs::generate(&certs::service_dns_names("oneagent-webhook", "oneagent")).unwrap();
    // Before the change, the new CA is not trusted by the server's certificate.
    assert!(
        HttpsClient::connect(s.addr, HOST, &fresh.ca_cert)
            .await
            .is_err()
    );
    certs::write(&fresh, s.dir.path()).unwrap();
    let mut ok = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(mut c) = HttpsClient::connect(s.addr, HOST, &fresh.ca_cert).await {
            let (status, _) = c.request("GET", "/healthz", Vec::new()).await;
            ok = status == 200;
            break;
        }
    }
    assert!(ok, "the server never presented the new certificate");
    // The old CA no longer verifies the server.
    assert!(HttpsClient::connect(s.addr, HOST, &s.ca).await.is_err());
}
