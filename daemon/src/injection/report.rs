//! The receiver of the preload library's reports: a datagram socket in the runtime directory.
//! The sender's pid comes from the kernel (`SO_PASSCRED` / `SCM_CREDENTIALS`), never from the
//! payload; the payload is decoded with `preload/core`'s bounded decoder.

#![forbid(unsafe_code)]

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg, setsockopt, sockopt,
};
use oneagent_preload_core::report::{self, MAX_REPORT};

use crate::error::{Error, Result};
use crate::injection::breaker::Scope;

/// One report, with the pid the kernel vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedReport {
    /// The sender's pid (from the kernel).
    pub pid: u32,
    /// `inject` or `skip`.
    pub action: String,
    /// The decision's reason code.
    pub reason_code: String,
    /// What the library did (`injected`, `agent-missing`, …).
    pub outcome: String,
    /// The detected runtime.
    pub language: String,
    /// The service name.
    pub service_name: String,
    /// The executable as the process saw it (`/proc/self/exe`; in a container, the path inside
    /// it), empty when the library could not tell.
    pub exe: String,
    /// Which socket it came through: the host's or the containers'.
    pub scope: Scope,
}

/// The bound socket.
#[derive(Debug)]
pub struct ReportSocket {
    socket: tokio::net::UnixDatagram,
    path: PathBuf,
    scope: Scope,
}

impl ReportSocket {
    /// Binds `path` (replacing a stale socket file), world-writable so every process can report;
    /// its reports are of `scope`.
    pub fn bind(path: &Path, scope: Scope) -> Result<ReportSocket> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing stale socket", path, e)),
        }
        let socket =
            tokio::net::UnixDatagram::bind(path).map_err(|e| Error::io("binding", path, e))?;
        setsockopt(&socket, sockopt::PassCred, &true)
            .map_err(|e| Error::io("enabling SO_PASSCRED on", path, e.into()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| Error::io("setting permissions of", path, e))?;
        Ok(ReportSocket {
            socket,
            path: path.to_owned(),
            scope,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the next report; malformed datagrams are counted in the log and skipped.
    pub async fn next(&self) -> ReceivedReport {
        loop {
            if self.socket.readable().await.is_err() {
                continue;
            }
            match self
                .socket
                .try_io(tokio::io::Interest::READABLE, || self.receive_one())
            {
                Ok(Some(report)) => return report,
                Ok(None) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => tracing::warn!(error = %e, "Reading a preload report failed"),
            }
        }
    }

    fn receive_one(&self) -> std::io::Result<Option<ReceivedReport>> {
        let mut buf = [0u8; MAX_REPORT + 64];
        let mut cmsg = nix::cmsg_space!(UnixCredentials);
        let (len, pid) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC,
            )
            .map_err(std::io::Error::from)?;
            let pid = msg
                .cmsgs()
                .ok()
                .into_iter()
                .flatten()
                .find_map(|c| match c {
                    ControlMessageOwned::ScmCredentials(creds) => u32::try_from(creds.pid()).ok(),
                    _ => None,
                });
            (msg.bytes, pid)
        };
        let Some(pid) = pid else {
            tracing::debug!("Preload report without credentials ignored");
            return Ok(None);
        };
        let Some(payload) = buf.get(..len) else {
            tracing::debug!(pid, len, "Oversized preload report ignored");
            return Ok(None);
        };
        match report::decode(payload) {
            Ok(r) => Ok(Some(ReceivedReport {
                pid,
                action: r.action.as_str().to_owned(),
                reason_code: r.reason_code.to_owned(),
                outcome: r.outcome.code().to_owned(),
                language: r
                    .language
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
                service_name: r.service_name.as_str().to_owned(),
                exe: String::from_utf8_lossy(r.exe()).into_owned(),
                scope: self.scope,
            })),
            Err(e) => {
                tracing::debug!(pid, error = ?e, "Malformed preload report ignored");
                Ok(None)
            }
        }
    }
}

impl Drop for ReportSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
