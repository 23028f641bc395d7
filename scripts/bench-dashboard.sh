#!/usr/bin/env bash
#
# Dashboard benchmark: the web page with 1,000 torrents of which 100 change every
# second, in headless Chromium; prints frame rate, long-task time, heap and DOM size.
#
#   scripts/bench-dashboard.sh [--torrents N] [--active M] [--seconds S]
#
# The options go to examples/bench_dashboard.rs (its header says how to read the
# figures). This script installs what is missing (Node.js, web/'s packages, Debian's
# chromium), builds the page and the release program, and runs it on 127.0.0.1.
#
# Environment: BENCH_TIMEOUT (s) caps the whole run (default 900).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++ curl-config:libcurl4-openssl-dev chromium:chromium
build_web
run_bench_example bench_dashboard "$@"
