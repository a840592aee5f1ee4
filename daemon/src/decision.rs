//! The daemon's side of the decision: builds a `preload/core` [`Policy`] from the configuration
//! and the injection rules, and runs [`decide`] on owned process facts. The same code serves the
//! inventory, `oneagentctl explain` and (later) the snapshot compiler, so they cannot disagree.

#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use oneagent_preload_core::{
    ByteList, ExeFacts, JavaAgentKind as CoreJavaAgent, Language, LanguageSet, OwnAgents, Policy,
    ProcessInput, ServiceNameSource, decide, dotnet_app, project,
};
use serde::{Deserialize, Serialize};

use crate::config::{Config, JavaAgentKind};

/// The file that proves a Python agent directory is usable (what `PYTHONPATH` makes Python run).
pub const PYTHON_SITECUSTOMIZE: &str =
    "opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py";

/// The scope name of the global injection rule.
pub const GLOBAL_SCOPE: &str = "*";

/// An injection rule set by `oneagentctl enable/disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectionRule {
    /// `*` for the global rule, otherwise a service name.
    pub scope: String,
    /// Whether injection is enabled for the scope.
    pub enabled: bool,
    /// Unix time of the last change.
    pub updated_at: u64,
    /// Uid of the caller that made the change.
    pub updated_by_uid: u32,
}

/// Why a language's agent is unavailable on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProblem {
    /// The language.
    pub language: String,
    /// The configured path.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The marker that identifies our agents' paths in a process's environment: the longest common
/// directory prefix of the configured agent paths (at least `/x/`), else `/oneagent/`.
pub fn agent_marker(config: &Config) -> String {
    let paths: Vec<String> = [
        &config.agents.java,
        &config.agents.java_skywalking,
        &config.agents.python,
        &config.agents.nodejs,
        &config.agents.dotnet,
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect();
    let first = paths.first().cloned().unwrap_or_default();
    let mut common = first.len();
    for p in &paths {
        common = common.min(
            first
                .bytes()
                .zip(p.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let prefix = first.get(..common).unwrap_or_default();
    match prefix.rfind('/') {
        Some(end) if end >= 2 => prefix.get(..=end).unwrap_or("/oneagent/").to_owned(),
        _ => "/oneagent/".to_owned(),
    }
}

/// A policy with owned storage; [`OwnedPolicy::policy`] lends a core [`Policy`].
#[derive(Debug, Clone)]
pub struct OwnedPolicy {
    /// Our agents' path marker (see [`agent_marker`]).
    pub marker: String,
    enabled: bool,
    global_rule: Option<bool>,
    agents: LanguageSet,
    java_agent: CoreJavaAgent,
    disabled: Vec<u8>,
    enabled_services: Vec<u8>,
    skip_executables: Vec<u8>,
    container_skip_executables: Vec<u8>,
    /// Our agents' exact paths (java, skywalking, python, nodejs, dotnet), as the snapshot has
    /// them: `already_injected` means exactly these paths.
    own_agents: [String; 5],
    /// Agents that are configured but cannot be used, with the reason.
    pub agent_problems: Vec<AgentProblem>,
    /// What the host's snapshot gives the agents beyond the policy (for
    /// [`OwnedPolicy::planned_environment`]): the OTLP endpoint without credentials, the
    /// SkyWalking backend, `[injection] python_log_correlation`.
    otlp_endpoint: String,
    skywalking_backend: String,
    python_log_correlation: bool,
    java_options: String,
    /// `[injection.environment]` as the snapshot's NUL-separated entries.
    environment: Vec<u8>,
}

fn nul_join<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(item);
        out.push(0);
    }
    out
}

/// What kind of agent a configured path is, and so what proves it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    /// A Java agent jar: a zip archive.
    Jar,
    /// A `pip install --target` directory: its auto-instrumentation `sitecustomize.py` must exist.
    PythonDir,
    /// The file given to `node --require`.
    NodeFile,
    /// `OTEL_DOTNET_AUTO_HOME`: its startup hook assembly must exist.
    DotnetHome,
}

/// The file inside an agent directory that proves the agent is installed (an empty directory,
/// as the package ships them, is not an agent).
pub fn agent_marker_file(kind: AgentKind) -> Option<&'static str> {
    match kind {
        AgentKind::PythonDir => Some(PYTHON_SITECUSTOMIZE),
        AgentKind::DotnetHome => Some("net/OpenTelemetry.AutoInstrumentation.StartupHook.dll"),
        AgentKind::Jar | AgentKind::NodeFile => None,
    }
}

