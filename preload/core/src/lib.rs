//! The decision engine of oneagent: which runtime a process is, what its service name is, whether
//! to inject our agent and, if not, why.
//!
//! It is shared by the `LD_PRELOAD` library (which runs inside every process on a host), the daemon
//! (`/proc/PID/…` of running processes) and `oneagentctl explain -- CMD ARGS` (a command line it
//! builds itself). Hence: `#![no_std]`, no `alloc`, no `unsafe`, no panics (no indexing, no
//! unchecked arithmetic), everything over plain byte slices (argv and environment entries need not
//! be UTF-8), and every input bounded (at most [`MAX_ARGS`] argv entries, [`MAX_ENV`] environment
//! entries, [`MAX_LIST`] entries of other lists, 64 KiB searched inside one entry).
//!
//! # API
//!
//! * Lists: [`ByteList`] borrows a [`NulList`] (a NUL-separated buffer exactly like
//!   `/proc/PID/cmdline` and `/proc/PID/environ`, trailing NUL optional), a `&[&[u8]]`, or any
//!   [`EntrySource`] (the preload library wraps glibc's `argv`/`envp` arrays in one).
//! * Inputs: [`ProcessInput`] (argv, env, [`ExeFacts`], `/proc/PID/cgroup`, cwd) and [`Policy`]
//!   (global switch, [`LanguageSet`] of available agents, [`JavaAgentKind`], disabled/enabled
//!   service lists, executable skip list, our agent's path marker).
//! * [`decide`]`(&ProcessInput, &Policy) -> `[`Decision`]: [`Language`], runtime version, [`Action`],
//!   [`Reason`] (with a stable [`Reason::code`] and a `Display` sentence), `already_injected`,
//!   [`ServiceName`] (inline, `[a-z0-9._-]`, ≤ 64 bytes) and [`ServiceNameSource`].
//! * cgroup parsing: [`systemd_unit`], [`service_name_from_unit`], [`container_id`], [`pod_uid`]
//!   ([`PodUid`]).
//!
//! Nothing allocates, so `Display` output goes to any `core::fmt::Write` (a fixed buffer in the
//! preload library).
//!
//! ```
//! use oneagent_preload_core::{decide, Action, ByteList, Language, Policy, ProcessInput};
//!
//! let argv: &[&[u8]] = &[b"java", b"-jar", b"/srv/order-service-1.4.2.jar"];
//! let input = ProcessInput::new(ByteList::slices(argv), ByteList::nul(b"HOME=/root\0"));
//! let d = decide(&input, &Policy::DEFAULT);
//! assert_eq!(d.language, Some(Language::Java));
//! assert_eq!(d.action, Action::Inject);
//! assert_eq!(d.reason.code(), "instrumentable");
//! assert_eq!(d.service_name.as_str(), "order-service");
//! assert_eq!(d.service_name_source.as_str(), "jar");
//! ```
//!
//! # Detection
//!
//! The executable image (`/proc/PID/exe`) decides when it is known, since `argv[0]` can be anything
//! (`exec -a`). Its basename names the interpreter (`java`, `python3.11`, `pypy3`, `node`, `node20`,
//! `dotnet`, `ruby3.1`, `php-fpm8.2`), a runtime's tool (`javac`, `jshell`, `keytool`, `go`), a build
//! tool or a package manager; otherwise the libraries decide (`libjvm.so`/`libjli.so`,
//! `libpython3*.so`, `libnode.so`, `libcoreclr.so`/`libhostfxr.so`/`libhostpolicy.so` — a .NET
//! apphost —, `libruby`, `libphp`), then Go build info, then the caller's apphost evidence; anything
//! else (shells included) is not a runtime. When the executable is unknown, `argv[0]`'s basename is
//! used the same way, and script names (`gunicorn`, `npm`, `app.py`, `server.js`) count as well.
//! Environment names such as `DOTNET_*`/`ASPNETCORE_*` are never used to detect a runtime: every
//! child of a process inherits them (a `bash` in an ASP.NET container has `ASPNETCORE_URLS`).
//!
//! When the interpreter runs a script (`python3 /usr/local/bin/gunicorn app:app`, the shape the
//! kernel gives `#!` scripts) or `argv[0]` is the script while the executable is the interpreter,
//! the script is analysed: Python servers (gunicorn, uvicorn, hypercorn, daphne, waitress, celery,
//! `flask run`, `manage.py runserver`), Node wrappers (npm, npx, yarn, pnpm, pm2, nodemon are
//! *launchers*: skipped, their child is decided on its own; `next start`, ts-node run in-process).
//!
//! # Service names
//!
//! The first source that yields a non-empty sanitized name wins:
//! `OTEL_SERVICE_NAME` > `service.name` in `OTEL_RESOURCE_ATTRIBUTES` > `SW_AGENT_NAME` (first when
//! the Java agent is SkyWalking) > `-Dotel.service.name`/`-Dskywalking.agent.service_name` >
//! systemd unit (`worker@3.service` → `worker`; units that run unrelated programs such as `cron`,
//! `sshd`, `user@1000` are ignored) > Spring `spring.application.name` (`--…=` argument, `-D…=`,
//! `SPRING_APPLICATION_NAME`) > jar name without directory, extension and version
//! (`order-service-1.4.2.jar` → `order-service`; `start.jar` → `jetty`) > main class (a table of
//! well-known servers: Tomcat's `Bootstrap` → `tomcat`, `kafka.Kafka` → `kafka`, ZooKeeper, Jetty,
//! Elasticsearch, …; else the last segment, lower-cased; Spring Boot's `JarLauncher` says nothing) >
//! Python: `-m module` gives the whole module name (`python -m myapp.server` → `myapp.server`,
//! because the module *is* the program), while a server's application spec gives its top-level
//! package (`gunicorn myproj.wsgi:application` → `myproj`, `uvicorn main:app` → `main`,
//! `celery -A proj worker` → `proj`, because the rest is boilerplate); `manage.py` gives its
//! directory (else the cwd's name, else the settings package, else `manage`); else the script name
//! without `.py` (a generic entry point — `app.py`, `main.py`, `manage.py`, … — first takes the
//! name its project declares in `pyproject.toml`/`setup.cfg`, then its directory's; see
//! [`project`]) > Node: pm2's `name`, `package.json` name, else the script name without extension
//! (`node dist/main.js` → `main`) > .NET: the dll name (`dotnet Orders.Api.dll` → `orders.api`) >
//! the executable's basename (an apphost's name) > `unknown_service`.
//!
//! # Decision order
//!
//! 1. empty argv → `unknown-input`;
//! 2. what runs: `not-runtime`, `multiple-runtimes` (an executable embedding two runtimes),
//!    `not-long-running`, `build-tool`, `package-manager`, `interactive`, `tool`, `launcher`,
//!    `unsupported-runtime` (a .NET application built for a framework before `net8.0`, from
//!    [`ExeFacts::dotnet_target`]); for a runtime, the kill switch ([`KILL_SWITCH`] with a true
//!    value, see [`kill_switch_on`]) or `CORECLR_ENABLE_PROFILING=0` → `opted-out`;
//! 3. Go, Ruby, PHP → `report-only`;
//! 4. policy: `skip-executable`, `disabled-service`, `disabled-global` (unless the service is in
//!    `enabled_services`), `no-agent`;
//! 5. another vendor's agent or profiler → `other-agent`, with the vendor named where known (see
//!    [`vendor`]): `-javaagent:`/`-agentpath:`/`-agentlib:` on the command line or in
//!    `JAVA_TOOL_OPTIONS`/`JDK_JAVA_OPTIONS`/`_JAVA_OPTIONS`, except `jdwp` and metrics
//!    exporters such as `jmx_prometheus_javaagent`; a CLR profiler, profiler path or
//!    `OTEL_DOTNET_AUTO_HOME` that is not ours; `--require`/`--import`/`--loader` of a vendor's
//!    module in `NODE_OPTIONS` or on the command line; a vendor's `PYTHONPATH` entry or wrapper
//!    (`ddtrace-run`, `newrelic-admin`, `opentelemetry-instrument`); a vendor's documented
//!    variable (`DD_TRACE_*`, `NEW_RELIC_*`, `DT_*`, …, unless its off switch is false) or
//!    preloaded library (`LD_PRELOAD`); a .NET application referencing OpenTelemetry packages
//!    ([`ExeFacts::dotnet_references_otel`]);
//! 6. otherwise `instrumentable` (inject). When our own agent is already configured — a whole
//!    option with our exact path from [`Policy::own_agents`] (`-javaagent:<jar>`,
//!    `--require <register.js>`, the `PYTHONPATH` entry of its `sitecustomize` directory, our CLR
//!    profiler with paths in our home; never a substring), or, where `own_agents` has no path, a
//!    path containing [`Policy::own_agent_marker`] — the action is still [`Action::Inject`] with
//!    [`Decision::already_injected`] set: the caller must not add the agent a second time
//!    ([`inject::plan`] applies the same token rules).
//!
//! Blank values (only whitespace) count as unset throughout.
#![no_std]
#![forbid(unsafe_code)]
#![deny(
    missing_docs,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unreachable,
    clippy::arithmetic_side_effects
)]
#![cfg_attr(
    test,
    allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::panic
    )
)]

