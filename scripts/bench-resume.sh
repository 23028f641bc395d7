#!/usr/bin/env bash
#
# Restart benchmark: a library of complete torrents (default 50 × 200 MiB = 10 GiB),
# checked in full once, then the server restarted; prints both times, their ratio and
# the bytes the restart read back.
#
#   scripts/bench-resume.sh [--torrents N] [--mib MIB] [--piece-kib KIB]
#
# Needs about torrents × mib free under ${TMPDIR:-/tmp}. The options go to
# examples/bench_resume.rs (its header says what each figure is).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev
run_bench_example bench_resume "$@"
