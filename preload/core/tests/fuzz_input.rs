//! Runs the fuzz target's logic on a few seeds, so it compiles and holds on stable.

#[path = "../fuzz/common/split.rs"]
mod split;

#[test]
fn fuzz_seeds() {
    let seeds: &[&[u8]] = &[
        b"",
        b"\x1e",
        b"\x00\x1ejava\0-jar\0app.jar\0\x1eJAVA_TOOL_OPTIONS=-javaagent:/x.jar\x1e0::/system.slice/a.service\x1e/usr/bin/java",
        b"\x01\x1epython3\0-m\0\x1ePYTHONPATH=ddtrace\x1e\x1e/usr/bin/python3.11\x1elibpython3.11.so\x1e/srv\x1epkg",
        b"\xff\x1egunicorn: master [x]\x1e\xff\xfe\x1e0::/kubepods/pod12345678-1234-1234-1234-123456789012/abc\x1e\x1e\x1e",
        b"\x02\x1e/app/x\x1e\x1e\x1e/app/x\x1e\x1ego1.22",
        b"\x00\x1edotnet\0exec\0--runtimeconfig\0x.json\0App.dll\x1e{\"runtimeOptions\":{\"tfm\":\"net6.0\",\"framework\":{\"name\":\"Microsoft.NETCore.App\"}}}\x1e\x1e/usr/share/dotnet/dotnet\x1e\x1enet48",
        b"\x80\x1edotnet\0App.dll\x1e\"OpenTelemetry/1\x1e\x1e/usr/bin/dotnet\x1e\x1e\"tfm\":",
        b"\x00\x1ejava\0-jar\0a.jar\x1eDD_TRACE_AGENT_URL=x\0DD_TRACE_ENABLED=false\0NEW_RELIC_KEY=1\0LD_PRELOAD=/opt/datadog/x.so\x1e\x1e/usr/bin/java",
    ];
    for seed in seeds {
        split::run(seed);
    }
}