/// Checks that an agent is installed and readable: a jar must be a zip archive, an agent
/// directory must hold the file the runtime will load.
pub fn check_agent(path: &Path, kind: AgentKind) -> Result<(), String> {
    let jar = kind == AgentKind::Jar;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "not installed (path does not exist)".to_owned(),
        std::io::ErrorKind::PermissionDenied => "not readable (permission denied)".to_owned(),
        _ => format!("cannot be read: {e}"),
    })?;
    if meta.is_dir() {
        if jar {
            return Err("is a directory, not a jar".to_owned());
        }
        std::fs::read_dir(path).map_err(|e| format!("directory cannot be read: {e}"))?;
        return match agent_marker_file(kind) {
            Some(marker) if !path.join(marker).is_file() => Err(format!(
                "not installed ({marker} is missing; `oneagentctl agents install` puts the agent there)"
            )),
            _ => Ok(()),
        };
    }
    if agent_marker_file(kind).is_some() {
        return Err("is a file, not an agent directory".to_owned());
    }
    let mut magic = [0u8; 4];
    let read = crate::safe_fs::open(path, crate::safe_fs::OpenOpts::TRUSTED)
        .map_err(|e| match e {
            crate::Error::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        })
        .and_then(|(mut f, _)| f.read_exact(&mut magic));
    match read {
        Err(e) if jar => Err(format!("cannot be read as a jar: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(format!("cannot be read: {e}")),
        Ok(()) if jar && magic != *b"PK\x03\x04" => {
            Err("is not a jar (not a zip archive); a bad -javaagent stops the JVM".to_owned())
        }
        Ok(()) => Ok(()),
    }
}

impl OwnedPolicy {
    /// Builds the policy from the configuration, the rules and the agent files on disk.
    pub fn build(config: &Config, rules: &[InjectionRule], skip_executables: &[String]) -> Self {
        let global = rules
            .iter()
            .find(|r| r.scope == GLOBAL_SCOPE)
            .map(|r| r.enabled);
        let java_agent = match config.injection.java_agent {
            JavaAgentKind::Opentelemetry => CoreJavaAgent::OpenTelemetry,
            JavaAgentKind::Skywalking => CoreJavaAgent::SkyWalking,
        };
        let java_path = match config.injection.java_agent {
            JavaAgentKind::Opentelemetry => &config.agents.java,
            JavaAgentKind::Skywalking => &config.agents.java_skywalking,
        };
        let mut agents = LanguageSet::ALL;
        let mut agent_problems = Vec::new();
        for (language, path, kind) in [
            (Language::Java, java_path, AgentKind::Jar),
            (
                Language::Python,
                &config.agents.python,
                AgentKind::PythonDir,
            ),
            (Language::NodeJs, &config.agents.nodejs, AgentKind::NodeFile),
            (
                Language::DotNet,
                &config.agents.dotnet,
                AgentKind::DotnetHome,
            ),
        ] {
            if let Err(problem) = check_agent(path, kind) {
                agents = agents.without(language);
                agent_problems.push(AgentProblem {
                    language: language.as_str().to_owned(),
                    path: path.display().to_string(),
                    problem,
                });
            }
        }
        OwnedPolicy {
            marker: agent_marker(config),
            enabled: global.unwrap_or(config.injection.enabled),
            global_rule: global,
            agents,
            java_agent,
            disabled: nul_join(
                rules
                    .iter()
                    .filter(|r| r.scope != GLOBAL_SCOPE && !r.enabled)
                    .map(|r| r.scope.as_bytes()),
            ),
            enabled_services: nul_join(
                rules
                    .iter()
                    .filter(|r| r.scope != GLOBAL_SCOPE && r.enabled)
                    .map(|r| r.scope.as_bytes()),
            ),
            skip_executables: nul_join(skip_executables.iter().map(|s| s.as_bytes())),
            container_skip_executables: Vec::new(),
            own_agents: [
                &config.agents.java,
                &config.agents.java_skywalking,
                &config.agents.python,
                &config.agents.nodejs,
                &config.agents.dotnet,
            ]
            .map(|p| p.display().to_string()),
            agent_problems,
            otlp_endpoint: crate::config::without_credentials(&config.exporter.otlp_endpoint),
            skywalking_backend: config.exporter.skywalking_backend.clone(),
            python_log_correlation: config.injection.python_log_correlation,
            java_options: config.injection.java_options.join(" "),
            environment: nul_join(
                config
                    .injection
                    .environment
                    .entries()
                    .iter()
                    .map(Vec::as_slice),
            ),
        }
    }

    /// The core policy borrowing this storage.
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            enabled: self.enabled,
            agents: self.agents,
            java_agent: self.java_agent,
            disabled_services: ByteList::nul(&self.disabled),
            enabled_services: ByteList::nul(&self.enabled_services),
            skip_executables: ByteList::nul(&self.skip_executables),
            own_agent_marker: self.marker.as_bytes(),
            own_agents: OwnAgents {
                java: self.own_agents[0].as_bytes(),
                skywalking: self.own_agents[1].as_bytes(),
                python: self.own_agents[2].as_bytes(),
                nodejs: self.own_agents[3].as_bytes(),
                dotnet: self.own_agents[4].as_bytes(),
            },
        }
    }

    /// The variables the preload library would set for a process with these facts
    /// (`KEY=VALUE`, in the library's order): core's [`inject::plan`] on the host snapshot this
    /// policy describes on the host `host_name` (the pid is shown as 0). `Err` says why it would
    /// set none.
    pub fn planned_environment(
        &self,
        facts: &ProcessFacts,
        host_name: &str,
    ) -> Result<Vec<String>, String> {
        use oneagent_preload_core::inject::{self, Context, DotnetDirs, DotnetRid};
        use oneagent_preload_core::snapshot::SnapshotView;
        let policy = self.policy();
        let decision = decide(&input(facts), &policy);
        let snap = SnapshotView {
            enabled: policy.enabled,
            java_agent: policy.java_agent,
            agents: policy.agents,
            python_log_correlation: self.python_log_correlation,
            java_agent_path: policy.own_agents.java,
            skywalking_agent_path: policy.own_agents.skywalking,
            python_dir: policy.own_agents.python,
            nodejs_register: policy.own_agents.nodejs,
            dotnet_home: policy.own_agents.dotnet,
            otlp_endpoint: self.otlp_endpoint.as_bytes(),
            skywalking_backend: self.skywalking_backend.as_bytes(),
            host_name: host_name.as_bytes(),
            report_socket: b"",
            own_agent_marker: policy.own_agent_marker,
            java_options: self.java_options.as_bytes(),
            environment: oneagent_preload_core::NulList::new(&self.environment),
            disabled_services: oneagent_preload_core::NulList::new(&self.disabled),
            enabled_services: oneagent_preload_core::NulList::new(&self.enabled_services),
            skip_executables: oneagent_preload_core::NulList::new(&self.skip_executables),
        };
        let home = Path::new(&self.own_agents[4]);
        let ctx = Context {
            pid: 0,
            systemd_unit: oneagent_preload_core::systemd_unit(&facts.cgroup),
            dotnet_rid: DotnetRid::current(false),
            mark_inherited: true,
            dotnet_dirs: DotnetDirs {
                additional_deps: home.join("AdditionalDeps").is_dir(),
                store: home.join("store").is_dir(),
            },
        };
        let env = ByteList::nul(&facts.environ);
        let mut buf = vec![0u8; 80 * 1024];
        let plan =
            inject::plan(&decision, &snap, &ctx, &env, &mut buf).map_err(|e| e.to_string())?;
        Ok(plan
            .iter()
            .map(|a| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(a.name()),
                    String::from_utf8_lossy(a.value())
                )
            })
            .collect())
    }

    /// The policy with every agent available (tests that run without agents on disk).
    #[cfg(test)]
    pub fn with_all_agents_for_tests(mut self) -> Self {
        self.agents = LanguageSet::ALL;
        self
    }

    /// Whether injection is enabled globally.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether containers are instrumented: in Kubernetes the webhook opts pods in (namespace and
    /// workload labels), so only an explicit global rule (`oneagentctl disable --global`, the
    /// node's kill switch) turns them off; `[injection] enabled` is about host processes.
    pub fn enabled_in_containers(&self) -> bool {
        self.global_rule.unwrap_or(true)
    }

    /// Languages whose agent is usable.
    pub fn agents(&self) -> LanguageSet {
        self.agents
    }

    /// Service names with injection disabled.
    pub fn disabled_services(&self) -> Vec<&[u8]> {
        nul_items(&self.disabled)
    }

    /// Service names with injection enabled while it is off globally.
    pub fn enabled_services(&self) -> Vec<&[u8]> {
        nul_items(&self.enabled_services)
    }

    /// Executables never injected on the host (crash circuit breaker).
    pub fn skip_executables(&self) -> Vec<&[u8]> {
        nul_items(&self.skip_executables)
    }

    /// The policy whose containers' snapshot never injects `exes` (paths inside the containers,
    /// blocked by the crash circuit breaker).
    pub fn with_container_skip_executables(mut self, exes: &[String]) -> Self {
        self.container_skip_executables = nul_join(exes.iter().map(|s| s.as_bytes()));
        self
    }

    /// Executables never injected in containers (crash circuit breaker), by their paths there.
    pub fn container_skip_executables(&self) -> Vec<&[u8]> {
        nul_items(&self.container_skip_executables)
    }
}