pub mod agent_env;
mod bytes;
mod cgroup;
mod detect;
pub mod dotnet_app;
mod env;
pub mod inject;
mod list;
mod model;
mod name;
mod own;
pub mod project;
pub mod report;
pub mod snapshot;
pub mod vendor;

pub use cgroup::{PodUid, container_id, pod_uid, service_name_from_unit, systemd_unit};
pub use detect::{MAX_ARGS, MAX_LIST};
pub use env::{INJECTED_MARKER, Inherited, KILL_SWITCH, MAX_ENV, is_false, kill_switch_on};
pub use list::{ByteList, ByteListIter, EntrySource, NulIter, NulList};
pub use model::{
    Action, Decision, ExeFacts, JavaAgentKind, Language, LanguageSet, OwnAgents, Policy,
    ProcessInput, Reason,
};
pub use name::{ServiceName, ServiceNameSource};

use bytes::{basename, strip_deleted};
use detect::{Analysis, Command, Ctx};
use env::EnvView;

/// Debug-formats bytes as a lossy string.
pub(crate) struct DebugBytes<'a>(pub &'a [u8]);

impl core::fmt::Debug for DebugBytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("\"")?;
        bytes::write_bytes(f, self.0)?;
        f.write_str("\"")
    }
}

/// The name used when nothing else yields one (OpenTelemetry's default, sanitized).
const UNKNOWN_SERVICE: &[u8] = b"unknown_service";

