//! `oneagentctl explain`: what the preload would decide for a command line, with every reason.
//! The CLI resolves the command the way the kernel would (PATH, `#!` interpreters, symlinks);
//! the decision itself is [`crate::decision::evaluate`], the same code as the inventory's.

#![forbid(unsafe_code)]

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decision::{AgentProblem, OwnedPolicy, ProcessFacts, Verdict, enrich, evaluate};
use crate::elf_cache::ElfCache;

/// A command line resolved to what would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The argv the process would see (a `#!` script's interpreter first).
    pub argv: Vec<String>,
    /// The ELF image that would run, canonical; empty when the command does not exist.
    pub exe: String,
    /// The script, when the command is a `#!` script.
    pub script: String,
}

fn find_in_path(name: &str, path_var: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The `#!` line of `path`, split into interpreter and optional argument.
fn shebang(path: &Path) -> Option<(String, Option<String>)> {
    let head = crate::safe_fs::read_head(path, 256, crate::safe_fs::OpenOpts::UNTRUSTED).ok()?;
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?.trim();
    let mut parts = text.splitn(2, char::is_whitespace);
    let interp = parts.next()?.to_owned();
    let arg = parts
        .next()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    Some((interp, arg))
}

/// Resolves `argv[0]` through `path_var` and `#!` lines as `execve` would.
pub fn resolve(argv: &[String], path_var: &str) -> Resolved {
    let Some(first) = argv.first() else {
        return Resolved {
            argv: Vec::new(),
            exe: String::new(),
            script: String::new(),
        };
    };
    let Some(found) = find_in_path(first, path_var) else {
        return Resolved {
            argv: argv.to_vec(),
            exe: String::new(),
            script: String::new(),
        };
    };
    if let Some((interp, arg)) = shebang(&found) {
        let script = found.display().to_string();
        let rest = argv.iter().skip(1).cloned();
        // `#!/usr/bin/env python3`: env runs python3 from PATH with the script.
        let (interp, arg) = if Path::new(&interp).file_name().is_some_and(|n| n == "env") {
            match arg {
                Some(a) => (a, None),
                None => (interp, None),
            }
        } else {
            (interp, arg)
        };
        let mut new_argv = vec![interp.clone()];
        new_argv.extend(arg);
        new_argv.push(script.clone());
        new_argv.extend(rest);
        let exe = find_in_path(&interp, path_var)
            .and_then(|p| p.canonicalize().ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Resolved {
            argv: new_argv,
            exe,
            script,
        };
    }
    Resolved {
        argv: argv.to_vec(),
        exe: found
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        script: String::new(),
    }
}

/// The answer of `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainReport {
    /// The decision.
    pub verdict: Verdict,
    /// The argv decided on, space-separated.
    pub command_line: String,
    /// The executable image, empty when the command was not found.
    pub executable: String,
    /// The `#!` script, if any.
    pub script: String,
    /// `DT_NEEDED` libraries of the executable.
    pub libraries: Vec<String>,
    /// Go version from the build info, empty when none.
    pub go_version: String,
    /// The systemd unit the process was assumed to run in, empty when none.
    pub systemd_unit: String,
    /// Who decided: `oneagentd` (its configuration and rules) or `local` (the configuration
    /// file only).
    pub decided_by: String,
    /// Agents that are configured but unusable.
    pub agent_problems: Vec<AgentProblem>,
    /// For an `inject` verdict, the variables the preload library would set (`KEY=VALUE`), or
    /// one entry `none: <why>` when it would set none.
    pub environment: Vec<String>,
}

/// Decides for an already resolved command line.
pub fn explain(
    argv: &[String],
    env: &[String],
    exe: &str,
    unit: &str,
    policy: &OwnedPolicy,
    decided_by: &str,
) -> ExplainReport {
    let join = |items: &[String]| {
        let mut out = Vec::new();
        for i in items {
            out.extend_from_slice(i.as_bytes());
            out.push(0);
        }
        out
    };
    let unit = if unit.is_empty() || unit.contains('.') {
        unit.to_owned()
    } else {
        format!("{unit}.service")
    };
    let mut facts = ProcessFacts {
        cmdline: join(argv),
        environ: join(env),
        exe: exe.as_bytes().to_vec(),
        cgroup: if unit.is_empty() {
            Vec::new()
        } else {
            format!("0::/system.slice/{unit}\n").into_bytes()
        },
        cwd: std::env::current_dir()
            .map(|d| d.as_os_str().as_bytes().to_vec())
            .unwrap_or_default(),
        ..ProcessFacts::default()
    };
    let mut cache = ElfCache::default();
    enrich(&mut facts, &mut cache);
    let verdict = evaluate(&facts, policy);
    let environment = if verdict.action == "inject" {
        policy
            .planned_environment(&facts, &crate::injection::snapshot::host_name())
            .unwrap_or_else(|why| vec![format!("none: {why}")])
    } else {
        Vec::new()
    };
    let elf = (!exe.is_empty())
        .then(|| cache.facts(Path::new(exe)))
        .flatten();
    ExplainReport {
        verdict,
        command_line: argv.join(" "),
        executable: exe.to_owned(),
        script: String::new(),
        libraries: elf.as_ref().map(|e| e.needed.clone()).unwrap_or_default(),
        go_version: elf
            .as_ref()
            .and_then(|e| e.go.as_ref().map(|g| g.go_version.clone()))
            .unwrap_or_default(),
        systemd_unit: unit,
        decided_by: decided_by.to_owned(),
        agent_problems: policy.agent_problems.clone(),
        environment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_scripts_run_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("gunicorn");
        std::fs::write(&script, "#!/usr/bin/env python3\nprint(1)\n").unwrap();
        let path_var = format!("{}:/usr/bin:/bin", dir.path().display());
        let r = resolve(&["gunicorn".into(), "app:app".into()], &path_var);
        assert_eq!(r.argv, ["python3", script.to_str().unwrap(), "app:app"]);
        assert!(r.exe.contains("python3"), "{r:?}");
        assert_eq!(r.script, script.display().to_string());
    }

    /// `explain` says what the preload would do: another vendor named, the .NET application's
    /// own files read (target framework, OpenTelemetry references), the kill switch.
    #[test]
    fn explain_agrees_with_the_preload_rules() {
        let config = crate::config::Config::default();
        let policy = OwnedPolicy::build(&config, &[], &[]).with_all_agents_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("Orders.Api.dll");
        std::fs::write(&app, b"MZ").unwrap();
        let app_s = app.to_str().unwrap().to_owned();
        let rc = dir.path().join("Orders.Api.runtimeconfig.json");
        let deps = dir.path().join("Orders.Api.deps.json");
        let dotnet = |env: &[&str]| {
            let env: Vec<String> = env.iter().map(|s| (*s).to_owned()).collect();
            explain(
                &["dotnet".into(), app_s.clone()],
                &env,
                "/usr/share/dotnet/dotnet",
                "",
                &policy,
                "t",
            )
            .verdict
        };
        std::fs::write(&rc, r#"{"runtimeOptions":{"tfm":"net8.0"}}"#).unwrap();
        assert_eq!(dotnet(&[]).reason_code, "instrumentable");
        std::fs::write(&rc, r#"{"runtimeOptions":{"tfm":"net6.0"}}"#).unwrap();
        let v = dotnet(&[]);
        assert_eq!(
            (v.action.as_str(), v.reason_code.as_str()),
            ("skip", "unsupported-runtime")
        );
        std::fs::write(&rc, r#"{"runtimeOptions":{"tfm":"net9.0"}}"#).unwrap();
        std::fs::write(
            &deps,
            r#"{"libraries":{"OpenTelemetry/1.9.0":{"type":"package"}}}"#,
        )
        .unwrap();
        let v = dotnet(&[]);
        assert_eq!(v.reason_code, "other-agent");
        assert!(v.reason.contains("OpenTelemetry"), "{}", v.reason);
        std::fs::remove_file(&deps).unwrap();
        let v = dotnet(&["NEW_RELIC_LICENSE_KEY=k"]);
        assert_eq!(
            v.reason,
            "other agent present: New Relic: NEW_RELIC_LICENSE_KEY in the environment"
        );
        let v = dotnet(&["ONEAGENT_PRELOAD_DISABLE=true"]);
        assert_eq!(v.reason_code, "opted-out");
        let v = dotnet(&["ONEAGENT_PRELOAD_DISABLE=false"]);
        assert_eq!(v.reason_code, "instrumentable");
    }

    #[test]
    fn missing_commands_keep_their_argv() {
        let r = resolve(&["no-such-command-xyz".into()], "/usr/bin:/bin");
        assert_eq!((r.argv.len(), r.exe.as_str()), (1, ""));
    }
}
