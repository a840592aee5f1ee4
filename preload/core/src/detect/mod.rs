//! Language detection: which runtime runs, what it runs, and what it is worth.

pub(crate) mod dotnet;
pub(crate) mod java;
pub(crate) mod node;
pub(crate) mod python;

use crate::bytes::{
    Words, basename, contains, dirname, is_version, split_version, strip_prefix_ci,
    strip_suffix_ci, words,
};
use crate::env::EnvView;
use crate::list::ByteListIter;
use crate::model::{ExeFacts, Language, Reason};
use crate::name::ServiceNameSource;

/// At most this many argv entries are looked at.
pub const MAX_ARGS: usize = 1024;
pub use crate::bytes::MAX_LIST;
/// Longest agent description kept in a [`Reason::OtherAgent`].
const MAX_DETAIL: usize = 160;

/// The arguments after `argv[0]`, bounded.
pub(crate) type Args<'a> = core::iter::Take<ByteListIter<'a>>;

/// Context shared by the analyzers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a, 'm> {
    pub env: EnvView<'a>,
    pub own: crate::own::Own<'m>,
    pub cwd: &'a [u8],
    pub declared_name: Option<(&'a [u8], ServiceNameSource)>,
}

impl<'a> Ctx<'a, '_> {
    /// The project's declared name when it comes from one of `sources`.
    pub(crate) fn declared(
        &self,
        sources: &[ServiceNameSource],
    ) -> Option<(&'a [u8], ServiceNameSource)> {
        self.declared_name.filter(|(_, s)| sources.contains(s))
    }
}

