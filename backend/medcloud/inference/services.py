"""Writes of the model registry and the jobs; each with its audit row in the same transaction.

Publishing validates the package by reading it (medcloud.sdk.validate: files, sizes, types, main.py parsed for
its InferTasks and Application, model.toml, requirements), never by importing it, then stores it content-
addressed and immutable. A job is created only for a model the caller may run, on a study the caller may read
and write (its results are stored into that study); it is queued after the transaction commits.
"""

from __future__ import annotations

import logging
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError
from medcloud.pacs.models import Series
from medcloud.pacs.selectors import studies_writable_by, study_for_reader
from medcloud.sdk.validate import inspect_package

from . import packages, selectors
from .models import TERMINAL_STATES, AIModel, InferenceJob, JobState, ModelFile, ModelShare, ModelVersion

logger = logging.getLogger(__name__)
EDITABLE_SUFFIXES = packages.TEXT_SUFFIXES


# --- models ---------------------------------------------------------------------------------------------------

def model_create(*, owner: Any, name: str, task_type: str, description: str = "", architecture: str = "",
                 modality: str = "", request: Any = None) -> AIModel:
    if AIModel.objects.filter(owner=owner, name=name).exists():
        raise ApplicationError("You already have a model with this name.", code="conflict",
                               details={"name": ["taken"]})
    with transaction.atomic():
        model = AIModel.objects.create(owner=owner, name=name, task_type=task_type, description=description,
                                       architecture=architecture, modality=modality.upper())
        record_event(AuditAction.MODEL_CREATE, actor=owner, request=request, target_type="model", target_id=model.pk)
    return model


def model_update(*, model: AIModel, actor: Any, request: Any = None, **changes: Any) -> AIModel:
    fields = [k for k in ("description", "architecture", "modality") if k in changes]
    for name in fields:
        setattr(model, name, changes[name].upper() if name == "modality" else changes[name])
    with transaction.atomic():
        model.save(update_fields=fields or None)
        record_event(AuditAction.MODEL_UPDATE, actor=actor, request=request, target_type="model", target_id=model.pk,
                     details={"fields": fields})
    return model


def _problems(problems: list[Any]) -> ApplicationError:
    first = problems[0]
    return ApplicationError(f"The package is not valid: {first.file}:{first.line}: {first.message}",
                            code="invalid_package",
                            details={"problems": [{"file": p.file, "line": p.line, "message": p.message}
                                                  for p in problems]})


def version_publish(*, model: AIModel, package: Path, actor: Any, request: Any = None,
                    bundled: bool = False) -> ModelVersion:
    """Validate a package zip, store it, and make it the model's new current version. ``bundled``: only for the
    zip of a package folder shipped in the code base (``bundled_models_ensure``): it may import medcloud.ai and its
    jobs run in-process; recorded in the version's manifest, never set for an upload or a working copy."""
    info, problems = inspect_package(package, bundled=bundled)
    if problems:
        raise _problems(problems)
    assert info.manifest is not None
    sha, size = packages.store(package)
    manifest = {"name": info.manifest.name, "version": info.manifest.version,
                "sdk_version": info.manifest.sdk_version, "requirements": list(info.manifest.requirements),
                "tasks": [{"name": t.name, "type": str(t.type), "labels": list(t.labels),
                           "modalities": list(t.modalities)} for t in info.tasks],
                "files": list(info.files), "bundled": bundled}
    with transaction.atomic():
        locked = AIModel.objects.select_for_update().get(pk=model.pk)
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = ModelVersion.objects.create(model=locked, number=number, sha256=sha, size=size, manifest=manifest,
                                              created_by=actor if getattr(actor, "pk", None) else None)
        locked.current_version = version
        locked.save(update_fields=["current_version"])
        if not bundled:  # the editor's working copy shows what is now current
            _working_copy_reset(locked, packages.read_texts(sha))
        record_event(AuditAction.MODEL_VERSION_PUBLISH, actor=actor, request=request, target_type="model",
                     target_id=model.pk, details={"version": number, "sha256": sha, "size": size})
    model.current_version = version
    return version


def version_publish_files(*, model: AIModel, actor: Any, request: Any = None) -> ModelVersion:
    """Publish the working copy (the text files written one by one over the API) as a new version. The current
    version's other files (weights) come along unchanged: the editor changes code, not weights."""
    files = dict(model.files.values_list("path", "content"))
    if not files:
        raise ApplicationError("The model has no files to publish.", code="invalid_package")
    binaries = packages.read_binaries(model.current_version.sha256) if model.current_version else {}
    with tempfile.TemporaryDirectory(prefix="medcloud-model-") as tmp:
        package = packages.zip_files({**binaries, **{p: c.encode() for p, c in files.items()}},
                                     Path(tmp) / "package.zip")
        return version_publish(model=model, package=package, actor=actor, request=request)


