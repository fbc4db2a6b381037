"""Writes of the accounts app, one module per sub-domain (HackSoft: a grown services.py becomes a package):
`lockout`, `sessions` (sign-in, tokens, sign-out), `api_tokens`, `two_factor`, `signup`, `certificates`,
`users` (an admin's changes), `notifications` (mail). Each change and its audit row share one transaction.
Callers import from here; the modules import each other only downwards (lockout, two_factor, api_tokens
below sessions; notifications below signup and certificates)."""

from __future__ import annotations

from .api_tokens import (  # noqa: F401
    api_token_create,
    api_token_revoke,
    api_token_touch,
    api_tokens_revoke_all,
)
from .certificates import (  # noqa: F401
    MAGIC_TYPES,
    certificate_approve,
    certificate_download_record,
    certificate_reject,
    certificate_submit,
    read_certificate_upload,
    sniff_certificate_type,
)
from .lockout import (  # noqa: F401
    LOCKED_OUT,
    login_failure_count,
    login_failures_reset,
    login_locked,
    refuse_if_locked,
)
from .notifications import (  # noqa: F401
    send_mail_now,
    send_mail_on_commit,
)
from .sessions import (  # noqa: F401
    CHALLENGE_SALT,
    GENERIC_LOGIN_FAILURE,
    LoginResult,
    login_after_first_factor,
    login_with_password,
    login_with_second_factor,
    logout,
    password_changed,
    password_reset_completed,
    sessions_revoke_all,
    tokens_for,
)
from .signup import (  # noqa: F401
    activation_allowed,
    activation_recorded,
    signup_for_existing_email,
    social_account_linked,
    social_user_create,
    user_register,
)
from .two_factor import (  # noqa: F401
    RECOVERY_CODE_COUNT,
    TOTP_STEP_SECONDS,
    check_second_factor,
    recovery_codes_regenerate,
    totp_confirm,
    totp_disable,
    totp_setup,
    totp_uri,
    totp_verify,
    two_factor_policy_set,
    use_recovery_code,
)
from .users import (  # noqa: F401
    user_update_by_admin,
)
