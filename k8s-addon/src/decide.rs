//! The admission decision: a pure function from the *current* pod, its workload and the
//! workload's intent to a JSONPatch (never a stored patch with stale container indexes).
//!
//! # What is injected, per container (init containers are never touched)
//!
//! * `resources.limits["oneagent.io/agents"] = "1"`: the device plugin then mounts the node's agent
//!   directory read-only at `/var/oneagent` (extended resources are requested through limits).
//! * Downward-API variables first in `env` (so later values can refer to them with `$(…)`):
//!   `ONEAGENT_K8S_POD_NAME` (`metadata.name`), `ONEAGENT_K8S_NAMESPACE` (`metadata.namespace`),
//!   `ONEAGENT_K8S_POD_UID` (`metadata.uid`), `ONEAGENT_K8S_NODE_NAME` (`spec.nodeName`),
//!   `ONEAGENT_K8S_NODE_IP` (`status.hostIP`).
//! * `OTEL_SERVICE_NAME` = the intent's service name, else the workload's name;
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` = the node agent (`http://$(ONEAGENT_K8S_NODE_IP):4318` by
//!   default); `OTEL_RESOURCE_ATTRIBUTES` += `k8s.pod.name`, `k8s.namespace.name`, `k8s.node.name`,
//!   `k8s.pod.uid`, `k8s.container.name` and `k8s.<kind>.name` (each only when the user's list lacks
//!   the key). The user's values always win: a variable the user sets (by `value` or `valueFrom`)
//!   is never replaced, lists are appended to.
//! * **Preload mode** (the default): `LD_PRELOAD=/var/oneagent/liboneagent_preload.so` and
//!   `ONEAGENT_PRELOAD_SNAPSHOT=/var/oneagent/preload.snapshot`; the preload library detects the
//!   runtime in the container at every exec and merges the agent variables itself.
//! * **Direct mode**, when the preload cannot work: the container already sets `LD_PRELOAD`, or it
//!   may gain privileges at exec — `securityContext.privileged: true`, an explicit
//!   `allowPrivilegeEscalation: true`, or added capabilities (`capabilities.add`). Those are the
//!   signs of setuid/file-capability entrypoints, for which the loader runs in secure mode
//!   (`AT_SECURE`) and ignores `LD_PRELOAD`. The runtime's variables are then set directly in the
//!   pod spec, computed by `preload/core` — its [`decide`](oneagent_preload_core::decide) (other
//!   vendors' agents, our agent already configured) and [`plan`](oneagent_preload_core::inject::plan)
//!   (append/prepend rules) over the container's own `env` — exactly as the preload would at run
//!   time. Direct mode needs the container's language from the intent; a variable the plan must
//!   extend that comes from `valueFrom` skips the container (its value is unknown here). The
//!   intent's `libc` for the container (from the node's `PT_INTERP` detection) picks .NET's
//!   `linux-musl-*` build over `linux-*` (glibc, also when the C library is not known yet).
//!
//! `envFrom` sources are not visible to the webhook: an explicit `env` entry takes precedence over
//! them in the kubelet, so a value the user sets only through `envFrom` is overridden. The status
//! annotation is `injected` when at least one container was instrumented, else `skipped: <reason>`.
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use oneagent_preload_core::inject::{self, Context, DotnetDirs, DotnetRid, EnvLookup};
use oneagent_preload_core::snapshot::SnapshotView;
use oneagent_preload_core::{
    ByteList, JavaAgentKind, Language, LanguageSet, NulList, OwnAgents, Policy, ProcessInput,
};
use serde_json::{Value, json};

use crate::intent::Intent;
use crate::owner::{Workload, opted_in_with_default};
use crate::{ANNOTATION_INTENT, ANNOTATION_STATUS, RESOURCE_NAME};