/// Name candidates an analyzer found, in priority order.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Names<'a> {
    items: [Option<(&'a [u8], ServiceNameSource)>; 6],
}

impl<'a> Names<'a> {
    pub(crate) fn push(&mut self, name: &'a [u8], source: ServiceNameSource) {
        if let Some(slot) = self.items.iter_mut().find(|s| s.is_none()) {
            *slot = Some((name, source));
        }
    }

    pub(crate) fn push_opt(&mut self, name: Option<&'a [u8]>, source: ServiceNameSource) {
        if let Some(name) = name {
            self.push(name, source);
        }
    }

    pub(crate) fn push_opt_pair(&mut self, pair: Option<(&'a [u8], ServiceNameSource)>) {
        if let Some((name, source)) = pair {
            self.push(name, source);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'a [u8], ServiceNameSource)> + '_ {
        self.items.iter().flatten().copied()
    }
}

/// What an analyzer concluded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Analysis<'a> {
    pub language: Option<Language>,
    pub version: Option<&'a [u8]>,
    /// `Some` when the process is not worth instrumenting whatever the policy says.
    pub skip: Option<Reason<'a>>,
    /// A name the user chose on the command line (Java system properties).
    pub user_name: Option<(&'a [u8], ServiceNameSource)>,
    pub names: Names<'a>,
    /// Another vendor's agent: `(what, place, vendor)`.
    pub foreign: Option<(&'a [u8], &'static str, &'static [u8])>,
    pub ours: bool,
}

impl<'a> Analysis<'a> {
    pub(crate) fn new(language: Option<Language>) -> Self {
        Self {
            language,
            version: None,
            skip: None,
            user_name: None,
            names: Names::default(),
            foreign: None,
            ours: false,
        }
    }

    pub(crate) fn skip(language: Option<Language>, reason: Reason<'a>) -> Self {
        let mut a = Self::new(language);
        a.skip = Some(reason);
        a
    }

    pub(crate) fn set_skip(&mut self, reason: Reason<'a>) {
        if self.skip.is_none() {
            self.skip = Some(reason);
        }
    }

    /// Another agent (its vendor found from `what` by [`crate::vendor::of_path`]).
    pub(crate) fn set_foreign(&mut self, what: &'a [u8], place: &'static str) {
        let vendor = crate::vendor::of_path(what).unwrap_or_default();
        self.set_foreign_vendor(what, place, vendor);
    }

    /// Another vendor's agent, the vendor known (empty when not).
    pub(crate) fn set_foreign_vendor(
        &mut self,
        what: &'a [u8],
        place: &'static str,
        vendor: &'static [u8],
    ) {
        if self.foreign.is_none() {
            self.foreign = Some((crate::bytes::cap(what, MAX_DETAIL), place, vendor));
        }
    }
}

/// Whether a script or jar stem says nothing about the application (`index.js`, `app.py`,
/// `main.py`, `server.js`, `app.jar`): then the directory it lives in names it better.
pub(crate) fn is_generic_entry(stem: &[u8]) -> bool {
    matches!(
        stem,
        b"index" | b"server" | b"app" | b"main" | b"application" | b"service" | b"run" | b"start"
    )
}

/// Directory names that say as little as a generic entry point (`src/index.js`,
/// `dist/main.js`, `target/app.jar`): the one above them is used.
fn is_generic_dir(dir: &[u8]) -> bool {
    matches!(
        dir,
        b"" | b"."
            | b"src"
            | b"dist"
            | b"build"
            | b"lib"
            | b"bin"
            | b"out"
            | b"target"
            | b"app"
            | b"server"
            | b"srv"
            | b"opt"
            | b"home"
            | b"usr"
            | b"local"
            | b"tmp"
            | b"libs"
    )
}

/// The name of the directory an entry point lives in: the nearest directory of `path` (then,
/// when `path` is relative, of the working directory `cwd`) that is not generic, at most
/// [`MAX_DIR_LEVELS`] levels up. `None` at `..` (where that leads is not known without the file
/// system) or when every directory is generic. Pure: the same answer in the preload library,
/// `explain` and `ps`.
pub(crate) fn entry_dir_name<'a>(path: &'a [u8], cwd: &'a [u8]) -> Option<&'a [u8]> {
    const MAX_DIR_LEVELS: usize = 4;
    let in_path = dirname(path).unwrap_or_default();
    let from_cwd = if path.starts_with(b"/") {
        &b""[..]
    } else {
        cwd
    };
    in_path
        .rsplit(|&b| b == b'/')
        .chain(from_cwd.rsplit(|&b| b == b'/'))
        .filter(|d| !d.is_empty() && *d != b".")
        .take(MAX_DIR_LEVELS)
        .take_while(|d| *d != b"..")
        .find(|d| !is_generic_dir(d))
}

/// The command line split into program name and arguments.
#[derive(Clone, Debug)]
pub(crate) struct Command<'a> {
    /// The program name from `argv[0]`: its basename, or for a process title (`gunicorn: master
    /// [app]`, `PM2 v5: God Daemon`) the first word; a login shell's leading `-` is dropped.
    pub prog: &'a [u8],
    /// The rest of a process title (empty otherwise).
    pub title: &'a [u8],
    /// `argv[1..]`, bounded.
    pub args: Args<'a>,
}

impl<'a> Command<'a> {
    pub(crate) fn new(arg0: &'a [u8], args: Args<'a>) -> Self {
        let (prog, title) = if arg0.first() != Some(&b'/') {
            match crate::bytes::split_once(arg0, b' ') {
                Some((word, rest)) => (word.strip_suffix(b":").unwrap_or(word), rest),
                None => (arg0, &[][..]),
            }
        } else {
            (arg0, &[][..])
        };
        let prog = basename(prog);
        let prog = prog.strip_prefix(b"-").unwrap_or(prog);
        Self { prog, title, args }
    }
}

/// How a program name classifies.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind<'a> {
    /// The interpreter itself (`java`, `python3.11`, `node20`), with the version its name carries.
    Interp(Language, Option<&'a [u8]>),
    /// A script that runs on this runtime (`gunicorn`, `npm`, `app.py`, `server.js`).
    Wrapper(Language),
    /// Never worth instrumenting.
    Skip(Option<Language>, Reason<'a>),
}

/// `prefix` + optional version + optional ABI suffix: `python3.11` → `Some(Some("3.11"))`,
/// `python` → `Some(None)`, `python3-config` → `None`.
pub(crate) fn versioned<'a>(name: &'a [u8], prefix: &[u8]) -> Option<Option<&'a [u8]>> {
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some(None);
    }
    let rest = rest.strip_suffix(b"-dbg").unwrap_or(rest);
    let (version, tail) = split_version(rest);
    let version = version.strip_suffix(b".").unwrap_or(version);
    (is_version(version) && matches!(tail, b"" | b"m" | b"d" | b"t" | b"dm" | b"u"))
        .then_some(Some(version))
}

const PYTHON_WRAPPERS: Words = words![
    b"gunicorn",
    b"uvicorn",
    b"celery",
    b"hypercorn",
    b"daphne",
    b"flask",
    b"django-admin",
    b"waitress-serve",
    b"ddtrace-run",
    b"newrelic-admin",
    b"opentelemetry-instrument",
    b"pipx",
    b"poetry",
    b"pdm",
    b"pipenv",
    b"virtualenv",
    b"tox",
    b"nox",
    b"pytest",
    b"py.test",
    b"mypy",
    b"black",
    b"flake8",
    b"pylint",
    b"isort",
    b"twine",
    b"ipython",
    b"ipython3",
    b"supervisord",
];

const NODE_WRAPPERS: Words = words![
    b"npm",
    b"npx",
    b"yarn",
    b"yarnpkg",
    b"pnpm",
    b"pnpx",
    b"corepack",
    b"pm2",
    b"pm2-runtime",
    b"pm2-docker",
    b"pm2-dev",
    b"next",
    b"nodemon",
    b"ts-node",
    b"tsx",
    b"tsc",
    b"webpack",
    b"webpack-cli",
    b"vite",
    b"rollup",
    b"babel",
    b"eslint",
    b"prettier",
    b"jest",
    b"mocha",
    b"vitest",
    b"nx",
    b"turbo",
    b"lerna",
    b"gulp",
    b"grunt",
    b"ng",
];

const RUBY_WRAPPERS: Words = words![
    b"puma", b"rails", b"rake", b"bundle", b"bundler", b"rackup", b"unicorn", b"sidekiq", b"thin",
];

const PHP_WRAPPERS: Words = words![b"artisan"];

/// A versioned interpreter name (`python3.11`, `pypy3`, `node20`, `ruby3.1`, `php-fpm8.2`). Every
/// such name starts with `p`, `n` or `r`: one comparison sends every other executable (nearly
/// all of them, on the preload library's hot path) past the six prefix checks.
fn versioned_interpreter(name: &[u8]) -> Option<Kind<'_>> {
    use Language::{NodeJs, Php, Python, Ruby};
    if !matches!(name.first(), Some(b'p' | b'n' | b'r')) {
        return None;
    }
    if let Some(v) = versioned(name, b"python").or_else(|| versioned(name, b"pypy")) {
        Some(Kind::Interp(Python, v))
    } else if let Some(v) = versioned(name, b"node") {
        Some(Kind::Interp(NodeJs, v))
    } else if let Some(v) = versioned(name, b"ruby") {
        Some(Kind::Interp(Ruby, v))
    } else {
        versioned(name, b"php")
            .or_else(|| versioned(name, b"php-fpm"))
            .or_else(|| versioned(name, b"php-cgi"))
            .map(|v| Kind::Interp(Php, v))
    }
}

/// REPLs, package managers, test runners and linters of Ruby and PHP: scripts of a report-only
/// runtime that are no application (reported as what they are, not as `report-only`).
fn script_tool(name: &[u8]) -> Option<(Language, Reason<'_>)> {
    use Language::{Php, Ruby};
    Some(match name {
        b"irb" | b"pry" => (Ruby, Reason::Interactive("interactive ruby shell")),
        b"gem" => (Ruby, Reason::PackageManager(name)),
        b"rspec" | b"rubocop" | b"minitest" | b"brakeman" | b"standardrb" => {
            (Ruby, Reason::BuildTool(name))
        }
        b"psysh" => (Php, Reason::Interactive("interactive php shell")),
        b"composer" | b"composer.phar" | b"pecl" | b"pear" => (Php, Reason::PackageManager(name)),
        b"phpunit" | b"phpstan" | b"psalm" | b"php-cs-fixer" | b"phpcs" | b"phpcbf" | b"pest" => {
            (Php, Reason::BuildTool(name))
        }
        _ => return None,
    })
}

/// Classifies a program name (an executable basename or `argv[0]`'s).
pub(crate) fn classify(name: &[u8]) -> Option<Kind<'_>> {
    use Kind::{Interp, Skip, Wrapper};
    use Language::{DotNet, Go, Java, NodeJs, Php, Python, Ruby};
    let kind = match name {
        b"" => return None,
        b"java" => Interp(Java, None),
        b"dotnet" => Interp(DotNet, None),
        b"nodejs" => Interp(NodeJs, None),
        b"javac" | b"jar" | b"jarsigner" | b"javadoc" | b"javap" | b"jlink" | b"jmod"
        | b"jpackage" | b"jdeps" | b"jdeprscan" | b"serialver" | b"rmic" | b"jaotc" => {
            Skip(Some(Java), Reason::BuildTool(name))
        }
        b"jshell" => Skip(
            Some(Java),
            Reason::Interactive("interactive java shell (jshell)"),
        ),
        b"keytool" | b"jcmd" | b"jconsole" | b"jdb" | b"jinfo" | b"jmap" | b"jps" | b"jstack"
        | b"jstat" | b"jstatd" | b"jhsdb" | b"jfr" | b"jrunscript" | b"rmiregistry"
        | b"jwebserver" | b"kinit" | b"klist" | b"ktab" | b"jmc" | b"jvisualvm" => {
            Skip(Some(Java), Reason::Tool(name))
        }
        b"go" | b"gofmt" | b"gopls" => Skip(Some(Go), Reason::BuildTool(b"go")),
        // A .NET apphost, but a shell: a shell process itself is never a runtime.
        b"pwsh" | b"powershell" => Skip(None, Reason::NotRuntime),
        b"mvn" | b"mvnw" | b"mvnDebug" => Skip(None, Reason::BuildTool(b"maven")),
        b"gradle" | b"gradlew" => Skip(None, Reason::BuildTool(b"gradle")),
        b"ant" | b"sbt" | b"make" | b"gmake" | b"cmake" | b"ninja" | b"gcc" | b"g++" | b"cc"
        | b"c++" | b"clang" | b"clang++" | b"ld" | b"cargo" | b"rustc" | b"msbuild" | b"bazel"
        | b"bazelisk" | b"lein" | b"kotlinc" | b"scalac" => Skip(None, Reason::BuildTool(name)),
        b"apt" | b"apt-get" | b"aptitude" | b"dpkg" | b"dnf" | b"yum" | b"rpm" | b"zypper"
        | b"apk" | b"snap" | b"flatpak" | b"brew" | b"conda" | b"mamba" => {
            Skip(None, Reason::PackageManager(name))
        }
        _ => {
            if name.starts_with(b"dotnet-") {
                Skip(Some(DotNet), Reason::Tool(name))
            } else if let Some(kind) = versioned_interpreter(name) {
                kind
            } else if let Some((language, reason)) = script_tool(name) {
                Skip(Some(language), reason)
            } else if PYTHON_WRAPPERS.contains(&name)
                || versioned(name, b"pip").is_some()
                || strip_suffix_ci(name, b".py").is_some()
                || strip_suffix_ci(name, b".pyw").is_some()
            {
                Wrapper(Python)
            } else if NODE_WRAPPERS.contains(&name)
                || [&b".js"[..], b".mjs", b".cjs", b".ts"]
                    .iter()
                    .any(|ext| strip_suffix_ci(name, ext).is_some())
            {
                Wrapper(NodeJs)
            } else if RUBY_WRAPPERS.contains(&name) || strip_suffix_ci(name, b".rb").is_some() {
                Wrapper(Ruby)
            } else if PHP_WRAPPERS.contains(&name) || strip_suffix_ci(name, b".php").is_some() {
                Wrapper(Php)
            } else {
                return None;
            }
        }
    };
    Some(kind)
}

