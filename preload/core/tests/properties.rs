//! Property-style tests without dependencies: a deterministic xorshift generator builds thousands
//! of random (often hostile) inputs; nothing may panic and the invariants must hold.

use std::time::{Duration, Instant};

use oneagent_preload_core::{
    ByteList, ExeFacts, Language, LanguageSet, Policy, ProcessInput, Reason, ServiceName,
    container_id, decide, image_language, pod_uid, service_name_from_unit, systemd_unit,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const VOCAB: &[&[u8]] = &[
    b"java",
    b"-jar",
    b"app-1.0.jar",
    b"-cp",
    b"-m",
    b"-version",
    b"-javaagent:",
    b"/oneagent/",
    b"-agentpath:",
    b"-D",
    b"spring.application.name=",
    b"org.apache.catalina.startup.Bootstrap",
    b"python3",
    b"python3.11",
    b"-c",
    b"-mhttp.server",
    b"-W",
    b"-X",
    b"gunicorn",
    b"uvicorn",
    b"celery",
    b"-A",
    b"manage.py",
    b"runserver",
    b"flask",
    b"run",
    b"pip",
    b"node",
    b"node20",
    b"npm",
    b"start",
    b"install",
    b"next",
    b"pm2",
    b"ProcessContainerFork.js",
    b"--require",
    b"--import",
    b"-r",
    b"dd-trace",
    b"dotnet",
    b"App.dll",
    b"--info",
    b"exec",
    b"ruby",
    b"php-fpm",
    b"go",
    b"build",
    b"bash",
    b"-",
    b"--",
    b"@",
    b":",
    b".",
    b"/",
    b"=",
    b" ",
    b"[",
    b"]",
    b"\xff",
    b"\xc3\xa9",
    b"/usr/bin/",
    b"/usr/lib/jvm/java-17/bin/",
    b"server.js",
    b"main:app",
    b"irb",
    b"pry",
    b"composer",
    b"-i",
    b"/usr/share/dotnet/sdk/8.0.100/MSBuild.dll",
    b"testhost.dll",
    b"-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar",
    b"--require=/usr/lib/oneagent/agents/nodejs/register.js",
];

const ENV_KEYS: &[&[u8]] = &[
    b"OTEL_SERVICE_NAME",
    b"OTEL_RESOURCE_ATTRIBUTES",
    b"SW_AGENT_NAME",
    b"SPRING_APPLICATION_NAME",
    b"JAVA_TOOL_OPTIONS",
    b"JDK_JAVA_OPTIONS",
    b"_JAVA_OPTIONS",
    b"NODE_OPTIONS",
    b"PYTHONPATH",
    b"CORECLR_ENABLE_PROFILING",
    b"CORECLR_PROFILER",
    b"CORECLR_PROFILER_PATH_64",
    b"FLASK_APP",
    b"DJANGO_SETTINGS_MODULE",
    b"name",
    b"pm_exec_path",
    b"PATH",
    b"LD_PRELOAD",
    b"ONEAGENT_PRELOAD_DISABLE",
    b"DD_TRACE_AGENT_URL",
    b"DD_TRACE_ENABLED",
    b"NEW_RELIC_LICENSE_KEY",
    b"NEW_RELIC_ENABLED",
    b"DT_TENANT",
    b"OTEL_DOTNET_AUTO_HOME",
    b"CORECLR_PROFILER_PATH",
    b"JAVA_VERSION",
    b"NODE_VERSION",
    b"",
];

const CGROUP_PARTS: &[&[u8]] = &[
    b"0::",
    b"1:name=systemd:",
    b"12:pids:",
    b"/system.slice/",
    b"payments.service",
    b"worker@3.service",
    b"user@1000.service",
    b"session-3.scope",
    b"/kubepods.slice/",
    b"kubepods-burstable-pod",
    b"8f1c2d3e_1a2b_4c5d_8e9f_0a1b2c3d4e5f",
    b".slice",
    b"/kubepods/besteffort/pod",
    b"docker-",
    b"cri-containerd-",
    b"crio-conmon-",
    b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    b".scope",
    b"\n",
    b"/",
    b":",
];

fn piece(rng: &mut Rng, out: &mut Vec<u8>, vocab: &[&[u8]]) {
    if rng.chance(70) {
        out.extend_from_slice(vocab[rng.below(vocab.len())]);
    } else {
        for _ in 0..rng.below(8) {
            out.push(rng.next() as u8);
        }
    }
}

fn entries(rng: &mut Rng, count: usize, vocab: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        for _ in 0..=rng.below(3) {
            piece(rng, &mut out, vocab);
        }
        if i + 1 < count || rng.chance(50) {
            out.push(0);
        }
    }
    out
}