/// Settings of the mutation that are not per pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectConfig {
    /// Where the agent directory is mounted in containers.
    pub agent_dir: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for instrumented containers (may use `$(ONEAGENT_K8S_…)`).
    pub otlp_endpoint: String,
    /// `SW_AGENT_COLLECTOR_BACKEND_SERVICES` for the SkyWalking agent.
    pub skywalking_backend: String,
    /// Pods with more containers than this are skipped.
    pub max_containers: usize,
    /// Containers with more `env` entries than this are skipped.
    pub max_env: usize,
    /// Instrument workloads whose namespace and own labels say nothing (but in kube-system and
    /// the add-on's namespace): `webhook --cluster-wide`.
    pub cluster_wide: bool,
    /// Extra JVM options for direct mode (`webhook --java-option`), appended to
    /// `JAVA_TOOL_OPTIONS` after `-javaagent` as on hosts (`[injection] java_options`).
    pub java_options: Vec<String>,
    /// The agents' extra environment for direct mode (`webhook --agent-env`), snapshot entries
    /// `<runtime> <NAME>=<VALUE>` (see `oneagent_preload_core::agent_env`), as on hosts
    /// (`[injection.environment]`).
    pub environment: Vec<String>,
}

/// Parses `webhook --agent-env RUNTIME:NAME=VALUE` into a snapshot entry, with the hosts' rules.
pub fn parse_agent_env(arg: &str) -> Result<String, String> {
    let (runtime, pair) = arg
        .split_once(':')
        .ok_or_else(|| format!("{arg:?} is not RUNTIME:NAME=VALUE"))?;
    let language = oneagent_preload_core::agent_env::runtime_of(runtime.as_bytes())
        .ok_or_else(|| format!("{runtime:?} is not java, python, nodejs or dotnet"))?;
    let (name, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("{arg:?} is not RUNTIME:NAME=VALUE"))?;
    use oneagent_preload_core::agent_env::{Refusal, check, why_reserved};
    match check(language, name.as_bytes(), value.as_bytes()) {
        Ok(()) => Ok(format!("{runtime} {name}={value}")),
        Err(Refusal::Reserved) => Err(format!(
            "{name}: oneagent sets it itself ({})",
            why_reserved(name.as_bytes()).unwrap_or_default()
        )),
        Err(why) => Err(format!("{name}: {why}")),
    }
}

/// Parses `webhook --java-option OPT`: one JVM option, as `[injection] java_options` on hosts.
pub fn parse_java_option(arg: &str) -> Result<String, String> {
    if oneagent_preload_core::agent_env::java_option_ok(arg) {
        Ok(arg.to_owned())
    } else {
        Err(format!(
            "{arg:?} is not one JVM option: it must start with `-` and have no whitespace, \
             quotes or control characters"
        ))
    }
}

impl Default for InjectConfig {
    fn default() -> Self {
        Self {
            agent_dir: crate::CONTAINER_AGENT_DIR.into(),
            otlp_endpoint: "http://$(ONEAGENT_K8S_NODE_IP):4318".into(),
            skywalking_backend: "$(ONEAGENT_K8S_NODE_IP):11800".into(),
            max_containers: 64,
            max_env: 1024,
            cluster_wide: false,
            java_options: Vec::new(),
            environment: Vec::new(),
        }
    }
}

/// Everything [`decide`] needs besides the pod.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The pod's namespace (from the admission request).
    pub namespace: &'a str,
    /// The namespace's labels (`None`: unknown).
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    /// The owning workload.
    pub workload: &'a Workload,
    /// Mutation settings.
    pub config: &'a InjectConfig,
}

/// Why a pod is admitted unchanged (but for its status annotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Neither the workload nor the namespace opted in (no annotation is written).
    NotOptedIn,
    /// The workload or namespace says `false`.
    OptedOut,
    /// The pod already carries a status annotation (no annotation is written).
    AlreadyProcessed,
    /// The intent annotation cannot be used.
    InvalidIntent(String),
    /// The intent is disabled (crash-loop guard or operator).
    IntentDisabled(String),
    /// The pod has no containers.
    NoContainers,
    /// The pod is larger than the webhook handles.
    TooLarge(String),
    /// No container could be instrumented; the per-container reasons.
    NothingToInject(String),
    /// The admission request could not be used (set by the handler).
    InvalidRequest(String),
}