/// What the executable's libraries reveal: no runtime, one (with its version when the library
/// name or directory carries it), or two different ones.
#[derive(Clone, Copy, Debug)]
enum Libraries<'a> {
    None,
    One(Language, Option<&'a [u8]>),
    Two(Language, Language),
}

/// The language and version that the executable's libraries reveal; two different runtimes
/// (`libjvm` and `libpython` in one executable) are reported as such.
fn library_languages<'a>(exe: &ExeFacts<'a>) -> Libraries<'a> {
    let mut found = Libraries::None;
    for lib in exe.libraries.iter().take(MAX_LIST) {
        let Some((language, version)) = library_language(lib) else {
            continue;
        };
        found = match found {
            Libraries::None => Libraries::One(language, version),
            Libraries::One(l, v) if l == language => Libraries::One(l, v.or(version)),
            Libraries::One(l, _) => return Libraries::Two(l, language),
            two @ Libraries::Two(..) => two,
        };
    }
    found
}

/// The language and version one library name reveals.
fn library_language(lib: &[u8]) -> Option<(Language, Option<&[u8]>)> {
    let name = basename(lib);
    {
        if name.starts_with(b"libjvm.so") || name.starts_with(b"libjli.so") {
            Some((Language::Java, jvm_version(lib)))
        } else if let Some(rest) = name.strip_prefix(b"libpython") {
            // `libpython3.11.so.1.0`, `libpython3.8m.so`, `libpython3.13t.so`
            let at = rest.windows(3).position(|w| w == b".so")?;
            let v = rest.get(..at)?;
            let v = v
                .strip_suffix(b"m")
                .or_else(|| v.strip_suffix(b"d"))
                .unwrap_or(v);
            let v = v.strip_suffix(b"t").unwrap_or(v);
            (v.starts_with(b"3") && is_version(v)).then_some((Language::Python, Some(v)))
        } else if let Some(abi) = name.strip_prefix(b"libnode.so.") {
            Some((Language::NodeJs, node_abi_version(abi)))
        } else if name == b"libnode.so" {
            Some((Language::NodeJs, None))
        } else if name.starts_with(b"libcoreclr.so")
            || name.starts_with(b"libhostfxr.so")
            || name.starts_with(b"libhostpolicy.so")
        {
            let dir = dirname(lib).map(basename);
            Some((Language::DotNet, dir.filter(|d| is_version(d))))
        } else if let Some(rest) = name.strip_prefix(b"libruby") {
            // `libruby-3.1.so.3.1`, `libruby.so.3.2`
            let rest = rest.strip_prefix(b"-").unwrap_or(rest);
            let v = match rest.strip_prefix(b".so.") {
                Some(v) => v,
                None => before_so(rest),
            };
            Some((Language::Ruby, Some(v).filter(|v| is_version(v))))
        } else if let Some(rest) = name.strip_prefix(b"libphp") {
            // `libphp8.2.so`, `libphp.so`
            let v = before_so(rest);
            Some((Language::Php, Some(v).filter(|v| is_version(v))))
        } else {
            None
        }
    }
}

