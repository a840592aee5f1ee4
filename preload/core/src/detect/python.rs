//! Python: the interpreter's own options, then the program (`-m module`, a script, or a wrapper
//! such as gunicorn, uvicorn, celery, flask, django-admin, manage.py).

use super::{Analysis, Args, Ctx, versioned};
use crate::bytes::{Words, basename, before, dirname, strip_suffix_ci, words};
use crate::model::{Language, Reason};
use crate::name::ServiceNameSource;

/// What the interpreter runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prog<'a> {
    /// A script path (or, in wrapper mode, `argv[0]`).
    Script(&'a [u8]),
    /// `-m module`.
    Module(&'a [u8]),
}

/// Foreign agents through `PYTHONPATH` (their `sitecustomize` bootstrap directories).
pub(crate) fn env_agents<'a>(ctx: &Ctx<'a, '_>, a: &mut Analysis<'a>) {
    let Some(path) = ctx.env.pythonpath else {
        return;
    };
    for entry in crate::bytes::cap(path, crate::bytes::MAX_SCAN)
        .split(|&b| b == b':')
        .take(super::MAX_LIST)
    {
        if ctx.own.python_entry(entry) {
            a.ours = true;
        } else if ctx.own.in_python_dir(entry) {
        } else if let Some(vendor) = crate::vendor::of_path(entry) {
            a.set_foreign_vendor(entry, " in PYTHONPATH", vendor);
        }
    }
}

/// Analyses the interpreter's arguments (after `argv[0]`).
pub(crate) fn interpreter<'a>(mut args: Args<'a>, ctx: &Ctx<'a, '_>) -> Analysis<'a> {
    let skip = |reason| {
        let mut a = Analysis::skip(Some(Language::Python), reason);
        env_agents(ctx, &mut a);
        a
    };
    let mut interactive = false;
    while let Some(arg) = args.next() {
        if arg == b"-" {
            return skip(Reason::Interactive("python reading its program from stdin"));
        }
        if arg == b"--" {
            return match args.next() {
                Some(script) => repl(interactive, program(Prog::Script(script), args, ctx, b"")),
                None => skip(Reason::Interactive("interactive python without a script")),
            };
        }
        let Some(body) = arg.strip_prefix(b"-") else {
            return repl(interactive, program(Prog::Script(arg), args, ctx, b""));
        };
        if let Some(long) = body.strip_prefix(b"-") {
            match long {
                b"version" | b"help" | b"help-env" | b"help-xoptions" | b"help-all" => {
                    return skip(Reason::NotLongRunning {
                        program: "python",
                        arg,
                    });
                }
                b"check-hash-based-pycs" => {
                    args.next();
                }
                _ => {}
            }
            continue;
        }
        // A cluster of short options: `-u`, `-OO`, `-Wignore`, `-mhttp.server`, `-ccode`.
        let mut rest = body;
        while let Some((&c, tail)) = rest.split_first() {
            match c {
                b'c' => {
                    return skip(Reason::NotLongRunning {
                        program: "inline code (-c)",
                        arg: b"",
                    });
                }
                b'm' => {
                    let module = if tail.is_empty() {
                        args.next()
                    } else {
                        Some(tail)
                    };
                    return match module {
                        Some(m) => repl(interactive, program(Prog::Module(m), args, ctx, b"")),
                        None => skip(Reason::NotLongRunning {
                            program: "python -m without a module",
                            arg: b"",
                        }),
                    };
                }
                b'W' | b'X' => {
                    if tail.is_empty() {
                        args.next();
                    }
                    break;
                }
                b'V' | b'h' | b'?' => {
                    return skip(Reason::NotLongRunning {
                        program: "python",
                        arg,
                    });
                }
                b'i' => interactive = true,
                _ => {}
            }
            rest = tail;
        }
    }
    skip(Reason::Interactive("interactive python without a script"))
}

