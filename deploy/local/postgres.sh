#!/usr/bin/env bash
# Local PostgreSQL: Debian's server packages (installed when missing), a private cluster made
# with initdb under .run/postgres, its own port, started with pg_ctl, with the database and the
# three roles of deploy/postgres/roles.sql. Passwords are generated on first start and kept in
# .run/postgres/credentials.env (git-ignored), never in the repository.
#   postgres.sh up | down | env
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# As root the server runs as 'postgres', which must be able to reach its folder. A checkout
# under a private home (/root is 0700) cannot be reached: then the cluster lives in a folder of
# its own under /var/tmp, named after this checkout, and .run/postgres is a link to it.
resolve_pg_dir() {
  PG_DIR=$RUN_DIR/postgres
  if [[ -L $PG_DIR ]]; then
    PG_DIR=$(readlink "$PG_DIR")
  elif [[ $(id -u) == 0 && ! -e $PG_DIR ]] && id postgres >/dev/null 2>&1 \
       && ! runuser -u postgres -- test -x "$RUN_DIR" 2>/dev/null; then
    local alt
    alt=/var/tmp/wecom-quota-$(printf '%s' "$ROOT_DIR" | sha1sum | cut -c1-12)/postgres
    mkdir -p "$alt" && chmod 755 "$(dirname "$alt")" && ln -sfn "$alt" "$RUN_DIR/postgres"
    PG_DIR=$alt
  fi
  PG_DATA=$PG_DIR/data
  CRED=$PG_DIR/credentials.env
  # A Unix socket's path may not exceed 107 bytes: the socket lives in a short folder of its own
  # named after the cluster's folder, so a checkout at any depth works.
  PG_SOCKET_DIR=/tmp/wqpg-$(printf '%s' "$PG_DIR" | sha1sum | cut -c1-12)
}
resolve_pg_dir

socket_dir() {
  mkdir -p "$PG_SOCKET_DIR"
  [[ $(id -u) == 0 ]] && chown postgres:postgres "$PG_SOCKET_DIR"
  chmod 755 "$PG_SOCKET_DIR"
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z $d ]]; then
    say "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    { with_progress "apt-get update" apt-get update -qq &&
      with_progress "installing postgresql" apt-get install -y -qq postgresql; } \
      || die "could not install postgresql (apt-get); install it or set DATABASE_URL"
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

# Postgres refuses to run as root: as root we run it as the 'postgres' user of the package.
as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

init_cluster() {
  local bin=$1
  [[ -f $PG_DATA/PG_VERSION ]] && return 0
  say "creating a private PostgreSQL cluster in $PG_DATA"
  mkdir -p "$PG_DIR"
  [[ $(id -u) == 0 ]] && chown postgres:postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
logging_collector = off
timezone = 'UTC'
CONF
}

write_credentials() {
  [[ -f $CRED ]] && return 0
  local gen='import secrets; print(secrets.token_urlsafe(18))'
  {
    echo "PG_OWNER_PASSWORD=$(python3 -c "$gen")"
    echo "PG_APP_PASSWORD=$(python3 -c "$gen")"
    echo "PG_READER_PASSWORD=$(python3 -c "$gen")"
  } > "$CRED"
  chmod 600 "$CRED"
}

create_roles() {
  local bin=$1
  # shellcheck disable=SC1090
  source "$CRED"
  as_pg "$bin/psql" -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -v db="$PG_DB" -v owner_pw="$PG_OWNER_PASSWORD" -v app_pw="$PG_APP_PASSWORD" \
    -v reader_pw="$PG_READER_PASSWORD" -f "$ROOT_DIR/deploy/postgres/roles.sql" >/dev/null
}

up() {
  local bin
  bin=$(pg_bin)
  resolve_pg_dir
  if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    say "PostgreSQL already running on port $PG_PORT"
    return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by a process we did not start; set LOCAL_PG_PORT or DATABASE_URL"
  init_cluster "$bin"
  write_credentials
  socket_dir
  say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # The port is given on the command line too: a cluster made earlier on another port follows.
  if ! as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-p $PG_PORT -c unix_socket_directories=$PG_SOCKET_DIR" start >/dev/null; then
    echo "--- the last lines of $PG_DIR/server.log:" >&2
    tail -n 20 "$PG_DIR/server.log" >&2 || true
    die "PostgreSQL did not start on port $PG_PORT; see $PG_DIR/server.log"
  fi
  head -n 1 "$PG_DATA/postmaster.pid" > "$PID_DIR/postgres.pid"
  create_roles "$bin"
}

down() {
  local bin
  [[ -f $PG_DATA/PG_VERSION ]] || return 0
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -n $bin ]] && as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    say "stopping PostgreSQL"
    as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
  fi
  rm -f "$PID_DIR/postgres.pid"
}

# env: the DSNs of the local cluster, for eval in scripts and the Makefile.
env_lines() {
  # shellcheck disable=SC1090
  source "$CRED"
  echo "DATABASE_URL=postgresql://wq_app:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  echo "DATABASE_MIGRATION_URL=postgresql://wq_owner:$PG_OWNER_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  echo "DATABASE_READER_URL=postgresql://wq_reader:$PG_READER_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  echo "PG_SOCKET_DIR=$PG_SOCKET_DIR"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) env_lines ;;
  *) die "usage: postgres.sh up|down|env" ;;
esac
