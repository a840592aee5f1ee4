//! Other vendors' agents: the signals that say a process is already set up for another vendor's
//! tracer or profiler, and that vendor's name (for `explain`, `ps` and the report).
//!
//! Three kinds of signal, all checked only for a process that is a runtime:
//!
//! * **paths and module names** of agents (`of_path`): a `-javaagent:`/`-agentpath:` file, a
//!   `--require`/`--import` module, a `PYTHONPATH` entry, a `CORECLR_PROFILER_PATH`, an
//!   `LD_PRELOAD` library — matched, ignoring ASCII case, against the words of `PATH_WORDS`;
//! * **documented environment variables** (`env_signal`): the variables each vendor documents
//!   for configuring its agent or its automatic injection (`ENV_SIGNALS`; a trailing `*` is a
//!   prefix). A vendor's documented off switch set to a false value (`ENV_OFF_SWITCHES`) turns
//!   that vendor's variables into no signal at all: its agent is off;
//! * **CLR profiler GUIDs** (`dotnet_profiler`).
//!
//! Our own library (`liboneagent_preload.so`) and our own variables (`OTEL_*`, `ONEAGENT_*`,
//! `SW_AGENT_*`, `CORECLR_*` with our GUID and paths) are never in these tables.
//!
//! The tables are pointer-free blobs (see `bytes::Words`): the preload library loads this code into
//! every process, where a table of pointers would cost load-time relocations.

use crate::bytes::{Pairs, basename, contains_ignore_case, pairs};

/// Words of agent paths and module names, checked in order (ignoring ASCII case), and the vendor
/// each names. More specific words come first (`splunk-otel-javaagent` is Splunk's, not
/// OpenTelemetry's).
pub(crate) const PATH_WORDS: Pairs = pairs![
    (b"splunk", b"Splunk"),
    (b"signalfx", b"Splunk"),
    (b"dd-java-agent", b"Datadog"),
    (b"dd-trace", b"Datadog"),
    (b"ddtrace", b"Datadog"),
    (b"datadog", b"Datadog"),
    (b"newrelic", b"New Relic"),
    (b"new_relic", b"New Relic"),
    (b"new-relic", b"New Relic"),
    (b"appdynamics", b"AppDynamics"),
    (b"appserveragent", b"AppDynamics"),
    (b"dynatrace", b"Dynatrace"),
    (b"liboneagentproc", b"Dynatrace"),
    (b"liboneagentloader", b"Dynatrace"),
    (b"elastic-apm", b"Elastic"),
    (b"elastic_apm", b"Elastic"),
    (b"elasticapm", b"Elastic"),
    (b"co.elastic.apm", b"Elastic"),
    (b"instana", b"Instana"),
    (b"contrast", b"Contrast Security"),
    (b"skywalking", b"SkyWalking"),
    (b"pinpoint", b"Pinpoint"),
    (b"applicationinsights", b"Azure Monitor"),
    (b"lumigo", b"Lumigo"),
    (b"odigos", b"Odigos"),
    (b"scout_apm", b"Scout APM"),
    (b"scout-apm", b"Scout APM"),
    (b"glowroot", b"Glowroot"),
    (b"yjpagent", b"YourKit"),
    (b"@sentry/", b"Sentry"),
    (b"sentry_sdk", b"Sentry"),
    (b"honeycomb", b"Honeycomb"),
    (b"@google-cloud/trace-agent", b"Google Cloud Trace"),
    (b"otelinject", b"OpenTelemetry"),
    (b"opentelemetry", b"OpenTelemetry"),
    (b"otel-auto-instrumentation", b"OpenTelemetry"),
    (b"otel-javaagent", b"OpenTelemetry"),
];