/// `python -i PROGRAM` runs the program, then a REPL: interactive.
fn repl(interactive: bool, mut a: Analysis<'_>) -> Analysis<'_> {
    if interactive {
        a.set_skip(Reason::Interactive("interactive python (-i)"));
    }
    a
}

/// Options of the Python servers that take their value as the next argument (gunicorn, uvicorn,
/// hypercorn, daphne, waitress, celery, flask).
const VALUE_OPTIONS: Words = words![
    b"-b",
    b"--bind",
    b"-w",
    b"--workers",
    b"-k",
    b"--worker-class",
    b"-c",
    b"--config",
    b"--threads",
    b"-t",
    b"--timeout",
    b"--chdir",
    b"--log-level",
    b"--log-config",
    b"--log-file",
    b"--access-logfile",
    b"--access-logformat",
    b"--error-logfile",
    b"-n",
    b"--name",
    b"-e",
    b"--env",
    b"-p",
    b"--pid",
    b"--port",
    b"-u",
    b"--user",
    b"-g",
    b"--group",
    b"-m",
    b"--umask",
    b"--max-requests",
    b"--max-requests-jitter",
    b"--keep-alive",
    b"--graceful-timeout",
    b"--forwarded-allow-ips",
    b"--worker-connections",
    b"--worker-tmp-dir",
    b"--backlog",
    b"--certfile",
    b"--keyfile",
    b"--pythonpath",
    b"--paste",
    b"--statsd-host",
    b"--host",
    b"--uds",
    b"--fd",
    b"--reload-dir",
    b"--reload-include",
    b"--reload-exclude",
    b"--reload-delay",
    b"--loop",
    b"--http",
    b"--ws",
    b"--lifespan",
    b"--interface",
    b"--env-file",
    b"--root-path",
    b"--limit-concurrency",
    b"--limit-max-requests",
    b"--timeout-keep-alive",
    b"--timeout-graceful-shutdown",
    b"--ssl-keyfile",
    b"--ssl-certfile",
    b"--ssl-ca-certs",
    b"--header",
    b"--app-dir",
    b"--listen",
    b"--unix-socket",
    b"--endpoint",
    b"-v",
    b"--verbosity",
    b"--access-log",
    b"-A",
    b"--app",
    b"--broker",
    b"--result-backend",
    b"--loader",
    b"--workdir",
    b"-l",
    b"--loglevel",
    b"--concurrency",
    b"-Q",
    b"--queues",
    b"--hostname",
    b"-P",
    b"--pool",
    b"-f",
    b"--logfile",
    b"--pidfile",
    b"-s",
    b"--schedule",
    b"-S",
    b"--scheduler",
    b"--settings",
];

/// Walks server arguments: returns the `-A`/`--app` value (celery, flask) and the first positional
/// argument.
fn scan_server_args(args: Args<'_>) -> (Option<&[u8]>, Option<&[u8]>) {
    let mut app = None;
    let mut first = None;
    let mut args = args;
    while let Some(arg) = args.next() {
        if arg.starts_with(b"-") {
            if let Some(v) = arg
                .strip_prefix(b"--app=")
                .or_else(|| arg.strip_prefix(b"-A").filter(|v| !v.is_empty()))
            {
                app = Some(v);
            } else if VALUE_OPTIONS.contains(&arg) {
                let value = args.next();
                if arg == b"-A" || arg == b"--app" {
                    app = value;
                }
            }
            continue;
        }
        if first.is_none() {
            first = Some(arg);
        }
    }
    (app, first)
}

/// `myproj.wsgi:application` → `myproj`; `app/main.py` → `main`.
fn app_top(spec: &[u8]) -> &[u8] {
    let module = before(spec, b':');
    if let Some(file) = strip_suffix_ci(module, b".py") {
        return basename(file);
    }
    before(module, b'.')
}

/// Looks like a module spec (`pkg.mod`, `pkg.mod:attr`, `mod:create_app()`).
fn is_app_spec(arg: &[u8]) -> bool {
    arg.first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
}

/// Modules and scripts that print something and exit.
const SHORT_MODULES: Words = words![
    b"pydoc",
    b"json.tool",
    b"timeit",
    b"site",
    b"sysconfig",
    b"platform",
    b"this",
    b"zipfile",
    b"tarfile",
    b"base64",
    b"calendar",
    b"py_compile",
    b"compileall",
    b"ensurepip",
    b"pip._internal",
];

fn is_pip(key: &[u8]) -> bool {
    versioned(key, b"pip").is_some()
}

/// Analyses what the interpreter runs.
pub(crate) fn program<'a>(
    prog: Prog<'a>,
    rest: Args<'a>,
    ctx: &Ctx<'a, '_>,
    title: &'a [u8],
) -> Analysis<'a> {
    let mut a = Analysis::new(Some(Language::Python));
    env_agents(ctx, &mut a);
    let (key, raw) = match prog {
        Prog::Script(path) => {
            let base = basename(path);
            let stem = strip_suffix_ci(base, b".py")
                .or_else(|| strip_suffix_ci(base, b".pyw"))
                .or_else(|| strip_suffix_ci(base, b".pyz"))
                .unwrap_or(base);
            (stem, path)
        }
        Prog::Module(m) => (m.strip_suffix(b".__main__").unwrap_or(m), m),
    };
    let script_source = match prog {
        Prog::Script(_) => ServiceNameSource::Script,
        Prog::Module(_) => ServiceNameSource::PythonModule,
    };
    match key {
        b"gunicorn" | b"uvicorn" | b"hypercorn" | b"daphne" | b"waitress-serve" => {
            let (_, first) = scan_server_args(rest);
            let from_title = title
                .iter()
                .position(|&b| b == b'[')
                .and_then(|i| title.get(i.saturating_add(1)..))
                .map(|t| before(t, b']'));
            let spec = first.filter(|s| is_app_spec(s)).or(from_title);
            a.names
                .push_opt(spec.map(app_top), ServiceNameSource::PythonApp);
            a.names.push(key, script_source);
        }
        b"celery" => {
            let (app, sub) = scan_server_args(rest);
            match sub {
                Some(
                    s @ (b"inspect" | b"control" | b"status" | b"purge" | b"call" | b"result"
                    | b"report" | b"list" | b"upgrade" | b"migrate" | b"graph" | b"amqp"),
                ) => a.set_skip(Reason::NotLongRunning {
                    program: "celery",
                    arg: s,
                }),
                Some(b"shell") => a.set_skip(Reason::Interactive("interactive celery shell")),
                Some(b"multi") => a.set_skip(Reason::Launcher(b"celery multi")),
                None => a.set_skip(Reason::NotLongRunning {
                    program: "celery without a command",
                    arg: b"",
                }),
                Some(_) => {}
            }
            a.names
                .push_opt(app.map(app_top), ServiceNameSource::PythonApp);
            a.names.push(key, script_source);
        }
        b"flask" => {
            let (app, sub) = scan_server_args(rest);
            match sub {
                Some(b"run") => {}
                Some(b"shell") => a.set_skip(Reason::Interactive("interactive flask shell")),
                Some(s) => a.set_skip(Reason::NotLongRunning {
                    program: "flask",
                    arg: s,
                }),
                None => a.set_skip(Reason::NotLongRunning {
                    program: "flask without a command",
                    arg: b"",
                }),
            }
            let app = app.or(ctx.env.flask_app);
            a.names
                .push_opt(app.map(app_top), ServiceNameSource::PythonApp);
            a.names.push(key, script_source);
        }
        b"django-admin" | b"django" | b"manage" => {
            let (_, sub) = scan_server_args(rest.clone());
            django_command(sub, &mut a);
            if key == b"manage" {
                a.names.push_opt_pair(ctx.declared(PY_MANIFESTS));
                let dir = dirname(raw)
                    .map(basename)
                    .filter(|d| !d.is_empty() && *d != b".");
                let dir = dir.or_else(|| Some(basename(ctx.cwd)).filter(|d| !d.is_empty()));
                a.names.push_opt(dir, ServiceNameSource::PythonApp);
            }
            let settings = rest
                .clone()
                .find_map(|arg| arg.strip_prefix(b"--settings="))
                .or(ctx.env.django_settings_module);
            a.names
                .push_opt(settings.map(app_top), ServiceNameSource::PythonApp);
            a.names.push(key, script_source);
        }
        b"ddtrace-run"
        | b"newrelic-admin"
        | b"opentelemetry-instrument"
        | b"elasticapm-run"
        | b"splunk-py-trace" => {
            a.set_foreign(key, "");
            a.names.push(key, script_source);
        }
        b"pip" | b"pipx" | b"poetry" | b"pdm" | b"pipenv" | b"virtualenv" | b"venv" | b"conda"
        | b"ensurepip" => {
            a.set_skip(Reason::PackageManager(key));
        }
        k if is_pip(k) => a.set_skip(Reason::PackageManager(b"pip")),
        b"pytest" | b"py.test" | b"unittest" | b"tox" | b"nox" | b"mypy" | b"black" | b"flake8"
        | b"pylint" | b"isort" | b"ruff" | b"twine" | b"build" | b"setup" | b"coverage"
        | b"sphinx-build" | b"cProfile" | b"profile" | b"pdb" | b"trace" => {
            a.set_skip(Reason::BuildTool(key));
        }
        b"ipython" | b"ipython3" | b"IPython" | b"code" | b"idlelib" | b"bpython" | b"ptpython" => {
            a.set_skip(Reason::Interactive("interactive python shell"));
        }
        k if SHORT_MODULES.contains(&k) => a.set_skip(Reason::NotLongRunning {
            program: match prog {
                Prog::Script(_) => "python script",
                Prog::Module(_) => "python -m",
            },
            arg: k,
        }),
        _ => {
            let name = match (prog, key) {
                // `python myapp/__main__.py` → the package directory.
                (Prog::Script(path), b"__main__") => dirname(path).map(basename),
                _ => Some(key),
            };
            if let Prog::Script(path) = prog
                && super::is_generic_entry(key)
            {
                // `python3 /srv/shop/app.py` → its project's declared name, else `shop`.
                a.names.push_opt_pair(ctx.declared(PY_MANIFESTS));
                a.names.push_opt(
                    super::entry_dir_name(path, ctx.cwd),
                    ServiceNameSource::Directory,
                );
            }
            a.names.push_opt(name, script_source);
        }
    }
    a
}

