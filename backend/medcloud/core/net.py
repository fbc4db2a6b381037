"""The client's address, as the audit log and the throttles must both see it."""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR, or, behind MEDCLOUD_NUM_PROXIES trusted reverse proxies (nginx in the containers), the
    address the outermost of them saw in X-Forwarded-For. Trusting the whole header would let a client pick
    a fresh identity for every request."""
    proxies = getattr(settings, "MEDCLOUD_NUM_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR", "")