def version_add_file(*, model: AIModel, name: str, upload: Path, actor: Any, request: Any = None) -> ModelVersion:
    """Publish the current version plus one uploaded file (a weight file, usually) as a new version, validated
    as a whole like any package; the working copy's text files come along."""
    name = posixpath.normpath(name.strip().replace("\\", "/"))
    if not name or name.startswith(("/", "../")) or name in (".", "..") or "/../" in name or len(name) > 200:
        raise ApplicationError("Name the file by a path inside the package.", code="invalid",
                               details={"path": ["not allowed"]})
    files = packages.read_binaries(model.current_version.sha256) if model.current_version else {}
    files.update((p, c.encode()) for p, c in model.files.values_list("path", "content"))
    with tempfile.TemporaryDirectory(prefix="medcloud-model-") as tmp:
        files[name] = upload.read_bytes()
        package = packages.zip_files(files, Path(tmp) / "package.zip")
        files.clear()
        return version_publish(model=model, package=package, actor=actor, request=request)


def version_rollback(*, model: AIModel, number: int, actor: Any, request: Any = None) -> ModelVersion:
    version = selectors.version_of(model, number)
    with transaction.atomic():
        previous = model.current_version.number if model.current_version else None
        model.current_version = version
        model.save(update_fields=["current_version"])
        _working_copy_reset(model, packages.read_texts(version.sha256))
        record_event(AuditAction.MODEL_ROLLBACK, actor=actor, request=request, target_type="model",
                     target_id=model.pk, details={"from": previous, "to": number})
    return version


def _clean_path(path: str) -> str:
    normal = posixpath.normpath(path.strip().replace("\\", "/"))
    if (not normal or normal.startswith(("/", "../")) or normal in (".", "..") or "/../" in normal
            or not normal.endswith(EDITABLE_SUFFIXES) or len(normal) > 200):
        raise ApplicationError(f"Files edited here are text files inside the package ({', '.join(EDITABLE_SUFFIXES)}"
                               "); upload weights in a package zip.", code="invalid", details={"path": ["not allowed"]})
    return normal


def file_write(*, model: AIModel, path: str, content: str, actor: Any, request: Any = None) -> ModelFile:
    path = _clean_path(path)
    if len(content.encode()) > 2 << 20:
        raise ApplicationError("A text file is at most 2 MB.", code="too_large")
    with transaction.atomic():
        row, _ = ModelFile.objects.update_or_create(model=model, path=path, defaults={"content": content})
        record_event(AuditAction.MODEL_FILE_WRITE, actor=actor, request=request, target_type="model",
                     target_id=model.pk, details={"path": path, "bytes": len(content.encode())})
    return row


def file_delete(*, model: AIModel, path: str, actor: Any, request: Any = None) -> None:
    with transaction.atomic():
        deleted, _ = ModelFile.objects.filter(model=model, path=_clean_path(path)).delete()
        if not deleted:
            raise ApplicationError("Not found.", code="not_found")
        record_event(AuditAction.MODEL_FILE_WRITE, actor=actor, request=request, target_type="model",
                     target_id=model.pk, details={"path": path, "deleted": True})


def files_from_version(*, model: AIModel, actor: Any, request: Any = None) -> int:
    """Start (or reset) the working copy from the current version's text files."""
    texts = packages.read_texts(selectors.version_of(model).sha256)
    with transaction.atomic():
        _working_copy_reset(model, texts)
        record_event(AuditAction.MODEL_FILE_WRITE, actor=actor, request=request, target_type="model",
                     target_id=model.pk, details={"reset_from_version": model.current_version.number})
    return len(texts)


def _working_copy_reset(model: AIModel, texts: dict[str, str]) -> None:
    model.files.all().delete()
    ModelFile.objects.bulk_create(ModelFile(model=model, path=p, content=c) for p, c in texts.items())


def model_share(*, model: AIModel, group: Any, access: str, actor: Any, request: Any = None) -> ModelShare:
    with transaction.atomic():
        share, _ = ModelShare.objects.update_or_create(model=model, group=group, defaults={"access": access})
        record_event(AuditAction.MODEL_SHARE, actor=actor, request=request, target_type="model", target_id=model.pk,
                     details={"group": group.pk, "access": access})
    return share


def model_unshare(*, share: ModelShare, actor: Any, request: Any = None) -> None:
    with transaction.atomic():
        record_event(AuditAction.MODEL_UNSHARE, actor=actor, request=request, target_type="model",
                     target_id=share.model_id, details={"group": share.group_id})
        share.delete()


