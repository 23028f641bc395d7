#!/usr/bin/env bash
#
# Regenerates docs/dashboard.png, the screenshot the README shows: runs the browser
# test (tests/it/dashboard.rs, which writes every screenshot to target/screenshots/)
# and copies the desktop, light-theme details page from it.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

apt_install chromium:chromium aria2c:aria2 opentracker:opentracker
build_web
step "cargo test --test it dashboard (writes target/screenshots/)"
quietly cargo test --test it dashboard
mkdir -p docs
cp target/screenshots/details-desktop-light.png docs/dashboard.png
step "docs/dashboard.png updated"
