#!/usr/bin/env bash
#
# Catalog search benchmark: the catalog's tantivy index holding 10,000 synthetic
# entries; prints the indexing time, the cost of one committed upload, and search and
# suggestion latencies (p50, p99).
#
#   scripts/bench-search.sh [--entries 10000] [--queries 2000]
#
# The options go to examples/bench_search.rs (its header says what each figure is).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev
run_bench_example bench_search "$@"
