#!/usr/bin/env python3
"""The node collector's tests, against a real OpenTelemetry Collector built by scripts/otelcol-build.

1. `otelcol validate` on the configuration `oneagent-k8s manifests` generates (the ConfigMap of
   packaging/k8s/50-collector.yaml), with the `debug` exporter and with `--backend` and headers; and
   a broken variant, which `validate` must refuse (the check can fail).
2. The collector run for real on a loopback address with the generated configuration, its exporter
   swapped for the `file` exporter; a real Python process instrumented by the real Python
   OpenTelemetry agent (tests/e2e/install_agents.sh) sends it OTLP/HTTP; the test asserts on the
   spans and log records the file exporter wrote (service name, the k8s.* resource attributes the
   webhook sets, the span and the log body).

Usage: python3 tests/collector/run.py [--otelcol PATH] [--oneagent-k8s PATH]
Prints `N passed, N failed`; exits 1 when a test failed.
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY_AGENT = os.path.join(REPO, "target/e2e-agents/oneagent/agents/python")
PYTHON = "/usr/bin/python3"
# Components of the generated configuration that the test build lacks (see otelcol-builder.yaml).
NOT_BUILT = "skywalking"

results = []


def test(name):
    def wrap(fn):
        results.append((name, fn))
        return fn

    return wrap


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def collector_config(k8s, out, *extra):
    """The node collector's config.yaml from `oneagent-k8s manifests --out OUT EXTRA...`."""
    subprocess.run([k8s, "manifests", "--out", out, *extra], check=True)
    with open(os.path.join(out, "50-collector.yaml")) as f:
        for line in f:
            # The emitter writes every string double-quoted with JSON escapes.
            if line.startswith("  config.yaml: "):
                return json.loads(line[len("  config.yaml: "):])
    raise Failed(f"no config.yaml in {out}/50-collector.yaml")


def without_receiver(config, name):
    """`config` without receiver `name` (its block and its mentions in pipelines)."""
    lines, out, skipping = config.splitlines(keepends=True), [], False
    for line in lines:
        if line == f"  {name}:\n":
            skipping = True
            # The comment line just above belongs to the block.
            if out and out[-1].startswith("  #"):
                out.pop()
            continue
        if skipping and (line.startswith("    ") or line.startswith("  #")):
            continue
        skipping = False
        out.append(line.replace(f", {name}]", "]"))
    result = "".join(out)
    check(name not in result, f"{name} still in the configuration")
    return result


def replace_section(config, section, body):
    """`config` with the top-level `section:` block replaced by `body` (indented lines)."""
    out, skipping = [], False
    for line in config.splitlines(keepends=True):
        if line == f"{section}:\n":
            out.append(line + body)
            skipping = True
            continue
        if skipping and (line.startswith(" ") or line.startswith("#")):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def validate(otelcol, path, env):
    return subprocess.run([otelcol, "validate", f"--config={path}"], env=env,
                          capture_output=True, text=True, timeout=120)


def loopback():
    """A random 127.x address: the fixed ports 4317/4318 cannot collide with other processes."""
    return f"127.{random.randint(16, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


