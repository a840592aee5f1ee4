//! Table tests of `decide()`: the patch is applied to the pod and the result inspected.
use oneagent_k8s::decide::{InjectConfig, Inputs, Mode, Patch, Skip, decide};
use oneagent_k8s::owner::{self, MapLookup, OwnerLookup, WorkloadKind};
use oneagent_preload_core::Language;
use serde_json::{Value, json};

use crate::support::*;

const STATUS: &str = "instrumentation.oneagent.io/status";

fn run(lookup: &MapLookup, pod_v: &Value) -> Result<(Patch, Value), Skip> {
    run_with(lookup, pod_v, &InjectConfig::default())
}

fn run_with(
    lookup: &MapLookup,
    pod_v: &Value,
    config: &InjectConfig,
) -> Result<(Patch, Value), Skip> {
    let p = pod(pod_v);
    let workload = owner::resolve(&p.metadata, NS, lookup);
    let ns_labels = lookup.namespace_labels(NS);
    let patch = decide(
        &p,
        &Inputs {
            namespace: NS,
            namespace_labels: ns_labels.as_ref(),
            workload: &workload,
            config,
        },
    )?;
    let patched = apply(pod_v, &patch.ops);
    // The result is still a valid pod.
    let _ = pod(&patched);
    Ok((patch, patched))
}

fn status(p: &Value) -> &str {
    p["metadata"]["annotations"][STATUS].as_str().unwrap()
}

fn app(env: Value) -> Value {
    pod_json(json!([container("app", env)]))
}