/// The non-empty items of a NUL-separated list.
fn nul_items(list: &[u8]) -> Vec<&[u8]> {
    list.split(|&b| b == 0).filter(|s| !s.is_empty()).collect()
}

/// Everything the decision needs about one process (or one command line to explain).
#[derive(Debug, Clone, Default)]
pub struct ProcessFacts {
    /// NUL-separated argv.
    pub cmdline: Vec<u8>,
    /// NUL-separated environment.
    pub environ: Vec<u8>,
    /// The executable image, empty when unknown.
    pub exe: Vec<u8>,
    /// `DT_NEEDED` entries of the executable.
    pub libraries: Vec<u8>,
    /// Go build info present.
    pub go_build_info: bool,
    /// Go version from the build info.
    pub go_version: Option<Vec<u8>>,
    /// `<exe>.runtimeconfig.json` exists beside the executable.
    pub dotnet_apphost: bool,
    /// The name the process's project declares, and the manifest it comes from.
    pub declared_name: Option<(Vec<u8>, ServiceNameSource)>,
    /// A .NET application's target framework, from its runtimeconfig.json.
    pub dotnet_target: Option<Vec<u8>>,
    /// The .NET application's deps.json references OpenTelemetry packages.
    pub dotnet_references_otel: bool,
    /// `/proc/PID/cgroup`.
    pub cgroup: Vec<u8>,
    /// The working directory.
    pub cwd: Vec<u8>,
}

