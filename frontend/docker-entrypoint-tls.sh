#!/bin/sh
# A self-signed certificate on first start when none is mounted at /etc/medcloud/tls.
set -e
dir=/etc/medcloud/tls
if [ ! -f "$dir/cert.pem" ]; then
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
fi
