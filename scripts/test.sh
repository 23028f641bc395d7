#!/usr/bin/env bash
#
# THE test command (README: `./scripts/test.sh`; CI runs it through `.ci/run`).
#
# 1. installs what the tests need when it is missing (one `deps_*` function per
#    dependency group, all called from `install_deps`),
# 2. checks formatting and lints,
# 3. runs the whole test suite.
#
# Quiet on success: only the step names and cargo's `test result:` lines are
# printed; the output of a failing command is shown in full. Exits non-zero on
# the first failure. Safe to run again and again: nothing is installed twice.
#
# To add a dependency group (a service, a package set): write `deps_<name>` next
# to the others, using `apt_install` for Debian packages, and call it from
# `install_deps`.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Passed through unchanged: tests may read it (CI sets CI=true). Exporting an
# unset variable does not create it.
export CI

step() { printf '==> %s\n' "$*"; }

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command with its output held back, to keep successful runs quiet; the
# output is shown only if the command fails.
quietly() {
    local log rc=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$log" >&2
        printf 'error: "%s" failed with exit code %d\n' "$*" "$rc" >&2
    fi
    rm -f "$log"
    return "$rc"
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if (($(id -u) == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "not root and no sudo: cannot run \`$*\`; install the missing packages by hand"
    fi
}

apt_updated=false

# apt_install COMMAND:PACKAGE... installs each PACKAGE whose COMMAND is not on
# PATH. Checking the command rather than the package also accepts tools
# installed some other way. The package index is refreshed once per run, and
# only when something is actually missing.
apt_install() {
    local spec missing=()
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
    done
    ((${#missing[@]} > 0)) || return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]}, and no apt-get to install them with"
    step "installing ${missing[*]}"
    if ! $apt_updated; then
        quietly as_root apt-get update
        apt_updated=true
    fi
    # `env` because sudo drops the caller's environment.
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

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

# The BitTorrent programs the integration tests run as real peers:
# opentracker (tracker), aria2c (seeder/leecher), mktorrent (torrent files).
deps_bittorrent() {
    local had_opentracker=true
    command -v opentracker >/dev/null 2>&1 || had_opentracker=false
    apt_install aria2c:aria2 opentracker:opentracker mktorrent:mktorrent
    # On a systemd machine the package enables and starts a system-wide tracker
    # listening on every interface. The tests start their own on loopback, so
    # stop the one we just caused rather than leave it exposed.
    if ! $had_opentracker && [[ -d /run/systemd/system ]]; then
        quietly as_root systemctl disable --now opentracker.service
    fi
}

install_deps() {
    step "checking test dependencies"
    deps_rust
    deps_bittorrent
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
    step "cargo test --all-targets"
    cargo test --quiet --all-targets
    # --all-targets leaves out doctests, which would otherwise never run.
    step "cargo test --doc"
    cargo test --quiet --doc
}

main() {
    install_deps
    check_format
    check_lints
    run_tests
    step "all checks passed"
}

main "$@"
