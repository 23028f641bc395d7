#!/usr/bin/env bash
#
# Piece-hashing benchmark: the engine's SHA-1 (in memory, and the real check of a
# complete torrent on disk) next to `openssl speed -evp sha1` on the same CPU.
#
#   scripts/bench-hash.sh [--mib 1024] [--piece-kib 1024]
#
# The options go to examples/bench_hash.rs (its header says what each figure is).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev openssl:openssl
run_bench_example bench_hash "$@"