def wait_port(host, port, proc, log, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failed(f"collector exited {proc.returncode}: {read(log)[-3000:]}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise Failed(f"collector not listening on {host}:{port}: {read(log)[-3000:]}")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def attrs(kv_list):
    return {a["key"]: next(iter(a["value"].values())) for a in kv_list}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--otelcol", default=None)
    ap.add_argument("--oneagent-k8s", dest="k8s", default=os.path.join(REPO, "target/debug/oneagent-k8s"))
    args = ap.parse_args()
    otelcol = args.otelcol or subprocess.run(
        ["bash", os.path.join(REPO, "scripts/otelcol-build")], check=True, capture_output=True,
        text=True).stdout.strip()
    check_exists = [(otelcol, "scripts/otelcol-build"), (args.k8s, "cargo build -p oneagent-k8s"),
                    (PY_AGENT, "bash tests/e2e/install_agents.sh")]
    for path, how in check_exists:
        if not os.path.exists(path):
            print(f"FAILED: {path} is missing (run {how})", file=sys.stderr)
            return 1
    tmp = tempfile.mkdtemp(prefix="oneagent-collector-")
    host = loopback()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ONEAGENT_NODE_IP": host,
           "K8S_NODE_NAME": "node-a"}
    print(f"NOTE: the test build has no `{NOT_BUILT}` receiver (its module is not served by the Go "
          f"module proxy); the generated configurations are validated without that one receiver")

    def accepted(config, name):
        path = f"{tmp}/{name}.yaml"
        with open(path, "w") as f:
            f.write(config)
        r = validate(otelcol, path, env)
        check(r.returncode == 0, f"validate exited {r.returncode}: {r.stderr[-3000:]}")

    @test("validate: the generated configuration (debug exporter) is accepted by the collector")
    def _():
        config = without_receiver(collector_config(args.k8s, f"{tmp}/debug"), NOT_BUILT)
        check("debug:" in config and "NO BACKEND CONFIGURED" in config, config)
        accepted(config, "debug")

    @test("validate: --backend URL --backend-header K=V gives an otlphttp exporter with headers")
    def _():
        config = without_receiver(collector_config(
            args.k8s, f"{tmp}/backend", "--backend", "https://otlp.example:4318",
            "--backend-header", "Authorization=Bearer t0k3n", "--backend-header", "X-Tenant=shop"),
            NOT_BUILT)
        for want in ['endpoint: "https://otlp.example:4318"', '"Authorization": "Bearer t0k3n"',
                     '"X-Tenant": "shop"', "exporters: [otlphttp]"]:
            check(want in config, f"{want!r} not in\n{config}")
        check("debug:" not in config, config)
        accepted(config, "backend")

    @test("validate: refuses a configuration naming a component that does not exist")
    def _():
        config = without_receiver(collector_config(args.k8s, f"{tmp}/bad"), NOT_BUILT)
        path = f"{tmp}/bad.yaml"
        with open(path, "w") as f:
            f.write(config.replace("exporters: [debug]", "exporters: [nonexistent]", 1))
        r = validate(otelcol, path, env)
        check(r.returncode != 0, "validate accepted an unknown exporter")
        check("nonexistent" in r.stderr, r.stderr[-2000:])

    @test("run: a real instrumented Python process sends OTLP/HTTP; the file exporter has its span and log")
    def _():
        config = without_receiver(collector_config(args.k8s, f"{tmp}/run"), NOT_BUILT)
        out = f"{tmp}/out.json"
        config = replace_section(config, "exporters", f"  file:\n    path: {out}\n    format: json\n")
        config = config.replace("exporters: [debug]", "exporters: [file]")
        # k8sattributes needs an API server (in-cluster service account); find out whether the
        # collector starts with it here, else run without it (its configuration is validated above).
        path = f"{tmp}/run.yaml"
        with open(path, "w") as f:
            f.write(config)
        log = f"{tmp}/otelcol.log"

        def start():
            proc = subprocess.Popen([otelcol, f"--config={path}"], env=env, stdout=open(log, "w"),
                                    stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if "Everything is ready" in read(log):
                    return proc
                if "Could not initialize kube client" in read(log):
                    break
                time.sleep(0.2)
            proc.kill()
            proc.wait()
            return None

        proc = start()
        if proc is None:
            why = [line for line in read(log).splitlines() if "k8s config" in line]
            print(f"NOTE: the collector does not start with k8sattributes and no API server here "
                  f"({why[0][-120:] if why else read(log)[-300:]}); running without it")
            config = config.replace("processors: [memory_limiter, k8sattributes, batch]",
                                    "processors: [memory_limiter, batch]")
            check("k8sattributes, batch" not in config, config)
            with open(path, "w") as f:
                f.write(config)
            proc = start()
            check(proc is not None, f"the collector did not start: {read(log)[-3000:]}")
        try:
            wait_port(host, 4318, proc, log)
            wait_port(host, 4317, proc, log)
            app_env = {
                "PATH": env["PATH"],
                "PYTHONPATH": f"{PY_AGENT}/opentelemetry/instrumentation/auto_instrumentation:{PY_AGENT}",
                "OTEL_SERVICE_NAME": "shop-py",
                # As the webhook sets it: the collector's address is the node's.
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{host}:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.uid=0f0e0d0c-1111-2222-3333-444455556666,"
                                            "k8s.namespace.name=shop,k8s.container.name=app",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
            }
            r = subprocess.run([PYTHON, os.path.join(REPO, "tests/collector/app.py")], env=app_env,
                               capture_output=True, text=True, timeout=120)
            check(r.returncode == 0 and "DONE" in r.stdout, f"app: {r.returncode} {r.stderr[-3000:]}")
            spans, logs = [], []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (spans and logs):
                spans, logs = [], []
                for line in read(out).splitlines():
                    doc = json.loads(line)
                    for rs in doc.get("resourceSpans", []):
                        res = attrs(rs["resource"].get("attributes", []))
                        spans += [(res, s) for ss in rs.get("scopeSpans", []) for s in ss["spans"]]
                    for rl in doc.get("resourceLogs", []):
                        res = attrs(rl["resource"].get("attributes", []))
                        logs += [(res, lr) for sl in rl.get("scopeLogs", []) for lr in sl["logRecords"]]
                time.sleep(0.3)
            check(spans, f"no span in {out}: {read(out)[:2000]} {read(log)[-2000:]}")
            check(logs, f"no log record in {out}: {read(out)[:2000]}")
            for res, _ in spans + logs:
                check(res.get("service.name") == "shop-py", res)
                check(res.get("k8s.pod.uid") == "0f0e0d0c-1111-2222-3333-444455556666", res)
                check(res.get("k8s.namespace.name") == "shop", res)
            client = [s for _, s in spans if s.get("kind") == 3]
            check(any(attrs(s.get("attributes", [])).get("http.response.status_code",
                      attrs(s.get("attributes", [])).get("http.status_code")) in (200, "200")
                      for s in client), f"no urllib client span with status 200: {client}")
            check(any(lr.get("body", {}).get("stringValue") == "order checked out" for _, lr in logs),
                  f"no 'order checked out' log record: {logs}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    passed = failed = 0
    for name, fn in results:
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"FAIL {name}\n  {type(e).__name__}: {e}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
