"""Names shared by the accounts app's authentication classes and services (their own module, so that neither
imports the other for them)."""

API_TOKEN_PREFIX = "mct_"  # noqa: S105  (a prefix, not a secret)
REVOKED_ACCESS_KEY = "auth:revoked-access:{jti}"
ENROLMENT_CLAIM = "enrol_2fa"
SESSION_START_CLAIM = "session_start"  # sign-in time (epoch seconds), kept by every rotated refresh token
