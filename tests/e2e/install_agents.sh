#!/usr/bin/env bash
# Installs the real OpenTelemetry agents the end-to-end tests use, once per machine, into
# target/e2e-agents/oneagent/agents/{python,nodejs} (not committed). The path contains
# "/oneagent/", the marker by which the preload library recognises its own agents.
# A stamp file holds a hash of the pin files: a changed pin reinstalls that agent.
# Usage: bash tests/e2e/install_agents.sh [REPO_ROOT] [AGENT...]
# AGENT is python, nodejs or java (the OpenTelemetry and SkyWalking Java agents); none: all three
# (scripts/demo asks for python only).
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
[ $# -gt 0 ] && shift
wanted=${*:-python nodejs java}
wants() { [[ " $wanted " == *" $1 "* ]]; }
for agent in $wanted; do
    wants_known=false
    for known in python nodejs java; do [ "$agent" = "$known" ] && wants_known=true; done
    $wants_known || { echo "install_agents.sh: unknown agent '$agent' (python, nodejs or java)" >&2; exit 2; }
done
here="$repo/tests/e2e"
base="$repo/target/e2e-agents/oneagent/agents"
mkdir -p "$base"

stamp_of() { sha256sum "$1" | cut -d' ' -f1; }

# Python: installed with the interpreter the tests run (Debian's /usr/bin/python3), so that
# compiled wheels (protobuf, wrapt) match it.
py_dir="$base/python"
py_stamp=$(stamp_of "$here/requirements-python-agent.txt")
if wants python && [ "$(cat "$py_dir/.e2e-stamp" 2>/dev/null)" != "$py_stamp" ]; then
    echo "==> installing the Python OpenTelemetry agent into $py_dir" >&2
    rm -rf "$py_dir" "$py_dir.tmp"
    /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile \
        --no-deps --target "$py_dir.tmp" -r "$here/requirements-python-agent.txt"
    echo "$py_stamp" >"$py_dir.tmp/.e2e-stamp"
    mv "$py_dir.tmp" "$py_dir"
fi

# Node.js
node_dir="$base/nodejs"
node_stamp=$(stamp_of "$here/package-node-agent.txt")
if wants nodejs && [ "$(cat "$node_dir/.e2e-stamp" 2>/dev/null)" != "$node_stamp" ]; then
    echo "==> installing the Node.js OpenTelemetry agent into $node_dir" >&2
    rm -rf "$node_dir" "$node_dir.tmp"
    mkdir -p "$node_dir.tmp"
    # shellcheck disable=SC2046
    npm install --silent --no-audit --no-fund --save-exact --prefix "$node_dir.tmp" \
        $(grep -v '^#' "$here/package-node-agent.txt")
    echo "$node_stamp" >"$node_dir.tmp/.e2e-stamp"
    mv "$node_dir.tmp" "$node_dir"
fi
# Java: the real OpenTelemetry and SkyWalking agents from Maven Central through the machine's
# Maven (strict checksums), with a local repository cached under target/ (so the machine's
# ~/.m2 is not touched). Pinned here; a changed pin reinstalls.
OTEL_JAVA_VERSION=2.33.1
SKYWALKING_VERSION=9.4.0
m2="$repo/target/e2e-cache/m2"
fetch_jar() { # GROUP:ARTIFACT:VERSION DEST_DIR
    mvn -B -q -C -Dstyle.color=never -Dmaven.repo.local="$m2" dependency:copy -Dartifact="$1:jar" \
        -DoutputDirectory="$2" -Dmdep.stripVersion=true
}
java_dir="$base/java"
if wants java && [ "$(cat "$java_dir/.e2e-stamp" 2>/dev/null)" != "$OTEL_JAVA_VERSION" ]; then
    echo "==> installing the OpenTelemetry Java agent $OTEL_JAVA_VERSION into $java_dir" >&2
    rm -rf "$java_dir" "$java_dir.tmp"
    fetch_jar "io.opentelemetry.javaagent:opentelemetry-javaagent:$OTEL_JAVA_VERSION" "$java_dir.tmp"
    echo "$OTEL_JAVA_VERSION" >"$java_dir.tmp/.e2e-stamp"
    mv "$java_dir.tmp" "$java_dir"
fi
sw_dir="$base/skywalking"
if wants java && [ "$(cat "$sw_dir/.e2e-stamp" 2>/dev/null)" != "$SKYWALKING_VERSION" ]; then
    echo "==> installing the SkyWalking Java agent $SKYWALKING_VERSION into $sw_dir" >&2
    rm -rf "$sw_dir" "$sw_dir.tmp"
    fetch_jar "org.apache.skywalking:apm-agent:$SKYWALKING_VERSION" "$sw_dir.tmp"
    mv "$sw_dir.tmp/apm-agent.jar" "$sw_dir.tmp/skywalking-agent.jar"
    mkdir -p "$sw_dir.tmp/plugins" "$sw_dir.tmp/config"
    # The agent.config `oneagentctl agents install skywalking` writes (values from the
    # environment); run.py checks the two stay the same.
    cp "$here/skywalking-agent.config" "$sw_dir.tmp/config/agent.config"
    echo "$SKYWALKING_VERSION" >"$sw_dir.tmp/.e2e-stamp"
    mv "$sw_dir.tmp" "$sw_dir"
fi
if wants java; then
    test -f "$java_dir/opentelemetry-javaagent.jar"
    test -f "$sw_dir/skywalking-agent.jar"
fi
if wants nodejs; then
    test -f "$node_dir/node_modules/@opentelemetry/auto-instrumentations-node/build/src/register.js"
fi
if wants python; then
    test -f "$py_dir/opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py"
fi
