//! oneagentctl: a thin client of the D-Bus API. Tables for people, `--json` for scripts.

#![forbid(unsafe_code)]

use std::io::Write;

pub use crate::cli::CtlFailure;
use crate::cli::{AgentsAction, CtlArgs, CtlCommand, PreloadAction, Shell, exit};
use oneagent_api::ExplainReport;
use oneagent_api::ProcessEntry;
use oneagent_api::{Agent1Proxy, AgentError, BUS_NAME, StatusReport};

/// The one line printed when the daemon cannot be reached.
pub const NOT_RUNNING_HINT: &str = "start it with `systemctl start oneagent`";

fn describe_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".to_owned())
}

/// Maps an error of a call to the daemon to a message and an exit code.
fn classify(verb: &str, e: AgentError) -> CtlFailure {
    match e {
        AgentError::AccessDenied(m) => {
            CtlFailure::new(exit::DENIED, format!("permission denied: {m}"))
        }
        AgentError::InvalidArgument(m) => CtlFailure::new(exit::USAGE, m),
        AgentError::InvalidConfig(m) => CtlFailure::new(
            exit::FAILED,
            format!("configuration refused, the daemon keeps running with the previous one: {m}"),
        ),
        AgentError::Failed(m) => CtlFailure::new(exit::FAILED, format!("{verb} failed: {m}")),
        AgentError::ZBus(e) => {
            let (name, message) = oneagent_api::remote_error(&e).unwrap_or_default();
            match name.as_str() {
                "org.freedesktop.DBus.Error.ServiceUnknown"
                | "org.freedesktop.DBus.Error.NameHasNoOwner" => CtlFailure::new(
                    exit::NOT_RUNNING,
                    format!("oneagentd is not running: {NOT_RUNNING_HINT}"),
                ),
                "org.freedesktop.DBus.Error.AccessDenied" => CtlFailure::new(
                    exit::DENIED,
                    format!(
                        "permission denied: `oneagentctl {verb}` needs root \
                         (refused by the system bus's policy for io.oneagent.Agent1)"
                    ),
                ),
                "" => CtlFailure::new(exit::FAILED, format!("{verb} failed: {e}")),
                _ => CtlFailure::new(exit::FAILED, format!("{verb} failed: {name}: {message}")),
            }
        }
    }
}

pub use oneagent_api::{PEER_SOCKET_ENV, connect_peer};

async fn connect() -> Result<Agent1Proxy<'static>, CtlFailure> {
    if let Some(path) = std::env::var_os(PEER_SOCKET_ENV).filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        return connect_peer(&path).await.map_err(|e| {
            CtlFailure::new(
                exit::NOT_RUNNING,
                format!(
                    "oneagentd is not running (cannot reach its peer socket {} from \
                     {PEER_SOCKET_ENV}: {e})",
                    path.display()
                ),
            )
        });
    }
    let conn = zbus::Connection::system().await.map_err(|e| {
        CtlFailure::new(
            exit::NOT_RUNNING,
            format!(
                "oneagentd is not running (cannot reach the system bus at {}: {e}): {NOT_RUNNING_HINT}",
                describe_bus_address()
            ),
        )
    })?;
    let proxy = Agent1Proxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| CtlFailure::new(exit::FAILED, format!("creating the D-Bus proxy: {e}")))?;
    // Ask the bus first, so that "not running" is one clear line rather than a method error.
    let dbus = zbus::fdo::DBusProxy::new(&conn)
        .await
        .map_err(|e| CtlFailure::new(exit::FAILED, format!("talking to the bus: {e}")))?;
    let name = zbus::names::BusName::try_from(BUS_NAME)
        .map_err(|e| CtlFailure::new(exit::FAILED, format!("bus name: {e}")))?;
    match dbus.name_has_owner(name).await {
        Ok(true) => Ok(proxy),
        Ok(false) => Err(CtlFailure::new(
            exit::NOT_RUNNING,
            format!("oneagentd is not running: {NOT_RUNNING_HINT}"),
        )),
        Err(e) => Err(CtlFailure::new(
            exit::FAILED,
            format!("talking to the bus: {e}"),
        )),
    }
}

