//! Extra environment for the runtimes' agents (`[injection.environment]` in oneagent.toml): the
//! sampler, propagators, disabled instrumentations… each runtime's agent reads from its
//! environment.
//!
//! The rules, shared by the daemon's configuration check, the snapshot codec, the Kubernetes
//! webhook and [`inject::plan`](crate::inject::plan):
//!
//! * A name is `[A-Z][A-Z0-9_]*`, at most [`MAX_NAME`] bytes, and belongs to an agent: `OTEL_…`
//!   (every OpenTelemetry agent) or, for Java only, `SW_…` (the SkyWalking agent). `OTEL_…` ones
//!   reach processes that get an OpenTelemetry agent, `SW_…` ones Java processes that get
//!   SkyWalking.
//! * Names oneagent sets itself are refused ([`Refusal::Reserved`]): the lists it composes
//!   (`OTEL_RESOURCE_ATTRIBUTES`; `JAVA_TOOL_OPTIONS`, `NODE_OPTIONS`, `PYTHONPATH` and the
//!   `DOTNET_*`/`CORECLR_*` ones are outside the prefixes anyway), the service name, the
//!   exporter settings and the agents' locations. So are `LD_*` and `ONEAGENT_*` (the loader's and
//!   our own).
//! * A value is 1 to [`MAX_VALUE`] bytes with no control character. Every variable is a whole
//!   value: a comma-separated one (`OTEL_PROPAGATORS`,
//!   `OTEL_INSTRUMENTATION_…_ENABLED`, `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`) is not merged with
//!   the process's own.
//! * The process's own value wins: a variable it sets (not blank) is left as it is.
//! * At most [`MAX_PER_RUNTIME`] variables per runtime.
//!
//! In the snapshot an entry is `<runtime> <NAME>=<VALUE>` ([`parse_entry`]), the runtime one of
//! `java`, `python`, `nodejs`, `dotnet` ([`runtime_word`]).

use core::fmt;

use crate::bytes::{Words, words};
use crate::model::{JavaAgentKind, Language};

/// Longest variable name accepted.
pub const MAX_NAME: usize = 128;
/// Longest value accepted.
pub const MAX_VALUE: usize = 1024;
/// At most this many variables per runtime.
pub const MAX_PER_RUNTIME: usize = 16;

/// Why a variable cannot be configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The name is empty, too long, or not `[A-Z][A-Z0-9_]*`.
    BadName,
    /// The name belongs to no agent of this runtime (not `OTEL_…`, nor `SW_…` for Java).
    NotAgentVariable,
    /// oneagent sets this variable itself ([`why_reserved`] says what to use instead).
    Reserved,
    /// The value is empty, too long or has a control character.
    BadValue,
    /// An entry is not `<runtime> <NAME>=<VALUE>` with a known runtime.
    BadEntry,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName => write!(
                f,
                "not a variable name: it must be [A-Z][A-Z0-9_]*, at most {MAX_NAME} bytes"
            ),
            Self::NotAgentVariable => f.write_str(
                "not an agent variable: names start with OTEL_ (or SW_ for Java's SkyWalking agent)",
            ),
            Self::Reserved => f.write_str("oneagent sets it itself"),
            Self::BadValue => write!(
                f,
                "the value must be 1 to {MAX_VALUE} bytes without control characters"
            ),
            Self::BadEntry => f.write_str("not `<runtime> <NAME>=<VALUE>`"),
        }
    }
}

/// The word naming `language` in the configuration and the snapshot; `None` for runtimes that
/// get no agent.
pub const fn runtime_word(language: Language) -> Option<&'static str> {
    match language {
        Language::Java => Some("java"),
        Language::Python => Some("python"),
        Language::NodeJs => Some("nodejs"),
        Language::DotNet => Some("dotnet"),
        Language::Go | Language::Ruby | Language::Php => None,
    }
}

/// The runtime a word names (the inverse of [`runtime_word`]).
pub fn runtime_of(word: &[u8]) -> Option<Language> {
    match word {
        b"java" => Some(Language::Java),
        b"python" => Some(Language::Python),
        b"nodejs" => Some(Language::NodeJs),
        b"dotnet" => Some(Language::DotNet),
        _ => None,
    }
}

/// Whether oneagent sets `name` itself (kept apart from [`why_reserved`]'s sentences, which the
/// library does not need).
fn reserved(name: &[u8]) -> bool {
    name.starts_with(b"LD_") || name.starts_with(b"ONEAGENT_") || RESERVED.contains(name)
}

