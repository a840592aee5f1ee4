//! Node.js: the interpreter's options, then the script (or a wrapper: npm, npx, yarn, pm2, next).

use super::{Analysis, Args, Ctx};
use crate::bytes::{Words, basename, strip_suffix_ci, tokens, words};
use crate::model::{Language, Reason};
use crate::name::ServiceNameSource;

/// Options that preload a module; their value is checked for agents.
fn is_preload_option(opt: &[u8]) -> bool {
    matches!(
        opt,
        b"-r" | b"--require" | b"--import" | b"--loader" | b"--experimental-loader"
    )
}

fn preload_value(tok: &[u8]) -> Option<&[u8]> {
    [
        &b"--require="[..],
        b"--import=",
        b"--loader=",
        b"--experimental-loader=",
    ]
    .iter()
    .find_map(|p| tok.strip_prefix(*p))
}

fn check_module<'a>(
    module: &'a [u8],
    place: &'static str,
    ctx: &Ctx<'a, '_>,
    a: &mut Analysis<'a>,
) {
    if ctx.own.node(module) {
        a.ours = true;
    } else if let Some(vendor) = crate::vendor::of_path(module) {
        a.set_foreign_vendor(module, place, vendor);
    }
}

/// Agents preloaded through `NODE_OPTIONS`.
pub(crate) fn env_agents<'a>(ctx: &Ctx<'a, '_>, a: &mut Analysis<'a>) {
    let mut toks = tokens(ctx.env.node_options.unwrap_or_default());
    while let Some(tok) = toks.next() {
        let module = if is_preload_option(tok) {
            toks.next()
        } else {
            preload_value(tok)
        };
        if let Some(module) = module {
            check_module(module, " in NODE_OPTIONS", ctx, a);
        }
    }
}

/// Options that take their value as the next argument.
const VALUE_OPTIONS: Words = words![
    b"--title",
    b"--env-file",
    b"-C",
    b"--conditions",
    b"--input-type",
    b"--inspect-port",
    b"--debug-port",
    b"--icu-data-dir",
    b"--openssl-config",
    b"--redirect-warnings",
    b"--diagnostic-dir",
    b"--report-dir",
    b"--report-directory",
    b"--report-filename",
    b"--report-signal",
    b"--cpu-prof-dir",
    b"--cpu-prof-name",
    b"--heap-prof-dir",
    b"--heap-prof-name",
    b"--disable-warning",
    b"--watch-path",
    b"--experimental-policy",
    b"--policy-integrity",
    b"--secure-heap",
    b"--secure-heap-min",
    b"--tls-cipher-list",
    b"--tls-keylog",
    b"--unhandled-rejections",
    b"--max-http-header-size",
    b"--dns-result-order",
];

/// Analyses the interpreter's arguments (after `argv[0]`).
pub(crate) fn interpreter<'a>(mut args: Args<'a>, ctx: &Ctx<'a, '_>) -> Analysis<'a> {
    let mut a = Analysis::new(Some(Language::NodeJs));
    env_agents(ctx, &mut a);
    while let Some(arg) = args.next() {
        if arg == b"-" {
            a.set_skip(Reason::Interactive("node reading its program from stdin"));
            return a;
        }
        if arg == b"--" {
            return match args.next() {
                Some(script) => merge(a, program(script, args, ctx)),
                None => {
                    a.set_skip(Reason::Interactive(
                        "interactive node (REPL) without a script",
                    ));
                    a
                }
            };
        }
        if !arg.starts_with(b"-") {
            return merge(a, program(arg, args, ctx));
        }
        let skip = match arg {
            b"-v" | b"--version" | b"-h" | b"--help" | b"--v8-options" | b"-c" | b"--check" => {
                Some(Reason::NotLongRunning {
                    program: "node",
                    arg,
                })
            }
            b"-e" | b"--eval" | b"-p" | b"--print" => Some(Reason::NotLongRunning {
                program: "inline code (--eval)",
                arg: b"",
            }),
            b"-i" | b"--interactive" => Some(Reason::Interactive("interactive node (REPL)")),
            b"--test" => Some(Reason::BuildTool(b"node --test")),
            b"--run" => Some(Reason::Launcher(b"node --run")),
            _ => None,
        };
        if let Some(reason) = skip {
            a.set_skip(reason);
            return a;
        }
        if is_preload_option(arg) {
            if let Some(module) = args.next() {
                check_module(module, "", ctx, &mut a);
            }
        } else if let Some(module) = preload_value(arg) {
            check_module(module, "", ctx, &mut a);
        } else if VALUE_OPTIONS.contains(&arg) {
            args.next();
        }
    }
    a.set_skip(Reason::Interactive(
        "interactive node (REPL) without a script",
    ));
    a
}

/// Keeps the interpreter's agent findings and adds the program's.
fn merge<'a>(mut interp: Analysis<'a>, prog: Analysis<'a>) -> Analysis<'a> {
    interp.skip = prog.skip;
    interp.names = prog.names;
    if let Some((what, place, vendor)) = prog.foreign {
        interp.set_foreign_vendor(what, place, vendor);
    }
    interp.ours |= prog.ours;
    interp
}

