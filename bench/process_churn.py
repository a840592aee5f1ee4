#!/usr/bin/env python3
"""Benchmark of process churn (issue 16): the daemon's CPU per short-lived exec of /bin/true,
beside an idle window of the same length in the same run.

Each round starts oneagentd (private system bus, temporary state and runtime directories, the
default configuration, as bench/daemon_idle.py), lets it settle, then
  - churn: fork+exec of /bin/true N times (posix_spawn + waitpid, one at a time), then waits
    SETTLE seconds for the daemon to finish what the events caused (batched events, deferred
    reads, the inventory's flush to SQLite);
  - idle: the same daemon, nothing started, for a window as long as the churn window;
and reads the daemon's utime+stime (all threads, /proc/PID/stat) before and after each window.
Per exec = (churn CPU - idle CPU) / N. With several --daemon binaries, each round measures each
(a baseline build beside the current one), in alternating order.

Usage: python3 bench/process_churn.py [-n N] [--rounds R] [--settle S] [--daemon PATH ...]
Builds nothing: run `cargo build --release --bins` first. Needs root (the process events
connector needs CAP_NET_ADMIN); the daemon's stderr is checked for the connector's warning.
"""
import argparse, os, pathlib, statistics, sys, tempfile, time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import daemon_idle  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def churn(n: int):
    for _ in range(n):
        pid = os.posix_spawn("/bin/true", ["/bin/true"], {})
        os.waitpid(pid, 0)


def measure(daemon: pathlib.Path, tmp: pathlib.Path, tag: str, n: int, settle: float):
    bt = tmp / tag
    bt.mkdir()
    bus, _ = daemon_idle.start_bus(bt)
    err_path = bt / "stderr"
    with open(err_path, "wb") as err:
        proc, _ = daemon_idle.start_daemon(bt, f"unix:path={bt}/bus", 0, daemon=daemon, stderr=err)
    try:
        time.sleep(2.0)
        c0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        churn(n)
        spawn_s = time.monotonic() - t0
        time.sleep(settle)
        window = time.monotonic() - t0
        busy = cpu_seconds(proc.pid) - c0
        c0 = cpu_seconds(proc.pid)
        time.sleep(window)
        idle = cpu_seconds(proc.pid) - c0
    finally:
        proc.terminate(); proc.wait(); bus.terminate(); bus.wait()
    if b"connector is unavailable" in err_path.read_bytes():
        sys.exit("the process events connector is unavailable (not root, or not the host network namespace)")
    return {"busy": busy, "idle": idle, "window": window, "rate": n / spawn_s,
            "per_exec_us": (busy - idle) / n * 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--daemon", action="append", type=pathlib.Path)
    args = ap.parse_args()
    daemons = args.daemon or [daemon_idle.DAEMON]
    for d in daemons:
        if not d.exists():
            sys.exit(f"{d} missing: run `cargo build --release --bins` first")
    results = {str(d): [] for d in daemons}
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        for r in range(args.rounds):
            order = daemons if r % 2 == 0 else list(reversed(daemons))
            for i, d in enumerate(order):
                m = measure(d, tmp, f"r{r}d{i}", args.n, args.settle)
                results[str(d)].append(m)
                print(f"round {r} {d}: {args.n} execs at {m['rate']:.0f}/s; window {m['window']:.1f} s; "
                      f"daemon CPU churn {m['busy']*1000:.0f} ms, idle {m['idle']*1000:.0f} ms; "
                      f"{m['per_exec_us']:.1f} µs per exec", flush=True)
    for d, ms in results.items():
        per = [m["per_exec_us"] for m in ms]
        print(f"{d}: µs of daemon CPU per exec above idle, median of {len(per)}: "
              f"{statistics.median(per):.1f} (min {min(per):.1f}, max {max(per):.1f}); "
              f"idle CPU per window {statistics.median([m['idle'] for m in ms])*1000:.0f} ms")


if __name__ == "__main__":
    main()
