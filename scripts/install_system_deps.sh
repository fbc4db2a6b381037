#!/usr/bin/env bash
# Install the Debian/Ubuntu packages MedCloud needs, only those that are missing.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in postgresql libpq-dev redis-server orthanc orthanc-dicomweb orthanc-postgresql orthanc-python \
           python3-cryptography openssl curl gcc python3-venv chromium poppler-utils \
           bubblewrap; do
  have_pkg "$pkg" || need+=("$pkg")
done
# the front server (TLS, HTTP/2, auth_request): Debian's smallest nginx build has every module it needs
if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null; then
  if apt-cache show nginx-light >/dev/null 2>&1; then need+=(nginx-light); else need+=(nginx); fi
fi
have_pkg libnginx-mod-http-js || need+=(libnginx-mod-http-js)  # njs: the grant cache key (ADR 0006)
command -v python3.11 >/dev/null || need+=(python3.11 python3.11-venv python3.11-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "[install] apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the packaged services system-wide: MedCloud runs its own under .var/ instead.
  for svc in orthanc nginx; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
