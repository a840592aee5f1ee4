//! Fixtures shared by the tests: pods and workloads shaped like the API server's, and an HTTPS
//! client.
#![allow(dead_code)]

pub mod apiserver;
pub mod bus;
pub mod client;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use oneagent_k8s::owner::{MapLookup, WorkloadKind};
use serde_json::{Value, json};

pub const NS: &str = "shop";

/// Workload metadata with labels and annotations.
pub fn meta(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> ObjectMeta {
    let map = |kv: &[(&str, &str)]| {
        (!kv.is_empty()).then(|| {
            kv.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        })
    };
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(NS.into()),
        labels: map(labels),
        annotations: map(annotations),
        uid: Some(format!("uid-{name}")),
        ..ObjectMeta::default()
    }
}

pub fn owned_by(mut m: ObjectMeta, kind: &str, api_version: &str, name: &str) -> ObjectMeta {
    m.owner_references = Some(vec![
        serde_json::from_value(json!({
            "apiVersion": api_version, "kind": kind, "name": name,
            "uid": format!("uid-{name}"), "controller": true, "blockOwnerDeletion": true
        }))
        .unwrap(),
    ]);
    m
}

pub const ENABLED: (&str, &str) = ("instrumentation.oneagent.io/enabled", "true");
pub const DISABLED: (&str, &str) = ("instrumentation.oneagent.io/enabled", "false");

pub fn intent(containers: &[(&str, &str)]) -> String {
    let c: serde_json::Map<String, Value> = containers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    json!({"version": 1, "agent": "opentelemetry", "containers": c}).to_string()
}

/// A cluster: namespace `shop` (not labelled), Deployment `web` (opted in, intent app=java) with
/// ReplicaSet `web-7d4b9c8f5`.
pub fn cluster(intent_json: &str, deploy_labels: &[(&str, &str)]) -> MapLookup {
    MapLookup::default()
        .with_namespace(NS, &[("kubernetes.io/metadata.name", NS)])
        .with(
            WorkloadKind::Deployment,
            meta(
                "web",
                deploy_labels,
                &[("instrumentation.oneagent.io/intent", intent_json)],
            ),
        )
        .with(
            WorkloadKind::ReplicaSet,
            owned_by(
                meta("web-7d4b9c8f5", &[("pod-template-hash", "7d4b9c8f5")], &[]),
                "Deployment",
                "apps/v1",
                "web",
            ),
        )
}

/// A pod as the ReplicaSet controller creates it (generateName, ownerReferences, no name yet).
pub fn pod_json(containers: Value) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "generateName": "web-7d4b9c8f5-",
            "namespace": NS,
            "creationTimestamp": null,
            "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f5",
                "uid": "6c0e4f6a-3f0c-4a8e-9d0b-2f1f2d7c1a11",
                "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": {
            "containers": containers,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {}
    })
}

pub fn container(name: &str, env: Value) -> Value {
    let mut c = json!({
        "name": name,
        "image": "registry.example/shop/web:1.4.2",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent"
    });
    if !env.is_null() {
        c["env"] = env;
    }
    c
}

pub fn pod(v: &Value) -> Pod {
    serde_json::from_value(v.clone()).unwrap()
}

/// An AdmissionReview exactly as the API server sends it for a pod CREATE.
pub fn review(object: &Value) -> Value {
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": NS,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "a9f1c0de-2b4c-4d1e-8f6a-0c9d8e7f6a5b",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                           "system:authenticated"]
            },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// Applies JSONPatch operations to a document.
pub fn apply(doc: &Value, ops: &[Value]) -> Value {
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec())).unwrap();
    let mut out = doc.clone();
    json_patch::patch(&mut out, &patch).unwrap();
    out
}

/// `name` → value (or `valueFrom`) of a container's env in a patched pod.
pub fn env_of(pod: &Value, container: &str) -> Vec<(String, Value)> {
    let containers = pod["spec"]["containers"].as_array().unwrap();
    let c = containers.iter().find(|c| c["name"] == container).unwrap();
    c["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let v = if e.get("value").is_some() {
                        e["value"].clone()
                    } else {
                        e["valueFrom"].clone()
                    };
                    (e["name"].as_str().unwrap().to_owned(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn env_value(pod: &Value, container: &str, name: &str) -> Option<String> {
    env_of(pod, container)
        .into_iter()
        .rev()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_str().map(str::to_owned))
}
