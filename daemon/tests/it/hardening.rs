//! Hostile local users and hostile files (issue 12): the daemon runs as root and reads paths
//! that unprivileged users control. Each test plays one class of attack as uid 65534 and then
//! asserts that the daemon still answers D-Bus (as that user) within a deadline and still exports
//! an unrelated canary log file.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::otlp_receiver::Receiver;
use crate::support::*;

/// How long any single answer may take. Generous: CI shares two cores.
const DEADLINE: Duration = Duration::from_secs(15);

/// A daemon tailing `root` (with a root-owned canary file in `root/canary`) and a directory
/// `root/user` that belongs to uid 65534, as `/srv/<app>` often belongs to its user.
struct Hostile<'a> {
    bus: &'a TestBus,
    receiver: Receiver,
    setup: DaemonSetup<'a>,
    root: PathBuf,
    user_dir: PathBuf,
    canary: PathBuf,
    canary_lines: u32,
}

impl<'a> Hostile<'a> {
    fn new(bus: &'a TestBus, extra_config: &str) -> Hostile<'a> {
        let receiver = Receiver::start();
        let setup = DaemonSetup::new(bus);
        std::fs::create_dir_all(&setup.dir).unwrap();
        let root = bus.dir.path().join("srv");
        std::fs::create_dir_all(root.join("canary")).unwrap();
        let user_dir = root.join("user");
        std::fs::create_dir_all(&user_dir).unwrap();
        std::os::unix::fs::chown(&user_dir, Some(NOBODY), Some(NOBODY)).unwrap();
        let canary = root.join("canary/canary.log");
        std::fs::write(&canary, "").unwrap();
        std::fs::write(
            setup.config_path(),
            format!(
                "[exporter]\notlp_endpoint = \"{}\"\n\
                 [injection]\nenabled = false\n\
                 [metrics]\nlisten = \"127.0.0.1:0\"\n\
                 [logs]\nroots = [\"{}\"]\nstart_at = \"beginning\"\n{extra_config}",
                receiver.endpoint(),
                root.display()
            ),
        )
        .unwrap();
        Hostile {
            bus,
            receiver,
            setup,
            root,
            user_dir,
            canary,
            canary_lines: 0,
        }
    }

    /// The value of a counter on /metrics.
    fn metric(&self, name: &str) -> u64 {
        let addr = self.bus.status()["metrics_listen"]
            .as_str()
            .unwrap()
            .to_owned();
        let text = http_get_within(&addr, "/metrics", DEADLINE);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics: {text}"))
    }

    /// Asserts the daemon is alive for everyone: `status` answers an unprivileged caller within
    /// the deadline, and a new canary line reaches the collector.
    fn assert_serving(&mut self, after: &str) {
        let out = as_nobody_within(&[*CTL, "--json", "status"], self.bus, DEADLINE);
        assert!(
            out.status.success(),
            "after {after}: status as uid {NOBODY} failed: {}",
            stderr(&out)
        );
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["state"], "running", "after {after}");
        self.canary_lines += 1;
        let line = format!("canary {} after {after}", self.canary_lines);
        append(&self.canary, &format!("{line}\n"));
        assert!(
            wait_until(DEADLINE, || self.receiver.bodies().contains(&line)),
            "after {after}: the canary line was not exported within {DEADLINE:?}"
        );
    }
}

/// Runs `argv` as uid 65534 on the test bus; fails the test if it does not finish in `limit`
/// (a frozen daemon makes the CLI wait for its answer).
fn as_nobody_within(argv: &[&str], bus: &TestBus, limit: Duration) -> Output {
    let t0 = Instant::now();
    let out = Command::new("timeout")
        .args(["--kill-after=2", &limit.as_secs().to_string(), "setpriv"])
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .args(argv)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(124),
        "{argv:?} as uid {NOBODY} did not finish within {limit:?} (took {:?})",
        t0.elapsed()
    );
    out
}