/// The outcome of a decision, owned, in the shape `ps`, `explain` and D-Bus use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// `java`, `python`, … or empty when not a runtime.
    pub language: String,
    /// Runtime version when known, else empty.
    pub runtime_version: String,
    /// `inject` or `skip`.
    pub action: String,
    /// Stable reason code.
    pub reason_code: String,
    /// Human reason.
    pub reason: String,
    /// Our agent is already configured in the environment.
    pub already_injected: bool,
    /// The service name.
    pub service_name: String,
    /// Where the service name came from.
    pub service_name_source: String,
}

/// The core's input for owned facts.
fn input(facts: &ProcessFacts) -> ProcessInput<'_> {
    ProcessInput {
        argv: ByteList::nul(&facts.cmdline),
        env: ByteList::nul(&facts.environ),
        exe: ExeFacts {
            path: &facts.exe,
            libraries: ByteList::nul(&facts.libraries),
            go_build_info: facts.go_build_info,
            go_version: facts.go_version.as_deref(),
            dotnet_apphost: facts.dotnet_apphost,
            declared_name: facts
                .declared_name
                .as_ref()
                .map(|(n, s)| (n.as_slice(), *s)),
            dotnet_target: facts.dotnet_target.as_deref(),
            dotnet_references_otel: facts.dotnet_references_otel,
        },
        cgroup: &facts.cgroup,
        cwd: &facts.cwd,
    }
}

/// Runs the core decision on owned facts.
pub fn evaluate(facts: &ProcessFacts, policy: &OwnedPolicy) -> Verdict {
    let policy = policy.policy();
    let d = decide(&input(facts), &policy);
    Verdict {
        language: d
            .language
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default(),
        runtime_version: d
            .runtime_version
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default(),
        action: d.action.as_str().to_owned(),
        reason_code: d.reason.code().to_owned(),
        reason: d.reason.to_string(),
        already_injected: d.already_injected,
        service_name: d.service_name.as_str().to_owned(),
        service_name_source: d.service_name_source.as_str().to_owned(),
    }
}