/// Documented environment variables of other vendors' agents (a trailing `*` matches a prefix),
/// and the vendor. Only variables that configure the vendor's *agent* or its automatic injection:
/// tags shared with log shippers (`DD_ENV`, `DD_SERVICE`, `DD_VERSION`) are not signals.
pub(crate) const ENV_SIGNALS: Pairs = pairs![
    (b"DD_TRACE_*", b"Datadog"),
    (b"DD_INJECTION_ENABLED", b"Datadog"),
    (b"DD_INSTRUMENTATION_*", b"Datadog"),
    (b"DD_PROFILING_*", b"Datadog"),
    (b"DD_APPSEC_*", b"Datadog"),
    (b"DD_IAST_*", b"Datadog"),
    (b"DD_DATA_STREAMS_ENABLED", b"Datadog"),
    (b"DD_LOGS_INJECTION", b"Datadog"),
    (b"DD_RUNTIME_METRICS_ENABLED", b"Datadog"),
    (b"DD_DOTNET_TRACER_HOME", b"Datadog"),
    (b"NEW_RELIC_*", b"New Relic"),
    (b"NEWRELIC_*", b"New Relic"),
    (b"APPDYNAMICS_*", b"AppDynamics"),
    (b"APPD_*", b"AppDynamics"),
    (b"DT_*", b"Dynatrace"),
    (b"ELASTIC_APM_*", b"Elastic"),
    (b"ELASTIC_OTEL_*", b"Elastic"),
    (b"INSTANA_*", b"Instana"),
    (b"SPLUNK_ACCESS_TOKEN", b"Splunk"),
    (b"SPLUNK_REALM", b"Splunk"),
    (b"SPLUNK_PROFILER_*", b"Splunk"),
    (b"SPLUNK_TRACE_*", b"Splunk"),
    (b"SPLUNK_METRICS_*", b"Splunk"),
    (b"SPLUNK_OTEL_*", b"Splunk"),
    (b"SIGNALFX_*", b"Splunk"),
    (b"CONTRAST__*", b"Contrast Security"),
    (b"CONTRAST_CONFIG_PATH", b"Contrast Security"),
    (b"LUMIGO_TRACER_TOKEN", b"Lumigo"),
    (b"SCOUT_MONITOR", b"Scout APM"),
    (b"SCOUT_KEY", b"Scout APM"),
    (
        b"ApplicationInsightsAgent_EXTENSION_VERSION",
        b"Azure Monitor"
    ),
];

/// A vendor's documented switch for its whole agent: set to a false value (`false`, `0`, `no`,
/// `off`), that vendor's variables are no signal (its agent is off, ours may run).
pub(crate) const ENV_OFF_SWITCHES: Pairs = pairs![
    (b"DD_TRACE_ENABLED", b"Datadog"),
    (b"NEW_RELIC_ENABLED", b"New Relic"),
    (b"NEW_RELIC_AGENT_ENABLED", b"New Relic"),
    (b"ELASTIC_APM_ENABLED", b"Elastic"),
    (b"ELASTIC_APM_ACTIVE", b"Elastic"),
    (b"DT_AGENTACTIVE", b"Dynatrace"),
    (b"SPLUNK_TRACE_ENABLED", b"Splunk"),
];

/// CLR profiler GUIDs of other vendors (compared ignoring ASCII case).
pub(crate) const DOTNET_PROFILERS: Pairs = pairs![
    (b"{846F5F1C-F9AE-4B07-969E-05C26BC060D8}", b"Datadog"),
    (b"{36032161-FFC0-4B61-B559-F6C5D41BAE5A}", b"New Relic"),
    (b"{71DA0A04-7777-4EC6-9643-7D28B46A8A41}", b"New Relic"),
    (b"{FA65FE15-F085-4681-9B20-95E04F6C03CC}", b"Elastic"),
    (b"{B4C89B0F-9908-4F73-9F59-0D77C5A06874}", b"Splunk"),
    (b"{918728DD-259F-4A6A-AC2B-B85E1B658318}", b"OpenTelemetry"),
];

/// The basename of our own preload library: never another vendor's.
pub const OWN_LIBRARY: &[u8] = b"liboneagent_preload.so";

/// The vendor an agent path or module name belongs to, if it is a known one.
pub(crate) fn of_path(path: &[u8]) -> Option<&'static [u8]> {
    PATH_WORDS
        .iter()
        .find(|(word, _)| contains_ignore_case(path, word))
        .map(|(_, vendor)| vendor)
}