/// The manifests that name a Python project (see [`crate::project`]).
const PY_MANIFESTS: &[ServiceNameSource] =
    &[ServiceNameSource::PyProject, ServiceNameSource::SetupCfg];

fn django_command<'a>(sub: Option<&'a [u8]>, a: &mut Analysis<'a>) {
    match sub {
        None => a.set_skip(Reason::NotLongRunning {
            program: "django without a command",
            arg: b"",
        }),
        Some(b"shell" | b"dbshell" | b"shell_plus") => {
            a.set_skip(Reason::Interactive("interactive django shell"));
        }
        Some(
            s @ (b"migrate" | b"makemigrations" | b"collectstatic" | b"check" | b"test"
            | b"createsuperuser" | b"changepassword" | b"loaddata" | b"dumpdata" | b"flush"
            | b"sqlmigrate" | b"showmigrations" | b"startapp" | b"startproject"
            | b"compilemessages" | b"makemessages" | b"diffsettings" | b"inspectdb"
            | b"sendtestemail" | b"clearsessions" | b"squashmigrations" | b"optimizemigration"
            | b"help" | b"version" | b"createcachetable"),
        ) => a.set_skip(Reason::NotLongRunning {
            program: "django",
            arg: s,
        }),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_specs() {
        assert_eq!(app_top(b"myproj.wsgi:application"), b"myproj");
        assert_eq!(app_top(b"main:app"), b"main");
        assert_eq!(app_top(b"src/hello.py"), b"hello");
        assert_eq!(app_top(b"hello"), b"hello");
    }
}