/// The first positional argument (a subcommand or a script).
fn first_positional(args: Args<'_>) -> Option<&[u8]> {
    let mut args = args;
    args.find(|a| !a.starts_with(b"-"))
}

/// Analyses a script, by path or by `argv[0]` in wrapper mode.
pub(crate) fn program<'a>(script: &'a [u8], rest: Args<'a>, ctx: &Ctx<'a, '_>) -> Analysis<'a> {
    let mut a = Analysis::new(Some(Language::NodeJs));
    env_agents(ctx, &mut a);
    let base = basename(script);
    let key = [&b".js"[..], b".mjs", b".cjs", b".ts"]
        .iter()
        .find_map(|ext| strip_suffix_ci(base, ext))
        .unwrap_or(base);
    let app = |a: &mut Analysis<'a>, name: &'a [u8], path: &'a [u8]| {
        a.names
            .push_opt_pair(ctx.declared(&[ServiceNameSource::PackageJson]));
        if super::is_generic_entry(name) {
            a.names.push_opt(
                super::entry_dir_name(path, ctx.cwd),
                ServiceNameSource::Directory,
            );
        }
        a.names.push(name, ServiceNameSource::Script);
    };
    match key {
        b"npm" | b"npm-cli" | b"yarn" | b"yarnpkg" | b"pnpm" | b"pnpm-cli" => {
            let tool: &'static [u8] = match key.first() {
                Some(b'y') => b"yarn",
                Some(b'p') => b"pnpm",
                _ => b"npm",
            };
            match first_positional(rest) {
                Some(
                    b"install" | b"i" | b"ci" | b"add" | b"update" | b"up" | b"upgrade"
                    | b"uninstall" | b"remove" | b"rm" | b"un" | b"rebuild" | b"dedupe" | b"audit"
                    | b"prune" | b"link" | b"ln" | b"outdated" | b"pack" | b"publish" | b"import",
                ) => a.set_skip(Reason::PackageManager(tool)),
                // `yarn` alone installs; `npm` alone prints help.
                None if tool != b"npm" => a.set_skip(Reason::PackageManager(tool)),
                None => a.set_skip(Reason::NotLongRunning {
                    program: "npm without a command",
                    arg: b"",
                }),
                Some(_) => a.set_skip(Reason::Launcher(tool)),
            }
        }
        b"npx" | b"npx-cli" | b"pnpx" => a.set_skip(Reason::Launcher(b"npx")),
        b"corepack" => a.set_skip(Reason::PackageManager(b"corepack")),
        b"pm2" | b"pm2-runtime" | b"pm2-docker" | b"pm2-dev" | b"PM2" => {
            a.set_skip(Reason::Launcher(b"pm2"));
        }
        b"nodemon" => a.set_skip(Reason::Launcher(b"nodemon")),
        b"ProcessContainerFork" | b"ProcessContainer" => {
            // A process pm2 started: pm2 passes the app's name and script in the environment.
            a.names.push_opt(ctx.env.pm2_name, ServiceNameSource::Pm2);
            a.names
                .push_opt_pair(ctx.declared(&[ServiceNameSource::PackageJson]));
            let exec = ctx.env.pm_exec_path.map(|p| {
                let b = basename(p);
                [&b".js"[..], b".mjs", b".cjs", b".ts"]
                    .iter()
                    .find_map(|ext| strip_suffix_ci(b, ext))
                    .unwrap_or(b)
            });
            a.names.push_opt(exec, ServiceNameSource::Script);
        }
        b"next" => {
            match first_positional(rest) {
                None | Some(b"start" | b"dev") => {}
                Some(b"build" | b"lint" | b"export" | b"telemetry" | b"info") => {
                    a.set_skip(Reason::BuildTool(b"next"));
                }
                Some(_) => {}
            }
            app(&mut a, key, script);
        }
        b"ts-node" | b"ts-node-esm" | b"tsx" | b"babel-node" => match first_positional(rest) {
            Some(inner) => {
                let b = basename(inner);
                let stem = [&b".ts"[..], b".js", b".mts", b".mjs", b".cjs"]
                    .iter()
                    .find_map(|ext| strip_suffix_ci(b, ext))
                    .unwrap_or(b);
                app(&mut a, stem, inner);
            }
            None => a.set_skip(Reason::Interactive(
                "interactive node (REPL) without a script",
            )),
        },
        b"tsc" | b"webpack" | b"webpack-cli" | b"vite" | b"rollup" | b"babel" | b"eslint"
        | b"prettier" | b"jest" | b"mocha" | b"vitest" | b"nx" | b"turbo" | b"lerna" | b"gulp"
        | b"grunt" | b"ng" | b"esbuild" => a.set_skip(Reason::BuildTool(key)),
        _ => app(&mut a, key, script),
    }
    a
}
