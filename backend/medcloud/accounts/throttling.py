"""Per-client-address throttles of the sign-in endpoints, on the Redis cache (rates in settings/auth.py).

The client address is REMOTE_ADDR only: DRF's default identity trusts X-Forwarded-For when no proxy count is
configured, which would let a client pick a fresh identity for every request.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _AuthThrottle(SimpleRateThrottle):
    scope = ""

    def get_rate(self) -> str:
        return settings.MEDCLOUD_THROTTLE_RATES[self.scope]

    def get_ident(self, request) -> str:
        return request.META.get("REMOTE_ADDR", "")

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(_AuthThrottle):
    scope = "auth_login"


class TwoFactorRateThrottle(_AuthThrottle):
    scope = "auth_2fa"


class SignUpRateThrottle(_AuthThrottle):
    scope = "auth_signup"


class EmailRateThrottle(_AuthThrottle):
    scope = "auth_email"


class TokenRateThrottle(_AuthThrottle):
    scope = "auth_token"