/// Whether `key` may be one of the vendors' variables (signal or off switch): its first three
/// bytes are those of a table entry. Almost every variable of a real environment fails this one
/// `match`, so the tables are walked only for the few that pass (a unit test keeps the list in
/// step with the tables).
pub(crate) fn may_be_vendor_key(key: &[u8]) -> bool {
    // Long enough to let common application variables through cheaply (`APP_ENV`,
    // `CONFIG_PATH`, `INSTALL_DIR`, `ELASTICSEARCH_URL`, `SCOPE`).
    matches!(
        key,
        [b'D', b'D' | b'T', b'_', ..]
            | [b'N', b'E', b'W', b'_' | b'R', ..]
            | [b'A', b'P', b'P', b'D', ..]
            | [b'A', b'p', b'p', b'l', ..]
            | [b'E', b'L', b'A', b'S', b'T', b'I', b'C', b'_', ..]
            | [b'I', b'N', b'S', b'T', b'A', b'N', b'A', ..]
            | [b'S', b'P', b'L', b'U', ..]
            | [b'S', b'I', b'G', b'N', ..]
            | [b'S', b'C', b'O', b'U', ..]
            | [b'C', b'O', b'N', b'T', b'R', ..]
            | [b'L', b'U', b'M', b'I', ..]
    )
}

/// The vendor whose documented agent variable `key` is, if any.
pub(crate) fn env_signal(key: &[u8]) -> Option<&'static [u8]> {
    if !may_be_vendor_key(key) {
        return None;
    }
    ENV_SIGNALS
        .iter()
        .find(|(pattern, _)| match pattern.strip_suffix(b"*") {
            Some(prefix) => key.starts_with(prefix) && key.len() > prefix.len(),
            None => key == *pattern,
        })
        .map(|(_, vendor)| vendor)
}

/// The vendor whose off switch `key` is, when `value` turns it off.
pub(crate) fn off_switch(key: &[u8], value: &[u8]) -> Option<&'static [u8]> {
    if !may_be_vendor_key(key) || !crate::bytes::is_false(value) {
        return None;
    }
    ENV_OFF_SWITCHES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, vendor)| vendor)
}

/// The vendor of a CLR profiler GUID, if known.
pub(crate) fn dotnet_profiler(guid: &[u8]) -> Option<&'static [u8]> {
    let guid = guid.trim_ascii();
    DOTNET_PROFILERS
        .iter()
        .find(|(g, _)| g.eq_ignore_ascii_case(guid))
        .map(|(_, vendor)| vendor)
}

/// Whether an `LD_PRELOAD` entry is our own library.
pub(crate) fn is_own_library(entry: &[u8]) -> bool {
    basename(entry) == OWN_LIBRARY
}

/// The first `LD_PRELOAD` entry (separated by spaces or colons, as ld.so reads them) that is
/// another vendor's agent library, with the vendor.
pub(crate) fn ld_preload(value: &[u8]) -> Option<(&[u8], &'static [u8])> {
    crate::bytes::cap(value, crate::bytes::MAX_SCAN)
        .split(|&b| b == b':' || b.is_ascii_whitespace())
        .filter(|e| !e.is_empty() && !is_own_library(e))
        .take(crate::bytes::MAX_LIST)
        .find_map(|e| of_path(e).map(|v| (e, v)))
}

/// The tables, for documentation and its drift test: `(kind, pattern, vendor)` with kind
/// `path` (words of agent paths), `env` (documented variables), `off` (off switches) or `clsid`
/// (CLR profiler GUIDs).
pub fn table() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    let kind = |k: &'static str, t: Pairs| {
        t.iter().filter_map(move |(p, v)| {
            Some((
                k,
                core::str::from_utf8(p).ok()?,
                core::str::from_utf8(v).ok()?,
            ))
        })
    };
    kind("path", PATH_WORDS)
        .chain(kind("env", ENV_SIGNALS))
        .chain(kind("off", ENV_OFF_SWITCHES))
        .chain(kind("clsid", DOTNET_PROFILERS))
}