/// Decides what to do with one process. Never panics, never allocates; bounded work on any input.
pub fn decide<'a>(input: &ProcessInput<'a>, policy: &Policy<'_>) -> Decision<'a> {
    let mut argv = input.argv.iter().take(MAX_ARGS);
    let exe_path = strip_deleted(input.exe.path);
    let arg0 = argv.next();
    let arg0 = match arg0 {
        Some(a) if !(a.is_empty() && exe_path.is_empty()) => a,
        _ => {
            return Decision {
                language: None,
                runtime_version: None,
                action: Action::Skip,
                reason: Reason::UnknownInput,
                already_injected: false,
                service_name: ServiceName::sanitize(UNKNOWN_SERVICE),
                service_name_source: ServiceNameSource::Default,
            };
        }
    };
    let env = EnvView::scan(input.env);
    let ctx = Ctx {
        env,
        own: own::Own {
            marker: policy.own_agent_marker,
            agents: policy.own_agents,
        },
        cwd: input.cwd,
        declared_name: input.exe.declared_name,
    };
    let cmd = Command::new(arg0, argv);
    let analysis = detect::analyze(&cmd, &input.exe, exe_path, &ctx);
    let (service_name, service_name_source) =
        choose_name(&analysis, &env, input.cgroup, exe_path, cmd.prog, policy);
    let language = analysis.language;
    let already_injected = analysis.ours;
    let reason = policy_reason(
        &analysis,
        &service_name,
        if exe_path.is_empty() { arg0 } else { exe_path },
        policy,
    );
    let action = match reason {
        Reason::Instrumentable { .. } => Action::Inject,
        _ => Action::Skip,
    };
    Decision {
        language,
        runtime_version: analysis.version,
        action,
        reason,
        already_injected,
        service_name,
        service_name_source,
    }
}