/// After a successful `agents install`, a running daemon re-checks its agents at once: its
/// snapshot said the agent was missing, so without a reload no process would get it. Best
/// effort: with no daemon, or without the right to reload, the summary's `sudo oneagentctl
/// reload` stands. JSON output stays the install summary alone.
async fn reload_after_install(json: bool, out: &mut dyn Write) {
    let Ok(proxy) = connect().await else {
        return;
    };
    let line = match proxy.reload().await.map(|r| r.generation) {
        Ok(generation) => format!(
            "    oneagentd re-checked its agents (configuration generation {generation}): \
             processes get the agent from their next start.\n"
        ),
        Err(e) => format!(
            "    oneagentd did not reload ({}); run `sudo oneagentctl reload`.\n",
            classify("reload", e).message
        ),
    };
    if !json {
        let _ = out.write_all(line.as_bytes());
    }
}

/// What `oneagentctl reload` prints: the generation, the keys now in effect and, one per line,
/// those that are not.
pub fn render_reload(r: &oneagent_api::ReloadReport) -> String {
    let mut s = format!("Configuration reloaded (generation {}).\n", r.generation);
    if !r.applied.is_empty() {
        s.push_str(&format!("  In effect now: {}\n", r.applied.join(", ")));
    }
    for line in &r.not_applied {
        s.push_str(&format!("  NOT IN EFFECT: {line}\n"));
    }
    for line in &r.problems {
        s.push_str(&format!("  KEPT PREVIOUS: {line}\n"));
    }
    s
}

