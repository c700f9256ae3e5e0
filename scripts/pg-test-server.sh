#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for tests and benchmarks (never a production server).
#   bash scripts/pg-test-server.sh start <port>   -> initdb in a new temp dir, start on 127.0.0.1:<port>;
#                                                   last line of output: "<dir> postgres://irface@127.0.0.1:<port>/postgres"
#   bash scripts/pg-test-server.sh stop <dir>     -> stop the cluster and delete <dir>
# PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user (postgres if the
# package created it, else a system user irface-pg created here). Trust authentication on 127.0.0.1 only; fsync
# off: the data is thrown away, and crash-safety tests kill irface, not PostgreSQL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin="$(bash scripts/ensure-postgres.sh | tail -n 1)"
[ -x "$bin/pg_ctl" ] || { echo "$bin" >&2; exit 3; }

as_owner() {
  if [ "$(id -u)" -ne 0 ]; then "$@"; return; fi
  runuser -u "$owner" -- "$@"
}
owner="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
  if id postgres >/dev/null 2>&1; then owner=postgres
  else
    id irface-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin irface-pg
    owner=irface-pg
  fi
fi

case "${1:-}" in
  start)
    port="${2:?usage: pg-test-server.sh start <port>}"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/irface-pg-XXXXXX")"
    chmod 700 "$dir"
    [ "$(id -u)" -ne 0 ] || chown "$owner" "$dir"
    as_owner "$bin/initdb" -D "$dir/data" --username=irface --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
      || { tail -n 20 "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    echo "$dir postgres://irface@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir="${2:?usage: pg-test-server.sh stop <dir>}"
    case "$dir" in "${TMPDIR:-/tmp}"/irface-pg-*) ;; *) echo "refusing to stop/delete $dir (not a test cluster)" >&2; exit 2 ;; esac
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg-test-server.sh start <port> | stop <dir>" >&2
    exit 2
    ;;
esac