/// Fills in facts that need the file system: ELF facts of the executable, .NET apphost evidence
/// and the package.json name of a Node script. Failures leave the facts as they are.
pub fn enrich(facts: &mut ProcessFacts, elf_cache: &mut crate::elf_cache::ElfCache) {
    use std::os::unix::ffi::OsStrExt;
    let exe = PathBuf::from(std::ffi::OsStr::from_bytes(&facts.exe));
    if !facts.exe.is_empty() {
        if let Some(elf) = elf_cache.facts(&exe) {
            facts.libraries = nul_join(elf.needed.iter().map(|s| s.as_bytes()));
            if let Some(go) = &elf.go {
                facts.go_build_info = true;
                facts.go_version = Some(go.go_version.clone().into_bytes());
            }
        }
        facts.dotnet_apphost = elf_cache.dotnet_apphost(&exe);
    }
    if facts.declared_name.is_none() && !facts.cwd.is_empty() {
        facts.declared_name = [Language::NodeJs, Language::Python]
            .into_iter()
            .find(|&l| decide(&input(facts), &Policy::DEFAULT).language == Some(l))
            .and_then(|l| declared_name(facts, l))
            .map(|d| (d.name.as_str().as_bytes().to_vec(), d.manifest.source()));
    }
    dotnet_files(facts);
}

/// A .NET application's runtimeconfig.json (target framework) and deps.json (OpenTelemetry
/// packages), read as the preload library reads them (paths relative to the process's cwd).
fn dotnet_files(facts: &mut ProcessFacts) {
    use std::os::unix::ffi::OsStrExt;
    let is_dotnet = Path::new(std::ffi::OsStr::from_bytes(&facts.exe))
        .file_name()
        .is_some_and(|n| n == "dotnet")
        || facts.dotnet_apphost;
    if !is_dotnet {
        return;
    }
    let Some(files) = dotnet_app::app_files(ByteList::nul(&facts.cmdline), &facts.exe) else {
        return;
    };
    let resolve = |c_path: Option<&[u8]>| {
        let path = c_path?.strip_suffix(b"\0")?;
        let path = Path::new(std::ffi::OsStr::from_bytes(path));
        Some(if path.is_relative() && !facts.cwd.is_empty() {
            Path::new(std::ffi::OsStr::from_bytes(&facts.cwd)).join(path)
        } else {
            path.to_path_buf()
        })
    };
    let mut buf = vec![0u8; 8192];
    let read = |path: Option<PathBuf>, limit: u64| {
        let mut out = Vec::new();
        std::fs::File::open(path?)
            .ok()?
            .take(limit)
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    };
    let runtimeconfig = read(resolve(files.runtimeconfig_path(&mut buf)), 1 << 20);
    facts.dotnet_target = runtimeconfig
        .as_deref()
        .and_then(dotnet_app::target_framework)
        .map(<[u8]>::to_vec);
    facts.dotnet_references_otel = read(resolve(files.deps_path(&mut buf)), 16 << 20)
        .is_some_and(|deps| dotnet_app::references_otel(&deps));
}

