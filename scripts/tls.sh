#!/usr/bin/env bash
# Print "CERT KEY" for the HTTPS server: the configured ones, or a self-signed pair made on first run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${MEDCLOUD_TLS_CERT:-}" ] && [ -n "${MEDCLOUD_TLS_KEY:-}" ]; then
  echo "$MEDCLOUD_TLS_CERT $MEDCLOUD_TLS_KEY"; exit 0
fi
dir="$ROOT/.var/tls"; mkdir -p "$dir"
if [ ! -f "$dir/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
  chmod 600 "$dir/key.pem"
fi
echo "$dir/cert.pem $dir/key.pem"
