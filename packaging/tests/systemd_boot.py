#!/usr/bin/env python3
"""The .deb under a real systemd: a fresh Debian system booted in a container (issue 18).

    python3 packaging/tests/systemd_boot.py [--deb PATH] [--only SUBSTRING] [--keep]

A Debian bookworm system is made once with

    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,python3-pip,procps

and cached under target/systemd-test/ (rebuilt when the list changes or a previous bootstrap
was interrupted). Each run copies it, boots the copy with

    systemd-nspawn -D ROOT --boot --register=no --keep-unit
                   --system-call-filter='fanotify_init fanotify_mark'

(systemd as PID 1, the real system bus, journald; nspawn's own seccomp filter blocks fanotify
unless it is named) and drives it with `nsenter` into that PID 1. Inside, everything is what a
user types on a fresh host (README, "Installing from packages"): `apt install ./oneagent_….deb`,
`systemctl enable --now oneagent`, `oneagentctl status`, `oneagentctl agents install python`,
`systemctl reload`, `apt purge`, plus what systemd must do to the service: restart it after
`kill -9`, not restart-loop a broken configuration, fire the watchdog on a frozen daemon, stop it
within TimeoutStopSec, and route its structured log fields to journald.

The machine itself is never changed: the container has its own root directory, /etc and
/etc/ld.so.preload; only the network namespace is the machine's (pip reaches PyPI through it).

Needs root. When the machine cannot boot a container at all (no systemd-nspawn, no cgroups, an
unprivileged container), every test is reported as SKIPPED with a loud banner; any failure after
the container has booted is a failure. The last line is exactly `N passed, M failed[, K skipped]`.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import REPO, Failure, Runner, check, workspace_version  # noqa: E402

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
INCLUDE = "systemd,systemd-sysv,dbus,python3,python3-pip,procps"
IMAGE = os.path.join(REPO, "target/systemd-test", SUITE)
STAMP = os.path.join(IMAGE, ".oneagent-image")
STAMP_TEXT = f"debootstrap --variant=minbase --include={INCLUDE} {SUITE} {MIRROR}\n"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LIB = "/usr/lib/oneagent/liboneagent_preload.so"
CONFIG = "/etc/oneagent/oneagent.toml"
UNIT = "oneagent.service"
# The worst exposure `systemd-analyze security` may give the shipped unit (README records it).
MAX_EXPOSURE = 3.5
# Appended to the configuration to break it: an unknown table, which must be named in the error.
BROKEN = "\n[no_such_section]\nkey = 1\n"


class CannotBoot(Exception):
    """The machine cannot boot a container: the suite is skipped, loudly."""


def host(argv, timeout=600, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def ensure_image():
    """The cached base system, made with debootstrap when missing or stale."""
    try:
        with open(STAMP) as f:
            if f.read() == STAMP_TEXT:
                return
    except OSError:
        pass
    if os.path.isdir(IMAGE):
        shutil.rmtree(IMAGE)
    os.makedirs(os.path.dirname(IMAGE), exist_ok=True)
    print(f"    debootstrap {SUITE} into {os.path.relpath(IMAGE, REPO)} (cached for later runs)", flush=True)
    t0 = time.monotonic()
    p = host(["debootstrap", "--variant=minbase", f"--include={INCLUDE}", SUITE, IMAGE, MIRROR], timeout=1200)
    if p.returncode != 0:
        shutil.rmtree(IMAGE, ignore_errors=True)
        raise Failure(f"debootstrap failed (exit {p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
    # A container of our own needs no getty on its console and no apt timers waking up.
    for unit in ("console-getty.service", "apt-daily.timer", "apt-daily-upgrade.timer",
                 "dpkg-db-backup.timer", "e2scrub_all.timer"):
        os.makedirs(os.path.join(IMAGE, "etc/systemd/system"), exist_ok=True)
        link = os.path.join(IMAGE, "etc/systemd/system", unit)
        if not os.path.lexists(link):
            os.symlink("/dev/null", link)
    with open(STAMP, "w") as f:
        f.write(STAMP_TEXT)
    print(f"    base system ready in {time.monotonic() - t0:.0f}s", flush=True)


class Container:
    def __init__(self, tmp):
        self.tmp = tmp
        self.root = os.path.join(tmp, "root")
        self.nspawn = None
        self.pid1 = None
        self.console = os.path.join(tmp, "console.log")

    # -- life cycle -------------------------------------------------------------------------

    def boot(self):
        if not shutil.which("systemd-nspawn"):
            raise CannotBoot("systemd-nspawn is not installed (Debian package systemd-container)")
        t0 = time.monotonic()
        p = host(["cp", "-a", "--reflink=auto", IMAGE, self.root])
        check(p.returncode == 0, f"copying the base system: {p.stderr}")
        self.carry_site_trust()
        name = f"oneagent-test-{os.getpid()}"
        with open(self.console, "w") as out:
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "-D", self.root, "--boot", "--register=no", "--keep-unit",
                 f"--machine={name}", "--system-call-filter=fanotify_init fanotify_mark"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while self.pid1 is None:
            if self.nspawn.poll() is not None:
                raise CannotBoot(f"systemd-nspawn exited {self.nspawn.returncode}:\n{self.console_tail()}")
            if time.monotonic() > deadline:
                raise CannotBoot(f"no init process in the container after 60s:\n{self.console_tail()}")
            self.pid1 = self.find_pid1()
            time.sleep(0.2)
        state = ""
        while time.monotonic() < deadline + 60:
            state = self.sh("systemctl", "is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            raise CannotBoot(f"the container's systemd did not finish booting (state {state!r}):\n{self.console_tail()}")
        if state == "degraded":
            failed = self.sh("systemctl", "--failed", "--no-legend", "--plain").stdout
            raise CannotBoot(f"the fresh system booted degraded; failed units:\n{failed}")
        print(f"    booted {SUITE} with systemd {self.systemd_version()} as PID 1 in "
              f"{time.monotonic() - t0:.1f}s (host pid {self.pid1})", flush=True)

    def carry_site_trust(self):
        """This machine's own CA bundle and pip configuration, if it has them: where HTTPS goes
        through an intercepting proxy, pip in the container needs the same trust as pip here, as
        it would on any host of that network."""
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        if os.path.isfile(bundle):
            os.makedirs(self.path(os.path.dirname(bundle)), exist_ok=True)
            shutil.copy(bundle, self.path(bundle))
        if os.path.isfile("/etc/pip.conf"):
            shutil.copy("/etc/pip.conf", self.path("/etc/pip.conf"))

    def find_pid1(self):
        """The container's init: the child of systemd-nspawn (or of its inner child) running systemd."""
        todo, seen = [self.nspawn.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
                ns = os.readlink(f"/proc/{pid}/ns/pid")
            except OSError:
                continue
            if comm == "systemd" and ns != os.readlink("/proc/self/ns/pid"):
                return pid
            for task in glob.glob(f"/proc/{pid}/task/*/children"):
                try:
                    with open(task) as f:
                        todo.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        return None

    def systemd_version(self):
        return self.sh("systemctl", "--version").stdout.split("\n")[0].split()[1]

    def console_tail(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def poweroff(self):
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        # systemd-nspawn turns SIGTERM into an orderly shutdown of the booted system.
        self.nspawn.send_signal(signal.SIGTERM)
        try:
            self.nspawn.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.nspawn.pid, signal.SIGKILL)
            self.nspawn.wait()

    # -- inside -----------------------------------------------------------------------------

    def sh(self, *argv, user=None, timeout=120, env=None, input=None):
        """Runs argv in every namespace of the container, with a login-like environment."""
        e = ["env", "-i", f"PATH={PATH_ENV}", "LANG=C.UTF-8", "HOME=/root", "TERM=dumb", "SYSTEMD_PAGER=",
             "SYSTEMD_COLORS=0"]
        if env:
            e += [f"{k}={v}" for k, v in env.items()]
        prefix = ["nsenter", "-t", str(self.pid1), "-a", "-r", "-w"]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        return host(prefix + e + list(argv), timeout=timeout, input=input)

    def ok(self, *argv, **kw):
        p = self.sh(*argv, **kw)
        if p.returncode != 0:
            why = f"{' '.join(argv)}: exit {p.returncode}\n{p.stdout[-3000:]}{p.stderr[-3000:]}"
            if argv[0] == "systemctl":
                # What systemd and the daemon said, for the failure message.
                why += self.sh("journalctl", "-u", UNIT, "-n", "25", "--no-pager").stdout
            raise Failure(why)
        return p.stdout

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path):
        """A file as the container sees it (through its mounts: /run is its own tmpfs)."""
        return self.ok("cat", "--", path)

    def write(self, path, text, mode=0o644):
        p = self.sh("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', "-", path,
                    f"{mode:o}", input=text)
        check(p.returncode == 0, f"writing {path} in the container: {p.stderr}")

    def exists(self, path):
        return self.sh("test", "-e", path).returncode == 0

    def show(self, unit, *props):
        out = self.ok("systemctl", "show", unit, "-p", ",".join(props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit, since_cursor=None):
        argv = ["journalctl", "-u", unit, "-o", "json", "--no-pager"]
        if since_cursor:
            argv += ["--after-cursor", since_cursor]
        out = self.ok(*argv)
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def cursor(self):
        out = self.ok("journalctl", "-n", "0", "--show-cursor", "--no-pager")
        return out.strip().rsplit("cursor: ", 1)[-1]


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.25)
    raise Failure(f"{what} (waited {timeout}s; last: {last!r})")


