#!/usr/bin/env bash
#
# Download benchmark: torrentedge (the release server), qbittorrent-nox and aria2c each
# download the same torrent from the same local seeder, a few rounds, for a
# single-file and a multi-file torrent; prints the medians per client and
# torrentedge's ratios to qbittorrent-nox.
#
#   scripts/bench-download.sh [--rounds N] [--layout single|multi|both] [--size MIB]
#   scripts/bench-download.sh [SIZE_MIB]          (the same as --size SIZE_MIB)
#
# Defaults: 3 rounds, both layouts, 1024 MiB.
#
# What it does, all on 127.0.0.1 and in a temp dir under ${TMPDIR:-/tmp} that is
# removed on exit (with every process it started):
#   1. builds `torrentedge` in release mode (and installs aria2, opentracker,
#      mktorrent and qbittorrent-nox from Debian when they are missing);
#   2. per layout, writes MIB MiB of random data, as one file (single) or as 4 files of
#      odd sizes (multi), and makes a torrent of it with 1 MiB pieces (mktorrent);
#   3. starts an opentracker that knows only that torrent, and an aria2c seeding it;
#   4. per round, runs the three clients one after the other, in an order that rotates
#      each round (so none is always first). Each client is started idle, is handed
#      the torrent (REST upload, WebUI upload, aria2 RPC addTorrent), is polled every
#      0.2 s until it reports the download complete, and is stopped before the next
#      client starts: a client that kept running would seed to the next one, since
#      the tracker hands out every peer it knows. Then its download is compared byte
#      for byte with the source (cmp; a difference fails the run) and deleted.
# qbittorrent-nox gets a fresh profile each time, written by qbt_write_config in
# scripts/lib.sh: its defaults but for networking on lo only (no DHT, PeX, local
# discovery, UPnP), a 0.1 s status refresh and TCP only; lib.sh says why.
#
# How to read the tables:
#   wall s        from handing over the torrent to the client reporting the download
#                 complete, median of the rounds (min-max); includes the announce and
#                 connecting to the seeder. "Complete" is torrentedge's `completedAt`
#                 (set on the engine's next tick, 1 s by default: the line under the
#                 table gives the median moment its API first showed every byte
#                 verified), qbittorrent-nox's state turning to seeding with every
#                 byte done (its API refreshes every 0.1 s here, see lib.sh), aria2's
#                 status `complete`.
#   MiB/s         MIB / median wall s.
#   CPU s         user+system CPU time of the client process (all its threads) from
#                 the hand-over to complete, /proc/PID/stat.
#   seeder CPU s  CPU time of the seeding aria2c meanwhile: when it is close to the
#                 wall time, the seeder (not the client) is the bottleneck.
#   peak RSS MiB  VmHWM, the high-water mark of resident memory over the process's
#                 life. It counts file pages a client maps: qbittorrent-nox's
#                 libtorrent 2.0 maps the files it writes, so its figure holds page cache.
#   anon MiB      the largest RssAnon (memory that is not file pages) seen in the polls.
#   1st MiB s     hand-over to the API first showing >= 1 MiB verified (one piece):
#                 torrentedge `completedBytes`, qbittorrent-nox `completed`, aria2
#                 `completedLength` (tellStatus), all as seen by the 0.2 s poll.
#   ratios        torrentedge / qbittorrent-nox of the median wall time and CPU
#                 seconds: below 1, torrentedge is faster or uses less CPU.
# Every client reads the same freshly written (page-cached) content from the same
# seeder, so the ratios compare the clients; the absolute figures depend on the
# machine and on whatever else runs on it (on a 2-core machine rounds of 1 GiB differ
# by 20-30 %: the min-max and the per-round table show how much).
#
# Environment: BENCH_TIMEOUT (s) caps each download (default 120 + MIB); TMPDIR
# chooses where the temp dir goes (it needs about 2 x MIB free); SERVER_BIN runs that
# server binary instead of building this tree's.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

readonly MIB=1048576
readonly CLIENTS=(torrentedge qbittorrent-nox aria2c)