/// Runs a setup command as uid 65534 and asserts it worked.
fn nobody(bus: &TestBus, argv: &[&str]) {
    let out = as_nobody_within(argv, bus, DEADLINE);
    assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Class 1: a FIFO named package.json next to a Node script. Before the fix, both `explain` and
/// the inventory (reading the script's package.json for the service name) opened it with a
/// blocking `open` on the thread that serves D-Bus: the daemon froze for good.
#[test]
fn a_fifo_package_json_freezes_neither_explain_nor_the_inventory() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    let mut daemon = h.setup.start();
    let app = h.user_dir.join("app");
    nobody(&bus, &["mkdir", s(&app)]);
    nobody(&bus, &["mkfifo", s(&app.join("package.json"))]);
    // A "node" whose script keeps it running: a copy of the shell, run on a shell script.
    nobody(&bus, &["cp", "/bin/sh", s(&app.join("node"))]);
    nobody(
        &bus,
        &[
            "sh",
            "-c",
            &format!("echo 'sleep 60' > {}", s(&app.join("app.js"))),
        ],
    );
    let node = s(&app.join("node")).to_owned();
    let script = s(&app.join("app.js")).to_owned();

    // explain, asked by the unprivileged user, is decided by the daemon and answers.
    let out = as_nobody_within(
        &[*CTL, "--json", "explain", "--", &node, &script],
        &bus,
        DEADLINE,
    );
    assert!(out.status.success(), "explain: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["decided_by"], "oneagentd", "{report}");
    assert_eq!(report["language"], "nodejs", "{report}");
    h.assert_serving("explain with a FIFO package.json");

    // The same program running: the inventory reads its package.json.
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            &node,
            &script,
        ])
        .current_dir(&app)
        .spawn()
        .unwrap();
    let pid = child.id();
    let seen = wait_until(DEADLINE, || {
        let out = as_nobody_within(&[*CTL, "--json", "ps"], &bus, DEADLINE);
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["pid"] == pid && p["verdict"]["language"] == "nodejs")
        })
    });
    assert!(seen, "the inventory never listed node pid {pid}");
    h.assert_serving("a running node with a FIFO package.json");
    // And the daemon still stops when asked.
    let _ = child.kill();
    let _ = child.wait();
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let status = wait_timeout(&mut daemon.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

/// Class 3: a FIFO named `*.log` under a log root. Before the fix the tailer thread blocked in
/// `open` and no log file was exported any more.
#[test]
fn a_fifo_named_like_a_log_stalls_no_other_file() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    // One before start (found by the scan), one after (found by inotify).
    nobody(&bus, &["mkfifo", s(&h.user_dir.join("early.log"))]);
    let _daemon = h.setup.start();
    h.assert_serving("a FIFO present at start");
    nobody(&bus, &["mkfifo", s(&h.user_dir.join("late.log"))]);
    // The user's real log next to the FIFOs is still read.
    nobody(
        &bus,
        &[
            "sh",
            "-c",
            &format!("echo 'user line' >> {}", s(&h.user_dir.join("app.log"))),
        ],
    );
    assert!(
        wait_until(DEADLINE, || h
            .receiver
            .bodies()
            .contains(&"user line".to_owned())),
        "the regular file beside the FIFOs was not exported"
    );
    h.assert_serving("a FIFO created while running");
    // The one created while running was seen and refused (the scan skips special files).
    assert!(h.metric("oneagent_log_files_refused_total") >= 1);
}

/// Class 2: symbolic links planted under a log root by a user. A link to a file the user cannot
/// read (or to a device) is never followed; the user's link to their own file still is.
#[test]
fn links_never_lead_to_files_their_owner_could_not_read() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    let secret = bus.dir.path().join("secret");
    std::fs::write(&secret, "TOPSECRET root's data\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let private = bus.dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(private.join("private.log"), "TOPSECRET private log\n").unwrap();
    let _daemon = h.setup.start();
    h.assert_serving("start");

    nobody(
        &bus,
        &["ln", "-s", s(&secret), s(&h.user_dir.join("steal.log"))],
    );
    nobody(
        &bus,
        &["ln", "-s", "/dev/zero", s(&h.user_dir.join("zero.log"))],
    );
    nobody(&bus, &["ln", "-s", s(&private), s(&h.user_dir.join("dir"))]);
    // Touching the links makes inotify report them again.
    nobody(
        &bus,
        &[
            "sh",
            "-c",
            &format!("echo mine > {}", s(&h.user_dir.join("own.txt"))),
        ],
    );
    nobody(
        &bus,
        &[
            "ln",
            "-s",
            s(&h.user_dir.join("own.txt")),
            s(&h.user_dir.join("mine.log")),
        ],
    );
    // Root's own link is trusted.
    std::os::unix::fs::symlink(&secret, h.root.join("canary/root-link.log")).unwrap();
    assert!(
        wait_until(DEADLINE, || {
            let got = h.receiver.bodies();
            got.contains(&"mine".to_owned()) && got.contains(&"TOPSECRET root's data".to_owned())
        }),
        "a link of the file's owner (the user's own, root's) was not followed: {:?}",
        h.receiver.bodies()
    );
    h.assert_serving("planted links");
    // The root link exported the secret once; nothing else may have.
    let leaked: Vec<_> = h
        .receiver
        .records
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.text().contains("TOPSECRET"))
        .map(|r| r.attr("log.file.path").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        leaked,
        [h.root.join("canary/root-link.log").display().to_string()],
        "a user's link leaked root's data"
    );
    // steal.log and zero.log were seen and refused.
    assert!(h.metric("oneagent_log_files_refused_total") >= 2);
}

