//! The safety matrix: programs behave identically with and without the library, for targets and
//! non-targets, with no snapshot and with a valid one.

use std::ffi::OsStr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::common::*;

/// With a valid snapshot and a listening report socket (the full path runs for candidates).
struct Setup {
    dir: TempDir,
    _agents: Agents,
    snap_path: std::path::PathBuf,
    sock: UnixDatagram,
}

fn setup(tag: &str) -> Setup {
    let dir = TempDir::new(tag);
    let agents = Agents::fake(dir.path());
    let sock_path = dir.join("report.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let snap_path = dir.join("preload.snapshot");
    Snap::new(&agents, &sock_path).write(&snap_path);
    Setup {
        dir,
        _agents: agents,
        snap_path,
        sock,
    }
}

/// `make` must be identical without the library, with it and no snapshot, and with it and a
/// valid snapshot.
fn same_everywhere(mut make: impl FnMut() -> Command, s: &Setup) {
    assert_same(
        &mut make,
        &[("ONEAGENT_PRELOAD_SNAPSHOT", OsStr::new("/nonexistent/snap"))],
    );
    assert_same(
        &mut make,
        &[("ONEAGENT_PRELOAD_SNAPSHOT", s.snap_path.as_os_str())],
    );
}

#[test]
fn coreutils_and_shells() {
    let s = setup("coreutils");
    for (prog, args) in [
        ("ls", &["/"][..]),
        ("echo", &["hello", "world"][..]),
        ("cat", &["/etc/hostname"][..]),
        ("true", &[][..]),
        ("false", &[][..]),
        ("sh", &["-c", "echo sh; echo err >&2; exit 3"][..]),
        ("bash", &["-c", "echo $((1+2)); exit 4"][..]),
        (
            "env",
            &[
                "-u",
                "LD_PRELOAD",
                "-u",
                "ONEAGENT_PRELOAD_SNAPSHOT",
                "sh",
                "-c",
                "env | sort",
            ][..],
        ),
        ("perl", &["-e", "print qq(perl ok\\n); exit 5"][..]),
    ] {
        same_everywhere(|| cmd(prog, args), &s);
    }
    let st = output(cmd("false", &[]).env("LD_PRELOAD", so()));
    assert_eq!(st.status.code(), Some(1));
}

#[test]
fn runtimes_that_are_not_targets() {
    let s = setup("runtimes");
    same_everywhere(|| cmd(python(), &["-c", "print(1)"]), &s);
    require("java", "default-jdk-headless");
    same_everywhere(|| cmd("java", &["-version"]), &s);
    require("node", "nodejs");
    same_everywhere(|| cmd("node", &["-v"]), &s);
    // Nothing to read on the socket except runtime reports; none of them is an injection.
    let mut buf = [0u8; oneagent_preload_core::report::MAX_REPORT];
    while let Ok(n) = s.sock.recv(&mut buf) {
        let r = oneagent_preload_core::report::decode(&buf[..n]).unwrap();
        assert_eq!(r.action, oneagent_preload_core::Action::Skip, "{r:?}");
    }
}

const PRINT_ENV_C: &str = r#"#include <stdio.h>
#include <stdlib.h>
int main(void) {
    const char *keys[] = {"PYTHONPATH", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", 0};
    for (int i = 0; keys[i]; i++) { const char *v = getenv(keys[i]); printf("%s=%s\n", keys[i], v ? v : "<unset>"); }
    return 7;
}
"#;

/// A static binary, and a C program named like a runtime, made setuid and run by an unprivileged
/// user: identical output, nothing injected.
#[test]
fn static_and_setuid_programs() {
    let s = setup("setuid");
    let st = cc(s.dir.path(), "static_env", PRINT_ENV_C, &["-static"]);
    same_everywhere(|| cmd(&st, &["app.py"]), &s);

    // A dynamic program named `python3` (so the library sees a Python interpreter running
    // `app.py`) — first as a positive control without setuid: it IS injected.
    let bin = s.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let py = cc(&bin, "python3", PRINT_ENV_C, &[]);
    let out = output(
        cmd(&py, &["app.py"])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &s.snap_path),
    );
    let env = env_lines(&out.stdout);
    assert_ne!(
        env["PYTHONPATH"], "<unset>",
        "control: not injected: {env:?}"
    );

    // Now setuid root, run as nobody (AT_SECURE): nothing injected, nothing printed by us.
    require("setpriv", "util-linux");
    chmod(s.dir.path(), 0o755);
    chmod(&bin, 0o755);
    chmod(&py, 0o4755);
    let run = |preload: bool| {
        let mut c = cmd(
            "setpriv",
            &["--reuid=65534", "--regid=65534", "--clear-groups"],
        );
        c.arg(&py).arg("app.py");
        if preload {
            c.env("LD_PRELOAD", so())
                .env("ONEAGENT_PRELOAD_SNAPSHOT", &s.snap_path);
        }
        output(&mut c)
    };
    let (plain, pre) = (run(false), run(true));
    assert_eq!(plain.status.code(), Some(7));
    assert_eq!(
        (plain.status.code(), &plain.stdout, &plain.stderr),
        (pre.status.code(), &pre.stdout, &pre.stderr)
    );
    let env = env_lines(&pre.stdout);
    assert_eq!(
        env["PYTHONPATH"], "<unset>",
        "setuid process was injected: {env:?}"
    );
}

/// A Go PIE (libc-free) runs normally, also when named like a runtime (the full path runs and
/// finds no libc: outcome `no-setenv`).
#[test]
fn go_pie() {
    require("go", "golang-go");
    let s = setup("go");
    let src = s.dir.join("main.go");
    std::fs::write(
        &src,
        "package main\nimport (\"fmt\"; \"os\")\nfunc main() { fmt.Println(\"go\", os.Getenv(\"PYTHONPATH\") == \"\"); os.Exit(6) }\n",
    )
    .unwrap();
    let bin = s.dir.join("python3");
    let st = Command::new("go")
        .args(["build", "-buildmode=pie", "-o"])
        .arg(&bin)
        .arg(&src)
        .env("GOCACHE", s.dir.join("gocache"))
        .env("GOPATH", s.dir.join("gopath"))
        .env("CGO_ENABLED", "0")
        .env("HOME", s.dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let interp = Command::new("readelf")
        .arg("-l")
        .arg(&bin)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&interp.stdout).contains("interpreter"),
        "the Go PIE has no PT_INTERP: the preload would not even load"
    );
    same_everywhere(|| cmd(&bin, &["app.py"]), &s);
    let mut buf = [0u8; oneagent_preload_core::report::MAX_REPORT];
    let mut outcomes = Vec::new();
    while let Ok(n) = s.sock.recv(&mut buf) {
        outcomes.push(
            oneagent_preload_core::report::decode(&buf[..n])
                .unwrap()
                .outcome,
        );
    }
    assert!(
        outcomes.contains(&oneagent_preload_core::report::Outcome::NoSetenv),
        "{outcomes:?}"
    );
}

