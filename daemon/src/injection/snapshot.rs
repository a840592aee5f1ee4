//! The snapshot compiler: configuration + rules + agent availability → `preload.snapshot`, in the
//! format of `preload/core`'s `snapshot` module, written atomically (temporary file, fsync,
//! rename, fsync of the directory) and only when its content changes.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use oneagent_preload_core::snapshot::{self, MAX_SNAPSHOT, SnapshotData};
use oneagent_preload_core::{JavaAgentKind as CoreJavaAgent, Language, LanguageSet};

use crate::config::{CONTAINER_AGENT_DIR, Config, JavaAgentKind};
use crate::decision::OwnedPolicy;
use crate::error::{Error, Result};

/// The snapshot's file name in the state directory.
pub const SNAPSHOT_FILE: &str = "preload.snapshot";
/// The largest snapshot file read back (far above any real one).
const MAX_SNAPSHOT_FILE: u64 = 16 << 20;
/// The preload library's file name in the node agent directory (Kubernetes).
pub const LIBRARY_FILE: &str = "liboneagent_preload.so";
/// The report socket's file name in the runtime directory.
pub const REPORT_SOCKET: &str = "preload.sock";

/// The host name, as the kernel has it.
pub fn host_name() -> String {
    crate::safe_fs::read_head(
        Path::new("/proc/sys/kernel/hostname"),
        256,
        crate::safe_fs::OpenOpts::TRUSTED,
    )
    .ok()
    .and_then(|b| String::from_utf8(b).ok())
    .map(|s| s.trim().to_owned())
    .unwrap_or_default()
}

