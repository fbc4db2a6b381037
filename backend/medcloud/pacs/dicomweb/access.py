"""Who is calling and what they may read: authentication (viewer token or API credentials; never a cookie),
the per-study check through `studies_visible_to`, and the aggregated audit events (one `dicomweb.read` per
user and study, one `dicomweb.search` per user, per AUDIT_WINDOW_SECONDS). Database work runs in a worker
thread of the default pool (`in_db_thread`), one trip per request."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse

from medcloud.accounts.permissions import may_access_patient_data
from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event

from .. import selectors
from ..auth import BadToken, Caller, authenticate_sync
from . import grants
from .errors import error

AUDIT_WINDOW_SECONDS = 600


async def in_db_thread(fn: Any, *args: Any) -> Any:
    """Run database work in a worker thread of the default pool (not Django's single "thread-sensitive"
    thread, which would serialise every concurrent frame request). Each worker thread keeps its connection
    between requests; a connection that broke (database restarted) is dropped and the call retried once."""

    def call() -> Any:
        try:
            return fn(*args)
        except (InterfaceError, OperationalError):
            connection.close()
            return fn(*args)

    return await sync_to_async(call, thread_sensitive=False)()


def visible_uids(caller: Caller) -> list[str] | None:
    """The StudyInstanceUIDs the caller may read; None: no restriction (admins with a full credential)."""
    if caller.study_uid is not None:
        study = selectors.visible_study_by_uid(caller.user, caller.study_uid)
        return [study.study_instance_uid] if study else []
    if caller.user.is_admin:
        return None
    return list(selectors.studies_visible_to(caller.user).values_list("study_instance_uid", flat=True))


def audit_read(caller: Caller, request: HttpRequest, study_uid: str,
               carries_phi: bool = True) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Checks access to one study, writes the aggregated audit event, and returns the PHI to restore."""
    if caller.study_uid is not None and caller.study_uid != study_uid:
        return None
    study = selectors.visible_study_by_uid(caller.user, study_uid)
    if study is None:
        return None
    key = f"pacs:dicomweb-read:{caller.user.pk}:{study.pk}"
    if cache.add(key, 1, timeout=AUDIT_WINDOW_SECONDS):
        record_event(AuditAction.DICOMWEB_READ, actor=caller.user, request=request, target_type="study",
                     target_id=study.pk, details={"via": caller.via, "window_seconds": AUDIT_WINDOW_SECONDS})
    if carries_phi:
        return selectors.phi_for_study(study)
    grants.remember_pseudonym(study_uid, lambda: selectors.orthanc_patient_id(study))
    return {}, {}


def audit_search(caller: Caller, request: HttpRequest, count: int) -> None:
    key = f"pacs:dicomweb-search:{caller.user.pk}"
    if cache.add(key, 1, timeout=AUDIT_WINDOW_SECONDS):
        record_event(AuditAction.DICOMWEB_SEARCH, actor=caller.user, request=request, target_type="study",
                     details={"via": caller.via, "results": count, "window_seconds": AUDIT_WINDOW_SECONDS})


def _authenticate_and_read(request: HttpRequest, study_uid: str | None, carries_phi: bool) -> tuple[Any, Any]:
    """One trip to the worker thread: who is calling and, when a study is named and the caller may read
    patient data, the study's PHI (None when the caller may not see the study)."""
    caller = authenticate_sync(request)
    if caller is None or study_uid is None or not may_access_patient_data(caller.user):
        return caller, None
    return caller, audit_read(caller, request, study_uid, carries_phi)


async def authenticate(request: HttpRequest, study_uid: str | None = None,
                       carries_phi: bool = True) -> tuple[Caller | HttpResponse, Any]:
    """(caller, PHI of the named study or None), or (an error response, None). A remembered grant answers
    without a trip to the database."""
    key = grants.grant_key(request, study_uid, carries_phi)
    remembered = grants.remembered_grant(key)
    if remembered is not None:
        return remembered
    try:
        caller, phi = await in_db_thread(_authenticate_and_read, request, study_uid, carries_phi)
    except BadToken as exc:
        return error(401, "not_authenticated", str(exc), WWW_Authenticate='Bearer realm="medcloud"'), None
    if caller is None:  # a cookie authenticates nothing here: the browser's viewer sends its viewer token
        return error(401, "not_authenticated", "Authentication credentials were not provided.",
                     WWW_Authenticate='Bearer realm="medcloud"'), None
    if not may_access_patient_data(caller.user):
        return error(403, "permission_denied", "Your account may not access patient data (a health "
                     "professional's certificate must be approved first)."), None
    grants.remember_grant(key, caller, phi)
    return caller, phi