def model_publication_set(*, model: AIModel, published: bool, actor: Any, request: Any = None) -> AIModel:
    if not actor.is_admin:
        raise ApplicationError("Only administrators publish models to health professionals.",
                               code="permission_denied")
    if published and model.current_version is None:
        raise ApplicationError("Publish a version of the model first.", code="no_version")
    with transaction.atomic():
        model.published, model.published_at = published, timezone.now() if published else None
        model.save(update_fields=["published", "published_at"])
        record_event(AuditAction.MODEL_PUBLICATION, actor=actor, request=request, target_type="model",
                     target_id=model.pk, details={"published": published})
    return model


# --- bundled models ---------------------------------------------------------------------------------------------

BUNDLED_PACKAGES = {"ynet": ("medcloud.ai.ynet", "sdk_package", "Y-Net brain tumour model",
                             "U-Net encoder-decoder whose bottleneck also feeds a classifier", "segmentation", "MR")}


def bundled_models_ensure() -> list[AIModel]:
    """Publish MedCloud's bundled models (each an SDK package folder in the code base) to everyone: created at
    first start, a new version when the package changed (same files, same SHA-256: nothing to do)."""
    import importlib

    made = []
    for name, (module, folder, title, architecture, task, modality) in BUNDLED_PACKAGES.items():
        try:
            source = Path(importlib.import_module(module).__file__).parent / folder  # type: ignore[arg-type]
        except ImportError:
            continue
        if not (source / "main.py").exists():
            continue
        with transaction.atomic():
            model, _ = AIModel.objects.get_or_create(
                owner=None, name=title, defaults={"bundled": True, "published": True, "published_at": timezone.now(),
                                                  "task_type": task, "modality": modality,
                                                  "architecture": architecture, "description": f"bundled: {name}"})
        with tempfile.TemporaryDirectory(prefix="medcloud-bundled-") as tmp:
            zipped = packages.zip_folder(source, Path(tmp) / f"{name}.zip")
            if model.current_version is None or model.current_version.sha256 != packages.file_sha256(zipped):
                version_publish(model=model, package=zipped, actor=None, bundled=True)
        made.append(model)
    return made


# --- jobs -------------------------------------------------------------------------------------------------------

def job_create(*, user: Any, study_id: int, series_uid: str, model_id: int | None = None,
               version_number: int | None = None, request: Any = None) -> InferenceJob:
    if model_id is None:
        raise ApplicationError("Name the model to run.", code="invalid", details={"model": ["required"]})
    model = selectors.model_for_runner(user, model_id)
    version = selectors.version_of(model, version_number)
    study = study_for_reader(user, study_id)  # 404 when the caller may not read it
    if not studies_writable_by(user).filter(pk=study.pk).exists():
        raise ApplicationError("The results are stored in the study: you need write access to it.",
                               code="permission_denied")
    if not Series.objects.filter(study=study, series_instance_uid=series_uid).exists():
        raise ApplicationError("This series is not in the study.", code="not_found")
    if selectors.active_jobs_of(user) >= settings.INFERENCE_MAX_ACTIVE_JOBS_PER_USER:
        raise ApplicationError(f"At most {settings.INFERENCE_MAX_ACTIVE_JOBS_PER_USER} of your jobs may be queued or "
                               "running at once; wait for one to end.", code="too_many_jobs")
    with transaction.atomic():
        job = InferenceJob.objects.create(version=version, study=study, series_instance_uid=series_uid,
                                          requested_by=user, message="queued")
        record_event(AuditAction.JOB_CREATE, actor=user, request=request, target_type="job", target_id=job.pk,
                     details={"model": model.pk, "version": version.number, "study": study.pk})
        transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: InferenceJob) -> None:
    from .tasks import enqueue

    enqueue(job.pk)


def job_cancel(*, job: InferenceJob, user: Any, request: Any = None) -> InferenceJob:
    with transaction.atomic():
        job = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if job.state in TERMINAL_STATES:
            raise ApplicationError(f"The job has already ended ({job.state}).", code="conflict")
        job.state, job.finished_at, job.message = JobState.CANCELLED, timezone.now(), "cancelled"
        job.save(update_fields=["state", "finished_at", "message"])
        record_event(AuditAction.JOB_CANCEL, actor=user, request=request, target_type="job", target_id=job.pk)
    return job


def job_retry(*, job: InferenceJob, user: Any, request: Any = None) -> InferenceJob:
    """A failed or cancelled job is queued again, as a new job with the same model version, study and series."""
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        raise ApplicationError("Only a failed or cancelled job can be retried.", code="conflict")
    retry = job_create(user=user, study_id=job.study_id, series_uid=job.series_instance_uid,
                       model_id=job.version.model_id, version_number=job.version.number, request=request)
    record_event(AuditAction.JOB_RETRY, actor=user, request=request, target_type="job", target_id=retry.pk,
                 details={"of": str(job.pk)})
    return retry
