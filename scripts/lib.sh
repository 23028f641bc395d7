# shellcheck shell=bash
# Shell helpers shared by scripts/test.sh and the benchmark scripts (sourced, not run):
# step messages, quiet commands, root, installing Debian packages on demand, processes
# on loopback, and qbittorrent-nox as the client the benchmarks compare with.

step() { printf '==> %s\n' "$*" >&2; }

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command with its output held back, to keep successful runs quiet; the
# output is shown only if the command fails.
quietly() {
    local log rc=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$log" >&2
        printf 'error: "%s" failed with exit code %d\n' "$*" "$rc" >&2
    fi
    rm -f "$log"
    return "$rc"
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if (($(id -u) == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "not root and no sudo: cannot run \`$*\`; install the missing packages by hand"
    fi
}

apt_updated=false

# apt_install PROGRAM:PACKAGE... installs each PACKAGE whose PROGRAM is not on
# PATH. Checking the program rather than the package also accepts tools installed
# some other way; `type -P` looks for a file only, so `time` means /usr/bin/time
# and not the shell keyword. The package index is refreshed once per run, and only
# when something is actually missing.
apt_install() {
    local spec missing=()
    for spec in "$@"; do
        type -P "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
    done
    ((${#missing[@]} > 0)) || return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]}, and no apt-get to install them with"
    step "installing ${missing[*]}"
    if ! $apt_updated; then
        quietly as_root apt-get update
        apt_updated=true
    fi
    # `env` because sudo drops the caller's environment.
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# The BitTorrent programs the tests and the benchmark run as real peers, plus any
# extra PROGRAM:PACKAGE given. On a systemd machine the opentracker package starts a
# system-wide tracker on every interface; we run our own on loopback, so stop the one
# the install just caused.
install_bittorrent_tools() {
    local had_opentracker=true
    type -P opentracker >/dev/null 2>&1 || had_opentracker=false
    apt_install aria2c:aria2 opentracker:opentracker mktorrent:mktorrent "$@"
    if ! $had_opentracker && [[ -d /run/systemd/system ]]; then
        quietly as_root systemctl disable --now opentracker.service
    fi
}

# Debian's nginx, prometheus and redis-server packages start system-wide servers where
# systemd runs (nginx on port 80); the tests run their own on loopback, so stop those.
stop_system_services() {
    local unit
    [[ -d /run/systemd/system ]] || return 0
    for unit in "$@"; do
        if systemctl is-active --quiet "$unit" 2>/dev/null; then
            quietly as_root systemctl disable --now "$unit.service"
        fi
    done
}

# Cargo's bin directory on PATH (rustup and `cargo install` put programs there, which
# non-login shells may not have on PATH), and cargo itself present.
require_cargo() {
    local cargo_bin=${CARGO_HOME:-${HOME:-}/.cargo}/bin
    [[ :$PATH: == *":$cargo_bin:"* ]] || export PATH="$cargo_bin:$PATH"
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"
}

# Node.js and the official Socket.IO client in tests/js (the tests and the events
# benchmark drive it). `npm ci` runs when node_modules is missing or older than the
# lock file (npm writes node_modules/.package-lock.json on every install).
deps_node() {
    apt_install node:nodejs npm:npm
    local lock=tests/js/package-lock.json installed=tests/js/node_modules/.package-lock.json
    if [[ ! -f $installed || $lock -nt $installed ]]; then
        step "npm ci in tests/js"
        quietly npm ci --prefix tests/js --no-audit --no-fund
    fi
}

build_bench_example() {
    step "building examples/$1.rs (release)"
    quietly cargo build --release --example "$1"
}

# Builds examples/NAME.rs in release mode and runs it with the remaining arguments.
run_bench_example() {
    build_bench_example "$1"
    run_built_example "$@"
}

# Runs examples/NAME (built by build_bench_example) with the remaining arguments,
# under BENCH_TIMEOUT seconds (default 900), after a line about the machine.
run_built_example() {
    local name=$1
    shift
    step "running the benchmark"
    printf 'cores: %s; %s\n' "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
    timeout "${BENCH_TIMEOUT:-900}" "target/release/examples/$name" "$@"
}

# The dashboard: web/'s packages (npm ci when the lock file is newer than the install)
# and its build into web/dist, which the server embeds. esbuild takes about a second.
build_web() {
    apt_install node:nodejs npm:npm
    local lock=web/package-lock.json installed=web/node_modules/.package-lock.json
    if [[ ! -f $installed || $lock -nt $installed ]]; then
        step "npm ci in web"
        quietly npm ci --prefix web --no-audit --no-fund
    fi
    step "building the dashboard (web/dist)"
    quietly npm --prefix web run build
}

# What rdkafka's bundled librdkafka needs to build (cmake, the libcurl headers), and
# tansu, the Kafka-API broker the tests and the events benchmark run on loopback.
# tansu is built from crates.io once per machine (slow).
deps_tansu() {
    apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev
    require_cargo
    if ! command -v tansu >/dev/null 2>&1; then
        step "installing tansu (cargo install; slow: about 20 minutes on 2 cores, once per machine)"
        quietly cargo install tansu --locked --features dynostore
        command -v tansu >/dev/null 2>&1 || die "tansu installed but not found on PATH"
    fi
}

# The Python tools the tests run, in a venv of the repository's own
# (.test-tools/venv, ignored by git) that is put first on PATH:
# nx-27017, a MongoDB wire-protocol server for the MongoDB store's tests,
# check-jsonschema, which validates docker-compose.yml against the Compose spec,
# and qbittorrent-api, the Python client that drives the qBittorrent API's tests.
# Pinned, so every machine tests against the same server.
deps_python() {
    local venv=.test-tools/venv
    apt_install python3:python3
    # Debian splits venv (and the pip it bootstraps) into its own package.
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        step "installing python3-venv"
        if ! $apt_updated; then
            quietly as_root apt-get update
            apt_updated=true
        fi
        quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
    fi
    local pins=("nx-27017==0.8.1" "check-jsonschema==0.39.0" "qbittorrent-api==2025.11.1"
        "openapi-spec-validator==0.9.0")
    if [[ ! -x $venv/bin/nx-27017 || ! -x $venv/bin/check-jsonschema ||
        ! -x $venv/bin/openapi-spec-validator ]] ||
        ! "$venv/bin/python" -c 'import qbittorrentapi' >/dev/null 2>&1; then
        step "installing ${pins[*]} into $venv"
        [[ -x $venv/bin/pip ]] || quietly python3 -m venv "$venv"
        quietly "$venv/bin/pip" install --quiet "${pins[@]}"
    fi
    export PATH="$PWD/$venv/bin:$PATH"
}

# The process PID and all its descendants, parents first.
descendants() {
    local children child
    printf '%s\n' "$1"
    children=$(cat "/proc/$1/task/"*/children 2>/dev/null) || true
    for child in $children; do
        descendants "$child"
    done
}

# Stops every process in the global array `pids` and all their descendants: SIGTERM,
# up to 5 s each to exit, then SIGKILL. The whole tree is collected first, because a
# killed parent's children move to init.
# Stops the processes in the calling script's `pids` and removes its temp dir `tmp`
# (when set) on exit, on Ctrl-C and on SIGTERM. Call once, after `tmp=` and `pids=()`.
clean_up_on_exit() {
    trap 'trap - EXIT INT TERM; stop_processes; remove_tmp' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

remove_tmp() {
    # shellcheck disable=SC2154 # `tmp` belongs to the calling script
    if [[ -n ${tmp:-} && -d $tmp ]]; then
        rm -rf -- "$tmp"
    fi
}

stop_processes() {
    local pid all=()
    # shellcheck disable=SC2154 # `pids` belongs to the calling script
    for pid in "${pids[@]}"; do
        mapfile -t -O "${#all[@]}" all < <(descendants "$pid")
    done
    for pid in "${all[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${all[@]}"; do
        for _ in {1..50}; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}

# --- processes on loopback (the benchmarks) ----------------------------------------

# die, with the tail of each log file that explains the failure.
die_with_logs() {
    local msg=$1 log
    shift
    for log in "$@"; do
        printf -- '--- %s ---\n' "$log" >&2
        tail -n 60 "$log" >&2 2>/dev/null || true
    done
    die "$msg"
}

alive() { kill -0 "$1" 2>/dev/null; }

# Prints COUNT distinct loopback ports free for both TCP and UDP (opentracker binds
# both). Every socket is held until all are found, so no port is handed out twice.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    held += [t, u]
    ports.append(port)
print(" ".join(map(str, ports)))
PY
}

# wait_for WHAT TIMEOUT_S PID LOG COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails with LOG if PID exits or TIMEOUT_S passes first.
wait_for() {
    local what=$1 limit=$2 pid=$3 log=$4 deadline
    shift 4
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        alive "$pid" || die_with_logs "process $pid exited while waiting for $what" "$log"
        ((SECONDS < deadline)) || die_with_logs "timed out after ${limit}s waiting for $what" "$log"
        sleep 0.2
    done
}

# stop_pid PID LOG: SIGTERM to PID (one the caller started, listed in `pids`), then
# waits up to 30 s for it to exit, which fails with LOG. The PID leaves `pids`, so the
# cleanup never signals a number the system may since have given to another process.
stop_pid() {
    local pid=$1 log=$2 deadline=$((SECONDS + 30)) kept=() p
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid"; do
        ((SECONDS < deadline)) || die_with_logs "process $pid did not stop within 30 s" "$log"
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
    for p in "${pids[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    pids=("${kept[@]}")
}

clk_tck=$(getconf CLK_TCK)

# User+system CPU seconds of a running process (all its threads).
proc_cpu() {
    local stat fields
    stat=$(<"/proc/$1/stat")
    # Field 2 (comm) is in parentheses and may hold spaces: cut up to the last ')'.
    read -r -a fields <<<"${stat##*) }"
    # Fields from 3 on: utime is field 14, stime field 15.
    awk -v u="${fields[11]}" -v s="${fields[12]}" -v hz="$clk_tck" 'BEGIN { printf "%.2f", (u + s) / hz }'
}

# proc_mib PID FIELD: a memory line of /proc/PID/status (VmHWM, VmRSS, RssAnon...), MiB.
proc_mib() {
    awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# --- qbittorrent-nox, the client the benchmarks compare with -------------------------

install_qbittorrent() { apt_install qbittorrent-nox:qbittorrent-nox; }

# qbt_write_config PROFILE WEBUI_PORT PEER_PORT SAVE_PATH: the configuration for
# `qbittorrent-nox --profile=PROFILE`, which has no options for most of this. Legal
# notice accepted (else it waits for a keypress); WebUI on 127.0.0.1 without a login for
# local clients; peers on lo only; DHT, PeX, local discovery and UPnP off, so the
# tracker is the only source of peers, as for the other clients; no peer-country
# look-up (it would fetch a database from the internet). RefreshInterval (ms) is how
# often it fetches torrent status from libtorrent for its API: the default 1500 would
# make its completion show up to 1.5 s late to our 0.2 s poll. BTProtocol=TCP:
# libtorrent tries uTP first and falls back to TCP only when that times out, which
# against a TCP-only peer such as the benchmarks' aria2c seeder cost 1.6-4.5 s before
# the first byte here (under 0.3 s with TCP). Everything else (disk cache, connections,
# encryption) stays at its defaults.
qbt_write_config() {
    local dir=$1/qBittorrent/config
    mkdir -p "$dir"
    cat >"$dir/qBittorrent.conf" <<CONF
[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port=$3
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress=127.0.0.1
Session\\DHTEnabled=false
Session\\PeXEnabled=false
Session\\LSDEnabled=false
Session\\AnonymousModeEnabled=false
Session\\DefaultSavePath=$4
Session\\RefreshInterval=100
Session\\BTProtocol=TCP

[Network]
PortForwardingEnabled=false

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\Port=$2
WebUI\\LocalHostAuth=false
WebUI\\UseUPnP=false
Connection\\ResolvePeerCountries=false
CONF
}

# qbt_start PROFILE WEBUI_PORT PEER_PORT: starts qbittorrent-nox on a profile written
# by qbt_write_config; waits for its WebUI and checks that it runs with the settings
# above (a key it did not take would otherwise go unnoticed). Sets qbt_pid, qbt_url
# and qbt_log (its own log, which says more than its output).
qbt_start() {
    local out=$1/qbittorrent-nox.out
    qbt_url=http://127.0.0.1:$2
    qbt_log=$1/qBittorrent/data/logs/qbittorrent.log
    qbittorrent-nox --profile="$1" </dev/null >"$out" 2>&1 &
    qbt_pid=$!
    pids+=("$qbt_pid")
    wait_for "qbittorrent-nox's WebUI on $qbt_url" 60 "$qbt_pid" "$out" \
        curl -sf --noproxy '*' --max-time 2 "$qbt_url/api/v2/app/version"
    local prefs want
    prefs=$(curl -sf --noproxy '*' --max-time 10 "$qbt_url/api/v2/app/preferences") ||
        die_with_logs "qbittorrent-nox: GET /api/v2/app/preferences failed" "$out" "$qbt_log"
    want=$(jq -cn --argjson port "$3" '{dht: false, pex: false, lsd: false, upnp: false,
        anonymous_mode: false, resolve_peer_countries: false, bittorrent_protocol: 1,
        refresh_interval: 100, listen_port: $port, current_network_interface: "lo",
        current_interface_address: "127.0.0.1", web_ui_address: "127.0.0.1",
        bypass_local_auth: true}')
    prefs=$(jq -c --argjson want "$want" 'with_entries(select(.key | in($want)))' <<<"$prefs")
    jq -e --argjson want "$want" '. == $want' <<<"$prefs" >/dev/null ||
        die_with_logs "qbittorrent-nox did not take its configuration: wanted $want, got $prefs" \
            "$out" "$qbt_log"
}