/// The part of a library name before `.so`.
fn before_so(name: &[u8]) -> &[u8] {
    match name.windows(3).position(|w| w == b".so") {
        Some(at) => name.get(..at).unwrap_or(name),
        None => name,
    }
}

/// Node.js's `libnode.so.<NODE_MODULE_VERSION>`: the ABI number names a major release.
fn node_abi_version(abi: &[u8]) -> Option<&'static [u8]> {
    Some(match abi {
        b"83" => b"14",
        b"88" => b"15",
        b"93" => b"16",
        b"102" => b"17",
        b"108" => b"18",
        b"111" => b"19",
        b"115" => b"20",
        b"120" => b"21",
        b"127" => b"22",
        b"131" => b"23",
        b"137" => b"24",
        b"141" => b"25",
        _ => return None,
    })
}

/// `17` from `/usr/lib/jvm/java-17-openjdk-amd64/bin/java`, `21.0.2` from `/opt/jdk-21.0.2+13/…`,
/// `1.8.0` from `…/jdk1.8.0_292/…`.
fn jvm_version(path: &[u8]) -> Option<&[u8]> {
    path.split(|&b| b == b'/').take(MAX_LIST).find_map(|c| {
        if !(c.starts_with(b"java-")
            || contains(c, b"jdk")
            || contains(c, b"jre")
            || c.starts_with(b"zulu"))
        {
            return None;
        }
        let start = c.iter().position(u8::is_ascii_digit)?;
        let (v, _) = split_version(c.get(start..)?);
        let v = v.strip_suffix(b".").unwrap_or(v);
        is_version(v).then_some(v)
    })
}

