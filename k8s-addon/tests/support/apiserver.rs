//! A fake Kubernetes API server over real HTTP (axum on 127.0.0.1): objects stored by their REST
//! path, answered the way the API server answers — full objects and `…List`s, metadata-only
//! `PartialObjectMetadata(List)` when the client asks for them in `Accept`, JSON merge patches and
//! server-side apply, `Status` documents for errors — and every request recorded.
//!
//! Restarts (a patch of `spec.template`) start a simulated rollout: the workload's status says
//! "in progress" until it has been read `reads_until_ready` more times, then "rolled out". The
//! server counts how many workloads are rolling out at once.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: String,
    pub accept: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Value>,
    log: Vec<Recorded>,
    /// Workload path → reads left before it reports "rolled out".
    rolling: BTreeMap<String, usize>,
    never_ready: BTreeSet<String>,
    reads_until_ready: usize,
    max_rolling: usize,
    resource_version: u64,
}

#[derive(Clone)]
pub struct FakeApiServer {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

/// The REST path of a namespaced object: `/apis/apps/v1/namespaces/shop/deployments/web`.
pub fn path_of(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let name = object["metadata"]["name"].as_str().unwrap();
    let plural = format!("{}s", kind.to_lowercase());
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/{name}"),
        None => format!("{prefix}/{plural}/{name}"),
    }
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn as_metadata(object: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
           "metadata": object["metadata"].clone()})
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The status of a workload that is rolling out (`false`) or has rolled out (`true`).
fn set_rollout_status(object: &mut Value, done: bool) {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = match object["kind"].as_str().unwrap() {
        "Deployment" if done => json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas,
            "availableReplicas": replicas}),
        "Deployment" => json!({"observedGeneration": generation, "replicas": replicas + 1,
            "updatedReplicas": 1, "readyReplicas": replicas, "availableReplicas": replicas,
            "unavailableReplicas": 1}),
        "StatefulSet" if done => json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas,
            "currentReplicas": replicas, "availableReplicas": replicas}),
        "StatefulSet" => json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": 0, "readyReplicas": replicas - 1, "currentReplicas": replicas,
            "availableReplicas": replicas - 1}),
        "DaemonSet" if done => json!({"observedGeneration": generation,
            "currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberMisscheduled": 0,
            "numberReady": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}),
        "DaemonSet" => json!({"observedGeneration": generation,
            "currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberMisscheduled": 0,
            "numberReady": 2, "updatedNumberScheduled": 1, "numberAvailable": 2,
            "numberUnavailable": 1}),
        _ => return,
    };
    object["status"] = status;
}

