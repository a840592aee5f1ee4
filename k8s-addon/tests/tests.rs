//! The integration tests of oneagent-k8s: one binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

mod support;

mod controller;
mod decide;
mod detections;
mod deviceplugin;
mod docs;
mod images;
mod manifests;
mod rollout;
mod webhook;