/// The analysis of a process whose executable is not a known interpreter: libraries, Go build info
/// and apphost evidence decide; the command line is not trusted (`exec -a java` can say anything).
/// The language [`from_facts`] finds, without the analysis (see [`crate::image_language`]).
pub(crate) fn image_facts_language(exe: &ExeFacts<'_>) -> Option<Language> {
    if exe.go_build_info {
        return Some(Language::Go);
    }
    match library_languages(exe) {
        Libraries::One(language, _) => Some(language),
        Libraries::Two(..) => None,
        Libraries::None => exe.dotnet_apphost.then_some(Language::DotNet),
    }
}

fn from_facts<'a>(exe: &ExeFacts<'a>, ctx: &Ctx<'a, '_>) -> Analysis<'a> {
    if exe.go_build_info {
        let mut a = Analysis::new(Some(Language::Go));
        a.version = exe.go_version.map(|v| v.strip_prefix(b"go").unwrap_or(v));
        return a;
    }
    let (lang, version) = match library_languages(exe) {
        Libraries::One(lang, version) => (lang, version),
        Libraries::Two(a, b) => return Analysis::skip(None, Reason::MultipleRuntimes(a, b)),
        Libraries::None if exe.dotnet_apphost => (Language::DotNet, None),
        Libraries::None => return Analysis::skip(None, Reason::NotRuntime),
    };
    let mut a = Analysis::new(Some(lang));
    a.version = version;
    env_agents(lang, ctx, &mut a);
    finish(exe, ctx, &mut a);
    a
}