/// Class 7: a configuration that is a FIFO, a device, a directory or not UTF-8 is a
/// configuration error (exit status 2, as `--check-config` says) within a deadline, never a hang
/// or an allocation of the whole device; a reload of such a file is refused and the daemon keeps
/// serving.
#[test]
fn hostile_configuration_files_are_configuration_errors() {
    require_root();
    let dir = tempdir();
    let fifo = dir.path().join("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let not_utf8 = dir.path().join("latin1.toml");
    std::fs::write(&not_utf8, b"[daemon]\n# caf\xe9\n").unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    let cases: [(&Path, &str); 5] = [
        (&fifo, "is a FIFO"),
        (Path::new("/dev/zero"), "is a character device"),
        (dir.path(), "is a directory"),
        (&not_utf8, ":2:6: the file is not valid UTF-8"),
        (&big, "is larger than"),
    ];
    for (path, message) in cases {
        let mut child = Command::new(*DAEMON)
            .arg("--check-config")
            .arg("--config")
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_timeout(&mut child, DEADLINE);
        let out = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(2), "--check-config {}", path.display());
        assert!(stderr(&out).contains(message), "{}", stderr(&out));

        let bus = TestBus::start(Policy::Shipped);
        let mut child = Command::new(*DAEMON)
            .arg("--config")
            .arg(path)
            .arg("--state-dir")
            .arg(bus.dir.path().join("state"))
            .arg("--runtime-dir")
            .arg(bus.dir.path().join("run"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env_remove("NOTIFY_SOCKET")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_timeout(&mut child, DEADLINE);
        let out = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(2), "start with {}", path.display());
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }

    // Reload: the file swapped for a FIFO is refused at once; the daemon keeps serving.
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    let _daemon = h.setup.start();
    h.assert_serving("start");
    std::fs::remove_file(h.setup.config_path()).unwrap();
    nix::unistd::mkfifo(
        &h.setup.config_path(),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let t0 = Instant::now();
    let out = bus.ctl(None, &["reload"]);
    assert!(t0.elapsed() < DEADLINE, "reload took {:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a FIFO"), "{}", stderr(&out));
    h.assert_serving("reload of a FIFO configuration");
}

/// Calls `method` of the agent with `dbus-send` as root (`uid = None`) or another uid; returns
/// `Ok(reply)` or `Err(error name)`.
fn call(bus: &TestBus, uid: Option<u32>, method: &str, args: &[&str]) -> Result<String, String> {
    let mut argv: Vec<String> = Vec::new();
    if let Some(uid) = uid {
        argv.extend([
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
        ]);
    }
    argv.extend([
        "dbus-send".into(),
        "--system".into(),
        "--print-reply".into(),
        "--reply-timeout=15000".into(),
        "--dest=io.oneagent.Agent1".into(),
        "/io/oneagent/Agent1".into(),
        format!("io.oneagent.Agent1.{method}"),
    ]);
    argv.extend(args.iter().map(|a| a.to_string()));
    let out = Command::new("timeout")
        .arg("20")
        .args(&argv)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(124), "{method} did not answer");
    if out.status.success() {
        return Ok(stdout(&out));
    }
    // "Error org.freedesktop.DBus.Error.AccessDenied: ..."
    let err = stderr(&out);
    let name = err
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(':');
    Err(name.to_owned())
}

