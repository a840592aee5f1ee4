//! `oneagent.toml`: every key has a default compiled in, so no file is needed.
//!
//! Unknown keys and wrong types are errors that name the file, the line and the key.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use oneagent_preload_core::Language;
use oneagent_preload_core::agent_env;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::logging::LogLevel;

/// The default configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/oneagent/oneagent.toml";
/// The default state directory (`state.db`, `preload.snapshot`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/oneagent";
/// The default runtime directory (sockets).
pub const DEFAULT_RUNTIME_DIR: &str = "/run/oneagent";
/// The largest configuration file read (a larger one is a configuration error).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[daemon]`: the daemon itself.
    pub daemon: DaemonSection,
    /// `[exporter]`: where agents and the log pipeline send telemetry.
    pub exporter: ExporterSection,
    /// `[injection]`: zero-config agent injection.
    pub injection: InjectionSection,
    /// `[agents]`: where the language agents live on this host.
    pub agents: AgentsSection,
    /// `[logs]`: log discovery and attribution.
    pub logs: LogsSection,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsSection,
    /// `[kubernetes]`: the snapshot for containers on a Kubernetes node.
    pub kubernetes: KubernetesSection,
    /// `[opamp]`: fleet management by an OpAMP server (off unless `endpoint` is set).
    pub opamp: OpampSection,
}

/// `[opamp]`: the OpAMP client. Only the local file sets it; a remote configuration that does
/// is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpampSection {
    /// The server: `wss://` or `ws://` (WebSocket: one connection, the server may push),
    /// `https://` or `http://` (plain HTTP, polling). Empty (the default): no OpAMP client.
    pub endpoint: String,
    /// HTTP headers sent with every request (authentication).
    pub headers: BTreeMap<String, String>,
    /// PEM CA certificates that the server's certificate must chain to; empty: Mozilla's roots
    /// (webpki-roots).
    pub ca_file: PathBuf,
    /// PEM client certificate (chain) presented to the server; needs `client_key`.
    pub client_cert: PathBuf,
    /// PEM private key of `client_cert`.
    pub client_key: PathBuf,
    /// Whether the server may replace the configuration (`[opamp]` and the preload paths
    /// excepted).
    pub accept_remote_config: bool,
    /// How often the plain HTTP transport asks the server for news (seconds).
    pub poll_interval_secs: u64,
}

impl Default for OpampSection {
    fn default() -> Self {
        OpampSection {
            endpoint: String::new(),
            headers: BTreeMap::new(),
            ca_file: PathBuf::new(),
            client_cert: PathBuf::new(),
            client_key: PathBuf::new(),
            accept_remote_config: false,
            poll_interval_secs: 30,
        }
    }
}

/// The name remote configurations go by in messages.
pub const REMOTE_CONFIG_NAME: &str = "<remote configuration>";

/// Keys that only the local file may set (a section name: all its keys). A server can neither
/// move the preload library nor the file that loads it into every process, nor point the agents
/// that every instrumented process loads (`[agents]`, `[kubernetes] node_agent_dir`) at code of
/// its choosing, nor make the daemon, which runs as root, read and export files outside the log
/// roots the host chose (`[logs] roots`), nor change how it is itself reached and trusted.
pub const LOCAL_ONLY_KEYS: &[&str] = &[
    "injection.library",
    "injection.preload_file",
    // JVM options can load code (`-javaagent:`, `-agentpath:`, `-Xbootclasspath/a:`).
    "injection.java_options",
    // Agent variables can load code too (`OTEL_JAVAAGENT_EXTENSIONS`, SkyWalking's plugin paths).
    "injection.environment",
    "agents",
    "kubernetes.node_agent_dir",
    "logs.roots",
    "opamp",
];

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonSection {
    /// Log level at start and after every reload: error, warn, info, debug, trace.
    pub log_level: LogLevel,
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            log_level: LogLevel::Info,
        }
    }
}

/// Compression of OTLP/HTTP bodies sent by the log pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (the default).
    #[default]
    Gzip,
    /// No compression.
    None,
    /// zstd (RFC 8878), for collectors that accept `Content-Encoding: zstd` (the OpenTelemetry
    /// Collector's OTLP/HTTP receiver does).
    Zstd,
}

/// `[exporter]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterSection {
    /// OTLP/HTTP base URL for agents and for log export.
    pub otlp_endpoint: String,
    /// SkyWalking OAP gRPC address for the SkyWalking Java agent.
    pub skywalking_backend: String,
    /// Body compression for OTLP/HTTP export.
    pub compression: Compression,
}

impl Default for ExporterSection {
    fn default() -> Self {
        ExporterSection {
            otlp_endpoint: "http://127.0.0.1:4318".to_owned(),
            skywalking_backend: "127.0.0.1:11800".to_owned(),
            compression: Compression::Gzip,
        }
    }
}

/// Which agent Java processes get.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JavaAgentKind {
    /// The OpenTelemetry Java agent.
    #[default]
    Opentelemetry,
    /// The Apache SkyWalking Java agent.
    Skywalking,
}

