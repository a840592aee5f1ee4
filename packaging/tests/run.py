#!/usr/bin/env python3
"""Tests of the oneagent .deb and .rpm (packaging/build).

    python3 packaging/tests/run.py [--no-build] [--only SUBSTRING] [--keep]

Builds the packages with packaging/build (once, plus a second package of a higher version made
from the same binaries for the upgrade tests): oneagent (the host's) and oneagent-k8s (the
Kubernetes add-on, a package of its own that nothing of the host package brings), then:

- outside any namespace: lintian, the .deb's metadata and contents, the .rpm's metadata
  (`rpm -qpi`, `-qplv`, `--requires`, `--scripts`, `-qpc`), `rpm -i --root TMP --nodeps
  --noscripts`, and the maintainer scripts' /etc/ld.so.preload editor against the cases the
  daemon's own editor (daemon/src/injection/preload_file.rs) is tested with;
- inside `unshare --mount --propagation private` with overlays on /etc, /usr and /var and a
  tmpfs on /run (nothing reaches the machine): `dpkg -i`, the installed daemon checking its
  installed configuration and answering `oneagentctl status` on a private bus, a real
  `oneagentctl agents install python` (network: PyPI must be reachable), upgrade
  keeping an edited configuration and the state, `dpkg -r` with /etc/ld.so.preload pre-seeded
  (other entries kept, ours gone, daemon not running), `dpkg -P`, oneagent-k8s installed alone
  (no host package, no bus) and removed; then the same life cycle with
  `rpm -i`/`-U`/`-e` and its scriptlets.

Needs root. The last line is exactly `N passed, M failed`; the exit status is non-zero on failure.
"""

import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests/support"))
import oneagent_testenv as testenv  # noqa: E402
LIB = "/usr/lib/oneagent/liboneagent_preload.so"
PRELOAD = "/etc/ld.so.preload"
OVERLAYS = ("/etc", "/usr", "/var")
WANTS = "/etc/systemd/system/multi-user.target.wants/oneagent.service"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