/// Runs one oneagentctl invocation, writing its output to `out`.
pub async fn run(args: CtlArgs, out: &mut dyn Write) -> Result<(), CtlFailure> {
    let json = args.json;
    let write_err =
        |e: std::io::Error| CtlFailure::new(exit::FAILED, format!("writing output: {e}"));
    match args.command {
        CtlCommand::Agents { action } => {
            let installs = matches!(action, AgentsAction::Install { .. });
            crate::agents::run(action, json, out)?;
            if installs {
                reload_after_install(json, out).await;
            }
            Ok(())
        }
        CtlCommand::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = CtlArgs::command();
            match shell {
                Shell::Bash => clap_complete::generate(
                    clap_complete::Shell::Bash,
                    &mut cmd,
                    "oneagentctl",
                    out,
                ),
                Shell::Zsh => {
                    clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "oneagentctl", out)
                }
            }
            Ok(())
        }
        CtlCommand::Status => {
            let proxy = connect().await?;
            let report = proxy.status().await.map_err(|e| classify("status", e))?;
            if json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| CtlFailure::new(exit::FAILED, format!("encoding JSON: {e}")))?;
                writeln!(out, "{text}").map_err(write_err)
            } else {
                out.write_all(render_status(&report).as_bytes())
                    .map_err(write_err)
            }
        }
        CtlCommand::Ps {
            language,
            service,
            unit,
            all,
        } => {
            let proxy = connect().await?;
            let unit = unit.map(|u| oneagent::systemd::normalise_unit(&u).unwrap_or(u));
            let processes: Vec<ProcessEntry> = proxy
                .processes()
                .await
                .map_err(|e| classify("ps", e))?
                .into_iter()
                .filter(|p| all || p.is_runtime() || language.is_some())
                .filter(|p| {
                    language
                        .as_ref()
                        .is_none_or(|l| p.verdict.language == l.to_ascii_lowercase())
                })
                .filter(|p| {
                    service
                        .as_ref()
                        .is_none_or(|s| p.verdict.service_name == s.to_ascii_lowercase())
                })
                .filter(|p| unit.as_ref().is_none_or(|u| &p.systemd_unit == u))
                .collect();
            if json {
                let text = serde_json::to_string_pretty(&processes)
                    .map_err(|e| CtlFailure::new(exit::FAILED, format!("encoding JSON: {e}")))?;
                writeln!(out, "{text}").map_err(write_err)
            } else {
                out.write_all(render_processes(&processes, all).as_bytes())
                    .map_err(write_err)
            }
        }
        CtlCommand::Logs => {
            let proxy = connect().await?;
            let files = proxy.log_files().await.map_err(|e| classify("logs", e))?;
            if json {
                let text = serde_json::to_string_pretty(&files)
                    .map_err(|e| CtlFailure::new(exit::FAILED, format!("encoding JSON: {e}")))?;
                writeln!(out, "{text}").map_err(write_err)
            } else {
                out.write_all(render_log_files(&files).as_bytes())
                    .map_err(write_err)
            }
        }
        CtlCommand::Pending => {
            let proxy = connect().await?;
            let pending = proxy.pending().await.map_err(|e| classify("pending", e))?;
            if json {
                let text = serde_json::to_string_pretty(&pending)
                    .map_err(|e| CtlFailure::new(exit::FAILED, format!("encoding JSON: {e}")))?;
                writeln!(out, "{text}").map_err(write_err)
            } else {
                out.write_all(render_pending(&pending).as_bytes())
                    .map_err(write_err)
            }
        }
        CtlCommand::Explain {
            env,
            unit,
            config,
            command,
        } => explain(env, unit, config, command, json, out).await,
        CtlCommand::Reload => {
            let proxy = connect().await?;
            let report = proxy.reload().await.map_err(|e| classify("reload", e))?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({
                        "reloaded": true,
                        "generation": report.generation,
                        "applied": report.applied,
                        "not_applied": report.not_applied,
                        "problems": report.problems,
                    })
                )
                .map_err(write_err)
            } else {
                out.write_all(render_reload(&report).as_bytes())
                    .map_err(write_err)
            }
        }
        CtlCommand::LogLevel { level } => {
            let level: oneagent::LogLevel = level
                .parse()
                .map_err(|e: oneagent::Error| CtlFailure::new(exit::USAGE, e.to_string()))?;
            let proxy = connect().await?;
            proxy
                .set_log_level(level.as_str())
                .await
                .map_err(|e| classify("log-level", e))?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "log_level": level.as_str() })
                )
            } else {
                writeln!(out, "Log level set to {level}.")
            }
            .map_err(write_err)
        }
        CtlCommand::Preload { action } => {
            let proxy = connect().await?;
            let (verb, report) = match action {
                PreloadAction::Unblock { executable, all } => {
                    let exe = if all {
                        String::new()
                    } else {
                        executable.unwrap_or_default()
                    };
                    let n = proxy
                        .preload_unblock(&exe)
                        .await
                        .map_err(|e| classify("preload unblock", e))?;
                    return if json {
                        writeln!(out, "{}", serde_json::json!({ "unblocked": n }))
                    } else if n == 0 {
                        writeln!(out, "Nothing was blocked{}.", if exe.is_empty() { String::new() } else { format!(" for {exe}") })
                    } else {
                        writeln!(out, "Unblocked {n} executable(s); they are injected again from their next start.")
                    }
                    .map_err(write_err);
                }
                PreloadAction::Install => ("preload install", proxy.preload_install().await),
                PreloadAction::Remove => ("preload remove", proxy.preload_remove().await),
                PreloadAction::Verify => ("preload verify", proxy.preload_verify().await),
            };
            let report = report.map_err(|e| classify(verb, e))?;
            if json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| CtlFailure::new(exit::FAILED, format!("encoding JSON: {e}")))?;
                writeln!(out, "{text}").map_err(write_err)?;
            } else {
                out.write_all(render_preload(verb, &report).as_bytes())
                    .map_err(write_err)?;
            }
            if verb == "preload verify"
                && (!report.library_problem.is_empty() || !report.snapshot_problem.is_empty())
            {
                return Err(CtlFailure::new(
                    exit::FAILED,
                    "verification failed (see above)",
                ));
            }
            Ok(())
        }
        CtlCommand::Restart { unit } => {
            let proxy = connect().await?;
            let job = proxy
                .restart_unit(&unit)
                .await
                .map_err(|e| classify("restart", e))?;
            let unit = oneagent::systemd::normalise_unit(&unit).unwrap_or(unit);
            if json {
                writeln!(out, "{}", serde_json::json!({ "unit": unit, "job": job }))
            } else {
                writeln!(
                    out,
                    "Restart of {unit} queued (systemd job {job}); `systemctl status {unit}` shows the result."
                )
            }
            .map_err(write_err)
        }
        CtlCommand::Enable(target) | CtlCommand::Disable(target)
            if !target.global && target.service.is_none() =>
        {
            Err(CtlFailure::new(
                exit::USAGE,
                "name a service or pass --global",
            ))
        }
        CtlCommand::Enable(target) => set_injection(target, true, json, out).await,
        CtlCommand::Disable(target) => set_injection(target, false, json, out).await,
    }
}

