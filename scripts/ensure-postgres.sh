#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) are installed; installs Debian's postgresql when missing.
# Exit 0: found or installed (prints the bin directory). Exit 3: missing and cannot be installed; the last line says why.
set -uo pipefail

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  d="$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")"
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  return 1
}
cannot() {
  echo "cannot install postgresql: $*"
  exit 3
}

find_bin && exit 0
command -v apt-get >/dev/null 2>&1 || cannot "initdb/pg_ctl are missing and apt-get is not available; install PostgreSQL 13+ by hand"
[ "$(id -u)" -eq 0 ] || cannot "initdb/pg_ctl are missing and installing needs root; run: sudo apt-get install -y postgresql"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Try without refreshing the package lists first; fresh images often have none, so update and retry.
if ! apt-get install -y -qq --no-install-recommends postgresql >"$log" 2>&1; then
  apt-get update -qq >"$log" 2>&1 || { tail -n 5 "$log"; cannot "apt-get update failed (no network or no package sources?)"; }
  apt-get install -y -qq --no-install-recommends postgresql >"$log" 2>&1 || { tail -n 5 "$log"; cannot "apt-get install postgresql failed"; }
fi
# Debian's package starts a cluster of its own; the tests never use it (they start throwaway ones).
find_bin || cannot "apt-get installed postgresql but initdb/pg_ctl are still missing"