/// `[injection]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InjectionSection {
    /// Whether processes are instrumented unless a rule says otherwise.
    pub enabled: bool,
    /// The Java agent to inject.
    pub java_agent: JavaAgentKind,
    /// The preload library that goes into `preload_file`.
    pub library: PathBuf,
    /// The file the loader reads for system-wide preloads.
    pub preload_file: PathBuf,
    /// Set `OTEL_PYTHON_LOG_CORRELATION=true` for Python processes that do not set it (the
    /// OpenTelemetry Python agent then adds trace ids to every log record, which changes the
    /// application's log format: off by default).
    pub python_log_correlation: bool,
    /// Extra JVM options for Java processes that get the agent, appended to
    /// `JAVA_TOOL_OPTIONS` after it (an option the process sets itself is not added).
    pub java_options: Vec<String>,
    /// `[injection.environment]`: extra variables for each runtime's agent.
    pub environment: AgentEnvironment,
}

/// `[injection.environment]`: `runtime = { NAME = "value", … }` for the agents' own variables
/// (see `oneagent_preload_core::agent_env` for the rules the names and values follow).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentEnvironment {
    /// For the Java agents (`OTEL_…` for OpenTelemetry, `SW_…` for SkyWalking).
    pub java: BTreeMap<String, String>,
    /// For the Python agent.
    pub python: BTreeMap<String, String>,
    /// For the Node.js agent.
    pub nodejs: BTreeMap<String, String>,
    /// For the .NET agent.
    pub dotnet: BTreeMap<String, String>,
}

impl AgentEnvironment {
    /// Each runtime's table with its dotted key and core language.
    fn tables(&self) -> [(&'static str, Language, &BTreeMap<String, String>); 4] {
        [
            ("injection.environment.java", Language::Java, &self.java),
            (
                "injection.environment.python",
                Language::Python,
                &self.python,
            ),
            (
                "injection.environment.nodejs",
                Language::NodeJs,
                &self.nodejs,
            ),
            (
                "injection.environment.dotnet",
                Language::DotNet,
                &self.dotnet,
            ),
        ]
    }

    /// The snapshot's entries, `<runtime> <NAME>=<VALUE>` (checked by [`Config::validate`]).
    pub fn entries(&self) -> Vec<Vec<u8>> {
        self.tables()
            .into_iter()
            .flat_map(|(_, language, table)| {
                let word = agent_env::runtime_word(language).unwrap_or_default();
                table
                    .iter()
                    .map(move |(name, value)| format!("{word} {name}={value}").into_bytes())
            })
            .collect()
    }

    /// The first variable the rules refuse, with its key and why.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        for (key, language, table) in self.tables() {
            if table.len() > agent_env::MAX_PER_RUNTIME {
                return Err((
                    key,
                    format!(
                        "{} variables: at most {} per runtime",
                        table.len(),
                        agent_env::MAX_PER_RUNTIME
                    ),
                ));
            }
            for (name, value) in table {
                match agent_env::check(language, name.as_bytes(), value.as_bytes()) {
                    Ok(()) => {}
                    Err(agent_env::Refusal::Reserved) => {
                        let why = agent_env::why_reserved(name.as_bytes()).unwrap_or_default();
                        return Err((key, format!("{name}: oneagent sets it itself ({why})")));
                    }
                    Err(why) => return Err((key, format!("{name}: {why}"))),
                }
            }
        }
        Ok(())
    }
}

impl Default for InjectionSection {
    fn default() -> Self {
        InjectionSection {
            enabled: true,
            java_agent: JavaAgentKind::Opentelemetry,
            library: "/usr/lib/oneagent/liboneagent_preload.so".into(),
            preload_file: "/etc/ld.so.preload".into(),
            python_log_correlation: false,
            java_options: Vec::new(),
            environment: AgentEnvironment::default(),
        }
    }
}

/// `[agents]`: a missing or unreadable path disables that language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsSection {
    /// The OpenTelemetry Java agent jar.
    pub java: PathBuf,
    /// The SkyWalking Java agent jar.
    pub java_skywalking: PathBuf,
    /// A `pip install --target` directory with opentelemetry-distro and the OTLP exporter.
    pub python: PathBuf,
    /// The file given to `node --require`.
    pub nodejs: PathBuf,
    /// `OTEL_DOTNET_AUTO_HOME`.
    pub dotnet: PathBuf,
}

impl Default for AgentsSection {
    fn default() -> Self {
        AgentsSection {
            java: "/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar".into(),
            java_skywalking: "/usr/lib/oneagent/agents/skywalking/skywalking-agent.jar".into(),
            python: "/usr/lib/oneagent/agents/python".into(),
            nodejs: "/usr/lib/oneagent/agents/nodejs/register.js".into(),
            dotnet: "/usr/lib/oneagent/agents/dotnet".into(),
        }
    }
}

