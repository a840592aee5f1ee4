//! The snapshot compiler: configuration + rules + agent availability → `preload.snapshot`, in the
//! format of `preload/core`'s `snapshot` module, written atomically (temporary file, fsync,
//! rename, fsync of the directory) and only when its content changes.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use oneagent_preload_core::JavaAgentKind as CoreJavaAgent;
use oneagent_preload_core::snapshot::{self, MAX_SNAPSHOT, SnapshotData};

use crate::config::{Config, JavaAgentKind};
use crate::decision::OwnedPolicy;
use crate::error::{Error, Result};

/// The snapshot's file name in the state directory.
pub const SNAPSHOT_FILE: &str = "preload.snapshot";
/// The report socket's file name in the runtime directory.
pub const REPORT_SOCKET: &str = "preload.sock";

/// The host name, as the kernel has it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Encodes the snapshot for `config` and `policy`.
pub fn compile(config: &Config, policy: &OwnedPolicy, runtime_dir: &Path) -> Result<Vec<u8>> {
    let bytes = |p: &Path| p.as_os_str().as_encoded_bytes().to_vec();
    let java = bytes(&config.agents.java);
    let skywalking = bytes(&config.agents.java_skywalking);
    let python = bytes(&config.agents.python);
    let nodejs = bytes(&config.agents.nodejs);
    let dotnet = bytes(&config.agents.dotnet);
    let socket = bytes(&runtime_dir.join(REPORT_SOCKET));
    let host = host_name();
    let disabled = policy.disabled_services();
    let enabled = policy.enabled_services();
    let skip = policy.skip_executables();
    let data = SnapshotData {
        enabled: policy.enabled(),
        java_agent: match config.injection.java_agent {
            JavaAgentKind::Opentelemetry => CoreJavaAgent::OpenTelemetry,
            JavaAgentKind::Skywalking => CoreJavaAgent::SkyWalking,
        },
        agents: policy.agents(),
        java_agent_path: &java,
        skywalking_agent_path: &skywalking,
        python_dir: &python,
        nodejs_register: &nodejs,
        dotnet_home: &dotnet,
        otlp_endpoint: config.exporter.otlp_endpoint.as_bytes(),
        skywalking_backend: config.exporter.skywalking_backend.as_bytes(),
        host_name: host.as_bytes(),
        report_socket: &socket,
        own_agent_marker: policy.marker.as_bytes(),
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
    if std::fs::read(&path).is_ok_and(|old| old == bytes) {
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
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
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
        let rules = [crate::store::InjectionRule {
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

    #[test]
    fn a_damaged_snapshot_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SNAPSHOT_FILE), b"OASNAP\0\0garbage").unwrap();
        assert!(check(dir.path()).is_err());
    }
}