/// The paths, endpoint and available agents that differ between the host's snapshot and the
/// containers' one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The OpenTelemetry Java agent jar.
    pub java: Vec<u8>,
    /// The SkyWalking Java agent jar.
    pub skywalking: Vec<u8>,
    /// The Python agent directory.
    pub python: Vec<u8>,
    /// The Node.js register file.
    pub nodejs: Vec<u8>,
    /// `OTEL_DOTNET_AUTO_HOME`.
    pub dotnet: Vec<u8>,
    /// Where processes send their report datagram.
    pub report_socket: Vec<u8>,
    /// The marker of our agents' paths in a process's environment.
    pub marker: Vec<u8>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` when the process has none.
    pub otlp_endpoint: Vec<u8>,
    /// Languages whose agent can be used.
    pub agents: LanguageSet,
    /// Whether processes are instrumented at all.
    pub enabled: bool,
    /// Executables never injected (the crash circuit breaker's blocks of this scope).
    pub skip_executables: Vec<Vec<u8>>,
}

fn path_bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_encoded_bytes().to_vec()
}

/// The host's placement: the configured paths as they are.
pub fn host_placement(config: &Config, policy: &OwnedPolicy, runtime_dir: &Path) -> Placement {
    Placement {
        java: path_bytes(&config.agents.java),
        skywalking: path_bytes(&config.agents.java_skywalking),
        python: path_bytes(&config.agents.python),
        nodejs: path_bytes(&config.agents.nodejs),
        dotnet: path_bytes(&config.agents.dotnet),
        report_socket: path_bytes(&runtime_dir.join(REPORT_SOCKET)),
        marker: policy.marker.as_bytes().to_vec(),
        // Every process reads the snapshot: no credentials in it (see `without_credentials`).
        otlp_endpoint: crate::config::without_credentials(&config.exporter.otlp_endpoint)
            .into_bytes(),
        agents: policy.agents(),
        enabled: policy.enabled(),
        skip_executables: owned(policy.skip_executables()),
    }
}

fn owned(list: Vec<&[u8]>) -> Vec<Vec<u8>> {
    list.into_iter().map(<[u8]>::to_vec).collect()
}

/// `path` as containers see it when `node_agent_dir` is mounted at [`CONTAINER_AGENT_DIR`];
/// `None` when the path is outside that directory (containers cannot see it).
pub fn in_container(path: &Path, node_agent_dir: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(node_agent_dir).ok()?;
    Some(Path::new(CONTAINER_AGENT_DIR).join(rest))
}

/// The containers' placement: every agent path under `node_agent_dir` rewritten to
/// `/var/oneagent/…`; a language whose agent lies outside it is unavailable in containers. The
/// report socket is `/var/oneagent/preload.sock` (the daemon binds
/// `<node_agent_dir>/preload.sock`; sending to a socket works through a read-only mount).
/// Injection is on unless the global rule turns it off (the webhook opted the pod in).
pub fn container_placement(
    config: &Config,
    policy: &OwnedPolicy,
    node_agent_dir: &Path,
) -> Placement {
    let mut agents = policy.agents();
    let mut rewrite =
        |path: &Path, language: Option<Language>| match in_container(path, node_agent_dir) {
            Some(p) => path_bytes(&p),
            None => {
                if let Some(language) = language {
                    agents = agents.without(language);
                }
                Vec::new()
            }
        };
    let (java_lang, skywalking_lang) = match config.injection.java_agent {
        JavaAgentKind::Opentelemetry => (Some(Language::Java), None),
        JavaAgentKind::Skywalking => (None, Some(Language::Java)),
    };
    let java = rewrite(&config.agents.java, java_lang);
    let skywalking = rewrite(&config.agents.java_skywalking, skywalking_lang);
    let python = rewrite(&config.agents.python, Some(Language::Python));
    let nodejs = rewrite(&config.agents.nodejs, Some(Language::NodeJs));
    let dotnet = rewrite(&config.agents.dotnet, Some(Language::DotNet));
    let marker = in_container(Path::new(&policy.marker), node_agent_dir)
        .map(|p| {
            let mut m = path_bytes(&p);
            if m.last() != Some(&b'/') {
                m.push(b'/');
            }
            m
        })
        .unwrap_or_else(|| format!("{CONTAINER_AGENT_DIR}/").into_bytes());
    let endpoint = match config.kubernetes.otlp_endpoint.as_str() {
        "" => &config.exporter.otlp_endpoint,
        e => e,
    };
    Placement {
        java,
        skywalking,
        python,
        nodejs,
        dotnet,
        report_socket: format!("{CONTAINER_AGENT_DIR}/{REPORT_SOCKET}").into_bytes(),
        marker,
        otlp_endpoint: crate::config::without_credentials(endpoint).into_bytes(),
        agents,
        enabled: policy.enabled_in_containers(),
        // Containers' executables, by their paths inside the containers: a host block says
        // nothing about an image's file of the same name, nor a container's about the host's.
        skip_executables: owned(policy.container_skip_executables()),
    }
}

/// Encodes the snapshot for `config` and `policy`, with the host's paths.
pub fn compile(config: &Config, policy: &OwnedPolicy, runtime_dir: &Path) -> Result<Vec<u8>> {
    encode(config, policy, &host_placement(config, policy, runtime_dir))
}

/// Encodes the containers' snapshot (see [`container_placement`]).
pub fn compile_for_containers(
    config: &Config,
    policy: &OwnedPolicy,
    node_agent_dir: &Path,
) -> Result<Vec<u8>> {
    encode(
        config,
        policy,
        &container_placement(config, policy, node_agent_dir),
    )
}

fn encode(config: &Config, policy: &OwnedPolicy, place: &Placement) -> Result<Vec<u8>> {
    let host = host_name();
    let disabled = policy.disabled_services();
    let enabled = policy.enabled_services();
    let skip: Vec<&[u8]> = place.skip_executables.iter().map(Vec::as_slice).collect();
    let java_options = config.injection.java_options.join(" ");
    let environment = config.injection.environment.entries();
    let environment: Vec<&[u8]> = environment.iter().map(Vec::as_slice).collect();
    let data = SnapshotData {
        enabled: place.enabled,
        java_agent: match config.injection.java_agent {
            JavaAgentKind::Opentelemetry => CoreJavaAgent::OpenTelemetry,
            JavaAgentKind::Skywalking => CoreJavaAgent::SkyWalking,
        },
        agents: place.agents,
        python_log_correlation: config.injection.python_log_correlation,
        java_agent_path: &place.java,
        skywalking_agent_path: &place.skywalking,
        python_dir: &place.python,
        nodejs_register: &place.nodejs,
        dotnet_home: &place.dotnet,
        otlp_endpoint: &place.otlp_endpoint,
        skywalking_backend: config.exporter.skywalking_backend.as_bytes(),
        host_name: host.as_bytes(),
        report_socket: &place.report_socket,
        own_agent_marker: &place.marker,
        java_options: java_options.as_bytes(),
        environment: &environment,
        disabled_services: &disabled,
        enabled_services: &enabled,
        skip_executables: &skip,
    };
    let mut out = vec![0u8; MAX_SNAPSHOT];
    let len = snapshot::encode(&data, &mut out).map_err(|e| Error::Snapshot {
        problem: format!("{e:?}"),
    })?;
    out.truncate(len);
    Ok(out)
}

/// Writes `bytes` to `state_dir/preload.snapshot` unless it already holds exactly them; returns
/// whether the file changed.
pub fn write(state_dir: &Path, bytes: &[u8]) -> Result<bool> {
    let path = state_dir.join(SNAPSHOT_FILE);
    let cap = MAX_SNAPSHOT_FILE;
    if crate::safe_fs::read_capped(&path, cap, crate::safe_fs::OpenOpts::TRUSTED)
        .is_ok_and(|old| old == bytes)
    {
        return Ok(false);
    }
    let tmp: PathBuf = state_dir.join(format!(".{SNAPSHOT_FILE}.tmp-{}", std::process::id()));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| Error::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming into place", &path, e))?;
        std::fs::File::open(state_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("syncing directory", state_dir, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// Checks the snapshot on disk the way the library does.
pub fn check(state_dir: &Path) -> std::result::Result<usize, String> {
    let path = state_dir.join(SNAPSHOT_FILE);
    let bytes =
        crate::safe_fs::read_capped(&path, MAX_SNAPSHOT_FILE, crate::safe_fs::OpenOpts::TRUSTED)
            .map_err(|e| e.to_string())?;
    snapshot::decode(&bytes)
        .map(|_| bytes.len())
        .map_err(|e| format!("{}: {} ({e:?})", path.display(), e.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_snapshot_decodes_to_the_same_policy() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();
        let rules = [crate::decision::InjectionRule {
            scope: "payments".into(),
            enabled: false,
            updated_at: 0,
            updated_by_uid: 0,
        }];
        let policy = OwnedPolicy::build(&config, &rules, &["/usr/bin/crashy".to_owned()]);
        let bytes = compile(&config, &policy, Path::new("/run/oneagent")).unwrap();
        assert!(write(dir.path(), &bytes).unwrap());
        assert!(
            !write(dir.path(), &bytes).unwrap(),
            "unchanged content is not rewritten"
        );
        assert_eq!(check(dir.path()), Ok(bytes.len()));
        let view = snapshot::decode(&bytes).unwrap();
        assert_eq!(view.report_socket, b"/run/oneagent/preload.sock");
        assert_eq!(
            view.disabled_services.iter().collect::<Vec<_>>(),
            [&b"payments"[..]]
        );
        assert_eq!(
            view.skip_executables.iter().collect::<Vec<_>>(),
            [&b"/usr/bin/crashy"[..]]
        );
        assert_eq!(view.own_agent_marker, b"/usr/lib/oneagent/agents/");
        assert_eq!(view.enabled, policy.enabled());
    }

    /// `[injection.environment]` and `java_options` reach both snapshots (pods that use the
    /// preload get them through the containers' one), as the library reads them back.
    #[test]
    fn agent_settings_reach_the_host_and_container_snapshots() {
        let node = tempfile::tempdir().unwrap();
        let mut config = Config::parse(
            Path::new("oneagent.toml"),
            "[injection]\njava_options = [\"-Xss2m\"]\n[injection.environment]\n\
             python = { OTEL_TRACES_SAMPLER = \"always_off\" }\n\
             java = { SW_AGENT_SAMPLE = \"5\", OTEL_PROPAGATORS = \"b3\" }\n",
        )
        .unwrap();
        config.kubernetes.node_agent_dir = node.path().to_owned();
        let policy = OwnedPolicy::build(&config, &[], &[]);
        let host = compile(&config, &policy, Path::new("/run/oneagent")).unwrap();
        let containers = compile_for_containers(&config, &policy, node.path()).unwrap();
        for bytes in [&host, &containers] {
            let view = snapshot::decode(bytes).unwrap();
            assert_eq!(view.java_options, b"-Xss2m");
            assert_eq!(
                view.environment.iter().collect::<Vec<_>>(),
                [
                    &b"java OTEL_PROPAGATORS=b3"[..],
                    b"java SW_AGENT_SAMPLE=5",
                    b"python OTEL_TRACES_SAMPLER=always_off",
                ]
            );
        }
        let plain = compile(&Config::default(), &policy, Path::new("/run/oneagent")).unwrap();
        assert!(
            snapshot::decode(&plain)
                .unwrap()
                .environment
                .iter()
                .next()
                .is_none()
        );
    }

    #[test]
    fn the_container_snapshot_names_paths_under_var_oneagent() {
        let node = tempfile::tempdir().unwrap();
        let agents = node.path().join("agents");
        let python = agents.join("python");
        let site = python.join(crate::decision::PYTHON_SITECUSTOMIZE);
        std::fs::create_dir_all(site.parent().unwrap()).unwrap();
        std::fs::write(&site, "").unwrap();
        let jar = agents.join("java/opentelemetry-javaagent.jar");
        std::fs::create_dir_all(jar.parent().unwrap()).unwrap();
        std::fs::write(&jar, b"PK\x03\x04 jar").unwrap();
        let mut config = Config::default();
        config.agents.python = python.clone();
        config.agents.java = jar;
        // Node.js lives outside the node agent directory: containers cannot see it.
        let outside = tempfile::tempdir().unwrap();
        let register = outside.path().join("register.js");
        std::fs::write(&register, "").unwrap();
        config.agents.nodejs = register;
        config.kubernetes.node_agent_dir = node.path().to_owned();
        config.injection.enabled = false;
        let policy = OwnedPolicy::build(&config, &[], &[]);
        assert!(policy.agents().contains(Language::NodeJs));
        let bytes = compile_for_containers(&config, &policy, node.path()).unwrap();
        let view = snapshot::decode(&bytes).unwrap();
        assert_eq!(view.python_dir, b"/var/oneagent/agents/python");
        assert_eq!(
            view.java_agent_path,
            b"/var/oneagent/agents/java/opentelemetry-javaagent.jar"
        );
        assert_eq!(view.report_socket, b"/var/oneagent/preload.sock");
        assert_eq!(view.otlp_endpoint, b"http://127.0.0.1:4318");
        assert!(view.agents.contains(Language::Python));
        assert!(view.agents.contains(Language::Java));
        assert!(!view.agents.contains(Language::NodeJs));
        assert_eq!(view.nodejs_register, b"");
        assert!(view.own_agent_marker.starts_with(b"/var/oneagent/"));
        // `[injection] enabled` is about host processes; the webhook opted the pod in.
        assert!(view.enabled);
        let off = [crate::decision::InjectionRule {
            scope: crate::decision::GLOBAL_SCOPE.into(),
            enabled: false,
            updated_at: 0,
            updated_by_uid: 0,
        }];
        let killed = OwnedPolicy::build(&config, &off, &[]);
        let bytes = compile_for_containers(&config, &killed, node.path()).unwrap();
        assert!(
            !snapshot::decode(&bytes).unwrap().enabled,
            "the global rule is the node's kill switch"
        );

        config.kubernetes.otlp_endpoint = "http://collector.observability:4318".into();
        let view_bytes = compile_for_containers(&config, &policy, node.path()).unwrap();
        let view = snapshot::decode(&view_bytes).unwrap();
        assert_eq!(view.otlp_endpoint, b"http://collector.observability:4318");
        // The host's snapshot keeps the host's paths.
        let host = compile(&config, &policy, Path::new("/run/oneagent")).unwrap();
        let host = snapshot::decode(&host).unwrap();
        assert_eq!(host.python_dir, python.as_os_str().as_encoded_bytes());
        assert_eq!(host.otlp_endpoint, b"http://127.0.0.1:4318");
    }

    #[test]
    fn blocks_go_into_the_snapshot_of_their_scope() {
        let node = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.kubernetes.node_agent_dir = node.path().to_owned();
        let policy = OwnedPolicy::build(&config, &[], &["/usr/bin/python3".to_owned()])
            .with_container_skip_executables(&["/usr/local/bin/python3.12".to_owned()]);
        let skips = |bytes: &[u8]| -> Vec<Vec<u8>> {
            snapshot::decode(bytes)
                .unwrap()
                .skip_executables
                .iter()
                .map(<[u8]>::to_vec)
                .collect()
        };
        let host = compile(&config, &policy, Path::new("/run/oneagent")).unwrap();
        assert_eq!(skips(&host), [b"/usr/bin/python3".to_vec()]);
        let containers = compile_for_containers(&config, &policy, node.path()).unwrap();
        assert_eq!(skips(&containers), [b"/usr/local/bin/python3.12".to_vec()]);
    }

    #[test]
    fn only_paths_under_the_node_agent_dir_are_visible_in_containers() {
        let node = Path::new("/usr/lib/oneagent");
        assert_eq!(
            in_container(Path::new("/usr/lib/oneagent/agents/python"), node),
            Some(PathBuf::from("/var/oneagent/agents/python"))
        );
        assert_eq!(
            in_container(Path::new("/usr/lib/oneagent-other/x"), node),
            None
        );
        assert_eq!(in_container(Path::new("/opt/agent.jar"), node), None);
    }

    #[test]
    fn a_damaged_snapshot_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SNAPSHOT_FILE), b"OASNAP\0\0garbage").unwrap();
        assert!(check(dir.path()).is_err());
    }
}
