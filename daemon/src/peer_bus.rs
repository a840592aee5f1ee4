//! The peer-to-peer D-Bus socket (`--peer-socket`): io.oneagent.Agent1 served without a bus
//! daemon, for nodes that have no system bus (Talos, Bottlerocket) and for the other containers
//! of the node agent's pod (the detections publisher), which share the socket's directory.
//!
//! Each accepted connection is a D-Bus peer-to-peer connection (the server side of the SASL
//! handshake, no `Hello`, no names) with its own object, made for the peer's uid. The caller's uid
//! comes from the socket's credentials (`SO_PEERCRED`), so the methods that need root refuse
//! other users exactly as they do on the system bus; the socket itself is open to every local
//! user, like the bus policy's read-only methods.

use std::io::{Error, ErrorKind, Result};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use tokio::net::{UnixListener, UnixStream};
use zbus::object_server::Interface;

/// Connections served at once; more are closed at once (each holds a task and a socket).
const MAX_PEERS: usize = 64;

/// Binds `path` (replacing a stale socket; refusing one that another process still serves) and
/// serves `object_for(uid)` at `object_path` to every peer that connects (`uid` from the
/// socket's credentials), until the returned task is aborted. Errors say what failed; the caller
/// names the path.
pub async fn serve<I, F>(
    path: &Path,
    object_path: &'static str,
    object_for: F,
) -> Result<tokio::task::JoinHandle<()>>
where
    I: Interface,
    F: Fn(u32) -> I + Send + Sync + 'static,
{
    let listener = bind(path).await?;
    let object_for = Arc::new(object_for);
    tracing::info!(socket = %path.display(), "Serving io.oneagent.Agent1 on the peer-to-peer socket");
    let limit = Arc::new(tokio::sync::Semaphore::new(MAX_PEERS));
    let path = path.to_owned();
    Ok(tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(socket = %path.display(), error = %e, "Accepting a peer failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::warn!(
                    socket = %path.display(),
                    limit = MAX_PEERS,
                    "Too many peers on the peer-to-peer socket; closing a new one"
                );
                continue;
            };
            let object_for = object_for.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_peer(stream, object_path, &*object_for).await {
                    tracing::debug!(error = %e, "A peer-to-peer D-Bus connection failed");
                }
                drop(permit);
            });
        }
    }))
}

async fn bind(path: &Path) -> Result<UnixListener> {
    let context = |what: &str, e: Error| Error::new(e.kind(), format!("{what}: {e}"));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| context("creating its directory", e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    "another process serves it",
                ));
            }
            std::fs::remove_file(path).map_err(|e| context("removing the stale socket", e))?;
        }
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(|e| context("binding", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| context("opening it to local users", e))?;
    Ok(listener)
}

/// One peer: the handshake, then the object until the peer hangs up.
async fn serve_peer<I: Interface>(
    stream: UnixStream,
    object_path: &'static str,
    object_for: &(dyn Fn(u32) -> I + Send + Sync),
) -> zbus::Result<()> {
    let io = |e| zbus::Error::InputOutput(Arc::new(e));
    let uid = stream.peer_cred().map_err(io)?.uid();
    let stream = stream.into_std().map_err(io)?;
    let conn = zbus::connection::Builder::unix_stream(stream)
        .server(zbus::Guid::generate())
        .p2p()
        .serve_at(object_path, object_for(uid))
        .build()
        .await?;
    conn.closed().await;
    Ok(())
}
