//! .NET: the `dotnet` host (`dotnet app.dll`, SDK commands) and apphosts.

use super::{Analysis, Args, Ctx};
use crate::bytes::{Words, basename, contains, strip_suffix_ci, words};
use crate::model::{ExeFacts, Language, Reason};
use crate::name::ServiceNameSource;
use crate::own::DOTNET_PROFILER_GUID;

/// The CLR profiler and the .NET agent's home configured through the environment: ours when
/// the profiler is our GUID and every profiler path (and `OTEL_DOTNET_AUTO_HOME`) lies in our
/// agent's home; anyone else's is another agent — the rule the OpenTelemetry .NET
/// auto-instrumentation's own injectors follow: `CORECLR_*` and `OTEL_DOTNET_AUTO_HOME` set by
/// someone else mean "stand down", only the `DOTNET_*` lists are composed (see
/// [`crate::inject`]). `CORECLR_ENABLE_PROFILING=0` is the user switching profilers off.
pub(crate) fn env_agents<'a>(ctx: &Ctx<'a, '_>, a: &mut Analysis<'a>) {
    let env = &ctx.env;
    let set = |v: Option<&'a [u8]>| v.filter(|v| !v.trim_ascii().is_empty());
    let enable = set(env.coreclr_enable_profiling).map(<[u8]>::trim_ascii);
    if enable == Some(b"0") {
        a.set_skip(Reason::OptedOut(b"CORECLR_ENABLE_PROFILING=0"));
        return;
    }
    let profiler = set(env.coreclr_profiler);
    let paths = [
        (
            set(env.coreclr_profiler_path_64),
            " in CORECLR_PROFILER_PATH_64",
        ),
        (set(env.coreclr_profiler_path), " in CORECLR_PROFILER_PATH"),
        (set(env.otel_dotnet_auto_home), " in OTEL_DOTNET_AUTO_HOME"),
    ];
    let foreign_path = paths
        .iter()
        .find_map(|&(p, place)| p.filter(|p| !ctx.own.dotnet_path(p)).map(|p| (p, place)));
    let our_guid =
        profiler.is_some_and(|g| g.trim_ascii().eq_ignore_ascii_case(DOTNET_PROFILER_GUID));
    if let Some(guid) = profiler.filter(|_| !our_guid || foreign_path.is_some()) {
        let vendor = crate::vendor::dotnet_profiler(guid)
            .or_else(|| foreign_path.and_then(|(p, _)| crate::vendor::of_path(p)))
            .unwrap_or_default();
        a.set_foreign_vendor(guid, " in CORECLR_PROFILER", vendor);
    } else if let Some((path, place)) = foreign_path {
        let vendor =
            crate::vendor::of_path(path).unwrap_or(if place == " in OTEL_DOTNET_AUTO_HOME" {
                b"OpenTelemetry"
            } else {
                b""
            });
        a.set_foreign_vendor(path, place, vendor);
    } else if our_guid || paths.iter().any(|(p, _)| p.is_some()) {
        a.ours = true;
    } else if enable.is_some_and(|e| e != b"0") {
        a.set_foreign(b"CORECLR_ENABLE_PROFILING=1", "");
    }
}

/// The application's own files, as the caller read them: a target framework our agent does not
/// support, or OpenTelemetry packages already referenced.
pub(crate) fn app_facts<'a>(exe: &ExeFacts<'a>, a: &mut Analysis<'a>) {
    // A .NET global or local tool's apphost (`~/.dotnet/tools/csharpier`): a tool.
    if contains(exe.path, b"/.dotnet/tools/") {
        a.set_skip(Reason::Tool(basename(exe.path)));
    }
    if let Some(target) = exe.dotnet_target
        && !crate::dotnet_app::supported(target)
    {
        a.set_skip(Reason::Unsupported {
            language: Language::DotNet,
            what: target,
            supported: crate::dotnet_app::SUPPORTED,
        });
    }
    if exe.dotnet_references_otel {
        a.set_foreign_vendor(
            b"OpenTelemetry packages",
            " referenced by the application (its deps.json)",
            b"OpenTelemetry",
        );
    }
}

/// Assemblies of the SDK and of tools that the `dotnet` host runs as `dotnet X.dll`: never an
/// application (MSBuild worker nodes, the compiler server, the test host, global/local tools).
fn tool_assembly(path: &[u8]) -> Option<Reason<'_>> {
    let base = basename(path);
    let stem = strip_suffix_ci(base, b".dll").unwrap_or(base);
    if contains(path, b"/sdk/")
        || matches!(
            stem,
            b"MSBuild"
                | b"dotnet"
                | b"VBCSCompiler"
                | b"csc"
                | b"vbc"
                | b"fsc"
                | b"vstest.console"
                | b"datacollector"
        )
        || stem.starts_with(b"testhost")
    {
        return Some(Reason::BuildTool(b"dotnet sdk"));
    }
    if contains(path, b"/.nuget/packages/") || contains(path, b"/.dotnet/tools/") {
        return Some(Reason::Tool(base));
    }
    None
}

/// Host options that take their value as the next argument.
const VALUE_OPTIONS: Words = words![
    b"--additionalprobingpath",
    b"--additional-deps",
    b"--depsfile",
    b"--runtimeconfig",
    b"--fx-version",
    b"--roll-forward",
    b"--roll-forward-on-no-candidate-fx",
];

/// Analyses `dotnet` arguments (after `argv[0]`).
pub(crate) fn host<'a>(mut args: Args<'a>, ctx: &Ctx<'a, '_>) -> Analysis<'a> {
    let mut a = Analysis::new(Some(Language::DotNet));
    env_agents(ctx, &mut a);
    while let Some(arg) = args.next() {
        if VALUE_OPTIONS.contains(&arg) {
            args.next();
            continue;
        }
        let skip = match arg {
            b"--info" | b"--version" | b"--list-sdks" | b"--list-runtimes" | b"-h" | b"--help"
            | b"-?" | b"help" => Some(Reason::NotLongRunning {
                program: "dotnet",
                arg,
            }),
            b"exec" => continue,
            b"build" | b"run" | b"test" | b"publish" | b"pack" | b"clean" | b"msbuild" | b"new"
            | b"format" | b"watch" | b"vstest" | b"sln" | b"store" | b"build-server"
            | b"dev-certs" | b"user-secrets" | b"ef" => Some(Reason::BuildTool(arg)),
            b"restore" | b"add" | b"remove" | b"nuget" | b"tool" | b"workload" | b"package"
            | b"reference" | b"list" => Some(Reason::PackageManager(arg)),
            b"fsi" => Some(Reason::Interactive("interactive F# (dotnet fsi)")),
            _ if arg.starts_with(b"-") => continue,
            _ => None,
        };
        if let Some(reason) = skip {
            a.set_skip(reason);
            return a;
        }
        let base = basename(arg);
        if let Some(reason) = tool_assembly(arg) {
            a.set_skip(reason);
        }
        match strip_suffix_ci(base, b".dll").or_else(|| strip_suffix_ci(base, b".exe")) {
            Some(stem) => a.names.push(stem, ServiceNameSource::Dll),
            None => a.set_skip(Reason::NotLongRunning {
                program: "dotnet SDK command",
                arg,
            }),
        }
        return a;
    }
    a.set_skip(Reason::NotLongRunning {
        program: "dotnet without an application",
        arg: b"",
    });
    a
}
