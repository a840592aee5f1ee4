//! oneagentctl, the control CLI of oneagentd: its command line ([`cli`]), the commands that talk
//! to the daemon over `io.oneagent.Agent1` (through the `oneagent-api` proxy) or decide locally
//! ([`ctl`]), and the agent installer ([`agents`]).

pub mod agents;
pub mod cli;
pub mod ctl;