/// Arguments that make each method do as little as possible.
fn sample_args(method: &str) -> &'static [&'static str] {
    match method {
        "Explain" => &[
            "array:string:true",
            "array:string:A=B",
            "string:",
            "string:",
        ],
        "SetLogLevel" => &["string:info"],
        "SetInjection" => &["string:probe-service", "boolean:true"],
        "RestartUnit" => &["string:no-such-unit"],
        "PreloadUnblock" => &["string:/nonexistent/exe"],
        _ => &[],
    }
}

/// Class 6: the bus policy, the daemon's uid checks, the code's lists and the man page agree.
/// Every method of the interface (from introspection, so a new one cannot be forgotten) is
/// walked as root and as uid 65534, under the shipped policy and under one that lets everyone
/// through (so the daemon's own check is seen alone).
#[test]
fn every_method_is_open_or_root_only_as_documented() {
    require_root();
    use oneagent::dbus::{OPEN_TO_ALL, ROOT_ONLY};
    for policy in [Policy::Shipped, Policy::Permissive] {
        let bus = TestBus::start(policy);
        let mut h = Hostile::new(&bus, "");
        let _daemon = h.setup.start();
        let out = Command::new("setpriv")
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
                "dbus-send",
                "--system",
                "--print-reply=literal",
                "--dest=io.oneagent.Agent1",
                "/io/oneagent/Agent1",
                "org.freedesktop.DBus.Introspectable.Introspect",
            ])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .output()
            .unwrap();
        assert!(out.status.success(), "introspection: {}", stderr(&out));
        let xml = stdout(&out);
        let iface = xml
            .split("<interface name=\"io.oneagent.Agent1\">")
            .nth(1)
            .and_then(|rest| rest.split("</interface>").next())
            .expect("our interface in the introspection data")
            .to_owned();
        let mut methods: Vec<String> = iface
            .split("<method name=\"")
            .skip(1)
            .filter_map(|m| m.split('"').next().map(str::to_owned))
            .collect();
        methods.sort();
        let mut listed: Vec<String> = OPEN_TO_ALL
            .iter()
            .chain(ROOT_ONLY)
            .map(|m| m.to_string())
            .collect();
        listed.sort();
        assert_eq!(
            methods, listed,
            "a method is in neither OPEN_TO_ALL nor ROOT_ONLY"
        );

        for method in &methods {
            let args = sample_args(method);
            let as_nobody = call(&bus, Some(NOBODY), method, args);
            let as_root = call(&bus, None, method, args);
            let open = OPEN_TO_ALL.contains(&method.as_str());
            if open {
                assert!(
                    as_nobody.is_ok(),
                    "{policy:?}: {method} is open to all but uid {NOBODY} got {as_nobody:?}"
                );
            } else {
                let expected = match policy {
                    Policy::Shipped => "org.freedesktop.DBus.Error.AccessDenied",
                    _ => "io.oneagent.Agent1.Error.AccessDenied",
                };
                assert_eq!(
                    as_nobody.as_ref().err().map(String::as_str),
                    Some(expected),
                    "{policy:?}: {method} must be refused to uid {NOBODY}"
                );
            }
            assert!(
                !matches!(&as_root, Err(name) if name.ends_with("AccessDenied")),
                "{policy:?}: {method} refused to root: {as_root:?}"
            );
        }
        h.assert_serving(&format!("walking every method under {policy:?}"));
    }

    // The CLI agrees: `logs` is open to everyone; a refused command says it needs root, and the
    // help and man page say which commands those are.
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    let _daemon = h.setup.start();
    let out = bus.ctl(Some(NOBODY), &["logs"]);
    assert!(
        out.status.success(),
        "logs as uid {NOBODY}: {}",
        stderr(&out)
    );
    let out = bus.ctl(Some(NOBODY), &["reload"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs root"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("changes the daemon"),
        "{}",
        stderr(&out)
    );
    // The help text (from which the man page is generated, with a drift test) marks exactly the
    // commands whose methods are root-only with "(root)".
    use clap::CommandFactory;
    let cli = oneagent_cli::cli::CtlArgs::command();
    for (verb, method) in [
        ("status", "Status"),
        ("ps", "Processes"),
        ("pending", "Pending"),
        ("logs", "LogFiles"),
        ("explain", "Explain"),
        ("reload", "Reload"),
        ("log-level", "SetLogLevel"),
        ("enable", "SetInjection"),
        ("disable", "SetInjection"),
        ("restart", "RestartUnit"),
        ("preload", "PreloadInstall"),
    ] {
        let about = cli
            .find_subcommand(verb)
            .and_then(|c| c.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        assert_eq!(
            about.contains("(root)"),
            ROOT_ONLY.contains(&method),
            "`oneagentctl {verb}` help says {about:?}, but {method} is {}",
            if ROOT_ONLY.contains(&method) {
                "root-only"
            } else {
                "open to all"
            }
        );
    }
    h.assert_serving("the CLI walk");
}

/// Descriptors of `pid` that name a file under `dir`.
fn fds_under(pid: u32, dir: &Path) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(dir)))
                .count()
        })
        .unwrap_or(0)
}

