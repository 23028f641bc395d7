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
    require_cargo
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 ||
            die "cargo fmt / cargo clippy missing and no rustup to add them"
        step "installing rustfmt and clippy"
        quietly rustup component add rustfmt clippy
    fi
}

install_deps() {
    step "checking test dependencies"
    deps_rust
    deps_tansu
    deps_node
    build_web
    deps_python
    # nginx-light: the shipped nginx config runs in front of the server in a test;
    # prometheus: its promtool checks /metrics; redis-server: the Redis cache's tests
    # start their own on loopback; chromium: the dashboard's browser test; ffmpeg
    # (with ffprobe) makes and plays the streaming tests' videos; rclone is their
    # WebDAV client; qbittorrent-nox and transmission-cli are the real clients that meet
    # through the built-in tracker.
    install_bittorrent_tools nginx:nginx-light promtool:prometheus redis-server:redis-server \
        chromium:chromium ffmpeg:ffmpeg ffprobe:ffmpeg rclone:rclone \
        qbittorrent-nox:qbittorrent-nox transmission-cli:transmission-cli
    stop_system_services nginx prometheus redis-server
}

check_format() {
    step "cargo fmt --check"
    cargo fmt --check
}

check_web() {
    step "tsc --noEmit (web)"
    quietly npm --prefix web run check
}

check_lints() {
    step "cargo clippy --all-targets -- -D warnings"
    cargo clippy --quiet --all-targets -- -D warnings
}

run_tests() {
    # --quiet hides cargo's progress but keeps each binary's `test result:` line.
    # Doctests, unit tests and the examples (built, no tests of their own) first, so
    # the summary read last is the integration suite's, not an empty one.
    step "cargo test --doc"
    cargo test --quiet --doc
    step "cargo test --lib --bins --examples"
    cargo test --quiet --lib --bins --examples
    step "cargo test --test it (integration suite)"
    cargo test --quiet --test it
}

main() {
    install_deps
    check_format
    check_web
    check_lints
    run_tests
    step "all checks passed"
}

main "$@"