usage() {
    printf 'usage: %s [--rounds N] [--layout single|multi|both] [--size MIB] [SIZE_MIB]\n' "$0"
}

# --- arguments ----------------------------------------------------------------------

positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive whole number, got '$2'"; }

parse_args() {
    rounds=3 layout=both size_mib=1024
    while (($# > 0)); do
        case $1 in
        --rounds | --layout | --size)
            (($# >= 2)) || die "$1 needs a value ($(usage))"
            case $1 in
            --rounds) rounds=$2 ;;
            --layout) layout=$2 ;;
            --size) size_mib=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage && exit 0 ;;
        [0-9]*) size_mib=$1 && shift ;;
        *) die "unknown argument '$1' ($(usage))" ;;
        esac
    done
    positive --rounds "$rounds"
    positive --size "$size_mib"
    case $layout in
    single | multi) layouts=("$layout") ;;
    both) layouts=(single multi) ;;
    *) die "--layout is single, multi or both, got '$layout'" ;;
    esac
    timeout_s=${BENCH_TIMEOUT:-$((120 + size_mib))}
    positive BENCH_TIMEOUT "$timeout_s"
}

# --- processes and cleanup ----------------------------------------------------------

tmp=
pids=()

clean_up_on_exit

now() { date +%s.%N; }

# Seconds from `now` value A to B, 3 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# CPU seconds of PID since the proc_cpu value BEFORE.
cpu_since() { awk -v a="$2" -v b="$(proc_cpu "$1")" 'BEGIN { printf "%.2f", b - a }'; }

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

# --- content, tracker and seeder (one set per layout) -------------------------------

# The server binary: SERVER_BIN when set (another build, say an older release), else
# the release build of this tree.
build_server() {
    if [[ -n ${SERVER_BIN:-} ]]; then
        server_bin=$SERVER_BIN
        [[ -x $server_bin ]] || die "SERVER_BIN=$server_bin is not an executable"
        return 0
    fi
    step "cargo build --release --bin torrentedge"
    quietly cargo build --release --bin torrentedge
    server_bin=${CARGO_TARGET_DIR:-$repo/target}/release/torrentedge
    [[ -x $server_bin ]] || die "no server binary at $server_bin after the build"
}

# The sizes of the multi-file layout: four parts of about 40/30/20/10 %, none a whole
# number of MiB (a file not ending on a piece boundary is the case worth exercising).
multi_sizes() {
    local total=$((size_mib * MIB)) i
    sizes=($((total * 4 / 10 + 12345)) $((total * 3 / 10 - 54321)) $((total * 2 / 10 + 777)))
    sizes+=($((total - sizes[0] - sizes[1] - sizes[2])))
    for i in "${!sizes[@]}"; do
        ((sizes[i] > 0)) || die "--size $size_mib is too small to split into 4 files"
        if ((sizes[i] % MIB == 0)); then
            # Move one byte between two files; the total stays MIB.
            ((sizes[i] += 1, sizes[(i + 1) % 4] -= 1))
        fi
    done
}

# make_content LAYOUT: the source files under $seed_dir (their paths relative to it in
# `files`), and $torrent for them with 1 MiB pieces, announcing to $tracker_port.
make_content() {
    local layout=$1 i root
    step "$layout: writing $size_mib MiB of random data and a torrent with 1 MiB pieces"
    seed_dir=$tmp/seed
    files=()
    if [[ $layout == single ]]; then
        sizes=($((size_mib * MIB)))
        root=bench-single.bin
        files=("$root")
    else
        multi_sizes
        root=bench-multi
        for i in "${!sizes[@]}"; do
            files+=("$root/part-$((i + 1)).bin")
        done
    fi
    for i in "${!files[@]}"; do
        mkdir -p "$(dirname "$seed_dir/${files[i]}")"
        head -c "${sizes[i]}" /dev/urandom >"$seed_dir/${files[i]}"
    done
    torrent=$tmp/$layout.torrent
    quietly mktorrent -l 20 -a "http://127.0.0.1:$tracker_port/announce" -o "$torrent" \
        "$seed_dir/$root"
    info_hash=$(info_hash_of "$torrent")
    [[ $info_hash =~ ^[0-9a-f]{40}$ ]] || die "could not compute the info hash of $torrent"
    base64 -w0 "$torrent" >"$torrent.b64"
}

