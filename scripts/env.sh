# Sourced by the other scripts: loads .env without overriding the real environment, then fills in the
# project-local defaults (PostgreSQL, Redis and Orthanc under .var/ on ports of their own).
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VAR="$ROOT/.var"
# Loaded once: a nested script must not mistake the filled-in DATABASE_URL for one the user gave.
if [ -n "${MEDCLOUD_ENV_LOADED:-}" ]; then return 0; fi
export MEDCLOUD_ENV_LOADED=1
if [ -f "$ROOT/.env" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue;; esac
    key=${line%%=*}; value=${line#*=}
    if [ -z "${!key+x}" ]; then export "$key=$value"; fi
  done < "$ROOT/.env"
fi
export MEDCLOUD_PG_PORT=${MEDCLOUD_PG_PORT:-55432}
export MEDCLOUD_REDIS_PORT=${MEDCLOUD_REDIS_PORT:-56379}
# Empty DATABASE_URL / REDIS_URL mean "start our own under .var/".
if [ -n "${DATABASE_URL:-}" ]; then MEDCLOUD_LOCAL_PG=0; else MEDCLOUD_LOCAL_PG=1; fi
if [ -n "${REDIS_URL:-}" ]; then MEDCLOUD_LOCAL_REDIS=0; else MEDCLOUD_LOCAL_REDIS=1; fi
export MEDCLOUD_LOCAL_PG MEDCLOUD_LOCAL_REDIS
export MEDCLOUD_EFFECTIVE_DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:$MEDCLOUD_PG_PORT/medcloud}
# Our own Redis requires REDIS_PASSWORD (generated into .env by scripts/ensure_env.py).
export MEDCLOUD_EFFECTIVE_REDIS_URL=${REDIS_URL:-redis://${REDIS_PASSWORD:+:$REDIS_PASSWORD@}127.0.0.1:$MEDCLOUD_REDIS_PORT/0}
export DATABASE_URL=$MEDCLOUD_EFFECTIVE_DATABASE_URL REDIS_URL=$MEDCLOUD_EFFECTIVE_REDIS_URL
export ORTHANC_URL=${ORTHANC_URL:-http://127.0.0.1:58042}
export ORTHANC_STORAGE_DIR=${ORTHANC_STORAGE_DIR:-$VAR/orthanc/storage}
export PYTHONPATH="$ROOT/backend${PYTHONPATH:+:$PYTHONPATH}"
