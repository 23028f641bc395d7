#!/usr/bin/env bash
#
# Library benchmark: the release server with 1,000 idle torrents; prints RSS (base and
# per torrent), the restart time, and GET /api/torrents under wrk (16 connections);
# then the RSS of qbittorrent-nox (Debian) before and after it is given the same
# torrents paused, per torrent, and torrentedge's per-torrent figure divided by it.
#
#   scripts/bench-library.sh [--torrents N] [--connections C] [--seconds S]
#
# The options go to examples/bench_library.rs (its header says what each figure is).
# The script starts qbittorrent-nox on 127.0.0.1 with a fresh profile in a temp dir
# (configured by qbt_write_config in scripts/lib.sh: no DHT, PeX, local discovery or
# UPnP, so paused magnets stay idle) and stops it and removes the dir on exit.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

tmp=
pids=()

clean_up_on_exit

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev wrk:wrk curl:curl jq:jq \
    python3:python3
install_qbittorrent
build_bench_example bench_library

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-library.XXXXXX")
read -r webui_port peer_port < <(free_ports 2)
step "starting qbittorrent-nox (WebUI on 127.0.0.1:$webui_port)"
qbt_write_config "$tmp/qbittorrent" "$webui_port" "$peer_port" "$tmp/downloads"
qbt_start "$tmp/qbittorrent" "$webui_port" "$peer_port"
run_built_example bench_library --qbittorrent-port "$webui_port" --qbittorrent-pid "$qbt_pid" "$@"
