#!/usr/bin/python3
"""End-to-end tests of system-wide injection through /etc/ld.so.preload (issue 4).

Run as root from the repository root: `python3 tests/e2e/run.py` (scripts/test does, after
building the library and the daemon and installing the agents with tests/e2e/install_agents.sh).

The driver re-executes itself inside `unshare --mount --propagation private` and mounts overlays
over /etc, /var and /run there (upper and work directories in a temporary directory), so the
/etc/ld.so.preload, /var/lib/oneagent and /run/oneagent it writes exist only in that private
mount namespace and vanish with it; the machine's real /etc, /usr, /var and /run are never
written (tests/support/oneagent_testenv.py, shared with packaging/tests/run.py). oneagentd, on a
private system bus, installs the preload exactly as on a host. Test applications are started plainly (a fixed PATH/HOME/LANG environment, no variable
of ours), exactly as any process on a host with the preload installed.

Prints `PASS name` / `FAIL name: why` per test and a final `N passed, M failed[, K skipped]`;
exits 1 if anything failed.
"""

import argparse
import gzip
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests/support"))
import oneagent_testenv as testenv  # noqa: E402

AGENTS = os.path.join(REPO, "target/e2e-agents/oneagent/agents")
PY_AGENT = os.path.join(AGENTS, "python")
NODE_AGENT = os.path.join(AGENTS, "nodejs")
NODE_REGISTER = os.path.join(
    NODE_AGENT, "node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js"
)
# The real Java agents from Maven Central (install_agents.sh).
OTEL_JAVA_JAR = os.path.join(AGENTS, "java/opentelemetry-javaagent.jar")
SKYWALKING_JAR = os.path.join(AGENTS, "skywalking/skywalking-agent.jar")
LIB_BUILT = os.path.join(REPO, "preload/lib/target/release/liboneagent_preload.so")
DAEMON = os.path.join(REPO, "target/debug/oneagentd")
CTL = os.path.join(REPO, "target/debug/oneagentctl")
PYTHON = "/usr/bin/python3"
PRELOAD_FILE = "/etc/ld.so.preload"
STATE_DIR = "/var/lib/oneagent"
RUNTIME_DIR = "/run/oneagent"
SNAPSHOT = os.path.join(STATE_DIR, "preload.snapshot")
MOUNTS = ("/etc", "/var", "/run")
PLAIN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/root", "LANG": "C.UTF-8"}
OURS = [
    "PYTHONPATH",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_RESOURCE_ATTRIBUTES",
]


class Skip(Exception):
    pass


def host_name():
    with open("/proc/sys/kernel/hostname") as f:
        return f.read().strip()


