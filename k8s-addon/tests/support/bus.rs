//! The private D-Bus daemon configured like the system bus (from `oneagent-test-support`, with
//! the shipped policy file), and a test service exporting oneagentd's
//! `io.oneagent.Agent1.Processes` on it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use oneagent_api::ProcessEntry;
pub use oneagent_test_support::{Policy, TestBus};

/// oneagentd's `Processes`, answered from a list the test changes, and how often it was called.
#[derive(Clone, Default)]
pub struct FakeAgent {
    pub processes: Arc<Mutex<Vec<ProcessEntry>>>,
    pub calls: Arc<Mutex<usize>>,
}

#[zbus::interface(name = "io.oneagent.Agent1")]
impl FakeAgent {
    async fn processes(&self) -> Vec<ProcessEntry> {
        *self.calls.lock().unwrap() += 1;
        self.processes.lock().unwrap().clone()
    }
}

impl FakeAgent {
    /// Serves this agent as `io.oneagent.Agent1` at `/io/oneagent/Agent1` on `bus` (object
    /// first, then the name, as the daemon does).
    pub async fn serve(&self, bus: &TestBus) -> zbus::Connection {
        zbus::connection::Builder::address(bus.address.as_str())
            .serve_at("/io/oneagent/Agent1", self.clone())
            .name("io.oneagent.Agent1")
            .build()
            .await
            .unwrap()
    }

    /// Serves this agent peer-to-peer on a Unix socket at `path`, as `oneagentd --peer-socket`
    /// does, until the task is aborted (which closes every connection).
    pub fn serve_peer(&self, path: &Path) -> tokio::task::JoinHandle<()> {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let agent = self.clone();
        tokio::spawn(async move {
            let mut conns = Vec::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let conn = zbus::connection::Builder::unix_stream(stream.into_std().unwrap())
                    .server(zbus::Guid::generate())
                    .p2p()
                    .serve_at("/io/oneagent/Agent1", agent.clone())
                    .build()
                    .await
                    .unwrap();
                conns.push(conn);
            }
        })
    }
}