/// The names [`inject::plan`](crate::inject::plan) sets itself (a [`Words`] blob: small code,
/// no relocations).
const RESERVED: Words = words![
    b"OTEL_RESOURCE_ATTRIBUTES",
    b"OTEL_SERVICE_NAME",
    b"SW_AGENT_NAME",
    b"OTEL_EXPORTER_OTLP_ENDPOINT",
    b"SW_AGENT_COLLECTOR_BACKEND_SERVICES",
    b"OTEL_EXPORTER_OTLP_PROTOCOL",
    b"OTEL_METRICS_EXPORTER",
    b"OTEL_LOGS_EXPORTER",
    b"OTEL_PYTHON_LOG_CORRELATION",
    b"OTEL_DOTNET_AUTO_HOME",
];

/// Why oneagent sets `name` itself, and what to use instead; `None` when it does not.
pub fn why_reserved(name: &[u8]) -> Option<&'static str> {
    if name.starts_with(b"LD_") {
        return Some("the dynamic loader's variables");
    }
    if name.starts_with(b"ONEAGENT_") {
        return Some("oneagent's own variables");
    }
    Some(match name {
        b"OTEL_RESOURCE_ATTRIBUTES" => {
            "a list oneagent appends host.name, service.instance.id and systemd.unit to"
        }
        b"OTEL_SERVICE_NAME" | b"SW_AGENT_NAME" => {
            "the service name: set it in the process's environment or with a rule"
        }
        b"OTEL_EXPORTER_OTLP_ENDPOINT" => "[exporter] otlp_endpoint",
        b"SW_AGENT_COLLECTOR_BACKEND_SERVICES" => "[exporter] skywalking_backend",
        b"OTEL_EXPORTER_OTLP_PROTOCOL" | b"OTEL_METRICS_EXPORTER" | b"OTEL_LOGS_EXPORTER" => {
            "what the agents export, and how, is fixed by oneagent"
        }
        b"OTEL_PYTHON_LOG_CORRELATION" => "[injection] python_log_correlation",
        b"OTEL_DOTNET_AUTO_HOME" => "the .NET agent's location: [agents] dotnet",
        _ => return None,
    })
}

/// Checks one variable for `language`'s agent. `Ok` when it may be configured.
pub fn check(language: Language, name: &[u8], value: &[u8]) -> Result<(), Refusal> {
    let name_ok = name.len() <= MAX_NAME
        && name.first().is_some_and(u8::is_ascii_uppercase)
        && name
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(Refusal::BadName);
    }
    if reserved(name) {
        return Err(Refusal::Reserved);
    }
    let agent = |prefix: &[u8]| name.len() > prefix.len() && name.starts_with(prefix);
    let known = runtime_word(language).is_some()
        && (agent(b"OTEL_") || (language == Language::Java && agent(b"SW_")));
    if !known {
        return Err(Refusal::NotAgentVariable);
    }
    if value.is_empty() || value.len() > MAX_VALUE || value.iter().any(u8::is_ascii_control) {
        return Err(Refusal::BadValue);
    }
    Ok(())
}

/// Whether `opt` is one JVM option for `[injection] java_options`: `JAVA_TOOL_OPTIONS` is split
/// at whitespace by the JVM, so it starts with `-`, has something after it, and has no
/// whitespace, quotes or control characters.
pub fn java_option_ok(opt: &str) -> bool {
    opt.starts_with('-')
        && opt.len() >= 2
        && !opt
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
}

/// One checked entry of the snapshot's environment list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The runtime whose agent reads it.
    pub language: Language,
    /// The variable name.
    pub name: &'a [u8],
    /// Its value.
    pub value: &'a [u8],
}

impl Entry<'_> {
    /// Whether a process of `language` that gets the `java` agent kind (for Java) reads it:
    /// `OTEL_…` for the OpenTelemetry agents, `SW_…` for SkyWalking.
    pub fn applies(&self, language: Language, java: JavaAgentKind) -> bool {
        self.language == language
            && if language == Language::Java && java == JavaAgentKind::SkyWalking {
                self.name.starts_with(b"SW_")
            } else {
                self.name.starts_with(b"OTEL_")
            }
    }
}