def run(argv, env=None, timeout=60, **kw):
    """Runs argv with the plain environment (plus `env`), returns (code, stdout, stderr)."""
    e = dict(PLAIN_ENV)
    e.update(env or {})
    p = subprocess.run(argv, env=e, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, **kw)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def env_lines(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def sh(*argv):
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


# --- the snapshot encoder (fallback while the daemon does not compile snapshots) --------------


# --- the fixture ------------------------------------------------------------------------------


class Fixture:
    def __init__(self, tmp):
        self.tmp = tmp
        self.lib = os.path.join(tmp, "lib/oneagent/liboneagent_preload.so")
        self.bin = os.path.join(tmp, "bin")
        self.apps = os.path.join(tmp, "apps")
        self.jar = os.path.join(tmp, "oneagent/agents/java/test-agent.jar")
        self.procs = []
        self.receiver = None
        self.bus_address = None
        self.daemon = None
        self.baseline = {}

    # Fixtures built before the preload is active (compilers then run unpreloaded, and faster).
    def build(self):
        for d in (self.bin, self.apps, os.path.dirname(self.lib), os.path.dirname(self.jar)):
            os.makedirs(d, exist_ok=True)
        for d in (self.tmp, os.path.join(self.tmp, "lib"), os.path.join(self.tmp, "oneagent")):
            os.chmod(d, 0o755)
        shutil.copyfile(LIB_BUILT, self.lib)
        os.chmod(self.lib, 0o755)
        src = os.path.join(HERE, "apps")
        for f in ("pyshop.py", "nodeshop.js", "printenv.py", "printenv.js"):
            shutil.copy(os.path.join(src, f), self.apps)
        def cc(out, source, *flags, libs=()):
            sh("gcc", *flags, "-O1", "-o", out, os.path.join(src, source), *libs)

        cc(os.path.join(self.bin, "spawner"), "spawner.c")
        cc(os.path.join(self.bin, "printenv-static"), "printenv.c", "-static")
        os.makedirs(os.path.join(self.bin, "suid"), exist_ok=True)
        os.makedirs(os.path.join(self.bin, "plain"), exist_ok=True)
        # Named like a runtime so that the library takes its full path (it is "python3 app.py").
        cc(os.path.join(self.bin, "suid/python3"), "printenv.c")
        shutil.copy(os.path.join(self.bin, "suid/python3"), os.path.join(self.bin, "plain/python3"))
        for d in (self.bin, os.path.join(self.bin, "suid"), os.path.join(self.bin, "plain")):
            os.chmod(d, 0o755)
        os.chmod(os.path.join(self.bin, "suid/python3"), 0o4755)
        cc(os.path.join(self.tmp, "other.so"), "other.c", "-shared", "-fPIC", "-nostdlib")
        cc(os.path.join(self.tmp, "needed.so"), "needed.c", "-shared", "-fPIC", libs=["-lm"])
        needed = subprocess.run(["readelf", "-d", os.path.join(self.tmp, "needed.so")], capture_output=True, text=True).stdout
        check("(NEEDED)" in needed, f"needed.so has no DT_NEEDED:\n{needed}")
        cc(os.path.join(self.tmp, "noisy.so"), "noisy.c", "-shared", "-fPIC", "-nostdlib")
        with open(os.path.join(self.tmp, "not-elf.so"), "w") as f:
            f.write("this is not an ELF object\n")
        gocache = os.path.join(REPO, "target/e2e-cache/go")
        os.makedirs(gocache, exist_ok=True)
        subprocess.run(
            # The toolchain by absolute path: the build runs with the plain PATH, and Go may live
            # outside it (/usr/local/go/bin).
            [shutil.which("go") or "go", "build", "-buildmode=pie", "-o", os.path.join(self.bin, "gopie/python3"), os.path.join(src, "gomain.go")],
            check=True,
            env=dict(PLAIN_ENV, GOCACHE=gocache, GOPATH=os.path.join(gocache, "gopath"), CGO_ENABLED="0", GO111MODULE="off"),
        )
        classes = os.path.join(self.tmp, "classes")
        sh("javac", "-d", classes, os.path.join(src, "TestAgent.java"), os.path.join(src, "App.java"))
        manifest = os.path.join(self.tmp, "MANIFEST.MF")
        with open(manifest, "w") as f:
            f.write("Premain-Class: TestAgent\n")
        sh("jar", "cfm", self.jar, manifest, "-C", classes, "TestAgent.class")
        self.classes = classes
        # shop.jar: the JDK-only HTTP service for the real Java agents.
        shop_classes = os.path.join(self.tmp, "shop-classes")
        sh("javac", "-d", shop_classes, os.path.join(src, "Shop.java"))
        with open(os.path.join(self.tmp, "SHOP.MF"), "w") as f:
            f.write("Main-Class: Shop\n")
        self.shop_jar = os.path.join(self.apps, "shop.jar")
        sh("jar", "cfm", self.shop_jar, os.path.join(self.tmp, "SHOP.MF"), "-C", shop_classes, ".")
        subprocess.run(["chmod", "-R", "a+rX", self.tmp], check=True)

    def start_receiver(self):
        sys.path.insert(0, PY_AGENT)
        sys.path.insert(0, HERE)
        import otlp_receiver

        self.receiver = otlp_receiver.Receiver()

    def config_text(self, library=None, java=None, java_agent="opentelemetry", skywalking_backend="127.0.0.1:11800"):
        return (
            "[injection]\n"
            "enabled = true\n"
            f'library = "{library or self.lib}"\n'
            f'preload_file = "{PRELOAD_FILE}"\n'
            f'java_agent = "{java_agent}"\n'
            "[exporter]\n"
            f'otlp_endpoint = "{self.receiver.url}"\n'
            f'skywalking_backend = "{skywalking_backend}"\n'
            "[agents]\n"
            f'java = "{java or self.jar}"\n'
            f'java_skywalking = "{SKYWALKING_JAR}"\n'
            f'python = "{PY_AGENT}"\n'
            f'nodejs = "{NODE_REGISTER}"\n'
        )

    def write_config(self, library=None, **kw):
        path = os.path.join(self.tmp, "oneagent.toml")
        with open(path, "w") as f:
            f.write(self.config_text(library, **kw))
        return path

    # -- D-Bus and the daemon -----------------------------------------------------------------

    def start_bus(self):
        p, self.bus_address = testenv.start_private_bus(os.path.join(self.tmp, "bus"),
                                                        os.path.join(REPO, "systemd/io.oneagent.Agent1.conf"))
        self.procs.append(p)

    def start_daemon(self, config):
        log = open(os.path.join(self.tmp, f"oneagentd-{len(self.procs)}.log"), "w")
        p = subprocess.Popen(
            [DAEMON, "--config", config, "--state-dir", STATE_DIR, "--runtime-dir", RUNTIME_DIR],
            env=dict(PLAIN_ENV, DBUS_SYSTEM_BUS_ADDRESS=self.bus_address, ONEAGENT_LOG="debug"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(p)
        self.daemon = p
        self.daemon_log = log.name
        return p

    def stop_daemon(self):
        testenv.stop(self.daemon, 10)
        self.daemon = None

    def daemon_log_tail(self):
        return testenv.tail(getattr(self, "daemon_log", None))

    def ctl(self, *args):
        return run([CTL, *args], env={"DBUS_SYSTEM_BUS_ADDRESS": self.bus_address or ""})

    def install_preload(self):
        """Makes /etc/ld.so.preload list the library, through the daemon."""
        self.start_bus()
        self.start_daemon(self.write_config())
        wait_until(lambda: preload_entries().count(self.lib) == 1 and os.path.exists(SNAPSHOT), 20,
                   lambda: f"the daemon did not install the preload; log:\n{self.daemon_log_tail()}")

    def cleanup(self):
        self.stop_daemon()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.receiver:
            self.receiver.stop()


def preload_entries():
    try:
        with open(PRELOAD_FILE) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def wait_until(pred, timeout, msg):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(msg() if callable(msg) else msg)


# --- tests ------------------------------------------------------------------------------------

TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn

    return deco


# The safety matrix: each command is run before the preload is installed (baseline) and under it.
def matrix(fx):
    b = fx.bin
    py_script = os.path.join(fx.apps, "printenv.py")
    return [
        ("ls /", ["ls", "/"], {}),
        ("cat", ["cat", "/etc/hostname", "/etc/os-release"], {}),
        ("echo", ["echo", "hello", "world"], {}),
        ("true", ["true"], {}),
        ("false", ["false"], {}),
        ("sh -c", ["sh", "-c", "echo sh; echo err >&2; exit 3"], {}),
        ("bash -c", ["bash", "-c", "echo $((1+2)); exit 4"], {}),
        ("env | sort", ["sh", "-c", "env | sort"], {}),
        ("python3 -c", [PYTHON, "-c", "import sys; print(sys.version_info[:2]); sys.exit(5)"], {}),
        ("python3 -c subprocess", [PYTHON, "-c", "import subprocess; print(subprocess.run(['echo', 'child']).returncode)"], {}),
        ("java -version", ["java", "-version"], {}),
        ("node -v", ["node", "-v"], {}),
        ("perl -e", ["perl", "-e", "print qq(perl ok\\n); exit 5"], {}),
        ("static binary", [os.path.join(b, "printenv-static"), "app.py"], {}),
        ("Go PIE named python3", [os.path.join(b, "gopie/python3"), "app.py"], {}),
        ("posix_spawn echo", [os.path.join(b, "spawner"), "spawn", "echo", "spawned"], {}),
        ("posix_spawn sh exit 9", [os.path.join(b, "spawner"), "spawn", "sh", "-c", "exit 9"], {}),
        ("execvp echo", [os.path.join(b, "spawner"), "execvp", "echo", "exec'd"], {}),
        ("execvp sh exit 9", [os.path.join(b, "spawner"), "execvp", "sh", "-c", "exit 9"], {}),
        (
            "setuid program as uid 65534 (AT_SECURE)",
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", os.path.join(b, "suid/python3"), py_script],
            {},
        ),
    ]


def record_baseline(fx):
    check(not os.path.exists(PRELOAD_FILE), "an /etc/ld.so.preload exists before the tests")
    for name, argv, env in matrix(fx):
        fx.baseline[name] = run(argv, env)


def make_safety_test(name, argv, env):
    def t(fx):
        check(fx.lib in preload_entries(), "the preload is not installed")
        got = run(argv, env)
        want = fx.baseline[name]
        check(got == want, f"differs under /etc/ld.so.preload:\n  without: {want!r}\n  with:    {got!r}")

    return t


@test("isolation: overlays on /etc, /var, /run; the host's /etc untouched")
def t_isolation(fx):
    # The parent is outside: the driver exec'd `unshare`, which exec'd this process.
    problems = testenv.isolation_problems(MOUNTS, os.getppid())
    check(not problems, "; ".join(problems))
    probe = "/etc/.oneagent-e2e-probe"
    with open(probe, "w") as f:
        f.write("x")
    # /proc/1/root is pid 1's root in the machine's own mount namespace.
    check(not os.path.exists("/proc/1/root" + probe), "a write to /etc reached the host")
    os.unlink(probe)
    check(os.path.exists("/proc/1/root/etc/ld.so.preload") == HOST_HAD_PRELOAD, "host /etc/ld.so.preload changed")


@test("receiver: decodes OTLP/HTTP traces sent plain, gzip and chunked")
def t_receiver(fx):
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2

    def body(name):
        req = trace_service_pb2.ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add(key="service.name")
        kv.value.CopyFrom(common_pb2.AnyValue(string_value="receiver-selftest"))
        sp = rs.scope_spans.add().spans.add(name=name, kind=2)
        sp.trace_id, sp.span_id = b"\1" * 16, b"\2" * 8
        return req.SerializeToString()

    def post(data, headers):
        req = urllib.request.Request(fx.receiver.url + "/v1/traces", data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            check(r.status == 200, r.status)

    post(body("plain"), {"Content-Type": "application/x-protobuf"})
    post(gzip.compress(body("gzip")), {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    raw = gzip.compress(body("chunked-gzip"))
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(raw[i : i + 7]), raw[i : i + 7]) for i in range(0, len(raw), 7)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", fx.receiver.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks
        )
        check(s.recv(100).startswith(b"HTTP/1.1 200"), "chunked upload refused")
    names = {s.name for s in fx.receiver.wait_for(lambda s: s.service == "receiver-selftest", 5)}
    wait_until(lambda: {s.name for s in fx.receiver.spans if s.service == "receiver-selftest"} >= {"plain", "gzip", "chunked-gzip"},
               5, lambda: f"received {names}")


@test("preload: /etc/ld.so.preload lists the library, the snapshot is in /var/lib/oneagent")
def t_installed(fx):
    check(preload_entries() == [fx.lib], f"entries {preload_entries()}")
    check(os.path.getsize(SNAPSHOT) > 24, "snapshot too small")
    # Any new process maps it (a plain `cat` of its own maps).
    code, out, err = run(["cat", "/proc/self/maps"])
    check("liboneagent_preload.so" in out, "a new process does not map the library")


def serve_one(fx, argv, env, get_path, preamble=None, before_request=None):
    """Starts an HTTP app plainly, sends it one request, waits for it to exit. With a list as
    `preamble`, stdout lines before `LISTENING` are collected there (at most 50) instead of
    failing the start. `before_request`, when given, runs while the app is listening (the app
    exits after its one request)."""
    e = dict(PLAIN_ENV)
    e.update(env)
    p = subprocess.Popen(argv, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fx.procs.append(p)
    line = p.stdout.readline().decode()
    while preamble is not None and line and not line.startswith("LISTENING ") and len(preamble) < 50:
        preamble.append(line)
        line = p.stdout.readline().decode()
    if not line.startswith("LISTENING "):
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"app did not start: {line!r} {err.decode()[-2000:]}")
    port = int(line.split()[1])
    if before_request is not None:
        try:
            before_request()
        except BaseException:
            p.kill()
            p.communicate()
            raise
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{get_path}", timeout=30) as r:
        body = r.read().decode()
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"app did not exit after its request: {err.decode()[-2000:]}")
    check(p.returncode == 0, f"app exit {p.returncode}: {err.decode()[-2000:]}")
    return body, err.decode()


def check_resource(span, service):
    r = span.resource
    check(r.get("service.name") == service, f"service.name {r.get('service.name')!r}")
    check(r.get("host.name") == host_name(), f"host.name {r.get('host.name')!r} (ours: {host_name()!r})")
    sid = r.get("service.instance.id") or ""
    check(sid.startswith(host_name() + "-"), f"service.instance.id {sid!r} is not ours")


def python_app(fx, service, env):
    body, err = serve_one(fx, [PYTHON, os.path.join(fx.apps, "pyshop.py")], env, "/checkout")
    check(body == "checkout:backend-ok", body)
    check(err == "", f"the app's stderr: {err[-2000:]}")
    spans = fx.receiver.wait_for(lambda s: s.service == service and s.kind == "CLIENT", 15)
    check(spans, f"no client span from {service!r}; received {fx.receiver.spans} errors {fx.receiver.errors}")
    check(any("urllib" in s.scope for s in spans), f"spans {spans}")
    check_resource(spans[0], service)


@test("python: a plain `python3 pyshop.py` HTTP app sends spans as service `pyshop`")
def t_python(fx):
    python_app(fx, "pyshop", {})


@test("python: a user-set OTEL_SERVICE_NAME wins")
def t_python_user(fx):
    python_app(fx, "py-user-name", {"OTEL_SERVICE_NAME": "py-user-name"})


def node_app(fx, service, env):
    body, err = serve_one(fx, ["node", os.path.join(fx.apps, "nodeshop.js")], env, "/checkout")
    check(body == "node-ok:/checkout", body)
    spans = fx.receiver.wait_for(lambda s: s.service == service and s.kind == "SERVER", 20)
    check(spans, f"no server span from {service!r}; received {fx.receiver.spans} errors {fx.receiver.errors}; stderr {err[-2000:]}")
    check(any("http" in s.scope for s in spans), f"spans {spans}")
    check_resource(spans[0], service)


@test("node: a plain `node nodeshop.js` HTTP app sends spans as service `nodeshop`")
def t_node(fx):
    node_app(fx, "nodeshop", {})


@test("node: a user-set OTEL_SERVICE_NAME wins, the user's NODE_OPTIONS kept")
def t_node_user(fx):
    node_app(fx, "node-user-name", {"OTEL_SERVICE_NAME": "node-user-name", "NODE_OPTIONS": "--max-old-space-size=256"})


@test("java: the test agent's premain runs, the user's JAVA_TOOL_OPTIONS is kept")
def t_java(fx):
    code, out, err = run(["java", "-cp", fx.classes, "App"], {"JAVA_TOOL_OPTIONS": "-Xmx64m"})
    check(code == 0, err)
    env = env_lines(out)
    check(env["JAVA_TOOL_OPTIONS"] == f"-Xmx64m -javaagent:{fx.jar}", f"JAVA_TOOL_OPTIONS={env['JAVA_TOOL_OPTIONS']}")
    check("ONEAGENT-E2E-JAVAAGENT" in err, f"no premain marker: {err}")
    check(f"Picked up JAVA_TOOL_OPTIONS: -Xmx64m -javaagent:{fx.jar}" in err, err)
    check(env["OTEL_SERVICE_NAME"] == "app", f"OTEL_SERVICE_NAME={env['OTEL_SERVICE_NAME']}")
    check(env["OTEL_RESOURCE_ATTRIBUTES"].startswith(f"host.name={host_name()},"), env["OTEL_RESOURCE_ATTRIBUTES"])


# --- issue 14: the real Java agents -----------------------------------------------------------


def snapshot_has(path):
    try:
        with open(SNAPSHOT, "rb") as f:
            return path.encode() in f.read()
    except OSError:
        return False


class RealJava:
    """Reconfigures the running daemon to inject a real Java agent, restores it after."""

    def __init__(self, fx, java_agent, skywalking_backend="127.0.0.1:11800"):
        self.fx = fx
        self.java_agent = java_agent
        self.backend = skywalking_backend
        self.jar = OTEL_JAVA_JAR if java_agent == "opentelemetry" else SKYWALKING_JAR

    def __enter__(self):
        check(os.path.isfile(self.jar), f"{self.jar} missing: run tests/e2e/install_agents.sh")
        self.fx.write_config(java=OTEL_JAVA_JAR, java_agent=self.java_agent, skywalking_backend=self.backend)
        code, out, err = self.fx.ctl("reload")
        check(code == 0, f"reload: {out} {err}")
        wait_until(lambda: snapshot_has(self.jar) and not snapshot_has(self.fx.jar), 30, "the snapshot names the real agent")
        return self

    def __exit__(self, *exc):
        self.fx.write_config()
        self.fx.ctl("reload")
        wait_until(lambda: snapshot_has(self.fx.jar), 30, "the snapshot names the test agent again")
        return False


@test("java (real OpenTelemetry agent): `java -jar shop.jar` sends SERVER and CLIENT spans as `shop`, the user's JAVA_TOOL_OPTIONS kept and in effect")
def t_java_real_otel(fx):
    with RealJava(fx, "opentelemetry"):
        user = "-Dshop.greeting=hello-from-user"
        body, err = serve_one(fx, ["java", "-jar", fx.shop_jar], {"JAVA_TOOL_OPTIONS": user}, "/checkout")
        # The user's option still applies (the JVM read it), and the agent loaded exactly once.
        check(body.startswith("checkout:backend-ok:hello-from-user:"), body)
        check(f"Picked up JAVA_TOOL_OPTIONS: {user} -javaagent:{OTEL_JAVA_JAR}" in err, err[-2000:])
        check(err.count("opentelemetry-javaagent - version: 2.33.1") == 1, err[-2000:])
        server = fx.receiver.wait_for(lambda s: s.service == "shop" and s.kind == "SERVER", 60)
        check(server, f"no server span from 'shop'; received {fx.receiver.spans} errors {fx.receiver.errors}; stderr {err[-2000:]}")
        client = fx.receiver.wait_for(lambda s: s.service == "shop" and s.kind == "CLIENT", 30)
        check(any("java-http-client" in s.scope for s in client), f"client spans {client}")
        check(any("java-http-server" in s.scope for s in server), f"server spans {server}")
        check(server[0].resource.get("telemetry.distro.name") == "opentelemetry-java-instrumentation", f"resource {server[0].resource}")
        sid = server[0].resource.get("service.instance.id") or ""
        check(sid.startswith(host_name() + "-"), f"service.instance.id {sid!r} is not ours")


@test("java (real SkyWalking agent): `java -jar shop.jar` loads it with SW_AGENT_NAME=shop and connects to the configured backend")
def t_java_real_skywalking(fx):
    # A stand-in backend: a TCP listener that records what the agent's gRPC client sends first.
    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(8)
    backend.settimeout(60)
    port = backend.getsockname()[1]
    try:
        with RealJava(fx, "skywalking", f"127.0.0.1:{port}"):
            logs = os.path.join(fx.tmp, "sw-logs")
            os.makedirs(logs, exist_ok=True)
            # SkyWalking's bootstrap logger prints its first lines to stdout until it has read
            # agent.config and switched to its log file (upstream behaviour, not ours).
            preamble = []
            seen = {}

            def agent_log():
                text = ""
                for name in sorted(os.listdir(logs)):
                    with open(os.path.join(logs, name), errors="replace") as f:
                        text += f.read()
                return text

            def agent_started():
                # SkyWalking's file logger writes from a queue once a second, so its lines are
                # read while the app still runs (it exits right after its one request). The
                # agent's gRPC client dials the backend [exporter] skywalking_backend names.
                wait_until(lambda: "SkyWalking agent version: 9.4.0" in agent_log(), 60, lambda: f"the SkyWalking agent's log never named version 9.4.0: {agent_log()[-3000:]!r}")
                conn, _ = backend.accept()
                conn.settimeout(30)
                seen["first"] = conn.recv(64)
                conn.close()

            body, err = serve_one(fx, ["java", "-jar", fx.shop_jar], {"SW_LOGGING_DIR": logs}, "/checkout", preamble, agent_started)
            check(all(l.startswith(("DEBUG ", "INFO ")) for l in preamble), f"stdout before LISTENING: {preamble}")
            check(body == "checkout:backend-ok:null:shop", body)
            check(f"Picked up JAVA_TOOL_OPTIONS: -javaagent:{SKYWALKING_JAR}" in err, err[-2000:])
            check(any("Config file found in " + os.path.dirname(SKYWALKING_JAR) in l for l in preamble), f"{preamble}")
            # The agent started (its log is where our agent.config takes from the environment).
            check("SkyWalking agent version: 9.4.0" in agent_log(), f"agent log: {agent_log()[-3000:]}")
            first = seen["first"]
            check(first.startswith(b"PRI * HTTP/2.0"), f"the agent sent {first!r}")
    finally:
        backend.close()

# --- issue 13: what peers' test suites check, with real processes -----------------------------


def vendor_libs(fx):
    """Other vendors' preload libraries, by their real install paths under the temporary
    directory (harmless dependency-free objects: the loader maps them, nothing runs)."""
    libs = {}
    for vendor, rel in (
        ("Datadog", "opt/datadog-packages/datadog-apm-inject/stable/inject/launcher.preload.so"),
        ("Dynatrace", "opt/dynatrace/oneagent/agent/lib64/liboneagentproc.so"),
        ("OpenTelemetry", "usr/lib/opentelemetry/libotelinject.so"),
    ):
        path = os.path.join(fx.tmp, "vendors", rel)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.copy(os.path.join(fx.tmp, "other.so"), path)
            subprocess.run(["chmod", "-R", "a+rX", os.path.join(fx.tmp, "vendors")], check=True)
        libs[vendor] = path
    return libs


def runtimes(fx):
    """(name, argv, how to tell it was injected from its output) for real python3, node, java."""
    return [
        ("python3", [PYTHON, os.path.join(fx.apps, "printenv.py")]),
        ("node", ["node", os.path.join(fx.apps, "printenv.js")]),
        ("java", ["java", "-cp", fx.classes, "App"]),
    ]


def injected(name, code, out, err):
    """Whether a printenv run got our agent (and, for Java, whether the agent really loaded)."""
    env = env_lines(out)
    check(code == 0, f"{name}: exit {code}: {err[-2000:]}")
    service = env.get("OTEL_SERVICE_NAME")
    got = service not in (None, "<unset>", "null")
    if name == "java":
        check(got == ("ONEAGENT-E2E-JAVAAGENT" in err), f"java: service {service!r} but stderr {err!r}")
    return got


def explain(fx, env, argv):
    """`oneagentctl --json explain` from the running daemon."""
    args = ["--json", "explain"]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    code, out, err = fx.ctl(*args, "--", *argv)
    check(code == 0, f"explain: {code} {err}")
    import json

    return json.loads(out)


@test("peers: another vendor's variables or preloaded library stand us down (python3, node, java), named in explain")
def t_peers_vendors(fx):
    libs = vendor_libs(fx)
    cases = [
        ({"DD_TRACE_AGENT_URL": "http://127.0.0.1:8126"}, "Datadog: DD_TRACE_AGENT_URL in the environment"),
        ({"DD_TRACE_SAMPLE_RATE": "1"}, "Datadog: DD_TRACE_SAMPLE_RATE in the environment"),
        ({"NEW_RELIC_LICENSE_KEY": "0123456789"}, "New Relic: NEW_RELIC_LICENSE_KEY in the environment"),
        ({"APPDYNAMICS_CONTROLLER_HOST_NAME": "ctl.example"}, "AppDynamics: APPDYNAMICS_CONTROLLER_HOST_NAME in the environment"),
        ({"DT_TENANT": "abc12345"}, "Dynatrace: DT_TENANT in the environment"),
        ({"ELASTIC_APM_SERVER_URL": "http://apm:8200"}, "Elastic: ELASTIC_APM_SERVER_URL in the environment"),
        ({"INSTANA_AGENT_HOST": "10.0.0.1"}, "Instana: INSTANA_AGENT_HOST in the environment"),
        ({"SPLUNK_ACCESS_TOKEN": "t"}, "Splunk: SPLUNK_ACCESS_TOKEN in the environment"),
        ({"CONTRAST__API__URL": "https://app.contrastsecurity.com"}, "Contrast Security: CONTRAST__API__URL in the environment"),
        ({"LD_PRELOAD": libs["Datadog"]}, f"Datadog: {libs['Datadog']} in LD_PRELOAD"),
        ({"LD_PRELOAD": libs["Dynatrace"]}, f"Dynatrace: {libs['Dynatrace']} in LD_PRELOAD"),
        ({"LD_PRELOAD": f"{fx.lib} {libs['OpenTelemetry']}"}, f"OpenTelemetry: {libs['OpenTelemetry']} in LD_PRELOAD"),
    ]
    failures = []
    for env, reason in cases:
        for name, argv in runtimes(fx):
            code, out, err = run(argv, env)
            if injected(name, code, out, err):
                failures.append(f"{name} with {env}: injected ({out!r})")
            ex = explain(fx, env, argv)
            want = f"other agent present: {reason}"
            if ex is not None and (ex["action"], ex["reason_code"], ex["reason"]) != ("skip", "other-agent", want):
                failures.append(f"explain {name} with {env}: {ex['action']} {ex['reason']!r}, want {want!r}")
    # Controls: the vendor's own off switch, tags shared with log shippers, our own library in
    # LD_PRELOAD: injected, and explain says so.
    for env in (
        {"DD_TRACE_AGENT_URL": "http://127.0.0.1:8126", "DD_TRACE_ENABLED": "false"},
        {"DD_ENV": "prod", "DD_SERVICE": "shop", "DD_VERSION": "1"},
        {"LD_PRELOAD": fx.lib},
    ):
        for name, argv in runtimes(fx):
            code, out, err = run(argv, env)
            if not injected(name, code, out, err):
                failures.append(f"{name} with {env}: not injected ({out!r} {err[-500:]!r})")
            ex = explain(fx, env, argv)
            if ex is not None and ex["action"] != "inject":
                failures.append(f"explain {name} with {env}: {ex['reason']!r}")
    check(not failures, "\n  ".join(failures))


@test("peers: our agent counts as configured only as a whole option with our exact path")
def t_peers_exact_tokens(fx):
    failures = []
    java = ["java", "-cp", fx.classes, "App"]
    # Our jar's path inside another option: the agent is added (and really loads), explain agrees.
    bak = f"-Dbackup.agent={fx.jar}.bak"
    code, out, err = run(java, {"JAVA_TOOL_OPTIONS": bak})
    got = env_lines(out).get("JAVA_TOOL_OPTIONS")
    if got != f"{bak} -javaagent:{fx.jar}" or err.count("ONEAGENT-E2E-JAVAAGENT") != 1:
        failures.append(f"java {bak}: JAVA_TOOL_OPTIONS={got!r}, stderr {err!r}")
    ex = explain(fx, {"JAVA_TOOL_OPTIONS": bak}, java)
    if ex is not None and (ex["action"], ex["already_injected"]) != ("inject", False):
        failures.append(f"explain java {bak}: {ex}")
    # Our exact token: nothing added, the agent loads once, explain says already configured.
    ours = f"-Xmx64m -javaagent:{fx.jar}"
    code, out, err = run(java, {"JAVA_TOOL_OPTIONS": ours})
    got = env_lines(out).get("JAVA_TOOL_OPTIONS")
    if got != ours or err.count("ONEAGENT-E2E-JAVAAGENT") != 1:
        failures.append(f"java {ours}: JAVA_TOOL_OPTIONS={got!r}, stderr {err!r}")
    ex = explain(fx, {"JAVA_TOOL_OPTIONS": ours}, java)
    if ex is not None and (ex["action"], ex["already_injected"]) != ("inject", True):
        failures.append(f"explain java {ours}: {ex}")
    # Node: our register path as another option's value is not our --require.
    node = ["node", os.path.join(fx.apps, "printenv.js")]
    title = f"--title={NODE_REGISTER}"
    code, out, err = run(node, {"NODE_OPTIONS": title})
    got = env_lines(out).get("NODE_OPTIONS")
    if got != f"--require {NODE_REGISTER} {title}":
        failures.append(f"node {title}: NODE_OPTIONS={got!r} {err[-500:]!r}")
    code, out, err = run(node, {"NODE_OPTIONS": f"--require={NODE_REGISTER}"})
    got = env_lines(out).get("NODE_OPTIONS")
    if got != f"--require={NODE_REGISTER}":
        failures.append(f"node --require=: NODE_OPTIONS={got!r}")
    # Python: the agent directory alone does not load the agent; its sitecustomize entry does.
    py = [PYTHON, os.path.join(fx.apps, "printenv.py")]
    auto = f"{PY_AGENT}/opentelemetry/instrumentation/auto_instrumentation"
    code, out, err = run(py, {"PYTHONPATH": PY_AGENT})
    got = env_lines(out).get("PYTHONPATH")
    if got != f"{auto}:{PY_AGENT}:{PY_AGENT}":
        failures.append(f"python PYTHONPATH={PY_AGENT}: {got!r}")
    ex = explain(fx, {"PYTHONPATH": PY_AGENT}, py)
    if ex is not None and (ex["action"], ex["already_injected"]) != ("inject", False):
        failures.append(f"explain python PYTHONPATH={PY_AGENT}: {ex}")
    check(not failures, "\n  ".join(failures))


@test("peers: blank NODE_OPTIONS, JAVA_TOOL_OPTIONS, PYTHONPATH count as unset (no stray separators)")
def t_peers_blank(fx):
    failures = []
    auto = f"{PY_AGENT}/opentelemetry/instrumentation/auto_instrumentation"
    for blank in ("   ", "\t", " \t "):
        code, out, err = run(["node", os.path.join(fx.apps, "printenv.js")], {"NODE_OPTIONS": blank})
        got = env_lines(out).get("NODE_OPTIONS")
        if got != f"--require {NODE_REGISTER}":
            failures.append(f"NODE_OPTIONS={blank!r}: {got!r}")
        code, out, err = run(["java", "-cp", fx.classes, "App"], {"JAVA_TOOL_OPTIONS": blank})
        got = env_lines(out).get("JAVA_TOOL_OPTIONS")
        if got != f"-javaagent:{fx.jar}" or f"Picked up JAVA_TOOL_OPTIONS: -javaagent:{fx.jar}\n" not in err:
            failures.append(f"JAVA_TOOL_OPTIONS={blank!r}: {got!r} {err!r}")
        code, out, err = run([PYTHON, os.path.join(fx.apps, "printenv.py")], {"PYTHONPATH": blank})
        got = env_lines(out).get("PYTHONPATH")
        if got != f"{auto}:{PY_AGENT}":
            failures.append(f"PYTHONPATH={blank!r}: {got!r}")
    check(not failures, "\n  ".join(failures))


@test("peers: ONEAGENT_PRELOAD_DISABLE: true spellings turn the library off, false ones do not; explain agrees")
def t_peers_kill_switch(fx):
    failures = []
    for value, off in [("1", True), ("true", True), ("TRUE", True), ("yes", True), ("on", True),
                       ("0", False), ("false", False), ("False", False), ("no", False), ("off", False), ("", False), (" ", False)]:
        env = {"ONEAGENT_PRELOAD_DISABLE": value}
        for name, argv in runtimes(fx):
            code, out, err = run(argv, env)
            if injected(name, code, out, err) == off:
                failures.append(f"{name} ONEAGENT_PRELOAD_DISABLE={value!r}: {'injected' if off else 'not injected'}")
            ex = explain(fx, env, argv)
            want = ("skip", "opted-out") if off else ("inject", "instrumentable")
            if ex is not None and (ex["action"], ex["reason_code"]) != want:
                failures.append(f"explain {name} ONEAGENT_PRELOAD_DISABLE={value!r}: {ex['reason']!r}")
    check(not failures, "\n  ".join(failures))


@test("setuid (AT_SECURE): library mapped through /etc/ld.so.preload, nothing injected; non-setuid control injected")
def t_setuid(fx):
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    code, out, err = run(drop + [os.path.join(fx.bin, "suid/python3"), "maps"])
    env = env_lines(out)
    check(code == 7 and err == "", (code, err))
    check(env["preloaded"] == "yes", "the setuid process does not map the library: AT_SECURE branch not reached")
    check(all(env[k] == "<unset>" for k in ("PYTHONPATH", "OTEL_SERVICE_NAME")), f"setuid process injected: {env}")
    code, out, err = run(drop + [os.path.join(fx.bin, "plain/python3"), "shop.py"])
    env = env_lines(out)
    check(code == 7 and env["OTEL_SERVICE_NAME"] == "shop", f"control not injected: {env} {err}")


@test("spawn paths: Python targets started by posix_spawn, execvp and subprocess are injected")
def t_spawn_targets(fx):
    script = os.path.join(fx.apps, "printenv.py")
    for how in ("spawn", "execvp"):
        code, out, err = run([os.path.join(fx.bin, "spawner"), how, PYTHON, script])
        env = env_lines(out)
        check(code == 0 and err == "", f"{how}: {code} {err}")
        check(f"{PY_AGENT}/opentelemetry/instrumentation/auto_instrumentation" in env["PYTHONPATH"], f"{how}: {env}")
        check(env["OTEL_SERVICE_NAME"] == "printenv", f"{how}: {env}")
    code, out, err = run([PYTHON, "-c", f"import subprocess, sys; sys.stdout.write(subprocess.run([{PYTHON!r}, {script!r}], capture_output=True, text=True).stdout)"])
    env = env_lines(out)
    check(code == 0 and env.get("OTEL_SERVICE_NAME") == "printenv", f"subprocess: {env} {err}")


def snapshot_variants(good):
    v = [("missing", None), ("empty", b"")]
    for n in (8, 24, len(good) // 2, len(good) - 1):
        v.append((f"truncated to {n} bytes", good[:n]))
    for i in (0, 9, 13, 17, 24, 30, len(good) // 2, len(good) - 1):
        b = bytearray(good)
        b[i] ^= 0x5A
        v.append((f"byte {i} corrupted", bytes(b)))
    newer = bytearray(good)
    newer[8:10] = struct.pack("<H", struct.unpack("<H", good[8:10])[0] + 1)
    v.append(("newer version", bytes(newer)))
    return v


@test("bad snapshots: missing, empty, truncated, corrupted, newer → normal start, no output, no injection")
def t_bad_snapshots(fx):
    with open(SNAPSHOT, "rb") as f:
        good = f.read()
    script = os.path.join(fx.apps, "printenv.py")
    node_script = os.path.join(fx.apps, "printenv.js")
    # Positive controls with the good snapshot.
    code, out, err = run([PYTHON, script])
    check(env_lines(out)["OTEL_SERVICE_NAME"] == "printenv", f"control not injected: {out}")
    code, out, err = run(["node", node_script])
    check(env_lines(out)["NODE_OPTIONS"] == f"--require {NODE_REGISTER}", f"control not injected: {out} {err}")
    failures = []
    try:
        for what, data in snapshot_variants(good):
            if data is None:
                os.unlink(SNAPSHOT)
            else:
                with open(SNAPSHOT, "wb") as f:
                    f.write(data)
            for argv in ([PYTHON, script], ["node", node_script]):
                code, out, err = run(argv)
                env = env_lines(out)
                set_ = [k for k in OURS + ["NODE_OPTIONS"] if env.get(k, "<unset>") not in ("<unset>", "undefined")]
                if code != 0 or err or set_:
                    failures.append(f"{what} / {argv[0]}: exit {code}, stderr {err!r}, set {set_}")
    finally:
        with open(SNAPSHOT, "wb") as f:
            f.write(good)
        os.chmod(SNAPSHOT, 0o644)
    check(not failures, "\n  ".join(failures))


# --- /etc/ld.so.preload lifecycle through the daemon and the CLI ------------------------------


def read_preload():
    try:
        with open(PRELOAD_FILE, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def set_preload(content):
    if content is None:
        if os.path.exists(PRELOAD_FILE):
            os.unlink(PRELOAD_FILE)
    else:
        with open(PRELOAD_FILE, "wb") as f:
            f.write(content)


@test("lifecycle: `oneagentctl preload install` twice lists the library once; verify succeeds")
def t_install_twice(fx):
    for _ in range(2):
        code, out, err = fx.ctl("preload", "install")
        check(code == 0, f"install: {code} {out} {err}")
    check(preload_entries().count(fx.lib) == 1, f"entries {preload_entries()}")
    code, out, err = fx.ctl("preload", "verify")
    check(code == 0, f"verify: {code} {out} {err}")


@test("lifecycle: remove deletes the file when ours was the only entry; install brings it back")
def t_remove_only(fx):
    code, out, err = fx.ctl("preload", "remove")
    check(code == 0, f"remove: {code} {out} {err}")
    check(read_preload() is None, f"file left behind: {read_preload()!r}")
    code, out, err = fx.ctl("preload", "install")
    check(code == 0 and preload_entries() == [fx.lib], f"install: {code} {err} {preload_entries()}")


@test("lifecycle: other entries are kept, and remove restores the file byte for byte")
def t_other_entries(fx):
    fx.ctl("preload", "remove")
    other = os.path.join(fx.tmp, "other.so")
    original = f"{other}\n".encode()
    set_preload(original)
    try:
        code, out, err = fx.ctl("preload", "install")
        check(code == 0, f"install: {code} {out} {err}")
        entries = preload_entries()
        check(other in entries and entries.count(fx.lib) == 1, f"entries {entries}")
        code, out, err = fx.ctl("preload", "install")
        check(preload_entries().count(fx.lib) == 1, f"second install: {preload_entries()}")
        # Everything still starts with two preloads listed.
        check(run(["true"]) == (0, "", ""), "true fails with two preloads")
        code, out, err = fx.ctl("preload", "remove")
        check(code == 0, f"remove: {code} {out} {err}")
        check(read_preload() == original, f"not restored: {read_preload()!r} != {original!r}")
    finally:
        set_preload(None)
        fx.ctl("preload", "install")
    check(preload_entries() == [fx.lib], f"entries {preload_entries()}")


def refused_library(fx, bad):
    """A daemon configured with `bad` as its library never writes it into /etc/ld.so.preload,
    neither at start nor on `oneagentctl preload install`; `verify` fails."""
    fx.stop_daemon()
    set_preload(None)
    try:
        fx.start_daemon(fx.write_config(library=bad))
        # The daemon installs at start: wait for it to be ready (answers on the bus), then look.
        wait_until(lambda: fx.daemon.poll() is not None or fx.ctl("status")[0] == 0, 20, "daemon not ready")
        check(bad not in preload_entries(), f"written at start: {read_preload()!r}")
        if fx.daemon.poll() is None:
            code, out, err = fx.ctl("preload", "install")
            check(code != 0, f"`preload install` of {bad} succeeded: {out} {err}")
            check(bad not in preload_entries(), f"written by `preload install`: {read_preload()!r}")
            code, out, err = fx.ctl("preload", "verify")
            check(code != 0, f"`preload verify` of {bad} succeeded: {out}")
        check(run(["true"]) == (0, "", ""), "true fails")
    finally:
        # Back to the suite's state (only our library listed), whatever happened above.
        fx.stop_daemon()
        set_preload(None)
        fx.start_daemon(fx.write_config())
        reinstalled = wait_for(lambda: preload_entries() == [fx.lib], 20)
    check(reinstalled, f"not reinstalled: {read_preload()!r}; log:\n{fx.daemon_log_tail()}")


@test("lifecycle: a library that is not ELF is never written")
def t_refuse_non_elf(fx):
    refused_library(fx, os.path.join(fx.tmp, "not-elf.so"))


@test("lifecycle: a library with DT_NEEDED is never written")
def t_refuse_needed(fx):
    refused_library(fx, os.path.join(fx.tmp, "needed.so"))


@test("lifecycle: a library whose constructor prints (fails the trial runs) is never written")
def t_refuse_noisy(fx):
    if os.uname().machine != "x86_64":
        raise Skip("noisy.c's constructor is x86_64 only")
    refused_library(fx, os.path.join(fx.tmp, "noisy.so"))


@test("lifecycle: oneagentd keeps other entries at start; remove restores the file byte for byte")
def t_daemon_start_keeps_entries(fx):
    other = os.path.join(fx.tmp, "other.so")
    original = f"{other}\n".encode()
    fx.stop_daemon()
    set_preload(original)
    try:
        fx.start_daemon(fx.write_config())
        wait_until(lambda: fx.lib in preload_entries(), 20, lambda: f"not installed; log:\n{fx.daemon_log_tail()}")
        entries = preload_entries()
        check(entries.count(other) == 1 and entries.count(fx.lib) == 1 and len(entries) == 2, f"entries {entries}")
        code, out, err = fx.ctl("preload", "remove")
        check(code == 0, f"remove: {code} {out} {err}")
        check(read_preload() == original, f"not restored: {read_preload()!r} != {original!r}")
    finally:
        set_preload(None)
        fx.ctl("preload", "install")
    check(preload_entries() == [fx.lib], f"entries {preload_entries()}")


@test("lifecycle: a missing library is never written")
def t_refuse_missing(fx):
    refused_library(fx, os.path.join(fx.tmp, "does-not-exist.so"))


# --- driver -----------------------------------------------------------------------------------

HOST_HAD_PRELOAD = os.path.exists("/proc/1/root/etc/ld.so.preload")


def inside(args):
    tmp = tempfile.mkdtemp(prefix="oneagent-e2e-")
    os.chmod(tmp, 0o755)
    testenv.mount_overlays(tmp, MOUNTS)
    if os.path.exists(PRELOAD_FILE):  # the host has one: start from none, inside only
        os.unlink(PRELOAD_FILE)
    fx = Fixture(tmp)
    passed = failed = skipped = 0
    started = time.monotonic()
    try:
        fx.build()
        fx.start_receiver()
        record_baseline(fx)
        fx.install_preload()
        print(f"e2e: setup {time.monotonic() - started:.1f}s", flush=True)
        tests = list(TESTS)
        # The safety matrix after the injection tests, before the lifecycle ones.
        at = next(i for i, (n, _) in enumerate(tests) if n.startswith("setuid"))
        tests[at:at] = [(f"safety: {n}", make_safety_test(n, a, e)) for n, a, e in matrix(fx)]
        for name, fn in tests:
            if args.only and args.only not in name:
                continue
            t0 = time.monotonic()
            try:
                fn(fx)
                passed += 1
                print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
            except Skip as e:
                skipped += 1
                print(f"SKIP {name}: {e}", flush=True)
            except Exception as e:
                failed += 1
                detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
                print(f"FAIL {name}: {detail}", flush=True)
    except Exception:
        failed += 1
        print(f"FAIL setup: {traceback.format_exc()}", flush=True)
        print(fx.daemon_log_tail())
    finally:
        fx.cleanup()
        testenv.unmount(MOUNTS)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"e2e: {time.monotonic() - started:.1f}s")
    line = f"{passed} passed, {failed} failed"
    print(line + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only", help="run only the tests whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.inside:
        sys.exit(inside(args))
    if os.geteuid() != 0:
        sys.exit("tests/e2e/run.py needs root (mount namespaces, overlays, setuid)")
    for path, how in ((LIB_BUILT, "cargo build --release --manifest-path preload/lib/Cargo.toml"),
                      (NODE_REGISTER, "bash tests/e2e/install_agents.sh"),
                      (os.path.join(PY_AGENT, "opentelemetry"), "bash tests/e2e/install_agents.sh")):
        if not os.path.exists(path):
            sys.exit(f"{path} missing: run `{how}` first")
    built = os.path.getmtime(LIB_BUILT)
    for d in ("preload/lib/src", "preload/core/src", "preload/core/src/detect"):
        for f in os.listdir(os.path.join(REPO, d)):
            if os.path.getmtime(os.path.join(REPO, d, f)) > built:
                sys.exit(f"{d}/{f} is newer than {LIB_BUILT}: rebuild with "
                         "`cargo build --release --manifest-path preload/lib/Cargo.toml`")
    args_inside = ["--only", args.only] if args.only else []
    if args.keep:
        args_inside.append("--keep")
    testenv.reexec_in_private_mount_namespace(PYTHON, __file__, args_inside)


if __name__ == "__main__":
    main()