const SPAWN_C: &str = r#"#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
    /* argv[1] = "spawn" or "execvp"; argv[2..] = the child command */
    if (argc < 3) return 2;
    if (strcmp(argv[1], "execvp") == 0) { fflush(stdout); execvp(argv[2], argv + 2); return 127; }
    pid_t pid;
    if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) return 126;
    int st; waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
}
"#;

/// Children started through `posix_spawn`, `execvp` and Python's `subprocess` are handled by their
/// own constructor: non-targets unchanged, Python targets injected.
#[test]
fn spawn_paths() {
    let s = setup("spawn");
    let spawner = cc(s.dir.path(), "spawner", SPAWN_C, &[]);
    let script = s.dir.join("app.py");
    std::fs::write(&script, PY_PRINT_ENV).unwrap();
    let py = python();
    let py_s = py.to_str().unwrap();
    let script_s = script.to_str().unwrap();
    for how in ["spawn", "execvp"] {
        same_everywhere(|| cmd(&spawner, &[how, "echo", "spawned"]), &s);
        same_everywhere(|| cmd(&spawner, &[how, "sh", "-c", "exit 9"]), &s);
        let out = output(
            cmd(&spawner, &[how, py_s, script_s])
                .env("LD_PRELOAD", so())
                .env("ONEAGENT_PRELOAD_SNAPSHOT", &s.snap_path),
        );
        let env = env_lines(&out.stdout);
        assert!(
            env["PYTHONPATH"].contains("auto_instrumentation"),
            "{how}: {env:?}"
        );
        assert_eq!(env["OTEL_SERVICE_NAME"], s.dir.name(), "{how}");
    }
    // Python subprocess: the parent runs `-c` (not a target), its child runs a script (a target).
    let code = format!(
        "import subprocess, sys; sys.stdout.write(subprocess.run([{py_s:?}, {script_s:?}], capture_output=True, text=True).stdout)"
    );
    same_everywhere(
        || cmd(&py, &["-c", "import subprocess; subprocess.run(['true'])"]),
        &s,
    );
    let out = output(
        cmd(&py, &["-c", &code])
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &s.snap_path),
    );
    let env = env_lines(&out.stdout);
    assert!(
        env["PYTHONPATH"].contains("auto_instrumentation"),
        "subprocess: {env:?}"
    );
    let _ = Path::new("/");
}

