//! Issue 13: the cases peers' test suites check (the OpenTelemetry injector's, Odigos's), one
//! table per class — other vendors' agents, exact "already configured" tokens, blank values, .NET
//! applications, runtime facts, the kill switch.

use oneagent_preload_core::{
    ByteList, ExeFacts, Language, Policy, ProcessInput, Reason, decide, kill_switch_on, vendor,
};

const JAVA: &str = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java";
const PY: &str = "/usr/bin/python3.11";
const NODE: &str = "/usr/bin/node";
const DOTNET: &str = "/usr/share/dotnet/dotnet";
const JAR: &str = "/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar";
const REGISTER: &str = "/usr/lib/oneagent/agents/nodejs/register.js";
const PY_AUTO: &str =
    "/usr/lib/oneagent/agents/python/opentelemetry/instrumentation/auto_instrumentation";

/// One process of each injectable runtime: (argv, executable).
const RUNTIMES: [(&[&str], &str); 4] = [
    (&["java", "-jar", "/srv/app.jar"], JAVA),
    (&["python3", "/srv/app.py"], PY),
    (&["node", "/srv/app.js"], NODE),
    (&["dotnet", "/srv/App.dll"], DOTNET),
];

#[derive(Default)]
struct Extra<'a> {
    libs: &'a [&'a str],
    target: Option<&'a str>,
    otel_deps: bool,
    apphost: bool,
}

struct Got {
    language: Option<Language>,
    action: &'static str,
    code: &'static str,
    text: String,
    version: Option<String>,
    already: bool,
}

fn run(argv: &[&str], exe: &str, env: &[&str], extra: &Extra<'_>) -> Got {
    let argv: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
    let env: Vec<&[u8]> = env.iter().map(|s| s.as_bytes()).collect();
    let libs: Vec<&[u8]> = extra.libs.iter().map(|s| s.as_bytes()).collect();
    let input = ProcessInput {
        argv: ByteList::slices(&argv),
        env: ByteList::slices(&env),
        exe: ExeFacts {
            path: exe.as_bytes(),
            libraries: ByteList::slices(&libs),
            dotnet_apphost: extra.apphost,
            dotnet_target: extra.target.map(str::as_bytes),
            dotnet_references_otel: extra.otel_deps,
            ..ExeFacts::EMPTY
        },
        cgroup: b"",
        cwd: b"",
    };
    let d = decide(&input, &Policy::DEFAULT);
    Got {
        language: d.language,
        action: d.action.as_str(),
        code: d.reason.code(),
        text: d.reason.to_string(),
        version: d
            .runtime_version
            .map(|v| String::from_utf8_lossy(v).into_owned()),
        already: d.already_injected,
    }
}

fn plain(argv: &[&str], exe: &str, env: &[&str]) -> Got {
    run(argv, exe, env, &Extra::default())
}

