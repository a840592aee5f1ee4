//! Our own agent, recognised exactly: whole option tokens and exact paths, never substrings
//! (`-Dbackup.agent=<our jar>.bak` is not our agent). [`decide`](crate::decide) uses these rules
//! for `already_injected` and the environment plan uses the same ones to decide whether to add
//! our flag, so that `explain` says what the process really gets.

use crate::bytes::{before, contains, contains_ignore_case, tokens};
use crate::model::OwnAgents;

/// The OpenTelemetry .NET profiler's CLSID.
pub const DOTNET_PROFILER_GUID: &[u8] = b"{918728DD-259F-4A6A-AC2B-B85E1B658318}";

/// The Python agent's `sitecustomize` directory, relative to the agent directory.
pub const PYTHON_AUTO_DIR: &[u8] = b"/opentelemetry/instrumentation/auto_instrumentation";

/// Our agents' paths and the marker used where a path is unknown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Own<'m> {
    pub marker: &'m [u8],
    pub agents: OwnAgents<'m>,
}

impl Own<'_> {
    /// The marker rule, for callers that do not know our exact paths: the path contains the
    /// marker and is not Dynatrace's "OneAgent".
    fn marked(&self, path: &[u8]) -> bool {
        !self.marker.is_empty()
            && contains(path, self.marker)
            && !contains_ignore_case(path, b"dynatrace")
    }

    /// A `-javaagent:` path is one of our Java agents.
    pub(crate) fn java(&self, path: &[u8]) -> bool {
        let (otel, sw) = (self.agents.java, self.agents.skywalking);
        if otel.is_empty() && sw.is_empty() {
            return self.marked(path);
        }
        (!otel.is_empty() && path == otel) || (!sw.is_empty() && path == sw)
    }

    /// A `--require` module is our Node.js agent.
    pub(crate) fn node(&self, module: &[u8]) -> bool {
        match self.agents.nodejs {
            [] => self.marked(module),
            ours => module == ours,
        }
    }

    /// A `PYTHONPATH` entry loads our Python agent (its `sitecustomize` directory).
    pub(crate) fn python_entry(&self, entry: &[u8]) -> bool {
        match self.agents.python {
            [] => self.marked(entry),
            dir => python_auto_entry(entry, dir),
        }
    }

    /// A `PYTHONPATH` entry inside our Python agent's directory (ours, though not necessarily
    /// the entry that loads it): never another vendor's.
    pub(crate) fn in_python_dir(&self, entry: &[u8]) -> bool {
        !self.agents.python.is_empty() && in_dir(entry, self.agents.python)
    }

    /// A profiler path or `OTEL_DOTNET_AUTO_HOME` lies in our .NET agent's home.
    pub(crate) fn dotnet_path(&self, path: &[u8]) -> bool {
        match self.agents.dotnet {
            [] => self.marked(path),
            home => in_dir(path, home),
        }
    }
}

/// `path` is `dir` or lies below it.
pub(crate) fn in_dir(path: &[u8], dir: &[u8]) -> bool {
    let dir = dir.strip_suffix(b"/").unwrap_or(dir);
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

/// `entry` is exactly `<dir>/opentelemetry/instrumentation/auto_instrumentation` (trailing
/// slashes aside, which Python ignores).
pub(crate) fn python_auto_entry(entry: &[u8], dir: &[u8]) -> bool {
    let mut entry = entry;
    while let Some(e) = entry.strip_suffix(b"/") {
        entry = e;
    }
    entry.strip_prefix(dir) == Some(PYTHON_AUTO_DIR)
}

/// JVM options (`JAVA_TOOL_OPTIONS`) hold `-javaagent:<jar>` (optionally `=<args>`) as a whole
/// token.
pub(crate) fn java_agent_in(options: &[u8], jar: &[u8]) -> bool {
    tokens(options).any(|t| {
        t.strip_prefix(b"-javaagent:")
            .is_some_and(|p| before(p, b'=') == jar)
    })
}

/// Node options (`NODE_OPTIONS`) preload exactly `module` with `--require`/`-r` (as two tokens or
/// `--require=`).
pub(crate) fn node_require_in(options: &[u8], module: &[u8]) -> bool {
    let mut toks = tokens(options);
    while let Some(t) = toks.next() {
        let value = match t {
            b"--require" | b"-r" => toks.next(),
            _ => t.strip_prefix(b"--require="),
        };
        if value == Some(module) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAR: &[u8] = b"/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar";

    #[test]
    fn whole_tokens_only() {
        assert!(java_agent_in(
            b"-Xmx1g -javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar",
            JAR
        ));
        assert!(java_agent_in(
            b"\t-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar=x=y ",
            JAR
        ));
        for v in [
            &b"-Dbackup.agent=/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar.bak"[..],
            b"-Dx=-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar",
            b"-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar.bak",
            b"-javaagent:/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jarx",
            b"",
        ] {
            assert!(!java_agent_in(v, JAR), "{v:?}");
        }
        let reg = b"/usr/lib/oneagent/agents/nodejs/register.js";
        assert!(node_require_in(
            b"--require /usr/lib/oneagent/agents/nodejs/register.js",
            reg
        ));
        assert!(node_require_in(
            b"-r /usr/lib/oneagent/agents/nodejs/register.js --x",
            reg
        ));
        assert!(node_require_in(
            b"--require=/usr/lib/oneagent/agents/nodejs/register.js",
            reg
        ));
        assert!(!node_require_in(
            b"--require /usr/lib/oneagent/agents/nodejs/register.js.bak",
            reg
        ));
        assert!(!node_require_in(
            b"--title=/usr/lib/oneagent/agents/nodejs/register.js",
            reg
        ));
        assert!(!node_require_in(b"--require", reg));
        assert!(in_dir(b"/opt/x/y", b"/opt/x") && in_dir(b"/opt/x", b"/opt/x/"));
        assert!(!in_dir(b"/opt/xy", b"/opt/x"));
    }
}