/// What a non-runtime pays in system calls: under glibc one `readlinkat` of the path it was
/// started by (`AT_EXECFN`), which fails with `EINVAL` because that path is not a symbolic link —
/// no `open`, no `/proc` access, no snapshot, no socket. `strace` sees every system call.
#[test]
fn non_runtime_pays_one_system_call() {
    assert!(
        have("strace"),
        "strace is needed (scripts/test installs it)"
    );
    let s = setup("syscalls");
    let truth = std::fs::canonicalize("/bin/true").unwrap();
    let trace = |preload: bool| {
        let log = s.dir.join(format!("strace-{preload}"));
        let mut c = cmd("strace", &["-qq", "-o", log.to_str().unwrap()]);
        c.arg(&truth);
        if preload {
            c.env("LD_PRELOAD", so())
                .env("ONEAGENT_PRELOAD_SNAPSHOT", &s.snap_path);
        }
        let out = output(&mut c);
        assert!(out.status.success(), "{out:?}");
        std::fs::read_to_string(&log).unwrap()
    };
    let (plain, pre) = (trace(false), trace(true));
    // Everything after the loader mapped the library and libc: ours, then the program's own.
    let ours: Vec<&str> = pre
        .lines()
        .skip_while(|l| !l.contains("liboneagent_preload.so"))
        .filter(|l| l.contains(truth.to_str().unwrap()))
        .collect();
    assert_eq!(ours.len(), 1, "the executable's path used once:\n{pre}");
    assert!(
        ours[0].starts_with("readlinkat(") && ours[0].contains("EINVAL"),
        "{}",
        ours[0]
    );
    assert!(
        !pre.contains("/proc/self"),
        "/proc read by a non-runtime:\n{pre}"
    );
    assert!(
        !pre.contains("snapshot"),
        "snapshot read by a non-runtime:\n{pre}"
    );
    assert!(
        !pre.contains("socket("),
        "socket opened by a non-runtime:\n{pre}"
    );
    let count = |t: &str| t.lines().filter(|l| l.contains('(')).count();
    let extra = count(&pre) - count(&plain);
    // The loader's share for one preloaded library is about 9 calls here (openat, read, fstat,
    // 4 mmaps, mprotect, close); ours adds 1.
    assert!(
        extra <= 12,
        "{extra} more system calls with the library:\n{pre}"
    );
}

/// A `#!` script's path is among its interpreter's first arguments: the library does not take
/// the script's name for the interpreter's, and checks the image itself (`/proc/self/exe`).
#[test]
fn script_path_is_not_taken_for_the_image() {
    assert!(
        have("strace"),
        "strace is needed (scripts/test installs it)"
    );
    let s = setup("script-syscalls");
    let script = s.dir.join("tool");
    std::fs::write(&script, "#!/bin/sh\necho tool\n").unwrap();
    chmod(&script, 0o755);
    let log = s.dir.join("strace");
    let out = output(
        cmd("strace", &["-qq", "-o", log.to_str().unwrap()])
            .arg(&script)
            .env("LD_PRELOAD", so())
            .env("ONEAGENT_PRELOAD_SNAPSHOT", &s.snap_path),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool\n");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("readlinkat(AT_FDCWD, \"/proc/self/exe\""),
        "the image was not checked:\n{text}"
    );
}