/// Class 1: every vendor's documented variables stand us down, in every runtime, with the vendor
/// named; a vendor's own off switch turns its variables into no signal.
#[test]
fn other_vendors_documented_variables() {
    let rows: &[(&str, &str)] = &[
        ("DD_TRACE_AGENT_URL=http://127.0.0.1:8126", "Datadog"),
        ("DD_TRACE_SAMPLE_RATE=1", "Datadog"),
        ("DD_INJECTION_ENABLED=tracer", "Datadog"),
        ("DD_PROFILING_ENABLED=true", "Datadog"),
        ("DD_APPSEC_ENABLED=true", "Datadog"),
        ("DD_LOGS_INJECTION=true", "Datadog"),
        ("DD_RUNTIME_METRICS_ENABLED=true", "Datadog"),
        ("NEW_RELIC_LICENSE_KEY=abc", "New Relic"),
        ("NEW_RELIC_APP_NAME=shop", "New Relic"),
        ("NEWRELIC_HOME=/opt/newrelic", "New Relic"),
        ("APPDYNAMICS_CONTROLLER_HOST_NAME=ctl", "AppDynamics"),
        ("APPDYNAMICS_AGENT_APPLICATION_NAME=shop", "AppDynamics"),
        ("DT_TENANT=abc12345", "Dynatrace"),
        ("DT_CONNECTION_POINT=https://x", "Dynatrace"),
        ("DT_RELEASE_VERSION=1.2", "Dynatrace"),
        ("ELASTIC_APM_SERVER_URL=http://apm:8200", "Elastic"),
        ("ELASTIC_APM_SERVICE_NAME=shop", "Elastic"),
        ("INSTANA_AGENT_HOST=10.0.0.1", "Instana"),
        ("INSTANA_SERVICE_NAME=shop", "Instana"),
        ("SPLUNK_ACCESS_TOKEN=t", "Splunk"),
        ("SPLUNK_PROFILER_ENABLED=true", "Splunk"),
        ("SIGNALFX_SERVICE_NAME=shop", "Splunk"),
        (
            "CONTRAST__API__URL=https://app.contrastsecurity.com",
            "Contrast Security",
        ),
        (
            "CONTRAST_CONFIG_PATH=/etc/contrast.yaml",
            "Contrast Security",
        ),
        ("LUMIGO_TRACER_TOKEN=t", "Lumigo"),
        ("SCOUT_MONITOR=true", "Scout APM"),
        (
            "ApplicationInsightsAgent_EXTENSION_VERSION=~3",
            "Azure Monitor",
        ),
    ];
    let mut failures = Vec::new();
    for (var, vendor) in rows {
        let name = var.split('=').next().unwrap();
        for (argv, exe) in RUNTIMES {
            let g = plain(argv, exe, &["HOME=/root", var]);
            let want = format!("other agent present: {vendor}: {name} in the environment");
            if (g.action, g.code, g.text.as_str()) != ("skip", "other-agent", want.as_str()) {
                failures.push(format!(
                    "{var} / {exe}: {} {} {:?}",
                    g.action, g.code, g.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Tags shared with log shippers and metrics clients, and our own variables, are no signal.
#[test]
fn variables_that_are_no_other_agent() {
    for env in [
        &[
            "DD_ENV=prod",
            "DD_SERVICE=shop",
            "DD_VERSION=1",
            "DD_AGENT_HOST=10.0.0.1",
        ][..],
        &["SPLUNK_HOME=/opt/splunk"],
        &[
            "OTEL_SERVICE_NAME=shop",
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318",
            "OTEL_TRACES_EXPORTER=otlp",
        ],
        &[
            "SW_AGENT_NAME=shop",
            "SW_AGENT_COLLECTOR_BACKEND_SERVICES=oap:11800",
        ],
        &["ONEAGENT_INJECTED=service.name=web,service.instance.id=h-1"],
        // Our own library listed in LD_PRELOAD (the Kubernetes webhook's preload mode).
        &["LD_PRELOAD=/var/oneagent/liboneagent_preload.so"],
        &[
            "LD_PRELOAD=/usr/lib/oneagent/liboneagent_preload.so /usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
        ],
        // Our .NET profiler inherited by a child of another runtime.
        &[
            "CORECLR_ENABLE_PROFILING=1",
            "CORECLR_PROFILER={918728DD-259F-4A6A-AC2B-B85E1B658318}",
            "CORECLR_PROFILER_PATH=/usr/lib/oneagent/agents/dotnet/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so",
        ],
        // A vendor's own off switch.
        &["DD_TRACE_AGENT_URL=http://x:8126", "DD_TRACE_ENABLED=false"],
        &["NEW_RELIC_LICENSE_KEY=k", "NEW_RELIC_ENABLED=0"],
        &[
            "ELASTIC_APM_SERVER_URL=http://apm:8200",
            "ELASTIC_APM_ACTIVE=false",
        ],
        &["DT_TENANT=abc", "DT_AGENTACTIVE=false"],
        // Blank values.
        &["DD_TRACE_AGENT_URL=", "NEW_RELIC_LICENSE_KEY=  "],
    ] {
        for (argv, exe) in RUNTIMES {
            let g = plain(argv, exe, env);
            assert_eq!(
                (g.action, g.code),
                ("inject", "instrumentable"),
                "{env:?} {exe}: {}",
                g.text
            );
        }
    }
    // An off switch of one vendor does not hide another vendor's variables.
    let g = plain(
        &["python3", "app.py"],
        PY,
        &[
            "DD_TRACE_ENABLED=false",
            "DD_TRACE_AGENT_URL=x",
            "NEW_RELIC_LICENSE_KEY=k",
        ],
    );
    assert_eq!(
        g.text,
        "other agent present: New Relic: NEW_RELIC_LICENSE_KEY in the environment"
    );
    // Switched on explicitly, the switch itself is a signal.
    let g = plain(&["python3", "app.py"], PY, &["DD_TRACE_ENABLED=true"]);
    assert_eq!(g.code, "other-agent");
}

/// Class 1: other vendors' preloaded libraries, agent files and modules, per runtime.
#[test]
fn other_vendors_libraries_and_agent_files() {
    let rows: &[(&[&str], &str, &[&str], &str)] = &[
        // LD_PRELOAD (any runtime).
        (
            RUNTIMES[0].0,
            JAVA,
            &["LD_PRELOAD=/opt/datadog/apm/inject/inject.so"],
            "other agent present: Datadog: /opt/datadog/apm/inject/inject.so in LD_PRELOAD",
        ),
        (
            RUNTIMES[1].0,
            PY,
            &[
                "LD_PRELOAD=/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so",
            ],
            "other agent present: Datadog: /opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so in LD_PRELOAD",
        ),
        (
            RUNTIMES[2].0,
            NODE,
            &["LD_PRELOAD=/opt/dynatrace/oneagent/agent/lib64/liboneagentproc.so"],
            "other agent present: Dynatrace: /opt/dynatrace/oneagent/agent/lib64/liboneagentproc.so in LD_PRELOAD",
        ),
        (
            RUNTIMES[3].0,
            DOTNET,
            &["LD_PRELOAD=/usr/lib/opentelemetry/libotelinject.so"],
            "other agent present: OpenTelemetry: /usr/lib/opentelemetry/libotelinject.so in LD_PRELOAD",
        ),
        (
            RUNTIMES[1].0,
            PY,
            &["LD_PRELOAD=/usr/lib/oneagent/liboneagent_preload.so:/var/odigos/loader/loader.so"],
            "other agent present: Odigos: /var/odigos/loader/loader.so in LD_PRELOAD",
        ),
        // Java agents.
        (
            &[
                "java",
                "-javaagent:/opt/dd/dd-java-agent.jar",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: Datadog: -javaagent:/opt/dd/dd-java-agent.jar",
        ),
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            &["JAVA_TOOL_OPTIONS=-javaagent:/opt/appdynamics/AppServerAgent/javaagent.jar"],
            "other agent present: AppDynamics: -javaagent:/opt/appdynamics/AppServerAgent/javaagent.jar in JAVA_TOOL_OPTIONS",
        ),
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            &["JDK_JAVA_OPTIONS=-javaagent:/opt/elastic-apm-agent-1.50.0.jar"],
            "other agent present: Elastic: -javaagent:/opt/elastic-apm-agent-1.50.0.jar in JDK_JAVA_OPTIONS",
        ),
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            &["_JAVA_OPTIONS=-javaagent:/otel-auto-instrumentation-java/javaagent.jar"],
            "other agent present: OpenTelemetry: -javaagent:/otel-auto-instrumentation-java/javaagent.jar in _JAVA_OPTIONS",
        ),
        (
            &[
                "java",
                "-javaagent:/opt/splunk-otel-javaagent.jar",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: Splunk: -javaagent:/opt/splunk-otel-javaagent.jar",
        ),
        (
            &[
                "java",
                "-javaagent:/opt/contrast/contrast-agent.jar",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: Contrast Security: -javaagent:/opt/contrast/contrast-agent.jar",
        ),
        (
            &[
                "java",
                "-javaagent:/opt/applicationinsights-agent-3.5.jar",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: Azure Monitor: -javaagent:/opt/applicationinsights-agent-3.5.jar",
        ),
        (
            &[
                "java",
                "-javaagent:/opt/instana/instana-agent.jar",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: Instana: -javaagent:/opt/instana/instana-agent.jar",
        ),
        (
            &[
                "java",
                "-agentpath:/opt/dynatrace/oneagent/agent/lib64/liboneagentloader.so",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: Dynatrace: -agentpath:/opt/dynatrace/oneagent/agent/lib64/liboneagentloader.so",
        ),
        (
            &[
                "java",
                "-javaagent:/opt/acme/acme-agent.jar",
                "-jar",
                "a.jar",
            ],
            JAVA,
            &[],
            "other agent present: -javaagent:/opt/acme/acme-agent.jar",
        ),
        // Node.js modules.
        (
            &["node", "--require", "newrelic", "app.js"],
            NODE,
            &[],
            "other agent present: New Relic: newrelic",
        ),
        (
            &["node", "app.js"],
            NODE,
            &["NODE_OPTIONS=--require=elastic-apm-node/start"],
            "other agent present: Elastic: elastic-apm-node/start in NODE_OPTIONS",
        ),
        (
            &["node", "app.js"],
            NODE,
            &["NODE_OPTIONS=--import @splunk/otel/instrument"],
            "other agent present: Splunk: @splunk/otel/instrument in NODE_OPTIONS",
        ),
        (
            &["node", "app.js"],
            NODE,
            &["NODE_OPTIONS=--require /otel-auto-instrumentation-nodejs/autoinstrumentation.js"],
            "other agent present: OpenTelemetry: /otel-auto-instrumentation-nodejs/autoinstrumentation.js in NODE_OPTIONS",
        ),
        (
            &["node", "-r", "@instana/collector/src/immediate", "app.js"],
            NODE,
            &[],
            "other agent present: Instana: @instana/collector/src/immediate",
        ),
        (
            &["node", "app.js"],
            NODE,
            &["NODE_OPTIONS=-r @contrast/agent"],
            "other agent present: Contrast Security: @contrast/agent in NODE_OPTIONS",
        ),
        (
            &["node", "app.js"],
            NODE,
            &["NODE_OPTIONS=--require appdynamics"],
            "other agent present: AppDynamics: appdynamics in NODE_OPTIONS",
        ),
        // Python paths and wrappers.
        (
            &["python3", "app.py"],
            PY,
            &["PYTHONPATH=/opt/newrelic/lib/python3.11/site-packages/newrelic/bootstrap"],
            "other agent present: New Relic: /opt/newrelic/lib/python3.11/site-packages/newrelic/bootstrap in PYTHONPATH",
        ),
        (
            &["python3", "app.py"],
            PY,
            &[
                "PYTHONPATH=/srv/lib:/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation",
            ],
            "other agent present: OpenTelemetry: /otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation in PYTHONPATH",
        ),
        (
            &[
                "python3",
                "/usr/local/bin/ddtrace-run",
                "gunicorn",
                "app:app",
            ],
            PY,
            &[],
            "other agent present: Datadog: ddtrace-run",
        ),
        (
            &[
                "python3",
                "/usr/local/bin/newrelic-admin",
                "run-program",
                "python",
                "app.py",
            ],
            PY,
            &[],
            "other agent present: New Relic: newrelic-admin",
        ),
        (
            &[
                "python3",
                "/usr/local/bin/splunk-py-trace",
                "python",
                "app.py",
            ],
            PY,
            &[],
            "other agent present: Splunk: splunk-py-trace",
        ),
        // .NET profilers.
        (
            &["dotnet", "App.dll"],
            DOTNET,
            &[
                "CORECLR_ENABLE_PROFILING=1",
                "CORECLR_PROFILER={36032161-FFC0-4B61-B559-F6C5D41BAE5A}",
                "CORECLR_PROFILER_PATH=/usr/local/newrelic-dotnet-agent/libNewRelicProfiler.so",
            ],
            "other agent present: New Relic: {36032161-FFC0-4B61-B559-F6C5D41BAE5A} in CORECLR_PROFILER",
        ),
        (
            &["dotnet", "App.dll"],
            DOTNET,
            &[
                "CORECLR_ENABLE_PROFILING=1",
                "CORECLR_PROFILER={918728DD-259F-4A6A-AC2B-B85E1B658318}",
                "CORECLR_PROFILER_PATH=/otel-auto-instrumentation/linux-x64/OpenTelemetry.AutoInstrumentation.Native.so",
            ],
            "other agent present: OpenTelemetry: {918728DD-259F-4A6A-AC2B-B85E1B658318} in CORECLR_PROFILER",
        ),
        (
            &["dotnet", "App.dll"],
            DOTNET,
            &[
                "CORECLR_ENABLE_PROFILING=1",
                "CORECLR_PROFILER={11111111-2222-3333-4444-555555555555}",
                "CORECLR_PROFILER_PATH=/opt/appdynamics/dotnet/libappdprofiler.so",
            ],
            "other agent present: AppDynamics: {11111111-2222-3333-4444-555555555555} in CORECLR_PROFILER",
        ),
        (
            &["dotnet", "App.dll"],
            DOTNET,
            &["OTEL_DOTNET_AUTO_HOME=/opt/otel-dotnet"],
            "other agent present: OpenTelemetry: /opt/otel-dotnet in OTEL_DOTNET_AUTO_HOME",
        ),
        (
            &["dotnet", "App.dll"],
            DOTNET,
            &["CORECLR_PROFILER_PATH=/opt/datadog/linux-x64/Datadog.Trace.ClrProfiler.Native.so"],
            "other agent present: Datadog: /opt/datadog/linux-x64/Datadog.Trace.ClrProfiler.Native.so in CORECLR_PROFILER_PATH",
        ),
        (
            &["dotnet", "App.dll"],
            DOTNET,
            &["DD_DOTNET_TRACER_HOME=/opt/datadog"],
            "other agent present: Datadog: DD_DOTNET_TRACER_HOME in the environment",
        ),
    ];
    let mut failures = Vec::new();
    for (argv, exe, env, want) in rows {
        let g = plain(argv, exe, env);
        if (g.code, g.text.as_str()) != ("other-agent", *want) {
            failures.push(format!("{argv:?} {env:?}: {} {:?}", g.code, g.text));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Class 2: "already configured" only for whole tokens with our exact path.
#[test]
fn already_configured_is_exact() {
    let jar_bak = format!("JAVA_TOOL_OPTIONS=-Dbackup.agent={JAR}.bak");
    let jar_prop = format!("JAVA_TOOL_OPTIONS=-Dagent.path=-javaagent:{JAR}");
    let jar_ours = format!("JAVA_TOOL_OPTIONS=-Xmx1g -javaagent:{JAR}");
    let jar_args = format!("JAVA_TOOL_OPTIONS=-javaagent:{JAR}=config.file=/etc/x");
    let node_bak = format!("NODE_OPTIONS=--require {REGISTER}.bak");
    let node_other = format!("NODE_OPTIONS=--title {REGISTER}");
    let node_ours = format!("NODE_OPTIONS=-r {REGISTER}");
    let node_eq = format!("NODE_OPTIONS=--require={REGISTER} --max-old-space-size=512");
    let py_dir = "PYTHONPATH=/usr/lib/oneagent/agents/python".to_string();
    let py_near = format!("PYTHONPATH={PY_AUTO}_old");
    let py_ours = format!("PYTHONPATH=/srv/lib:{PY_AUTO}");
    let jar_arg = format!("-javaagent:{JAR}");
    let jar_bak_arg = format!("-javaagent:{JAR}.bak");
    let java_ours: &[&str] = &["java", &jar_arg, "-jar", "a.jar"];
    let java_bak: &[&str] = &["java", &jar_bak_arg, "-jar", "a.jar"];
    /// argv, executable, environment, reason code, `already_injected`.
    type Row<'a> = (&'a [&'a str], &'a str, Vec<&'a str>, &'a str, bool);
    let rows: Vec<Row<'_>> = vec![
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            vec![&jar_bak],
            "instrumentable",
            false,
        ),
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            vec![&jar_prop],
            "instrumentable",
            false,
        ),
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            vec![&jar_ours],
            "instrumentable",
            true,
        ),
        (
            &["java", "-jar", "a.jar"],
            JAVA,
            vec![&jar_args],
            "instrumentable",
            true,
        ),
        (java_ours, JAVA, vec![], "instrumentable", true),
        // Our jar's name with something appended is another jar: another agent.
        (java_bak, JAVA, vec![], "other-agent", false),
        (
            &["node", "a.js"],
            NODE,
            vec![&node_bak],
            "instrumentable",
            false,
        ),
        (
            &["node", "a.js"],
            NODE,
            vec![&node_other],
            "instrumentable",
            false,
        ),
        (
            &["node", "a.js"],
            NODE,
            vec![&node_ours],
            "instrumentable",
            true,
        ),
        (
            &["node", "a.js"],
            NODE,
            vec![&node_eq],
            "instrumentable",
            true,
        ),
        (
            &["node", "--require", REGISTER, "a.js"],
            NODE,
            vec![],
            "instrumentable",
            true,
        ),
        (
            &["python3", "a.py"],
            PY,
            vec![&py_dir],
            "instrumentable",
            false,
        ),
        (
            &["python3", "a.py"],
            PY,
            vec![&py_near],
            "instrumentable",
            false,
        ),
        (
            &["python3", "a.py"],
            PY,
            vec![&py_ours],
            "instrumentable",
            true,
        ),
    ];
    for (argv, exe, env, code, already) in rows {
        let g = plain(argv, exe, &env);
        assert_eq!(
            (g.code, g.already),
            (code, already),
            "{argv:?} {env:?}: {}",
            g.text
        );
        if already {
            assert_eq!(
                g.text,
                format!(
                    "instrumentable {} application (our agent is already configured)",
                    g.language.unwrap()
                )
            );
        }
    }
}

/// Class 3: blank values are no value (no other agent, no name, no "already configured").
#[test]
fn blank_values_are_unset() {
    for blank in ["", " ", "   ", "\t", " \t\n "] {
        for var in [
            "JAVA_TOOL_OPTIONS",
            "NODE_OPTIONS",
            "PYTHONPATH",
            "CORECLR_PROFILER",
            "CORECLR_PROFILER_PATH",
            "OTEL_DOTNET_AUTO_HOME",
            "CORECLR_ENABLE_PROFILING",
            "LD_PRELOAD",
            "OTEL_SERVICE_NAME",
        ] {
            let e = format!("{var}={blank}");
            for (argv, exe) in RUNTIMES {
                let g = plain(argv, exe, &[&e]);
                assert_eq!(
                    (g.code, g.already),
                    ("instrumentable", false),
                    "{e:?} {exe}: {}",
                    g.text
                );
            }
        }
    }
}

/// Class 4: .NET applications: target framework, OpenTelemetry references, SDK and tool
/// invocations, the user's own profiler settings.
#[test]
fn dotnet_applications() {
    let app = &["dotnet", "/srv/Orders.Api.dll"][..];
    for (target, code) in [
        ("net8.0", "instrumentable"),
        ("net9.0", "instrumentable"),
        ("net10.0", "instrumentable"),
        ("8.0.11", "instrumentable"),
        ("net6.0", "unsupported-runtime"),
        ("net7.0", "unsupported-runtime"),
        ("netcoreapp3.1", "unsupported-runtime"),
        ("net5.0", "unsupported-runtime"),
        ("6.0.36", "unsupported-runtime"),
    ] {
        let extra = Extra {
            target: Some(target),
            ..Extra::default()
        };
        let g = run(app, DOTNET, &[], &extra);
        assert_eq!(g.code, code, "{target}: {}", g.text);
        let g = run(
            &["/srv/Orders.Api"],
            "/srv/Orders.Api",
            &[],
            &Extra {
                apphost: true,
                ..extra
            },
        );
        assert_eq!(g.code, code, "apphost {target}: {}", g.text);
    }
    let g = run(
        app,
        DOTNET,
        &[],
        &Extra {
            target: Some("net6.0"),
            ..Extra::default()
        },
    );
    assert_eq!(
        g.text,
        "dotnet net6.0: not supported by our agent (.NET 8 or later)"
    );
    let g = run(
        app,
        DOTNET,
        &[],
        &Extra {
            otel_deps: true,
            ..Extra::default()
        },
    );
    assert_eq!(
        (g.code, g.text.as_str()),
        (
            "other-agent",
            "other agent present: OpenTelemetry: OpenTelemetry packages referenced by the application (its deps.json)"
        )
    );
    for (argv, code) in [
        (&["dotnet", "build"][..], "build-tool"),
        (&["dotnet", "--info"], "not-long-running"),
        (&["dotnet", "--list-runtimes"], "not-long-running"),
        (&["dotnet", "test"], "build-tool"),
        (
            &["dotnet", "tool", "install", "-g", "dotnet-ef"],
            "package-manager",
        ),
        (&["dotnet", "ef", "database", "update"], "build-tool"),
        (
            &[
                "dotnet",
                "exec",
                "/usr/share/dotnet/sdk/8.0.404/MSBuild.dll",
                "/nodemode:1",
            ],
            "build-tool",
        ),
        (
            &[
                "dotnet",
                "/usr/share/dotnet/sdk/8.0.404/Roslyn/bincore/VBCSCompiler.dll",
                "-pipename:x",
            ],
            "build-tool",
        ),
        (
            &[
                "dotnet",
                "exec",
                "--runtimeconfig",
                "t.json",
                "--depsfile",
                "t.deps.json",
                "/home/ci/.nuget/packages/microsoft.testplatform.testhost/17.8.0/lib/net8.0/testhost.dll",
                "--port",
                "1",
            ],
            "build-tool",
        ),
        (
            &[
                "dotnet",
                "/home/ci/.nuget/packages/dotnet-ef/8.0.0/tools/net8.0/any/ef.dll",
                "migrations",
            ],
            "tool",
        ),
        (
            &[
                "dotnet",
                "/home/ci/.dotnet/tools/.store/dotnet-counters/8.0.0/dotnet-counters/8.0.0/tools/net8.0/any/dotnet-counters.dll",
            ],
            "tool",
        ),
        (&["dotnet-counters", "monitor"], "tool"),
        (&["dotnet", "fsi"], "interactive"),
    ] {
        let exe = if argv[0] == "dotnet" {
            DOTNET
        } else {
            "/home/ci/.dotnet/tools/dotnet-counters"
        };
        let g = plain(argv, exe, &[]);
        assert_eq!(g.code, code, "{argv:?}: {}", g.text);
    }
    // The user's startup hooks and lists are composed with ours (inject); their profiler
    // settings stand us down, `CORECLR_ENABLE_PROFILING=0` is an opt-out.
    for (env, code) in [
        (
            &["DOTNET_STARTUP_HOOKS=/srv/hooks/MyHook.dll"][..],
            "instrumentable",
        ),
        (
            &[
                "DOTNET_ADDITIONAL_DEPS=/srv/deps",
                "DOTNET_SHARED_STORE=/srv/store",
            ],
            "instrumentable",
        ),
        (&["CORECLR_ENABLE_PROFILING=0"], "opted-out"),
        (&["CORECLR_ENABLE_PROFILING=1"], "other-agent"),
        (
            &["CORECLR_PROFILER={846F5F1C-F9AE-4B07-969E-05C26BC060D8}"],
            "other-agent",
        ),
        (
            &["CORECLR_PROFILER_PATH_64=/opt/x/profiler.so"],
            "other-agent",
        ),
        (&["OTEL_DOTNET_AUTO_HOME=/opt/otel"], "other-agent"),
        (
            &["OTEL_DOTNET_AUTO_HOME=/usr/lib/oneagent/agents/dotnet"],
            "instrumentable",
        ),
    ] {
        let g = plain(app, DOTNET, env);
        assert_eq!(g.code, code, "{env:?}: {}", g.text);
    }
}

/// Class 5: versions from the runtime's own variables and library names; two runtimes in one
/// executable; REPLs and tools reported as what they are.
#[test]
fn runtime_facts() {
    for (argv, exe, env, libs, version) in [
        (
            &["java", "-jar", "a.jar"][..],
            "/opt/java/openjdk/bin/java",
            &["JAVA_VERSION=jdk-17.0.9+9"][..],
            &[][..],
            Some("17.0.9"),
        ),
        (
            &["java", "-jar", "a.jar"],
            "/usr/local/openjdk-11/bin/java",
            &["JAVA_VERSION=11.0.16"],
            &[],
            Some("11.0.16"),
        ),
        (
            &["java", "-jar", "a.jar"],
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
            &["JAVA_VERSION=11.0.16"],
            &[],
            Some("17"),
        ),
        (
            &["python3.11", "a.py"],
            "/usr/bin/python3.11",
            &["PYTHON_VERSION=3.12.1"],
            &[],
            Some("3.11"),
        ),
        (
            &["java", "-jar", "a.jar"],
            "/opt/java/openjdk/bin/java",
            &["JAVA_VERSION=8u392"],
            &[],
            Some("8"),
        ),
        (
            &["node", "a.js"],
            "/usr/local/bin/node",
            &["NODE_VERSION=20.11.0"],
            &[],
            Some("20.11.0"),
        ),
        (
            &["node", "a.js"],
            "/usr/local/bin/node",
            &["NODE_VERSION=v22.1.0"],
            &[],
            Some("22.1.0"),
        ),
        (
            &["node20", "a.js"],
            "/usr/local/bin/node20",
            &["NODE_VERSION=18.0.0"],
            &[],
            Some("20"),
        ),
        (
            &["python3", "a.py"],
            "/usr/local/bin/python3",
            &["PYTHON_VERSION=3.12.1"],
            &[],
            Some("3.12.1"),
        ),
        (
            &["dotnet", "A.dll"],
            "/usr/share/dotnet/dotnet",
            &["DOTNET_VERSION=8.0.1"],
            &[],
            Some("8.0.1"),
        ),
        (
            &["java", "-jar", "a.jar"],
            "/opt/java/openjdk/bin/java",
            &["JAVA_VERSION=garbage"],
            &[],
            None,
        ),
        (
            &["/srv/embed"],
            "/srv/embed",
            &[],
            &["libnode.so.115", "libc.so.6"],
            Some("20"),
        ),
        (
            &["/srv/embed"],
            "/srv/embed",
            &[],
            &["libnode.so.127"],
            Some("22"),
        ),
        (
            &["/srv/embed"],
            "/srv/embed",
            &[],
            &["libruby-3.1.so.3.1"],
            Some("3.1"),
        ),
        (
            &["/srv/embed"],
            "/srv/embed",
            &[],
            &["libruby.so.3.2"],
            Some("3.2"),
        ),
        (
            &["/srv/embed"],
            "/srv/embed",
            &[],
            &["libphp8.2.so"],
            Some("8.2"),
        ),
        (
            &["/srv/embed"],
            "/srv/embed",
            &["NODE_VERSION=20.11.0"],
            &["libnode.so"],
            Some("20.11.0"),
        ),
    ] {
        let g = run(
            argv,
            exe,
            env,
            &Extra {
                libs,
                ..Extra::default()
            },
        );
        assert_eq!(g.version.as_deref(), version, "{argv:?} {env:?} {libs:?}");
    }
    for libs in [
        &[
            "libpython3.11.so.1.0",
            "/usr/lib/jvm/java-17/lib/server/libjvm.so",
        ][..],
        &["libjvm.so", "libnode.so.108"],
        &["libcoreclr.so", "libpython3.12.so.1.0", "libc.so.6"],
    ] {
        let g = run(
            &["/srv/bridge"],
            "/srv/bridge",
            &[],
            &Extra {
                libs,
                ..Extra::default()
            },
        );
        assert_eq!(
            (g.language, g.code, g.action),
            (None, "multiple-runtimes", "skip"),
            "{libs:?}"
        );
        assert!(
            g.text.starts_with("the executable embeds two runtimes ("),
            "{}",
            g.text
        );
        assert_eq!(
            oneagent_preload_core::image_language(&ExeFacts {
                path: b"/srv/bridge",
                libraries: ByteList::slices(&libs.iter().map(|s| s.as_bytes()).collect::<Vec<_>>()),
                ..ExeFacts::EMPTY
            }),
            None
        );
    }
    // The same runtime twice (libjvm and libjli) is one runtime.
    let g = run(
        &["/srv/launcher"],
        "/srv/launcher",
        &[],
        &Extra {
            libs: &["libjli.so", "libjvm.so"],
            ..Extra::default()
        },
    );
    assert_eq!(g.language, Some(Language::Java));
    for (argv, exe, language, code) in [
        (
            &["ruby", "/usr/local/bin/pry"][..],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "interactive",
        ),
        (&["pry"], "", Some(Language::Ruby), "interactive"),
        (&["irb"], "", Some(Language::Ruby), "interactive"),
        (
            &["ruby", "/usr/local/bin/irb"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "interactive",
        ),
        (
            &["ruby", "/usr/local/bin/gem", "install", "rails"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "package-manager",
        ),
        (
            &["ruby", "/usr/local/bin/rspec"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "build-tool",
        ),
        (
            &["ruby", "/usr/local/bin/rubocop"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "build-tool",
        ),
        (
            &["ruby", "/usr/local/bin/puma"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "report-only",
        ),
        (
            &["php", "/usr/local/bin/composer", "install"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "package-manager",
        ),
        (
            &["php", "vendor/bin/phpunit"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "build-tool",
        ),
        (
            &["php", "/usr/local/bin/psysh"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "interactive",
        ),
        (
            &["php", "-a"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "interactive",
        ),
        (
            &["php", "-r", "echo 1;"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "not-long-running",
        ),
        (
            &["php", "-v"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "not-long-running",
        ),
        (
            &["php", "artisan", "tinker"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "interactive",
        ),
        (
            &["php", "artisan", "serve"],
            "/usr/bin/php8.2",
            Some(Language::Php),
            "report-only",
        ),
        (
            &["ruby", "-e", "puts 1"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "not-long-running",
        ),
        (
            &["ruby", "bin/rails", "console"],
            "/usr/bin/ruby3.1",
            Some(Language::Ruby),
            "interactive",
        ),
        (
            &["python3", "/usr/local/bin/bpython"],
            PY,
            Some(Language::Python),
            "interactive",
        ),
        (
            &["python3", "-i", "app.py"],
            PY,
            Some(Language::Python),
            "interactive",
        ),
        (
            &["python3", "-im", "http.server"],
            PY,
            Some(Language::Python),
            "interactive",
        ),
    ] {
        let g = plain(argv, exe, &[]);
        assert_eq!(
            (g.language, g.code),
            (language, code),
            "{argv:?}: {}",
            g.text
        );
    }
}

/// Class 6: the kill switch's contract: blank and the false spellings leave the library on,
/// anything else turns it off (`opted-out`), whatever the runtime.
#[test]
fn kill_switch_contract() {
    let on = [
        "1", "true", "TRUE", "True", "yes", "YES", "on", "On", "y", " 1 ", "2", "disable", "always",
    ];
    let off = [
        "", " ", "\t", "0", " 0 ", "false", "FALSE", "False", "no", "No", "off", "OFF", "n", "f",
    ];
    for v in on {
        assert!(kill_switch_on(Some(v.as_bytes())), "{v:?}");
        let e = format!("ONEAGENT_PRELOAD_DISABLE={v}");
        for (argv, exe) in RUNTIMES {
            let g = plain(argv, exe, &[&e]);
            assert_eq!(
                (g.action, g.code, g.text.as_str()),
                (
                    "skip",
                    "opted-out",
                    "opted out: ONEAGENT_PRELOAD_DISABLE in the environment"
                ),
                "{v:?} {exe}"
            );
        }
    }
    for v in off {
        assert!(!kill_switch_on(Some(v.as_bytes())), "{v:?}");
        let e = format!("ONEAGENT_PRELOAD_DISABLE={v}");
        for (argv, exe) in RUNTIMES {
            assert_eq!(
                plain(argv, exe, &[&e]).code,
                "instrumentable",
                "{v:?} {exe}"
            );
        }
    }
    assert!(!kill_switch_on(None));
    // Not a runtime: still "not a runtime" (the switch matters only where we would act).
    assert_eq!(
        plain(&["ls"], "/usr/bin/ls", &["ONEAGENT_PRELOAD_DISABLE=1"]).code,
        "not-runtime"
    );
    assert!(Reason::CODES.contains(&"opted-out"));
}

/// The vendor table is documented in full (preload/lib/README.md, oneagent-preload(8)).
#[test]
fn vendor_table_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("preload/lib/README.md")).unwrap();
    let man = std::fs::read_to_string(root.join("man/oneagent-preload.8")).unwrap();
    let mut missing = Vec::new();
    for (kind, pattern, vendor) in vendor::table() {
        if !readme.contains(&format!("`{pattern}`")) {
            missing.push(format!("README: {kind} `{pattern}` ({vendor})"));
        }
        if !readme.contains(&format!("| {vendor} |")) {
            missing.push(format!("README: vendor {vendor}"));
        }
        // The man page escapes `-` as `\-` and `{`/`}` stay as they are.
        if kind != "path" && !man.contains(&pattern.replace('-', "\\-")) {
            missing.push(format!("oneagent-preload(8): {kind} {pattern} ({vendor})"));
        }
        if !man.contains(vendor) {
            missing.push(format!("oneagent-preload(8): vendor {vendor}"));
        }
    }
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}
