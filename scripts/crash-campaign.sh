#!/usr/bin/env bash
#
# The crash campaign at full length: `./scripts/crash-campaign.sh [COUNT] [STORE]`
# (default 200 kills; STORE sqlite, the default, or mongodb: the server on a local
# nx-27017 MongoDB wire-protocol server, which outlives the kills) on a release build. The shipped binary downloads several torrents from
# local seeders with Kafka (tansu) attached, while a driver adds, pauses, resumes,
# re-prioritises and removes torrents; it is killed with SIGKILL at random moments and
# restarted on the same data directory each time. The campaign is
# `tests/it/crash.rs` (the test suite runs it with a few kills); this script runs it
# with COUNT kills and prints its one summary line:
#
#   crash-campaign: store=S kills=N torrents=T acknowledged=A events=E violations=V
#
# It exits non-zero on any violation.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

count=${1:-200}
store=${2:-sqlite}
[[ $count =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive whole number"
case $store in
sqlite) test=crash::crash_campaign ;;
mongodb) test=crash::crash_campaign_mongodb ;;
*) die "STORE must be sqlite or mongodb" ;;
esac

require_cargo
deps_tansu
deps_python
step "cargo build --release --tests"
quietly cargo build --release --test it
step "crash campaign: $count kills on $store"
log=$(mktemp)
rc=0
CRASH_KILLS=$count cargo test --release --quiet --test it "$test" -- --exact --nocapture >"$log" 2>&1 || rc=$?
if ((rc != 0)); then
    cat "$log" >&2
fi
grep '^crash-campaign:' "$log" || echo "crash-campaign: no summary (the campaign failed before the end)"
rm -f "$log"
exit "$rc"
