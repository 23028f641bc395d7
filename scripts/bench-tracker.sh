#!/usr/bin/env bash
#
# Tracker benchmark: announces/s, latency p50/p99 and CPU of the built-in tracker (the
# release server, TRACKER_MODE=open, HTTP and UDP) next to Debian's opentracker, both
# on 127.0.0.1, under the same load; then both trackers' resident memory.
#
#   scripts/bench-tracker.sh [--torrents 1000] [--peers 50] [--udp 200000] [--http 50000]
#                            [--seconds 10] [--udp-sockets 16] [--http-conns 8] [--numwant 50]
#
# What it does, all on 127.0.0.1, in a temp dir removed on exit with every process it
# started: builds the server and examples/bench_tracker.rs in release mode (installs
# opentracker when missing); starts the server with its UDP tracker on a free port and
# opentracker (HTTP and UDP on one port) whitelisting the benchmark's info hashes
# (Debian builds it whitelist-only); runs the load generator, whose header says what
# each column is. Each phase is bounded by its count and by --seconds.
#
# Environment: BENCH_TIMEOUT (s) caps the generator (default 900); SERVER_BIN runs that
# server binary instead of building this tree's.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

# The generator reads --torrents to know the hashes to whitelist; the rest is its own.
torrents=1000
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [[ ${args[i]} == --torrents ]] && torrents=${args[i + 1]:-}
done
[[ $torrents =~ ^[1-9][0-9]*$ ]] || die "--torrents must be a positive whole number"

tmp=
pids=()
clean_up_on_exit

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev curl:curl python3:python3
install_bittorrent_tools
require_cargo
target_dir=${CARGO_TARGET_DIR:-$repo/target}
if [[ -n ${SERVER_BIN:-} ]]; then
    [[ -x $SERVER_BIN ]] || die "SERVER_BIN=$SERVER_BIN is not an executable"
    server_bin=$SERVER_BIN
    build_bench_example bench_tracker
else
    step "cargo build --release --bin torrentedge --example bench_tracker"
    quietly cargo build --release --bin torrentedge --example bench_tracker
    server_bin=$target_dir/release/torrentedge
fi
gen=$target_dir/release/examples/bench_tracker

tmp=$(mktemp -d)
read -r te_http te_udp peer_port ot_port < <(free_ports 4)

step "starting the server (TRACKER_MODE=open, UDP on 127.0.0.1:$te_udp)"
mkdir -p "$tmp/te/cwd"
(
    # From an empty directory: the server reads a .env from its working directory.
    cd "$tmp/te/cwd"
    exec env HOST=127.0.0.1 PORT="$te_http" PEER_HOST=127.0.0.1 PEER_PORT="$peer_port" \
        DATA_DIR="$tmp/te/data" DOWNLOAD_PATH="$tmp/te/dl" ENABLE_DHT=false ENABLE_LSD=false \
        ADMIN_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')" \
        TRACKER_MODE=open TRACKER_UDP_PORT="$te_udp" TRACKER_UDP_HOST=127.0.0.1 \
        RUST_LOG=warn "$server_bin"
) </dev/null >"$tmp/server.log" 2>&1 &
te_pid=$!
pids+=("$te_pid")

step "starting opentracker on 127.0.0.1:$ot_port with $torrents whitelisted hashes"
# As root, opentracker chroots into -d and drops to `nobody` before reading the
# whitelist, so both must be world-readable; the relative -w works either way.
mkdir -p "$tmp/ot"
chmod 0755 "$tmp" "$tmp/ot"
"$gen" hashes "$torrents" >"$tmp/ot/whitelist.txt"
chmod 0644 "$tmp/ot/whitelist.txt"
opentracker -i 127.0.0.1 -p "$ot_port" -P "$ot_port" -A 127.0.0.1 -d "$tmp/ot" \
    -w whitelist.txt </dev/null >"$tmp/opentracker.log" 2>&1 &
ot_pid=$!
pids+=("$ot_pid")

wait_for "the server to answer /api/health/live" 60 "$te_pid" "$tmp/server.log" \
    curl -sf --noproxy '*' --max-time 2 "http://127.0.0.1:$te_http/api/health/live"
# An announce for the last hash: the whitelist is loaded when it is authorised.
last=$(tail -n1 "$tmp/ot/whitelist.txt" | sed 's/../%&/g')
ot_ready() {
    curl -sf --noproxy '*' --max-time 2 "http://127.0.0.1:$ot_port/announce?info_hash=$last&peer_id=-BT0001-readinessprb&port=1&uploaded=0&downloaded=0&left=1&compact=1&event=stopped" |
        grep -qv 'failure reason'
}
wait_for "opentracker to load its whitelist" 30 "$ot_pid" "$tmp/opentracker.log" ot_ready

step "running the benchmark"
printf 'cores: %s; %s\n' "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
printf 'opentracker %s\n' "$(dpkg-query -W -f '${Version}' opentracker 2>/dev/null || echo '(version unknown)')"
timeout "${BENCH_TIMEOUT:-900}" "$gen" \
    --te-http "127.0.0.1:$te_http" --te-udp "127.0.0.1:$te_udp" --te-pid "$te_pid" \
    --ot-http "127.0.0.1:$ot_port" --ot-udp "127.0.0.1:$ot_port" --ot-pid "$ot_pid" "$@" ||
    die_with_logs "the load generator failed" "$tmp/server.log" "$tmp/opentracker.log"
