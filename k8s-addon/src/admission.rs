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
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

#[derive(Serialize)]
struct ReviewOut<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(rename = "patchType", skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

fn answer(api_version: &str, uid: &str, ops: &[Value], outcome: Outcome) -> Answer {
    let patch = (!ops.is_empty())
        .then(|| serde_json::to_vec(ops).ok())
        .flatten()
        .map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    let review = ReviewOut {
        api_version,
        kind: "AdmissionReview",
        response: ResponseOut {
            uid,
            allowed: true,
            patch_type: patch.is_some().then_some("JSONPatch"),
            patch,
        },
    };
    Answer {
        status: 200,
        body: serde_json::to_vec(&review).unwrap_or_default(),
        outcome,
    }
}

/// The parts of an AdmissionReview we read. The pod stays raw JSON until it is deserialised
/// once, straight into a [`Pod`] (no intermediate `Value` tree, no copy); small fields are
/// `Value`s so that a wrong type is judged by the same rules as a missing field.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    kind: Value,
    #[serde(default, rename = "apiVersion")]
    api_version: Value,
    #[serde(default, borrow)]
    request: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(default)]
    uid: Value,
    #[serde(default)]
    kind: Value,
    #[serde(default)]
    operation: Value,
    #[serde(default, rename = "subResource")]
    sub_resource: Value,
    #[serde(default)]
    namespace: Value,
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
}

/// Whether the object has `metadata`, and `metadata.annotations`, as JSON objects (for the
/// status annotation's JSONPatch): a scan of the raw JSON that builds nothing.
fn metadata_shape(object: Option<&RawValue>) -> (bool, bool) {
    #[derive(Deserialize)]
    struct Shape<'a> {
        #[serde(default, borrow)]
        metadata: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(default, borrow)]
        annotations: Option<&'a RawValue>,
    }
    let is_object = |v: &RawValue| v.get().starts_with('{');
    let Some(meta) = object
        .filter(|o| is_object(o))
        .and_then(|o| serde_json::from_str::<Shape<'_>>(o.get()).ok())
        .and_then(|s| s.metadata)
        .filter(|m| is_object(m))
    else {
        return (false, false);
    };
    let annotations = serde_json::from_str::<Meta<'_>>(meta.get())
        .ok()
        .and_then(|m| m.annotations)
        .is_some_and(is_object);
    (true, annotations)
}