/// `[logs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsSection {
    /// Whether log discovery runs.
    pub enabled: bool,
    /// Parent directories searched for log files.
    pub roots: Vec<PathBuf>,
    /// File name globs that are log files.
    pub include: Vec<String>,
    /// File name globs that are never log files.
    pub exclude: Vec<String>,
    /// How deep below each root to look.
    pub max_depth: u32,
    /// Join Java stack traces and Python tracebacks to their first line.
    pub multiline: bool,
    /// Where to start files found at the very first start (no checkpoint yet): `end` or
    /// `beginning`. Files created later, and files with a checkpoint, are always read in full.
    pub start_at: StartAt,
    /// Where records go: `otlp` (`[exporter] otlp_endpoint`/v1/logs) or `stdout` (a summary per
    /// batch, for demos).
    pub exporter: LogExporter,
    /// How often, at most, a file's writer attribution is re-armed while its writer keeps the file
    /// open, so that a second writer is found (seconds).
    pub attribution_rearm_secs: u64,
    /// Per-service rate limit in records per second; 0 turns sampling off. Warnings and errors
    /// are always kept; dropped records are counted.
    pub rate_limit_per_service: u32,
    /// At most this many log files are open at once (and never more than half the daemon's
    /// descriptor limit); idle files beyond it are closed and reopened when they grow.
    pub max_open_files: u32,
    /// Container stdout/stderr logs (`pods_dir`, `docker_dir`) read as CRI / json-file logs
    /// with Kubernetes attributes: `auto` (on when `[kubernetes] node_agent_dir` is set: a
    /// Kubernetes node), `on` or `off`.
    pub container_logs: ContainerLogs,
    /// The kubelet's pod log directory (`<namespace>_<pod>_<uid>/<container>/<n>.log`).
    pub pods_dir: PathBuf,
    /// Docker's container directory (`<id>/<id>-json.log`).
    pub docker_dir: PathBuf,
}

/// Whether container logs are read as such.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerLogs {
    /// On a Kubernetes node (`[kubernetes] node_agent_dir` set), else off.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never: files under the directories are plain log files if a root covers them.
    Off,
}

/// Where the log pipeline starts files it has never seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// At their end: history is not re-sent at the first start.
    #[default]
    End,
    /// At their beginning.
    Beginning,
}

/// The log exporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogExporter {
    /// OTLP/HTTP protobuf.
    #[default]
    Otlp,
    /// A summary line per batch on stdout.
    Stdout,
}

impl Default for LogsSection {
    fn default() -> Self {
        LogsSection {
            enabled: true,
            roots: vec!["/var/log".into(), "/opt".into(), "/srv".into()],
            include: vec!["*.log".to_owned()],
            exclude: Vec::new(),
            max_depth: 4,
            multiline: true,
            start_at: StartAt::End,
            exporter: LogExporter::Otlp,
            attribution_rearm_secs: 30,
            rate_limit_per_service: 0,
            max_open_files: 1024,
            container_logs: ContainerLogs::Auto,
            pods_dir: "/var/log/pods".into(),
            docker_dir: "/var/lib/docker/containers".into(),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Address of the Prometheus `/metrics` endpoint.
    pub listen: SocketAddr,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// Where containers see the node agent directory (the device plugin's read-only mount).
pub const CONTAINER_AGENT_DIR: &str = "/var/oneagent";

/// `[kubernetes]`: on a Kubernetes node, a second snapshot for containers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesSection {
    /// The node agent directory that `oneagent-k8s device-plugin` mounts read-only at
    /// `/var/oneagent` in instrumented containers (it holds the library and `agents/`). When set,
    /// the daemon writes `<node_agent_dir>/preload.snapshot` with every agent path under it
    /// rewritten to `/var/oneagent/…`, and receives reports on `<node_agent_dir>/preload.sock`.
    /// Empty (the default): no container snapshot.
    pub node_agent_dir: PathBuf,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` in the container snapshot; empty: `[exporter]
    /// otlp_endpoint`. The webhook sets the variable on every instrumented container (the node's
    /// address), and a container's own value always wins, so this is only a fallback.
    pub otlp_endpoint: String,
}

/// Where the running configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The file existed and was read.
    File(PathBuf),
    /// The file does not exist: built-in defaults.
    Defaults(PathBuf),
}

impl ConfigSource {
    /// A short human description.
    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Defaults(p) => format!("{} (absent: built-in defaults)", p.display()),
        }
    }
}

