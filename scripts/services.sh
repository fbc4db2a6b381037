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
# Orthanc's database and role (write_pg_hba, ensure_databases).
export ORTHANC_PG_DATABASE=${ORTHANC_DATABASE_NAME:-$(python3 -c "import os; from urllib.parse import urlparse; print((urlparse(os.environ['MEDCLOUD_EFFECTIVE_DATABASE_URL']).path.lstrip('/') or 'medcloud') + '_orthanc')")}
export ORTHANC_DB_USER=${ORTHANC_DB_USER:-orthanc}
# The local Redis's password, for redis-cli (never on its command line).
if [ "$MEDCLOUD_LOCAL_REDIS" = 1 ]; then export REDISCLI_AUTH=${REDIS_PASSWORD:-}; fi

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
  write_pg_hba
  if pg_running; then as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null; return; fi
  refuse_busy_port PostgreSQL "$MEDCLOUD_PG_PORT" MEDCLOUD_PG_PORT
  log "PostgreSQL: starting on 127.0.0.1:$MEDCLOUD_PG_PORT"
  as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_HOME/postgres.log" -w -t 60 start \
    -o "-p $MEDCLOUD_PG_PORT -k $PG_RUN -c listen_addresses=127.0.0.1 -c fsync=on" >/dev/null
  record postgres
}

write_pg_hba() {
  # Rewritten on every start (an older cluster was initialised with trust for every role): the superuser that
  # the backend, the tests and these scripts use keeps trust on this machine (the cluster listens on loopback
  # only); Orthanc's role needs its password and reaches its own database only; any other role, a password.
  local hba="$PG_DATA/pg_hba.conf"
  as_pg_user tee "$hba.new" >/dev/null <<HBA
# Written by scripts/services.sh on every start: edit the script, not this file.
host    $ORTHANC_PG_DATABASE    $ORTHANC_DB_USER    127.0.0.1/32    scram-sha-256
host    $ORTHANC_PG_DATABASE    $ORTHANC_DB_USER    ::1/128         scram-sha-256
local   all                     $ORTHANC_DB_USER                    reject
host    all                     $ORTHANC_DB_USER    all             reject
local   all                     postgres                            trust
host    all                     postgres            127.0.0.1/32    trust
host    all                     postgres            ::1/128         trust
local   all                     all                                 scram-sha-256
host    all                     all                 127.0.0.1/32    scram-sha-256
host    all                     all                 ::1/128         scram-sha-256
HBA
  as_pg_user mv "$hba.new" "$hba"
}

ensure_databases() {
  # The backend's database, and Orthanc's: owned by a role of its own (ORTHANC_DB_USER, ORTHANC_DB_PASSWORD)
  # that cannot connect to the backend's database. SQL goes through stdin: no password on a command line.
  python3 - <<'PY'
import os, re, subprocess, sys
from urllib.parse import urlparse
url = urlparse(os.environ["MEDCLOUD_EFFECTIVE_DATABASE_URL"])
main_db = url.path.lstrip("/") or "medcloud"
orthanc_db = os.environ["ORTHANC_PG_DATABASE"]
role, password = os.environ["ORTHANC_DB_USER"], os.environ.get("ORTHANC_DB_PASSWORD", "")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
    sys.exit(f"[services] ORTHANC_DB_USER={role!r}: use lower-case letters, digits and _")
if not password:
    sys.exit("[services] ORTHANC_DB_PASSWORD is empty: run python3 scripts/ensure_env.py")
admin = url._replace(path="/postgres").geturl()
def literal(value):
    return "'" + value.replace("'", "''") + "'"
def psql(target, sql, **kw):
    return subprocess.run(["psql", target, "-v", "ON_ERROR_STOP=1", "-qtA"], input=sql, check=True, text=True,
                          capture_output=True, **kw).stdout.strip()
try:
    for name in (main_db, orthanc_db):
        if psql(admin, f"SELECT 1 FROM pg_database WHERE datname = {literal(name)}") != "1":
            psql(admin, f'CREATE DATABASE "{name}"')
            print(f"[services] PostgreSQL: created database {name}", file=sys.stderr)
    psql(admin, f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal(role)}) THEN CREATE ROLE "{role}" LOGIN; END IF;