async fn set_injection(
    target: crate::cli::Target,
    enabled: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CtlFailure> {
    let verb = if enabled { "enable" } else { "disable" };
    let service = if target.global {
        String::new()
    } else {
        let given = target.service.unwrap_or_default();
        oneagent::store::normalise_service(&given)
            .map_err(|e| CtlFailure::new(exit::USAGE, e.to_string()))?
    };
    let proxy = connect().await?;
    let changed = proxy
        .set_injection(&service, enabled)
        .await
        .map_err(|e| classify(verb, e))?;
    let scope = if service.is_empty() {
        "globally".to_owned()
    } else {
        format!("for service {service}")
    };
    let state = if enabled { "enabled" } else { "disabled" };
    let result = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "scope": if service.is_empty() { "*" } else { service.as_str() },
                "enabled": enabled,
                "changed": changed,
            })
        )
    } else if changed {
        writeln!(
            out,
            "Injection {state} {scope}. Running processes keep their current state until they restart."
        )
    } else {
        writeln!(
            out,
            "Injection was already {state} {scope}; nothing changed."
        )
    };
    result.map_err(|e| CtlFailure::new(exit::FAILED, format!("writing output: {e}")))
}

async fn explain(
    env: Vec<String>,
    unit: Option<String>,
    config_path: std::path::PathBuf,
    command: Vec<String>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CtlFailure> {
    if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
        return Err(CtlFailure::new(
            exit::USAGE,
            format!("--env `{bad}` is not KEY=VALUE"),
        ));
    }
    let path_var =
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_owned());
    let resolved = oneagent::explain::resolve(&command, &path_var);
    let unit = unit.unwrap_or_default();
    let mut report = match connect().await {
        Ok(proxy) => proxy
            .explain(resolved.argv.clone(), env.clone(), &resolved.exe, &unit)
            .await
            .map_err(|e| classify("explain", e))?,
        Err(f) if f.code == exit::NOT_RUNNING => {
            let (config, _) = oneagent::config::Config::load(&config_path)
                .map_err(|e| CtlFailure::new(exit::USAGE, e.to_string()))?;
            let policy = oneagent::decision::OwnedPolicy::build(&config, &[], &[]);
            oneagent::explain::explain(
                &resolved.argv,
                &env,
                &resolved.exe,
                &unit,
                &policy,
                &format!(
                    "local ({}; oneagentd is not running, so rules set with enable/disable are not applied)",
                    config_path.display()
                ),
            )
            .into()
        }
        Err(f) => return Err(f),
    };
    report.script = resolved.script;
    if json {
        let v = &report.verdict;
        let value = serde_json::json!({
            "language": if v.language.is_empty() { serde_json::Value::Null } else { v.language.clone().into() },
            "runtime_version": if v.runtime_version.is_empty() { serde_json::Value::Null } else { v.runtime_version.clone().into() },
            "action": v.action,
            "reason": v.reason,
            "reason_code": v.reason_code,
            "already_injected": v.already_injected,
            "service_name": v.service_name,
            "service_name_source": v.service_name_source,
            "command_line": report.command_line,
            "executable": report.executable,
            "script": report.script,
            "libraries": report.libraries,
            "go_version": report.go_version,
            "systemd_unit": report.systemd_unit,
            "decided_by": report.decided_by,
            "agent_problems": report.agent_problems,
            "environment": report.environment,
        });
        writeln!(out, "{value:#}")
    } else {
        out.write_all(render_explain(&report).as_bytes())
    }
    .map_err(|e| CtlFailure::new(exit::FAILED, format!("writing output: {e}")))
}