/// The language the executable image alone implies — its basename, its libraries, Go build info,
/// .NET apphost evidence — exactly as [`decide`] finds it for that executable with an empty
/// command line and environment. `None` means no command line, environment or policy can make
/// a process of this executable a runtime: the preload library's early exit for non-runtimes,
/// which touches far less code than a whole [`decide`].
pub fn image_language(exe: &ExeFacts<'_>) -> Option<Language> {
    let path = strip_deleted(exe.path);
    if path.is_empty() {
        return None;
    }
    match detect::classify(basename(path)) {
        Some(detect::Kind::Interp(language, _)) => Some(language),
        Some(detect::Kind::Skip(language, _)) => language,
        Some(detect::Kind::Wrapper(_)) | None => detect::image_facts_language(exe),
    }
}

/// Steps 2 to 6 of the decision order (see the crate documentation).
fn policy_reason<'a>(
    a: &Analysis<'a>,
    service: &ServiceName,
    exe: &[u8],
    policy: &Policy<'_>,
) -> Reason<'a> {
    if let Some(reason) = a.skip {
        return reason;
    }
    let Some(language) = a.language else {
        return Reason::NotRuntime;
    };
    if language.is_report_only() {
        return Reason::ReportOnly(language);
    }
    if policy
        .skip_executables
        .iter()
        .take(MAX_LIST)
        .any(|e| e == exe)
    {
        return Reason::SkipExecutable;
    }
    let listed = |list: ByteList<'_>| {
        list.iter()
            .take(MAX_LIST)
            .any(|e| ServiceName::sanitize(e).as_bytes() == service.as_bytes())
    };
    if listed(policy.disabled_services) {
        return Reason::DisabledService(*service);
    }
    if !policy.enabled && !listed(policy.enabled_services) {
        return Reason::DisabledGlobal;
    }
    if !policy.agents.contains(language) {
        return Reason::NoAgent(language);
    }
    if let Some((what, place, vendor)) = a.foreign {
        return Reason::OtherAgent {
            vendor,
            what,
            place,
        };
    }
    Reason::Instrumentable {
        language,
        already_injected: a.ours,
    }
}

/// The service name: the first candidate, in priority order, that sanitizes to a non-empty name.
fn choose_name<'a>(
    a: &Analysis<'a>,
    env: &EnvView<'a>,
    cgroup: &'a [u8],
    exe_path: &'a [u8],
    prog: &'a [u8],
    policy: &Policy<'_>,
) -> (ServiceName, ServiceNameSource) {
    use ServiceNameSource as S;
    let skywalking_first =
        a.language == Some(Language::Java) && policy.java_agent == JavaAgentKind::SkyWalking;
    let sw = env.sw_agent_name.map(|n| (n, S::EnvSwAgentName));
    let unit = systemd_unit(cgroup).and_then(service_name_from_unit);
    let fixed_head = [
        sw.filter(|_| skywalking_first),
        env.otel_service_name.map(|n| (n, S::EnvOtelServiceName)),
        env.resource_service_name()
            .map(|n| (n, S::EnvOtelResourceAttributes)),
        sw,
        a.user_name,
        unit.map(|n| (n, S::SystemdUnit)),
    ];
    let fixed_tail = [
        Some((basename(exe_path), S::Executable)),
        Some((prog, S::Executable)),
        Some((UNKNOWN_SERVICE, S::Default)),
    ];
    fixed_head
        .into_iter()
        .flatten()
        .chain(a.names.iter())
        .chain(fixed_tail.into_iter().flatten())
        .find_map(|(raw, source)| {
            let name = ServiceName::sanitize(raw);
            (!name.is_empty()).then_some((name, source))
        })
        .unwrap_or((ServiceName::empty(), S::Default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(argv: &[&[u8]]) -> (Option<Language>, &'static str, &'static str) {
        let input = ProcessInput::new(ByteList::slices(argv), ByteList::EMPTY);
        let d = decide(&input, &Policy::DEFAULT);
        (d.language, d.reason.code(), d.action.as_str())
    }

    #[test]
    fn smoke() {
        assert_eq!(run(&[]), (None, "unknown-input", "skip"));
        assert_eq!(
            run(&[b"java", b"-version"]),
            (Some(Language::Java), "not-long-running", "skip")
        );
        assert_eq!(
            run(&[b"python3", b"app.py"]),
            (Some(Language::Python), "instrumentable", "inject")
        );
        assert_eq!(run(&[b"grep", b"java"]), (None, "not-runtime", "skip"));
    }
}