/// Replaces every `${env:NAME}` in `value` by `env(NAME)` (the Kubernetes DaemonSet's
/// `ONEAGENT_NODE_IP`, the node's address). An unset or empty variable, a bad name or an unclosed
/// `${` is an error naming it.
pub fn expand_env(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`{value}`: `${{` without a closing `}}`"));
        };
        let inner = &after[..end];
        let name = inner.strip_prefix("env:").ok_or_else(|| {
            format!("`${{{inner}}}` in `{value}`: only `${{env:NAME}}` is expanded")
        })?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`${{{inner}}}`: `{name}` is not an environment variable name"
            ));
        }
        match env(name) {
            Some(v) if !v.is_empty() => out.push_str(&v),
            _ => {
                return Err(format!(
                    "`${{env:{name}}}`: {name} is not set in oneagentd's environment"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Config {
    /// Loads `path`; a file that does not exist means the built-in defaults. Only a regular
    /// file of at most [`MAX_CONFIG_BYTES`] is read (a FIFO, a device or a directory is refused
    /// before it is opened), and every problem with the file is a configuration error.
    pub fn load(path: &Path) -> Result<(Config, ConfigSource)> {
        let opts = crate::safe_fs::OpenOpts::TRUSTED;
        match crate::safe_fs::read_capped(path, MAX_CONFIG_BYTES, opts) {
            Ok(bytes) => {
                let text = std::str::from_utf8(&bytes).map_err(|e| {
                    let (line, column) = line_column_bytes(&bytes, e.valid_up_to());
                    Error::ConfigParse {
                        path: path.to_owned(),
                        line,
                        column,
                        key: None,
                        message: "the file is not valid UTF-8".to_owned(),
                    }
                })?;
                Ok((
                    Config::parse(path, text)?,
                    ConfigSource::File(path.to_owned()),
                ))
            }
            Err(e) if crate::safe_fs::is_not_found(&e) => {
                Ok((Config::default(), ConfigSource::Defaults(path.to_owned())))
            }
            Err(e) => Err(Error::ConfigFile {
                source: Box::new(e),
            }),
        }
    }

    /// Parses and validates configuration text; `path` is used in messages only. `${env:NAME}`
    /// in the endpoint keys is replaced by oneagentd's environment variable NAME.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        Self::parse_with_env(path, text, &|name| std::env::var(name).ok())
    }

    /// [`Config::parse`] with the environment given by `env` (tests).
    pub fn parse_with_env(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let span = e.span();
            let (line, column) = span
                .as_ref()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            Error::ConfigParse {
                path: path.to_owned(),
                line,
                column,
                key: span.and_then(|s| key_at(text, s.start)),
                message: e.message().trim_end().to_owned(),
            }
        })?;
        for (key, value) in [
            ("exporter.otlp_endpoint", &mut config.exporter.otlp_endpoint),
            (
                "exporter.skywalking_backend",
                &mut config.exporter.skywalking_backend,
            ),
            (
                "kubernetes.otlp_endpoint",
                &mut config.kubernetes.otlp_endpoint,
            ),
        ] {
            *value = expand_env(value, env).map_err(|message| Error::ConfigValue {
                path: path.to_owned(),
                key,
                message,
            })?;
        }
        config.validate(path)?;
        Ok(config)
    }

    /// Whether container logs are read as such: `[logs] container_logs`, `auto` meaning on a
    /// Kubernetes node (`[kubernetes] node_agent_dir` set).
    pub fn container_logs_on(&self) -> bool {
        match self.logs.container_logs {
            ContainerLogs::On => true,
            ContainerLogs::Off => false,
            ContainerLogs::Auto => !self.kubernetes.node_agent_dir.as_os_str().is_empty(),
        }
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let endpoint = &self.exporter.otlp_endpoint;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            || endpoint.len() <= "https://".len()
        {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "exporter.otlp_endpoint",
                message: format!(
                    "`{}` is not an http:// or https:// URL",
                    redact_url(endpoint)
                ),
            });
        }
        if let Some(bad) = self
            .injection
            .java_options
            .iter()
            .find(|o| !agent_env::java_option_ok(o))
        {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "injection.java_options",
                message: format!(
                    "{bad:?} is not one JVM option: each entry must start with `-` and have no \
                     whitespace, quotes or control characters"
                ),
            });
        }
        if let Err((key, message)) = self.injection.environment.check() {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key,
                message,
            });
        }
        if self.exporter.skywalking_backend.trim().is_empty() {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "exporter.skywalking_backend",
                message: "must be host:port, not empty".to_owned(),
            });
        }
        for (key, p) in [
            ("injection.library", &self.injection.library),
            ("injection.preload_file", &self.injection.preload_file),
            ("agents.java", &self.agents.java),
            ("agents.java_skywalking", &self.agents.java_skywalking),
            ("agents.python", &self.agents.python),
            ("agents.nodejs", &self.agents.nodejs),
            ("agents.dotnet", &self.agents.dotnet),
            ("logs.pods_dir", &self.logs.pods_dir),
            ("logs.docker_dir", &self.logs.docker_dir),
        ] {
            if !p.is_absolute() {
                return Err(Error::ConfigValue {
                    path: path.to_owned(),
                    key,
                    message: format!("`{}` must be an absolute path", p.display()),
                });
            }
        }
        let node_dir = &self.kubernetes.node_agent_dir;
        if !node_dir.as_os_str().is_empty() && !node_dir.is_absolute() {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "kubernetes.node_agent_dir",
                message: format!("`{}` must be an absolute path", node_dir.display()),
            });
        }
        let endpoint = &self.kubernetes.otlp_endpoint;
        let is_url = endpoint.starts_with("http://") || endpoint.starts_with("https://");
        if !endpoint.is_empty() && !is_url {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "kubernetes.otlp_endpoint",
                message: format!(
                    "`{}` is not an http:// or https:// URL",
                    redact_url(endpoint)
                ),
            });
        }
        if let Some(root) = self.logs.roots.iter().find(|r| !r.is_absolute()) {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "logs.roots",
                message: format!("`{}` must be an absolute path", root.display()),
            });
        }
        if !(16..=1_000_000).contains(&self.logs.max_open_files) {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "logs.max_open_files",
                message: format!("{} is outside 16..=1000000", self.logs.max_open_files),
            });
        }
        if !(1..=3600).contains(&self.logs.attribution_rearm_secs) {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "logs.attribution_rearm_secs",
                message: format!("{} is outside 1..=3600", self.logs.attribution_rearm_secs),
            });
        }
        self.validate_opamp(path)?;
        if self.logs.max_depth > 64 {
            return Err(Error::ConfigValue {
                path: path.to_owned(),
                key: "logs.max_depth",
                message: format!("{} is more than the limit of 64", self.logs.max_depth),
            });
        }
        Ok(())
    }
}

