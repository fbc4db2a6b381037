"""A small OAuth2 provider on loopback, for the social sign-in tests: a real HTTP server that the backend's
social-auth talks to over real HTTP (no mocking of the library).

It speaks the Google flavour (`/google/authorize`, `/google/token`, `/google/userinfo`) and the GitHub flavour
(`/github/authorize`, `/github/token`, `/github/api/user`, `/github/api/user/emails`). The identity that the next
authorisation signs in is set by the test with `provider.next_identity = {...}`.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse


class FakeOAuthProvider:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.next_identity: dict[str, Any] = {}
        self.codes: dict[str, tuple[dict[str, Any], str]] = {}  # code -> (identity, redirect_uri)
        self.tokens: dict[str, dict[str, Any]] = {}  # access token -> identity
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOAuthProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _identity(self) -> dict[str, Any] | None:
                auth = self.headers.get("Authorization", "")
                token = auth.split(" ", 1)[1] if " " in auth else ""
                return provider.tokens.get(token)

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                provider.requests.append(f"GET {url.path}")
                if url.path.endswith("/authorize"):
                    if query.get("client_id") != provider.client_id or query.get("response_type") != "code":
                        return self._json(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = (dict(provider.next_identity), query["redirect_uri"])
                    target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                    return None
                identity = self._identity()
                if identity is None:
                    return self._json(401, {"error": "invalid_token"})
                if url.path == "/google/userinfo":
                    return self._json(200, {"sub": identity["id"], "email": identity["email"],
                                            "email_verified": identity.get("verified", True),
                                            "name": identity.get("name", ""), "given_name": "", "family_name": ""})
                if url.path == "/github/api/user":
                    return self._json(200, {"id": int(identity["id"]), "login": identity["email"].split("@")[0],
                                            "name": identity.get("name", ""), "email": None})
                if url.path == "/github/api/user/emails":
                    return self._json(200, [{"email": identity["email"], "primary": True,
                                             "verified": identity.get("verified", True)}])
                return self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                provider.requests.append(f"POST {url.path}")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if not url.path.endswith("/token"):
                    return self._json(404, {"error": "not_found"})
                if form.get("client_id") != provider.client_id or form.get("client_secret") != provider.client_secret:
                    return self._json(401, {"error": "invalid_client"})
                entry = provider.codes.pop(form.get("code", ""), None)
                if entry is None or entry[1] != form.get("redirect_uri"):
                    return self._json(400, {"error": "invalid_grant"})
                token = secrets.token_urlsafe(24)
                provider.tokens[token] = entry[0]
                return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                                        "scope": "openid email profile"})

        return Handler
