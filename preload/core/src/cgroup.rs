//! Parsing `/proc/PID/cgroup`: systemd unit, container id, Kubernetes pod uid.

use core::fmt;

use crate::bytes::{Words, is_hex, split_once, strip_prefix_ci, words};

/// At most this many lines of a cgroup file are looked at.
const MAX_LINES: usize = 64;

/// The paths of the cgroup file's lines (`ID:CONTROLLERS:PATH`), in file order.
fn paths(cgroup: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    cgroup
        .split(|&b| b == b'\n')
        .take(MAX_LINES)
        .filter_map(|line| {
            let (_id, rest) = split_once(line, b':')?;
            split_once(rest, b':')
        })
}

/// The path that names the process's unit: the cgroup v2 line (`0::`), else the v1 `name=systemd`
/// line, else the first line.
fn unit_path(cgroup: &[u8]) -> Option<&[u8]> {
    let mut systemd = None;
    let mut first = None;
    for (controllers, path) in paths(cgroup) {
        if controllers.is_empty() {
            return Some(path);
        }
        if systemd.is_none() && controllers == b"name=systemd" {
            systemd = Some(path);
        }
        if first.is_none() {
            first = Some(path);
        }
    }
    systemd.or(first)
}

/// The innermost systemd service unit of the process (`0::/system.slice/payments.service` →
/// `payments.service`; `…/user@1000.service/app.slice/foo.service` → `foo.service`).
///
/// Only `.service` units count: session scopes (`session-3.scope`), container scopes
/// (`docker-<id>.scope`) and slices never name a service.
pub fn systemd_unit(cgroup: &[u8]) -> Option<&[u8]> {
    unit_path(cgroup)?
        .split(|&b| b == b'/')
        .rfind(|c| c.len() > b".service".len() && c.ends_with(b".service"))
}

/// Units that run many unrelated programs, so their name says nothing about the application.
const GENERIC_UNITS: Words = words![
    b"cron",
    b"crond",
    b"anacron",
    b"atd",
    b"ssh",
    b"sshd",
    b"supervisor",
    b"supervisord",
    b"containerd",
    b"docker",
    b"podman",
    b"crio",
    b"kubelet",
    b"snapd",
    b"getty",
    b"serial-getty",
    b"console-getty",
    b"container-getty",
    b"user",
    b"user-runtime-dir",
    b"dbus",
    b"polkit",
    b"rc-local",
    b"gitlab-runner",
    b"buildkite-agent",
];

/// Prefixes of unit names that run many unrelated programs (`systemd-run`'s `run-u12.service`,
/// pm2's `pm2-root.service`, GitHub's `actions.runner.*`).
const GENERIC_UNIT_PREFIXES: Words = words![b"systemd-", b"run-", b"pm2-", b"actions.runner."];

/// The service name a unit gives: `payments.service` → `payments`, `worker@3.service` → `worker`.
/// `None` for units that run unrelated programs (`cron`, `sshd`, `user@1000`, `systemd-*`,
/// `run-*`, `pm2-*`, `containerd`, …) and for names that are not `.service` units.
pub fn service_name_from_unit(unit: &[u8]) -> Option<&[u8]> {
    let stem = unit.strip_suffix(b".service")?;
    let stem = split_once(stem, b'@').map_or(stem, |(template, _)| template);
    if stem.is_empty()
        || GENERIC_UNITS.contains(&stem)
        || GENERIC_UNIT_PREFIXES.iter().any(|p| stem.starts_with(p))
    {
        return None;
    }
    Some(stem)
}

/// The container id (64 hex digits) of the process, from the deepest cgroup path component that
/// carries one: docker `/docker/<id>`, `docker-<id>.scope`, containerd `cri-containerd-<id>.scope`,
/// CRI-O `crio-<id>.scope`, podman `libpod-<id>.scope`, cgroupfs kubepods `/kubepods/…/pod<uid>/<id>`
/// and `…:cri-containerd:<id>`. Conmon scopes (`crio-conmon-<id>.scope`) are not containers.
pub fn container_id(cgroup: &[u8]) -> Option<&[u8]> {
    paths(cgroup).find_map(|(_, path)| {
        path.rsplit(|&b| b == b'/')
            .take(MAX_LINES)
            .find_map(id_in_component)
    })
}

fn id_in_component(component: &[u8]) -> Option<&[u8]> {
    let last = component.rsplit(|&b| b == b':').next().unwrap_or(component);
    let candidate = match last.strip_suffix(b".scope") {
        Some(scope) => {
            if crate::bytes::contains(scope, b"conmon") {
                return None;
            }
            scope.rsplit(|&b| b == b'-').next().unwrap_or(scope)
        }
        None => last,
    };
    (candidate.len() == 64 && is_hex(candidate)).then_some(candidate)
}

/// A Kubernetes pod uid (`8f1c…-…`), stored inline because the systemd cgroup driver spells it with
/// `_` where the API has `-`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PodUid {
    buf: [u8; PodUid::MAX_LEN],
    len: u8,
}

impl PodUid {
    /// Longest uid accepted (a UUID with dashes).
    pub const MAX_LEN: usize = 36;

