"""What the Python test drivers share: a private mount namespace with overlays, a private system
bus, and stopping the processes they start.

Used by tests/e2e/run.py and packaging/tests/run.py (stdlib only; they put this directory on
sys.path). Everything here changes only the calling process's own mount namespace and temporary
directories: the machine's /etc, /usr, /var and /run are never written.
"""

import os
import signal
import subprocess
import sys

DISTRIBUTION_BUS_CONFIG = "/usr/share/dbus-1/system.conf"


def reexec_in_private_mount_namespace(python, script, args):
    """Replaces this process with `python script --inside ARGS…` in a new mount namespace whose
    mounts do not propagate back to the machine's."""
    argv = ["unshare", "--mount", "--propagation", "private", "--", python, os.path.abspath(script), "--inside", *args]
    sys.stdout.flush()
    os.execvp("unshare", argv)


def mount_overlays(tmp, mounts):
    """An overlay on each of `mounts` (upper and work directories under `tmp`): writes below
    them land in `tmp`. Only inside a private mount namespace."""
    for m in mounts:
        up, wk = os.path.join(tmp, "upper" + m), os.path.join(tmp, "work" + m)
        os.makedirs(up)
        os.makedirs(wk)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={m},upperdir={up},workdir={wk}", m],
                       check=True)


def unmount(mounts):
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", m])


def isolation_problems(mounts, outer_pid):
    """What is wrong with the isolation: each of `mounts` must be an overlay, and this process
    must be in another mount namespace than `outer_pid`'s. Empty when all is well."""
    problems = []
    for m in mounts:
        fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", m], capture_output=True, text=True).stdout.split()
        if not fs or fs[-1] != "overlay":
            problems.append(f"{m} is not an overlay here: {fs}")
    if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{outer_pid}/ns/mnt"):
        problems.append("not in a private mount namespace")
    return problems


def private_bus_config(socket, policy_dir):
    """A dbus-daemon configuration derived from the distribution's system bus configuration: the
    same default-deny policy, but our socket, no fork, no user switch, no activation, and only the
    policy files of `policy_dir` (scripts/lib.sh's derive_bus_config does the same in shell)."""
    dropped = ("<user>", "<pidfile>", "<servicehelper>", "<includedir>", "<include ")
    out = []
    with open(DISTRIBUTION_BUS_CONFIG) as f:
        for line in f:
            t = line.strip()
            if t.startswith(dropped) or t in ("<fork/>", "<syslog/>", "<standard_system_servicedirs/>"):
                continue
            if t.startswith("<listen>"):
                line = f"  <listen>unix:path={socket}</listen>\n"
            elif t == "</busconfig>":
                line = f"  <includedir>{policy_dir}</includedir>\n</busconfig>\n"
            out.append(line)
    return "".join(out)


def start_private_bus(directory, policy_file):
    """Starts a system-like dbus-daemon listening in `directory` with `policy_file` as its only
    policy. Returns (process, address); raises when the daemon does not come up."""
    policy_dir = os.path.join(directory, "system.d")
    os.makedirs(policy_dir, exist_ok=True)
    os.chmod(directory, 0o755)
    with open(policy_file, "rb") as src, open(os.path.join(policy_dir, os.path.basename(policy_file)), "wb") as dst:
        dst.write(src.read())
    socket = os.path.join(directory, "system_bus_socket")
    conf = os.path.join(directory, "system.conf")
    with open(conf, "w") as f:
        f.write(private_bus_config(socket, policy_dir))
    p = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    if not line.startswith("unix:"):
        p.kill()
        p.wait()
        raise AssertionError(f"dbus-daemon printed {line!r}")
    return p, f"unix:path={socket}"


def stop(process, timeout):
    """SIGTERM, then SIGKILL after `timeout` seconds; waits for the process either way."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path, size=3000):
    """The last `size` characters of a log file ("" when it cannot be read)."""
    try:
        with open(path) as f:
            return f.read()[-size:]
    except (OSError, TypeError):
        return ""