/// Class 4: many log files under a low descriptor limit. The daemon raises its soft limit to the
/// hard one, keeps at most half of it for log files (closing idle ones and reopening them by
/// inode when they grow), so export, D-Bus and the database keep working, also after the files
/// are deleted.
#[test]
fn thousands_of_log_files_do_not_exhaust_descriptors() {
    require_root();
    const FILES: usize = 1500;
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    h.setup.nofile = Some((100, 400));
    let many = h.user_dir.join("many");
    nobody(&bus, &["mkdir", s(&many)]);
    nobody(
        &bus,
        &[
            "sh",
            "-c",
            &format!(
                "cd {} && i=0; while [ $i -lt {FILES} ]; do echo \"line of $i\" > f$i.log; i=$((i+1)); done",
                s(&many)
            ),
        ],
    );
    let daemon = h.setup.start();
    let pid = daemon.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(
        open_files,
        ["400", "400"],
        "soft limit not raised: {limits}"
    );

    let expected: Vec<String> = (0..FILES).map(|i| format!("line of {i}")).collect();
    let mut most = 0;
    let all = wait_until(Duration::from_secs(90), || {
        most = most.max(fds_under(pid, &many));
        let got: std::collections::HashSet<String> = h.receiver.bodies().into_iter().collect();
        expected.iter().all(|e| got.contains(e))
    });
    let got: std::collections::HashSet<String> = h.receiver.bodies().into_iter().collect();
    assert!(
        all,
        "{} of {FILES} files not exported",
        expected.iter().filter(|e| !got.contains(*e)).count()
    );
    assert!(
        most <= 200,
        "{most} log files open at once, above half the limit"
    );
    h.assert_serving("1,500 log files under a limit of 400");

    // A file closed while idle is reopened when it grows, from where it was.
    nobody(
        &bus,
        &[
            "sh",
            "-c",
            &format!("echo 'more of 7' >> {}", s(&many.join("f7.log"))),
        ],
    );
    assert!(
        wait_until(DEADLINE, || h
            .receiver
            .bodies()
            .contains(&"more of 7".to_owned())),
        "an idle file that grew was not read again"
    );
    let sevens = h
        .receiver
        .bodies()
        .iter()
        .filter(|b| *b == "line of 7")
        .count();
    assert_eq!(sevens, 1, "an idle file was read again from its start");
    assert!(h.metric("oneagent_log_files_parked_total") >= (FILES - 200) as u64);

    // Everything deleted: export keeps working.
    nobody(&bus, &["rm", "-rf", s(&many)]);
    h.assert_serving("the files were deleted");
    assert!(
        fds_under(pid, &many) == 0,
        "descriptors of deleted files kept"
    );
}

