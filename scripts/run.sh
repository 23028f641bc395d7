#!/usr/bin/env bash
#
# Starts the server on embedded defaults (README: `./scripts/run.sh`): installs the
# build tools a fresh Debian machine lacks (cmake and a C++ compiler, for the Kafka
# client library; Node.js and npm, for the dashboard), builds the dashboard, then builds
# and runs the release binary, which embeds it. Arguments and the
# environment (see .env.example) pass through; Ctrl-C stops it cleanly.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install cmake:cmake g++:g++
build_web
step "cargo run --release (the first build takes several minutes)"
exec cargo run --release --bin torrentedge -- "$@"
