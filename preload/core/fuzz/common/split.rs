//! Shared by the fuzz target (`fuzz_targets/decide.rs`) and the crate's integration tests
//! (`tests/fuzz_input.rs`), so the target's logic is compiled and run on stable too.
//!
//! The input is split at 0x1E bytes into: flags, argv (NUL-separated, like /proc/PID/cmdline), env
//! (NUL-separated), cgroup file, executable path, libraries (NUL-separated), cwd, package.json name.

use core::fmt::Write as _;

use oneagent_preload_core::{
    ByteList, ExeFacts, JavaAgentKind, LanguageSet, Policy, ProcessInput, Reason, container_id,
    decide, pod_uid, service_name_from_unit, systemd_unit,
};

/// A `core::fmt::Write` into a fixed buffer that silently truncates (what the preload library does).
struct FixedBuf {
    buf: [u8; 256],
    len: usize,
}

impl core::fmt::Write for FixedBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

fn valid_name(name: &[u8]) -> bool {
    name.len() <= 64
        && name.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// Runs every public entry point on one fuzzer input and checks the invariants.
pub fn run(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0x1e);
    let flags = parts.next().and_then(|f| f.first().copied()).unwrap_or(0);
    let argv = parts.next().unwrap_or_default();
    let env = parts.next().unwrap_or_default();
    let cgroup = parts.next().unwrap_or_default();
    let exe = parts.next().unwrap_or_default();
    let libs = parts.next().unwrap_or_default();
    let cwd = parts.next().unwrap_or_default();
    let pkg = parts.next();

    // The same argv also as a slice of slices, to exercise the other list shape.
    let mut slices: [&[u8]; 16] = [&[]; 16];
    let mut n = 0;
    for (slot, entry) in slices.iter_mut().zip(ByteList::nul(argv).iter()) {
        *slot = entry;
        n += 1;
    }
    let argv_list = if flags & 1 == 0 {
        ByteList::nul(argv)
    } else {
        ByteList::slices(slices.get(..n).unwrap_or_default())
    };

    let input = ProcessInput {
        argv: argv_list,
        env: ByteList::nul(env),
        exe: ExeFacts {
            path: exe,
            libraries: ByteList::nul(libs),
            go_build_info: flags & 2 != 0,
            go_version: (flags & 4 != 0).then_some(cwd),
            dotnet_apphost: flags & 8 != 0,
            declared_name: pkg.map(|p| (p, oneagent_preload_core::ServiceNameSource::PackageJson)),
            dotnet_target: (flags & 128 != 0).then_some(cwd),
            dotnet_references_otel: flags & 1 != 0,
        },
        cgroup,
        cwd,
    };
    let disabled: [&[u8]; 2] = [b"payments", cwd];
    let policy = Policy {
        enabled: flags & 16 == 0,
        agents: LanguageSet::from_bits(flags),
        java_agent: if flags & 32 == 0 {
            JavaAgentKind::OpenTelemetry
        } else {
            JavaAgentKind::SkyWalking
        },
        disabled_services: ByteList::slices(&disabled),
        enabled_services: ByteList::nul(env),
        skip_executables: ByteList::nul(libs),
        own_agent_marker: if flags & 64 == 0 { b"/oneagent/" } else { b"" },
        own_agents: if flags & 64 == 0 {
            oneagent_preload_core::OwnAgents::DEFAULT
        } else {
            oneagent_preload_core::OwnAgents {
                java: cwd,
                skywalking: b"",
                python: exe,
                nodejs: pkg.unwrap_or_default(),
                dotnet: cwd,
            }
        },
    };
    for policy in [Policy::DEFAULT, policy] {
        let d = decide(&input, &policy);
        assert!(valid_name(d.service_name.as_bytes()));
        assert!(!d.service_name.is_empty());
        assert_eq!(d.is_inject(), d.reason.code() == "instrumentable");
        assert!(Reason::CODES.contains(&d.reason.code()));
        if d.is_inject() {
            assert!(d.language.is_some());
        }
        let mut out = FixedBuf {
            buf: [0; 256],
            len: 0,
        };
        let _ = write!(out, "{} {} {:?}", d.reason, d.action, d);
        assert!(
            core::str::from_utf8(out.buf.get(..out.len).unwrap_or_default()).is_ok()
                || out.len == 256
        );
    }

    if let Some(unit) = systemd_unit(cgroup) {
        assert!(unit.ends_with(b".service"));
        let _ = service_name_from_unit(unit);
    }
    if let Some(id) = container_id(cgroup) {
        assert_eq!(id.len(), 64);
        assert!(id.iter().all(u8::is_ascii_hexdigit));
    }
    if let Some(uid) = pod_uid(cgroup) {
        assert!(uid.as_str().len() <= 36);
    }

    // A .NET application's files are untrusted bytes too (the env part stands in for them).
    use oneagent_preload_core::dotnet_app;
    if let Some(target) = dotnet_app::target_framework(env) {
        assert!(!target.contains(&b'"'));
        let _ = dotnet_app::supported(target);
    }
    let _ = dotnet_app::supported(cwd);
    let _ = dotnet_app::references_otel(env);
    if let Some(files) = dotnet_app::app_files(argv_list, exe) {
        let mut buf = [0u8; 512];
        if let Some(p) = files.runtimeconfig_path(&mut buf) {
            assert_eq!(p.last(), Some(&0));
        }
        if let Some(p) = files.deps_path(&mut buf) {
            assert_eq!(p.last(), Some(&0));
        }
    }
}
