//! What a reload changes: the keys that differ between two configurations and which component
//! applies each. Pure functions; the daemon does the applying (`daemon::reload`).

#![forbid(unsafe_code)]

use crate::config::Config;

/// Who applies a configuration key when it changes at a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applier {
    /// The log filter (`[daemon] log_level`).
    Logging,
    /// The policy and the preload snapshots: `[injection]` rules, `[agents]`, the endpoint
    /// agents are given, `[kubernetes]`. Processes get it at their next start.
    Policy,
    /// The log pipeline (`[logs]`, `[exporter] otlp_endpoint`/`compression`), reconfigured in
    /// place: files, offsets and the batch in flight are kept.
    Logs,
    /// The /metrics listener, re-bound.
    Metrics,
    /// The containers' report socket (`[kubernetes] node_agent_dir`), re-bound.
    ContainerReports,
    /// Not applied by a reload; the text says what applies it.
    NotLive(&'static str),
}

/// Which component applies `key` (`section.key`). Keys of a section not listed here are
/// reported as needing a restart, so a key added without thinking about reloads is never
/// claimed to be in effect when it is not.
pub fn applier(key: &str) -> Vec<Applier> {
    let (section, name) = key.split_once('.').unwrap_or((key, ""));
    match (section, name) {
        ("daemon", "log_level") => vec![Applier::Logging],
        ("exporter", "otlp_endpoint") => vec![Applier::Policy, Applier::Logs],
        ("exporter", "compression") => vec![Applier::Logs],
        ("injection", "library" | "preload_file") => vec![Applier::NotLive(
            "the preload file is edited only by `oneagentctl preload install` (and at start); \
             run `oneagentctl preload remove` before such a change and `preload install` after it",
        )],
        ("exporter" | "injection" | "agents", _) => vec![Applier::Policy],
        ("logs", _) => vec![Applier::Logs],
        ("metrics", "listen") => vec![Applier::Metrics],
        ("kubernetes", "node_agent_dir") => vec![Applier::Policy, Applier::ContainerReports],
        ("kubernetes", _) => vec![Applier::Policy],
        ("opamp", _) => vec![Applier::NotLive(
            "the OpAMP client reads [opamp] at start: restart oneagentd",
        )],
        _ => vec![Applier::NotLive("read only at start: restart oneagentd")],
    }
}

/// The keys (`section.key`) whose values differ between `old` and `new`, in file order.
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(old), Ok(new)) = (toml::Table::try_from(old), toml::Table::try_from(new)) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    let empty = toml::Table::new();
    let sections = new
        .keys()
        .chain(old.keys().filter(|k| !new.contains_key(*k)));
    for section in sections {
        let table = |t: &toml::Table| t.get(section).and_then(toml::Value::as_table).cloned();
        let (o, n) = (
            table(&old).unwrap_or_else(|| empty.clone()),
            table(&new).unwrap_or_else(|| empty.clone()),
        );
        for key in n.keys().chain(o.keys().filter(|k| !n.contains_key(*k))) {
            if o.get(key) != n.get(key) {
                keys.push(format!("{section}.{key}"));
            }
        }
        // A section that is not a table (none today) compares whole.
        if o.is_empty() && n.is_empty() && old.get(section) != new.get(section) {
            keys.push(section.clone());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("oneagent.toml"), text).unwrap()
    }

    #[test]
    fn changed_keys_are_named() {
        let old = Config::default();
        let new = parse(
            "[exporter]\ncompression = \"none\"\n[logs]\nroots = [\"/data\"]\nmax_depth = 2\n\
             [metrics]\nlisten = \"127.0.0.1:9500\"\n",
        );
        let keys = changed_keys(&old, &new);
        for k in [
            "exporter.compression",
            "logs.roots",
            "logs.max_depth",
            "metrics.listen",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} not in {keys:?}");
        }
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert!(changed_keys(&old, &Config::default()).is_empty());
    }

    #[test]
    fn every_default_key_has_a_live_applier_but_the_preload_file_and_opamp() {
        let table = toml::Table::try_from(Config::default()).unwrap();
        for (section, keys) in &table {
            for key in keys.as_table().unwrap().keys() {
                let k = format!("{section}.{key}");
                let live = applier(&k)
                    .iter()
                    .all(|a| !matches!(a, Applier::NotLive(_)));
                let expected =
                    !matches!(k.as_str(), "injection.library" | "injection.preload_file")
                        && section != "opamp";
                assert_eq!(live, expected, "{k}");
            }
        }
        assert!(matches!(applier("opamp.endpoint")[0], Applier::NotLive(_)));
    }
}
