#!/usr/bin/env bash
# Start, stop or check the project-local PostgreSQL, Redis and Orthanc (data under .var/).
#   scripts/services.sh start [--record FILE]   start what is not running; FILE lists what it started
#   scripts/services.sh stop [FILE]             stop everything (or only what FILE lists)
#   scripts/services.sh status
# PostgreSQL and Redis are skipped when DATABASE_URL / REDIS_URL are given.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/env.sh"

PG_HOME="$VAR/postgres"
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
  # Root's checkout under a private folder: the postgres user cannot reach .var/, so keep the cluster in a
  # folder of its own that is still specific to this checkout.
  PG_HOME="/var/tmp/medcloud-postgres-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
fi
PG_DATA="$PG_HOME/data"
PG_RUN="$PG_HOME/run"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
ORTHANC_DIR="$VAR/orthanc"
ORTHANC_PID="$ORTHANC_DIR/orthanc.pid"
REDIS_DIR="$VAR/redis"
RECORD=""

log() { printf '[services] %s\n' "$*" >&2; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

refuse_busy_port() {
  if port_busy "$2"; then
    log "$1: port $2 is already taken by another program (another checkout's services?)."
    log "Stop it, or choose another port ($3)."; exit 1
  fi
}

as_pg_user() {
  # PostgreSQL refuses to run as root: run its tools as the postgres system user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() { [ -n "$PG_BIN" ] && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start_postgres() {
  [ "$MEDCLOUD_LOCAL_PG" = 1 ] || { log "PostgreSQL: using DATABASE_URL"; return; }
  [ -n "$PG_BIN" ] || { log "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1; }
  mkdir -p "$PG_DATA" "$PG_RUN"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PG_HOME"; fi
  if ! as_pg_user test -w "$PG_DATA"; then
    log "the postgres user cannot write $PG_DATA (is the checkout under a private home folder?)."
    log "Set DATABASE_URL to an existing PostgreSQL instead."; exit 1
  fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "PostgreSQL: initialising $PG_DATA"
    as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if pg_running; then return; fi
  refuse_busy_port PostgreSQL "$MEDCLOUD_PG_PORT" MEDCLOUD_PG_PORT
  log "PostgreSQL: starting on 127.0.0.1:$MEDCLOUD_PG_PORT"
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_HOME/postgres.log" -w -t 60 start \
    -o "-p $MEDCLOUD_PG_PORT -k $PG_RUN -c listen_addresses=127.0.0.1 -c fsync=on" >/dev/null
  record postgres
}

ensure_databases() {
  # Creates the backend's and Orthanc's databases when they are missing.
  python3 - <<'PY'
import os, subprocess
from urllib.parse import urlparse
url = urlparse(os.environ["MEDCLOUD_EFFECTIVE_DATABASE_URL"])
main_db = url.path.lstrip("/") or "medcloud"
orthanc_db = os.environ.get("ORTHANC_DATABASE_NAME") or f"{main_db}_orthanc"
admin = url._replace(path="/postgres").geturl()
for name in (main_db, orthanc_db):
    exists = subprocess.run(["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            check=True, capture_output=True, text=True).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        print(f"[services] PostgreSQL: created database {name}")
PY
}


start_redis() {
  [ "$MEDCLOUD_LOCAL_REDIS" = 1 ] || { log "Redis: using REDIS_URL"; return; }
  if redis-cli -p "$MEDCLOUD_REDIS_PORT" ping >/dev/null 2>&1; then return; fi
  mkdir -p "$REDIS_DIR"
  refuse_busy_port Redis "$MEDCLOUD_REDIS_PORT" MEDCLOUD_REDIS_PORT
  log "Redis: starting on 127.0.0.1:$MEDCLOUD_REDIS_PORT"
  # Celery's broker: keep an append-only log so that a restart loses no queued job.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$MEDCLOUD_REDIS_PORT" --dir "$REDIS_DIR" \
    --appendonly yes --save "" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -p "$MEDCLOUD_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  record redis
}

orthanc_ok() {
  curl -sf -m 2 -u "$ORTHANC_USERNAME:$ORTHANC_PASSWORD" "$ORTHANC_URL/system" >/dev/null 2>&1
}

start_orthanc() {
  if orthanc_ok; then return; fi
  command -v Orthanc >/dev/null || { log "Orthanc not installed (apt-get install orthanc)"; exit 1; }
  refuse_busy_port Orthanc "$(python3 -c "from urllib.parse import urlparse; import os; print(urlparse(os.environ['ORTHANC_URL']).port)")" ORTHANC_URL
  mkdir -p "$ORTHANC_DIR/config" "$ORTHANC_DIR/log" "$ORTHANC_STORAGE_DIR"
  python3 "$ROOT/scripts/render_orthanc_config.py" "$ORTHANC_DIR/config/orthanc.json"
  log "Orthanc: starting on $ORTHANC_URL"
  # Orthanc's Python plugin must find the plugin's helpers and the system's cryptography package. Its own
  # session (setsid), like Redis and PostgreSQL: a signal to `make run`'s process group must not reach it
  # before `services.sh stop` does (that race once left Redis and PostgreSQL running).
  PYTHONPATH="$ROOT/orthanc/plugins" setsid nohup Orthanc --logdir="$ORTHANC_DIR/log" \
    "$ORTHANC_DIR/config/orthanc.json" > "$ORTHANC_DIR/stdout.log" 2>&1 < /dev/null &
  echo $! > "$ORTHANC_PID"
  for _ in $(seq 150); do
    orthanc_ok && { record orthanc; return; }
    kill -0 "$(cat "$ORTHANC_PID")" 2>/dev/null || break
    sleep 0.2
  done
  log "Orthanc did not start; last log lines:"; tail -n 30 "$ORTHANC_DIR/stdout.log" "$ORTHANC_DIR"/log/* >&2 || true
  exit 1
}

record() { if [ -n "$RECORD" ]; then echo "$1" >> "$RECORD"; fi; }

stop_one() {
  case "$1" in
    orthanc)
      if [ -f "$ORTHANC_PID" ] && kill -0 "$(cat "$ORTHANC_PID")" 2>/dev/null; then
        log "Orthanc: stopping"; kill "$(cat "$ORTHANC_PID")" 2>/dev/null || true  # it may be exiting already
        for _ in $(seq 100); do kill -0 "$(cat "$ORTHANC_PID")" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$ORTHANC_PID";;
    redis)
      if [ -f "$REDIS_DIR/redis.pid" ]; then
        log "Redis: stopping"; redis-cli -p "$MEDCLOUD_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
      fi;;
    postgres)
      if pg_running; then log "PostgreSQL: stopping"; as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null; fi;;
  esac
}

cmd=${1:-status}; shift || true
case "$cmd" in
  start)
    if [ "${1:-}" = "--record" ]; then RECORD=$2; mkdir -p "$(dirname "$RECORD")"; : > "$RECORD"; fi
    start_postgres; ensure_databases; start_redis; start_orthanc;;
  stop)
    if [ -n "${1:-}" ] && [ -f "$1" ]; then
      tac "$1" | while read -r s; do stop_one "$s"; done; rm -f "$1"
    else
      stop_one orthanc; stop_one redis; stop_one postgres
    fi;;
  status)
    pg_running && echo "postgres: running (local)" || echo "postgres: local server not running (DATABASE_URL=$DATABASE_URL)"
    redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && echo "redis: up" || echo "redis: down"
    orthanc_ok && echo "orthanc: up" || echo "orthanc: down";;
  *) echo "usage: $0 start [--record FILE] | stop [FILE] | status" >&2; exit 2;;
esac