    fn parse(raw: &[u8]) -> Option<Self> {
        if raw.len() < 32 || raw.len() > Self::MAX_LEN {
            return None;
        }
        let mut out = Self {
            buf: [0; Self::MAX_LEN],
            len: 0,
        };
        for (slot, &b) in out.buf.iter_mut().zip(raw) {
            *slot = match b {
                b'_' | b'-' => b'-',
                b if b.is_ascii_hexdigit() => b.to_ascii_lowercase(),
                _ => return None,
            };
        }
        out.len = u8::try_from(raw.len()).ok()?;
        Some(out)
    }

    /// The uid as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The uid as a string (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Debug for PodUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PodUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Kubernetes pod uid from a kubepods cgroup path: systemd driver
/// `kubepods-burstable-pod<uid with _>.slice` (→ uid with `-`), cgroupfs driver
/// `/kubepods/burstable/pod<uid>/<container>`.
pub fn pod_uid(cgroup: &[u8]) -> Option<PodUid> {
    paths(cgroup).find_map(|(_, path)| {
        let mut in_kubepods = false;
        for component in path.split(|&b| b == b'/').take(MAX_LINES) {
            if let Some(slice) = component.strip_suffix(b".slice") {
                if slice.starts_with(b"kubepods")
                    && let Some(uid) = after_pod_marker(slice).and_then(PodUid::parse)
                {
                    return Some(uid);
                }
            } else if component.starts_with(b"kubepods") {
                in_kubepods = true;
            } else if in_kubepods
                && let Some(uid) = strip_prefix_ci(component, b"pod").and_then(PodUid::parse)
            {
                return Some(uid);
            }
        }
        None
    })
}

/// The part after `-pod` in `kubepods-burstable-pod<uid>`.
fn after_pod_marker(slice: &[u8]) -> Option<&[u8]> {
    let mut rest = slice;
    loop {
        let (_, tail) = split_once(rest, b'-')?;
        if let Some(uid) = tail.strip_prefix(b"pod") {
            return Some(uid);
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn units() {
        assert_eq!(
            systemd_unit(b"0::/system.slice/payments.service\n"),
            Some(&b"payments.service"[..])
        );
        assert_eq!(
            systemd_unit(b"0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"),
            Some(&b"foo.service"[..])
        );
        assert_eq!(
            systemd_unit(b"0::/user.slice/user-1000.slice/session-3.scope"),
            None
        );
        assert_eq!(
            systemd_unit(
                b"12:pids:/system.slice/a.service\n1:name=systemd:/system.slice/b.service\n"
            ),
            Some(&b"b.service"[..])
        );
        assert_eq!(systemd_unit(b"0::/.service"), None);
        assert_eq!(
            service_name_from_unit(b"worker@3.service"),
            Some(&b"worker"[..])
        );
        assert_eq!(
            service_name_from_unit(b"payments.service"),
            Some(&b"payments"[..])
        );
        assert_eq!(service_name_from_unit(b"user@1000.service"), None);
        assert_eq!(service_name_from_unit(b"cron.service"), None);
        assert_eq!(service_name_from_unit(b"run-u42.service"), None);
        assert_eq!(service_name_from_unit(b"@x.service"), None);
    }

    #[test]
    fn containers() {
        let mut buf = [0u8; 200];
        let mut check = |prefix: &[u8], suffix: &[u8]| {
            let total = prefix.len() + ID.len() + suffix.len();
            let line = buf.get_mut(..total).unwrap_or_default();
            let (a, rest) = line.split_at_mut(prefix.len());
            let (b, c) = rest.split_at_mut(ID.len());
            a.copy_from_slice(prefix);
            b.copy_from_slice(ID);
            c.copy_from_slice(suffix);
            assert_eq!(
                container_id(line),
                Some(ID),
                "{:?}",
                core::str::from_utf8(line)
            );
        };
        check(b"12:pids:/docker/", b"");
        check(b"0::/system.slice/docker-", b".scope");
        check(b"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/cri-containerd-", b".scope");
        check(b"0::/kubepods.slice/kubepods-pod1.slice/crio-", b".scope");
        check(b"0::/machine.slice/libpod-", b".scope/container");
        check(b"4:cpu:/kubepods/burstable/pod8f1c/", b"");
        check(b"0::/kubepods-burstable-pod8f1c.slice:cri-containerd:", b"");
        assert_eq!(container_id(b"0::/system.slice/payments.service"), None);
        assert_eq!(container_id(b"0::/"), None);
    }

    #[test]
    fn pods() {
        let uid = pod_uid(b"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f1c2d3e_1a2b_4c5d_8e9f_0a1b2c3d4e5f.slice/cri-containerd-abc.scope");
        assert_eq!(
            uid.as_ref().map(PodUid::as_str),
            Some("8f1c2d3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f")
        );
        let uid =
            pod_uid(b"0::/kubepods.slice/kubepods-pod8f1c2d3e_1a2b_4c5d_8e9f_0a1b2c3d4e5f.slice");
        assert!(uid.is_some());
        let uid =
            pod_uid(b"11:memory:/kubepods/besteffort/pod8f1c2d3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f/abcd");
        assert_eq!(
            uid.as_ref().map(PodUid::as_str),
            Some("8f1c2d3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f")
        );
        assert_eq!(pod_uid(b"0::/system.slice/pod1234.service"), None);
        assert_eq!(pod_uid(b"0::/kubepods/podxyz"), None);
    }
}