class Suite:
    def __init__(self, ct, deb):
        self.ct = ct
        self.deb = deb
        self.preload_before = None

    def daemon(self):
        return self.ct.show(UNIT, "ActiveState", "SubState", "MainPID", "NRestarts", "Result",
                            "ExecMainStatus", "ExecMainCode")

    def status_json(self, user=None):
        return json.loads(self.ct.ok("oneagentctl", "--json", "status", user=user))

    # -- the tests --------------------------------------------------------------------------

    def fresh_host(self):
        self.preload_before = self.ct.exists("/etc/ld.so.preload")
        check(not self.preload_before, "a fresh bookworm has no /etc/ld.so.preload")
        check(self.ct.sh("systemctl", "cat", UNIT).returncode != 0, "oneagent is already known to systemd")
        check(self.ct.ok("readlink", "/proc/1/exe").strip().endswith("/systemd"), "PID 1 is not systemd")

    def apt_install(self):
        shutil.copy(self.deb, self.ct.path("/root"))
        deb = "/root/" + os.path.basename(self.deb)
        out = self.ct.ok("apt-get", "install", "-y", "--no-install-recommends", deb, timeout=300,
                         env={"DEBIAN_FRONTEND": "noninteractive"})
        check("Setting up oneagent" in out, out[-2000:])
        check(self.ct.sh("systemctl", "is-enabled", UNIT).stdout.strip() == "enabled", "not enabled by the install")
        check(self.daemon()["ActiveState"] == "inactive", "a fresh install must not start the daemon")

    def enable_now(self):
        self.ct.ok("systemctl", "enable", "--now", "oneagent", timeout=90)
        d = self.daemon()
        check(d["ActiveState"] == "active" and d["SubState"] == "running", f"after enable --now: {d}")
        p = self.ct.show(UNIT, "Type", "NotifyAccess", "StatusText", "WatchdogUSec")
        check(p["Type"] == "notify" and p["WatchdogUSec"] == "30s", f"unit: {p}")
        # Type=notify: `systemctl start` returned only after READY=1; STATUS= says what runs.
        check(p["StatusText"], f"no STATUS= from the daemon: {p}")

    def status_over_system_bus(self):
        out = self.ct.ok("oneagentctl", "status")
        check("/etc/oneagent/oneagent.toml" in out, out)
        s = self.status_json()
        check(s["pid"] == int(self.daemon()["MainPID"]), f"status pid {s['pid']} is not the unit's main pid")
        # The shipped policy lets every user read the status, and only root change things.
        s = self.status_json(user=65534)
        check(s["version"], s)
        p = self.ct.sh("oneagentctl", "reload", user=65534)
        check(p.returncode != 0 and "root" in (p.stdout + p.stderr).lower(), f"reload as nobody: {p.stdout}{p.stderr}")

    def preload_installed(self):
        text = wait_until(lambda: LIB in self.ct.read("/etc/ld.so.preload")
                          if self.ct.exists("/etc/ld.so.preload") else "",
                          30, "the library never reached the container's /etc/ld.so.preload")
        check(self.ct.read("/etc/ld.so.preload") == f"{LIB}\n", f"/etc/ld.so.preload: {text!r}")
        s = self.status_json()
        check(s["preload_installed"] and not s["preload_problem"], f"status: {s}")
        self.ct.ok("oneagentctl", "preload", "verify")
        # Every new process of the booted system now maps the library.
        maps = self.ct.ok("sh", "-c", "cat /proc/self/maps")
        check(LIB in maps, "a new process does not map the preload library")

    def writer_attribution(self):
        self.ct.write("/srv/shop-writer/writer.py", """\
import time
with open("/var/log/shop/app.log", "a", buffering=1) as log:
    while True:
        log.write("order accepted\\n")
        time.sleep(0.5)
""")
        self.ct.write("/etc/systemd/system/shop-writer.service", """\
[Unit]
Description=writes two log lines a second into /var/log/shop/app.log
[Service]
ExecStart=/usr/bin/python3 -u /srv/shop-writer/writer.py
""")
        self.ct.ok("mkdir", "-p", "/var/log/shop")
        self.ct.ok("systemctl", "daemon-reload")
        self.ct.ok("systemctl", "start", "shop-writer")
        writer = int(self.ct.show("shop-writer.service", "MainPID")["MainPID"])

        def attributed():
            files = json.loads(self.ct.ok("oneagentctl", "--json", "logs"))
            for f in files:
                if f["path"] == "/var/log/shop/app.log" and f["service"] == "shop-writer":
                    return f
            return None
        f = wait_until(attributed, 30, "/var/log/shop/app.log was not attributed to shop-writer")
        check(any(w[0] == writer for w in f["writers"]), f"writers {f['writers']} do not include pid {writer}")
        self.ct.ok("systemctl", "stop", "shop-writer")

    def journald_fields(self):
        entries = self.ct.journal(UNIT)
        mine = [e for e in entries if e.get("_PID") and e.get("SYSLOG_IDENTIFIER") == "oneagentd"]
        check(mine, f"no journal entries of oneagentd: {[e.get('MESSAGE') for e in entries][-10:]}")
        installed = [e for e in mine if e.get("MESSAGE") == "Preload library installed"]
        check(installed, f"no 'Preload library installed' entry: {[e.get('MESSAGE') for e in mine][-15:]}")
        e = installed[-1]
        # tracing's key/value fields arrive as journal fields of their own, not only in the text.
        # (tracing-journald prefixes them with F_; INFO is priority 5, notice).
        check(e.get("F_LIBRARY") == LIB and e.get("F_CHANGED") == "true", f"fields: {e}")
        check(e.get("PRIORITY") == "5" and e.get("CODE_FILE", "").endswith(".rs"), f"fields: {e}")

    def reload_applies(self):
        before = self.status_json()
        check(before["log_level"] == "info", f"shipped log level: {before['log_level']}")
        pid = self.daemon()["MainPID"]
        text = self.ct.read(CONFIG)
        check('log_level = "info"' in text, "shipped config has no log_level line")
        self.ct.write(CONFIG, text.replace('log_level = "info"', 'log_level = "debug"'))
        self.ct.ok("systemctl", "reload", "oneagent")
        after = wait_until(lambda: (s := self.status_json())["config_generation"] > before["config_generation"] and s,
                           20, "the reload did not reach the daemon")
        check(after["log_level"] == "debug", f"log level after reload: {after['log_level']}")
        d = self.daemon()
        check(d["ActiveState"] == "active" and d["MainPID"] == pid, f"reload restarted the daemon: {d}")
        # A broken file is refused by a reload: the daemon keeps running on what it had.
        self.ct.write(CONFIG, text + BROKEN)
        self.ct.ok("systemctl", "reload", "oneagent")
        s = wait_until(lambda: (s := self.status_json())["last_reload_error"] and s, 20,
                       "a broken config on reload was not reported")
        check("no_such_section" in s["last_reload_error"], s["last_reload_error"])
        check(self.daemon()["ActiveState"] == "active", "a refused reload stopped the daemon")
        self.ct.write(CONFIG, text)
        self.ct.ok("systemctl", "reload", "oneagent")

    def reinstall_restarts(self):
        d = self.daemon()
        deb = "/root/" + os.path.basename(self.deb)
        self.ct.ok("apt-get", "install", "-y", "--reinstall", deb, timeout=300,
                   env={"DEBIAN_FRONTEND": "noninteractive"})
        new = self.daemon()
        check(new["ActiveState"] == "active" and new["MainPID"] not in ("0", d["MainPID"]),
              f"the package's postinst did not restart the running daemon (try-restart): {d} -> {new}")
        check(self.status_json()["pid"] == int(new["MainPID"]), "the restarted daemon does not answer")

    def kill9_restarts(self):
        d = self.daemon()
        self.ct.ok("kill", "-9", d["MainPID"])
        new = wait_until(lambda: (n := self.daemon())["ActiveState"] == "active" and n["MainPID"] not in ("0", d["MainPID"])
                         and n, 30, "systemd did not restart the killed daemon")
        check(int(new["NRestarts"]) == int(d["NRestarts"]) + 1, f"NRestarts {d['NRestarts']} -> {new['NRestarts']}")
        check(self.status_json()["pid"] == int(new["MainPID"]), "the restarted daemon does not answer")

    def broken_config_not_looped(self):
        text = self.ct.read(CONFIG)
        self.ct.write(CONFIG, text + BROKEN)
        try:
            cursor = self.ct.cursor()
            p = self.ct.sh("systemctl", "restart", "oneagent", timeout=90)
            check(p.returncode != 0, "systemctl restart succeeded with a broken configuration")
            # RestartSec=2s: wait long enough for two restarts that must not happen. (A manual
            # restart sets NRestarts to 0; only systemd's own restarts count it up.)
            time.sleep(6)
            d = self.daemon()
            check(d["ActiveState"] == "failed" and d["ExecMainStatus"] == "2", f"after a broken config: {d}")
            check(d["NRestarts"] == "0", f"systemd restarted it {d['NRestarts']} times")
            msgs = [e["MESSAGE"] for e in self.ct.journal(UNIT, cursor) if isinstance(e.get("MESSAGE"), str)]
            exits = [m for m in msgs if "Main process exited" in m]
            check(len(exits) == 1 and "status=2" in exits[0], f"one exit with status 2 expected: {exits}")
            check(any("no_such_section" in m for m in msgs), f"the journal does not name the bad key:\n{msgs}")
        finally:
            self.ct.write(CONFIG, text)
        self.ct.ok("systemctl", "start", "oneagent", timeout=90)
        check(self.daemon()["ActiveState"] == "active", "did not start again with the fixed configuration")

    def watchdog_fires(self):
        dropin = "/run/systemd/system/oneagent.service.d/50-watchdog-test.conf"
        # The shipped 30 s, shortened for the test; the daemon pings at half the interval.
        self.ct.write(dropin, "[Service]\nWatchdogSec=4s\n")
        try:
            self.ct.ok("systemctl", "daemon-reload")
            self.ct.ok("systemctl", "restart", "oneagent", timeout=90)
            check(self.ct.show(UNIT, "WatchdogUSec")["WatchdogUSec"] == "4s", "the test's drop-in is not in effect")
            d = self.daemon()
            time.sleep(10)  # two and a half intervals: a daemon that pings is left alone
            alive = self.daemon()
            check(alive["MainPID"] == d["MainPID"] and alive["NRestarts"] == d["NRestarts"],
                  f"a healthy daemon was restarted: {d} -> {alive}")
            cursor = self.ct.cursor()
            self.ct.ok("kill", "-STOP", d["MainPID"])
            new = wait_until(lambda: (n := self.daemon())["ActiveState"] == "active"
                             and n["MainPID"] not in ("0", d["MainPID"]) and n,
                             60, "systemd did not restart the frozen daemon")
            check(int(new["NRestarts"]) == int(d["NRestarts"]) + 1, f"{d} -> {new}")
            msgs = [e.get("MESSAGE", "") for e in self.ct.journal(UNIT, cursor)]
            check(any(isinstance(m, str) and "Watchdog timeout (limit 4s)" in m for m in msgs), f"journal: {msgs[-10:]}")
        finally:
            self.ct.ok("rm", "-f", dropin)
            self.ct.ok("systemctl", "daemon-reload")
            self.ct.ok("systemctl", "restart", "oneagent", timeout=90)

    def agent_for_a_unit(self):
        probe = host(["python3", "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pip/', timeout=5)"],
                     timeout=30)
        check(probe.returncode == 0, "PyPI is not reachable from this machine, and this test installs the agent from it: "
              f"{probe.stdout}{probe.stderr}")
        t0 = time.monotonic()
        out = self.ct.ok("oneagentctl", "agents", "install", "python", timeout=600)
        check("oneagentd re-checked its agents" in out, out[-2000:])
        print(f"    `oneagentctl agents install python` in the container: {time.monotonic() - t0:.0f}s", flush=True)
        self.ct.write("/srv/shop-api/app.py", """\
import os, sys
with open("/run/shop-api.out", "w") as out:
    print(os.environ.get("OTEL_SERVICE_NAME"), file=out)
    print(any(m.startswith("opentelemetry") for m in sys.modules), file=out)
""")
        self.ct.write("/etc/systemd/system/shop-api.service",
                      "[Service]\nType=oneshot\nExecStart=/usr/bin/python3 /srv/shop-api/app.py\n")
        self.ct.ok("systemctl", "daemon-reload")
        self.ct.ok("systemctl", "start", "shop-api", timeout=120)
        name, loaded = self.ct.read("/run/shop-api.out").split()
        check(name == "shop-api", f"OTEL_SERVICE_NAME of a plain python3 in shop-api.service: {name}")
        check(loaded == "True", "the Python agent's modules were not loaded")

    def security_exposure(self):
        out = self.ct.ok("systemd-analyze", "security", "--no-pager", UNIT)
        last = out.strip().splitlines()[-1]
        print(f"    systemd-analyze security: {last.strip()}", flush=True)
        exposure = float(last.split("exposure level for oneagent.service: ")[1].split()[0])
        check(exposure <= MAX_EXPOSURE, f"exposure {exposure} above {MAX_EXPOSURE}:\n{out}")

    def stop_in_time(self):
        t0 = time.monotonic()
        self.ct.ok("systemctl", "stop", "oneagent", timeout=90)
        took = time.monotonic() - t0
        d = self.daemon()
        # A stop that ran into TimeoutStopSec ends with Result=timeout and a SIGKILL.
        check(d["ActiveState"] == "inactive" and d["Result"] == "success", f"after stop ({took:.1f}s): {d}")
        check(d["ExecMainCode"] == "1" and d["ExecMainStatus"] == "0", f"the daemon did not exit 0: {d}")
        print(f"    systemctl stop: {took:.1f}s, exit 0", flush=True)
        # Running again: the purge below has to stop it.
        self.ct.ok("systemctl", "start", "oneagent", timeout=90)

    def purge(self):
        self.ct.ok("apt-get", "purge", "-y", "oneagent", timeout=300, env={"DEBIAN_FRONTEND": "noninteractive"})
        check(self.ct.exists("/etc/ld.so.preload") == self.preload_before,
              "/etc/ld.so.preload is not as the install found it (absent)")
        for gone in ("/etc/oneagent", "/var/lib/oneagent", "/usr/lib/oneagent/agents/python", "/usr/sbin/oneagentd"):
            check(not self.ct.exists(gone), f"{gone} survived apt purge")
        check(self.ct.sh("systemctl", "cat", UNIT).returncode != 0, "the unit survived apt purge")
        check(self.ct.sh("pgrep", "-x", "oneagentd").returncode == 1, "oneagentd still runs after apt purge")
        # A process started now maps no library of ours.
        check(LIB not in self.ct.ok("sh", "-c", "cat /proc/self/maps"), "the library is still preloaded")