/// The name the process's project declares ([`project`]: the nearest package.json of a Node
/// script, pyproject.toml/setup.cfg of a generic Python entry point), read as the preload library
/// reads it but through [`crate::safe_fs`]: a FIFO, a device, a link to someone else's file or an
/// oversized file is refused without blocking, and ends the search.
fn declared_name(facts: &ProcessFacts, language: Language) -> Option<project::Declared> {
    use std::os::unix::ffi::OsStrExt;
    let entry = project::entry(ByteList::nul(&facts.cmdline), language)?;
    let mut buf = vec![0u8; project::MAX_MANIFEST + 1];
    project::find(&entry, &facts.cwd, &mut buf, |path, buf| {
        let path = Path::new(std::ffi::OsStr::from_bytes(
            path.strip_suffix(b"\0").unwrap_or(path),
        ));
        let cap = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        match crate::safe_fs::read_capped(path, cap, crate::safe_fs::OpenOpts::UNTRUSTED) {
            Ok(text) => {
                let n = text.len().min(buf.len());
                buf[..n].copy_from_slice(&text[..n]);
                project::Read::Bytes(n)
            }
            Err(e) if crate::safe_fs::is_not_found(&e) => project::Read::Missing,
            Err(e) => {
                tracing::debug!(error = %e, "project manifest not read");
                project::Read::Refused
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(argv: &[&str]) -> ProcessFacts {
        ProcessFacts {
            cmdline: nul_join(argv.iter().map(|s| s.as_bytes())),
            ..ProcessFacts::default()
        }
    }

    #[test]
    fn missing_agents_disable_their_language_with_a_reason() {
        let mut config = Config::default();
        config.agents.python = "/nonexistent/oneagent-python".into();
        let policy = OwnedPolicy::build(&config, &[], &[]);
        let v = evaluate(&facts(&["python3", "/srv/app/server.py"]), &policy);
        assert_eq!(v.language, "python");
        assert_eq!(
            (v.action.as_str(), v.reason_code.as_str()),
            ("skip", "no-agent")
        );
        assert!(policy.agent_problems.iter().any(|p| p.language == "python"));
    }

    #[test]
    fn rules_reach_the_decision() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join(PYTHON_SITECUSTOMIZE);
        std::fs::create_dir_all(site.parent().unwrap()).unwrap();
        std::fs::write(&site, "").unwrap();
        let mut config = Config::default();
        config.agents.python = dir.path().to_owned();
        let rules = [InjectionRule {
            scope: "server".into(),
            enabled: false,
            updated_at: 0,
            updated_by_uid: 0,
        }];
        let policy = OwnedPolicy::build(&config, &rules, &[]);
        let v = evaluate(&facts(&["python3", "/srv/app/server.py"]), &policy);
        assert_eq!(v.service_name, "server");
        assert_eq!(v.reason_code, "disabled-service");
        let policy = OwnedPolicy::build(&config, &[], &[]);
        let v = evaluate(&facts(&["python3", "/srv/app/server.py"]), &policy);
        assert_eq!(
            (v.action.as_str(), v.reason_code.as_str()),
            ("inject", "instrumentable")
        );
    }

    #[test]
    fn the_marker_is_the_common_agent_directory() {
        assert_eq!(
            agent_marker(&Config::default()),
            "/usr/lib/oneagent/agents/"
        );
        let mut config = Config::default();
        config.agents.java = "/opt/a/agents/j.jar".into();
        config.agents.java_skywalking = "/opt/a/agents/sw.jar".into();
        config.agents.python = "/opt/a/agents/py".into();
        config.agents.nodejs = "/opt/a/agents/r.js".into();
        config.agents.dotnet = "/opt/a/agents/dn".into();
        assert_eq!(agent_marker(&config), "/opt/a/agents/");
        config.agents.dotnet = "/srv/dn".into();
        assert_eq!(agent_marker(&config), "/oneagent/");
    }

    #[test]
    fn a_jar_that_is_not_a_zip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("agent.jar");
        std::fs::write(&jar, b"not a zip").unwrap();
        assert!(
            check_agent(&jar, AgentKind::Jar)
                .unwrap_err()
                .contains("not a jar")
        );
        std::fs::write(&jar, b"PK\x03\x04rest").unwrap();
        assert!(check_agent(&jar, AgentKind::Jar).is_ok());
        // An empty agent directory (as the package ships it) is not an installed agent.
        let py = dir.path().join("python");
        std::fs::create_dir_all(&py).unwrap();
        assert!(
            check_agent(&py, AgentKind::PythonDir)
                .unwrap_err()
                .contains("sitecustomize.py is missing")
        );
        let site = py.join(PYTHON_SITECUSTOMIZE);
        std::fs::create_dir_all(site.parent().unwrap()).unwrap();
        std::fs::write(&site, "").unwrap();
        assert!(check_agent(&py, AgentKind::PythonDir).is_ok());
    }

    #[test]
    fn package_json_name_is_found_upwards() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dist")).unwrap();
        std::fs::write(
            dir.path().join("package.json"),
            br#"{"name":"checkout-api"}"#,
        )
        .unwrap();
        let mut f = facts(&["node", "dist/main.js"]);
        f.cwd = dir.path().as_os_str().as_encoded_bytes().to_vec();
        let d = declared_name(&f, Language::NodeJs).unwrap();
        assert_eq!(
            (d.name.as_str(), d.manifest),
            ("checkout-api", project::Manifest::PackageJson)
        );
    }
}