/// Parses and checks `<runtime> <NAME>=<VALUE>`.
#[inline(never)]
pub fn parse_entry(entry: &[u8]) -> Result<Entry<'_>, Refusal> {
    let space = entry
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Refusal::BadEntry)?;
    let word = entry.get(..space).unwrap_or_default();
    let rest = entry.get(space.saturating_add(1)..).unwrap_or_default();
    let language = runtime_of(word).ok_or(Refusal::BadEntry)?;
    let eq = rest
        .iter()
        .position(|&b| b == b'=')
        .ok_or(Refusal::BadEntry)?;
    let name = rest.get(..eq).unwrap_or_default();
    let value = rest.get(eq.saturating_add(1)..).unwrap_or_default();
    check(language, name, value)?;
    Ok(Entry {
        language,
        name,
        value,
    })
}

/// What the snapshot reader checks (small: it runs in the library): every entry
/// ([`parse_entry`]) and at most four times [`MAX_PER_RUNTIME`] of them. A name given twice is
/// harmless there ([`inject::plan`](crate::inject::plan) sets the first and skips the other).
pub fn check_entries<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Result<(), Refusal> {
    let mut n = 0usize;
    for e in entries {
        parse_entry(e)?;
        n = n.saturating_add(1);
        if n > MAX_PER_RUNTIME.saturating_mul(4) {
            return Err(Refusal::BadEntry);
        }
    }
    Ok(())
}