impl Skip {
    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NotOptedIn => "not-opted-in",
            Self::OptedOut => "opted-out",
            Self::AlreadyProcessed => "already-processed",
            Self::InvalidIntent(_) => "invalid-intent",
            Self::IntentDisabled(_) => "intent-disabled",
            Self::NoContainers => "no-containers",
            Self::TooLarge(_) => "too-large",
            Self::NothingToInject(_) => "nothing-to-inject",
            Self::InvalidRequest(_) => "invalid-request",
        }
    }

    /// Whether the pod gets a `skipped: …` status annotation.
    pub fn annotate(&self) -> bool {
        !matches!(self, Self::NotOptedIn | Self::AlreadyProcessed)
    }

    /// The status annotation's value.
    pub fn status(&self) -> String {
        format!("skipped: {self}")
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOptedIn => f.write_str("not opted in"),
            Self::OptedOut => f.write_str("opted out"),
            Self::AlreadyProcessed => f.write_str("already processed"),
            Self::InvalidIntent(e) => f.write_str(e),
            Self::IntentDisabled(r) => write!(f, "intent disabled: {r}"),
            Self::NoContainers => f.write_str("pod has no containers"),
            Self::TooLarge(what) => write!(f, "pod too large: {what}"),
            Self::NothingToInject(why) => write!(f, "no container instrumented: {why}"),
            Self::InvalidRequest(why) => write!(f, "invalid request: {why}"),
        }
    }
}

/// How a container is instrumented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `LD_PRELOAD` of our library.
    Preload,
    /// The runtime's variables set in the spec.
    Direct(Language),
}

/// The result for one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerOutcome {
    /// The container's name.
    pub name: String,
    /// `Ok(mode)` when instrumented, else why not.
    pub result: Result<Mode, String>,
}

/// The mutation of one pod.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// JSONPatch (RFC 6902) operations against the pod as admitted.
    pub ops: Vec<Value>,
    /// What happened to each container.
    pub containers: Vec<ContainerOutcome>,
}

/// Escapes a JSON pointer token.
fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The operation that sets the status annotation.
pub fn status_op(pod_has_annotations: bool, status: &str) -> Value {
    if pod_has_annotations {
        json!({"op": "add", "path": format!("/metadata/annotations/{}", pointer_token(ANNOTATION_STATUS)), "value": status})
    } else {
        json!({"op": "add", "path": "/metadata/annotations", "value": {ANNOTATION_STATUS: status}})
    }
}

/// The patch for a skipped pod: only the status annotation (or nothing, see [`Skip::annotate`]).
pub fn skip_ops(pod_has_annotations: bool, skip: &Skip) -> Vec<Value> {
    if skip.annotate() {
        vec![status_op(pod_has_annotations, &skip.status())]
    } else {
        Vec::new()
    }
}

