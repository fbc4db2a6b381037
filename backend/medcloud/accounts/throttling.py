"""Per-client-address throttles of the sign-in endpoints, on the Redis cache (rates in settings/auth.py).

The client address is REMOTE_ADDR, or, behind MEDCLOUD_NUM_PROXIES trusted reverse proxies (nginx in the
containers), the address the outermost of them saw in X-Forwarded-For. DRF's default identity trusts the whole
X-Forwarded-For header when no proxy count is configured, which would let a client pick a fresh identity for
every request.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from medcloud.core.net import client_address

__all__ = ["client_address"]


class _AuthThrottle(SimpleRateThrottle):
    scope = ""

    def get_rate(self) -> str:
        return settings.MEDCLOUD_THROTTLE_RATES[self.scope]

    def get_ident(self, request) -> str:
        return client_address(request)

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
