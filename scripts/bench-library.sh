#!/usr/bin/env bash
#
# Library benchmark: the release server with 1,000 idle torrents; prints RSS (base and
# per torrent), the restart time, and GET /api/torrents under wrk (16 connections).
#
#   scripts/bench-library.sh [--torrents N] [--connections C] [--seconds S]
#
# The options go to examples/bench_library.rs (its header says what each figure is).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev wrk:wrk
run_bench_example bench_library "$@"