/// Decides the mutation of a pod at CREATE. See the module documentation.
pub fn decide(pod: &Pod, inputs: &Inputs<'_>) -> Result<Patch, Skip> {
    let annotations = pod.metadata.annotations.as_ref();
    if annotations.is_some_and(|a| a.contains_key(ANNOTATION_STATUS)) {
        return Err(Skip::AlreadyProcessed);
    }
    match opted_in_with_default(
        &inputs.workload.labels,
        inputs.namespace,
        inputs.namespace_labels,
        inputs.config.cluster_wide,
    ) {
        None => return Err(Skip::NotOptedIn),
        Some(false) => return Err(Skip::OptedOut),
        Some(true) => {}
    }
    let intent = match inputs.workload.annotations.get(ANNOTATION_INTENT) {
        Some(v) => Some(Intent::parse(v).map_err(Skip::InvalidIntent)?),
        None => None,
    };
    if let Some(reason) = intent.as_ref().and_then(|i| i.disabled.clone()) {
        return Err(Skip::IntentDisabled(reason));
    }
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    if containers.is_empty() {
        return Err(Skip::NoContainers);
    }
    if containers.len() > inputs.config.max_containers {
        return Err(Skip::TooLarge(format!(
            "{} containers (at most {})",
            containers.len(),
            inputs.config.max_containers
        )));
    }
    let service = intent
        .as_ref()
        .and_then(|i| i.service.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| inputs.workload.name.clone());
    let java_agent = intent
        .as_ref()
        .and_then(|i| JavaAgentKind::parse(i.agent.as_bytes()))
        .unwrap_or(JavaAgentKind::OpenTelemetry);

    let mut ops = Vec::new();
    let mut outcomes = Vec::with_capacity(containers.len());
    for (index, c) in containers.iter().enumerate() {
        let language = intent.as_ref().and_then(|i| i.containers.get(&c.name));
        let musl = intent.as_ref().is_some_and(|i| i.musl(&c.name));
        let result = container(
            c,
            language.map(String::as_str),
            musl,
            &service,
            java_agent,
            inputs,
        );
        match result {
            Ok((mode, env)) => {
                let base = format!("/spec/containers/{index}");
                ops.push(json!({
                    "op": if c.env.is_some() { "replace" } else { "add" },
                    "path": format!("{base}/env"),
                    "value": env,
                }));
                if let Some(op) = resource_op(c, &base) {
                    ops.push(op);
                }
                outcomes.push(ContainerOutcome {
                    name: c.name.clone(),
                    result: Ok(mode),
                });
            }
            Err(why) => outcomes.push(ContainerOutcome {
                name: c.name.clone(),
                result: Err(why),
            }),
        }
    }
    if ops.is_empty() {
        let why = outcomes
            .iter()
            .filter_map(|o| Some(format!("{}: {}", o.name, o.result.as_ref().err()?)))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Skip::NothingToInject(why));
    }
    ops.push(status_op(annotations.is_some(), "injected"));
    Ok(Patch {
        ops,
        containers: outcomes,
    })
}

/// The operation requesting one `oneagent.io/agents`, if the container lacks it.
fn resource_op(c: &Container, base: &str) -> Option<Value> {
    let one = json!("1");
    match c.resources.as_ref() {
        None => Some(
            json!({"op": "add", "path": format!("{base}/resources"), "value": {"limits": {RESOURCE_NAME: one}}}),
        ),
        Some(r) => match r.limits.as_ref() {
            None => Some(
                json!({"op": "add", "path": format!("{base}/resources/limits"), "value": {RESOURCE_NAME: one}}),
            ),
            Some(l) if l.contains_key(RESOURCE_NAME) => None,
            Some(_) => Some(
                json!({"op": "add", "path": format!("{base}/resources/limits/{}", pointer_token(RESOURCE_NAME)), "value": one}),
            ),
        },
    }
}

/// Whether the container may gain privileges at exec (see the module documentation).
pub fn privileged_style(c: &Container) -> bool {
    let Some(sc) = c.security_context.as_ref() else {
        return false;
    };
    sc.privileged == Some(true)
        || sc.allow_privilege_escalation == Some(true)
        || sc
            .capabilities
            .as_ref()
            .and_then(|caps| caps.add.as_ref())
            .is_some_and(|add| !add.is_empty())
}

/// Stands for a `valueFrom` value, which the webhook cannot know.
const VALUE_FROM: &[u8] = b"\x01valueFrom";

/// The container's environment as the kubelet will resolve it: the last entry of a name wins.
struct Env {
    vars: Vec<EnvVar>,
}

impl Env {
    fn position(&self, name: &str) -> Option<usize> {
        self.vars.iter().rposition(|v| v.name == name)
    }

