#!/usr/bin/env bash
#
# THE test command (README: `./scripts/test.sh`; CI runs it through `.ci/run`).
#
# 1. installs what the tests need when it is missing (one function per
#    dependency group, all called from `install_deps`),
# 2. checks formatting and lints,
# 3. runs the whole test suite.
#
# Quiet on success: only the step names and cargo's `test result:` lines are
# printed; the output of a failing command is shown in full. Exits non-zero on
# the first failure. Safe to run again and again: nothing is installed twice.
#
# To add a dependency group (a service, a package set): write a function next
# to the others, using `apt_install` for Debian packages, and call it from
# `install_deps`.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Passed through unchanged: tests may read it (CI sets CI=true). Exporting an
# unset variable does not create it.
export CI

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# The Rust toolchain: cargo plus the rustfmt and clippy components.
deps_rust() {
    # rustup installs into ~/.cargo/bin, which non-login shells may not have on PATH.
    if ! command -v cargo >/dev/null 2>&1 && [[ -x ${HOME:-}/.cargo/bin/cargo ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 ||
            die "cargo fmt / cargo clippy missing and no rustup to add them"
        step "installing rustfmt and clippy"
        quietly rustup component add rustfmt clippy
    fi
}

# Node.js and the official Socket.IO client that tests/it/socketio.rs drives
# (tests/js). `npm ci` runs when node_modules is missing or older than the lock
# file (npm writes node_modules/.package-lock.json on every install).
deps_node() {
    apt_install node:nodejs npm:npm
    local lock=tests/js/package-lock.json installed=tests/js/node_modules/.package-lock.json
    if [[ ! -f $installed || $lock -nt $installed ]]; then
        step "npm ci in tests/js"
        quietly npm ci --prefix tests/js --no-audit --no-fund
    fi
}

# What rdkafka's bundled librdkafka needs to build (cmake, the libcurl headers), and
# tansu, the Kafka-API broker tests/it/kafka.rs runs on loopback. tansu is built
# from crates.io once per machine (slow); `cargo install` puts it into
# $CARGO_HOME/bin, which the tests find on PATH.
deps_tansu() {
    apt_install cmake:cmake curl-config:libcurl4-openssl-dev
    local cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
    if ! command -v tansu >/dev/null 2>&1 && [[ -x $cargo_bin/tansu ]]; then
        export PATH="$cargo_bin:$PATH"
    fi
    if ! command -v tansu >/dev/null 2>&1; then
        step "installing tansu (cargo install; slow: about 20 minutes on 2 cores, once per machine)"
        quietly cargo install tansu --locked --features dynostore
        export PATH="$cargo_bin:$PATH"
        command -v tansu >/dev/null 2>&1 || die "tansu installed but not found in $cargo_bin"
    fi
}

install_deps() {
    step "checking test dependencies"
    deps_rust
    deps_tansu
    deps_node
    # shellcheck disable=SC2119 # no extra packages for the tests
    install_bittorrent_tools
}

check_format() {
    step "cargo fmt --check"
    cargo fmt --check
}

check_lints() {
    step "cargo clippy --all-targets -- -D warnings"
    cargo clippy --quiet --all-targets -- -D warnings
}

run_tests() {
    # --quiet hides cargo's progress but keeps each binary's `test result:` line.
    # Doctests first (--all-targets leaves them out), so the summary CI reads last
    # is the integration suite's.
    step "cargo test --doc"
    cargo test --quiet --doc
    step "cargo test --all-targets"
    cargo test --quiet --all-targets
}

main() {
    install_deps
    check_format
    check_lints
    run_tests
    step "all checks passed"
}

main "$@"