#[test]
fn deployment_preload_mode() {
    let lookup = cluster(&intent(&[("app", "java")]), &[ENABLED]);
    let (patch, p) = run(&lookup, &app(Value::Null)).unwrap();
    assert_eq!(patch.containers[0].result, Ok(Mode::Preload));
    assert_eq!(status(&p), "injected");
    let env = env_of(&p, "app");
    // Downward-API variables come first so later values can refer to them.
    assert_eq!(env[0].0, "ONEAGENT_K8S_POD_NAME");
    assert_eq!(env[0].1["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(env[3].1["fieldRef"]["fieldPath"], "spec.nodeName");
    assert_eq!(
        env_value(&p, "app", "LD_PRELOAD").unwrap(),
        "/var/oneagent/liboneagent_preload.so"
    );
    assert_eq!(
        env_value(&p, "app", "ONEAGENT_PRELOAD_SNAPSHOT").unwrap(),
        "/var/oneagent/preload.snapshot"
    );
    assert_eq!(env_value(&p, "app", "OTEL_SERVICE_NAME").unwrap(), "web");
    let attrs = env_value(&p, "app", "OTEL_RESOURCE_ATTRIBUTES").unwrap();
    for want in [
        "k8s.pod.name=$(ONEAGENT_K8S_POD_NAME)",
        "k8s.namespace.name=$(ONEAGENT_K8S_NAMESPACE)",
        "k8s.node.name=$(ONEAGENT_K8S_NODE_NAME)",
        "k8s.deployment.name=web",
        "k8s.container.name=app",
    ] {
        assert!(attrs.contains(want), "{attrs} lacks {want}");
    }
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["oneagent.io/agents"], "1");
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
}

#[test]
fn namespace_opt_in_and_replicaset_not_cached_yet() {
    // The ReplicaSet is missing from the cache: its Deployment is found by the naming convention.
    let mut lookup = cluster(&intent(&[("app", "python")]), &[]);
    lookup
        .objects
        .retain(|(k, _, _), _| *k != WorkloadKind::ReplicaSet);
    lookup = lookup.with_namespace(NS, &[ENABLED]);
    let (_, p) = run(&lookup, &app(Value::Null)).unwrap();
    assert!(
        env_value(&p, "app", "OTEL_RESOURCE_ATTRIBUTES")
            .unwrap()
            .contains("k8s.deployment.name=web")
    );
}

fn owned_pod(kind: &str, api: &str, owner: &str) -> Value {
    let mut p = app(Value::Null);
    p["metadata"]["ownerReferences"][0]["kind"] = json!(kind);
    p["metadata"]["ownerReferences"][0]["apiVersion"] = json!(api);
    p["metadata"]["ownerReferences"][0]["name"] = json!(owner);
    p["metadata"]["generateName"] = json!(format!("{owner}-"));
    p
}

#[test]
fn statefulset_daemonset_job_cronjob() {
    let i = intent(&[("app", "nodejs")]);
    let ann = [("instrumentation.oneagent.io/intent", i.as_str())];
    let lookup = MapLookup::default()
        .with_namespace(NS, &[])
        .with(WorkloadKind::StatefulSet, meta("db", &[ENABLED], &ann))
        .with(WorkloadKind::DaemonSet, meta("agent", &[ENABLED], &ann))
        .with(WorkloadKind::Job, meta("once", &[ENABLED], &ann))
        .with(
            WorkloadKind::Job,
            owned_by(
                meta("nightly-29000000", &[], &[]),
                "CronJob",
                "batch/v1",
                "nightly",
            ),
        )
        .with(WorkloadKind::CronJob, meta("nightly", &[ENABLED], &ann));
    for (kind, api, owner, attr) in [
        ("StatefulSet", "apps/v1", "db", "k8s.statefulset.name=db"),
        ("DaemonSet", "apps/v1", "agent", "k8s.daemonset.name=agent"),
        ("Job", "batch/v1", "once", "k8s.job.name=once"),
        (
            "Job",
            "batch/v1",
            "nightly-29000000",
            "k8s.cronjob.name=nightly",
        ),
    ] {
        let (_, p) = run(&lookup, &owned_pod(kind, api, owner)).unwrap();
        let attrs = env_value(&p, "app", "OTEL_RESOURCE_ATTRIBUTES").unwrap();
        assert!(attrs.contains(attr), "{kind}/{owner}: {attrs}");
        let service = env_value(&p, "app", "OTEL_SERVICE_NAME").unwrap();
        assert!(owner.starts_with(&service), "{service}");
    }
}

#[test]
fn bare_pod_opted_in_by_its_own_label() {
    let mut p = app(Value::Null);
    p["metadata"] = json!({"name": "debug", "namespace": NS,
        "labels": {"instrumentation.oneagent.io/enabled": "true"}});
    let lookup = MapLookup::default().with_namespace(NS, &[]);
    let (_, patched) = run(&lookup, &p).unwrap();
    assert_eq!(
        env_value(&patched, "app", "OTEL_SERVICE_NAME").unwrap(),
        "debug"
    );
    assert_eq!(status(&patched), "injected");
}

#[test]
fn user_env_wins_and_lists_are_merged() {
    let lookup = cluster(&intent(&[("app", "java")]), &[ENABLED]);
    let env = json!([
        {"name": "OTEL_SERVICE_NAME", "value": "checkout"},
        {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "team=payments,k8s.pod.name=mine"},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "valueFrom": {"configMapKeyRef": {"name": "otel", "key": "endpoint"}}},
        {"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx1g"}
    ]);
    let (_, p) = run(&lookup, &app(env)).unwrap();
    assert_eq!(
        env_value(&p, "app", "OTEL_SERVICE_NAME").unwrap(),
        "checkout"
    );
    let attrs = env_value(&p, "app", "OTEL_RESOURCE_ATTRIBUTES").unwrap();
    assert!(
        attrs.starts_with("team=payments,k8s.pod.name=mine,"),
        "{attrs}"
    );
    assert_eq!(attrs.matches("k8s.pod.name").count(), 1, "{attrs}");
    // valueFrom kept as the user wrote it.
    let endpoint = env_of(&p, "app")
        .into_iter()
        .find(|(n, _)| n == "OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap();
    assert_eq!(endpoint.1["configMapKeyRef"]["name"], "otel");
    // Preload mode leaves JAVA_TOOL_OPTIONS to the preload at run time.
    assert_eq!(env_value(&p, "app", "JAVA_TOOL_OPTIONS").unwrap(), "-Xmx1g");
    // Every user entry is still there, in order.
    let names: Vec<String> = env_of(&p, "app").into_iter().map(|(n, _)| n).collect();
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("OTEL_SERVICE_NAME") < pos("JAVA_TOOL_OPTIONS"));
}