/// The human-readable output of `preload install|remove|verify`.
pub fn render_preload(verb: &str, r: &oneagent_api::PreloadReport) -> String {
    let mut s = String::new();
    match verb {
        "preload install" if r.changed => {
            s.push_str(&format!("Added {} to {}.\n", r.library, r.preload_file))
        }
        "preload install" => s.push_str(&format!(
            "{} was already in {}; nothing changed.\n",
            r.library, r.preload_file
        )),
        "preload remove" if r.changed => {
            s.push_str(&format!("Removed our entry from {}.\n", r.preload_file))
        }
        "preload remove" => s.push_str(&format!(
            "{} held no entry of ours; nothing changed.\n",
            r.preload_file
        )),
        _ => {}
    }
    let mut row = |k: &str, v: String| s.push_str(&format!("{k:<14}{v}\n"));
    row(
        "library",
        match (verb, r.library_problem.is_empty()) {
            ("preload verify", true) => format!("{} (verified)", r.library),
            ("preload verify", false) => format!("{} FAILED: {}", r.library, r.library_problem),
            _ => r.library.clone(),
        },
    );
    row(
        "preload file",
        format!(
            "{} ({}{})",
            r.preload_file,
            if r.installed {
                "ours is installed"
            } else {
                "ours is not installed"
            },
            if r.other_entries.is_empty() {
                String::new()
            } else {
                format!("; other entries kept: {}", r.other_entries.join(" "))
            }
        ),
    );
    row(
        "snapshot",
        if r.snapshot_problem.is_empty() {
            format!("{} ({} bytes, valid)", r.snapshot, r.snapshot_bytes)
        } else {
            format!("{} PROBLEM: {}", r.snapshot, r.snapshot_problem)
        },
    );
    if !r.last_problem.is_empty() {
        row("last problem", r.last_problem.clone());
    }
    s
}

