#!/usr/bin/env python3
"""Cost of liboneagent_preload.so per exec.

Runs a fork+exec loop (a small C driver: posix_spawn + waitpid, timed with CLOCK_MONOTONIC) of
  * /bin/true (a non-target) N times three ways: no preload, an empty preloaded library with no
    dependencies (built here: gcc -shared -nostdlib), and ours;
  * a Python script target (`python3 pass.py`; `-c` is skipped by policy) M times: no preload,
    ours with no snapshot, ours with a snapshot that injects (fake agent files, so the Python agent
    is a no-op sitecustomize).
Prints microseconds per exec and the ratios. Nothing touches /etc: LD_PRELOAD only.

Usage: bench/preload_exec.py [--so PATH] [-n 2000] [-m 50] [--rounds 5]
Build first: cargo build --release --manifest-path preload/lib/Cargo.toml
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.dirname(HERE)

DRIVER = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <sys/resource.h>
extern char **environ;
static double cpu_us(const struct rusage *r) {
    return (r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e6 + r->ru_utime.tv_usec + r->ru_stime.tv_usec;
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    struct timespec a, b;
    struct rusage ra, rb;
    getrusage(RUSAGE_CHILDREN, &ra);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pid_t pid; int st;
        if (posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) return 2;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 3;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    getrusage(RUSAGE_CHILDREN, &rb);
    double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n;
    printf("%.2f %.2f\n", us, (cpu_us(&rb) - cpu_us(&ra)) / n);
    return 0;
}
"""

EMPTY_SO = r"""
static void ctor(void) {}
__attribute__((section(".init_array"), used)) static void (*init)(void) = ctor;
"""


def sh(*args, **kw):
    subprocess.run(args, check=True, **kw)


def encode_snapshot(path, agents_root, sock):
    """The snapshot, encoded with core's format (version 1) — same layout as preload/core/src/snapshot.rs."""
    import struct

    def field(b):
        return struct.pack("<H", len(b)) + b

    def lst(items):
        blob = b"".join(i + b"\0" for i in items)
        return struct.pack("<H", len(blob)) + blob

    a = agents_root.encode()
    strings = [
        a + b"/java/opentelemetry-javaagent.jar",
        a + b"/skywalking/skywalking-agent.jar",
        a + b"/python",
        a + b"/nodejs/register.js",
        a + b"/dotnet",
        b"http://127.0.0.1:4318",
        b"127.0.0.1:11800",
        b"benchhost",
        sock.encode(),
        b"/oneagent/",
    ]
    body = bytes([1, 0, 0x0F, 0]) + b"".join(field(s) for s in strings) + lst([]) + lst([]) + lst([])
    h = 0xCBF29CE484222325
    for byte in body:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    total = 24 + len(body)
    header = b"OASNAP\0\0" + struct.pack("<HHIQ", 1, 0, total, h)
    with open(path, "wb") as f:
        f.write(header + body)


