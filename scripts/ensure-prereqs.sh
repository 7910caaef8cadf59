#!/usr/bin/env bash
# Ensure the PostgreSQL prerequisites of the qprof test suite are present:
# server binaries (initdb, pg_ctl, postgres), pg_stat_statements (contrib) and HypoPG.
#
# Idempotent and fast when everything is there (no apt-get update then).
# As root, installs what is missing from Debian apt; otherwise prints what to install
# and exits 1. Under CI=true a missing prerequisite is always a failure, never a skip.
# Prints the PostgreSQL bin dir it settled on (also the same rule tests/pgcluster.py uses):
#   $QPROF_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`.
# $QPROF_PG_MAJOR picks the major version to install when no server is present at all.
set -euo pipefail

log() { echo "ensure-prereqs: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
apt_updated=0
apt_install() {
    is_root || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq >/dev/null 2>&1 </dev/null || { log "apt-get update failed"; return 1; }
        apt_updated=1
    fi
    log "apt-get install -y $*"
    # --no-upgrade: never bump an already-installed server as a side effect.
    local out
    if ! out="$(apt-get install -y -qq --no-upgrade --no-install-recommends "$@" 2>&1 </dev/null)"; then
        echo "$out" | tail -n 20 >&2
        return 1
    fi
}

find_bindir() {
    if [ -n "${QPROF_PG_BINDIR:-}" ]; then
        echo "$QPROF_PG_BINDIR"; return 0
    fi
    local d best="" best_major=-1 major
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/postgres" ] || continue
        major="$(basename "$(dirname "$d")")"
        [[ "$major" =~ ^[0-9]+$ ]] || continue
        if [ "$major" -gt "$best_major" ]; then best="$d"; best_major="$major"; fi
    done
    if [ -n "$best" ]; then echo "$best"; return 0; fi
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$d" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
    fi
    return 1
}

# Major version of the server in $1, e.g. "15" (from `postgres --version`).
server_major() {
    "$1/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/' | head -n1
}

sharedir_of() {
    local bindir="$1" major="$2"
    if [ -x "$bindir/pg_config" ]; then
        "$bindir/pg_config" --sharedir
    elif [ -d "/usr/share/postgresql/$major" ]; then
        echo "/usr/share/postgresql/$major"
    else
        echo "$(dirname "$bindir")/share"
    fi
}

# --- 1. server binaries -------------------------------------------------------------
if ! bindir="$(find_bindir)"; then
    major="${QPROF_PG_MAJOR:-}"
    if [ -n "$major" ]; then pkgs=("postgresql-$major"); else pkgs=(postgresql postgresql-contrib); fi
    if [ -n "${QPROF_PG_BINDIR:-}" ] || ! apt_install "${pkgs[@]}"; then
        die "no PostgreSQL server found; install it: apt-get install ${pkgs[*]} (or set QPROF_PG_BINDIR)"
    fi
    bindir="$(find_bindir)" || die "PostgreSQL installed but no server bin dir found under /usr/lib/postgresql/*/bin"
fi
for exe in initdb pg_ctl postgres psql; do
    [ -x "$bindir/$exe" ] || die "$bindir/$exe is missing (QPROF_PG_BINDIR=${QPROF_PG_BINDIR:-unset})"
done
major="$(server_major "$bindir")"
[[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the PostgreSQL major version of $bindir/postgres"
extdir="$(sharedir_of "$bindir" "$major")/extension"

# --- 2. extensions ------------------------------------------------------------------
missing=()
[ -f "$extdir/pg_stat_statements.control" ] || {
    if [ "$major" -lt 10 ]; then missing+=("postgresql-contrib-$major"); else missing+=("postgresql-$major"); fi
}
[ -f "$extdir/hypopg.control" ] || missing+=("postgresql-$major-hypopg")

if [ "${#missing[@]}" -gt 0 ]; then
    if ! apt_install "${missing[@]}"; then
        if is_root; then
            die "could not install: ${missing[*]} (apt-get failed)"
        fi
        die "missing in $extdir; as root run: apt-get install -y ${missing[*]}"
    fi
    [ -f "$extdir/pg_stat_statements.control" ] || die "pg_stat_statements.control still missing in $extdir"
    [ -f "$extdir/hypopg.control" ] || die "hypopg.control still missing in $extdir"
fi

# --- 3. a browser: the HTML report test renders reports in headless Chromium ----------
if ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium || die "chromium is missing (the HTML report test needs it): apt-get install -y chromium"
fi

# --- 4. the sqlite3 shell: the SQLite advice test compares against its .expert ------------
if ! command -v sqlite3 >/dev/null 2>&1; then
    apt_install sqlite3 || die "the sqlite3 shell is missing (the .expert parity test needs it): apt-get install -y sqlite3"
fi

# Running the test clusters as root needs an unprivileged OS user for initdb.
if is_root; then
    id postgres >/dev/null 2>&1 || die "running as root but OS user 'postgres' does not exist"
    command -v runuser >/dev/null 2>&1 || die "running as root but 'runuser' is not available"
fi

log "PostgreSQL $major, pg_stat_statements and hypopg OK"
echo "$bindir"
