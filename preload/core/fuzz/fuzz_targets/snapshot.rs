//! `cargo +nightly fuzz run snapshot` (from preload/core): the preload snapshot decoder on arbitrary
//! bytes. Invariants: never panics; whatever decodes re-encodes to the very same bytes; the decoded
//! view yields a policy and an environment plan without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oneagent_preload_core::inject::{self, Context, DotnetRid};
use oneagent_preload_core::snapshot::{self, SnapshotData};
use oneagent_preload_core::{ByteList, ProcessInput, decide};

fuzz_target!(|data: &[u8]| {
    let Ok(view) = snapshot::decode(data) else {
        return;
    };
    // Re-encode: byte-identical.
    let lists = [
        view.disabled_services,
        view.enabled_services,
        view.skip_executables,
        view.environment,
    ];
    let collected: Vec<Vec<&[u8]>> = lists.iter().map(|l| l.iter().collect()).collect();
    let again = SnapshotData {
        enabled: view.enabled,
        java_agent: view.java_agent,
        agents: view.agents,
        python_log_correlation: view.python_log_correlation,
        java_agent_path: view.java_agent_path,
        skywalking_agent_path: view.skywalking_agent_path,
        python_dir: view.python_dir,
        nodejs_register: view.nodejs_register,
        dotnet_home: view.dotnet_home,
        otlp_endpoint: view.otlp_endpoint,
        skywalking_backend: view.skywalking_backend,
        host_name: view.host_name,
        report_socket: view.report_socket,
        own_agent_marker: view.own_agent_marker,
        java_options: view.java_options,
        environment: &collected[3],
        disabled_services: &collected[0],
        enabled_services: &collected[1],
        skip_executables: &collected[2],
    };
    let mut out = vec![0u8; snapshot::MAX_SNAPSHOT];
    let n = snapshot::encode(&again, &mut out).expect("a decoded snapshot re-encodes");
    assert_eq!(&out[..n], data, "re-encoding differs");

    // The policy and a plan for a few runtimes.
    let policy = view.policy();
    let ctx = Context {
        pid: 4242,
        systemd_unit: Some(b"shop.service"),
        dotnet_rid: DotnetRid::current(false),
    };
    let env: &[&[u8]] = &[
        b"PYTHONPATH=/srv",
        b"JAVA_TOOL_OPTIONS=-Xmx1g",
        b"NODE_OPTIONS=--x",
    ];
    for argv in [
        &[&b"python3"[..], b"app.py"][..],
        &[&b"java"[..], b"-jar", b"/srv/a.jar"][..],
        &[&b"node"[..], b"server.js"][..],
        &[&b"dotnet"[..], b"App.dll"][..],
    ] {
        let input = ProcessInput::new(ByteList::slices(argv), ByteList::slices(env));
        let d = decide(&input, &policy);
        let mut buf = vec![0u8; 4096];
        if let Ok(plan) = inject::plan(&d, &view, &ctx, &ByteList::slices(env), &mut buf) {
            for a in plan.iter() {
                assert_eq!(a.value_with_nul().last(), Some(&0));
                assert!(!a.value().contains(&0));
            }
        }
        if let Some(lang) = d.language {
            let _ = inject::agent_files(lang, &view, ctx.dotnet_rid);
        }
    }
});
