#!/usr/bin/env bash
#
# Download benchmark: how fast the release server downloads one torrent from one
# local seeder, next to aria2c downloading the same torrent from the same seeder.
#
#   scripts/bench-download.sh [SIZE_MIB]        (default 1024)
#
# What it does, all on 127.0.0.1 and in a temp dir under ${TMPDIR:-/tmp} that is
# removed on exit (with every process it started):
#   1. builds `torrentedge` in release mode;
#   2. writes SIZE_MIB MiB of random data as 4 files of odd sizes and makes a
#      torrent of it with 1 MiB pieces (mktorrent);
#   3. starts a private opentracker and an aria2c seeding that content;
#   4. starts the server (DHT and LSD off), logs in as admin, uploads the torrent
#      and polls GET /api/torrents/<hash> every 0.2 s until `completedAt` is set;
#      then stops the server, so it cannot serve the next client;
#   5. downloads the same torrent from the same seeder with aria2c;
#   6. compares both downloads byte for byte with the source (fails if they differ).
#
# How to read the table it prints:
#   seconds       wall time from handing over the torrent (upload to the API, or
#                 starting aria2c) to the download being complete; includes the
#                 tracker announce and connecting to the seeder. For torrentedge,
#                 "complete" is `completedAt` being set, as a user of the API sees
#                 it; the line below the table gives the moment the API first
#                 showed every byte verified (the two should be within a poll).
#   MiB/s         SIZE_MIB / seconds.
#   CPU s         user+system CPU time the client used during the download (the
#                 whole server process for torrentedge, /proc/PID/stat).
#   seeder CPU s  CPU time the seeding aria2c used meanwhile: when it is close to
#                 the wall time, the seeder (not the client) is the bottleneck.
#   peak RSS MiB  high-water mark of resident memory (VmHWM / time's %M).
#   ratio         torrentedge MiB/s / aria2c MiB/s: 1.0 = as fast as aria2c.
# Both clients read the same freshly written (page-cached) content from the same
# seeder, so the ratio compares the clients; the absolute figures depend on the
# machine and on whatever else runs on it: on a 2-core machine repeated runs of
# 1 GiB differ by 20-30 %, so run it a few times before reading much into a ratio.
#
# Environment: BENCH_TIMEOUT (s) caps each download (default 120 + SIZE_MIB);
# TMPDIR chooses where the temp dir goes (it needs about 3 x SIZE_MIB free).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

install_deps() {
    install_bittorrent_tools curl:curl jq:jq python3:python3 time:time
}

# --- arguments ----------------------------------------------------------------------

