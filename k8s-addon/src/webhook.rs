//! The webhook's HTTPS transport: `/mutate`, `/healthz`, `/readyz`, `/metrics` on axum + rustls
//! (ring), with the certificate and key reloaded when their files change.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;

use crate::Error;
use crate::admission;
use crate::decide::InjectConfig;
use crate::metrics::Metrics;
use crate::owner::OwnerLookup;

/// Admission requests larger than this are refused (a pod object is at most ~1.5 MiB in etcd).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Owner and namespace lookups (reflector caches).
    pub lookup: Arc<dyn OwnerLookup + Send + Sync>,
    /// Mutation settings.
    pub config: Arc<InjectConfig>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Set once the caches have synced.
    pub ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

/// The router (without TLS), for tests and the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn mutate(State(state): State<AppState>, body: Bytes) -> impl IntoResponse {
    let (answer, took) = admission::timed_review(&body, state.lookup.as_ref(), &state.config);
    state.metrics.review(
        answer.outcome.result_label(),
        answer.outcome.reason_label(),
        took,
    );
    match &answer.outcome {
        admission::Outcome::Skipped(skip) => {
            tracing::info!(reason = %skip, "Admitted pod unchanged");
        }
        admission::Outcome::BadRequest(why) => tracing::warn!(%why, "Rejected a request"),
        _ => {}
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Where the TLS files are and how often to look for changes.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// How often to compare the files' modification times.
    pub poll: Duration,
}

/// Installs ring as the process's rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn stamp(files: &TlsFiles) -> Option<(SystemTime, SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let c = std::fs::metadata(&files.cert).ok()?;
    let k = std::fs::metadata(&files.key).ok()?;
    Some((c.modified().ok()?, k.modified().ok()?, c.ino(), k.ino()))
}

/// Reloads `config` whenever the files' modification time or inode changes (a Secret volume
/// update swaps a symlink, which changes the inode). A failed reload keeps the old certificate.
pub async fn watch_tls(config: RustlsConfig, files: TlsFiles, metrics: Arc<Metrics>) {
    let mut last = stamp(&files);
    loop {
        tokio::time::sleep(files.poll).await;
        let now = stamp(&files);
        if now.is_none() || now == last {
            continue;
        }
        match config.reload_from_pem_file(&files.cert, &files.key).await {
            Ok(()) => {
                tracing::info!(cert = %files.cert.display(), "Reloaded TLS certificate");
                metrics.tls_reload("ok");
                last = now;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Keeping the old TLS certificate: reload failed");
                metrics.tls_reload("error");
            }
        }
    }
}

/// Serves the webhook on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: std::net::TcpListener,
    files: TlsFiles,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    install_crypto_provider();
    let config = RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .map_err(|source| Error::Tls {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    let reload = tokio::spawn(watch_tls(config.clone(), files, state.metrics.clone()));
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("webhook listener", e))?;
    let app = router(state);
    // TCP_NODELAY: a TLS response leaves in several writes; with Nagle's algorithm and the
    // client's delayed ACK a kept-alive connection would stall ~40 ms now and then.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
        .acceptor(axum_server::accept::NoDelayAcceptor::new());
    let result = axum_server::from_tcp(listener)
        .map_err(|e| Error::io("webhook listener", e))?
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service())
        .await
        .map_err(|e| Error::io("webhook server", e));
    reload.abort();
    result
}

/// Binds `addr` (std listener, so tests can bind port 0 and read the port first).
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, Error> {
    std::net::TcpListener::bind(addr).map_err(|e| Error::io(addr.to_string(), e))
}