/// Checks a whole list of entries as the writer must: each one ([`parse_entry`]), no name twice for a runtime, at
/// most [`MAX_PER_RUNTIME`] per runtime (so at most four times that in all).
pub fn check_list<'a>(entries: impl Iterator<Item = &'a [u8]> + Clone) -> Result<(), Refusal> {
    // Bounded before the pairwise check below.
    if entries
        .clone()
        .nth(MAX_PER_RUNTIME.saturating_mul(4))
        .is_some()
    {
        return Err(Refusal::BadEntry);
    }
    for (i, e) in entries.clone().enumerate() {
        let e = parse_entry(e)?;
        let mut same_runtime = 0usize;
        for (j, other) in entries.clone().enumerate() {
            let other = parse_entry(other)?;
            if other.language != e.language {
                continue;
            }
            same_runtime = same_runtime.saturating_add(1);
            if j < i && other.name == e.name {
                return Err(Refusal::BadEntry);
            }
        }
        if same_runtime > MAX_PER_RUNTIME {
            return Err(Refusal::BadEntry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_runtimes() {
        use Language::{DotNet, Go, Java, NodeJs, Python};
        let ok: &[(Language, &[u8], &[u8])] = &[
            (Python, b"OTEL_TRACES_SAMPLER", b"parentbased_traceidratio"),
            (Python, b"OTEL_TRACES_SAMPLER_ARG", b"0.25"),
            (
                Python,
                b"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
                b"redis,kafka",
            ),
            (NodeJs, b"OTEL_PROPAGATORS", b"tracecontext,baggage,b3"),
            (Java, b"OTEL_INSTRUMENTATION_JDBC_ENABLED", b"false"),
            (Java, b"SW_AGENT_SAMPLE", b"100"),
            (DotNet, b"OTEL_DOTNET_AUTO_TRACES_ENABLED", b"true"),
            (Java, b"OTEL_X", b"a b=c"),
        ];
        for &(l, n, v) in ok {
            assert_eq!(check(l, n, v), Ok(()), "{n:?}");
        }
        let bad: &[(Language, &[u8], &[u8], Refusal)] = &[
            (Python, b"", b"1", Refusal::BadName),
            (Python, b"otel_x", b"1", Refusal::BadName),
            (Python, b"OTEL-X", b"1", Refusal::BadName),
            (Python, b"1OTEL", b"1", Refusal::BadName),
            (Python, &[b'O'; MAX_NAME + 1], b"1", Refusal::BadName),
            (Python, b"OTEL_", b"1", Refusal::NotAgentVariable),
            (Python, b"SW_AGENT_SAMPLE", b"1", Refusal::NotAgentVariable),
            (Python, b"PYTHONPATH", b"/x", Refusal::NotAgentVariable),
            (NodeJs, b"NODE_OPTIONS", b"-r x", Refusal::NotAgentVariable),
            (
                Java,
                b"JAVA_TOOL_OPTIONS",
                b"-Da",
                Refusal::NotAgentVariable,
            ),
            (DotNet, b"CORECLR_PROFILER", b"x", Refusal::NotAgentVariable),
            (Go, b"OTEL_X", b"1", Refusal::NotAgentVariable),
            (Python, b"OTEL_X", b"", Refusal::BadValue),
            (Python, b"OTEL_X", b"a\nb", Refusal::BadValue),
            (Python, b"OTEL_X", b"a\0", Refusal::BadValue),
            (Python, b"OTEL_X", &[b'a'; MAX_VALUE + 1], Refusal::BadValue),
        ];
        for &(l, n, v, want) in bad {
            assert_eq!(check(l, n, v), Err(want), "{n:?}={v:?}");
        }
        for n in [
            &b"LD_PRELOAD"[..],
            b"LD_LIBRARY_PATH",
            b"ONEAGENT_PRELOAD_SNAPSHOT",
            b"OTEL_RESOURCE_ATTRIBUTES",
            b"OTEL_SERVICE_NAME",
            b"OTEL_EXPORTER_OTLP_ENDPOINT",
            b"OTEL_EXPORTER_OTLP_PROTOCOL",
            b"OTEL_METRICS_EXPORTER",
            b"OTEL_LOGS_EXPORTER",
            b"OTEL_PYTHON_LOG_CORRELATION",
            b"OTEL_DOTNET_AUTO_HOME",
            b"SW_AGENT_NAME",
            b"SW_AGENT_COLLECTOR_BACKEND_SERVICES",
        ] {
            assert_eq!(check(Java, n, b"1"), Err(Refusal::Reserved), "{n:?}");
            assert!(why_reserved(n).is_some(), "{n:?}");
        }
        for l in [Java, Python, NodeJs, DotNet] {
            let w = runtime_word(l).unwrap();
            assert_eq!(runtime_of(w.as_bytes()), Some(l));
        }
        assert_eq!(why_reserved(b"OTEL_TRACES_SAMPLER"), None);
        for ok in ["-Xss2m", "-Dotel.traces.sampler=always_off", "-XX:+UseG1GC"] {
            assert!(java_option_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "Xss2m",
            "-Da=1 -Db=2",
            "-Da=\"x\"",
            "-Da='x'",
            "-Da=\t",
        ] {
            assert!(!java_option_ok(bad), "{bad}");
        }
        assert_eq!(runtime_word(Go), None);
        assert_eq!(runtime_of(b"node"), None);
    }

    #[test]
    fn entries_and_lists() {
        assert_eq!(
            parse_entry(b"python OTEL_TRACES_SAMPLER=always_off"),
            Ok(Entry {
                language: Language::Python,
                name: b"OTEL_TRACES_SAMPLER",
                value: b"always_off",
            })
        );
        assert_eq!(
            parse_entry(b"java OTEL_X=a=b").map(|e| e.value),
            Ok(&b"a=b"[..])
        );
        for bad in [
            &b""[..],
            b"python",
            b"python OTEL_X",
            b"ruby OTEL_X=1",
            b" OTEL_X=1",
            b"python  OTEL_X=1",
            b"python OTEL_X=",
            b"python LD_PRELOAD=/x.so",
        ] {
            assert!(parse_entry(bad).is_err(), "{bad:?}");
        }
        let e = parse_entry(b"java SW_AGENT_SAMPLE=5").unwrap();
        assert!(e.applies(Language::Java, JavaAgentKind::SkyWalking));
        assert!(!e.applies(Language::Java, JavaAgentKind::OpenTelemetry));
        let e = parse_entry(b"java OTEL_X=1").unwrap();
        assert!(e.applies(Language::Java, JavaAgentKind::OpenTelemetry));
        assert!(!e.applies(Language::Java, JavaAgentKind::SkyWalking));
        assert!(!e.applies(Language::Python, JavaAgentKind::OpenTelemetry));

        let list = |l: &[&'static [u8]]| check_list(l.iter().copied());
        assert_eq!(list(&[]), Ok(()));
        assert_eq!(list(&[b"python OTEL_X=1", b"nodejs OTEL_X=2"]), Ok(()));
        assert_eq!(
            list(&[b"python OTEL_X=1", b"python OTEL_X=2"]),
            Err(Refusal::BadEntry)
        );
        assert_eq!(
            list(&[b"python OTEL_X=1", b"python otel"]),
            Err(Refusal::BadEntry)
        );
        extern crate std;
        let many: std::vec::Vec<std::string::String> = (0..=MAX_PER_RUNTIME)
            .map(|i| std::format!("dotnet OTEL_V{i}=1"))
            .collect();
        let many_refs = many.iter().map(|s| s.as_bytes());
        assert_eq!(check_list(many_refs.clone().skip(1)), Ok(()));
        assert_eq!(check_list(many_refs), Err(Refusal::BadEntry));
    }
}
