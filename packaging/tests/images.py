#!/usr/bin/env python3
"""The Kubernetes add-on's two images, built and run from the release build.

    python3 packaging/tests/images.py [--bin-dir target/release] [--preload-lib FILE]

Base: a Debian bookworm made with `debootstrap --variant=minbase`, cached in
target/image-test/bookworm-minbase (the release binaries link against the build host's C library,
as packaging/k8s/Containerfile says). The build context comes from packaging/k8s/build-images
(which strips the binaries; their sizes are printed and checked).

With a container engine that can run containers here (podman; where it may not raise resource
limits — no CAP_SYS_RESOURCE — a containers.conf of ours (CONTAINERS_CONF) makes it use runc and
nofile/nproc limits below the current ones), both images are built with build-images (`--base`
the imported debootstrap image), `--version` runs in each, and the checks below run in real
containers of the node image (`podman run`; the init container's install with no capabilities and
a read-only root, oneagentd privileged, as the DaemonSet runs them). Where no engine can run a
container (this prints why), the engine part is SKIPPED with a loud banner (scripts/test repeats
it) and the node image's file system is assembled from the base and the Containerfile's COPY lines
instead, so its contents are still exercised, in a chroot with private mount and pid namespaces:

- `--version` of oneagentd, oneagentctl and oneagent-k8s (the image's C library runs them);
- `oneagentd --check-config` on the ConfigMap that `oneagent-k8s manifests` generates;
- the init container's install-node-agents, twice (the second changes nothing);
- oneagentd with no system bus and the DaemonSet's --peer-socket, answering `oneagentctl status`
  (ONEAGENT_PEER_SOCKET, as in the DaemonSet's container).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
CACHE = os.path.join(REPO, "target/image-test")
BASE = os.path.join(CACHE, f"{SUITE}-minbase")
STAMP = os.path.join(BASE, ".oneagent-image")
STAMP_TEXT = f"debootstrap --variant=minbase {SUITE} {MIRROR}\n"
BASE_IMAGE = f"localhost/oneagent-test-base:{SUITE}"
REGISTRY = "localhost/oneagent-test"
TAG = "test"
PEER_SOCKET = "/run/oneagent-bus/agent.sock"
# nofile and nproc in the containers when the engine may not raise limits (see engine_problem).
ULIMIT = 4096
# Stripped release binaries stay under these sizes (unstripped oneagent-k8s was 146 MB).
MAX_MB = {"oneagent-k8s": 40, "oneagentd": 30, "oneagentctl": 30}


class Failure(Exception):
    pass


def run(argv, timeout=600, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {p.returncode}:\n{(p.stdout + p.stderr)[-3000:]}")
    return p


def workspace_version():
    text = open(os.path.join(REPO, "Cargo.toml")).read()
    section = text.split("[workspace.package]", 1)[1]
    return re.search(r'^version = "([^"]+)"', section, re.M).group(1)


def ensure_base():
    if os.path.exists(STAMP) and open(STAMP).read() == STAMP_TEXT:
        return
    shutil.rmtree(BASE, ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    print(f"    debootstrap {SUITE} into {os.path.relpath(BASE, REPO)} (cached for later runs)", flush=True)
    run(["debootstrap", "--variant=minbase", SUITE, BASE, MIRROR], timeout=1200)
    with open(STAMP, "w") as f:
        f.write(STAMP_TEXT)


def stage_context(ctx, bin_dir, preload_lib):
    run(["bash", os.path.join(REPO, "packaging/k8s/build-images"), "--context-only", ctx,
         "--bin-dir", bin_dir, "--preload-lib", preload_lib])
    sizes = {}
    for name in ("oneagentd", "oneagentctl", "oneagent-k8s"):
        path = os.path.join(ctx, "bin", name)
        sections = run(["readelf", "-S", "-W", path]).stdout
        # (.debug_gdb_scripts is an allocated section rustc adds; strip keeps it.)
        if any(s in sections for s in (".debug_info", ".debug_line", ".symtab")):
            raise Failure(f"{name} in the build context is not stripped")
        sizes[name] = os.path.getsize(path)
        unstripped = os.path.getsize(os.path.join(bin_dir, name))
        print(f"    {name}: {unstripped / 1e6:.1f} MB built, {sizes[name] / 1e6:.1f} MB in the image", flush=True)
        if sizes[name] > MAX_MB[name] * 1e6:
            raise Failure(f"{name} is {sizes[name] / 1e6:.1f} MB in the image (limit {MAX_MB[name]} MB)")
    return sizes


def engine_problem():
    """None if podman can run a container of the base image here, else why not."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    have = run(["podman", "image", "exists", BASE_IMAGE], check=False)
    if have.returncode != 0:
        tar = subprocess.Popen(["tar", "-C", BASE, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["podman", "import", "-", BASE_IMAGE], stdin=tar.stdout,
                             capture_output=True, text=True, timeout=600)
        tar.wait()
        if imp.returncode != 0:
            return f"podman import failed: {imp.stderr.strip()[-500:]}"
    probe = run(["podman", "run", "--rm", BASE_IMAGE, "/bin/true"], check=False, timeout=300)
    if probe.returncode == 0:
        return None
    first = f"`podman run {BASE_IMAGE} /bin/true` failed: {probe.stderr.strip()[-500:]}"
    # Where the engine may not raise resource limits (no CAP_SYS_RESOURCE in the bounding set,
    # as on this CI machine: crun and runc fail to set RLIMIT_NOFILE/RLIMIT_NPROC), limits at or
    # below the current ones need no privilege; crun also refuses hybrid cgroups where runc
    # copes. A containers.conf of our own (CONTAINERS_CONF, for every podman this process and
    # build-images run) says so.
    conf = os.path.join(CACHE, "containers.conf")
    with open(conf, "w") as f:
        f.write("# Written by packaging/tests/images.py: limits the engine may set without\n"
                "# CAP_SYS_RESOURCE, and runc.\n[containers]\n"
                f'default_ulimits = ["nofile={ULIMIT}:{ULIMIT}", "nproc={ULIMIT}:{ULIMIT}"]\n'
                '[engine]\nruntime = "runc"\n')
    os.environ["CONTAINERS_CONF"] = conf
    probe = run(["podman", "run", "--rm", BASE_IMAGE, "/bin/true"], check=False, timeout=300)
    if probe.returncode == 0:
        print(f"    podman runs containers with runc and nofile/nproc limits of {ULIMIT} "
              f"(CONTAINERS_CONF); without them: {first}", flush=True)
        return None
    del os.environ["CONTAINERS_CONF"]
    return f"{first}; with runc and lowered limits too: {probe.stderr.strip()[-500:]}"


def build_with_engine(bin_dir, preload_lib, version, rootfs):
    run(["bash", os.path.join(REPO, "packaging/k8s/build-images"), "--engine", "podman",
         "--base", BASE_IMAGE, "--registry", REGISTRY, "--tag", TAG,
         "--bin-dir", bin_dir, "--preload-lib", preload_lib], timeout=1800)
    for name in ("oneagent-k8s", "oneagentd"):
        image = f"{REGISTRY}/{name}:{TAG}"
        out = run(["podman", "run", "--rm", image, "--version"]).stdout
        if version not in out:
            raise Failure(f"{image} --version printed {out!r}, not {version}")
        size = run(["podman", "image", "inspect", "--format", "{{.Size}}", image]).stdout.strip()
        print(f"    image {image}: {int(size) / 1e6:.1f} MB", flush=True)
    cid = run(["podman", "create", f"{REGISTRY}/oneagentd:{TAG}"]).stdout.strip()
    try:
        tar = subprocess.Popen(["podman", "export", cid], stdout=subprocess.PIPE)
        run(["tar", "-C", rootfs, "-x"], stdin=tar.stdout)
        tar.wait()
    finally:
        run(["podman", "rm", cid], check=False)


def assemble_rootfs(ctx, rootfs, target):
    """The file system of the Containerfile's `target` stage: the base, the `agents` stage's
    directories (what its RUN makes without AGENTS) and every COPY."""
    run(["cp", "-a", BASE + "/.", rootfs])
    stage = None
    for line in open(os.path.join(ctx, "Containerfile")):
        words = line.split()
        if words[:1] == ["FROM"]:
            stage = words[3]
        elif stage == target and words[:1] == ["COPY"]:
            args = [w for w in words[1:] if not w.startswith("--")]
            src, dst = args
            dst = os.path.join(rootfs, dst.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if any(w.startswith("--from=agents") for w in words):
                for a in ("java", "skywalking", "python", "nodejs", "dotnet"):
                    os.makedirs(os.path.join(dst, a), exist_ok=True)
            else:
                shutil.copy2(os.path.join(ctx, src), dst)


# The node's address, as the DaemonSet's fieldRef status.hostIP gives it to oneagentd.
NODE_IP = "10.0.0.7"
NODE_ENV = {"ONEAGENT_NODE_IP": NODE_IP}


# The node image when podman runs containers (else None: the checks run in a chroot).
ENGINE_IMAGE = None
# Directories of the exported file system that the checks write or read back, given to each
# container as volumes (the DaemonSet mounts the host's agent and D-Bus policy directories so).
VOLUMES = ("etc/oneagent", "host-agents", "host-dbus-policy")


def in_image(rootfs, script, env=None, engine_args=()):
    """Runs `script` (sh) in a container of the node image (`podman run` with `engine_args`,
    VOLUMES of `rootfs` mounted), or where no engine runs one, in a chroot of `rootfs` with its
    own mount and pid namespaces and /proc."""
    if ENGINE_IMAGE:
        argv = ["podman", "run", "--rm", "--network=none", *engine_args, "--entrypoint", "/bin/sh"]
        for v in VOLUMES:
            os.makedirs(os.path.join(rootfs, v), exist_ok=True)
            argv += ["-v", f"{os.path.join(rootfs, v)}:/{v}"]
        for k, v in (env or {}).items():
            argv += ["-e", f"{k}={v}"]
        return run(argv + [ENGINE_IMAGE, "-c", script], check=False, timeout=300)
    env_words = [f"{k}={v}" for k, v in (env or {}).items()]
    inner = f"mount -t proc proc {rootfs}/proc && exec chroot {rootfs} /usr/bin/env -i " \
            f"PATH=/usr/sbin:/usr/bin:/sbin:/bin {' '.join(env_words)} /bin/sh -c \"$0\""
    return run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", inner, script],
               check=False, timeout=120)


def check_contents(rootfs, version):
    for argv in ("/usr/sbin/oneagentd --version", "/usr/bin/oneagentctl --version"):
        p = in_image(rootfs, argv)
        if p.returncode != 0 or version not in p.stdout:
            raise Failure(f"{argv} in the node image: exit {p.returncode}, {p.stdout}{p.stderr}")
    print("    --version runs in the node image", flush=True)

    # The ConfigMap's configuration, as `oneagent-k8s manifests` generates it.
    p = run([os.path.join(os.environ["ONEAGENT_IMAGES_BIN_DIR"], "oneagent-k8s"), "manifests",
             "--out", os.path.join(rootfs, "tmp/manifests")])
    text = open(os.path.join(rootfs, "tmp/manifests/40-node.yaml")).read()
    m = re.search(r'^  oneagent\.toml: (".*")$', text, re.M)
    if not m:
        raise Failure("the node ConfigMap has no oneagent.toml")
    os.makedirs(os.path.join(rootfs, "etc/oneagent"), exist_ok=True)
    with open(os.path.join(rootfs, "etc/oneagent/oneagent.toml"), "w") as f:
        f.write(json.loads(m.group(1)))
    # The DaemonSet sets ONEAGENT_NODE_IP (status.hostIP); the ConfigMap's endpoints name it.
    p = in_image(rootfs, "oneagentd --check-config --config /etc/oneagent/oneagent.toml", env=NODE_ENV)
    if p.returncode != 0 or "node_agent_dir" not in p.stdout or f"http://{NODE_IP}:4318" not in p.stdout:
        raise Failure(f"--check-config of the ConfigMap: exit {p.returncode}\n{p.stdout}{p.stderr}")
    print("    oneagentd --check-config accepts the generated ConfigMap", flush=True)

    # The init container's install, twice.
    install = "/usr/libexec/oneagent/install-node-agents /host-agents /host-dbus-policy"
    # As the DaemonSet's init container runs: no capabilities, read-only root file system.
    init = ("--cap-drop=ALL", "--read-only", "--user=0")
    first = in_image(rootfs, install, engine_args=init)
    if first.returncode != 0 or "updated liboneagent_preload.so" not in first.stdout:
        raise Failure(f"first install: exit {first.returncode}\n{first.stdout}{first.stderr}")
    if not os.path.isfile(os.path.join(rootfs, "host-dbus-policy/io.oneagent.Agent1.conf")):
        raise Failure("the install did not put the D-Bus policy in place")
    second = in_image(rootfs, install, engine_args=init)
    if second.returncode != 0 or "updated" in second.stdout:
        raise Failure(f"second install changed something: exit {second.returncode}\n{second.stdout}{second.stderr}")
    print("    install-node-agents twice: the second run changes nothing", flush=True)

    # oneagentd with no system bus and the DaemonSet's peer socket, answering oneagentctl.
    script = (
        f"oneagentd --config /etc/oneagent/oneagent.toml --peer-socket {PEER_SOCKET} "
        ">/tmp/oneagentd.log 2>&1 & pid=$!; "
        "i=0; while [ $i -lt 100 ]; do "
        "  oneagentctl status >/tmp/status.out 2>&1 && break; i=$((i+1)); sleep 0.2; done; "
        "cat /tmp/status.out; kill $pid; wait $pid; echo; echo '--- oneagentd log'; cat /tmp/oneagentd.log"
    )
    # As the DaemonSet's oneagentd container runs: privileged.
    p = in_image(rootfs, script, env={**NODE_ENV, "ONEAGENT_PEER_SOCKET": PEER_SOCKET,
                                      "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/run/dbus/system_bus_socket"},
                 engine_args=("--privileged",))
    if "running (pid" not in p.stdout:
        raise Failure(f"oneagentctl status in the node image did not see oneagentd running:\n{p.stdout}{p.stderr}")
    if os.path.exists(os.path.join(rootfs, "run/dbus/system_bus_socket")):
        raise Failure("the image has a system bus socket; the test needs none")
    print("    oneagentd (no system bus, --peer-socket) answers oneagentctl status", flush=True)


def main():
    global ENGINE_IMAGE
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "target/release"))
    ap.add_argument("--preload-lib", default=os.path.join(REPO, "preload/lib/target/release/liboneagent_preload.so"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("packaging/tests/images.py needs root (debootstrap, chroot, podman)")
    bin_dir = os.path.abspath(args.bin_dir)
    for f in [os.path.join(bin_dir, b) for b in ("oneagentd", "oneagentctl", "oneagent-k8s")] + [args.preload_lib]:
        if not os.path.isfile(f):
            sys.exit(f"images.py: {f} is missing: build the release first (packaging/build does)")
    os.environ["ONEAGENT_IMAGES_BIN_DIR"] = bin_dir
    version = workspace_version()
    t0 = time.monotonic()
    ensure_base()
    with tempfile.TemporaryDirectory(prefix="oneagent-images.", dir=CACHE) as tmp:
        ctx = os.path.join(tmp, "context")
        rootfs = os.path.join(tmp, "rootfs")
        os.makedirs(rootfs)
        print("==> build context (build-images --context-only)", flush=True)
        stage_context(ctx, bin_dir, args.preload_lib)
        problem = engine_problem()
        if problem is None:
            print("==> podman: building and running both images", flush=True)
            build_with_engine(bin_dir, args.preload_lib, version, rootfs)
            ENGINE_IMAGE = f"{REGISTRY}/oneagentd:{TAG}"
            print(f"==> the checks below run in containers of {ENGINE_IMAGE} (podman run)", flush=True)
        else:
            bar = "!" * 78
            print(f"{bar}\nSKIPPED: no container engine can run a container here, so the images were "
                  f"NOT built with podman:\n  {problem}\nThe node image's file system is assembled from "
                  f"the base and the Containerfile instead, and checked in a chroot.\n{bar}", flush=True)
            assemble_rootfs(ctx, rootfs, "oneagentd")
        print("==> the node image's contents", flush=True)
        check_contents(rootfs, version)
    print(f"==> images: all checks passed in {time.monotonic() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
