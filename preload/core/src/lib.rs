//! The no_std decision engine shared by the preload library, the daemon, the CLI and the
//! Kubernetes add-on. It is being written for issue 3; nothing uses it yet.

#![no_std]
#![forbid(unsafe_code)]
