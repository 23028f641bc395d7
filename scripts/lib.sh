# shellcheck shell=bash
# Shell helpers shared by scripts/test.sh and scripts/bench-download.sh (sourced, not
# run): step messages, quiet commands, root, and installing Debian packages on demand.

step() { printf '==> %s\n' "$*" >&2; }

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

# apt_install PROGRAM:PACKAGE... installs each PACKAGE whose PROGRAM is not on
# PATH. Checking the program rather than the package also accepts tools installed
# some other way; `type -P` looks for a file only, so `time` means /usr/bin/time
# and not the shell keyword. The package index is refreshed once per run, and only
# when something is actually missing.
apt_install() {
    local spec missing=()
    for spec in "$@"; do
        type -P "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
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

# The BitTorrent programs the tests and the benchmark run as real peers, plus any
# extra PROGRAM:PACKAGE given. On a systemd machine the opentracker package starts a
# system-wide tracker on every interface; we run our own on loopback, so stop the one
# the install just caused.
install_bittorrent_tools() {
    local had_opentracker=true
    type -P opentracker >/dev/null 2>&1 || had_opentracker=false
    apt_install aria2c:aria2 opentracker:opentracker mktorrent:mktorrent "$@"
    if ! $had_opentracker && [[ -d /run/systemd/system ]]; then
        quietly as_root systemctl disable --now opentracker.service
    fi
}
