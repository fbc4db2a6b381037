"""Accounts settings: djoser, social sign-in (OAuth2), two-factor authentication, throttling and lockout.

Imported at the end of base.py; everything here comes from the environment too (see scripts/environment.defaults).
"""

from __future__ import annotations

import os


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


AUTHENTICATION_BACKENDS_BASE = ["django.contrib.auth.backends.ModelBackend"]

# --- djoser: /api/auth/users/ (sign-up, activation, password reset, /users/me/) -------------------------
MEDCLOUD_FRONTEND_URL = _env("MEDCLOUD_FRONTEND_URL", "https://localhost:8443")
DOMAIN = MEDCLOUD_FRONTEND_URL.split("://", 1)[-1].rstrip("/")  # links in e-mails point at the single-page app
SITE_NAME = "MedCloud"
DJOSER = {
    "LOGIN_FIELD": "email",
    "SEND_ACTIVATION_EMAIL": True,
    "SEND_CONFIRMATION_EMAIL": False,
    "PASSWORD_CHANGED_EMAIL_CONFIRMATION": True,
    "PASSWORD_RESET_SHOW_EMAIL_NOT_FOUND": False,  # never reveal whether an address has an account
    "USERNAME_RESET_SHOW_EMAIL_NOT_FOUND": False,
    "ACTIVATION_URL": "activate/{uid}/{token}",
    "PASSWORD_RESET_CONFIRM_URL": "reset-password/{uid}/{token}",
    "USERNAME_RESET_CONFIRM_URL": "reset-email/{uid}/{token}",
    "EMAIL_FRONTEND_PROTOCOL": MEDCLOUD_FRONTEND_URL.split("://", 1)[0],
    "EMAIL_FRONTEND_DOMAIN": DOMAIN,
    "EMAIL_FRONTEND_SITE_NAME": SITE_NAME,
    "HIDE_USERS": True,
    "SERIALIZERS": {
        "user_create": "medcloud.accounts.serializers.SignUpInput",
        "user": "medcloud.accounts.serializers.UserOutput",
        "current_user": "medcloud.accounts.serializers.UserOutput",
        "provider_auth": "medcloud.accounts.serializers.ProviderAuthOutput",
    },
    "PERMISSIONS": {
        "user": ["medcloud.accounts.permissions.IsSelfOrAdmin"],
        "user_list": ["medcloud.accounts.permissions.IsAdmin"],
        "user_delete": ["medcloud.accounts.permissions.IsSelfOrAdmin"],
        # The e-mail address is the sign-in name and the key of social-account linking: not changed here.
        "set_username": ["medcloud.accounts.permissions.DenyAll"],
        "username_reset": ["medcloud.accounts.permissions.DenyAll"],
        "username_reset_confirm": ["medcloud.accounts.permissions.DenyAll"],
        "token_create": ["medcloud.accounts.permissions.DenyAll"],
        "token_destroy": ["medcloud.accounts.permissions.DenyAll"],
    },
    "SOCIAL_AUTH_TOKEN_STRATEGY": "medcloud.accounts.social.TwoFactorAwareTokenStrategy",
    "SOCIAL_AUTH_ALLOWED_REDIRECT_URIS": [
        u.strip()
        for u in _env("SOCIAL_AUTH_ALLOWED_REDIRECT_URIS", f"{MEDCLOUD_FRONTEND_URL}/auth/callback").split(",")
        if u.strip()
    ],
}

# --- Social sign-in: a provider is offered only when its key and secret are set -------------------------
SOCIAL_AUTH_PROVIDERS = {
    # name used in /api/auth/o/<name>/ -> (backend class, settings prefix)
    "google-oauth2": ("medcloud.accounts.social.GoogleOAuth2", "GOOGLE_OAUTH2"),
    "facebook": ("medcloud.accounts.social.FacebookOAuth2", "FACEBOOK"),
    "linkedin-oauth2": ("medcloud.accounts.social.LinkedinOAuth2", "LINKEDIN_OAUTH2"),
    "github": ("medcloud.accounts.social.GithubOAuth2", "GITHUB"),
    "spotify": ("medcloud.accounts.social.SpotifyOAuth2", "SPOTIFY"),
}
SOCIAL_AUTH_ENABLED_PROVIDERS: list[str] = []
for _name, (_backend, _prefix) in SOCIAL_AUTH_PROVIDERS.items():
    _key, _secret = _env(f"SOCIAL_AUTH_{_prefix}_KEY"), _env(f"SOCIAL_AUTH_{_prefix}_SECRET")
    if _key and _secret:
        globals()[f"SOCIAL_AUTH_{_prefix}_KEY"] = _key
        globals()[f"SOCIAL_AUTH_{_prefix}_SECRET"] = _secret
        # Only for tests and self-hosted identity providers: the base URL of the provider's endpoints.
        if _env(f"SOCIAL_AUTH_{_prefix}_ENDPOINT"):
            globals()[f"SOCIAL_AUTH_{_prefix}_ENDPOINT"] = _env(f"SOCIAL_AUTH_{_prefix}_ENDPOINT")
        AUTHENTICATION_BACKENDS_BASE.append(_backend)
        SOCIAL_AUTH_ENABLED_PROVIDERS.append(_name)
