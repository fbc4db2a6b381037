"""The inference worker: one Celery task per job, and the beat's watchdog.

A job: fetch the series from Orthanc once (bounded LRU cache, in memory only), run the model — bundled packages
in this process (the worker keeps their weights loaded between jobs), uploaded ones in the bubblewrap sandbox
(medcloud.sdk.sandbox) — validate the results (medcloud.sdk.results), build the DICOM objects (SEG, TID 1500 SR,
heat-map secondary captures, each naming the model, its version and package SHA-256, who ran it and when) and
store them into the same study through the PACS ingest service (PHI handling, audit, the study's counts).

A worker killed mid-job: the message is acknowledged late (CELERY_TASK_ACKS_LATE) and rejected when the worker
is lost, so the job is delivered again; a job found already "running" when it starts again is a retry, allowed
INFERENCE_MAX_ATTEMPTS times, then failed with that reason. The watchdog (`reap_jobs`, on the beat) sends again
or fails a running job whose heartbeat stopped: never left "running".
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError
from medcloud.core.orthanc import OrthancClient, OrthancError

from . import packages
from .models import TERMINAL_STATES, InferenceJob, JobState

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    pass


class JobFailed(Exception):
    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message, self.detail = message, detail or {}


# --- the series cache: in memory only, bounded, least recently used out first -----------------------------------

class SeriesCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, list[bytes]] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> list[bytes] | None:
        with self.lock:
            files = self.entries.get(key)
            if files is not None:
                self.entries.move_to_end(key)
            return files

    def put(self, key: str, files: list[bytes]) -> None:
        size = sum(len(f) for f in files)
        if size > self.max_bytes:
            return
        with self.lock:
            if key in self.entries:
                return
            self.entries[key] = files
            self.size += size
            while self.size > self.max_bytes:
                _, evicted = self.entries.popitem(last=False)
                self.size -= sum(len(f) for f in evicted)


_cache: SeriesCache | None = None


def series_cache() -> SeriesCache:
    global _cache
    if _cache is None:
        _cache = SeriesCache(settings.INFERENCE_SERIES_CACHE_BYTES)
    return _cache


def fetch_series(job: InferenceJob) -> list[bytes]:
    """The series' instances as Orthanc stores them (pseudonymised: the model never sees the patient's name)."""
    from medcloud.pacs.models import Series

    series = Series.objects.filter(study=job.study, series_instance_uid=job.series_instance_uid).first()
    if series is None or not series.orthanc_id:
        raise JobFailed("The series is no longer in the study.")
    key = f"{series.orthanc_id}:{series.instance_count}"
    cached = series_cache().get(key)
    if cached is not None:
        return cached
    try:
        with OrthancClient() as client:
            ids = [i["ID"] for i in client._request("GET", f"/series/{series.orthanc_id}/instances").json()]
            files = [client.instance_file(i) for i in ids]
    except OrthancError as exc:
        raise JobFailed("The image store (Orthanc) is unavailable; try again later.") from exc
    series_cache().put(key, files)
    return files


# --- the job ----------------------------------------------------------------------------------------------------

def _update(job_id: Any, **fields: Any) -> None:
    InferenceJob.objects.filter(pk=job_id).update(**fields)


def _start(job_id: str) -> InferenceJob | None:
    """Move the job to running (or decide it must not run); None when there is nothing to do."""
    with transaction.atomic():
        job = InferenceJob.objects.select_for_update().select_related("version__model", "study__patient",
                                                                      "requested_by").filter(pk=job_id).first()
        if job is None or job.state in TERMINAL_STATES:
            return None
        if job.attempts >= settings.INFERENCE_MAX_ATTEMPTS:
            _finish(job, JobState.FAILED, error=f"The worker stopped while running this job {job.attempts} times; "
                    "it was not tried again.")
            return None
        now = timezone.now()
        job.state, job.attempts, job.started_at, job.heartbeat_at = JobState.RUNNING, job.attempts + 1, now, now
        job.progress, job.message = 0, "starting" if job.attempts == 1 else f"starting again (attempt {job.attempts})"
        job.save(update_fields=["state", "attempts", "started_at", "heartbeat_at", "progress", "message"])
    return job


def _finish(job: InferenceJob, state: str, *, error: str = "", detail: dict[str, Any] | None = None,
            result: dict[str, Any] | None = None, message: str = "") -> None:
    with transaction.atomic():
        current = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if current.state in TERMINAL_STATES:  # cancelled meanwhile: keep the user's decision
            return
        current.state, current.finished_at = state, timezone.now()
        current.error, current.message = error[:500], (message or state)[:200]
        current.detail = detail or current.detail
        current.timings = job.timings
        if result is not None:
            current.result, current.progress = result, 100
        current.save()
        record_event(AuditAction.JOB_FINISH, actor=current.requested_by, target_type="job", target_id=current.pk,
                     details={"state": state, "model": job.version.model_id, "version": job.version.number,
                              "sha256": job.version.sha256, "study": job.study_id})


def _progress(job: InferenceJob) -> Any:
    last = [0.0]

    def report(percent: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and percent < 100:
            return
        last[0] = now
        state = InferenceJob.objects.filter(pk=job.pk).values_list("state", flat=True).first()
        if state == JobState.CANCELLED:
            raise JobCancelled()
        _update(job.pk, progress=int(max(0, min(99, 10 + 0.8 * percent))), message=str(message)[:200],
                heartbeat_at=timezone.now())

    return report


def execute(job: InferenceJob) -> dict[str, Any]:
    """Run one job to its results stored in the study; returns results.json (provenance included)."""
    from medcloud.pacs.services import ingest
    from medcloud.pacs.uploads import upload_batch
    from medcloud.sdk.runner import RunError, run_package
    from medcloud.sdk.sandbox import SandboxLimits
    from medcloud.sdk.validate import PackageError

    timings: dict[str, float] = {}
    started = time.perf_counter()
    files = fetch_series(job)
    timings["fetch_s"] = round(time.perf_counter() - started, 3)
    _update(job.pk, progress=10, message="series fetched", heartbeat_at=timezone.now())
    package = packages.path_for(job.version.sha256)
    # in-process only for a version published from the code base (not, e.g., an admin's edit of a bundled model)
    bundled = bool(job.version.model.bundled and job.version.manifest.get("bundled"))
    with tempfile.TemporaryDirectory(prefix="medcloud-job-", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        series_dir, out_dir = Path(tmp) / "series", Path(tmp) / "out"
        series_dir.mkdir()
        for index, data in enumerate(files):
            (series_dir / f"{index:05d}.dcm").write_bytes(data)
        run_started = time.perf_counter()
        try:
            doc = run_package(package, series_dir, out_dir, sandbox=not bundled, bundled=bundled,
                              ran_by=f"user {job.requested_by_id}",
                              limits=SandboxLimits(wall_seconds=settings.INFERENCE_SANDBOX_WALL_SECONDS),
                              on_progress=_progress(job))
        except PackageError as exc:
            raise JobFailed(f"The model package is not valid: {exc}") from exc
        except RunError as exc:
            raise JobFailed(f"The model failed: {exc}", detail=exc.detail) from exc
        except JobCancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - the model's own error: the owner sees the traceback
            raise JobFailed(f"The model failed: {exc.__class__.__name__}: {str(exc)[:200]}",
                            detail={"traceback": traceback.format_exc()[-20000:]}) from exc
        timings["run_s"] = round(time.perf_counter() - run_started, 3)
        # of which the model's own run; the rest is reading the series, checking the results, building the DICOM
        timings["model_s"] = round(float(doc.get("run_s", 0.0)), 3)
        timings["dicom_s"] = round(max(0.0, timings["run_s"] - timings["model_s"]), 3)
        if InferenceJob.objects.filter(pk=job.pk, state=JobState.CANCELLED).exists():
            raise JobCancelled()
        _update(job.pk, progress=92, message="storing the results", heartbeat_at=timezone.now())
        store_started = time.perf_counter()
        outputs = sorted(out_dir.glob("*.dcm"))
        stored: list[str] = []
        if outputs:
            try:
                with upload_batch() as batch:
                    for path in outputs:
                        with path.open("rb") as handle:
                            batch.add_stream(path.name, handle)
                    result = ingest(batch, user=job.requested_by, patient=job.study.patient, source="ai",
                                    expected_study_uid=job.study.study_instance_uid)
                stored = [item.sop_instance_uid for item in result.instances]
            except ApplicationError as exc:
                raise JobFailed(f"The results could not be stored in the study: {exc.message}") from exc
        timings["store_s"] = round(time.perf_counter() - store_started, 3)
    timings["total_s"] = round(time.perf_counter() - started, 3)
    job.timings = timings
    doc["stored_sop_instance_uids"] = stored
    doc["job"] = {"id": str(job.pk), "model_id": job.version.model_id, "version": job.version.number}
    return doc


def enqueue(job_id: Any) -> None:
    """Send a job to the workers through the project's Celery app (the web process does not load it by default:
    medcloud/__init__.py stays free of Celery so that the SDK imports without it)."""
    from medcloud.celery import app

    app.send_task("inference.run_job", args=[str(job_id)], queue=settings.INFERENCE_QUEUE)


@shared_task(name="inference.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True,
             time_limit=settings.INFERENCE_HARD_TIME_LIMIT_SECONDS)
def run_job(job_id: str) -> None:
    job = _start(job_id)
    if job is None:
        return
    try:
        doc = execute(job)
    except JobCancelled:
        return
    except JobFailed as exc:
        _finish(job, JobState.FAILED, error=exc.message, detail=exc.detail, message="failed")
        return
    except Exception as exc:  # noqa: BLE001 - a platform error: failed with a reason, never left running
        logger.exception("inference job %s failed", job_id)
        _finish(job, JobState.FAILED, error=f"The platform could not complete the job ({exc.__class__.__name__}).",
                detail={"traceback": traceback.format_exc()[-20000:]}, message="failed")
        return
    _finish(job, JobState.SUCCEEDED, result=doc, message="done")


@shared_task(name="inference.reap_jobs", ignore_result=True)
def reap_jobs(stale_seconds: float | None = None, unclaimed_seconds: float | None = None) -> dict[str, int]:
    """Running jobs whose heartbeat stopped (their worker died): sent again, or failed after the last attempt.
    Queued jobs no worker started within ``unclaimed_seconds`` of their last sending (a message lost: a broker
    without its data, a worker of an older release that discards a task it does not know): sent again, up to
    INFERENCE_MAX_SENDS times, then failed with that reason. Never left waiting or "running" for ever."""
    stale = settings.INFERENCE_STALE_SECONDS if stale_seconds is None else stale_seconds
    unclaimed = settings.INFERENCE_UNCLAIMED_SECONDS if unclaimed_seconds is None else unclaimed_seconds
    now = timezone.now()
    cutoff = now - timezone.timedelta(seconds=stale)
    requeued = failed = resent = 0
    for job in InferenceJob.objects.filter(state=JobState.QUEUED, sent_at__lt=now - timezone.timedelta(
            seconds=unclaimed)):
        if job.sends >= settings.INFERENCE_MAX_SENDS:
            _finish(job, JobState.FAILED, error="No worker took this job; try again later.")
            failed += 1
        else:
            _update(job.pk, sends=job.sends + 1, sent_at=now, message="sent again: no worker had taken it")
            enqueue(job.pk)
            resent += 1
    for job in InferenceJob.objects.filter(state=JobState.RUNNING, heartbeat_at__lt=cutoff):
        if job.attempts >= settings.INFERENCE_MAX_ATTEMPTS:
            _finish(job, JobState.FAILED, error="The worker stopped while running this job; it was not tried again.")
            failed += 1
        else:
            _update(job.pk, state=JobState.QUEUED, sends=job.sends + 1, sent_at=now,
                    message="sent again: its worker stopped")
            enqueue(job.pk)
            requeued += 1
    return {"requeued": requeued, "resent": resent, "failed": failed}