    fn has(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// `Some(None)`: set by `valueFrom`; `Some(Some(v))`: plain value.
    fn plain(&self, name: &str) -> Option<Option<&str>> {
        let v = self.vars.get(self.position(name)?)?;
        Some(if v.value_from.is_some() {
            None
        } else {
            Some(v.value.as_deref().unwrap_or_default())
        })
    }

    fn set_default(&mut self, name: &str, value: &str) {
        if !self.has(name) {
            self.vars.push(plain(name, value));
        }
    }

    /// Sets a plain value, in place when the variable exists.
    fn set(&mut self, name: &str, value: String) {
        match self.position(name).and_then(|i| self.vars.get_mut(i)) {
            Some(v) => {
                v.value = Some(value);
                v.value_from = None;
            }
            None => self.vars.push(plain(name, &value)),
        }
    }

    /// `NAME=value` entries (last of a name wins; `valueFrom` → a placeholder) for preload/core.
    fn entries(&self) -> Vec<Vec<u8>> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(self.vars.len());
        for v in self.vars.iter().rev() {
            if !seen.insert(v.name.as_str()) {
                continue;
            }
            let mut e = v.name.as_bytes().to_vec();
            e.push(b'=');
            if v.value_from.is_some() {
                e.extend_from_slice(VALUE_FROM);
            } else {
                e.extend_from_slice(v.value.as_deref().unwrap_or_default().as_bytes());
            }
            out.push(e);
        }
        out.reverse();
        out
    }
}

impl EnvLookup for Env {
    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        let name = std::str::from_utf8(name).ok()?;
        match self.plain(name)? {
            None => Some(VALUE_FROM),
            Some(v) => Some(v.as_bytes()),
        }
    }
}

