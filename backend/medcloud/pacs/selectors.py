"""Reads of patients and studies. Every study query goes through `studies_visible_to(user)`: the study list,
the study detail, the DICOMweb proxy and the viewer tokens all ask it, so that one rule decides who sees what.

Who sees which study:
- admins: every study;
- researchers and verified health professionals: the studies they uploaded (owner), and the studies shared
  with them directly or with a group they belong to;
- anyone else (a health professional whose certificate is pending, an inactive user): none.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from medcloud.accounts.permissions import may_access_patient_data
from medcloud.core.errors import ApplicationError
from medcloud.crypto.blind_index import blind_index, search_index
from medcloud.sharing.models import Access, GroupMembership, StudyShare

from .models import Patient, Series, Study

NAME_PURPOSE = "pacs.patient.name"
MRN_PURPOSE = "pacs.patient.mrn"


def _shared_study_ids(user: Any, *, write: bool = False) -> QuerySet[StudyShare]:
    member_groups = GroupMembership.objects.filter(user=user).values("group_id")
    shares = StudyShare.objects.filter(Q(user=user) | Q(group__in=member_groups))
    if write:
        shares = shares.filter(access=Access.WRITE)
    return shares.values("study_id")


def _own_or_shared(user: Any, *, write: bool = False) -> QuerySet[Study]:
    # Two id sets (owned, shared) rather than OR-ed EXISTS: PostgreSQL hashes them, which keeps counting a
    # user's studies cheap with 10,000 rows (docs/benchmarks.md).
    owned = Study.objects.filter(owner=user).values("id")
    return Study.objects.filter(Q(pk__in=owned) | Q(pk__in=_shared_study_ids(user, write=write)))


def studies_visible_to(user: Any) -> QuerySet[Study]:
    if not may_access_patient_data(user):
        return Study.objects.none()
    if user.is_admin:
        return Study.objects.all()
    return _own_or_shared(user)


def studies_writable_by(user: Any) -> QuerySet[Study]:
    if not may_access_patient_data(user):
        return Study.objects.none()
    if user.is_admin:
        return Study.objects.all()
    return _own_or_shared(user, write=True)


def study_access(user: Any, study: Study) -> str | None:
    """'admin', 'owner', 'write', 'read' or None."""
    if not may_access_patient_data(user):
        return None
    if user.is_admin:
        return "admin"
    if study.owner_id == user.pk:
        return "owner"
    if studies_writable_by(user).filter(pk=study.pk).exists():
        return "write"
    if studies_visible_to(user).filter(pk=study.pk).exists():
        return "read"
    return None


def visible_study_by_uid(user: Any, study_uid: str) -> Study | None:
    return studies_visible_to(user).filter(study_instance_uid=study_uid).first()


def patients_visible_to(user: Any) -> QuerySet[Patient]:
    if not may_access_patient_data(user):
        return Patient.objects.none()
    if user.is_admin:
        return Patient.objects.all()
    visible = studies_visible_to(user).filter(patient=OuterRef("pk"))
    return Patient.objects.filter(Q(created_by=user) | Exists(visible))


def patient_list(user: Any, *, q: str = "", patient_id: str = "") -> QuerySet[Patient]:
    """The patients the user may see, newest first; `q`: name words or their first letters; `patient_id`: the
    medical record number, exactly."""
    qs = patients_visible_to(user).order_by("-id")
    if q.strip():
        qs = qs.filter(name_filter(q))
    if patient_id.strip():
        qs = qs.filter(mrn_index=mrn_digest(patient_id))
    return qs


def name_filter(term: str, prefix: str = "") -> Q:
    """Every word of `term` must match a name token (exact, or a prefix of at least 2 characters)."""
    q = Q()
    for word in term.split():
        digest = search_index(word, purpose=NAME_PURPOSE)
        if digest is None:
            continue
        q &= Q(**{f"{prefix}name_index__contains": [digest]})
    return q


def mrn_digest(value: str) -> str:
    return blind_index(value.strip(), purpose=MRN_PURPOSE)


@dataclass
class StudyFilters:
    q: str = ""
    patient_id: str = ""  # the medical record number, matched exactly
    patient: int | None = None  # MedCloud's patient id
    modality: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    ordering: str = "-study_date"


ORDERINGS = {
    "study_date": ["study_date", "id"],
    "-study_date": ["-study_date", "-id"],
    "created_at": ["created_at", "id"],
    "-created_at": ["-created_at", "-id"],
}


def study_list(user: Any, filters: StudyFilters) -> QuerySet[Study]:
    qs = studies_visible_to(user).select_related("patient")
    if filters.q.strip():
        qs = qs.filter(name_filter(filters.q, prefix="patient__"))
    if filters.patient_id.strip():
        qs = qs.filter(patient__mrn_index=mrn_digest(filters.patient_id))
    if filters.patient is not None:
        qs = qs.filter(patient_id=filters.patient)
    if filters.modality:
        qs = qs.filter(modalities__contains=[filters.modality.upper()])
    if filters.date_from:
        qs = qs.filter(study_date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(study_date__lte=filters.date_to)
    return qs.order_by(*ORDERINGS.get(filters.ordering, ORDERINGS["-study_date"]))


def study_detail(user: Any, study_id: int) -> Study | None:
    return studies_visible_to(user).select_related("patient").filter(pk=study_id).first()


# --- access helpers: one per object, as Zulip's access_stream_by_id. They answer the object or raise the API's
# error: 404 when the caller may not see it (existence is not revealed), 403 when they see it but may not do
# what they asked. Views and services both call them, so that each rule is written once.

def not_found() -> ApplicationError:
    return ApplicationError("Not found.", code="not_found")


def patient_for_reader(user: Any, patient_id: int) -> Patient:
    """A patient the user may see, else 404."""
    patient = patients_visible_to(user).filter(pk=patient_id).first()
    if patient is None:
        raise not_found()
    return patient


def study_for_reader(user: Any, study_id: int) -> Study:
    """A study the user may read (`studies_visible_to`), with its patient; else 404."""
    study = study_detail(user, study_id)
    if study is None:
        raise not_found()
    return study


def may_manage_study(user: Any, study: Study) -> bool:
    """Sharing, revoking and deleting a study: its owner, or an admin."""
    return bool(user.is_admin or study.owner_id == user.pk)


def check_study_manager(user: Any, study: Study, *,
                        message: str = "Only the study's owner may manage its shares.") -> Study:
    """`study` when the user may manage it (`may_manage_study`), else 403 with `message` (what was refused)."""
    if not may_manage_study(user, study):
        raise ApplicationError(message, code="permission_denied")
    return study


def study_for_manager(user: Any, study_id: int, *,
                      message: str = "Only the study's owner may manage its shares.") -> Study:
    """A study the user may read (else 404) and manage (else 403 with `message`)."""
    return check_study_manager(user, study_for_reader(user, study_id), message=message)


def study_series(study: Study) -> QuerySet[Series]:
    return study.series.all()


def phi_for_study(study: Study) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The study's PHI and each series' PHI (by SeriesInstanceUID), for the DICOMweb proxy."""
    series = {s.series_instance_uid: s.phi for s in Series.objects.filter(study=study).only("series_instance_uid",
                                                                                         "phi")}
    return dict(study.phi or {}), series


def orthanc_patient_id(study: Study) -> str:
    """The PatientID under which Orthanc holds the study: its patient's pseudonym."""
    return Patient.objects.filter(pk=study.patient_id).values_list("pseudonym", flat=True).get()


def phi_for_study_uids(uids: list[str]) -> dict[str, dict[str, Any]]:
    return {s.study_instance_uid: dict(s.phi or {})
            for s in Study.objects.filter(study_instance_uid__in=uids).only("study_instance_uid", "phi")}
