# shellcheck shell=bash
# Shared set-up for ops/run and ops/test. Source it, then call the functions:
#
#   source ops/bootstrap.sh
#   shuwu_bootstrap_python            # .venv + pip install -e '.[dev]' (skipped when pyproject.toml is unchanged)
#   shuwu_apt redis-server chromium   # Debian packages, installed only when missing
#
# Idempotent: a second run on a set-up machine installs nothing and takes about a second.
# Needs only a Python 3.11+ on a Debian machine; uses apt-get as root (sudo otherwise).

SHUWU_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHUWU_VENV="$SHUWU_ROOT/.venv"
SHUWU_PY="$SHUWU_VENV/bin/python"
SHUWU_STAMP="$SHUWU_VENV/.shuwu-install-stamp"
_SHUWU_APT_UPDATED=""

shuwu_say() { printf '[ops] %s\n' "$*"; }
shuwu_die() { printf '[ops] error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
shuwu_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        shuwu_die "need root to run: $* (run as root or install sudo)"
    fi
}

_shuwu_apt_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Run a function holding a lock shared by every ops/run and ops/test of this checkout, so two
# of them started together do not pip-install into one .venv or run apt-get at the same time.
_shuwu_locked() {
    local lock fd status=0
    command -v flock >/dev/null 2>&1 || { "$@"; return; }
    lock="${TMPDIR:-/tmp}/shuwu-bootstrap-$(printf '%s' "$SHUWU_ROOT" | sha256sum | cut -c1-12).lock"
    exec {fd}>"$lock"
    if ! flock -n "$fd"; then
        shuwu_say "waiting for another ops/run or ops/test to finish its set-up …"
        flock "$fd"
    fi
    "$@" || status=$?
    exec {fd}>&-
    return "$status"
}

# shuwu_apt PKG... — install the Debian packages that are missing; `apt-get update` only if one is.
shuwu_apt() { _shuwu_locked _shuwu_apt "$@"; }

_shuwu_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        _shuwu_apt_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || shuwu_die "missing ${missing[*]} and no apt-get: install them by hand"
    if [ -z "$_SHUWU_APT_UPDATED" ]; then
        shuwu_say "apt-get update …"
        shuwu_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            || shuwu_die "apt-get update failed"
        _SHUWU_APT_UPDATED=1
    fi
    shuwu_say "installing ${missing[*]} …"
    shuwu_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || shuwu_die "apt-get install ${missing[*]} failed"
}

# The Python that builds the venv: $SHUWU_PYTHON if set, else the first 3.11–3.13 found.
_shuwu_find_python() {
    local candidate
    for candidate in "${SHUWU_PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# What the install depends on: pyproject.toml, the venv's Python, and where the repo is
# (an editable install points at this folder).
_shuwu_install_key() {
    {
        cat "$SHUWU_ROOT/pyproject.toml"
        "$SHUWU_PY" -c 'import sys; print(sys.version)'
        printf '%s\n' "$SHUWU_ROOT"
    } | sha256sum | cut -d' ' -f1
}

shuwu_bootstrap_python() { _shuwu_locked _shuwu_bootstrap_python; }

_shuwu_bootstrap_python() {
    cd "$SHUWU_ROOT" || shuwu_die "cannot cd to $SHUWU_ROOT"
    # A venv whose interpreter no longer runs (copied from elsewhere, Python removed) is rebuilt.
    if [ -e "$SHUWU_VENV" ] && ! "$SHUWU_PY" -c 'import sys' >/dev/null 2>&1; then
        shuwu_say "the virtual environment in .venv is broken; rebuilding it …"
        rm -rf "$SHUWU_VENV"
    fi
    if [ ! -x "$SHUWU_PY" ]; then
        local base
        base="$(_shuwu_find_python)" || shuwu_die "need Python 3.11, 3.12 or 3.13 (apt-get install python3)"
        # Debian's own python3 lacks ensurepip until python3.X-venv is installed.
        if ! "$base" -c 'import ensurepip' >/dev/null 2>&1; then
            _shuwu_apt "python$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
        fi
        shuwu_say "creating .venv with $base ($("$base" --version 2>&1)) …"
        "$base" -m venv "$SHUWU_VENV" || shuwu_die "python -m venv failed"
        rm -f "$SHUWU_STAMP"
    fi
    local key
    key="$(_shuwu_install_key)"
    if [ -f "$SHUWU_STAMP" ] && [ "$(cat "$SHUWU_STAMP")" = "$key" ]; then
        return 0
    fi
    shuwu_say "installing shuwu and its dependencies into .venv (pip install -e '.[dev]') …"
    "$SHUWU_PY" -m pip install --quiet --disable-pip-version-check --no-input -e '.[dev]' \
        || shuwu_die "pip install -e '.[dev]' failed"
    printf '%s\n' "$key" >"$SHUWU_STAMP"
    shuwu_say "dependencies installed"
}
