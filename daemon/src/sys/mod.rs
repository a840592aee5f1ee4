//! The only module of the daemon with `unsafe`: thin wrappers around kernel interfaces that
//! neither std nor nix cover. Every block carries a `// SAFETY:` comment.

pub mod fanotify;
pub mod proc_connector;
pub mod rlimit;
