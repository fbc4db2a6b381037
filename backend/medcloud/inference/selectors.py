"""Reads of the model registry and the jobs, and the one access helper of each object:

- a model is **visible** (listed, runnable) to its owner, to members of a group it is shared with, to health
  professionals once an admin published it, to everyone when MedCloud bundles it, and to admins;
- it is **editable** by its owner, by members of a group it is shared with for editing, and by admins;
- a job is readable by who asked for it and by admins; its traceback and the model's output (``detail``) only
  by the model's owner and admins.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from medcloud.accounts.models import Role
from medcloud.accounts.permissions import may_access_patient_data
from medcloud.core.errors import ApplicationError
from medcloud.sharing.models import GroupMembership

from .models import TERMINAL_STATES, AIModel, InferenceJob, ModelAccess, ModelVersion


def _not_found() -> ApplicationError:
    return ApplicationError("Not found.", code="not_found")


def _group_ids(user: Any) -> QuerySet:
    return GroupMembership.objects.filter(user=user).values("group_id")


def models_visible_to(user: Any) -> QuerySet[AIModel]:
    if user.is_admin:
        return AIModel.objects.all()
    rule = Q(owner=user) | Q(bundled=True) | Q(shares__group__in=_group_ids(user))
    if user.role == Role.HEALTH_PROFESSIONAL:
        rule |= Q(published=True)
    return AIModel.objects.filter(rule).distinct()


def models_editable_by(user: Any) -> QuerySet[AIModel]:
    if user.is_admin:
        return AIModel.objects.all()
    return AIModel.objects.filter(Q(owner=user) | Q(shares__group__in=_group_ids(user),
                                                     shares__access=ModelAccess.EDIT)).distinct()


def model_for_runner(user: Any, model_id: int) -> AIModel:
    """A model the user may see and run; else 404 (never tell whether it exists)."""
    model = models_visible_to(user).select_related("current_version").filter(pk=model_id).first()
    if model is None:
        raise _not_found()
    return model


def model_for_editor(user: Any, model_id: int) -> AIModel:
    """A model the user may edit (files, versions, rollback): 404 when not visible, 403 when only runnable."""
    model = model_for_runner(user, model_id)
    if not models_editable_by(user).filter(pk=model.pk).exists() or model.bundled and not user.is_admin:
        raise ApplicationError("You may run this model but not change it.", code="permission_denied")
    return model


def model_for_owner(user: Any, model_id: int) -> AIModel:
    """A model whose sharing the user decides: its owner (or an admin)."""
    model = model_for_runner(user, model_id)
    if not (user.is_admin or model.owner_id == user.pk):
        raise ApplicationError("Only the model's owner may share it.", code="permission_denied")
    return model


def version_of(model: AIModel, number: int | None = None) -> ModelVersion:
    version = model.current_version if number is None else model.versions.filter(number=number).first()
    if version is None:
        raise ApplicationError("This model has no published version yet." if number is None else "No such version.",
                               code="no_version" if number is None else "not_found")
    return version


def may_see_detail(user: Any, job: InferenceJob) -> bool:
    return bool(user.is_admin or job.version.model.owner_id == user.pk)


def jobs_visible_to(user: Any) -> QuerySet[InferenceJob]:
    jobs = InferenceJob.objects.select_related("version__model", "study")
    return jobs if user.is_admin else jobs.filter(requested_by=user)


def job_for_user(user: Any, job_id: Any) -> InferenceJob:
    job = jobs_visible_to(user).filter(pk=job_id).first()
    if job is None or not may_access_patient_data(user):
        raise _not_found()
    return job


def active_jobs_of(user: Any) -> int:
    return InferenceJob.objects.filter(requested_by=user).exclude(state__in=TERMINAL_STATES).count()