/// Agents configured through the environment, for a runtime whose command line we cannot parse.
fn env_agents<'a>(lang: Language, ctx: &Ctx<'a, '_>, a: &mut Analysis<'a>) {
    match lang {
        Language::Java => java::env_options(ctx, a, &mut None),
        Language::Python => python::env_agents(ctx, a),
        Language::NodeJs => node::env_agents(ctx, a),
        Language::DotNet => dotnet::env_agents(ctx, a),
        Language::Go | Language::Ruby | Language::Php => {}
    }
}

/// Ruby and PHP: report-only; find a script for the name.
fn script_language<'a>(lang: Language, interp_mode: bool, cmd: &Command<'a>) -> Analysis<'a> {
    let mut a = Analysis::new(Some(lang));
    let mut args = cmd.args.clone();
    let php = lang == Language::Php;
    let mut script = if interp_mode {
        let mut found = None;
        while let Some(arg) = args.next() {
            let skip = match arg {
                b"-v" | b"--version" | b"-h" | b"--help" | b"-i" | b"--info" | b"-m"
                | b"--modules" | b"-l" | b"--syntax-check" | b"--ini"
                    if php || matches!(arg, b"-v" | b"--version" | b"-h" | b"--help") =>
                {
                    Some(Reason::NotLongRunning {
                        program: if php { "php" } else { "ruby" },
                        arg,
                    })
                }
                b"-a" | b"--interactive" if php => {
                    Some(Reason::Interactive("interactive php shell"))
                }
                b"-r" | b"--run" if php => Some(Reason::NotLongRunning {
                    program: "inline code (-r)",
                    arg: b"",
                }),
                b"-e" if !php => Some(Reason::NotLongRunning {
                    program: "inline code (-e)",
                    arg: b"",
                }),
                _ => None,
            };
            if let Some(reason) = skip {
                a.set_skip(reason);
                return a;
            }
            match arg {
                b"-I" | b"-r" | b"-C" | b"-E" | b"-c" | b"-d" | b"-t" | b"-S" => {
                    args.next();
                }
                b"-f" => {
                    found = args.next();
                    break;
                }
                _ if arg.starts_with(b"-") => {}
                _ => {
                    found = Some(arg);
                    break;
                }
            }
        }
        found
    } else {
        Some(cmd.prog)
    };
    if let Some(s) = script {
        let base = basename(s);
        if matches!(base, b"bundle" | b"bundler") {
            match args.clone().next() {
                Some(b"exec") => {
                    args.next();
                    script = args.next().or(script);
                }
                None
                | Some(b"install" | b"update" | b"add" | b"remove" | b"outdated" | b"lock") => {
                    a.set_skip(Reason::PackageManager(b"bundle"));
                }
                Some(_) => {}
            }
        }
    }
    if let Some(s) = script {
        let base = basename(s);
        if let Some((_, reason)) = script_tool(base) {
            a.set_skip(reason);
        }
        match (base, args.clone().next()) {
            (b"rails", Some(b"console" | b"c" | b"dbconsole" | b"db")) => {
                a.set_skip(Reason::Interactive("interactive rails console"));
            }
            (b"artisan", Some(b"tinker")) => {
                a.set_skip(Reason::Interactive(
                    "interactive php shell (artisan tinker)",
                ));
            }
            _ => {}
        }
        let stem = strip_suffix_ci(base, b".rb")
            .or_else(|| strip_suffix_ci(base, b".php"))
            .unwrap_or(base);
        a.names.push(stem, ServiceNameSource::Script);
    }
    a
}

