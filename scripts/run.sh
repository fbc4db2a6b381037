#!/usr/bin/env bash
# `make run`: start PostgreSQL, Redis and Orthanc (project-local), migrate, load demo data, then run the
# front server (nginx: TLS, HTTP/2), the backend behind it (uvicorn on loopback) and a Celery worker in the
# foreground. Ctrl-C stops everything it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
python3 scripts/ensure_env.py
. scripts/env.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-medcloud.settings.local}
PY="$ROOT/.venv/bin/python"
STARTED="$VAR/run-started-services"
mkdir -p "$VAR/log"
# Mail (activation and password-reset links) goes to files in a private folder, never to the console log.
if [ -z "${EMAIL_BACKEND:-}" ]; then
  MAIL_DIR=${EMAIL_FILE_PATH:-$VAR/mail}
  (umask 077; mkdir -p "$MAIL_DIR"); chmod 700 "$MAIL_DIR"
  MAIL_NOTE="files in $MAIL_DIR/ (readable by you only)"
else
  MAIL_NOTE="EMAIL_BACKEND=$EMAIL_BACKEND"
fi
pids=()

cleanup() {
  # Ignore further INT/TERM until everything is stopped: GNU make forwards its own TERM to this script, so a
  # TERM to `make run`'s process group arrives twice, and the second one used to end the clean-up halfway.
  trap - EXIT
  trap '' INT TERM
  echo; echo "[run] stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/services.sh stop "$STARTED"
}
trap cleanup INT TERM EXIT

scripts/services.sh start --record "$STARTED"
"$PY" backend/manage.py migrate --noinput -v0
"$PY" backend/manage.py collectstatic --noinput -v0
"$PY" backend/manage.py seed_demo
# finish what a crash left in Orthanc (uploads' journals), report studies no MedCloud study owns
"$PY" backend/manage.py reconcile_orthanc
# MedCloud's bundled models (SDK packages in the code base), published to everyone; a new version if changed
"$PY" backend/manage.py publish_bundled_models
read -r CERT KEY < <(scripts/tls.sh)
PORT=${MEDCLOUD_HTTPS_PORT:-8443}
BIND=${MEDCLOUD_BIND:-127.0.0.1}
BACKEND_PORT=${MEDCLOUD_BACKEND_PORT:-58001}
for p in "$PORT" "$BACKEND_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "[run] port $p is already in use" >&2; exit 1; fi
done
# TLS ends at nginx: the backend trusts its X-Forwarded-Proto / -For (one proxy hop).
export DJANGO_BEHIND_PROXY=true MEDCLOUD_NUM_PROXIES=1

prefix() { while IFS= read -r line; do printf '%-7s| %s\n' "$1" "$line"; done; }

"$ROOT/.venv/bin/celery" -A medcloud worker --beat --schedule "$VAR/celerybeat-schedule" --loglevel=INFO --concurrency="${MEDCLOUD_WORKER_CONCURRENCY:-1}" \
  --hostname="worker@%h" > >(prefix worker) 2>&1 &
pids+=($!)
"$PY" -m medcloud.core.webserver --port "$BACKEND_PORT" --workers "${MEDCLOUD_WEB_WORKERS:-1}" \
  > >(prefix web) 2>&1 &  # uvicorn on loopback (ADR 0007); access log: nginx ("front")
pids+=($!)
"$PY" -m medcloud.core.frontserver --run-dir "$VAR/front" --listen "$BIND:$PORT" --cert "$CERT" --key "$KEY" \
  --backend "127.0.0.1:$BACKEND_PORT" > >(prefix front) 2>&1 &
pids+=($!)

for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/api/health/" && break; sleep 0.2; done
cat <<MSG

  MedCloud is running:   https://localhost:$PORT/      (HTTP/2 over TLS, self-signed certificate)
  API docs:              https://localhost:$PORT/api/docs/
  Health:                curl --http2 -k https://localhost:$PORT/api/health/
  Mail:                  $MAIL_NOTE
  Demo accounts (password: $MEDCLOUD_DEMO_PASSWORD):
$("$PY" backend/manage.py seed_demo --list | sed 's/^/    /')
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
