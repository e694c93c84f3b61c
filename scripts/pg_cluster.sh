#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests: a temp directory, loopback only, a free port, TLS on
# with a self-signed CA made by openssl, and a role and database for the tests.
#
#   scripts/pg_cluster.sh start    prints KEY=VALUE lines on stdout:
#       JRM_TEST_POSTGRES_URL       postgres://jrm_test@127.0.0.1:PORT/jrm_test (no password in it)
#       JRM_TEST_POSTGRES_PASSWORD  the role's password (random, this cluster only)
#       JRM_TEST_POSTGRES_CA        the CA certificate that signed the server's (for sslrootcert)
#       JRM_TEST_POSTGRES_DIR       the cluster's directory, for stop
#   scripts/pg_cluster.sh stop DIR  stops that cluster and deletes its directory
#
# The server refuses to run as root: as root, everything runs as the `postgres` user on a
# directory made for it; otherwise as the current user. The server's certificate names
# `localhost` only, so verify-full to 127.0.0.1 fails by design (a test relies on it). initdb and pg_ctl are found under
# /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH); any cluster the package started
# itself is left alone. Progress and errors go to stderr; exit 1 when the cluster cannot start.
set -euo pipefail

fail() {
  echo "pg_cluster: $*" >&2
  exit 1
}

bindir() {
  local dir
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    # Through symlinks: psql sits beside the real pg_ctl, not always beside a link to it.
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  # The newest installed version.
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || fail "no PostgreSQL server found (initdb, pg_ctl)"
  echo "$dir"
}

# Run as the cluster's owner: postgres when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local base bin dir port password tries
  command -v openssl >/dev/null 2>&1 || fail "openssl is needed for the test certificate"
  bin=$(bindir)
  # As root, /tmp: the postgres user must reach the directory, and a root TMPDIR may be private.
  base=${TMPDIR:-/tmp}
  [ "$(id -u)" = 0 ] && base=/tmp
  dir=$(mktemp -d "$base/jrm-pg.XXXXXX")
  # Whatever fails from here on leaves no server running and no directory behind.
  trap 'as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || fail "running as root needs the postgres user"
    chown postgres: "$dir"
  fi
  chmod 0700 "$dir"
  as_owner mkdir -m 0700 "$dir/data" "$dir/sock"

  # A CA, and a server certificate it signs for 127.0.0.1 and localhost.
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=jrm test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
    rm -f server.csr server.ext ca.srl ca.key
    chmod 0600 server.key
    chmod 0644 ca.crt server.crt
  ) || fail "openssl could not make the test certificate"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/server.key" "$dir/server.crt"

  password=$(openssl rand -hex 16)
  printf '%s\n' "$password" >"$dir/pwfile"
  chmod 0600 "$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
  # The superuser logs in by password over TCP and without one on the private socket.
  as_owner "$bin/initdb" -D "$dir/data" -U jrm_admin --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    fail "initdb failed: $(tail -n 1 "$dir/initdb.log")"
  rm -f "$dir/pwfile"
  cat >>"$dir/data/postgresql.conf" <<EOF
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
EOF

  for tries in 1 2 3 4 5 6 7 8; do
    port=$((20000 + RANDOM % 40000))
    port_in_use "$port" && continue
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
      break
    fi
    port=
  done
  [ -n "${port:-}" ] || fail "the server did not start: $(tail -n 1 "$dir/server.log" 2>/dev/null)"

  as_owner "$bin/psql" -h "$dir/sock" -p "$port" -U jrm_admin -d postgres -v ON_ERROR_STOP=1 \
    -q >/dev/null <<EOF || fail "could not create the test role"
CREATE ROLE jrm_test LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE jrm_test OWNER jrm_test;
EOF
  echo "pg_cluster: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)" >&2
  echo "JRM_TEST_POSTGRES_URL=postgres://jrm_test@127.0.0.1:$port/jrm_test"
  echo "JRM_TEST_POSTGRES_PASSWORD=$password"
  echo "JRM_TEST_POSTGRES_CA=$dir/ca.crt"
  echo "JRM_TEST_POSTGRES_DIR=$dir"
  trap - EXIT
}

stop() {
  local dir=${1:-}
  [ -n "$dir" ] && [ -f "$dir/data/PG_VERSION" ] || fail "not a cluster made by this script: \"$dir\""
  as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
    echo "pg_cluster: the server in $dir was not running" >&2
  rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
  echo "usage: scripts/pg_cluster.sh start | stop DIR" >&2
  exit 2
  ;;
esac