start_tracker() {
    step "starting opentracker on 127.0.0.1:$tracker_port"
    local dir=$tmp/tracker
    tracker_log=$tmp/opentracker.log
    mkdir -p "$dir"
    # As root, opentracker chroots into -d and drops to `nobody` before reading the
    # whitelist (Debian builds it whitelist-only), so both must be world-readable;
    # the relative -w path works whether or not it could chroot.
    chmod 0755 "$tmp" "$dir"
    printf '%s\n' "$info_hash" >"$dir/whitelist.txt"
    chmod 0644 "$dir/whitelist.txt"
    opentracker -i 127.0.0.1 -p "$tracker_port" -P "$tracker_port" -A 127.0.0.1 \
        -d "$dir" -w whitelist.txt </dev/null >"$tracker_log" 2>&1 &
    tracker_pid=$!
    pids+=("$tracker_pid")
    wait_for "opentracker to accept announces" 30 "$tracker_pid" "$tracker_log" \
        tracker_peers "$tracker_port" "$info_hash"
}

seeder_listed() {
    tracker_peers "$tracker_port" "$info_hash" | grep -qx "127.0.0.1:$seeder_port"
}

start_seeder() {
    step "starting the aria2c seeder on 127.0.0.1:$seeder_port"
    seeder_log=$tmp/seeder.log
    aria2c --no-conf=true \
        --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
        --enable-peer-exchange=false --disable-ipv6=true \
        --interface=127.0.0.1 --bt-external-ip=127.0.0.1 --listen-port="$seeder_port" \
        --seed-ratio=0.0 --bt-seed-unverified=true --check-integrity=false \
        --bt-tracker-interval=1 --bt-tracker-connect-timeout=5 --bt-tracker-timeout=5 \
        --stop-with-process=$$ --enable-color=false --summary-interval=0 \
        --console-log-level=notice \
        -d "$seed_dir" "$torrent" </dev/null >"$seeder_log" 2>&1 &
    seeder_pid=$!
    pids+=("$seeder_pid")
    wait_for "the tracker to list the seeder" 30 "$seeder_pid" "$seeder_log" seeder_listed
}

# --- torrentedge --------------------------------------------------------------------

# api METHOD PATH [CURL_ARGS...]: a request to the server; prints the body, fails
# (showing body and server log) on an HTTP error.
api() {
    local method=$1 path=$2 body rc=0
    shift 2
    body=$(curl -sS --noproxy '*' --max-time 30 --fail-with-body -X "$method" \
        ${token:+-H "Authorization: Bearer $token"} "$@" "$api_url$path") || rc=$?
    if ((rc != 0)); then
        printf '%s\n' "$body" >&2
        die_with_logs "$method $path failed (curl exit $rc)" "${client_logs[@]}"
    fi
    printf '%s\n' "$body"
}

# torrentedge_start DIR: the release server with its state and downloads in DIR, an
# administrator logged in. Run from an empty directory: the server reads a `.env` from
# its working directory (and its parents), which must not change the benchmark. The
# tracker is on loopback, which the server announces to only when told to.
torrentedge_start() {
    local dir=$1 password http_port peer_port
    read -r http_port peer_port < <(free_ports 2)
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    mkdir -p "$dir/cwd" "$dir/data" "$dir/dl"
    client_logs=("$dir/server.log")
    (
        cd "$dir/cwd"
        exec env HOST=127.0.0.1 PORT="$http_port" PEER_HOST=127.0.0.1 PEER_PORT="$peer_port" \
            DATA_DIR="$dir/data" DOWNLOAD_PATH="$dir/dl" ENABLE_DHT=false ENABLE_LSD=false \
            ALLOW_PRIVATE_TRACKERS=true \
            ADMIN_PASSWORD="$password" ACCESS_TOKEN_TTL=86400 "$server_bin"
    ) </dev/null >"$dir/server.log" 2>&1 &
    client_pid=$!
    pids+=("$client_pid")
    api_url=http://127.0.0.1:$http_port
    token=
    wait_for "the server to answer /api/health/live" 60 "$client_pid" "$dir/server.log" \
        curl -sf --noproxy '*' --max-time 2 "$api_url/api/health/live"
    token=$(api POST /api/auth/login -H 'Content-Type: application/json' \
        --data "$(jq -nc --arg p "$password" '{username: "admin", password: $p}')" |
        jq -r .accessToken)
    [[ -n $token && $token != null ]] || die_with_logs "login gave no accessToken" "$dir/server.log"
}

