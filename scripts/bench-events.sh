#!/usr/bin/env bash
#
# Event pipeline benchmark: events/s the release server delivers through Socket.IO
# fan-out (1, 100 and 1,000 connected clients, 100 torrents) and through the Kafka
# relay to a local broker, with the count of events lost (the exit status is non-zero
# if any is lost).
#
#   scripts/bench-events.sh [OPTIONS]
#
# OPTIONS go to the benchmark program, examples/bench_events.rs (its header says
# what it does and how to read the table), e.g. `--clients 1,100,1000`,
# `--per-torrent 40,40,10`, `--rate 10000`, `--client-procs 2`, `--kafka-events 0`
# (no Kafka). Everything runs on 127.0.0.1, in temp dirs removed at the end.
#
# What this script adds: it installs what is missing (Node.js and the official
# Socket.IO client in tests/js, cmake and the libcurl headers that rdkafka's build
# needs, the `tansu` broker), builds the program in release mode (several minutes
# from scratch on 2 cores), runs it under a time bound, and prints the machine it ran
# on above the table. Every process it started is stopped on exit.
#
# Environment: BENCH_TIMEOUT (s) caps the whole run (default 900).

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

timeout_s=${BENCH_TIMEOUT:-900}
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive whole number of seconds"

# --- processes and cleanup ----------------------------------------------------------

pids=()

clean_up_on_exit

# --- dependencies -------------------------------------------------------------------

install_deps() {
    require_cargo
    deps_node
    deps_tansu
}

# --- the benchmark ------------------------------------------------------------------

machine_facts() {
    local cpu mem
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null) || true
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null) || true
    printf 'Machine: %s CPU(s) (nproc), %s, %s RAM; %s; node %s; %s; %s\n' \
        "$(nproc)" "${cpu:-unknown CPU}" "${mem:-unknown}" "$(uname -sr)" \
        "$(node --version)" "$(rustc --version | cut -d' ' -f1-2)" \
        "$(tansu --version 2>/dev/null | head -n 1 || echo tansu)"
}

main() {
    install_deps
    step "cargo build --release --example bench_events"
    quietly cargo build --release --example bench_events
    local bin=${CARGO_TARGET_DIR:-$repo/target}/release/examples/bench_events rc=0
    [[ -x $bin ]] || die "no benchmark binary at $bin after the build"

    step "running the benchmark (at most ${timeout_s}s)"
    # In the background, so the EXIT trap can stop it and its children (node
    # clients, tansu) whatever ends this script.
    timeout --kill-after=10 "$timeout_s" "$bin" --node "$(command -v node)" \
        --tansu "$(command -v tansu)" "$@" </dev/null &
    pids+=("$!")
    wait "$!" || rc=$?
    pids=()
    machine_facts
    if ((rc == 124)); then
        die "the benchmark did not finish within ${timeout_s}s (BENCH_TIMEOUT)"
    fi
    return "$rc"
}

main "$@"