impl Config {
    fn validate_opamp(&self, path: &Path) -> Result<()> {
        let o = &self.opamp;
        let bad = |key: &'static str, message: String| Error::ConfigValue {
            path: path.to_owned(),
            key,
            message,
        };
        if !o.endpoint.is_empty() {
            let ok = ["wss://", "ws://", "https://", "http://"]
                .iter()
                .any(|s| o.endpoint.starts_with(s) && o.endpoint.len() > s.len());
            if !ok {
                return Err(bad(
                    "opamp.endpoint",
                    format!(
                        "`{}` is not a wss://, ws://, https:// or http:// URL",
                        redact_url(&o.endpoint)
                    ),
                ));
            }
        }
        for (key, p) in [
            ("opamp.ca_file", &o.ca_file),
            ("opamp.client_cert", &o.client_cert),
            ("opamp.client_key", &o.client_key),
        ] {
            if !p.as_os_str().is_empty() && !p.is_absolute() {
                return Err(bad(
                    key,
                    format!("`{}` must be an absolute path", p.display()),
                ));
            }
        }
        if o.client_cert.as_os_str().is_empty() != o.client_key.as_os_str().is_empty() {
            return Err(bad(
                if o.client_key.as_os_str().is_empty() {
                    "opamp.client_key"
                } else {
                    "opamp.client_cert"
                },
                "client_cert and client_key go together: set both or neither".to_owned(),
            ));
        }
        for (name, value) in &o.headers {
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b));
            if !name_ok {
                return Err(bad(
                    "opamp.headers",
                    format!("`{name}` is not an HTTP header name"),
                ));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(bad(
                    "opamp.headers",
                    format!("the value of `{name}` holds a line break or NUL"),
                ));
            }
        }
        if !(1..=3600).contains(&o.poll_interval_secs) {
            return Err(bad(
                "opamp.poll_interval_secs",
                format!("{} is outside 1..=3600", o.poll_interval_secs),
            ));
        }
        Ok(())
    }

    /// Checks a remote configuration on its own, exactly like a local file (its own line and
    /// key in messages), and refuses the keys only the local file may set.
    pub fn check_remote(text: &str) -> Result<Config> {
        let path = Path::new(REMOTE_CONFIG_NAME);
        let config = Config::parse(path, text)?;
        let table: toml::Table = toml::from_str(text).unwrap_or_default();
        for key in LOCAL_ONLY_KEYS {
            let (section, name) = key.split_once('.').unwrap_or((key, ""));
            let set = match table.get(section) {
                Some(s) if name.is_empty() => s.as_table().is_none_or(|t| !t.is_empty()),
                Some(s) => s.as_table().is_some_and(|t| t.contains_key(name)),
                None => false,
            };
            if set {
                return Err(Error::ConfigValue {
                    path: path.to_owned(),
                    key,
                    message: "only the local oneagent.toml may set this; remove it from the \
                              remote configuration"
                        .to_owned(),
                });
            }
        }
        Ok(config)
    }

    /// This (local) configuration with a remote one over it: every key the remote text sets
    /// replaces the local value; every other key, `[opamp]` and the preload paths keep theirs.
    pub fn with_remote(&self, remote: &str) -> Result<Config> {
        Config::check_remote(remote)?;
        let path = Path::new(REMOTE_CONFIG_NAME);
        let remote: toml::Table = toml::from_str(remote).unwrap_or_default();
        let mut merged = toml::Table::try_from(self).map_err(|e| Error::ConfigValue {
            path: path.to_owned(),
            key: "opamp",
            message: format!("the local configuration cannot be merged: {e}"),
        })?;
        for (section, value) in remote {
            match (merged.get_mut(&section), value) {
                (Some(toml::Value::Table(local)), toml::Value::Table(keys)) => local.extend(keys),
                (_, value) => {
                    merged.insert(section, value);
                }
            }
        }
        let config: Config =
            merged
                .try_into()
                .map_err(|e: toml::de::Error| Error::ConfigValue {
                    path: path.to_owned(),
                    key: "opamp",
                    message: format!("the merged configuration is not valid: {}", e.message()),
                })?;
        config.validate(path)?;
        Ok(config)
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The user information (`user:password`) of a URL, if it has any.
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let authority_end = url
        .get(start..)?
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url.get(start..authority_end)?.rfind('@')?;
    Some((start, start + at))
}

/// `url` as it may be shown to anyone (`status`, logs, errors): credentials (`user:password@`)
/// and the query string (where API keys go) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = match userinfo(url) {
        Some((start, end)) => format!(
            "{}***{}",
            url.get(..start).unwrap_or_default(),
            url.get(end..).unwrap_or_default()
        ),
        None => url.to_owned(),
    };
    if let Some(q) = out.find('?') {
        out.truncate(q);
        out.push_str("?***");
    }
    out
}

/// `url` without its credentials: what agents are given. The preload snapshot must be readable
/// by every process on the host, so it can carry no secret; the daemon's own log export keeps
/// them (HTTP basic authentication).
pub fn without_credentials(url: &str) -> String {
    match userinfo(url) {
        Some((start, end)) => format!(
            "{}{}",
            url.get(..start).unwrap_or_default(),
            url.get(end + 1..).unwrap_or_default()
        ),
        None => url.to_owned(),
    }
}

