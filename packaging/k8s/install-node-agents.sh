#!/bin/sh
# Installs the node image's preload library and language agents into the node agent directory
# (the DaemonSet's init container runs it with that hostPath mounted as $1). The device plugin
# mounts the directory read-only at /var/oneagent in instrumented containers, whose processes
# have the library and agents mapped: every changed file is copied next to its destination and
# renamed over it, never rewritten in place. oneagentd's preload.snapshot and preload.sock there
# are left alone. Files that the image no longer has are not removed.
#
#   install-node-agents DIR          (ONEAGENT_IMAGE_AGENTS: source, default /usr/lib/oneagent)
set -eu
src=${ONEAGENT_IMAGE_AGENTS:-/usr/lib/oneagent}
dst=${1:?usage: install-node-agents DIR}
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
