//! AdmissionReview v1 on the wire, around [`decide`](crate::decide::decide): parse, decide,
//! serialise. Written from the `admission.k8s.io/v1` API reference.
//!
//! * A body that is not JSON, not `kind: AdmissionReview`, or without `request.uid` → 400 (the only
//!   error status the webhook ever sends).
//! * Everything else is answered 200 with `allowed: true`: another API version, an operation or
//!   resource we do not mutate, an object that is not a valid pod, any decision error (then the
//!   patch carries only the `skipped: <reason>` status annotation), even a panic in the decision.
use std::time::Instant;

use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::decide::{self, InjectConfig, Inputs, Skip};
use crate::owner::{self, OwnerLookup};

/// The API version we register for.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// How one review ended (for metrics and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// At least one container instrumented.
    Injected,
    /// Admitted unchanged but for the status annotation.
    Skipped(Skip),
    /// Not a pod CREATE (or another API version): admitted unchanged, no annotation.
    Ignored(&'static str),
    /// Not an AdmissionReview: HTTP 400.
    BadRequest(String),
}

impl Outcome {
    /// `injected`, `skipped`, `ignored` or `bad-request`.
    pub fn result_label(&self) -> &'static str {
        match self {
            Self::Injected => "injected",
            Self::Skipped(_) => "skipped",
            Self::Ignored(_) => "ignored",
            Self::BadRequest(_) => "bad-request",
        }
    }

    /// The bounded reason label.
    pub fn reason_label(&self) -> &'static str {
        match self {
            Self::Injected => "injected",
            Self::Skipped(s) => s.metric_label(),
            Self::Ignored(why) => why,
            Self::BadRequest(_) => "not-admission-review",
        }
    }
}

/// The HTTP answer to one request.
#[derive(Clone, Debug)]
pub struct Answer {
    /// 200 or 400.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// What happened.
    pub outcome: Outcome,
}

fn bad(why: impl Into<String>) -> Answer {
    let why = why.into();
    Answer {
        status: 400,
        body: serde_json::to_vec(&json!({"error": why})).unwrap_or_default(),
        outcome: Outcome::BadRequest(why),
    }
}

fn answer(api_version: &str, uid: &str, ops: &[Value], outcome: Outcome) -> Answer {
    let mut response = json!({"uid": uid, "allowed": true});
    if !ops.is_empty()
        && let Ok(patch) = serde_json::to_vec(ops)
        && let Some(obj) = response.as_object_mut()
    {
        obj.insert("patchType".into(), json!("JSONPatch"));
        obj.insert(
            "patch".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(patch)),
        );
    }
    let review =
        json!({"apiVersion": api_version, "kind": "AdmissionReview", "response": response});
    Answer {
        status: 200,
        body: serde_json::to_vec(&review).unwrap_or_default(),
        outcome,
    }
}

/// Handles one request body. Pure but for `lookup`; never panics outward.
pub fn review(body: &[u8], lookup: &dyn OwnerLookup, config: &InjectConfig) -> Answer {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return bad("body is not JSON");
    };
    if doc.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return bad("not an AdmissionReview");
    }
    let Some(request) = doc.get("request").filter(|r| r.is_object()) else {
        return bad("AdmissionReview without request");
    };
    let Some(uid) = request.get("uid").and_then(Value::as_str) else {
        return bad("AdmissionReview request without uid");
    };
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(API_VERSION);
    if api_version != API_VERSION {
        return answer(
            api_version,
            uid,
            &[],
            Outcome::Ignored("unsupported-version"),
        );
    }
    let kind = request.pointer("/kind/kind").and_then(Value::as_str);
    let group = request.pointer("/kind/group").and_then(Value::as_str);
    let operation = request.get("operation").and_then(Value::as_str);
    if kind != Some("Pod") || group.is_some_and(|g| !g.is_empty()) {
        return answer(api_version, uid, &[], Outcome::Ignored("not-pod"));
    }
    if operation != Some("CREATE") {
        return answer(api_version, uid, &[], Outcome::Ignored("not-create"));
    }
    if request
        .get("subResource")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return answer(api_version, uid, &[], Outcome::Ignored("subresource"));
    }
    let object = request.get("object").cloned().unwrap_or(Value::Null);
    let has_annotations = object
        .pointer("/metadata/annotations")
        .is_some_and(Value::is_object);
    let has_metadata = object.get("metadata").is_some_and(Value::is_object);
    let skipped = |skip: Skip| {
        let ops = if has_metadata {
            decide::skip_ops(has_annotations, &skip)
        } else {
            Vec::new()
        };
        answer(api_version, uid, &ops, Outcome::Skipped(skip))
    };
    let pod: Pod = match serde_json::from_value(object) {
        Ok(p) => p,
        Err(e) => return skipped(Skip::InvalidRequest(format!("object is not a pod: {e}"))),
    };
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .or(pod.metadata.namespace.as_deref())
        .unwrap_or("default")
        .to_owned();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let workload = owner::resolve(&pod.metadata, &namespace, lookup);
        let ns_labels = lookup.namespace_labels(&namespace);
        decide::decide(
            &pod,
            &Inputs {
                namespace: &namespace,
                namespace_labels: ns_labels.as_ref(),
                workload: &workload,
                config,
            },
        )
    }));
    match result {
        Ok(Ok(patch)) => answer(api_version, uid, &patch.ops, Outcome::Injected),
        Ok(Err(skip)) => skipped(skip),
        Err(_) => skipped(Skip::InvalidRequest("internal error".into())),
    }
}

/// Times [`review`].
pub fn timed_review(
    body: &[u8],
    lookup: &dyn OwnerLookup,
    config: &InjectConfig,
) -> (Answer, std::time::Duration) {
    let start = Instant::now();
    let a = review(body, lookup, config);
    (a, start.elapsed())
}
