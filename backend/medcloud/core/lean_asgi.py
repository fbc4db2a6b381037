"""A lean ASGI handler for the DICOMweb proxy.

A viewer fetches a study's frames in bursts of hundreds of small requests. Under ASGI, each synchronous
middleware method (Django's MiddlewareMixin ones: security, sessions, CSRF, auth, messages, ...) is run in
Django's single thread for sync code: a dozen thread hops per request, and all requests queued on one
thread. The proxy needs only the security headers from that stack (it authenticates bearer credentials itself and
accepts no cookie), so /dicom-web/ requests go through this handler, whose one middleware is natively async.
"""

from __future__ import annotations

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response


class ProxyRequestMiddleware:
    """What SecurityMiddleware gives the proxy, async. No session, no user from a cookie: the proxy accepts
    bearer credentials only (pacs.auth)."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        response = await self.get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if settings.SECURE_REFERRER_POLICY:
            response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        if settings.SECURE_HSTS_SECONDS and request.is_secure():
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response


class ProxyASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        inner = convert_exception_to_response(self._get_response_async)
        self._middleware_chain = convert_exception_to_response(ProxyRequestMiddleware(inner))


PROXY_PATHS = ("/dicom-web/", "/dicom-web-authz")


def route_by_path(default_app, proxy_app, prefixes: tuple[str, ...] = PROXY_PATHS):
    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(prefixes):
            await proxy_app(scope, receive, send)
        else:
            await default_app(scope, receive, send)

    return application


def answer_remembered_authz(app, remembered, path: str = "/dicom-web-authz"):
    """The front server asks ``path`` once per frame. When ``remembered(scope)`` returns the headers of a
    grant (a read grant the proxy remembered for this credential and study), answer 204 with them at once:
    no request object, no signals, no thread hop. Everything else (None), every refusal included, goes to
    ``app``."""

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == path:
            headers = remembered(scope)
            if headers is not None:
                await send({"type": "http.response.start", "status": 204, "headers": [
                    (b"cache-control", b"no-store"),
                    *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())]})
                await send({"type": "http.response.body", "body": b""})
                return
        await app(scope, receive, send)

    return application