/// The human-readable `explain` output.
pub fn render_explain(r: &ExplainReport) -> String {
    let v = &r.verdict;
    let mut s = String::new();
    let mut row = |k: &str, val: String| s.push_str(&format!("{k:<13}{val}\n"));
    row("command", r.command_line.clone());
    if !r.script.is_empty() {
        row("script", r.script.clone());
    }
    row(
        "executable",
        if r.executable.is_empty() {
            "not found (decided from the command line alone)".to_owned()
        } else if r.libraries.is_empty() {
            r.executable.clone()
        } else {
            format!("{} (needs {})", r.executable, r.libraries.join(", "))
        },
    );
    if !r.go_version.is_empty() {
        row("go build", r.go_version.clone());
    }
    if !r.systemd_unit.is_empty() {
        row("unit", r.systemd_unit.clone());
    }
    row(
        "language",
        match (v.language.as_str(), v.runtime_version.as_str()) {
            ("", _) => "none detected".to_owned(),
            (l, "") => l.to_owned(),
            (l, ver) => format!("{l} {ver}"),
        },
    );
    row("action", v.action.to_uppercase());
    row("reason", format!("{} [{}]", v.reason, v.reason_code));
    row(
        "service",
        format!("{} (from {})", v.service_name, v.service_name_source),
    );
    row("decided by", r.decided_by.clone());
    for p in &r.agent_problems {
        row(
            "agent",
            format!("{}: {}: {}", p.language, p.path, p.problem),
        );
    }
    for e in &r.environment {
        row("sets", e.clone());
    }
    s
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The human-readable `ps` table.
pub fn render_processes(processes: &[ProcessEntry], all: bool) -> String {
    if processes.is_empty() {
        return if all {
            "No processes.\n".to_owned()
        } else {
            "No processes of a detected runtime (use --all to list every process).\n".to_owned()
        };
    }
    let mut s = format!(
        "{:>7}  {:<8} {:<24} {:<24} {:<13} {}\n",
        "PID", "LANGUAGE", "SERVICE", "UNIT", "STATE", "REASON"
    );
    for p in processes {
        let language = if p.verdict.language.is_empty() {
            "-"
        } else {
            &p.verdict.language
        };
        let unit = if p.systemd_unit.is_empty() {
            "-"
        } else {
            &p.systemd_unit
        };
        s.push_str(&format!(
            "{:>7}  {:<8} {:<24} {:<24} {:<13} {}\n",
            p.pid,
            language,
            truncate(&p.verdict.service_name, 24),
            truncate(unit, 24),
            p.injection_state,
            truncate(&p.verdict.reason, 60),
        ));
    }
    s
}

/// The human-readable `logs` table.
pub fn render_log_files(files: &[oneagent_api::LogFileStatus]) -> String {
    if files.is_empty() {
        return "No log files are being tailed (see [logs] in oneagent.toml(5)).\n".to_owned();
    }
    let mut s = format!(
        "{:<48} {:<22} {:>12} {:>10} {:<16} {}\n",
        "FILE", "SERVICE", "OFFSET", "LAG", "STATE", "WRITERS"
    );
    for f in files {
        let writers: Vec<String> = f
            .writers
            .iter()
            .map(|(pid, svc, exe)| {
                let exe = std::path::Path::new(exe)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{pid} {svc} ({exe})")
            })
            .collect();
        s.push_str(&format!(
            "{:<48} {:<22} {:>12} {:>10} {:<16} {}\n",
            truncate(&f.path, 48),
            truncate(&f.service, 22),
            f.offset,
            f.lag,
            f.state,
            if writers.is_empty() {
                "-".to_owned()
            } else {
                writers.join(", ")
            }
        ));
    }
    s
}

/// The human-readable `pending` table.
pub fn render_pending(processes: &[ProcessEntry]) -> String {
    if processes.is_empty() {
        return "Nothing pending: every running process already matches its next start.\n"
            .to_owned();
    }
    let mut s = format!(
        "{:>7}  {:<8} {:<24} {:<12} {:<24} {}\n",
        "PID", "LANGUAGE", "SERVICE", "ON RESTART", "UNIT", "COMMAND"
    );
    let mut units = Vec::new();
    for p in processes {
        let unit = if p.systemd_unit.is_empty() {
            "-"
        } else {
            &p.systemd_unit
        };
        if !p.systemd_unit.is_empty() && !units.contains(&p.systemd_unit) {
            units.push(p.systemd_unit.clone());
        }
        s.push_str(&format!(
            "{:>7}  {:<8} {:<24} {:<12} {:<24} {}\n",
            p.pid,
            p.verdict.language,
            truncate(&p.verdict.service_name, 24),
            p.pending_change,
            truncate(unit, 24),
            truncate(&p.command_line, 60),
        ));
    }
    for unit in units {
        s.push_str(&format!("Apply now: sudo oneagentctl restart {unit}\n"));
    }
    s
}

/// `1h 02m 03s` style durations.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m {s:02}s"),
        _ => format!("{d}d {h:02}h {m:02}m"),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (civil-from-days, proleptic Gregorian).
pub fn format_utc(unix: u64) -> String {
    let days = (unix / 86400) as i64;
    let rem = unix % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The human-readable `status` output.
pub fn render_status(r: &StatusReport) -> String {
    let mut s = String::new();
    let mut row = |k: &str, v: String| s.push_str(&format!("{k:<14}{v}\n"));
    row(
        "oneagentd",
        format!(
            "{} — {} (pid {}, up {})",
            r.version,
            r.state,
            r.pid,
            format_duration(r.uptime_secs)
        ),
    );
    let source = if r.config_source == "defaults" {
        " (file absent: built-in defaults)"
    } else {
        ""
    };
    row(
        "config",
        format!(
            "{}{source}, generation {}, loaded {}",
            r.config_path,
            r.config_generation,
            format_utc(r.config_loaded_at)
        ),
    );
    if !r.last_reload_error.is_empty() {
        row("last reload", format!("FAILED: {}", r.last_reload_error));
    }
    if !r.remote_config.is_empty() {
        row("remote config", r.remote_config.clone());
    }
    if !r.opamp.is_empty() {
        row("opamp", r.opamp.clone());
    }
    row(
        "state",
        format!(
            "{} (schema {}, {} daemon starts)",
            r.database, r.schema_version, r.daemon_starts
        ),
    );
    if !r.database_recovered_to.is_empty() {
        row(
            "recovered",
            format!(
                "a corrupt database was moved to {}",
                r.database_recovered_to
            ),
        );
    }
    row("runtime dir", r.runtime_dir.clone());
    row("log level", r.log_level.clone());
    row(
        "injection",
        format!(
            "{} ({}), java agent {}",
            if r.injection_enabled {
                "enabled"
            } else {
                "disabled"
            },
            if r.injection_source == "rule" {
                "set with oneagentctl"
            } else {
                "from [injection] enabled"
            },
            r.java_agent
        ),
    );
    row("otlp endpoint", r.otlp_endpoint.clone());
    for e in &r.effective {
        let value = if e.value.is_empty() {
            "(off)"
        } else {
            e.value.as_str()
        };
        row(&e.component, format!("{} = {value}", e.key));
    }
    for p in &r.reload_pending {
        row("not in effect", p.clone());
    }
    row(
        "preload",
        if r.preload_installed {
            "installed".to_owned()
        } else if r.preload_problem.is_empty() {
            "not installed".to_owned()
        } else {
            format!("NOT INSTALLED: {}", r.preload_problem)
        },
    );
    for b in &r.blocked {
        row(
            "blocked",
            format!(
                "{}{} since {}: {} (`oneagentctl preload unblock {}`)",
                b.exe,
                if b.scope == "containers" {
                    " (in containers)"
                } else {
                    ""
                },
                format_utc(b.blocked_at),
                b.reason,
                b.exe
            ),
        );
    }
    row(
        "processes",
        format!(
            "{} ({} of a detected runtime), events: {}",
            r.processes, r.runtime_processes, r.process_events
        ),
    );
    for p in &r.agent_problems {
        row(
            "agent",
            format!("{}: {}: {}", p.language, p.path, p.problem),
        );
    }
    let services: Vec<_> = r.rules.iter().filter(|x| x.scope != "*").collect();
    if services.is_empty() {
        s.push_str("\nNo per-service injection rules.\n");
    } else {
        s.push_str(&format!(
            "\n{:<32} {:<9} {:<24} {}\n",
            "SERVICE", "INJECTION", "CHANGED", "BY UID"
        ));
        for rule in services {
            s.push_str(&format!(
                "{:<32} {:<9} {:<24} {}\n",
                rule.scope,
                if rule.enabled { "enabled" } else { "disabled" },
                format_utc(rule.updated_at),
                rule.updated_by_uid
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_650_000), "2026-11-25 23:40:00 UTC");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(5), "5s");
        assert_eq!(format_duration(65), "1m 05s");
        assert_eq!(format_duration(3_723), "1h 02m 03s");
        assert_eq!(format_duration(90_061), "1d 01h 01m");
    }
}