def measure(driver, n, argv, env):
    """One run of the driver: (wall-clock us per exec, CPU us per exec of the children)."""
    out = subprocess.run([driver, str(n)] + argv, env=env, check=True, capture_output=True, text=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--so", default=os.path.join(LIB, "target/release/liboneagent_preload.so"))
    ap.add_argument("-n", type=int, default=2000, help="execs of /bin/true per round")
    ap.add_argument("-m", type=int, default=40, help="execs of the Python target per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    so = os.path.abspath(args.so)
    if not os.path.exists(so):
        sys.exit(f"{so} missing: cargo build --release --manifest-path preload/lib/Cargo.toml")
    tmp = tempfile.mkdtemp(prefix="oneagent-bench-")
    try:
        with open(os.path.join(tmp, "driver.c"), "w") as f:
            f.write(DRIVER)
        driver = os.path.join(tmp, "driver")
        sh("gcc", "-O2", "-o", driver, os.path.join(tmp, "driver.c"))
        with open(os.path.join(tmp, "empty.c"), "w") as f:
            f.write(EMPTY_SO)
        empty = os.path.join(tmp, "libempty.so")
        sh("gcc", "-O2", "-shared", "-fPIC", "-nostdlib", "-o", empty, os.path.join(tmp, "empty.c"))
        # Fake agents (a sitecustomize that does nothing) under a /oneagent/ path.
        agents = os.path.join(tmp, "oneagent/agents")
        auto = os.path.join(agents, "python/opentelemetry/instrumentation/auto_instrumentation")
        os.makedirs(auto)
        open(os.path.join(auto, "sitecustomize.py"), "w").close()
        snap = os.path.join(tmp, "preload.snapshot")
        encode_snapshot(snap, agents, os.path.join(tmp, "nobody-listens.sock"))
        script = os.path.join(tmp, "pass.py")
        with open(script, "w") as f:
            f.write("pass\n")
        python = shutil.which("python3", path="/usr/bin:/bin") or "python3"

        base = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
        nosnap = dict(base, ONEAGENT_PRELOAD_SNAPSHOT=os.path.join(tmp, "missing.snapshot"))
        cases = [
            ("/bin/true, no preload", args.n, ["/bin/true"], base),
            ("/bin/true, empty preload", args.n, ["/bin/true"], dict(base, LD_PRELOAD=empty)),
            ("/bin/true, liboneagent_preload", args.n, ["/bin/true"], dict(base, LD_PRELOAD=so)),
            ("python3 pass.py, no preload", args.m, [python, script], base),
            ("python3 pass.py, ours, no snapshot", args.m, [python, script], dict(nosnap, LD_PRELOAD=so)),
            ("python3 pass.py, ours, injecting", args.m, [python, script],
             dict(base, LD_PRELOAD=so, ONEAGENT_PRELOAD_SNAPSHOT=snap)),
        ]
        # Warm up (page cache, CPU frequency).
        measure(driver, 200, ["/bin/true"], base)
        # Rounds interleave the cases, so that load changes on a shared machine hit all alike.
        samples = {name: [] for name, *_ in cases}
        for r in range(args.rounds):
            # Every other round runs the cases in reverse order: no case always follows another.
            for name, n, argv, env in (cases if r % 2 == 0 else cases[::-1]):
                samples[name].append(measure(driver, n, argv, env))
        wall, cpu = {}, {}
        print(f"{'case':40} {'wall us/exec':>13} {'min':>9} {'CPU us/exec':>12} {'min':>9}")
        for name, *_ in cases:
            w = [x[0] for x in samples[name]]
            c = [x[1] for x in samples[name]]
            wall[name], cpu[name] = statistics.median(w), statistics.median(c)
            print(f"{name:40} {wall[name]:13.1f} {min(w):9.1f} {cpu[name]:12.1f} {min(c):9.1f}")
        print("(medians of the rounds; CPU = user + system time of the spawned processes)")
        for label, res in (("wall clock", wall), ("CPU time", cpu)):
            t0 = res["/bin/true, no preload"]
            te = res["/bin/true, empty preload"]
            to = res["/bin/true, liboneagent_preload"]
            p0 = res["python3 pass.py, no preload"]
            p1 = res["python3 pass.py, ours, no snapshot"]
            p2 = res["python3 pass.py, ours, injecting"]
            print()
            print(f"{label}, non-target: empty preload costs {te - t0:+.1f} us ({te / t0:.2f}x), ours {to - t0:+.1f} us "
                  f"({to / t0:.2f}x); ours above the empty library: {to - te:+.1f} us ({to / te:.3f}x)")
            print(f"{label}, python target: ours without snapshot {p1 - p0:+.1f} us ({p1 / p0:.3f}x), "
                  f"injecting {p2 - p0:+.1f} us ({p2 / p0:.3f}x, includes the agent's sitecustomize import)")
        # Paired: ours minus the empty library within each round (the two runs of a round are
        # next to each other, so a load change between rounds cancels out).
        print()
        e_s, o_s = samples["/bin/true, empty preload"], samples["/bin/true, liboneagent_preload"]
        for i, label in ((0, "wall clock"), (1, "CPU time")):
            diffs = sorted(o[i] - e[i] for e, o in zip(e_s, o_s))
            ratios = sorted(o[i] / e[i] for e, o in zip(e_s, o_s))
            q = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else [diffs[0]] * 3
            print(f"{label}, paired per round: ours above the empty library {statistics.median(diffs):+.1f} us "
                  f"(quartiles {q[0]:+.1f} .. {q[2]:+.1f}), ratio {statistics.median(ratios):.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