impl FakeApiServer {
    pub async fn start() -> FakeApiServer {
        let inner = Arc::new(Mutex::new(Inner {
            reads_until_ready: 2,
            resource_version: 1000,
            ..Inner::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeApiServer { inner, addr }
    }

    /// A kube client talking plain HTTP to this server.
    pub fn client(&self) -> kube::Client {
        let url: Uri = format!("http://{}", self.addr).parse().unwrap();
        kube::Client::try_from(kube::Config::new(url)).unwrap()
    }

    /// Stores an object (workloads get a rolled-out status).
    pub fn insert(&self, mut object: Value) {
        let mut inner = self.inner.lock().unwrap();
        inner.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(inner.resource_version.to_string());
        set_rollout_status(&mut object, true);
        inner.objects.insert(path_of(&object), object);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.inner.lock().unwrap().objects.get(path).cloned()
    }

    /// After a restart, a workload reports "rolled out" on its `n`-th read.
    pub fn set_reads_until_ready(&self, n: usize) {
        self.inner.lock().unwrap().reads_until_ready = n;
    }

    /// This workload never finishes rolling out.
    pub fn never_ready(&self, path: &str) {
        self.inner
            .lock()
            .unwrap()
            .never_ready
            .insert(path.to_owned());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().log.clone()
    }

    pub fn clear_requests(&self) {
        self.inner.lock().unwrap().log.clear();
    }

    /// The most workloads that were rolling out at the same time.
    pub fn max_rolling(&self) -> usize {
        self.inner.lock().unwrap().max_rolling
    }
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_of = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let record = Recorded {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: query_map(&uri),
        content_type: header_of(header::CONTENT_TYPE),
        accept: header_of(header::ACCEPT),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    };
    let mut inner = inner.lock().unwrap();
    inner.log.push(record.clone());
    let path = record.path.clone();
    let metadata_only = record.accept.contains("as=PartialObjectMetadata");
    match method {
        Method::GET if inner.objects.contains_key(&path) => {
            if let Some(left) = inner.rolling.get_mut(&path) {
                *left = left.saturating_sub(1);
                if *left == 0 && !inner.never_ready.contains(&path) {
                    inner.rolling.remove(&path);
                    let object = inner.objects.get_mut(&path).unwrap();
                    set_rollout_status(object, true);
                }
            }
            let object = &inner.objects[&path];
            if metadata_only {
                ok(&as_metadata(object))
            } else {
                ok(object)
            }
        }
        Method::GET => {
            // A collection: the objects directly below it (cluster-wide pods: every pod).
            let items: Vec<Value> = inner
                .objects
                .iter()
                .filter(|(p, o)| {
                    let parent = p.rsplit_once('/').map(|(parent, _)| parent).unwrap();
                    let all_pods = path == "/api/v1/pods" && o["kind"] == "Pod";
                    parent == path || all_pods
                })
                .map(|(_, o)| o.clone())
                .filter(|o| match record.query.get("fieldSelector") {
                    Some(sel) => {
                        let (field, value) = sel.split_once('=').unwrap();
                        assert_eq!(field, "spec.nodeName", "unsupported field selector");
                        o["spec"]["nodeName"] == value
                    }
                    None => true,
                })
                .filter(|o| match record.query.get("labelSelector") {
                    Some(sel) => sel.split(',').all(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        o["metadata"]["labels"][k] == v
                    }),
                    None => true,
                })
                .collect();
            let Some(kind) = items
                .first()
                .map(|o| o["kind"].as_str().unwrap().to_owned())
            else {
                // An empty list of something: the kind does not matter to clients.
                let list = if metadata_only {
                    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                           "metadata": {"resourceVersion": inner.resource_version.to_string()},
                           "items": []})
                } else {
                    json!({"kind": "List", "apiVersion": "v1",
                           "metadata": {"resourceVersion": inner.resource_version.to_string()},
                           "items": []})
                };
                return ok(&list);
            };
            let list = if metadata_only {
                json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {"resourceVersion": inner.resource_version.to_string()},
                       "items": items.iter().map(as_metadata).collect::<Vec<_>>()})
            } else {
                json!({"kind": format!("{kind}List"), "apiVersion": items[0]["apiVersion"],
                       "metadata": {"resourceVersion": inner.resource_version.to_string()},
                       "items": items})
            };
            ok(&list)
        }
        Method::PATCH => {
            inner.resource_version += 1;
            let rv = inner.resource_version.to_string();
            let reads = inner.reads_until_ready;
            let Some(object) = inner.objects.get_mut(&path) else {
                let name = path.rsplit('/').next().unwrap_or_default();
                return status(404, "NotFound", format!("\"{name}\" not found"));
            };
            let patch = match record.content_type.as_str() {
                "application/merge-patch+json" => record.body.clone(),
                "application/apply-patch+yaml" => {
                    // Server-side apply of a partial object: the fields it names are merged.
                    let mut p = record.body.clone();
                    if let Some(m) = p.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    p
                }
                other => {
                    return status(415, "UnsupportedMediaType", other.to_owned());
                }
            };
            let restart = patch.pointer("/spec/template").is_some();
            merge(object, &patch);
            object["metadata"]["resourceVersion"] = json!(rv);
            if restart {
                let generation = object["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
                object["metadata"]["generation"] = json!(generation);
                set_rollout_status(object, false);
            }
            let answer = object.clone();
            if restart {
                inner.rolling.insert(path.clone(), reads.max(1));
                inner.max_rolling = inner.max_rolling.max(inner.rolling.len());
            }
            ok(&answer)
        }
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported by the fake API server"),
        ),
    }
}
