//! .NET: the `dotnet` host (`dotnet app.dll`, SDK commands) and apphosts.

use super::{Analysis, Args, Ctx};
use crate::bytes::{Words, basename, strip_suffix_ci, words};
use crate::model::{Language, Reason};
use crate::name::ServiceNameSource;

/// A CLR profiler configured through the environment (ours when its path has our marker).
pub(crate) fn env_agents<'a>(ctx: &Ctx<'a, '_>, a: &mut Analysis<'a>) {
    let env = &ctx.env;
    let profiler = env.coreclr_profiler.filter(|v| !v.is_empty());
    let enabled = env.coreclr_enable_profiling == Some(b"1");
    if profiler.is_none() && !enabled {
        return;
    }
    let ours = [env.coreclr_profiler_path_64, env.coreclr_profiler_path]
        .into_iter()
        .flatten()
        .any(|p| ctx.is_ours(p));
    if ours {
        a.ours = true;
    } else if profiler.is_some() {
        a.set_foreign(b"CORECLR_PROFILER", "");
    } else {
        a.set_foreign(b"CORECLR_ENABLE_PROFILING=1", "");
    }
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
