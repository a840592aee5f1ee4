#!/bin/sh
# Installs the node image's preload library and language agents into the node agent directory
# (the DaemonSet's init container runs it with that hostPath mounted as $1). The device plugin
# mounts the directory read-only at /var/oneagent in instrumented containers, whose processes
# have the library and agents mapped: every changed file is copied next to its destination and
# renamed over it, never rewritten in place. oneagentd's preload.snapshot and preload.sock there
# are left alone. Files that the image no longer has are not removed.
#
# With POLICY_DIR (the host's /etc/dbus-1/system.d, mounted), it also installs the D-Bus policy
# that lets oneagentd own io.oneagent.Agent1 on the host's system bus, the same way; oneagentd
# asks the bus to reload its configuration if the bus still refuses the name.
#
#   install-node-agents DIR [POLICY_DIR]
#       ONEAGENT_IMAGE_AGENTS: source, default /usr/lib/oneagent
#       ONEAGENT_IMAGE_POLICY: policy file, default /usr/share/dbus-1/system.d/io.oneagent.Agent1.conf
set -eu
src=${ONEAGENT_IMAGE_AGENTS:-/usr/lib/oneagent}
dst=${1:?usage: install-node-agents DIR [POLICY_DIR]}
policy_dir=${2:-}
policy=${ONEAGENT_IMAGE_POLICY:-/usr/share/dbus-1/system.d/io.oneagent.Agent1.conf}
[ -f "$src/liboneagent_preload.so" ] || { echo "install-node-agents: $src has no liboneagent_preload.so" >&2; exit 1; }
mkdir -p "$dst"
cd "$src"
find . -type d | while IFS= read -r d; do mkdir -p "$dst/$d"; done
# The loop is the pipeline's last command: its failure (set -e inside) fails the script.
find . -type f ! -name preload.snapshot ! -name preload.sock | sort | while IFS= read -r f; do
    cmp -s "$f" "$dst/$f" && continue
    cp -p "$f" "$dst/$f.install-$$"
    mv -f "$dst/$f.install-$$" "$dst/$f"
    echo "install-node-agents: updated ${f#./}"
done
if [ -n "$policy_dir" ]; then
    [ -f "$policy" ] || { echo "install-node-agents: $policy is missing" >&2; exit 1; }
    mkdir -p "$policy_dir"
    target="$policy_dir/io.oneagent.Agent1.conf"
    if ! cmp -s "$policy" "$target"; then
        cp "$policy" "$policy_dir/.io.oneagent.Agent1.conf.install-$$"
        chmod 0644 "$policy_dir/.io.oneagent.Agent1.conf.install-$$"
        mv -f "$policy_dir/.io.oneagent.Agent1.conf.install-$$" "$target"
        echo "install-node-agents: updated the D-Bus policy $target"
    fi
fi