/// Replaces every occurrence of the secret parts of `url` (credentials, query) in `text`.
pub fn redact_in(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let Some((start, end)) = userinfo(url)
        && let Some(secret) = url.get(start..end)
        && !secret.is_empty()
    {
        out = out.replace(secret, "***");
    }
    if let Some(q) = url.find('?')
        && let Some(query) = url.get(q + 1..)
        && !query.is_empty()
    {
        out = out.replace(query, "***");
    }
    out
}

/// [`line_column`] over bytes that are not all UTF-8 (`offset` is where the valid text ends).
fn line_column_bytes(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The dotted key (`section.key`) of the line holding byte `offset`, when the line is a
/// `key = value` line (or a `[section]` header).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |nl| nl + 1);
    let line_end = text
        .get(offset..)?
        .find('\n')
        .map_or(text.len(), |nl| offset + nl);
    let line = text.get(line_start..line_end)?.trim();
    let header = |l: &str| -> Option<String> {
        let l = l.trim();
        let inner = l.strip_prefix('[')?.split(']').next()?;
        Some(
            inner
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned(),
        )
    };
    if line.starts_with('[') {
        return header(line);
    }
    let key = line.split('=').next()?.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let section = text
        .get(..line_start)?
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .and_then(header);
    Some(match section {
        Some(s) if !s.is_empty() => format!("{s}.{key}"),
        _ => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("/etc/oneagent/oneagent.toml"), text)
    }

    #[test]
    fn a_missing_file_is_the_defaults() {
        let (config, source) = Config::load(Path::new("/nonexistent/oneagent.toml")).unwrap();
        assert_eq!(config, Config::default());
        assert!(matches!(source, ConfigSource::Defaults(_)));
        assert!(source.describe().contains("built-in defaults"));
    }

    /// `[injection.environment]`: per-runtime tables; a refused variable names the runtime's key
    /// and the variable, and says why.
    #[test]
    fn agent_environment_tables() {
        let c = parse(
            "[injection.environment]\npython = { OTEL_TRACES_SAMPLER = \"always_off\" }\n\
             dotnet = { OTEL_DOTNET_AUTO_TRACES_ENABLED = \"false\" }\n",
        )
        .unwrap();
        assert_eq!(
            c.injection.environment.entries(),
            [
                b"python OTEL_TRACES_SAMPLER=always_off".to_vec(),
                b"dotnet OTEL_DOTNET_AUTO_TRACES_ENABLED=false".to_vec(),
            ]
        );
        assert!(Config::default().injection.environment.entries().is_empty());
        let many: String = (0..=agent_env::MAX_PER_RUNTIME)
            .map(|i| format!("OTEL_V{i} = \"1\", "))
            .collect();
        let many = format!(
            "[injection.environment]\nnodejs = {{ {} }}\n",
            many.trim_end_matches(", ")
        );
        for (text, key, says) in [
            (
                "python = { NODE_OPTIONS = \"x\" }",
                "injection.environment.python",
                "NODE_OPTIONS: not an agent variable",
            ),
            (
                "java = { OTEL_RESOURCE_ATTRIBUTES = \"a=b\" }",
                "injection.environment.java",
                "OTEL_RESOURCE_ATTRIBUTES: oneagent sets it itself (a list",
            ),
            (
                "java = { OTEL_EXPORTER_OTLP_ENDPOINT = \"http://x\" }",
                "injection.environment.java",
                "[exporter] otlp_endpoint",
            ),
            (
                "nodejs = { LD_PRELOAD = \"/x.so\" }",
                "injection.environment.nodejs",
                "dynamic loader",
            ),
            (
                "dotnet = { OTEL_X = \"\" }",
                "injection.environment.dotnet",
                "OTEL_X: the value must be",
            ),
            (
                "python = { otel_x = \"1\" }",
                "injection.environment.python",
                "otel_x: not a variable name",
            ),
            (
                "python = { SW_AGENT_SAMPLE = \"1\" }",
                "injection.environment.python",
                "SW_AGENT_SAMPLE: not an agent variable",
            ),
            (&many[24..], "injection.environment.nodejs", "at most 16"),
        ] {
            let text = format!("[injection.environment]\n{text}\n");
            match parse(&text) {
                Err(Error::ConfigValue {
                    key: k, message, ..
                }) => {
                    assert_eq!(k, key, "{text}");
                    assert!(message.contains(says), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(parse("[injection.environment]\nruby = { OTEL_X = \"1\" }\n").is_err());
    }

    #[test]
    fn empty_text_is_the_defaults() {
        assert_eq!(parse("").ok(), Some(Config::default()));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("[exporter]\notlp_endpoint = \"http://x:4318\"\nbogus = 1\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("/etc/oneagent/oneagent.toml:3:1: key `exporter.bogus`"),
            "{err}"
        );
        assert!(err.contains("unknown field `bogus`"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let err = parse("\n[injection]\nenabled = \"yes\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("/etc/oneagent/oneagent.toml:3:"), "{err}");
        assert!(err.contains("key `injection.enabled`"), "{err}");
    }

    #[test]
    fn unknown_section_is_named() {
        let err = parse("[exportr]\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(":1:") && err.contains("exportr"), "{err}");
    }

    #[test]
    fn bad_enum_value_is_named() {
        let err = parse("[injection]\njava_agent = \"dynatrace\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(":2:") && err.contains("injection.java_agent"),
            "{err}"
        );
    }

    #[test]
    fn compression_is_checked() {
        let config = parse("[exporter]\ncompression = \"zstd\"\n").unwrap();
        assert_eq!(config.exporter.compression, Compression::Zstd);
        let err = parse("[exporter]\ncompression = \"brotli\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(":2:") && err.contains("exporter.compression") && err.contains("zstd"),
            "{err}"
        );
    }

    #[test]
    fn relative_agent_path_is_refused() {
        let err = parse("[agents]\njava = \"agent.jar\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("agents.java") && err.contains("absolute"),
            "{err}"
        );
    }

    #[test]
    fn values_are_read() {
        let config = parse(
            "[exporter]\notlp_endpoint = \"https://collector:4318\"\ncompression = \"none\"\n\
             [injection]\nenabled = false\njava_agent = \"skywalking\"\n[daemon]\nlog_level = \"debug\"\n",
        );
        let Ok(config) = config else {
            panic!("valid config refused: {config:?}");
        };
        assert_eq!(config.exporter.otlp_endpoint, "https://collector:4318");
        assert_eq!(config.exporter.compression, Compression::None);
        assert!(!config.injection.enabled);
        assert_eq!(config.injection.java_agent, JavaAgentKind::Skywalking);
        assert_eq!(config.daemon.log_level, LogLevel::Debug);
    }

    #[test]
    fn container_logs_are_on_on_a_kubernetes_node_only_unless_told() {
        assert!(!Config::default().container_logs_on(), "a plain host");
        let k8s = parse("[kubernetes]\nnode_agent_dir = \"/usr/lib/oneagent\"\n").unwrap();
        assert!(k8s.container_logs_on());
        let off =
            parse("[logs]\ncontainer_logs = \"off\"\n[kubernetes]\nnode_agent_dir = \"/x\"\n");
        assert!(!off.unwrap().container_logs_on());
        assert!(
            parse("[logs]\ncontainer_logs = \"on\"\n")
                .unwrap()
                .container_logs_on()
        );
        let err = parse("[logs]\ncontainer_logs = \"yes\"\n").unwrap_err();
        assert!(err.to_string().contains("container_logs"), "{err}");
        let err = parse("[logs]\npods_dir = \"pods\"\n").unwrap_err();
        assert!(err.to_string().contains("logs.pods_dir"), "{err}");
    }

    #[test]
    fn kubernetes_keys_are_checked() {
        let config = parse("[kubernetes]\nnode_agent_dir = \"/usr/lib/oneagent\"\n").unwrap();
        assert_eq!(
            config.kubernetes.node_agent_dir,
            PathBuf::from("/usr/lib/oneagent")
        );
        assert_eq!(Config::default().kubernetes.node_agent_dir, PathBuf::new());
        let err = parse("[kubernetes]\nnode_agent_dir = \"agents\"\n").unwrap_err();
        assert!(
            err.to_string().contains("kubernetes.node_agent_dir"),
            "{err}"
        );
        let err = parse("[kubernetes]\notlp_endpoint = \"collector:4318\"\n").unwrap_err();
        assert!(
            err.to_string().contains("kubernetes.otlp_endpoint"),
            "{err}"
        );
    }

    #[test]
    fn credentials_are_redacted_and_kept_from_agents() {
        let url = "https://user:p%40ss@collector.example:4318/base?api-key=k3y";
        assert_eq!(
            redact_url(url),
            "https://***@collector.example:4318/base?***"
        );
        assert_eq!(
            without_credentials(url),
            "https://collector.example:4318/base?api-key=k3y"
        );
        let msg = format!("{url}/v1/logs: connection refused (user:p%40ss)");
        let shown = redact_in(&msg, url);
        assert!(
            !shown.contains("p%40ss") && !shown.contains("k3y"),
            "{shown}"
        );
        assert_eq!(redact_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318");
        assert_eq!(without_credentials("http://a@b/c@d"), "http://b/c@d");
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn env_placeholders_in_endpoints_are_expanded_or_refused_by_name() {
        let env = |name: &str| (name == "ONEAGENT_NODE_IP").then(|| "10.0.0.7".to_owned());
        let path = Path::new("/etc/oneagent/oneagent.toml");
        // The DaemonSet's oneagent.toml, as `oneagent-k8s manifests` generates it.
        let text = "[exporter]\notlp_endpoint = \"http://${env:ONEAGENT_NODE_IP}:4318\"\n\
                    skywalking_backend = \"${env:ONEAGENT_NODE_IP}:11800\"\n\
                    [kubernetes]\notlp_endpoint = \"http://${env:ONEAGENT_NODE_IP}:4318/x\"\n";
        let config = Config::parse_with_env(path, text, &env).unwrap();
        assert_eq!(config.exporter.otlp_endpoint, "http://10.0.0.7:4318");
        assert_eq!(config.exporter.skywalking_backend, "10.0.0.7:11800");
        assert_eq!(config.kubernetes.otlp_endpoint, "http://10.0.0.7:4318/x");
        for (bad, key, says) in [
            (
                "[exporter]\notlp_endpoint = \"http://${env:UNSET}:4318\"\n",
                "exporter.otlp_endpoint",
                "UNSET is not set",
            ),
            (
                "[exporter]\nskywalking_backend = \"${env:1X}:1\"\n",
                "exporter.skywalking_backend",
                "not an environment variable name",
            ),
            (
                "[exporter]\nskywalking_backend = \"${HOME}:1\"\n",
                "exporter.skywalking_backend",
                "only `${env:NAME}`",
            ),
            (
                "[kubernetes]\notlp_endpoint = \"http://${env:X\"\n",
                "kubernetes.otlp_endpoint",
                "without a closing",
            ),
        ] {
            let err = Config::parse_with_env(path, bad, &env).unwrap_err();
            assert!(
                matches!(&err, Error::ConfigValue { key: k, .. } if *k == key),
                "{err}"
            );
            assert!(err.to_string().contains(says), "{err}");
        }
        // Text without placeholders is unchanged; `$` alone is not a placeholder.
        assert_eq!(expand_env("http://a$b:1", &env).unwrap(), "http://a$b:1");
    }
}

#[cfg(test)]
mod opamp_tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("/etc/oneagent/oneagent.toml"), text)
    }

    fn err(text: &str) -> String {
        parse(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn opamp_is_off_by_default_and_read() {
        let d = Config::default().opamp;
        assert!(d.endpoint.is_empty() && !d.accept_remote_config);
        let c = parse(
            "[opamp]\nendpoint = \"https://fleet:4320/v1/opamp\"\naccept_remote_config = true\n\
             ca_file = \"/etc/oneagent/ca.pem\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\n\
             headers = { Authorization = \"Bearer x\" }\n",
        )
        .unwrap();
        assert_eq!(c.opamp.endpoint, "https://fleet:4320/v1/opamp");
        assert!(c.opamp.accept_remote_config);
        assert_eq!(c.opamp.headers["Authorization"], "Bearer x");
    }

    #[test]
    fn opamp_errors_name_the_key() {
        for (text, key) in [
            ("[opamp]\nendpoint = \"fleet:4320\"\n", "opamp.endpoint"),
            ("[opamp]\nendpoint = \"wss://\"\n", "opamp.endpoint"),
            ("[opamp]\nca_file = \"ca.pem\"\n", "opamp.ca_file"),
            ("[opamp]\nclient_cert = \"/c.pem\"\n", "opamp.client_key"),
            ("[opamp]\nheaders = { \"a b\" = \"x\" }\n", "opamp.headers"),
            ("[opamp]\nheaders = { a = \"x\\ny\" }\n", "opamp.headers"),
            (
                "[opamp]\npoll_interval_secs = 0\n",
                "opamp.poll_interval_secs",
            ),
            ("[opamp]\nbogus = 1\n", "opamp.bogus"),
        ] {
            let e = err(text);
            assert!(e.contains(&format!("key `{key}`")), "{text}: {e}");
        }
    }

    #[test]
    fn a_remote_config_overrides_key_by_key_but_never_local_only_keys() {
        let local = parse(
            "[opamp]\nendpoint = \"http://fleet\"\naccept_remote_config = true\n\
             [logs]\nmax_depth = 3\nroots = [\"/srv\"]\n",
        )
        .unwrap();
        let merged = local
            .with_remote("[logs]\nmax_depth = 7\n[daemon]\nlog_level = \"debug\"\n")
            .unwrap();
        assert_eq!(merged.logs.max_depth, 7);
        assert_eq!(merged.logs.roots, vec![PathBuf::from("/srv")]);
        assert_eq!(merged.daemon.log_level, LogLevel::Debug);
        assert_eq!(merged.opamp, local.opamp);
        for (remote, key) in [
            (
                "[injection]\nlibrary = \"/tmp/evil.so\"\n",
                "injection.library",
            ),
            (
                "[injection]\npreload_file = \"/etc/x\"\n",
                "injection.preload_file",
            ),
            ("[opamp]\naccept_remote_config = true\n", "opamp"),
            (
                "[injection]\njava_options = [\"-javaagent:/tmp/evil.jar\"]\n",
                "injection.java_options",
            ),
            (
                "[injection.environment]\njava = { OTEL_JAVAAGENT_EXTENSIONS = \"/tmp/evil.jar\" }\n",
                "injection.environment",
            ),
            ("[agents]\njava = \"/tmp/evil.jar\"\n", "agents"),
            (
                "[kubernetes]\nnode_agent_dir = \"/tmp/x\"\n",
                "kubernetes.node_agent_dir",
            ),
            ("[logs]\nroots = [\"/etc\"]\n", "logs.roots"),
        ] {
            let e = local.with_remote(remote).unwrap_err().to_string();
            assert!(
                e.starts_with(REMOTE_CONFIG_NAME) && e.contains(&format!("key `{key}`")),
                "{e}"
            );
        }
        // Validated like a local file: line and key of the remote text.
        let e = local
            .with_remote("[logs]\n\nmax_depth = 100\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("logs.max_depth") && e.contains("64"), "{e}");
        let e = local
            .with_remote("[logs]\nmax_dept = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("logs.max_dept"), "{e}");
        // [injection] enabled may be set remotely.
        assert!(
            !local
                .with_remote("[injection]\nenabled = false\n")
                .unwrap()
                .injection
                .enabled
        );
    }
}
