#!/usr/bin/env python3
"""Benchmark of the idle daemon (issue 2): time from start to READY=1, idle RSS and wakeups per
second over a window, with dbus-daemon (the system bus daemon, started in the same run) as the
peer for each figure.

Usage: python3 bench/daemon_idle.py [--window SECONDS] [--runs N]
Builds nothing: run `cargo build --release --bins` first (bench/run does).
"""
import argparse, os, pathlib, re, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DAEMON = ROOT / "target" / "release" / "oneagentd"


def derive_bus_config(tmp: pathlib.Path) -> pathlib.Path:
    policy = tmp / "system.d"
    policy.mkdir()
    shutil.copy(ROOT / "systemd" / "io.oneagent.Agent1.conf", policy)
    text = pathlib.Path("/usr/share/dbus-1/system.conf").read_text()
    for pat in [r"<user>.*?</user>", r"<fork/>", r"<pidfile>.*?</pidfile>", r"<syslog/>",
                r"<standard_system_servicedirs/>", r"<servicehelper>.*?</servicehelper>",
                r"<includedir>.*?</includedir>", r"<include [^>]*>.*?</include>"]:
        text = re.sub(pat, "", text)
    text = re.sub(r"<listen>.*?</listen>", f"<listen>unix:path={tmp}/bus</listen>", text)
    text = text.replace("</busconfig>", f"<includedir>{policy}</includedir></busconfig>")
    conf = tmp / "system.conf"
    conf.write_text(text)
    return conf


def proc_stats(pid: int):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    switches = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        s = (task / "status").read_text()
        switches += int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", s).group(1))
        switches += int(re.search(r"nonvoluntary_ctxt_switches:\s+(\d+)", s).group(1))
    return rss, switches


def start_bus(tmp):
    conf = derive_bus_config(tmp)
    t0 = time.perf_counter()
    bus = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    bus.stdout.readline()
    return bus, time.perf_counter() - t0


def start_daemon(tmp, bus_addr, n, daemon=DAEMON, stderr=subprocess.DEVNULL):
    notify_path = tmp / f"notify{n}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(10)
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus_addr, NOTIFY_SOCKET=str(notify_path))
    env.pop("JOURNAL_STREAM", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(daemon), "--config", str(tmp / "none.toml"),
                             "--state-dir", str(tmp / f"state{n}"), "--runtime-dir", str(tmp / f"run{n}")],
                            env=env, stderr=stderr)
    while True:
        msg = sock.recv(4096).decode()
        if "READY=1" in msg.splitlines():
            break
    return proc, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    if not DAEMON.exists():
        sys.exit(f"{DAEMON} missing: run `cargo build --release --bins` first")
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        bus_ready = []
        ready = []
        # Startup: each run with an empty state directory.
        for n in range(args.runs):
            bt = tmp / f"bus{n}"
            bt.mkdir()
            bus, b = start_bus(bt)
            bus_ready.append(b)
            proc, r = start_daemon(bt, f"unix:path={bt}/bus", n)
            ready.append(r)
            proc.terminate(); proc.wait(); bus.terminate(); bus.wait()
        # Idle: one daemon and its bus for the window.
        bt = tmp / "idle"
        bt.mkdir()
        bus, _ = start_bus(bt)
        proc, _ = start_daemon(bt, f"unix:path={bt}/bus", 99)
        time.sleep(1.0)
        d_rss0, d_sw0 = proc_stats(proc.pid)
        b_rss0, b_sw0 = proc_stats(bus.pid)
        time.sleep(args.window)
        d_rss, d_sw = proc_stats(proc.pid)
        b_rss, b_sw = proc_stats(bus.pid)
        proc.terminate(); proc.wait(); bus.terminate(); bus.wait()
    med = statistics.median
    print(f"start to READY=1 (empty state, median of {args.runs}): oneagentd {med(ready)*1000:.1f} ms; "
          f"dbus-daemon start to address {med(bus_ready)*1000:.1f} ms; ratio {med(ready)/med(bus_ready):.2f}")
    print(f"idle RSS: oneagentd {d_rss/1024:.1f} MiB; dbus-daemon {b_rss/1024:.1f} MiB; ratio {d_rss/b_rss:.2f}")
    print(f"idle wakeups over {args.window:.0f} s (context switches, all threads): oneagentd "
          f"{(d_sw-d_sw0)/args.window:.2f}/s; dbus-daemon {(b_sw-b_sw0)/args.window:.2f}/s")


if __name__ == "__main__":
    main()