torrentedge_add() {
    local added
    added=$(api POST /api/torrents -F "file=@$torrent;type=application/x-bittorrent" | jq -r .infoHash)
    [[ $added == "$info_hash" ]] ||
        die_with_logs "the server added $added, expected $info_hash" "${client_logs[@]}"
}

# Prints DONE BYTES TOTAL STATE (tab-separated), as every CLIENT_poll does.
torrentedge_poll() {
    local row
    row=$(api GET "/api/torrents/$info_hash" |
        jq -r '[(.completedAt != null), .completedBytes, .totalBytes, .state, .error] | map(tostring) | @tsv')
    [[ ${row##*$'\t'} == null ]] || die_with_logs "the torrent failed: ${row##*$'\t'}" "${client_logs[@]}"
    printf '%s\n' "${row%$'\t'*}"
}

# --- qbittorrent-nox ----------------------------------------------------------------

# qbt_api PATH [CURL_ARGS...]: a WebUI API request (no login: local clients need none
# with the configuration of qbt_write_config); prints the body.
qbt_api() {
    local path=$1 body rc=0
    shift
    body=$(curl -sS --noproxy '*' --max-time 30 --fail-with-body "$@" "$qbt_url$path") || rc=$?
    ((rc == 0)) || die_with_logs "qbittorrent-nox: $path failed (curl exit $rc): $body" "${client_logs[@]}"
    printf '%s\n' "$body"
}

qbittorrent_nox_start() {
    local dir=$1 webui_port peer_port
    read -r webui_port peer_port < <(free_ports 2)
    mkdir -p "$dir/dl"
    qbt_write_config "$dir/profile" "$webui_port" "$peer_port" "$dir/dl"
    qbt_start "$dir/profile" "$webui_port" "$peer_port"
    client_pid=$qbt_pid
    client_logs=("$dir/profile/qbittorrent-nox.out" "$qbt_log")
}

qbittorrent_nox_add() {
    local answer
    answer=$(qbt_api /api/v2/torrents/add -F "torrents=@$torrent;type=application/x-bittorrent" \
        -F "savepath=$client_dir/dl")
    [[ $answer == Ok. ]] || die_with_logs "qbittorrent-nox refused the torrent: $answer" "${client_logs[@]}"
}

# Complete: every wanted byte done and a seeding state (4.5 names; 5.x says "stopped"
# for "paused"). An empty list means the torrent is still being added.
qbittorrent_nox_poll() {
    qbt_api "/api/v2/torrents/info?hashes=$info_hash" | jq -r '
        (.[0] // {state: "adding", completed: 0, size: 0}) as $t
        | if ($t.state == "error" or $t.state == "missingFiles") then error("state \($t.state)") else . end
        | [($t.size > 0 and $t.completed >= $t.size
              and ($t.state | test("^(uploading|stalledUP|queuedUP|pausedUP|stoppedUP|forcedUP)$"))),
           $t.completed, $t.size, $t.state] | map(tostring) | @tsv' ||
        die_with_logs "qbittorrent-nox: the torrent failed" "${client_logs[@]}"
}

# --- aria2c -------------------------------------------------------------------------

# aria2_rpc METHOD PARAMS [JQ_ARGS...]: a JSON-RPC call; PARAMS is a jq expression for
# the parameters after the secret, over JQ_ARGS. Prints the result.
aria2_rpc() {
    local method=$1 params=$2 body
    shift 2
    body=$(jq -nc --arg m "aria2.$method" --arg t "token:$aria2_secret" "$@" \
        "{jsonrpc: \"2.0\", id: \"bench\", method: \$m, params: ([\$t] + ($params))}" |
        curl -sS --noproxy '*' --max-time 30 -H 'Content-Type: application/json' \
            --data-binary @- "$aria2_url") ||
        die_with_logs "aria2c RPC $method: no answer" "${client_logs[@]}"
    jq -ec .result <<<"$body" 2>/dev/null || die_with_logs "aria2c RPC $method: $body" "${client_logs[@]}"
}

# aria2c_start DIR: aria2c with only its RPC server (loopback, a random secret) and no
# download, so that, as for the others, the timing starts when it is handed the torrent.
# --seed-time=0: it stops the torrent (status `complete`) as soon as it has every byte.
aria2c_start() {
    local dir=$1 rpc_port peer_port
    read -r rpc_port peer_port < <(free_ports 2)
    aria2_secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    aria2_url=http://127.0.0.1:$rpc_port/jsonrpc
    mkdir -p "$dir/dl"
    client_logs=("$dir/aria2c.log")
    aria2c --no-conf=true --enable-rpc=true --rpc-listen-all=false --rpc-listen-port="$rpc_port" \
        --rpc-secret="$aria2_secret" \
        --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
        --enable-peer-exchange=false --disable-ipv6=true \
        --interface=127.0.0.1 --bt-external-ip=127.0.0.1 --listen-port="$peer_port" \
        --seed-time=0 --file-allocation=none --stop-with-process=$$ \
        --enable-color=false --summary-interval=0 --console-log-level=notice \
        -d "$dir/dl" </dev/null >"$dir/aria2c.log" 2>&1 &
    client_pid=$!
    pids+=("$client_pid")
    # A plain request, not aria2_rpc: that one fails the run on the first refusal.
    wait_for "aria2c's RPC on port $rpc_port" 30 "$client_pid" "$dir/aria2c.log" \
        curl -sf --noproxy '*' --max-time 2 "$aria2_url" \
        --data "{\"jsonrpc\": \"2.0\", \"id\": \"up\", \"method\": \"aria2.getVersion\", \"params\": [\"token:$aria2_secret\"]}"
}

# shellcheck disable=SC2016 # $b64 and $gid are jq variables
aria2c_add() {
    aria2_gid=$(aria2_rpc addTorrent '[$b64, [], {}]' --rawfile b64 "$torrent.b64" | jq -r .)
}

# shellcheck disable=SC2016 # $gid is a jq variable
aria2c_poll() {
    local row
    row=$(aria2_rpc tellStatus '[$gid, ["status", "completedLength", "totalLength", "errorMessage"]]' \
        --arg gid "$aria2_gid" |
        jq -r '[(.status == "complete"), .completedLength, .totalLength, .status, .errorMessage // ""] | @tsv')
    case $row in
    *$'\t'error$'\t'* | *$'\t'removed$'\t'*) die_with_logs "aria2c: the download failed: $row" "${client_logs[@]}" ;;
    esac
    printf '%s\n' "${row%$'\t'*}"
}

# --- one download -------------------------------------------------------------------

# poll CLIENT: one poll of the client's API; succeeds once the download is complete.
# Notes (in globals) the moments the first MiB and every byte were seen, and the
# largest RssAnon; fails the run past the deadline.
poll() {
    local client=$1 row complete bytes total state anon
    # `|| exit`: this runs as a loop condition, where set -e does not apply.
    row=$("${client//-/_}_poll") || exit 1
    IFS=$'\t' read -r complete bytes total state <<<"$row"
    if [[ -z $t_first ]] && ((bytes >= MIB)); then t_first=$(now); fi
    if [[ -z $t_all ]] && ((total > 0 && bytes >= total)); then t_all=$(now); fi
    [[ $complete != true ]] || return 0
    anon=$(proc_mib "$client_pid" RssAnon)
    r_anon=$(awk -v a="$anon" -v b="$r_anon" 'BEGIN { print (a > b ? a : b) }')
    ((SECONDS < deadline)) || die_with_logs \
        "$client timed out after ${timeout_s}s: $bytes of $total bytes, state $state" \
        "${client_logs[@]}" "$seeder_log"
    if ((SECONDS - last_report >= 5)); then
        last_report=$SECONDS
        printf '    %s: %s of %s bytes\n' "$state" "$bytes" "$total" >&2
    fi
    return 1
}

# measure CLIENT: hands the torrent to the running client and polls it every 0.2 s
# until it reports the download complete; sets the r_* figures.
measure() {
    local client=$1 cpu0 seeder_cpu0 t0 t_done
    t_first='' t_all='' r_anon=0 deadline=$((SECONDS + timeout_s)) last_report=$SECONDS
    cpu0=$(proc_cpu "$client_pid")
    seeder_cpu0=$(proc_cpu "$seeder_pid")
    t0=$(now)
    "${client//-/_}_add"
    until poll "$client"; do
        sleep 0.2
    done
    t_done=$(now)
    r_cpu=$(cpu_since "$client_pid" "$cpu0")
    r_seeder_cpu=$(cpu_since "$seeder_pid" "$seeder_cpu0")
    r_hwm=$(proc_mib "$client_pid" VmHWM)
    r_wall=$(elapsed "$t0" "$t_done")
    r_first=$(elapsed "$t0" "${t_first:-$t_done}")
    r_all=$(elapsed "$t0" "${t_all:-$t_done}")
}

# verify CLIENT DIR: every source file has exactly one copy under DIR, equal to it.
verify() {
    local client=$1 dir=$2 rel found
    for rel in "${files[@]}"; do
        mapfile -t found < <(find "$dir" -type f -path "*/$rel")
        ((${#found[@]} == 1)) ||
            die "$client: expected one copy of $rel under $dir, found ${#found[@]}: ${found[*]}"
        cmp -- "$seed_dir/$rel" "${found[0]}" ||
            die "$client: ${found[0]} differs from the source $rel: the download is WRONG"
    done
}

# bench_once LAYOUT ROUND CLIENT: one download by CLIENT, from start to deleted; one
# line in $results.
bench_once() {
    local layout=$1 round=$2 client=$3 dir=$tmp/client
    step "$layout, round $round: $client"
    mkdir -p "$dir"
    client_dir=$dir
    "${client//-/_}_start" "$dir"
    measure "$client"
    stop_pid "$client_pid" "${client_logs[0]}"
    verify "$client" "$dir/dl"
    rm -rf -- "$dir"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$layout" "$round" "$client" \
        "$r_wall" "$r_first" "$r_all" "$r_cpu" "$r_seeder_cpu" "$r_hwm" "$r_anon" >>"$results"
}

# bench_layout LAYOUT: content, tracker and seeder, then every round; all of it is
# removed afterwards, so only one layout's data is on disk at a time.
bench_layout() {
    local layout=$1 round k n=${#CLIENTS[@]}
    read -r tracker_port seeder_port < <(free_ports 2)
    make_content "$layout"
    start_tracker
    start_seeder
    for ((round = 1; round <= rounds; round++)); do
        for ((k = 0; k < n; k++)); do
            bench_once "$layout" "$round" "${CLIENTS[(round - 1 + k) % n]}"
        done
    done
    stop_pid "$seeder_pid" "$seeder_log"
    stop_pid "$tracker_pid" "$tracker_log"
    rm -rf -- "$seed_dir"
}

# --- the report ---------------------------------------------------------------------

# stats LAYOUT CLIENT COLUMN: "median min max" of a column of $results over the rounds.
stats() {
    awk -F'\t' -v l="$1" -v c="$2" -v k="$3" '$1 == l && $3 == c { print $k }' "$results" |
        sort -g | awk '{ v[NR] = $1 } END {
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            print m, v[1], v[NR] }'
}

median() { stats "$@" | cut -d' ' -f1; }

# The columns of $results: 4 wall, 5 first MiB, 6 every byte, 7 CPU, 8 seeder CPU,
# 9 VmHWM, 10 peak RssAnon.
report_layout() {
    local layout=$1 client desc wall lo hi
    desc="1 file"
    [[ $layout == single ]] || desc="${#sizes[@]} files of odd sizes"
    printf '\n%s: %s MiB in %s, 1 MiB pieces; medians of %s rounds (wall s: min-max)\n' \
        "$layout" "$size_mib" "$desc" "$rounds"
    printf '%-16s %20s %7s %7s %13s %13s %9s %10s\n' client 'wall s' 'MiB/s' 'CPU s' \
        'seeder CPU s' 'peak RSS MiB' 'anon MiB' '1st MiB s'
    for client in "${CLIENTS[@]}"; do
        read -r wall lo hi < <(stats "$layout" "$client" 4)
        awk -v n="$client" -v w="$wall" -v lo="$lo" -v hi="$hi" -v m="$size_mib" \
            -v c="$(median "$layout" "$client" 7)" -v s="$(median "$layout" "$client" 8)" \
            -v r="$(median "$layout" "$client" 9)" -v a="$(median "$layout" "$client" 10)" \
            -v f="$(median "$layout" "$client" 5)" 'BEGIN {
            printf "%-16s %20s %7.1f %7.2f %13.2f %13.1f %9.1f %10.2f\n", n,
                sprintf("%.2f (%.2f-%.2f)", w, lo, hi), m / w, c, s, r, a, f }'
    done
    report_ratios "$layout"
}

report_ratios() {
    local layout=$1
    awk -v tw="$(median "$layout" torrentedge 4)" -v qw="$(median "$layout" qbittorrent-nox 4)" \
        -v aw="$(median "$layout" aria2c 4)" -v tc="$(median "$layout" torrentedge 7)" \
        -v qc="$(median "$layout" qbittorrent-nox 7)" -v tb="$(median "$layout" torrentedge 6)" \
        -v m="$size_mib" 'BEGIN {
        printf "torrentedge / qbittorrent-nox: wall time %.2f, CPU %.2f (below 1: torrentedge is faster, uses less CPU)\n", tw / qw, tc / qc
        printf "torrentedge / aria2c: wall time %.2f\n", tw / aw
        printf "torrentedge had every byte verified at %.2f s (median) = %.1f MiB/s, %.2f of qbittorrent-nox wall time\n", tb, m / tb, tb / qw }'
}

report_rounds() {
    printf '\nevery round (in the order run):\n'
    printf '%-7s %6s %-16s %8s %7s %13s %9s %10s\n' layout round client 'wall s' 'CPU s' \
        'peak RSS MiB' 'anon MiB' '1st MiB s'
    awk -F'\t' '{ printf "%-7s %6s %-16s %8.2f %7.2f %13.1f %9.1f %10.2f\n", $1, $2, $3, $4, $7, $9, $10, $5 }' \
        "$results"
}

report() {
    local layout cpu_model
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    printf '\ndownload benchmark: torrentedge, qbittorrent-nox %s, aria2c %s; one aria2c seeder, 127.0.0.1\n' \
        "$(qbittorrent-nox --version | awk '{ print $2 }')" "$(aria2c --version | awk 'NR == 1 { print $3 }')"
    printf 'machine: nproc %s, %s\n' "$(nproc)" "${cpu_model:-unknown CPU}"
    printf 'server:  %s (git %s)\n' "$server_bin" "$(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"
    for layout in "${layouts[@]}"; do
        [[ $layout == single ]] || multi_sizes
        report_layout "$layout"
    done
    report_rounds
    printf '\nevery download was identical to the source (cmp)\n'
}

main() {
    parse_args "$@"
    install_bittorrent_tools curl:curl jq:jq python3:python3 qbittorrent-nox:qbittorrent-nox
    build_server

    tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-download.XXXXXX")
    local need_kib=$((2 * size_mib * 1024 + 65536)) avail_kib
    avail_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
    ((avail_kib >= need_kib)) ||
        die "$tmp has $((avail_kib / 1024)) MiB free, the benchmark needs about $((need_kib / 1024)) MiB"
    results=$tmp/results.tsv
    : >"$results"
    local layout
    for layout in "${layouts[@]}"; do
        bench_layout "$layout"
    done
    report
}

main "$@"
