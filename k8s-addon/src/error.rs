//! The crate's one error type.
use std::path::PathBuf;

/// Everything that can fail in the add-on. [`Error::metric_label`] is a bounded label for metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS material is unusable (unreadable, not PEM, no key, key and certificate mismatch).
    #[error("TLS certificate {cert} / key {key}: {source}")]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls or the file system said.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Certs(#[from] rcgen::Error),
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A gRPC call failed.
    #[error("gRPC: {0}")]
    Grpc(Box<tonic::Status>),
    /// A gRPC connection failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A D-Bus call failed.
    #[error("D-Bus: {0}")]
    Dbus(#[from] zbus::Error),
    /// oneagentd answered a D-Bus call with an error.
    #[error("oneagentd: {0}")]
    Agent(#[from] oneagent_api::AgentError),
    /// An object lacks something it must have.
    #[error("invalid object: {kind} without {field}")]
    MissingField {
        /// The object's kind (`Deployment`).
        kind: &'static str,
        /// What it lacks (`metadata.namespace`).
        field: &'static str,
    },
    /// A workload's rollout did not finish in time.
    #[error("timed out after {}s waiting for the rollout of {kind} {namespace}/{name}", .after.as_secs())]
    RolloutTimeout {
        /// The workload's kind.
        kind: &'static str,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// How long it was given.
        after: std::time::Duration,
    },
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        Self::Grpc(Box::new(s))
    }
}

impl Error {
    /// A bounded label for metrics (one per variant).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Tls { .. } => "tls",
            Self::Certs(_) => "certs",
            Self::Kube(_) => "kube",
            Self::Json(_) => "json",
            Self::Grpc(_) => "grpc",
            Self::Transport(_) => "transport",
            Self::Dbus(_) | Self::Agent(_) => "dbus",
            Self::MissingField { .. } => "invalid",
            Self::RolloutTimeout { .. } => "timeout",
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