FILES = [
    "/usr/sbin/oneagentd",
    "/usr/bin/oneagentctl",
    LIB,
    "/usr/lib/systemd/system/oneagent.service",
    "/usr/share/dbus-1/system.d/io.oneagent.Agent1.conf",
    "/usr/lib/tmpfiles.d/oneagent.conf",
    "/etc/oneagent/oneagent.toml",
    "/usr/share/man/man1/oneagentctl.1.gz",
    "/usr/share/man/man5/oneagent.toml.5.gz",
    "/usr/share/man/man8/oneagentd.8.gz",
    "/usr/share/man/man8/oneagent-preload.8.gz",
    "/usr/share/bash-completion/completions/oneagentctl",
    "/usr/share/doc/oneagent/copyright",
    "/usr/share/doc/oneagent/changelog.gz",
    "/usr/share/doc/oneagent/oneagent.toml",
    "/usr/lib/oneagent/agents/README",
]
DEB_ONLY = [
    "/usr/share/zsh/vendor-completions/_oneagentctl",
    "/usr/share/doc/oneagent/changelog.Debian.gz",
]
RPM_ONLY = ["/usr/share/zsh/site-functions/_oneagentctl"]
AGENT_DIRS = [f"/usr/lib/oneagent/agents/{a}" for a in ("java", "skywalking", "python", "nodejs", "dotnet")]


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def run(argv, timeout=300, env=None, check_rc=None, **kw):
    e = dict(PATH=PATH_ENV, LC_ALL="C.UTF-8", HOME=os.environ.get("HOME", "/root"))
    if env:
        e.update(env)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, **kw)
    if check_rc is not None:
        check(p.returncode == check_rc, f"{' '.join(argv)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


class Runner:
    def __init__(self, only):
        self.only = only
        # skipped: only packaging/tests/systemd_boot.py's whole-suite skip (no container can boot).
        self.passed = self.failed = self.skipped = 0

    def test(self, name, fn, *args):
        if self.only and self.only not in name:
            return
        t0 = time.monotonic()
        try:
            fn(*args)
            self.passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Failure as e:
            self.failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception:
            self.failed += 1
            print(f"FAIL {name}: {traceback.format_exc()}", flush=True)


# ---------------------------------------------------------------------------------------------
# Outside: metadata, contents, the preload editor


def lintian_clean(deb):
    p = run(["lintian", "--fail-on", "error", "--display-info", "--no-tag-display-limit", deb], timeout=600)
    tags = [l for l in p.stdout.splitlines() if l[:2] in ("E:", "W:", "I:", "P:")]
    for line in tags:
        print(f"    lintian: {line}")
    check(p.returncode == 0, f"lintian --fail-on error: exit {p.returncode}\n{p.stdout}{p.stderr}")
    check(not any(l.startswith("E:") for l in tags), "lintian reported errors")


def deb_metadata(deb, version):
    info = run(["dpkg-deb", "-f", deb], check_rc=0).stdout
    fields = dict(l.split(": ", 1) for l in info.splitlines() if ": " in l and not l.startswith(" "))
    check(fields.get("Package") == "oneagent", info)
    check(fields.get("Version") == f"{version}-1", f"Version {fields.get('Version')} != {version}-1")
    check("libc6" in fields.get("Depends", ""), f"Depends lacks libc6: {fields.get('Depends')}")
    check("dbus" in fields.get("Depends", ""), f"Depends lacks dbus: {fields.get('Depends')}")
    # The add-on is a package of its own that a host never needs: nothing of the host package
    # brings it (no Depends, Recommends or Suggests on it).
    for field in ("Pre-Depends", "Depends", "Recommends", "Suggests", "Enhances"):
        check("oneagent-k8s" not in fields.get(field, ""), f"{field} names oneagent-k8s: {fields.get(field)}")
    conffiles = run(["dpkg-deb", "--ctrl-tarfile", deb], check_rc=0)
    ctrl = tempfile.mkdtemp()
    try:
        run(["dpkg-deb", "-e", deb, ctrl], check_rc=0)
        with open(os.path.join(ctrl, "conffiles")) as f:
            check(f.read().split() == ["/etc/oneagent/oneagent.toml"], "conffiles")
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(ctrl, script)
            check(os.access(path, os.X_OK), f"{script} not executable")
            run(["sh", "-n", path], check_rc=0)
        with open(os.path.join(ctrl, "prerm")) as f:
            text = f.read()
        check("oneagent_preload_remove()" in text and "#ONEAGENT_PRELOAD_REMOVE#" not in text,
              "prerm lacks the inlined preload editor")
        with open(os.path.join(ctrl, "postinst")) as f:
            text = f.read()
        check("deb-systemd-helper enable" in text and "try-restart" in text, "postinst")
    finally:
        shutil.rmtree(ctrl)
    del conffiles


def deb_contents(deb):
    listing = run(["dpkg-deb", "-c", deb], check_rc=0).stdout.splitlines()
    paths = {l.split()[-1].lstrip(".").rstrip("/") for l in listing}
    for f in FILES + DEB_ONLY + AGENT_DIRS:
        check(f in paths, f"{f} missing from the .deb")
    for l in listing:
        check(" root/root " in l, f"not root-owned: {l}")
    root = tempfile.mkdtemp()
    try:
        run(["dpkg-deb", "-x", deb, root], check_rc=0)
        for exe in ("usr/sbin/oneagentd", "usr/bin/oneagentctl", LIB.lstrip("/")):
            sections = run(["readelf", "-S", "-W", os.path.join(root, exe)], check_rc=0).stdout
            # (.debug_gdb_scripts is an allocated section of Rust binaries, not debug information.)
            check(".symtab" not in sections and ".debug_info" not in sections and ".debug_line" not in sections,
                  f"{exe} is not stripped")
        dynamic = run(["readelf", "-d", os.path.join(root, LIB.lstrip("/"))], check_rc=0).stdout
        check("NEEDED" not in dynamic, "the stripped preload library gained a DT_NEEDED")
        with open(os.path.join(root, "usr/share/doc/oneagent/copyright")) as f:
            text = f.read()
        check(text.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"), "DEP-5")
        check("License: Apache-2.0" in text, "licence")
        with gzip.open(os.path.join(root, "usr/share/doc/oneagent/changelog.Debian.gz"), "rt") as f:
            check(f.readline().startswith("oneagent ("), "changelog.Debian")
        with gzip.open(os.path.join(root, "usr/share/man/man8/oneagent-preload.8.gz"), "rt") as f:
            check("ONEAGENT_PRELOAD_DISABLE" in f.read(), "oneagent-preload(8)")
        with open(os.path.join(root, "usr/share/bash-completion/completions/oneagentctl")) as f:
            check("agents" in f.read(), "bash completion lacks `agents`")
        with open(os.path.join(root, "usr/share/zsh/vendor-completions/_oneagentctl")) as f:
            check(f.readline().startswith("#compdef oneagentctl"), "zsh completion")
        # The Kubernetes add-on is a package of its own (oneagent-k8s): a host never runs it.
        for f in ("usr/bin/oneagent-k8s", "usr/share/man/man8/oneagent-k8s.8.gz"):
            check(not os.path.exists(os.path.join(root, f)), f"{f} is in the host package")
    finally:
        shutil.rmtree(root)


K8S_FILES = ["/usr/bin/oneagent-k8s", "/usr/share/man/man8/oneagent-k8s.8.gz",
             "/usr/share/doc/oneagent-k8s/copyright", "/usr/share/doc/oneagent-k8s/changelog.gz"]


def k8s_deb(deb, version):
    """The oneagent-k8s .deb: control, contents (stripped binary, its manual), no scripts."""
    info = run(["dpkg-deb", "-I", deb], check_rc=0).stdout
    fields = dict(l.strip().split(": ", 1) for l in info.splitlines() if ": " in l and not l.startswith("  "))
    check(fields.get("Package") == "oneagent-k8s", info)
    check(fields.get("Version") == f"{version}-1", info)
    check("libc6" in fields.get("Depends", ""), info)
    check("dbus" not in fields.get("Depends", ""), "oneagent-k8s needs no system bus")
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        check(f" {script}" not in info, f"oneagent-k8s has a {script}")
    listing = run(["dpkg-deb", "-c", deb], check_rc=0).stdout.splitlines()
    paths = {l.split()[-1].lstrip(".").rstrip("/") for l in listing}
    for f in K8S_FILES + ["/usr/share/doc/oneagent-k8s/changelog.Debian.gz"]:
        check(f in paths, f"{f} missing from the oneagent-k8s .deb")
    check(not any(p.startswith(("/usr/sbin", "/etc", "/usr/lib/oneagent")) for p in paths), paths)
    root = tempfile.mkdtemp()
    try:
        run(["dpkg-deb", "-x", deb, root], check_rc=0)
        sections = run(["readelf", "-S", "-W", os.path.join(root, "usr/bin/oneagent-k8s")], check_rc=0).stdout
        check(".symtab" not in sections and ".debug_info" not in sections, "oneagent-k8s is not stripped")
        with gzip.open(os.path.join(root, "usr/share/man/man8/oneagent-k8s.8.gz"), "rt") as f:
            check("rollout" in f.read(), "oneagent-k8s(8) lacks rollout")
        with gzip.open(os.path.join(root, "usr/share/doc/oneagent-k8s/changelog.Debian.gz"), "rt") as f:
            check(f.readline().startswith("oneagent-k8s ("), "changelog.Debian")
    finally:
        shutil.rmtree(root)


def k8s_rpm(rpm, version):
    info = run(["rpm", "-qpi", rpm], check_rc=0).stdout
    check("Name        : oneagent-k8s" in info, info)
    check(f"Version     : {version}" in info, info)
    paths = run(["rpm", "-qpl", rpm], check_rc=0).stdout.split()
    check(sorted(paths) == sorted(K8S_FILES), f"files: {paths}")
    check(not run(["rpm", "-qp", "--scripts", rpm], check_rc=0).stdout.strip(), "oneagent-k8s has scriptlets")
    check("dbus" not in run(["rpm", "-qp", "--requires", rpm], check_rc=0).stdout.split(), "requires dbus")


def k8s_rpm_root_install(rpm):
    """The add-on's .rpm alone in an empty root: its files, a binary that runs, nothing else."""
    root = tempfile.mkdtemp()
    try:
        run(["rpm", "-i", "--root", root, "--nodeps", rpm], check_rc=0)
        for f in K8S_FILES:
            check(os.path.isfile(root + f), f"{f} not installed by rpm --root")
        check(not os.path.exists(root + "/usr/sbin/oneagentd"), "the add-on's .rpm brought oneagentd")
        p = run([root + "/usr/bin/oneagent-k8s", "--version"], check_rc=0)
        check(p.stdout.startswith("oneagent-k8s "), p.stdout)
        run(["rpm", "-e", "--root", root, "--nodeps", "oneagent-k8s"], check_rc=0)
        check(not os.path.exists(root + "/usr/bin/oneagent-k8s"), "rpm -e --root left the binary")
    finally:
        shutil.rmtree(root)


def rpm_metadata(rpm, version):
    info = run(["rpm", "-qpi", rpm], check_rc=0).stdout
    check("Name        : oneagent" in info, info)
    check(f"Version     : {version}" in info, info)
    check("License     : Apache-2.0" in info, info)
    listing = run(["rpm", "-qplv", rpm], check_rc=0).stdout
    paths = {l.split()[-1] for l in listing.splitlines()}
    for f in FILES + RPM_ONLY + AGENT_DIRS:
        check(f in paths, f"{f} missing from the .rpm")
    for l in listing.splitlines():
        check(" root     root " in l or " root root " in l, f"not root-owned: {l}")
        if l.endswith("/usr/sbin/oneagentd"):
            check(l.startswith("-rwxr-xr-x"), l)
    requires = run(["rpm", "-qp", "--requires", rpm], check_rc=0).stdout.split("\n")
    check(any(r.startswith("libc.so.6") for r in requires), f"no libc requirement: {requires}")
    check("dbus" in requires, f"no dbus requirement: {requires}")
    weak = run(["rpm", "-qp", "--recommends", "--suggests", "--supplements", "--enhances", rpm], check_rc=0).stdout
    check(not any("oneagent-k8s" in r for r in requires + weak.split("\n")), f"names oneagent-k8s: {requires} {weak}")
    config = run(["rpm", "-qpc", rpm], check_rc=0).stdout.split()
    check(config == ["/etc/oneagent/oneagent.toml"], f"config files: {config}")
    check("/usr/share/doc/oneagent/copyright" in run(["rpm", "-qpL", rpm], check_rc=0).stdout, "%license")
    scripts = run(["rpm", "-qp", "--scripts", rpm], check_rc=0).stdout
    for needle in ("systemctl --no-reload enable", "oneagent_preload_remove()", "try-restart",
                   'if [ "$1" -eq 0 ]'):
        check(needle in scripts, f"scriptlets lack {needle!r}")


def rpm_root_install(rpm):
    root = tempfile.mkdtemp()
    try:
        run(["rpm", "-i", "--root", root, "--nodeps", "--noscripts", rpm], check_rc=0)
        for f in FILES + RPM_ONLY:
            check(os.path.isfile(root + f), f"{f} not installed by rpm --root")
        q = run(["rpm", "-q", "--root", root, "oneagent"], check_rc=0).stdout
        check(q.startswith("oneagent-"), q)
        p = run([root + "/usr/bin/oneagentctl", "--version"], check_rc=0)
        check("oneagentctl" in p.stdout, p.stdout)
        run(["rpm", "-e", "--root", root, "--nodeps", "--noscripts", "oneagent"], check_rc=0)
        check(not os.path.exists(root + "/usr/sbin/oneagentd"), "rpm -e --root left the daemon")
    finally:
        shutil.rmtree(root)


EDITOR = os.path.join(REPO, "packaging/common/preload-remove.sh")
PRELOAD_CASES = [
    # (before, after or None for "file deleted") — the cases of preload_file.rs and more.
    (f"{LIB}\n", None),
    ("# keep me\n/usr/lib/libfoo.so /opt/bar.so\n" + LIB + "\n/usr/lib/libbaz.so",
     "# keep me\n/usr/lib/libfoo.so /opt/bar.so\n/usr/lib/libbaz.so\n"),
    (f"/opt/a.so {LIB}:/opt/b.so # note\n", "/opt/a.so /opt/b.so # note\n"),
    (f"/opt/old/liboneagent_preload.so\n/opt/x.so\n{LIB}\n", "/opt/x.so\n"),
    ("/opt/liboneagent_preload.so.bak\n", "/opt/liboneagent_preload.so.bak\n"),
    (f"# {LIB}\n/opt/x.so\n", f"# {LIB}\n/opt/x.so\n"),
    (f"{LIB} # ours, with a comment\n", "# ours, with a comment\n"),
    (f"\n  {LIB}  \n\n", None),
    (f"\t{LIB}\t/opt/y.so\n", "/opt/y.so\n"),
]


def preload_editor_cases():
    d = tempfile.mkdtemp()
    try:
        f = os.path.join(d, "ld.so.preload")
        for before, after in PRELOAD_CASES:
            with open(f, "w") as fh:
                fh.write(before)
            run(["sh", "-c", f'. "{EDITOR}" && oneagent_preload_remove "$1"', "sh", f], check_rc=0)
            if after is None:
                check(not os.path.exists(f), f"{before!r}: file should be deleted")
            else:
                with open(f) as fh:
                    got = fh.read()
                check(got == after, f"{before!r}: got {got!r}, want {after!r}")
                check(oct(os.stat(f).st_mode & 0o777) == "0o644", "mode")
            check(sorted(os.listdir(d)) in ([], ["ld.so.preload"]), f"leftovers: {os.listdir(d)}")
        # No file: nothing to do, success.
        if os.path.exists(f):
            os.unlink(f)
        run(["sh", "-c", f'. "{EDITOR}" && oneagent_preload_remove "$1"', "sh", f], check_rc=0)
        check(not os.path.exists(f), "created a file")
        # Works under a strict POSIX shell too.
        if shutil.which("dash"):
            with open(f, "w") as fh:
                fh.write(f"/opt/z.so\n{LIB}\n")
            run(["dash", "-c", f'. "{EDITOR}" && oneagent_preload_remove "$1"', "dash", f], check_rc=0)
            with open(f) as fh:
                check(fh.read() == "/opt/z.so\n", "dash")
    finally:
        shutil.rmtree(d)


# ---------------------------------------------------------------------------------------------
# Inside the namespace: real installs


class Inside:
    def __init__(self, tmp, debs, rpms, k8s_deb):
        self.tmp = tmp
        self.k8s_deb = k8s_deb
        self.deb1, self.deb2 = debs
        self.rpm1, self.rpm2 = rpms
        self.procs = []
        self.bus = None
        self.daemon = None
        self.other = "/usr/local/lib/liboneagent-test-other.so"

    def sh(self, *argv, **kw):
        return run(list(argv), **kw)

    def setup(self):
        testenv.mount_overlays(self.tmp, OVERLAYS)
        # A fresh /run: no systemd and no system bus of the machine are visible, so the
        # maintainer scripts take their "systemd is not running" branches.
        run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"], check_rc=0)
        for p in (PRELOAD, WANTS, "/etc/oneagent", "/var/lib/oneagent", "/usr/lib/oneagent"):
            if os.path.lexists(p):
                subprocess.run(["rm", "-rf", p])
        # A harmless library of somebody else for /etc/ld.so.preload.
        os.makedirs(os.path.dirname(self.other), exist_ok=True)
        run(["cc", "-shared", "-o", self.other, "-x", "c", "/dev/null"], check_rc=0)

    def isolation(self):
        # The outer driver is our parent (unshare execs us).
        problems = testenv.isolation_problems(OVERLAYS, os.getppid())
        check(not problems, "; ".join(problems))

    # -- bus and daemon -----------------------------------------------------------------------

    def start_bus(self):
        # The policy file as installed by the package.
        p, self.bus = testenv.start_private_bus(os.path.join(self.tmp, "bus"),
                                                "/usr/share/dbus-1/system.d/io.oneagent.Agent1.conf")
        self.procs.append(p)

    def ctl(self, *args, timeout=60):
        return run(["/usr/bin/oneagentctl", *args], env={"DBUS_SYSTEM_BUS_ADDRESS": self.bus or "unix:path=/nonexistent"},
                   timeout=timeout)

    def start_daemon(self):
        log = open(os.path.join(self.tmp, "oneagentd.log"), "w")
        # As the unit starts it: the installed binary, its default (installed) configuration,
        # state and runtime directories.
        self.daemon = subprocess.Popen(["/usr/sbin/oneagentd"], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT,
                                       env=dict(PATH=PATH_ENV, DBUS_SYSTEM_BUS_ADDRESS=self.bus))
        self.procs.append(self.daemon)
        for _ in range(150):
            if self.ctl("status").returncode == 0:
                return
            check(self.daemon.poll() is None, f"oneagentd exited {self.daemon.returncode}: {self.log()}")
            time.sleep(0.1)
        raise Failure(f"oneagentd did not answer: {self.log()}")

    def log(self):
        return testenv.tail(os.path.join(self.tmp, "oneagentd.log"))

    def stop_daemon(self):
        testenv.stop(self.daemon, 15)
        self.daemon = None

    def cleanup(self):
        self.stop_daemon()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    # -- dpkg -------------------------------------------------------------------------------

    def dpkg_install(self):
        p = run(["dpkg", "-i", self.deb1], timeout=120)
        check(p.returncode == 0, f"dpkg -i: {p.stdout}{p.stderr}")
        status = run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "oneagent"], check_rc=0).stdout
        check(status.startswith("install ok installed"), status)
        for f in FILES + DEB_ONLY:
            check(os.path.isfile(f), f"{f} not installed")
        for d in AGENT_DIRS:
            check(os.path.isdir(d), f"{d} missing")
        check(os.path.islink(WANTS), f"{WANTS}: the unit is not enabled")
        target = os.path.realpath(WANTS)
        check(target.endswith("/systemd/system/oneagent.service") and os.path.exists(target), target)
        check(os.path.isdir("/var/lib/oneagent"), "tmpfiles did not create /var/lib/oneagent")
        conffiles = run(["dpkg-query", "-W", "-f", "${Conffiles}", "oneagent"], check_rc=0).stdout
        check("/etc/oneagent/oneagent.toml" in conffiles, conffiles)
        # The host package alone: the add-on is neither installed nor on disk.
        k8s = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent-k8s"]).stdout
        check("installed" not in k8s.replace("not-installed", ""), f"oneagent-k8s: {k8s}")
        for f in K8S_FILES:
            check(not os.path.lexists(f), f"{f} came with the host package")

    def check_config(self):
        state = os.path.join(self.tmp, "check-state")
        p = run(["/usr/sbin/oneagentd", "--config", "/etc/oneagent/oneagent.toml", "--state-dir", state,
                 "--check-config"], check_rc=0)
        check("otlp_endpoint" in p.stdout, p.stdout)
        p = run(["/usr/sbin/oneagentd", "--version"], check_rc=0)
        check(p.stdout.startswith("oneagentd "), p.stdout)

    def daemon_status(self):
        with open(PRELOAD, "w") as f:
            f.write(f"{self.other}\n")
        self.start_bus()
        self.start_daemon()
        p = self.ctl("status")
        check(p.returncode == 0 and "/etc/oneagent/oneagent.toml" in p.stdout, p.stdout + p.stderr)
        p = self.ctl("--json", "status")
        check(json.loads(p.stdout)["version"], p.stdout)
        # With the shipped configuration ([injection] enabled = true) the daemon verifies the
        # packaged (stripped) library and adds it to /etc/ld.so.preload, keeping the other entry.
        for _ in range(100):
            with open(PRELOAD) as f:
                text = f.read()
            if LIB in text:
                break
            time.sleep(0.1)
        check(text == f"{self.other}\n{LIB}\n", f"{PRELOAD}: {text!r}\n{self.log()}")
        p = self.ctl("preload", "verify")
        check(p.returncode == 0, p.stdout + p.stderr)
        self.stop_daemon()
        check(os.path.exists("/var/lib/oneagent/state.db"), "no state.db in /var/lib/oneagent")

    def agents_install_python(self):
        probe = run(["python3", "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/pip/', timeout=5)"],
                    env={"PATH": os.environ.get("PATH", PATH_ENV)}, timeout=30)
        check(probe.returncode == 0, "PyPI is not reachable from this host, and this test installs the agent from it: "
              f"{probe.stdout}{probe.stderr}")
        # As on a host: the daemon runs (its snapshot says no Python agent yet) while the agent
        # is installed.
        self.start_daemon()
        try:
            self.install_python_with_daemon_running()
        finally:
            self.stop_daemon()

    def install_python_with_daemon_running(self):
        t0 = time.monotonic()
        # The daemon listens on the test's private bus: the CLI finds it as it would the system bus.
        installed = run(["/usr/bin/oneagentctl", "agents", "install", "python"], timeout=300,
                        env={"PATH": os.environ.get("PATH", PATH_ENV), "DBUS_SYSTEM_BUS_ADDRESS": self.bus})
        out = installed.stdout
        check(installed.returncode == 0, out[-3000:] + installed.stderr)
        print(f"    real `oneagentctl agents install python` from PyPI: {time.monotonic() - t0:.1f}s")
        check("==> [4/4] moving into place: /usr/lib/oneagent/agents/python" in out, out[-2000:])
        check("installed the Python agent: opentelemetry-distro" in out, out[-2000:])
        base = "/usr/lib/oneagent/agents/python"
        check(os.path.isfile(f"{base}/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py"), "no sitecustomize")
        check(os.path.isfile(f"{base}/.oneagent-install.json"), "no stamp")
        check(not glob.glob("/usr/lib/oneagent/agents/.python.oneagent-*"), "leftover staging dir")
        p = run(["/usr/bin/oneagentctl", "--json", "explain", "--", "python3", "/srv/app.py"], check_rc=0)
        check(not any(a.get("language") == "python" for a in json.loads(p.stdout)["agent_problems"]), p.stdout)
        # What the package is for: the install asks the running daemon to re-check its agents
        # (its snapshot said "no Python agent"); then a Python program started plainly (no
        # variable of ours, no configuration) loads the agent — no `oneagentctl reload` needed.
        check("oneagentd re-checked its agents (configuration generation" in out, out[-2000:])
        self.shop_gets_the_agent(base)

    def shop_gets_the_agent(self, base):
        app = os.path.join(self.tmp, "shop.py")
        with open(app, "w") as f:
            f.write("import os, sys\n"
                    "print(os.environ.get('OTEL_SERVICE_NAME'))\n"
                    "print(os.environ.get('PYTHONPATH'))\n"
                    "print(any(m.startswith('opentelemetry') for m in sys.modules))\n")
        p = run(["/usr/bin/python3", app], check_rc=0)
        lines = p.stdout.splitlines()
        check(lines[:1] == ["shop"], f"OTEL_SERVICE_NAME: {p.stdout}{p.stderr}")
        check(len(lines) == 3 and lines[1].startswith(f"{base}/opentelemetry/instrumentation/auto_instrumentation:{base}"),
              f"PYTHONPATH: {p.stdout}{p.stderr}")
        check(lines[2] == "True", f"the agent's modules were not loaded: {p.stdout}{p.stderr}")
        print(f"    plain `python3 shop.py`: OTEL_SERVICE_NAME={lines[0]}, agent loaded")

    def dpkg_upgrade(self):
        with open("/etc/oneagent/oneagent.toml") as f:
            text = f.read()
        edited = text.replace('log_level = "info"', 'log_level = "debug"') + "\n# edited by the test\n"
        with open("/etc/oneagent/oneagent.toml", "w") as f:
            f.write(edited)
        with open("/var/lib/oneagent/marker", "w") as f:
            f.write("state")
        p = run(["dpkg", "-i", self.deb2], timeout=120)
        check(p.returncode == 0, f"dpkg -i (upgrade): {p.stdout}{p.stderr}")
        version = run(["dpkg-query", "-W", "-f", "${Version}", "oneagent"], check_rc=0).stdout
        check(version == os.path.basename(self.deb2).split("_")[1], f"version after upgrade: {version}")
        with open("/etc/oneagent/oneagent.toml") as f:
            check(f.read() == edited, "the edited configuration was not kept")
        check(not glob.glob("/etc/oneagent/*.dpkg-*"), f"dpkg left {glob.glob('/etc/oneagent/*.dpkg-*')}")
        check(os.path.exists("/var/lib/oneagent/marker") and os.path.exists("/var/lib/oneagent/state.db"), "state lost")
        check(os.path.islink(WANTS), "the unit is no longer enabled")
        check(os.path.isfile("/usr/lib/oneagent/agents/python/.oneagent-install.json")
              or not os.path.exists("/usr/lib/oneagent/agents/python/.oneagent-install.json"), "agents")
        run(["/usr/sbin/oneagentd", "--config", "/etc/oneagent/oneagent.toml", "--check-config"], check_rc=0)

    def dpkg_remove(self):
        # The daemon is not running; ours and somebody else's entries (one sharing a line).
        check(self.daemon is None, "daemon still running")
        seeded = f"# site preload list\n{self.other}\n{LIB}\n/usr/local/lib/none.so:{LIB} # shared\n"
        with open(PRELOAD, "w") as f:
            f.write(seeded.replace("/usr/local/lib/none.so:", f"{self.other}:"))
        # A hand-copied Java agent stays even on purge; directories from `agents install` go.
        with open("/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar", "wb") as f:
            f.write(b"PK\x03\x04 hand-copied")
        p = run(["dpkg", "-r", "oneagent"], timeout=120)
        check(p.returncode == 0, f"dpkg -r: {p.stdout}{p.stderr}")
        with open(PRELOAD) as f:
            text = f.read()
        check(text == f"# site preload list\n{self.other}\n{self.other} # shared\n", f"{PRELOAD}: {text!r}")
        check(not os.path.exists("/usr/sbin/oneagentd") and not os.path.exists(LIB), "binaries left")
        check(os.path.isfile("/etc/oneagent/oneagent.toml"), "remove must keep the conffile")
        check(os.path.isdir("/var/lib/oneagent"), "remove must keep the state")
        status = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent"]).stdout
        check("config-files" in status, status)

    def dpkg_purge(self):
        p = run(["dpkg", "-P", "oneagent"], timeout=120)
        check(p.returncode == 0, f"dpkg -P: {p.stdout}{p.stderr}")
        for gone in ("/var/lib/oneagent", "/etc/oneagent", "/usr/lib/oneagent/agents/python"):
            check(not os.path.exists(gone), f"{gone} survived the purge")
        check(not os.path.lexists(WANTS), "the enablement symlink survived the purge")
        check(os.path.isfile("/usr/lib/oneagent/agents/java/opentelemetry-javaagent.jar"),
              "purge deleted a hand-copied agent")
        with open(PRELOAD) as f:
            check(LIB not in f.read(), "our entry is back")
        status = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent"]).stdout
        check("installed" not in status.replace("not-installed", ""), status)
        subprocess.run(["rm", "-rf", "/usr/lib/oneagent"])

    def dpkg_k8s_alone(self):
        # On a machine without the host package (purged above) and without a system bus.
        host = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent"]).stdout
        check("installed" not in host.replace("not-installed", ""), f"the host package is still there: {host}")
        p = run(["dpkg", "-i", self.k8s_deb], timeout=120)
        check(p.returncode == 0, f"dpkg -i oneagent-k8s: {p.stdout}{p.stderr}")
        status = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent-k8s"], check_rc=0).stdout
        check(status.startswith("install ok installed"), status)
        for f in K8S_FILES:
            check(os.path.isfile(f), f"{f} not installed")
        for f in ("/usr/sbin/oneagentd", "/usr/bin/oneagentctl", "/etc/oneagent"):
            check(not os.path.lexists(f), f"{f} came with oneagent-k8s")
        p = run(["/usr/bin/oneagent-k8s", "--version"], check_rc=0)
        check(p.stdout.startswith("oneagent-k8s "), p.stdout)
        out = os.path.join(self.tmp, "manifests")
        run(["/usr/bin/oneagent-k8s", "manifests", "--out", out], check_rc=0)
        check(os.path.isfile(os.path.join(out, "40-node.yaml")), f"manifests: {os.listdir(out)}")
        p = run(["dpkg", "-r", "oneagent-k8s"], timeout=120)
        check(p.returncode == 0, f"dpkg -r oneagent-k8s: {p.stdout}{p.stderr}")
        for f in K8S_FILES:
            check(not os.path.lexists(f), f"{f} left by dpkg -r")
        run(["dpkg", "-P", "oneagent-k8s"], check_rc=0)

    # -- rpm --------------------------------------------------------------------------------

    def rpm_install(self):
        p = run(["rpm", "-i", "--nodeps", self.rpm1], timeout=120)
        check(p.returncode == 0 and "scriptlet failed" not in p.stderr, f"rpm -i: {p.stdout}{p.stderr}")
        for f in FILES + RPM_ONLY:
            check(os.path.isfile(f), f"{f} not installed")
        check(os.path.islink(WANTS), f"%post did not enable the unit ({WANTS}): {p.stderr}")
        check(os.path.isdir("/var/lib/oneagent"), "tmpfiles did not run")
        run(["/usr/sbin/oneagentd", "--config", "/etc/oneagent/oneagent.toml", "--check-config"], check_rc=0)

    def rpm_upgrade(self):
        with open("/etc/oneagent/oneagent.toml", "a") as f:
            f.write("# edited for the rpm upgrade\n")
        with open("/etc/oneagent/oneagent.toml") as f:
            edited = f.read()
        p = run(["rpm", "-U", "--nodeps", self.rpm2], timeout=120)
        check(p.returncode == 0 and "scriptlet failed" not in p.stderr, f"rpm -U: {p.stdout}{p.stderr}")
        q = run(["rpm", "-q", "oneagent"], check_rc=0).stdout.strip()
        check(q == os.path.basename(self.rpm2)[: -len(".rpm")], f"{q} after upgrade")
        with open("/etc/oneagent/oneagent.toml") as f:
            check(f.read() == edited, "rpm -U did not keep the edited configuration")
        check(os.path.islink(WANTS), "the unit is no longer enabled")

    def rpm_erase(self):
        # Ours is the only entry: the file must go.
        with open(PRELOAD, "w") as f:
            f.write(f"{LIB}\n")
        p = run(["rpm", "-e", "--nodeps", "oneagent"], timeout=120)
        check(p.returncode == 0 and "scriptlet failed" not in p.stderr, f"rpm -e: {p.stdout}{p.stderr}")
        check(not os.path.exists(PRELOAD), "/etc/ld.so.preload should be gone (ours was its only entry)")
        check(not os.path.exists("/usr/sbin/oneagentd"), "rpm -e left the daemon")
        check(not os.path.lexists(WANTS), "%preun did not disable the unit")
        check(os.path.isfile("/etc/oneagent/oneagent.toml.rpmsave"), "the edited config was not saved as .rpmsave")