#[test]
fn user_ld_preload_switches_to_direct_mode() {
    let lookup = cluster(&intent(&[("app", "java")]), &[ENABLED]);
    let env = json!([
        {"name": "LD_PRELOAD", "value": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
        {"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx1g"}
    ]);
    let (patch, p) = run(&lookup, &app(env)).unwrap();
    assert_eq!(patch.containers[0].result, Ok(Mode::Direct(Language::Java)));
    assert_eq!(
        env_value(&p, "app", "LD_PRELOAD").unwrap(),
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    );
    assert_eq!(env_value(&p, "app", "ONEAGENT_PRELOAD_SNAPSHOT"), None);
    assert_eq!(
        env_value(&p, "app", "JAVA_TOOL_OPTIONS").unwrap(),
        "-Xmx1g -javaagent:/var/oneagent/agents/java/opentelemetry-javaagent.jar"
    );
    assert_eq!(
        env_value(&p, "app", "OTEL_METRICS_EXPORTER").unwrap(),
        "none"
    );
    assert_eq!(env_value(&p, "app", "OTEL_SERVICE_NAME").unwrap(), "web");
    assert_eq!(
        env_value(&p, "app", "OTEL_EXPORTER_OTLP_ENDPOINT").unwrap(),
        "http://$(ONEAGENT_K8S_NODE_IP):4318"
    );
}

#[test]
fn privileged_python_direct_mode_and_existing_pythonpath() {
    let lookup = cluster(&intent(&[("app", "python")]), &[ENABLED]);
    let mut c = container("app", json!([{"name": "PYTHONPATH", "value": "/srv/lib"}]));
    c["securityContext"] = json!({"privileged": true});
    let (_, p) = run(&lookup, &pod_json(json!([c]))).unwrap();
    assert_eq!(
        env_value(&p, "app", "PYTHONPATH").unwrap(),
        "/var/oneagent/agents/python/opentelemetry/instrumentation/auto_instrumentation:/var/oneagent/agents/python:/srv/lib"
    );
    assert_eq!(env_value(&p, "app", "LD_PRELOAD"), None);
}

#[test]
fn dotnet_direct_mode_picks_the_build_of_the_detected_libc() {
    // The intent as the controller writes it from a node's detections.
    let intent_with = |libc: Option<&str>| {
        let mut i = json!({"version": 1, "agent": "opentelemetry", "service": "web",
                           "containers": {"app": "dotnet"}});
        if let Some(l) = libc {
            i["libc"] = json!({"app": l});
        }
        i.to_string()
    };
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    };
    let user_preload = json!([{"name": "LD_PRELOAD", "value": "/usr/lib/libjemalloc.so.2"}]);
    for (libc, rid) in [
        (Some("musl"), format!("linux-musl-{arch}")),
        (Some("glibc"), format!("linux-{arch}")),
        // Not detected yet: glibc, as before.
        (None, format!("linux-{arch}")),
    ] {
        let lookup = cluster(&intent_with(libc), &[ENABLED]);
        let (patch, p) = run(&lookup, &app(user_preload.clone())).unwrap();
        assert_eq!(
            patch.containers[0].result,
            Ok(Mode::Direct(Language::DotNet)),
            "{libc:?}"
        );
        assert_eq!(
            env_value(&p, "app", "CORECLR_PROFILER_PATH").unwrap(),
            format!(
                "/var/oneagent/agents/dotnet/{rid}/OpenTelemetry.AutoInstrumentation.Native.so"
            ),
            "{libc:?}"
        );
    }
    // An intent naming a C library the webhook does not know is refused, not guessed at.
    let lookup = cluster(&intent_with(Some("bionic")), &[ENABLED]);
    let err = run(&lookup, &app(user_preload)).unwrap_err();
    assert_eq!(err.metric_label(), "invalid-intent");
    assert!(err.to_string().contains("bionic"), "{err}");
}