fn plain(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn field_ref(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".into()),
                field_path: path.into(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// The downward-API variables placed first in `env`.
pub const DOWNWARD_VARS: [(&str, &str); 5] = [
    ("ONEAGENT_K8S_POD_NAME", "metadata.name"),
    ("ONEAGENT_K8S_NAMESPACE", "metadata.namespace"),
    ("ONEAGENT_K8S_POD_UID", "metadata.uid"),
    ("ONEAGENT_K8S_NODE_NAME", "spec.nodeName"),
    ("ONEAGENT_K8S_NODE_IP", "status.hostIP"),
];

/// Whether the `k=v,k=v` list has `key`.
fn has_attr(list: &str, key: &str) -> bool {
    list.split(',')
        .any(|pair| pair.split('=').next().unwrap_or_default().trim() == key)
}

/// A command line on which preload/core recognises `language`'s runtime (the image's real
/// entrypoint is unknown to the webhook; only the runtime matters for the plan).
fn synthetic_argv(language: Language) -> Option<&'static [&'static [u8]]> {
    Some(match language {
        Language::Java => &[b"java", b"-jar", b"/app/app.jar"],
        Language::Python => &[b"python3", b"/app/main.py"],
        Language::NodeJs => &[b"node", b"/app/index.js"],
        Language::DotNet => &[b"dotnet", b"/app/app.dll"],
        Language::Go | Language::Ruby | Language::Php => return None,
    })
}

/// Computes one container's new `env`, or why it is not instrumented.
fn container(
    c: &Container,
    language: Option<&str>,
    musl: bool,
    service: &str,
    java_agent: JavaAgentKind,
    inputs: &Inputs<'_>,
) -> Result<(Mode, Vec<EnvVar>), String> {
    let cfg = inputs.config;
    let original = c.env.as_deref().unwrap_or_default();
    if original.len() > cfg.max_env {
        return Err(format!(
            "{} env entries (at most {})",
            original.len(),
            cfg.max_env
        ));
    }
    let language = match language {
        Some(name) => match Language::parse(name.as_bytes()) {
            Some(l) if LanguageSet::INJECTABLE.contains(l) => Some(l),
            Some(l) => return Err(format!("{} is report-only", l.as_str())),
            None if name == "none" || name.is_empty() => return Err("not a runtime".into()),
            None => return Err(format!("unknown language {name:?}")),
        },
        None => None,
    };
    let mut env = Env {
        vars: original.to_vec(),
    };
    let direct = env.has("LD_PRELOAD") || privileged_style(c);
    if direct && language.is_none() {
        return Err(if env.has("LD_PRELOAD") {
            "LD_PRELOAD is set and the language is not known yet".into()
        } else {
            "may gain privileges at exec and the language is not known yet".into()
        });
    }

    // Downward-API variables first, so that later entries can refer to them.
    let downward: Vec<EnvVar> = DOWNWARD_VARS
        .iter()
        .filter(|(name, _)| !env.has(name))
        .map(|(name, path)| field_ref(name, path))
        .collect();
    env.vars.splice(0..0, downward);

    let skywalking =
        direct && language == Some(Language::Java) && java_agent == JavaAgentKind::SkyWalking;
    if !skywalking {
        env.set_default("OTEL_SERVICE_NAME", service);
        env.set_default("OTEL_EXPORTER_OTLP_ENDPOINT", &cfg.otlp_endpoint);
        let mut attrs = vec![
            ("k8s.pod.name", "$(ONEAGENT_K8S_POD_NAME)".to_owned()),
            ("k8s.namespace.name", "$(ONEAGENT_K8S_NAMESPACE)".to_owned()),
            ("k8s.pod.uid", "$(ONEAGENT_K8S_POD_UID)".to_owned()),
            ("k8s.node.name", "$(ONEAGENT_K8S_NODE_NAME)".to_owned()),
            ("k8s.container.name", c.name.clone()),
        ];
        if let Some(attr) = inputs.workload.kind.and_then(|k| k.otel_attribute()) {
            attrs.push((attr, inputs.workload.name.clone()));
        }
        match env.plain("OTEL_RESOURCE_ATTRIBUTES") {
            // From `valueFrom`: unknown here, and the user's value wins.
            Some(None) => {}
            Some(Some(user)) => {
                let user = user.to_owned();
                let extra: Vec<String> = attrs
                    .iter()
                    .filter(|(k, _)| !has_attr(&user, k))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !extra.is_empty() {
                    let joined = if user.trim().is_empty() {
                        extra.join(",")
                    } else {
                        format!("{user},{}", extra.join(","))
                    };
                    env.set("OTEL_RESOURCE_ATTRIBUTES", joined);
                }
            }
            None => env.set(
                "OTEL_RESOURCE_ATTRIBUTES",
                attrs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        }
    }

    let mode = match (direct, language) {
        (true, Some(language)) => {
            direct_plan(&mut env, language, musl, service, java_agent, cfg)?;
            Mode::Direct(language)
        }
        _ => {
            env.set_default(
                "ONEAGENT_PRELOAD_SNAPSHOT",
                &format!("{}/preload.snapshot", cfg.agent_dir),
            );
            env.set(
                "LD_PRELOAD",
                format!("{}/liboneagent_preload.so", cfg.agent_dir),
            );
            Mode::Preload
        }
    };
    Ok((mode, env.vars))
}

/// Sets the runtime's variables with preload/core's decision and plan over the container's env.
fn direct_plan(
    env: &mut Env,
    language: Language,
    musl: bool,
    service: &str,
    java_agent: JavaAgentKind,
    cfg: &InjectConfig,
) -> Result<(), String> {
    let argv = synthetic_argv(language).ok_or("report-only language")?;
    let dir = cfg.agent_dir.as_str();
    let java_path = format!("{dir}/agents/java/opentelemetry-javaagent.jar");
    let sw_path = format!("{dir}/agents/skywalking/skywalking-agent.jar");
    let python = format!("{dir}/agents/python");
    let node = format!("{dir}/agents/nodejs/register.js");
    let dotnet = format!("{dir}/agents/dotnet");
    let entries = env.entries();
    let entry_refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let policy = Policy {
        java_agent,
        agents: LanguageSet::INJECTABLE,
        own_agents: OwnAgents {
            java: java_path.as_bytes(),
            skywalking: sw_path.as_bytes(),
            python: python.as_bytes(),
            nodejs: node.as_bytes(),
            dotnet: dotnet.as_bytes(),
        },
        ..Policy::DEFAULT
    };
    let input = ProcessInput::new(ByteList::slices(argv), ByteList::slices(&entry_refs));
    let decision = oneagent_preload_core::decide(&input, &policy);
    if !decision.is_inject() || decision.language != Some(language) {
        return Err(format!("{} ({})", decision.reason.code(), decision.reason));
    }
    let java_options = cfg.java_options.join(" ");
    // The configured variables, but those the container defines with `valueFrom` (unknown
    // here, and its own value wins); its plain values win in the plan, as on hosts.
    let environment: Vec<u8> = cfg
        .environment
        .iter()
        .filter(|e| {
            let name = e
                .split_once(' ')
                .and_then(|(_, pair)| pair.split_once('='))
                .map_or("", |(name, _)| name);
            env.plain(name) != Some(None)
        })
        .flat_map(|e| e.bytes().chain([0]))
        .collect();
    let snap = SnapshotView {
        enabled: true,
        java_agent,
        agents: LanguageSet::INJECTABLE,
        // `[injection] python_log_correlation` is a host setting: not carried to pods yet.
        python_log_correlation: false,
        java_agent_path: java_path.as_bytes(),
        skywalking_agent_path: sw_path.as_bytes(),
        python_dir: python.as_bytes(),
        nodejs_register: node.as_bytes(),
        dotnet_home: dotnet.as_bytes(),
        otlp_endpoint: cfg.otlp_endpoint.as_bytes(),
        skywalking_backend: cfg.skywalking_backend.as_bytes(),
        // host.name/service.instance.id: the k8s.* attributes identify the instance instead.
        host_name: b"",
        report_socket: b"",
        own_agent_marker: policy.own_agent_marker,
        java_options: java_options.as_bytes(),
        environment: NulList::new(&environment),
        disabled_services: NulList::new(b""),
        enabled_services: NulList::new(b""),
        skip_executables: NulList::new(b""),
    };
    let ctx = Context {
        pid: 0,
        systemd_unit: None,
        // The node's detection knows the container's C library (the intent's `libc`); a
        // container it does not name is taken as glibc.
        dotnet_rid: DotnetRid::current(musl),
        // The variables are the pod's own configuration: children rightly inherit them.
        mark_inherited: false,
        // The agent directory is mounted from the node, out of the webhook's sight: the packaged
        // .NET agent ships both directories.
        dotnet_dirs: DotnetDirs::BOTH,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let plan = inject::plan(&decision, &snap, &ctx, env, &mut buf).map_err(|e| e.to_string())?;
    let mut sets = Vec::new();
    for a in plan.iter() {
        let name = String::from_utf8_lossy(a.name()).into_owned();
        if env.plain(&name) == Some(None) {
            return Err(format!("{name} comes from valueFrom"));
        }
        sets.push((name, String::from_utf8_lossy(a.value()).into_owned()));
    }
    for (name, value) in sets {
        env.set(&name, value);
    }
    if java_agent == JavaAgentKind::SkyWalking && language == Language::Java {
        env.set_default("SW_AGENT_NAME", service);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_style_definition() {
        let mut c = Container::default();
        assert!(!privileged_style(&c));
        c.security_context =
            Some(serde_json::from_value(json!({"allowPrivilegeEscalation": false})).unwrap());
        assert!(!privileged_style(&c));
        for sc in [
            json!({"privileged": true}),
            json!({"allowPrivilegeEscalation": true}),
            json!({"capabilities": {"add": ["NET_BIND_SERVICE"]}}),
        ] {
            c.security_context = Some(serde_json::from_value(sc.clone()).unwrap());
            assert!(privileged_style(&c), "{sc}");
        }
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(pointer_token("oneagent.io/agents"), "oneagent.io~1agents");
        assert_eq!(pointer_token("a~b"), "a~0b");
    }

    #[test]
    fn last_env_entry_wins() {
        let env = Env {
            vars: vec![plain("A", "1"), plain("B", "x"), plain("A", "2")],
        };
        assert_eq!(EnvLookup::get(&env, b"A"), Some(&b"2"[..]));
        assert_eq!(env.entries(), vec![b"B=x".to_vec(), b"A=2".to_vec()]);
    }
}