AUTHENTICATION_BACKENDS = AUTHENTICATION_BACKENDS_BASE
SOCIAL_AUTH_GITHUB_SCOPE = ["user:email"]
SOCIAL_AUTH_FACEBOOK_SCOPE = ["email"]
SOCIAL_AUTH_FACEBOOK_PROFILE_EXTRA_PARAMS = {"fields": "id,name,email"}
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_USER_MODEL = "accounts.User"
SOCIAL_AUTH_USERNAME_IS_FULL_EMAIL = True
SOCIAL_AUTH_PROTECTED_USER_FIELDS = ["email", "role", "clinical_role", "full_name"]
SOCIAL_AUTH_REDIRECT_IS_HTTPS = True
SOCIAL_AUTH_RAISE_EXCEPTIONS = False
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    # Link to an existing account only when the provider vouches for the e-mail address.
    "medcloud.accounts.social.associate_by_verified_email",
    "medcloud.accounts.social.create_user",
    "social_core.pipeline.social_auth.associate_user",
    "social_core.pipeline.social_auth.load_extra_data",
)

# --- Two-factor authentication (TOTP) -----------------------------------------------------------------------
MEDCLOUD_TOTP_ISSUER = _env("MEDCLOUD_TOTP_ISSUER", "MedCloud")
MEDCLOUD_2FA_CHALLENGE_SECONDS = int(_env("MEDCLOUD_2FA_CHALLENGE_SECONDS", "300"))

# --- Abuse resistance ------------------------------------------------------------------------------------
# Lockout: after this many failed sign-ins (password or second factor) for one address within the window,
# that address is locked for the window, whether or not it has an account (nothing to enumerate).
MEDCLOUD_LOCKOUT_THRESHOLD = int(_env("MEDCLOUD_LOCKOUT_THRESHOLD", "5"))
MEDCLOUD_LOCKOUT_SECONDS = int(_env("MEDCLOUD_LOCKOUT_SECONDS", "900"))
# Trusted reverse proxies in front of the web server (1 behind the containers' nginx): the client address of the
# throttles is then taken from X-Forwarded-For, as the outermost trusted proxy saw it. 0: REMOTE_ADDR.
MEDCLOUD_NUM_PROXIES = int(_env("MEDCLOUD_NUM_PROXIES", "0"))
# Per-client-address rates (DRF throttles on the Redis cache).
MEDCLOUD_THROTTLE_RATES = {
    "auth_login": _env("MEDCLOUD_THROTTLE_LOGIN", "30/min"),
    "auth_2fa": _env("MEDCLOUD_THROTTLE_2FA", "30/min"),
    "auth_signup": _env("MEDCLOUD_THROTTLE_SIGNUP", "20/hour"),
    "auth_email": _env("MEDCLOUD_THROTTLE_EMAIL", "10/hour"),  # password reset, resend activation
    "auth_token": _env("MEDCLOUD_THROTTLE_TOKEN", "60/min"),  # refresh, verify, activation, reset confirm
}

# Medical certificates: accepted types are sniffed from the file's first bytes, not trusted from the client.
MEDCLOUD_CERTIFICATE_MAX_BYTES = int(_env("MEDCLOUD_CERTIFICATE_MAX_BYTES", str(5 * 1024 * 1024)))
MEDCLOUD_ADMIN_EMAILS = [a.strip() for a in _env("MEDCLOUD_ADMIN_EMAILS").split(",") if a.strip()]
