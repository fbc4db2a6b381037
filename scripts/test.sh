#!/usr/bin/env bash
# `make test`: the Python tests (pytest, real PostgreSQL / Redis / Orthanc) and the frontend tests.
# Starts the services that are not running and stops, at the end, the ones it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
python3 scripts/ensure_env.py >/dev/null
. scripts/env.sh
export DJANGO_SETTINGS_MODULE=medcloud.settings.test
"$ROOT/.venv/bin/python" backend/manage.py collectstatic --noinput -v0  # (Swagger UI from the sidecar package)
STARTED="$VAR/test-started-services"
trap 'scripts/services.sh stop "$STARTED"' EXIT
if [ "${1:-}" = "--fast" ]; then
  # `make test-fast`: PostgreSQL only; no servers, no TensorFlow, no frontend (tests/conftest.py SERVER_FIXTURES)
  shift
  scripts/services.sh start-db --record "$STARTED"
  "$ROOT/.venv/bin/pytest" -m "not services and not slow" --ignore=tests/ai -q "$@"
  exit $?
fi
scripts/services.sh start --record "$STARTED"

status=0
set +e
"$ROOT/.venv/bin/pytest" "$@"
py=$?
set -e
if [ "$py" = 5 ]; then echo "pytest collected no tests: that is a failure"; status=1; elif [ "$py" != 0 ]; then status=$py; fi

(cd frontend && PATH="$ROOT/.venv/bin:$PATH" npm test --silent) || status=1
exit $status