fn env(rng: &mut Rng, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..count {
        out.extend_from_slice(ENV_KEYS[rng.below(ENV_KEYS.len())]);
        if rng.chance(90) {
            out.push(b'=');
        }
        for _ in 0..rng.below(4) {
            piece(rng, &mut out, VOCAB);
            if rng.chance(30) {
                out.push(b' ');
            }
        }
        out.push(0);
    }
    out
}

fn check_invariants(input: &ProcessInput<'_>, policy: &Policy<'_>) {
    let d = decide(input, policy);
    let name = d.service_name.as_bytes();
    assert!(name.len() <= ServiceName::MAX_LEN);
    assert!(
        name.iter().all(|&b| b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'.' | b'_' | b'-')),
        "{name:?}"
    );
    assert!(!name.is_empty());
    if d.language.is_some() {
        assert!(!name.is_empty());
    }
    assert_eq!(d.is_inject(), d.reason.code() == "instrumentable");
    assert!(Reason::CODES.contains(&d.reason.code()));
    assert!(
        !(d.is_inject() && d.language.is_some_and(Language::is_report_only)),
        "report-only language injected"
    );
    let text = d.reason.to_string();
    assert!(!text.is_empty());
    assert!(!text.chars().any(char::is_control));
    let _ = format!("{d:?}");
}

fn check_cgroup(cgroup: &[u8]) {
    if let Some(unit) = systemd_unit(cgroup) {
        assert!(unit.ends_with(b".service"));
        if let Some(name) = service_name_from_unit(unit) {
            assert!(!name.is_empty());
        }
    }
    if let Some(id) = container_id(cgroup) {
        assert_eq!(id.len(), 64);
    }
    if let Some(uid) = pod_uid(cgroup) {
        assert!(uid.as_str().len() >= 32);
        assert!(!uid.as_str().contains('_'));
    }
}

#[test]
fn random_inputs_hold_invariants() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let policies = [
        Policy::DEFAULT,
        Policy {
            enabled: false,
            agents: LanguageSet::EMPTY.with(Language::Python),
            ..Policy::DEFAULT
        },
    ];
    for _ in 0..5000 {
        let n = rng.below(12);
        let argv = entries(&mut rng, n, VOCAB);
        let n = rng.below(12);
        let environ = env(&mut rng, n);
        let mut cgroup = Vec::new();
        for _ in 0..rng.below(10) {
            piece(&mut rng, &mut cgroup, CGROUP_PARTS);
        }
        let mut exe = Vec::new();
        if rng.chance(60) {
            piece(&mut rng, &mut exe, VOCAB);
            piece(&mut rng, &mut exe, VOCAB);
        }
        let n = rng.below(3);
        let libs = entries(
            &mut rng,
            n,
            &[
                b"libjvm.so",
                b"libpython3.11.so.1.0",
                b"libhostfxr.so",
                b"/8.0.1/libcoreclr.so",
                b"libc.so.6",
            ],
        );
        let mut input = ProcessInput::new(ByteList::nul(&argv), ByteList::nul(&environ));
        input.exe = ExeFacts {
            path: &exe,
            libraries: ByteList::nul(&libs),
            go_build_info: rng.chance(10),
            go_version: rng.chance(10).then_some(&b"go1.22"[..]),
            dotnet_apphost: rng.chance(5),
            declared_name: rng.chance(20).then_some((
                &argv[..argv.len().min(9)],
                if rng.chance(2) {
                    oneagent_preload_core::ServiceNameSource::PyProject
                } else {
                    oneagent_preload_core::ServiceNameSource::PackageJson
                },
            )),
            dotnet_target: rng.chance(10).then_some(&b"net6.0"[..]),
            dotnet_references_otel: rng.chance(10),
        };
        input.cgroup = &cgroup;
        input.cwd = if rng.chance(50) { &exe } else { b"" };
        for policy in &policies {
            check_invariants(&input, policy);
        }
        check_cgroup(&cgroup);
    }
}

