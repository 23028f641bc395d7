#!/usr/bin/env bash
#
# The crash campaign at full length: `./scripts/crash-campaign.sh [COUNT]` (default
# 200 kills) on a release build. The shipped binary downloads several torrents from
# local seeders with Kafka (tansu) attached, while a driver adds, pauses, resumes,
# re-prioritises and removes torrents; it is killed with SIGKILL at random moments and
# restarted on the same data directory each time. The campaign is
# `tests/it/crash.rs` (the test suite runs it with a few kills); this script runs it
# with COUNT kills and prints its one summary line:
#
#   crash-campaign: kills=N torrents=T acknowledged=A events=E violations=V
#
# It exits non-zero on any violation.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

count=${1:-200}
[[ $count =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive whole number"

require_cargo
deps_tansu
step "cargo build --release --tests"
quietly cargo build --release --test it
step "crash campaign: $count kills"
log=$(mktemp)
rc=0
CRASH_KILLS=$count cargo test --release --quiet --test it crash_campaign -- --nocapture >"$log" 2>&1 || rc=$?
if ((rc != 0)); then
    cat "$log" >&2
fi
grep '^crash-campaign:' "$log" || echo "crash-campaign: no summary (the campaign failed before the end)"
rm -f "$log"
exit "$rc"