/// Detects the runtime and analyses what it runs.
pub(crate) fn analyze<'a>(
    cmd: &Command<'a>,
    exe: &ExeFacts<'a>,
    exe_path: &'a [u8],
    ctx: &Ctx<'a, '_>,
) -> Analysis<'a> {
    let exe_base = basename(exe_path);
    let arg_kind = classify(cmd.prog);
    let (lang, version, interp_mode) = if exe_path.is_empty() {
        match arg_kind {
            Some(Kind::Interp(lang, v)) => (lang, v, true),
            Some(Kind::Wrapper(lang)) => (lang, None, false),
            Some(Kind::Skip(lang, reason)) => return Analysis::skip(lang, reason),
            None => return from_facts(exe, ctx),
        }
    } else {
        match classify(exe_base) {
            Some(Kind::Interp(lang, v)) => {
                let same = matches!(arg_kind, Some(Kind::Interp(l, _)) if l == lang);
                let interp_mode = same || cmd.prog.is_empty() || cmd.prog == exe_base;
                (lang, v, interp_mode)
            }
            Some(Kind::Skip(lang, reason)) => return Analysis::skip(lang, reason),
            Some(Kind::Wrapper(_)) | None => return from_facts(exe, ctx),
        }
    };
    let mut a = match lang {
        Language::Java => java::analyze(cmd.args.clone(), ctx),
        Language::Python if interp_mode => python::interpreter(cmd.args.clone(), ctx),
        Language::Python => python::program(
            python::Prog::Script(cmd.prog),
            cmd.args.clone(),
            ctx,
            cmd.title,
        ),
        Language::NodeJs if interp_mode => node::interpreter(cmd.args.clone(), ctx),
        Language::NodeJs => node::program(cmd.prog, cmd.args.clone(), ctx),
        Language::DotNet => dotnet::host(cmd.args.clone(), ctx),
        Language::Ruby | Language::Php => script_language(lang, interp_mode, cmd),
        Language::Go => Analysis::new(Some(Language::Go)),
    };
    a.version = version.or_else(|| match lang {
        Language::Java => jvm_version(exe_path),
        _ => match library_languages(exe) {
            Libraries::One(l, v) if l == lang => v,
            _ => None,
        },
    });
    finish(exe, ctx, &mut a);
    a
}