/// Handles one request body. Pure but for `lookup`; never panics outward.
pub fn review(body: &[u8], lookup: &dyn OwnerLookup, config: &InjectConfig) -> Answer {
    let Ok(doc) = serde_json::from_slice::<Envelope<'_>>(body) else {
        return bad("body is not JSON");
    };
    if doc.kind.as_str() != Some("AdmissionReview") {
        return bad("not an AdmissionReview");
    }
    let Some(request) = doc
        .request
        .filter(|r| r.get().starts_with('{'))
        .and_then(|r| serde_json::from_str::<Request<'_>>(r.get()).ok())
    else {
        return bad("AdmissionReview without request");
    };
    let Some(uid) = request.uid.as_str() else {
        return bad("AdmissionReview request without uid");
    };
    let api_version = doc.api_version.as_str().unwrap_or(API_VERSION);
    if api_version != API_VERSION {
        return answer(
            api_version,
            uid,
            &[],
            Outcome::Ignored("unsupported-version"),
        );
    }
    let kind = request.kind.get("kind").and_then(Value::as_str);
    let group = request.kind.get("group").and_then(Value::as_str);
    if kind != Some("Pod") || group.is_some_and(|g| !g.is_empty()) {
        return answer(api_version, uid, &[], Outcome::Ignored("not-pod"));
    }
    if request.operation.as_str() != Some("CREATE") {
        return answer(api_version, uid, &[], Outcome::Ignored("not-create"));
    }
    if request.sub_resource.as_str().is_some_and(|s| !s.is_empty()) {
        return answer(api_version, uid, &[], Outcome::Ignored("subresource"));
    }
    let object = request.object;
    let skipped = |skip: Skip| {
        let (has_metadata, has_annotations) = metadata_shape(object);
        let ops = if has_metadata {
            decide::skip_ops(has_annotations, &skip)
        } else {
            Vec::new()
        };
        answer(api_version, uid, &ops, Outcome::Skipped(skip))
    };
    let parsed = match object {
        Some(raw) => serde_json::from_str::<Pod>(raw.get()),
        None => serde_json::from_value::<Pod>(Value::Null),
    };
    let pod = match parsed {
        Ok(p) => p,
        Err(e) => return skipped(Skip::InvalidRequest(format!("object is not a pod: {e}"))),
    };
    let namespace = request
        .namespace
        .as_str()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owner::MapLookup;

    fn run(doc: &Value) -> (Answer, Value) {
        let lookup = MapLookup::default().with_namespace("shop", &[(crate::LABEL_ENABLED, "true")]);
        let a = review(
            &serde_json::to_vec(doc).unwrap_or_default(),
            &lookup,
            &InjectConfig::default(),
        );
        let body: Value = serde_json::from_slice(&a.body).unwrap_or_default();
        (a, body)
    }

    fn envelope(object: Value) -> Value {
        json!({"kind": "AdmissionReview", "apiVersion": API_VERSION,
               "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                           "operation": "CREATE", "namespace": "shop", "object": object}})
    }

    fn ops(body: &Value) -> Vec<Value> {
        body.pointer("/response/patch")
            .and_then(Value::as_str)
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .and_then(|p| serde_json::from_slice(&p).ok())
            .unwrap_or_default()
    }

    #[test]
    fn what_is_not_an_admission_review_is_400() {
        for doc in [
            json!([1, 2]),
            json!("AdmissionReview"),
            json!({"kind": "AdmissionReview", "request": "x"}),
            json!({"kind": "AdmissionReview", "request": {"uid": 7}}),
            json!({"kind": 1, "request": {"uid": "u"}}),
        ] {
            assert_eq!(run(&doc).0.status, 400, "{doc}");
        }
    }

    #[test]
    fn the_status_annotation_patch_follows_the_objects_shape() {
        // No metadata at all: nothing can be patched.
        let (a, body) = run(&envelope(json!({"spec": {"containers": []}})));
        assert_eq!(a.status, 200);
        assert!(ops(&body).is_empty(), "{body}");
        // Metadata without annotations (or with `null`): the whole map is added.
        for meta in [
            json!({"name": "p"}),
            json!({"name": "p", "annotations": null}),
        ] {
            let (_, body) = run(&envelope(
                json!({"metadata": meta, "spec": {"containers": []}}),
            ));
            let ops = ops(&body);
            assert_eq!(ops.len(), 1, "{body}");
            assert_eq!(ops[0]["path"], "/metadata/annotations", "{ops:?}");
        }
        // Annotations present: one key is added.
        let (_, body) = run(&envelope(json!({"metadata": {"annotations": {"a": "b"}},
                                             "spec": {"containers": []}})));
        let ops = ops(&body);
        assert_eq!(
            ops[0]["path"],
            "/metadata/annotations/instrumentation.oneagent.io~1status"
        );
        // Not a pod, but with metadata: the status annotation still says why.
        let (a, body) = run(&envelope(
            json!({"metadata": {}, "spec": {"containers": "x"}}),
        ));
        assert!(matches!(
            a.outcome,
            Outcome::Skipped(Skip::InvalidRequest(_))
        ));
        assert_eq!(self::ops(&body).len(), 1);
        // No object: skipped, nothing to patch.
        let mut doc = envelope(Value::Null);
        doc["request"].as_object_mut().map(|r| r.remove("object"));
        let (a, body) = run(&doc);
        assert!(matches!(a.outcome, Outcome::Skipped(_)));
        assert!(self::ops(&body).is_empty());
    }

    #[test]
    fn a_namespace_of_the_wrong_type_falls_back_to_the_pods() {
        let mut doc = envelope(json!({"metadata": {"namespace": "shop"},
                                      "spec": {"containers": [{"name": "a", "image": "i"}]}}));
        doc["request"]["namespace"] = json!(42);
        let (a, _) = run(&doc);
        assert_eq!(a.status, 200);
        // `shop` (from the pod) is opted in; `default` would not be.
        assert_eq!(a.outcome, Outcome::Injected);
    }
}