def inside_main(args):
    tmp = tempfile.mkdtemp(prefix="oneagent-pkgtest-")
    os.chmod(tmp, 0o755)
    r = Runner(args.only)
    fx = Inside(tmp, (args.deb1, args.deb2), (args.rpm1, args.rpm2), args.k8s_deb)
    try:
        fx.setup()
        r.test("namespace: overlays on /etc, /usr, /var; private mount namespace", fx.isolation)
        r.test("dpkg -i: files in place, unit enabled, tmpfiles ran, conffile registered", fx.dpkg_install)
        r.test("installed oneagentd --check-config with the installed configuration", fx.check_config)
        r.test("installed oneagentd on a private bus: `oneagentctl status`, library verified and preloaded",
               fx.daemon_status)
        r.test("NETWORK: installed `oneagentctl agents install python` from PyPI", fx.agents_install_python)
        r.test("dpkg -i newer version: edited configuration and state kept, unit still enabled", fx.dpkg_upgrade)
        r.test("dpkg -r with the daemon stopped: our preload entries gone, others kept byte for byte",
               fx.dpkg_remove)
        r.test("dpkg -P: state, configuration, installed agents and enablement gone", fx.dpkg_purge)
        r.test("dpkg -i oneagent-k8s alone (no host package, no bus): binary runs, manifests; dpkg -r",
               fx.dpkg_k8s_alone)
        r.test("rpm -i (scriptlets run): files, unit enabled, tmpfiles", fx.rpm_install)
        r.test("rpm -U newer version: edited configuration kept", fx.rpm_upgrade)
        r.test("rpm -e: preload file removed (ours was the only entry), unit disabled, config saved",
               fx.rpm_erase)
    except Exception:
        r.failed += 1
        print(f"FAIL setup: {traceback.format_exc()}", flush=True)
    finally:
        fx.cleanup()
        if args.keep:
            print(f"kept {tmp} (namespace gone: the overlays are unmounted)")
        else:
            # Upper dirs hold root-owned files from the installs; they are only in tmp.
            testenv.unmount(OVERLAYS + ("/run",))
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{r.passed} passed, {r.failed} failed", flush=True)
    sys.exit(1 if r.failed else 0)