/// What every analysis of a runtime ends with: the signals that do not depend on the command
/// line (the kill switch, other vendors' variables and preloaded libraries, the .NET
/// application's own files) and the version from the runtime's version variable when nothing
/// else gave one.
fn finish<'a>(exe: &ExeFacts<'a>, ctx: &Ctx<'a, '_>, a: &mut Analysis<'a>) {
    let Some(language) = a.language else {
        return;
    };
    // The runtime's version variable fills in a missing version, and refines one from a name
    // (`python3` → `3`, `openjdk-11` → `11`) that it extends; it never contradicts the
    // executable (`node20` stays `20` under `NODE_VERSION=18.0.0`).
    if let Some(from_env) = env_version(language, &ctx.env) {
        let refines = |v: &[u8]| {
            from_env
                .strip_prefix(v)
                .is_some_and(|rest| rest.starts_with(b"."))
        };
        if a.version.is_none_or(refines) {
            a.version = Some(from_env);
        }
    }
    if crate::env::kill_switch_on(ctx.env.kill_switch) {
        // The strongest skip: the preload library does nothing at all in this process.
        a.skip = Some(Reason::OptedOut(crate::env::KILL_SWITCH.as_bytes()));
        return;
    }
    if language.is_report_only() {
        return;
    }
    if language == Language::DotNet {
        dotnet::app_facts(exe, a);
    }
    if let Some((key, vendor)) = ctx.env.vendor_env {
        a.set_foreign_vendor(key, " in the environment", vendor);
    }
    if let Some((lib, vendor)) = ctx.env.ld_preload.and_then(crate::vendor::ld_preload) {
        a.set_foreign_vendor(lib, " in LD_PRELOAD", vendor);
    }
}

/// The version from the runtime's own variable, as official container images set it
/// (`JAVA_VERSION=jdk-17.0.9+9`, `NODE_VERSION=20.11.0`, `PYTHON_VERSION=3.12.1`,
/// `DOTNET_VERSION=8.0.1`): the leading digits-and-dots after an optional `jdk-`/`v` prefix.
fn env_version<'a>(language: Language, env: &EnvView<'a>) -> Option<&'a [u8]> {
    let raw = match language {
        Language::Java => env.java_version,
        Language::NodeJs => env.node_version,
        Language::Python => env.python_version,
        Language::DotNet => env.dotnet_version,
        Language::Ruby => env.ruby_version,
        Language::Php => env.php_version,
        Language::Go => None,
    }?;
    let raw = raw.trim_ascii();
    let raw = strip_prefix_ci(raw, b"jdk-")
        .or_else(|| strip_prefix_ci(raw, b"jdk"))
        .or_else(|| raw.strip_prefix(b"v"))
        .unwrap_or(raw);
    let (v, _) = split_version(raw);
    let v = v.strip_suffix(b".").unwrap_or(v);
    is_version(v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_classify() {
        assert!(matches!(
            classify(b"python3.11"),
            Some(Kind::Interp(Language::Python, Some(b"3.11")))
        ));
        assert!(matches!(
            classify(b"python3.13t"),
            Some(Kind::Interp(Language::Python, Some(b"3.13")))
        ));
        assert!(matches!(
            classify(b"python"),
            Some(Kind::Interp(Language::Python, None))
        ));
        assert!(classify(b"python3-config").is_none());
        assert!(matches!(
            classify(b"node20"),
            Some(Kind::Interp(Language::NodeJs, Some(b"20")))
        ));
        assert!(matches!(
            classify(b"php-fpm8.2"),
            Some(Kind::Interp(Language::Php, Some(b"8.2")))
        ));
        assert!(matches!(
            classify(b"pip3.11"),
            Some(Kind::Wrapper(Language::Python))
        ));
        assert!(classify(b"grep").is_none());
        assert!(classify(b"nodes").is_none());
    }

    #[test]
    fn jvm_versions() {
        assert_eq!(
            jvm_version(b"/usr/lib/jvm/java-17-openjdk-amd64/bin/java"),
            Some(&b"17"[..])
        );
        assert_eq!(
            jvm_version(b"/opt/jdk-21.0.2+13/bin/java"),
            Some(&b"21.0.2"[..])
        );
        assert_eq!(
            jvm_version(b"/usr/lib/jvm/jdk1.8.0_292/jre/bin/java"),
            Some(&b"1.8.0"[..])
        );
        assert_eq!(jvm_version(b"/usr/bin/java"), None);
    }
}
