#!/usr/bin/env bash
#
# Streaming benchmark: time to read 64 KiB at the middle of a fresh stream-only torrent,
# time to the first byte of a read from its start, and the sustained MiB/s of that read,
# from a librqbit seeder on 127.0.0.1; a few rounds, each on a fresh server.
#
#   scripts/bench-stream.sh [--mib 256] [--piece-kib 256] [--rounds 3]
#
# The options go to examples/bench_stream.rs (its header says what each figure is).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev
run_bench_example bench_stream "$@"