/// CPU time (user + system) the process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")": state(3) … utime(14) stime(15): indexes 11 and 12 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Class 5: 1,100 idle (slowly trickling) connections to /metrics from an unprivileged user, with the daemon under
/// a descriptor limit of 1,024 that it cannot raise. The daemon does not spin, keeps answering
/// D-Bus and exporting logs, and /metrics answers again once the idle connections hit the header
/// deadline.
#[test]
fn idle_metrics_connections_cost_no_cpu_and_break_nothing() {
    require_root();
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    h.setup.nofile = Some((1024, 1024));
    let daemon = h.setup.start();
    let pid = daemon.child.id();
    h.assert_serving("start");
    let status = bus.status();
    let addr = status["metrics_listen"].as_str().unwrap().to_owned();
    let (host, port) = addr.rsplit_once(':').unwrap();
    // The attacker: 1,100 connections that send one byte of a request a second, for a minute
    // (a read timeout that restarts with every byte never ends them).
    let script = format!(
        "import socket, sys, time\n\
         held = []\n\
         for _ in range(1100):\n\
         \x20   try:\n\
         \x20       held.append(socket.create_connection(('{host}', {port}), timeout=2))\n\
         \x20   except OSError:\n\
         \x20       pass\n\
         print(len(held), flush=True)\n\
         for _ in range(60):\n\
         \x20   for s in held:\n\
         \x20       try:\n\
         \x20           s.send(b'G')\n\
         \x20       except OSError:\n\
         \x20           pass\n\
         \x20   time.sleep(1)\n"
    );
    let mut attacker = Command::new("prlimit")
        .args(["--nofile=4096:4096", "--", "setpriv"])
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            // The system's interpreter: a version manager's shim may not be readable by 65534.
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(attacker.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let held: usize = line.trim().parse().unwrap_or(0);
    assert!(held >= 1000, "the attacker only got {held} connections");

    // No busy loop: over 3 s the daemon uses well under one core.
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(3));
    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as f64;
    let used = (cpu_ticks(pid) - c0) as f64 / ticks_per_sec;
    let share = used / t0.elapsed().as_secs_f64();
    assert!(
        share < 0.5,
        "the daemon used {:.0}% of a core",
        share * 100.0
    );
    h.assert_serving("1,100 idle /metrics connections");
    let text = http_get_within(&addr, "/metrics", Duration::from_secs(30));
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("oneagent_build_info"),
        "/metrics did not answer while idle connections were held: {text:?}"
    );
    let _ = attacker.kill();
    let _ = attacker.wait();
    h.assert_serving("the attacker left");
    let text = http_get_within(&addr, "/metrics", DEADLINE);
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    let text = http_get_within(&addr, "/nothing", DEADLINE);
    assert!(text.starts_with("HTTP/1.1 404"), "{text:?}");
}

/// Class 8: credentials in `[exporter] otlp_endpoint` are used for the daemon's own export but
/// shown to nobody: not in `status` (open to every user), not in the world-readable preload
/// snapshot (every process reads it, so agents get the endpoint without them), not in the logs.
#[test]
fn endpoint_credentials_are_never_shown() {
    require_root();
    const SECRET: &str = "s3cret-pw";
    let bus = TestBus::start(Policy::Shipped);
    let mut h = Hostile::new(&bus, "");
    let config = std::fs::read_to_string(h.setup.config_path()).unwrap();
    let with_secret = config.replace(
        "otlp_endpoint = \"http://127.0.0.1:",
        &format!("otlp_endpoint = \"http://oneagent:{SECRET}@127.0.0.1:"),
    );
    assert_ne!(config, with_secret);
    std::fs::write(h.setup.config_path(), with_secret).unwrap();
    // The collector refuses at first, so that the exporter logs its errors (with the URL).
    h.receiver
        .fail_with
        .store(503, std::sync::atomic::Ordering::Relaxed);
    let daemon = h.setup.start();
    append(&h.canary, "before the collector is up\n");
    assert!(
        wait_until(DEADLINE, || *h.receiver.requests.lock().unwrap() > 0),
        "no export attempt"
    );
    h.receiver
        .fail_with
        .store(0, std::sync::atomic::Ordering::Relaxed);
    h.assert_serving("export with credentials");

    let out = as_nobody_within(&[*CTL, "--json", "status"], &bus, DEADLINE);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown = status["otlp_endpoint"].as_str().unwrap();
    assert!(
        shown.starts_with("http://***@127.0.0.1:") && !shown.contains(SECRET),
        "status shows {shown:?}"
    );
    let table = stdout(&as_nobody_within(&[*CTL, "status"], &bus, DEADLINE));
    assert!(!table.contains(SECRET), "{table}");
    let snapshot = std::fs::read(h.setup.state_dir().join("preload.snapshot")).unwrap();
    let text = String::from_utf8_lossy(&snapshot);
    assert!(
        text.contains("http://127.0.0.1:") && !text.contains(SECRET) && !text.contains("oneagent:"),
        "the snapshot carries the credentials"
    );
    let log = daemon.stderr_text();
    assert!(
        log.contains("http://***@127.0.0.1:"),
        "no export error was logged: {log}"
    );
    assert!(
        !log.contains(SECRET),
        "the log shows the credentials: {log}"
    );
}
