# Shared helpers of the project scripts. Sourced, not run.

# Installs Debian packages for the commands that are missing: pairs of "command:package".
ensure_commands() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Makes sure the Rust toolchain has rustfmt and clippy.
ensure_rust_components() {
    command -v cargo >/dev/null 2>&1 || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

# Writes a dbus-daemon configuration derived from the distribution's system bus configuration:
# same default-deny policy, but our socket, no fork, no user switch, no activation, and only the
# policy directory given. Args: SOCKET POLICY_DIR OUTPUT
derive_bus_config() {
    local socket=$1 policy_dir=$2 output=$3
    sed -e '/<user>/d' -e '/<fork\/>/d' -e '/<pidfile>/d' -e '/<syslog\/>/d' \
        -e '/<standard_system_servicedirs\/>/d' -e '/<servicehelper>/d' \
        -e '/<includedir>/d' -e '/<include /d' \
        -e "s#<listen>.*</listen>#<listen>unix:path=${socket}</listen>#" \
        -e "s#</busconfig>#  <includedir>${policy_dir}</includedir>\n</busconfig>#" \
        /usr/share/dbus-1/system.conf >"$output"
}

# The end-to-end tests' prerequisites (tests/e2e): pip for Debian's python3 (the interpreter the
# tests run), npm and unshare, then the real OpenTelemetry agents from PyPI and npm, installed
# once per machine into target/e2e-agents (pinned in tests/e2e/*-agent.txt).
ensure_e2e_agents() {
    [ -x /usr/bin/python3 ] || ensure_commands __python3__:python3
    /usr/bin/python3 -m pip --version >/dev/null 2>&1 || ensure_commands __pip__:python3-pip
    ensure_commands npm:npm unshare:util-linux findmnt:util-linux mvn:maven
    bash tests/e2e/install_agents.sh
}