#[test]
fn random_slices_hold_invariants() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let owned: Vec<Vec<u8>> = (0..rng.below(10))
            .map(|_| {
                let mut v = Vec::new();
                for _ in 0..=rng.below(3) {
                    piece(&mut rng, &mut v, VOCAB);
                }
                v
            })
            .collect();
        let argv: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let input = ProcessInput::new(ByteList::slices(&argv), ByteList::EMPTY);
        check_invariants(&input, &Policy::DEFAULT);
    }
}

/// Huge and hostile inputs are bounded: no panic, and no super-linear blow-up.
#[test]
fn huge_inputs_are_bounded() {
    let mut rng = Rng(7);
    let megabyte_no_nul: Vec<u8> = (0..1 << 20)
        .map(|_| b'a' + (rng.next() % 26) as u8)
        .collect();
    let many_entries: Vec<u8> = b"java\0"
        .iter()
        .copied()
        .chain((0..200_000).flat_map(|_| *b"-Dx=y\0"))
        .collect();
    let many_python: Vec<u8> = b"python3\0"
        .iter()
        .copied()
        .chain((0..200_000).flat_map(|_| *b"-u\0"))
        .collect();
    let many_celery: Vec<u8> = b"celery\0"
        .iter()
        .copied()
        .chain((0..200_000).flat_map(|_| *b"-A\0"))
        .collect();
    let big_env: Vec<u8> = (0..50_000)
        .flat_map(|i| format!("K{i}=v\0").into_bytes())
        .chain(b"JAVA_TOOL_OPTIONS=".iter().copied())
        .chain((0..100_000).flat_map(|_| *b"-javaagent:/oneagent/x.jar "))
        .collect();
    let long_pythonpath: Vec<u8> = b"PYTHONPATH="
        .iter()
        .copied()
        .chain((0..100_000).flat_map(|_| *b"/a/b:"))
        .collect();
    let big_cgroup: Vec<u8> = (0..100_000).flat_map(|_| *b"0::/a/b/c.service\n").collect();
    let deep_path: Vec<u8> = (0..200_000).flat_map(|_| *b"/x").collect();
    let cases: [(&[u8], &[u8], &[u8]); 7] = [
        (&megabyte_no_nul, &megabyte_no_nul, &megabyte_no_nul),
        (&many_entries, &big_env, &big_cgroup),
        (&many_python, &long_pythonpath, &deep_path),
        (&many_celery, &[], &[]),
        (&[0; 1 << 20], &[0; 1 << 20], &[b'\n'; 1 << 16]),
        (&[0xff; 1 << 20], &[b'='; 1 << 20], &[b':'; 1 << 20]),
        (b"", &big_env, &big_cgroup),
    ];
    for (argv, environ, cgroup) in cases {
        let start = Instant::now();
        let mut input = ProcessInput::new(ByteList::nul(argv), ByteList::nul(environ));
        input.cgroup = cgroup;
        input.exe.path = &deep_path;
        input.exe.libraries = ByteList::nul(argv);
        check_invariants(&input, &Policy::DEFAULT);
        input.exe.path = b"/usr/bin/java";
        check_invariants(&input, &Policy::DEFAULT);
        check_cgroup(cgroup);
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    }
}