def find_deb():
    version = workspace_version()
    arch = host(["dpkg", "--print-architecture"]).stdout.strip()
    deb = os.path.join(REPO, f"target/packages/oneagent_{version}-1_{arch}.deb")
    if not os.path.exists(deb):
        print("==> packaging/build (no .deb in target/packages yet)", flush=True)
        p = subprocess.run(["bash", os.path.join(REPO, "packaging/build")], stdout=subprocess.PIPE, text=True)
        check(p.returncode == 0, f"packaging/build: exit {p.returncode}")
    return deb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", help="the package to test (default: target/packages, built when missing)")
    ap.add_argument("--only")
    ap.add_argument("--keep", action="store_true", help="keep the container's root directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("packaging/tests/systemd_boot.py needs root (debootstrap, systemd-nspawn)")
    started = time.monotonic()
    host_preload = os.path.lexists("/etc/ld.so.preload") and open("/etc/ld.so.preload", "rb").read()
    r = Runner(args.only)
    deb = args.deb or find_deb()
    ensure_image()
    tmp = tempfile.mkdtemp(prefix="oneagent-systemd-", dir=os.path.join(REPO, "target/systemd-test"))
    ct = Container(tmp)
    suite = Suite(ct, deb)
    tests = [
        ("fresh bookworm under systemd: PID 1 is systemd, no /etc/ld.so.preload, no oneagent", suite.fresh_host),
        ("apt install ./oneagent.deb: unit enabled, not started", suite.apt_install),
        ("systemctl enable --now oneagent: active after READY=1, STATUS= set", suite.enable_now),
        ("oneagentctl status over the real system bus with the shipped policy (root and nobody)",
         suite.status_over_system_bus),
        ("the library in the container's /etc/ld.so.preload, mapped by new processes", suite.preload_installed),
        ("writer attribution: a unit's log file attributed to the unit (fanotify inside the sandbox)",
         suite.writer_attribution),
        ("journald receives the daemon's structured fields", suite.journald_fields),
        ("systemctl reload applies a changed config and refuses a broken one without stopping", suite.reload_applies),
        ("apt install --reinstall with the daemon running: restarted once (try-restart)", suite.reinstall_restarts),
        ("kill -9 of the daemon: systemd restarts it", suite.kill9_restarts),
        ("a broken config is not restart-looped (RestartPreventExitStatus=2)", suite.broken_config_not_looped),
        ("the watchdog restarts a frozen (SIGSTOP) daemon, and leaves a healthy one alone", suite.watchdog_fires),
        ("NETWORK: agents install python; a plain python3 in its own unit gets the agent as that unit",
         suite.agent_for_a_unit),
        (f"systemd-analyze security: exposure at most {MAX_EXPOSURE}", suite.security_exposure),
        ("systemctl stop within TimeoutStopSec, exit 0", suite.stop_in_time),
        ("apt purge with the daemon running: stopped, /etc/ld.so.preload as found, config, state, agents gone", suite.purge),
    ]
    try:
        try:
            ct.boot()
        except CannotBoot as e:
            bar = "!" * 100
            print(f"{bar}\nSKIPPED: this machine cannot boot a container, so the service was NOT tested under a "
                  f"real systemd:\n{e}\n{bar}", flush=True)
            r.skipped += len(tests)
            tests = []
        for name, fn in tests:
            r.test(name, fn)
    finally:
        ct.poweroff()
        if args.keep:
            print(f"kept {ct.root}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    now = os.path.lexists("/etc/ld.so.preload") and open("/etc/ld.so.preload", "rb").read()
    r.test("the machine's own /etc/ld.so.preload is untouched", lambda: check(now == host_preload, "it changed"))
    print(f"systemd tests took {time.monotonic() - started:.0f}s", flush=True)
    tail = f", {r.skipped} skipped" if r.skipped else ""
    print(f"{r.passed} passed, {r.failed} failed{tail}")
    sys.exit(1 if r.failed else 0)


if __name__ == "__main__":
    main()