END $$;
ALTER ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {literal(password)};
ALTER DATABASE "{orthanc_db}" OWNER TO "{role}";
REVOKE ALL ON DATABASE "{orthanc_db}" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE "{main_db}" TO CURRENT_USER;
REVOKE CONNECT, TEMPORARY ON DATABASE "{main_db}" FROM PUBLIC;
""")
    # An index that an older version created as the superuser: hand its objects to Orthanc's role (the
    # extension that Orthanc installed stays the superuser's).
    psql(url._replace(path=f"/{orthanc_db}").geturl(), f"""
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
             AND c.relowner <> {literal(role)}::regrole
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                             AND d.deptype IN ('e', 'a', 'i')) LOOP
    EXECUTE format('ALTER %s %s OWNER TO "{role}"', CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                   WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND p.proowner <> {literal(role)}::regrole
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                             AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO "{role}"', r.name);
  END LOOP;
END $$;
""")
except subprocess.CalledProcessError as error:
    sys.exit(f"[services] PostgreSQL: {error.stderr.strip()} (the role of DATABASE_URL must be allowed to create "
             "roles and databases)")
PY
}

redis_answers() { redis-cli -p "$MEDCLOUD_REDIS_PORT" --no-auth-warning ping 2>/dev/null | grep -qx PONG; }

start_redis() {
  [ "$MEDCLOUD_LOCAL_REDIS" = 1 ] || { log "Redis: using REDIS_URL"; return; }
  if redis_answers; then
    # One started by an older version, without a password: restart it with one (its append-only file stays).
    if REDISCLI_AUTH="" redis_answers; then log "Redis: running without a password, restarting it"; stop_one redis
      for _ in $(seq 50); do port_busy "$MEDCLOUD_REDIS_PORT" || break; sleep 0.1; done
    else return 0; fi
  fi
  [ -n "${REDIS_PASSWORD:-}" ] || { log "REDIS_PASSWORD is empty: run python3 scripts/ensure_env.py"; exit 1; }
  mkdir -p "$REDIS_DIR"
  refuse_busy_port Redis "$MEDCLOUD_REDIS_PORT" MEDCLOUD_REDIS_PORT
  log "Redis: starting on 127.0.0.1:$MEDCLOUD_REDIS_PORT"
  # The password goes in a private configuration file, not on the command line (ps shows that to everyone).
  # Celery's broker: keep an append-only log so that a restart loses no queued job.
  (umask 077; cat > "$REDIS_DIR/redis.conf" <<CONF
bind 127.0.0.1
port $MEDCLOUD_REDIS_PORT
requirepass $REDIS_PASSWORD
daemonize yes
dir $REDIS_DIR
appendonly yes
save ""
pidfile $REDIS_DIR/redis.pid
logfile $REDIS_DIR/redis.log
CONF
  )
  redis-server "$REDIS_DIR/redis.conf"
  for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
  record redis
}

orthanc_ok() {
  # credentials through curl's stdin (-K -), not its command line
  curl -sf -m 2 -K - "$ORTHANC_URL/system" <<<"user = \"$ORTHANC_USERNAME:$ORTHANC_PASSWORD\"" >/dev/null 2>&1
}

front_user_known() {
  # The front server's user is refused /system by the plugin (403) once the configuration registers it; 401
  # means an Orthanc started with an older configuration (the backend's user only, the database owner's login).
  [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 -K - "$ORTHANC_URL/system" <<<"user = \"${ORTHANC_FRONT_USERNAME:-medcloud-front}:${ORTHANC_FRONT_PASSWORD:-}\"")" != 401 ]
}

start_orthanc() {
  if orthanc_ok; then
    if front_user_known; then return; fi
    log "Orthanc: running with an older configuration, restarting it"; stop_one orthanc
  fi
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
  start-db)  # PostgreSQL alone (`make test-fast`)
    if [ "${1:-}" = "--record" ]; then RECORD=$2; mkdir -p "$(dirname "$RECORD")"; : > "$RECORD"; fi
    start_postgres; ensure_databases;;
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
  *) echo "usage: $0 start|start-db [--record FILE] | stop [FILE] | status" >&2; exit 2;;
esac