# ---------------------------------------------------------------------------------------------


def build(version=None):
    env = dict(os.environ)
    if version:
        env["ONEAGENT_PKG_VERSION"] = version
        env["ONEAGENT_PKG_OUT"] = os.path.join(REPO, "target/packages/upgrade-test")
    t0 = time.monotonic()
    p = subprocess.run(["bash", os.path.join(REPO, "packaging/build")], stdout=subprocess.PIPE, env=env, text=True)
    if p.returncode != 0:
        print(f"FAIL packaging/build{' (' + version + ')' if version else ''}: exit {p.returncode}")
        print("0 passed, 1 failed")
        sys.exit(1)
    built = p.stdout.split()
    deb, rpm = built[-2:]
    print(f"    built {', '.join(os.path.basename(b) for b in built)} in {time.monotonic() - t0:.1f}s", flush=True)
    # The oneagent-k8s packages come first when the workspace has that binary (it does).
    k8s = built[-4:-2]
    if len(k8s) != 2 or not os.path.basename(k8s[0]).startswith("oneagent-k8s_"):
        print(f"FAIL packaging/build made no oneagent-k8s packages: {built}")
        print("0 passed, 1 failed")
        sys.exit(1)
    return deb, rpm, k8s


def workspace_version():
    p = run(["cargo", "metadata", "--no-deps", "--format-version", "1"], cwd=REPO,
            env={"PATH": os.environ.get("PATH", PATH_ENV)}, check_rc=0)
    return next(pk["version"] for pk in json.loads(p.stdout)["packages"] if pk["name"] == "oneagent")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-build", action="store_true", help="use the packages already in target/packages")
    ap.add_argument("--only")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    for a in ("deb1", "deb2", "rpm1", "rpm2", "k8s_deb"):
        ap.add_argument(f"--{a}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("packaging/tests/run.py needs root (dpkg, rpm, mount namespaces)")
    if args.inside:
        inside_main(args)
        return

    started = time.monotonic()
    version = workspace_version()
    newer = f"{version}.1"
    if args.no_build:
        deb1 = os.path.join(REPO, f"target/packages/oneagent_{version}-1_{run(['dpkg', '--print-architecture']).stdout.strip()}.deb")
        k8s = [glob.glob(os.path.join(REPO, f"target/packages/oneagent-k8s{sep}{version}-1*.{ext}"))[0]
               for sep, ext in (("_", "deb"), ("-", "rpm"))]
        rpm1 = glob.glob(os.path.join(REPO, f"target/packages/oneagent-{version}-1.*.rpm"))[0]
        deb2 = glob.glob(os.path.join(REPO, f"target/packages/upgrade-test/oneagent_{newer}-1_*.deb"))[0]
        rpm2 = glob.glob(os.path.join(REPO, f"target/packages/upgrade-test/oneagent-{newer}-1.*.rpm"))[0]
    else:
        print("==> packaging/build (release build, both packages)", flush=True)
        deb1, rpm1, k8s = build()
        print(f"==> packaging/build with ONEAGENT_PKG_VERSION={newer} (same binaries, for the upgrade tests)", flush=True)
        deb2, rpm2, _ = build(newer)

    r = Runner(args.only)
    r.test("lintian --fail-on error on the .deb", lintian_clean, deb1)
    r.test("deb metadata: control, conffiles, maintainer scripts", deb_metadata, deb1, version)
    r.test("deb contents: paths, ownership, stripped ELF, DEP-5 copyright, changelogs, man, completions",
           deb_contents, deb1)
    r.test("rpm -qpi / -qplv / --requires / -qpc / --scripts", rpm_metadata, rpm1, version)
    r.test("rpm -i --root TMP --nodeps --noscripts, then rpm -e --root", rpm_root_install, rpm1)
    r.test("lintian --fail-on error on the oneagent-k8s .deb", lintian_clean, k8s[0])
    r.test("oneagent-k8s .deb: its own package (control, stripped binary, manual, no scripts)", k8s_deb,
           k8s[0], version)
    r.test("oneagent-k8s .rpm: its own package (files, no scriptlets)", k8s_rpm, k8s[1], version)
    r.test("rpm -i --root TMP of oneagent-k8s alone: its files, the binary runs, rpm -e", k8s_rpm_root_install, k8s[1])
    r.test("maintainer scripts' /etc/ld.so.preload editor matches the daemon's", preload_editor_cases)

    def machine_state():
        state = {}
        for path in (PRELOAD, "/etc/oneagent", "/var/lib/oneagent", "/usr/lib/oneagent", WANTS, "/usr/sbin/oneagentd",
                     "/usr/bin/oneagent-k8s"):
            try:
                with open(path, "rb") as fh:
                    state[path] = fh.read()
            except IsADirectoryError:
                state[path] = "dir"
            except OSError:
                state[path] = os.path.lexists(path)
        state["dpkg"] = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent"]).stdout
        state["rpm"] = run(["rpm", "-q", "oneagent"]).stdout
        state["dpkg-k8s"] = run(["dpkg-query", "-W", "-f", "${Status}", "oneagent-k8s"]).stdout
        state["rpm-k8s"] = run(["rpm", "-q", "oneagent-k8s"]).stdout
        return state

    before = machine_state()
    argv = ["unshare", "--mount", "--propagation", "private", "--", sys.executable, os.path.abspath(__file__),
            "--inside", "--deb1", deb1, "--deb2", deb2, "--rpm1", rpm1, "--rpm2", rpm2, "--k8s_deb", k8s[0]]
    if args.only:
        argv += ["--only", args.only]
    if args.keep:
        argv.append("--keep")
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    last = ""
    for line in p.stdout:
        if line.rstrip() and line.split()[0] in ("PASS", "FAIL") or line.startswith("    "):
            print(line, end="", flush=True)
        elif line.strip():
            last = line.strip()
            if not (last.endswith(" failed") and " passed, " in last):
                print(line, end="", flush=True)
    p.wait()
    try:
        ip, ifl = last.split(" passed, ")
        r.passed += int(ip)
        r.failed += int(ifl.split()[0])
    except ValueError:
        r.failed += 1
        print(f"FAIL namespace tests: no summary (exit {p.returncode})")
    if p.returncode != 0 and not r.failed:
        r.failed += 1

    def untouched():
        after = machine_state()
        changed = [k for k in before if before[k] != after[k]]
        check(not changed, f"the machine changed: {changed}")

    r.test("the machine is untouched: /etc/ld.so.preload, /etc/oneagent, dpkg and rpm databases", untouched)
    print(f"packaging tests took {time.monotonic() - started:.0f}s", flush=True)
    print(f"{r.passed} passed, {r.failed} failed")
    sys.exit(1 if r.failed else 0)


if __name__ == "__main__":
    main()