/// Every vendor named in the tables, each once, in table order (for documentation tests).
pub fn vendors() -> impl Iterator<Item = &'static str> {
    let mut seen: [&'static [u8]; 64] = [&[]; 64];
    let mut n = 0usize;
    PATH_WORDS
        .iter()
        .chain(ENV_SIGNALS.iter())
        .chain(DOTNET_PROFILERS.iter())
        .filter_map(move |(_, v)| {
            if seen.iter().take(n).any(|s| *s == v) {
                return None;
            }
            if let Some(slot) = seen.get_mut(n) {
                *slot = v;
                n = n.saturating_add(1);
            }
            core::str::from_utf8(v).ok()
        })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn paths_name_their_vendor() {
        for (path, vendor) in [
            (&b"/opt/dd/dd-java-agent.jar"[..], &b"Datadog"[..]),
            (b"dd-trace/init", b"Datadog"),
            (
                b"/opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so",
                b"Datadog",
            ),
            (b"/opt/newrelic/newrelic.jar", b"New Relic"),
            (
                b"/opt/AppDynamics/AppServerAgent/javaagent.jar",
                b"AppDynamics",
            ),
            (
                b"/opt/dynatrace/oneagent/agent/lib64/liboneagentproc.so",
                b"Dynatrace",
            ),
            (b"/opt/elastic-apm-agent-1.50.0.jar", b"Elastic"),
            (b"/opt/splunk-otel-javaagent.jar", b"Splunk"),
            (
                b"/otel-auto-instrumentation-java/javaagent.jar",
                b"OpenTelemetry",
            ),
            (b"/usr/lib/opentelemetry/libotelinject.so", b"OpenTelemetry"),
            (b"@instana/collector", b"Instana"),
            (b"@contrast/agent", b"Contrast Security"),
        ] {
            assert_eq!(of_path(path), Some(vendor), "{path:?}");
        }
        for path in [
            &b"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"[..],
            b"dotenv/config",
            b"",
        ] {
            assert_eq!(of_path(path), None, "{path:?}");
        }
    }

    #[test]
    fn env_signals_and_off_switches() {
        assert_eq!(env_signal(b"DD_TRACE_AGENT_URL"), Some(&b"Datadog"[..]));
        assert_eq!(env_signal(b"DD_TRACE_"), None);
        assert_eq!(env_signal(b"DD_ENV"), None);
        assert_eq!(
            env_signal(b"NEW_RELIC_LICENSE_KEY"),
            Some(&b"New Relic"[..])
        );
        assert_eq!(env_signal(b"DT_TENANT"), Some(&b"Dynatrace"[..]));
        assert_eq!(env_signal(b"OTEL_SERVICE_NAME"), None);
        assert_eq!(env_signal(b"SW_AGENT_NAME"), None);
        assert_eq!(env_signal(b"SPLUNK_HOME"), None);
        assert_eq!(
            off_switch(b"DD_TRACE_ENABLED", b"false"),
            Some(&b"Datadog"[..])
        );
        assert_eq!(off_switch(b"DD_TRACE_ENABLED", b"true"), None);
        assert_eq!(
            dotnet_profiler(b"{846f5f1c-f9ae-4b07-969e-05c26bc060d8}"),
            Some(&b"Datadog"[..])
        );
        assert!(vendors().any(|v| v == "Datadog"));
        assert_eq!(vendors().filter(|v| *v == "Datadog").count(), 1);
    }

    #[test]
    fn the_quick_gate_lets_every_table_entry_through() {
        for (pattern, _) in ENV_SIGNALS.iter().chain(ENV_OFF_SWITCHES.iter()) {
            let key = pattern.strip_suffix(b"*").unwrap_or(pattern);
            assert!(may_be_vendor_key(key), "{:?}", core::str::from_utf8(key));
        }
        for key in [
            &b"PATH"[..],
            b"HOME",
            b"DB_HOST",
            b"LANG",
            b"SHLVL",
            b"JAVA_HOME",
            b"D",
        ] {
            assert!(!may_be_vendor_key(key), "{key:?}");
        }
    }

    #[test]
    fn ld_preload_entries() {
        assert_eq!(
            ld_preload(
                b"/usr/lib/oneagent/liboneagent_preload.so /opt/datadog/apm/inject/inject.so"
            ),
            Some((&b"/opt/datadog/apm/inject/inject.so"[..], &b"Datadog"[..]))
        );
        assert_eq!(ld_preload(b"/var/oneagent/liboneagent_preload.so"), None);
        assert_eq!(ld_preload(b"libjemalloc.so.2:/lib/libfaketime.so.1"), None);
    }
}
