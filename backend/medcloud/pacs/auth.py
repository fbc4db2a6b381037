"""Who is calling the DICOMweb proxy: a short-lived viewer token scoped to one study, the API's own
credentials (JWT, personal API tokens: the REST framework's authentication classes). A cookie authenticates
nothing here (no CSRF exposure, and no session that signed in by a weaker path can read studies).

Viewer tokens ("mcv." + a signed, timestamped payload) are what the viewer gets in its URL (`?token=`); OHIF
then sends them as `Authorization: Bearer`. They name one user and one StudyInstanceUID and expire after
PACS_VIEWER_TOKEN_SECONDS; every request is still checked against the user's current access, so revoking a
share revokes the tokens minted under it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing

VIEWER_PREFIX = "mcv."
VIEWER_SALT = "medcloud.pacs.viewer-token"


@dataclass
class Caller:
    user: Any
    via: str  # "viewer_token", "api"
    study_uid: str | None = None  # the one study a viewer token may read


def issue_viewer_token(user: Any, study_uid: str) -> str:
    payload = {"u": user.pk, "s": study_uid, "n": secrets.token_hex(4)}
    return VIEWER_PREFIX + signing.dumps(payload, salt=VIEWER_SALT, compress=False)


class BadToken(Exception):
    pass


def read_viewer_token(token: str) -> tuple[Any, str]:
    try:
        payload = signing.loads(token[len(VIEWER_PREFIX):], salt=VIEWER_SALT,
                                max_age=settings.PACS_VIEWER_TOKEN_SECONDS)
    except signing.SignatureExpired as exc:
        raise BadToken("The viewer token has expired.") from exc
    except signing.BadSignature as exc:
        raise BadToken("The viewer token is not valid.") from exc
    user = get_user_model().objects.filter(pk=payload.get("u"), is_active=True).first()
    if user is None:
        raise BadToken("The viewer token is not valid.")
    return user, str(payload.get("s", ""))


def _bearer(request: Any) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate_sync(request: Any) -> Caller | None:
    """Runs in a worker thread (database access). Raises BadToken for a presented but invalid credential."""
    from rest_framework import exceptions
    from rest_framework.request import Request
    from rest_framework.settings import api_settings

    bearer = _bearer(request)
    query_tokens = request.GET.getlist("token")
    # One credential per request: a second one (a repeated ?token=, or a ?token= beside an Authorization
    # header) could make two layers (the front server's grant cache, this check) see different callers.
    if len(query_tokens) > 1 or (query_tokens and request.META.get("HTTP_AUTHORIZATION")):
        raise BadToken("Send one credential: an Authorization header or one viewer token in the URL.")
    query_token = query_tokens[0] if query_tokens else None
    if query_token and not query_token.startswith(VIEWER_PREFIX):
        raise BadToken("Only viewer tokens may be passed in the URL.")
    viewer = bearer if bearer and bearer.startswith(VIEWER_PREFIX) else query_token
    if viewer:
        user, study_uid = read_viewer_token(viewer)
        return Caller(user=user, via="viewer_token", study_uid=study_uid)
    if request.META.get("HTTP_AUTHORIZATION"):
        drf_request = Request(request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
        try:
            user = drf_request.user
        except exceptions.APIException as exc:
            raise BadToken(str(getattr(exc, "detail", "The credentials are not valid."))) from exc
        if user is not None and user.is_authenticated:
            return Caller(user=user, via="api")
        raise BadToken("The credentials are not valid.")
    return None