/// `image_language` is the preload library's early exit: it must say exactly what `decide` says
/// about the executable alone, or a runtime would silently go without its agent.
#[test]
fn image_language_agrees_with_decide() {
    const NAMES: &[&[u8]] = &[
        b"java",
        b"javac",
        b"jshell",
        b"keytool",
        b"python",
        b"python3",
        b"python3.11",
        b"python3.13t",
        b"python3-config",
        b"pypy3",
        b"node",
        b"node20",
        b"nodejs",
        b"npm",
        b"npx",
        b"dotnet",
        b"ruby3.1",
        b"php-fpm8.2",
        b"php",
        b"go",
        b"gunicorn",
        b"uvicorn",
        b"app.py",
        b"server.js",
        b"bash",
        b"sh",
        b"true",
        b"ls",
        b"pip",
        b"mvn",
        b"gradle",
        b"",
        b"/",
        b" (deleted)",
        b"x (deleted)",
    ];
    const DIRS: &[&[u8]] = &[b"", b"/usr/bin/", b"/opt/app/bin/", b"./", b"/srv/"];
    const LIBS: &[&[u8]] = &[
        b"libjvm.so",
        b"libjli.so",
        b"/usr/lib/jvm/java-17/lib/libjli.so",
        b"libpython3.11.so.1.0",
        b"libnode.so.108",
        b"libhostfxr.so",
        b"/8.0.1/libcoreclr.so",
        b"libruby-3.1.so.3.1",
        b"libphp.so",
        b"libphp8.2.so",
        b"libnode.so.115",
        b"libc.so.6",
        b"libm.so.6",
    ];
    let mut rng = Rng(0x0dd_ba11);
    let mut seen = [0usize; 2];
    for i in 0..20_000 {
        let mut path = Vec::new();
        path.extend_from_slice(DIRS[rng.below(DIRS.len())]);
        if i % 3 == 0 {
            piece(&mut rng, &mut path, VOCAB);
        } else {
            path.extend_from_slice(NAMES[rng.below(NAMES.len())]);
        }
        if rng.chance(5) {
            path.extend_from_slice(b" (deleted)");
        }
        let n = rng.below(4);
        let libs = entries(&mut rng, n, LIBS);
        let facts = ExeFacts {
            path: &path,
            libraries: ByteList::nul(&libs),
            go_build_info: rng.chance(5),
            go_version: None,
            dotnet_apphost: rng.chance(5),
            declared_name: None,
            dotnet_target: rng.chance(5).then_some(&b"netcoreapp3.1"[..]),
            dotnet_references_otel: rng.chance(5),
        };
        let argv0: &[&[u8]] = &[b""];
        let quick = ProcessInput {
            argv: ByteList::slices(argv0),
            env: ByteList::EMPTY,
            exe: facts,
            cgroup: &[],
            cwd: &[],
        };
        let want = decide(&quick, &Policy::DEFAULT).language;
        assert_eq!(
            image_language(&facts),
            want,
            "path {:?} libs {:?}",
            String::from_utf8_lossy(&path),
            String::from_utf8_lossy(&libs)
        );
        seen[usize::from(want.is_some())] += 1;
    }
    // Both outcomes were exercised, many times.
    assert!(seen[0] > 2000 && seen[1] > 2000, "{seen:?}");
}

/// The .NET application's files are untrusted: random JSON-shaped bytes never panic, and a target
/// framework found is always a slice without quotes.
#[test]
fn dotnet_app_files_parse_anything() {
    use oneagent_preload_core::dotnet_app;
    const JSON: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b":",
        b",",
        b" ",
        b"\"tfm\"",
        b"\"net8.0\"",
        b"\"net6.0\"",
        b"\"Microsoft.NETCore.App\"",
        b"\"version\"",
        b"\"8.0.1\"",
        b"\"OpenTelemetry/1.9.0\"",
        b"\"OpenTelemetry.Api/1\"",
        b"\"name\"",
        b"\\",
        b"\xff",
        b"netcoreapp3.1",
    ];
    let mut rng = Rng(0x5eed_d07e);
    for _ in 0..20_000 {
        let mut doc = Vec::new();
        for _ in 0..rng.below(40) {
            doc.extend_from_slice(JSON[rng.below(JSON.len())]);
        }
        if let Some(t) = dotnet_app::target_framework(&doc) {
            assert!(!t.contains(&b'"'), "{:?}", String::from_utf8_lossy(&doc));
            let _ = dotnet_app::supported(t);
        }
        let _ = dotnet_app::references_otel(&doc);
        let _ = dotnet_app::supported(&doc);
    }
}