size_mib=${1:-1024}
[[ $size_mib =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [SIZE_MIB]  (a positive whole number, got '$size_mib')"
(($# <= 1)) || die "usage: $0 [SIZE_MIB]"
timeout_s=${BENCH_TIMEOUT:-$((120 + size_mib))}
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive whole number of seconds"
readonly MIB=1048576

# --- processes and cleanup ----------------------------------------------------------

tmp=
pids=()

cleanup() {
    trap - EXIT INT TERM
    stop_processes
    if [[ -n $tmp && -d $tmp ]]; then
        rm -rf -- "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }

# Seconds elapsed between two `now` values, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# SHA-1 of the raw bytes of the torrent's bencoded `info` dictionary, hex.
info_hash_of() {
    python3 - "$1" <<'EOF'
import hashlib, sys
data = open(sys.argv[1], "rb").read()
def skip(b, i):
    c = b[i:i + 1]
    if c == b"i":
        return b.index(b"e", i) + 1
    if c in (b"l", b"d"):
        i += 1
        while b[i:i + 1] != b"e":
            i = skip(b, i)
        return i + 1
    colon = b.index(b":", i)
    return colon + 1 + int(b[i:colon])
assert data[:1] == b"d", "not a bencoded dictionary"
i = 1
while data[i:i + 1] != b"e":
    key_end = skip(data, i)
    value_end = skip(data, key_end)
    if data[i:key_end] == b"4:info":
        print(hashlib.sha1(data[key_end:value_end]).hexdigest())
        sys.exit(0)
    i = value_end
sys.exit("the torrent has no info dictionary")
EOF
}

# tracker_peers TRACKER_PORT INFO_HASH: the peers (ip:port per line) the tracker
# hands out for INFO_HASH. Announces as a placeholder peer on port 1 and withdraws
# it again at once, so no client is ever given it. Fails if the tracker refuses.
# Percent-encoding (quote), not form encoding: opentracker reads a `+` as a plus, so
# a hash with a 0x20 byte (one in 13) would be refused as not whitelisted.
tracker_peers() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys, urllib.parse, urllib.request
port, info_hash = sys.argv[1], bytes.fromhex(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def announce(extra):
    q = urllib.parse.urlencode({"info_hash": info_hash, "peer_id": b"-TE0001-benchprobe00",
                                "port": 1, "uploaded": 0, "downloaded": 0, "left": 1,
                                "compact": 1, "numwant": 200},
                               quote_via=urllib.parse.quote)
    with opener.open(f"http://127.0.0.1:{port}/announce?{q}{extra}", timeout=5) as r:
        return r.read()
body = announce("")
marker = b"5:peers"
if b"failure reason" in body or marker not in body:
    sys.exit(f"tracker answer: {body!r}")
announce("&event=stopped")
rest = body[body.index(marker) + len(marker):]
n, rest = rest.split(b":", 1)
peers = rest[:int(n)]
for k in range(0, len(peers), 6):
    p = peers[k:k + 6]
    print(f"{socket.inet_ntoa(p[:4])}:{int.from_bytes(p[4:], 'big')}")
EOF
}

# --- the benchmark ------------------------------------------------------------------

build_server() {
    step "cargo build --release --bin torrentedge"
    quietly cargo build --release --bin torrentedge
    server_bin=${CARGO_TARGET_DIR:-$repo/target}/release/torrentedge
    [[ -x $server_bin ]] || die "no server binary at $server_bin after the build"
}

make_content() {
    step "writing $size_mib MiB of random data and a torrent with 1 MiB pieces"
    local total=$((size_mib * MIB)) sizes i rest
    mkdir -p "$tmp/seed/content"
    # Four parts of about 40/30/20/10 %, none a whole number of MiB (a file not
    # ending on a piece boundary is the case worth exercising).
    sizes=($((total * 4 / 10 + 12345)) $((total * 3 / 10 - 54321)) $((total * 2 / 10 + 777)))
    rest=$((total - sizes[0] - sizes[1] - sizes[2]))
    sizes+=("$rest")
    for i in "${!sizes[@]}"; do
        ((sizes[i] > 0)) || die "size $size_mib MiB is too small to split"
        if ((sizes[i] % MIB == 0)); then
            # Move one byte between two files; the total stays SIZE_MIB.
            ((sizes[i] += 1, sizes[(i + 1) % 4] -= 1))
        fi
    done
    files=()
    for i in "${!sizes[@]}"; do
        head -c "${sizes[i]}" /dev/urandom >"$tmp/seed/content/part-$((i + 1)).bin"
        files+=("content/part-$((i + 1)).bin")
    done
    torrent=$tmp/bench.torrent
    quietly mktorrent -l 20 -a "http://127.0.0.1:$tracker_port/announce" -o "$torrent" \
        "$tmp/seed/content"
    info_hash=$(info_hash_of "$torrent")
    [[ $info_hash =~ ^[0-9a-f]{40}$ ]] || die "could not compute the info hash of $torrent"
}

start_tracker() {
    step "starting opentracker on 127.0.0.1:$tracker_port"
    local dir=$tmp/tracker
    mkdir -p "$dir"
    # As root, opentracker chroots into -d and drops to `nobody` before reading the
    # whitelist (Debian builds it whitelist-only), so both must be world-readable;
    # the relative -w path works whether or not it could chroot.
    chmod 0755 "$tmp" "$dir"
    printf '%s\n' "$info_hash" >"$dir/whitelist.txt"
    chmod 0644 "$dir/whitelist.txt"
    opentracker -i 127.0.0.1 -p "$tracker_port" -P "$tracker_port" -A 127.0.0.1 \
        -d "$dir" -w whitelist.txt </dev/null >"$tmp/opentracker.log" 2>&1 &
    tracker_pid=$!
    pids+=("$tracker_pid")
    wait_for "opentracker to accept announces" 30 "$tracker_pid" "$tmp/opentracker.log" \
        tracker_peers "$tracker_port" "$info_hash"
}

seeder_listed() {
    tracker_peers "$tracker_port" "$info_hash" | grep -qx "127.0.0.1:$seeder_port"
}

start_seeder() {
    step "starting the aria2c seeder on 127.0.0.1:$seeder_port"
    aria2c --no-conf=true \
        --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
        --enable-peer-exchange=false --disable-ipv6=true \
        --interface=127.0.0.1 --bt-external-ip=127.0.0.1 --listen-port="$seeder_port" \
        --seed-ratio=0.0 --bt-seed-unverified=true --check-integrity=false \
        --bt-tracker-interval=1 --bt-tracker-connect-timeout=5 --bt-tracker-timeout=5 \
        --stop-with-process=$$ --enable-color=false --summary-interval=0 \
        --console-log-level=notice \
        -d "$tmp/seed" "$torrent" </dev/null >"$tmp/seeder.log" 2>&1 &
    seeder_pid=$!
    pids+=("$seeder_pid")
    wait_for "the tracker to list the seeder" 30 "$seeder_pid" "$tmp/seeder.log" seeder_listed
}

# api METHOD PATH [CURL_ARGS...]: a request to the server; prints the body, fails
# (showing body and server log) on an HTTP error.
api() {
    local method=$1 path=$2 body rc=0
    shift 2
    body=$(curl -sS --noproxy '*' --max-time 30 --fail-with-body -X "$method" \
        ${token:+-H "Authorization: Bearer $token"} "$@" "$api_url$path") || rc=$?
    if ((rc != 0)); then
        printf '%s\n' "$body" >&2
        die_with_logs "$method $path failed (curl exit $rc)" "$tmp/server.log"
    fi
    printf '%s\n' "$body"
}

run_torrentedge() {
    step "torrentedge: starting the release server on 127.0.0.1:$http_port (peers :$peer_port)"
    local password last_report=0 row completed_at completed_bytes total_bytes state error
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    mkdir -p "$tmp/server" "$tmp/data" "$tmp/dl"
    # Run from an empty directory: the server reads a `.env` from its working
    # directory (and its parents), which must not change the benchmark. The tracker is
    # on loopback, which the server announces to only when told to.
    (
        cd "$tmp/server"
        exec env HOST=127.0.0.1 PORT="$http_port" PEER_HOST=127.0.0.1 PEER_PORT="$peer_port" \
            DATA_DIR="$tmp/data" DOWNLOAD_PATH="$tmp/dl" ENABLE_DHT=false ENABLE_LSD=false \
            ALLOW_PRIVATE_TRACKERS=true \
            ADMIN_PASSWORD="$password" ACCESS_TOKEN_TTL=86400 "$server_bin"
    ) </dev/null >"$tmp/server.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    api_url=http://127.0.0.1:$http_port
    token=
    wait_for "the server to answer /api/health/live" 60 "$server_pid" "$tmp/server.log" \
        curl -sf --noproxy '*' --max-time 2 "$api_url/api/health/live"
    token=$(api POST /api/auth/login -H 'Content-Type: application/json' \
        --data "$(jq -nc --arg p "$password" '{username: "admin", password: $p}')" |
        jq -r .accessToken)
    [[ -n $token && $token != null ]] || die_with_logs "login gave no accessToken" "$tmp/server.log"

    step "torrentedge: downloading"
    local cpu0 seeder_cpu0 t0 t_bytes='' t_done='' added
    cpu0=$(proc_cpu "$server_pid")
    seeder_cpu0=$(proc_cpu "$seeder_pid")
    t0=$(now)
    added=$(api POST /api/torrents -F "file=@$torrent;type=application/x-bittorrent" | jq -r .infoHash)
    [[ $added == "$info_hash" ]] ||
        die_with_logs "the server added $added, expected $info_hash" "$tmp/server.log"
    local deadline=$((SECONDS + timeout_s))
    while :; do
        row=$(api GET "/api/torrents/$info_hash" |
            jq -r '[.completedAt, .completedBytes, .totalBytes, .state, .error] | map(tostring) | @tsv')
        IFS=$'\t' read -r completed_at completed_bytes total_bytes state error <<<"$row"
        [[ $error == null ]] || die_with_logs "the torrent failed: $error" "$tmp/server.log"
        if [[ -z $t_bytes && $total_bytes -gt 0 && $completed_bytes -eq $total_bytes ]]; then
            t_bytes=$(now)
        fi
        if [[ $completed_at != null ]]; then
            t_done=$(now)
            break
        fi
        alive "$server_pid" || die_with_logs "the server exited during the download" "$tmp/server.log"
        ((SECONDS < deadline)) || die_with_logs \
            "timed out after ${timeout_s}s: $completed_bytes of $total_bytes bytes, state $state" \
            "$tmp/server.log" "$tmp/seeder.log"
        if ((SECONDS - last_report >= 5)); then
            last_report=$SECONDS
            printf '    %s: %s of %s bytes\n' "$state" "$completed_bytes" "$total_bytes" >&2
        fi
        sleep 0.2
    done
    te_cpu=$(awk -v a="$cpu0" -v b="$(proc_cpu "$server_pid")" 'BEGIN { printf "%.2f", b - a }')
    te_seeder_cpu=$(awk -v a="$seeder_cpu0" -v b="$(proc_cpu "$seeder_pid")" 'BEGIN { printf "%.2f", b - a }')
    te_rss=$(proc_mib "$server_pid" VmHWM)
    te_secs=$(elapsed "$t0" "$t_done")
    te_bytes_secs=$(elapsed "$t0" "${t_bytes:-$t_done}")

    # Stop the server before aria2c runs: it still seeds, and the tracker would hand
    # it to aria2c as a second source.
    step "torrentedge: stopping the server"
    stop_pid "$server_pid" "$tmp/server.log"
}

run_aria2c() {
    step "aria2c: downloading"
    local seeder_cpu0 t0 t1 rc=0
    mkdir -p "$tmp/aria2-dl"
    seeder_cpu0=$(proc_cpu "$seeder_pid")
    t0=$(now)
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/aria2-leech.time" \
        timeout "$timeout_s" aria2c --no-conf=true \
        --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
        --enable-peer-exchange=false --disable-ipv6=true \
        --interface=127.0.0.1 --bt-external-ip=127.0.0.1 --listen-port="$leech_port" \
        --seed-time=0 --file-allocation=none --stop-with-process=$$ \
        --enable-color=false --summary-interval=5 --console-log-level=notice \
        -d "$tmp/aria2-dl" "$torrent" </dev/null >"$tmp/aria2-leech.log" 2>&1 &
    local leech_pid=$!
    pids+=("$leech_pid")
    wait "$leech_pid" || rc=$?
    t1=$(now)
    ((rc == 0)) || die_with_logs "the aria2c download failed (exit $rc; 124 = timed out after ${timeout_s}s)" \
        "$tmp/aria2-leech.log" "$tmp/aria2-leech.time" "$tmp/seeder.log"
    aria_seeder_cpu=$(awk -v a="$seeder_cpu0" -v b="$(proc_cpu "$seeder_pid")" 'BEGIN { printf "%.2f", b - a }')
    aria_secs=$(elapsed "$t0" "$t1")
    # /usr/bin/time's last line: wall user system maxrss(KiB).
    read -r _ user sys maxrss < <(tail -n 1 "$tmp/aria2-leech.time")
    aria_cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    aria_rss=$(awk -v k="$maxrss" 'BEGIN { printf "%.1f", k / 1024 }')
}

# verify NAME DIR: every source file has exactly one copy under DIR, equal to it.
verify() {
    local name=$1 dir=$2 rel found
    step "$name: comparing the download with the source"
    for rel in "${files[@]}"; do
        mapfile -t found < <(find "$dir" -type f -path "*/$rel")
        ((${#found[@]} == 1)) ||
            die "$name: expected one copy of $rel under $dir, found ${#found[@]}: ${found[*]}"
        cmp -- "$tmp/seed/$rel" "${found[0]}" ||
            die "$name: ${found[0]} differs from the source $rel: the download is WRONG"
    done
}

report() {
    local cpu_model
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    printf '\n'
    printf 'download benchmark: %s MiB in %d files, 1 MiB pieces, one aria2c seeder, 127.0.0.1\n' \
        "$size_mib" "${#files[@]}"
    printf 'machine: nproc %s, %s\n' "$(nproc)" "${cpu_model:-unknown CPU}"
    printf 'server:  %s (git %s)\n\n' "$server_bin" "$(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"
    printf '%-12s %9s %9s %8s %14s %13s\n' client seconds 'MiB/s' 'CPU s' 'seeder CPU s' 'peak RSS MiB'
    row() {
        awk -v n="$1" -v s="$2" -v c="$3" -v sc="$4" -v r="$5" -v m="$size_mib" \
            'BEGIN { printf "%-12s %9.2f %9.1f %8.2f %14.2f %13.1f\n", n, s, m / s, c, sc, r }'
    }
    row torrentedge "$te_secs" "$te_cpu" "$te_seeder_cpu" "$te_rss"
    row aria2c "$aria_secs" "$aria_cpu" "$aria_seeder_cpu" "$aria_rss"
    awk -v t="$te_secs" -v a="$aria_secs" -v b="$te_bytes_secs" -v m="$size_mib" 'BEGIN {
        printf "\nratio torrentedge MiB/s / aria2c MiB/s: %.2f\n", a / t
        printf "(torrentedge had every byte verified at %.2f s = %.1f MiB/s; completedAt set at the time above)\n", b, m / b
    }'
    printf 'both downloads are identical to the source (cmp)\n'
}

main() {
    install_deps
    build_server

    tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-download.XXXXXX")
    local need_kib=$((3 * size_mib * 1024 + 65536)) avail_kib
    avail_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
    ((avail_kib >= need_kib)) ||
        die "$tmp has $((avail_kib / 1024)) MiB free, the benchmark needs about $((need_kib / 1024)) MiB"

    read -r tracker_port seeder_port peer_port http_port leech_port < <(free_ports 5)
    make_content
    start_tracker
    start_seeder
    run_torrentedge
    run_aria2c
    verify torrentedge "$tmp/dl"
    verify aria2c "$tmp/aria2-dl"
    report
}

main "$@"
