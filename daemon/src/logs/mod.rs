//! Application logs: discovery under parent directories, tailing with durable checkpoints,
//! OTLP export. The engine knows nothing of D-Bus or HTTP servers; the daemon is its
//! [`pipeline::LogsHost`].

pub mod attribute;
pub mod container;
pub mod discover;
pub mod export;
pub mod glob;
pub mod metrics;
pub mod otlp;
pub mod pipeline;
pub mod record;
pub mod tail;
pub mod trace_context;