#[test]
fn direct_mode_stands_down_for_other_agents_and_unknown_values() {
    let lookup = cluster(&intent(&[("app", "java")]), &[ENABLED]);
    let other = json!([
        {"name": "LD_PRELOAD", "value": "/lib/libfoo.so"},
        {"name": "JAVA_TOOL_OPTIONS", "value": "-javaagent:/opt/dd/dd-java-agent.jar"}
    ]);
    let err = run(&lookup, &app(other)).unwrap_err();
    assert_eq!(err.metric_label(), "nothing-to-inject");
    assert!(err.to_string().contains("other-agent"), "{err}");

    let value_from = json!([
        {"name": "LD_PRELOAD", "value": "/lib/libfoo.so"},
        {"name": "JAVA_TOOL_OPTIONS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]);
    let err = run(&lookup, &app(value_from)).unwrap_err();
    assert!(
        err.to_string()
            .contains("JAVA_TOOL_OPTIONS comes from valueFrom"),
        "{err}"
    );

    let no_language = cluster(&intent(&[]), &[ENABLED]);
    let err = run(
        &no_language,
        &app(json!([{"name": "LD_PRELOAD", "value": "/lib/libfoo.so"}])),
    )
    .unwrap_err();
    assert!(err.to_string().contains("LD_PRELOAD is set"), "{err}");
}

/// `webhook --java-option` / `--agent-env` in direct mode: the hosts' rules (the plan of
/// preload/core): JVM options after `-javaagent` unless the container sets the same option; each
/// runtime's variables unless the container sets them (a plain value or `valueFrom`), `OTEL_*`
/// for OpenTelemetry agents and `SW_*` for SkyWalking; preload mode leaves them to the
/// containers' snapshot (the node's oneagent.toml).
#[test]
fn direct_mode_applies_the_agent_settings() {
    use oneagent_k8s::decide::{parse_agent_env, parse_java_option};
    let config = InjectConfig {
        java_options: ["-Dotel.traces.sampler=parentbased_traceidratio", "-Xss2m"]
            .map(|o| parse_java_option(o).unwrap())
            .to_vec(),
        environment: [
            "java:OTEL_INSTRUMENTATION_JDBC_ENABLED=false",
            "java:SW_AGENT_SAMPLE=100",
            "python:OTEL_TRACES_SAMPLER=always_off",
            "python:OTEL_TRACES_SAMPLER_ARG=0.5",
            "nodejs:OTEL_PROPAGATORS=tracecontext,b3",
        ]
        .map(|e| parse_agent_env(e).unwrap())
        .to_vec(),
        ..InjectConfig::default()
    };
    let ld = json!({"name": "LD_PRELOAD", "value": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"});
    let jar = "-javaagent:/var/oneagent/agents/java/opentelemetry-javaagent.jar";
    // (runtime, agent, container env, expected values; None = not set)
    type Want = &'static [(&'static str, Option<&'static str>)];
    let cases: Vec<(&str, &str, Value, String, Want)> = vec![
        (
            "java",
            "opentelemetry",
            json!([ld]),
            format!("{jar} -Dotel.traces.sampler=parentbased_traceidratio -Xss2m"),
            &[
                ("OTEL_INSTRUMENTATION_JDBC_ENABLED", Some("false")),
                ("SW_AGENT_SAMPLE", None),
                ("OTEL_TRACES_SAMPLER", None),
            ],
        ),
        (
            "java",
            "opentelemetry",
            json!([ld, {"name": "JAVA_TOOL_OPTIONS", "value": "-Xss512k"},
                   {"name": "OTEL_INSTRUMENTATION_JDBC_ENABLED", "value": "true"}]),
            format!("-Xss512k {jar} -Dotel.traces.sampler=parentbased_traceidratio"),
            &[("OTEL_INSTRUMENTATION_JDBC_ENABLED", Some("true"))],
        ),
        (
            "java",
            "skywalking",
            json!([ld]),
            "-javaagent:/var/oneagent/agents/skywalking/skywalking-agent.jar \
             -Dotel.traces.sampler=parentbased_traceidratio -Xss2m"
                .to_owned(),
            &[
                ("SW_AGENT_SAMPLE", Some("100")),
                ("OTEL_INSTRUMENTATION_JDBC_ENABLED", None),
            ],
        ),
        (
            "python",
            "opentelemetry",
            json!([ld, {"name": "OTEL_TRACES_SAMPLER_ARG",
                        "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]),
            String::new(),
            &[
                ("OTEL_TRACES_SAMPLER", Some("always_off")),
                ("OTEL_PROPAGATORS", None),
                ("JAVA_TOOL_OPTIONS", None),
            ],
        ),
        (
            "nodejs",
            "opentelemetry",
            json!([ld, {"name": "OTEL_TRACES_SAMPLER", "value": "always_on"}]),
            String::new(),
            &[
                ("OTEL_PROPAGATORS", Some("tracecontext,b3")),
                ("OTEL_TRACES_SAMPLER", Some("always_on")),
            ],
        ),
    ];
    for (i, (runtime, agent, env, jto, want)) in cases.into_iter().enumerate() {
        let intent =
            json!({"version": 1, "agent": agent, "containers": {"app": runtime}}).to_string();
        let lookup = cluster(&intent, &[ENABLED]);
        let (patch, p) = run_with(&lookup, &app(env), &config).unwrap();
        assert!(
            matches!(patch.containers[0].result, Ok(Mode::Direct(_))),
            "case {i}: {:?}",
            patch.containers[0].result
        );
        if !jto.is_empty() {
            assert_eq!(
                env_value(&p, "app", "JAVA_TOOL_OPTIONS").unwrap(),
                jto,
                "case {i}"
            );
        }
        for (name, value) in want.iter() {
            assert_eq!(
                env_value(&p, "app", name).as_deref(),
                *value,
                "case {i}: {name}"
            );
        }
        // The valueFrom entry is kept as it was, once.
        if runtime == "python" {
            let names: Vec<String> = env_of(&p, "app").into_iter().map(|(n, _)| n).collect();
            assert_eq!(
                names
                    .iter()
                    .filter(|n| *n == "OTEL_TRACES_SAMPLER_ARG")
                    .count(),
                1
            );
        }
    }
    // Preload mode: nothing of it in the pod spec (the containers' snapshot carries the node's).
    let lookup = cluster(&intent(&[("app", "python")]), &[ENABLED]);
    let (_, p) = run_with(&lookup, &app(json!([])), &config).unwrap();
    assert_eq!(env_value(&p, "app", "OTEL_TRACES_SAMPLER"), None);
    assert!(env_value(&p, "app", "LD_PRELOAD").is_some());

    // The flags' parsers refuse what hosts refuse, naming the variable.
    for (arg, says) in [
        ("python:PYTHONPATH=/x", "PYTHONPATH: not an agent variable"),
        (
            "java:OTEL_SERVICE_NAME=x",
            "OTEL_SERVICE_NAME: oneagent sets it itself",
        ),
        (
            "dotnet:LD_PRELOAD=/x.so",
            "LD_PRELOAD: oneagent sets it itself",
        ),
        ("ruby:OTEL_X=1", "\"ruby\" is not java"),
        ("python:OTEL_X", "not RUNTIME:NAME=VALUE"),
        ("OTEL_X=1", "not RUNTIME:NAME=VALUE"),
        ("python:OTEL_X=", "OTEL_X: the value must be"),
    ] {
        let err = parse_agent_env(arg).unwrap_err();
        assert!(err.contains(says), "{arg}: {err}");
    }
    assert!(parse_java_option("-Da=1 -Db=2").is_err());
    assert!(parse_java_option("Xss2m").is_err());
}

#[test]
fn multiple_containers_and_init_containers() {
    let lookup = cluster(&intent(&[("app", "java"), ("proxy", "go")]), &[ENABLED]);
    let mut p = pod_json(json!([
        container("app", Value::Null),
        container("proxy", json!([{"name": "A", "value": "b"}])),
        container("extra", Value::Null)
    ]));
    p["spec"]["initContainers"] = json!([container("migrate", Value::Null)]);
    let (patch, patched) = run(&lookup, &p).unwrap();
    let results: Vec<_> = patch.containers.iter().map(|c| c.result.clone()).collect();
    assert_eq!(results[0], Ok(Mode::Preload));
    assert_eq!(results[1], Err("go is report-only".into()));
    // A container the intent does not know yet: the preload decides at run time.
    assert_eq!(results[2], Ok(Mode::Preload));
    assert_eq!(patched["spec"]["containers"][1], p["spec"]["containers"][1]);
    assert_eq!(
        patched["spec"]["initContainers"],
        p["spec"]["initContainers"]
    );
    assert!(env_value(&patched, "extra", "LD_PRELOAD").is_some());
    assert_eq!(status(&patched), "injected");
}

#[test]
fn opted_out_and_not_opted_in() {
    // The workload's `false` wins over the namespace's `true`.
    let lookup = cluster(&intent(&[("app", "java")]), &[DISABLED]).with_namespace(NS, &[ENABLED]);
    assert_eq!(run(&lookup, &app(Value::Null)).unwrap_err(), Skip::OptedOut);
    let lookup = cluster(&intent(&[("app", "java")]), &[]);
    let err = run(&lookup, &app(Value::Null)).unwrap_err();
    assert_eq!(err, Skip::NotOptedIn);
    assert!(!err.annotate());
    // The workload's `true` wins over the namespace's `false`.
    let lookup = cluster(&intent(&[("app", "java")]), &[ENABLED]).with_namespace(NS, &[DISABLED]);
    assert!(run(&lookup, &app(Value::Null)).is_ok());
}

#[test]
fn invalid_and_disabled_intent() {
    for bad in ["{not json", r#"{"version":2}"#, r#"{"agent":"dynatrace"}"#] {
        let lookup = cluster(bad, &[ENABLED]);
        let err = run(&lookup, &app(Value::Null)).unwrap_err();
        assert_eq!(err.metric_label(), "invalid-intent", "{bad}");
        assert!(err.annotate());
    }
    let lookup = cluster(
        r#"{"version":1,"agent":"opentelemetry","containers":{},"disabled":"crash loop"}"#,
        &[ENABLED],
    );
    let err = run(&lookup, &app(Value::Null)).unwrap_err();
    assert_eq!(err.status(), "skipped: intent disabled: crash loop");
}

#[test]
fn pod_without_containers_and_already_processed() {
    let lookup = cluster(&intent(&[]), &[ENABLED]);
    assert_eq!(
        run(&lookup, &pod_json(json!([]))).unwrap_err(),
        Skip::NoContainers
    );
    let mut p = app(Value::Null);
    p["metadata"]["annotations"] = json!({STATUS: "injected"});
    assert_eq!(run(&lookup, &p).unwrap_err(), Skip::AlreadyProcessed);
}

#[test]
fn huge_pods() {
    let lookup = cluster(&intent(&[]), &[ENABLED]);
    let env: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("VAR_{i}"), "value": "x".repeat(100)}))
        .collect();
    let containers: Vec<Value> = (0..60)
        .map(|i| container(&format!("c{i}"), Value::Array(env.clone())))
        .collect();
    // Its cost is measured in `cargo bench -p oneagent-k8s --bench webhook` (huge pod), not here.
    let (patch, p) = run(&lookup, &pod_json(Value::Array(containers))).unwrap();
    assert_eq!(patch.containers.len(), 60);
    assert_eq!(env_of(&p, "c59").len(), 1000 + 5 + 5);

    let many: Vec<Value> = (0..65)
        .map(|i| container(&format!("c{i}"), Value::Null))
        .collect();
    assert_eq!(
        run(&lookup, &pod_json(Value::Array(many)))
            .unwrap_err()
            .metric_label(),
        "too-large"
    );
    let too_many_env: Vec<Value> = (0..1025)
        .map(|i| json!({"name": format!("V{i}"), "value": "1"}))
        .collect();
    let err = run(&lookup, &app(Value::Array(too_many_env))).unwrap_err();
    assert!(err.to_string().contains("1025 env entries"), "{err}");
}

#[test]
fn existing_agent_limit_and_empty_limits() {
    let lookup = cluster(&intent(&[]), &[ENABLED]);
    let mut c = container("app", Value::Null);
    c["resources"] = json!({"limits": {"oneagent.io/agents": "1"}});
    let (_, p) = run(&lookup, &pod_json(json!([c]))).unwrap();
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["limits"]["oneagent.io/agents"],
        "1"
    );
    let mut c = container("app", Value::Null);
    c.as_object_mut().unwrap().remove("resources");
    let (_, p) = run(&lookup, &pod_json(json!([c]))).unwrap();
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["limits"]["oneagent.io/agents"],
        "1"
    );
}

/// (namespace, namespace labels, workload labels, cluster_wide, expected)
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
    bool,
    Result<(), Skip>,
);

/// The cluster-wide default (`webhook --cluster-wide`): unlabelled workloads in unlabelled
/// namespaces are instrumented, but in kube-system and the add-on's namespace; a `false` label on
/// the namespace or the workload still wins, and so does a workload's `true` in a `false`
/// namespace.
#[test]
fn cluster_wide_default_table() {
    let none: &[(&str, &str)] = &[];
    let cases: [Case; 11] = [
        (NS, none, none, false, Err(Skip::NotOptedIn)),
        (NS, none, none, true, Ok(())),
        (NS, &[DISABLED], none, true, Err(Skip::OptedOut)),
        (NS, none, &[DISABLED], true, Err(Skip::OptedOut)),
        (NS, &[DISABLED], &[ENABLED], true, Ok(())),
        (NS, &[ENABLED], &[DISABLED], true, Err(Skip::OptedOut)),
        (NS, &[ENABLED], none, false, Ok(())),
        ("kube-system", none, none, true, Err(Skip::NotOptedIn)),
        ("oneagent", none, none, true, Err(Skip::NotOptedIn)),
        // An explicit label in those namespaces is still honoured (the webhook's
        // namespaceSelector keeps them away in the generated manifests anyway).
        ("kube-system", none, &[ENABLED], true, Ok(())),
        ("other", none, none, true, Ok(())),
    ];
    for (i, (namespace, ns_labels, workload_labels, cluster_wide, want)) in
        cases.into_iter().enumerate()
    {
        let lookup = MapLookup::default().with_namespace(namespace, ns_labels);
        let mut pod_v = app(Value::Null);
        pod_v["metadata"]["namespace"] = json!(namespace);
        pod_v["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        pod_v["metadata"]["labels"] = json!(
            workload_labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
        );
        let p = pod(&pod_v);
        let workload = owner::resolve(&p.metadata, namespace, &lookup);
        let ns = lookup.namespace_labels(namespace);
        let config = InjectConfig {
            cluster_wide,
            ..InjectConfig::default()
        };
        let got = decide(
            &p,
            &Inputs {
                namespace,
                namespace_labels: ns.as_ref(),
                workload: &workload,
                config: &config,
            },
        )
        .map(|_| ());
        assert_eq!(
            got, want,
            "case {i}: {namespace} {ns_labels:?} {workload_labels:?}"
        );
    }
}
