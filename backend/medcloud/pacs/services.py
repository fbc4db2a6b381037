"""Writes of the PACS: patients, study ingest (validate everything, protect PHI, store in Orthanc, record),
study deletion. A study lands completely or not at all: what was stored in Orthanc by a failed upload is
deleted again before the error reaches the client, and the database rows are written in one transaction.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError, UpstreamUnavailable
from medcloud.core.orthanc import OrthancClient, OrthancError, StoredInstance, orthanc_id
from medcloud.crypto.blind_index import blind_index, token_prefix_indexes

from .archive import ArchiveMemberError
from .auth import issue_viewer_token
from .dicom import (
    SERIES_PHI_TAGS,
    STUDY_PHI_TAGS,
    InvalidInstance,
    ParsedInstance,
    deidentify_file,
    describe,
    person_name_parts,
)
from .models import Patient, PendingIngest, Series, Study, new_pseudonym
from .parsing import parse_in_order
from .selectors import (
    MRN_PURPOSE,
    NAME_PURPOSE,
    check_study_manager,
    patient_for_reader,
    patients_visible_to,
    studies_visible_to,
    studies_writable_by,
    study_access,
    study_for_reader,
)
from .uploads import UploadBatch, UploadRejected

logger = logging.getLogger(__name__)
STORE_ATTEMPTS = 4


def orthanc_writers() -> int:
    """How many instances are POSTed to Orthanc at once (settings.PACS_ORTHANC_WRITERS, at least one).

    Orthanc 1.10 with the PostgreSQL index stores one instance at a time (serializable transactions): parallel
    POSTs do not go faster and sometimes fail to serialize (retried below). De-identifying an instance only
    slices bytes (~0.1 ms), so by default the instances are POSTed one after the other from the request's own
    thread, with no hand-over between threads. More than one POSTs that many at once, for an Orthanc whose
    index takes concurrent writers. Measured in docs/benchmarks.md."""
    return max(1, settings.PACS_ORTHANC_WRITERS)


# --- patients ------------------------------------------------------------------------------------------------

def _index_patient(patient: Patient) -> None:
    full_name = f"{patient.first_name} {patient.last_name}".strip()
    patient.name_index = token_prefix_indexes(full_name, purpose=NAME_PURPOSE) if full_name else []
    mrn = (patient.medical_record_number or "").strip()
    patient.mrn_index = blind_index(mrn, purpose=MRN_PURPOSE) if mrn else ""


def patient_create(*, user: Any, request: Any = None, first_name: str = "", last_name: str = "", sex: str = "",
                   birth_date: datetime.date | None = None, age_years: int | None = None,
                   medical_record_number: str = "", pseudonym: str | None = None, audit: bool = True) -> Patient:
    patient = Patient(first_name=first_name.strip(), last_name=last_name.strip(), sex=sex, birth_date=birth_date,
                      age_years=age_years, medical_record_number=medical_record_number.strip(), created_by=user)
    if pseudonym:
        patient.pseudonym = pseudonym
    _index_patient(patient)
    with transaction.atomic():
        patient.save()
        if audit:
            record_event(AuditAction.PATIENT_CREATE, actor=user, request=request, target_type="patient",
                         target_id=patient.pk)
    return patient


# --- ingest --------------------------------------------------------------------------------------------------

@dataclass
class StudyPlan:
    study_uid: str
    items: list[ParsedInstance]
    existing: Study | None
    patient: Patient | None
    new_patient_key: str = ""  # which new patient (shared by studies of the same record number) to create
    pseudonym: str = ""


@dataclass
class IngestResult:
    studies: list[Study]
    instances: list[ParsedInstance]
    new_instances: int
    created: bool = False
    stored: dict[str, StoredInstance] = field(default_factory=dict)
    # (file name, reason) of the files left out as not DICOM (a README, a DICOMDIR): dicom.skip_reason
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.skipped:  # _parse_all hands them over with the instances (a dicom.ParsedFiles)
            self.skipped = list(getattr(self.instances, "skipped", []))


def _parse_all(batch: UploadBatch, expected_study_uid: str | None) -> list[ParsedInstance]:
    from .dicom import ParsedFiles, skip_reason

    if not batch.files:
        raise UploadRejected("the upload holds no file", code="empty_upload")
    parsed = ParsedFiles()
    seen: set[str] = set()
    # STOW-RS parts ("part N") were all sent as application/dicom: each claims to be DICOM, none is skipped
    stow = all(item.name.startswith("part ") and item.name[5:].isdigit() for item in batch.files)
    # zip members are validated as they come out of the archive; large uploads on every core (parsing.py)
    files = ((item.source, item.name) for item in batch.ready_files())
    for name, instance in parse_in_order(files, len(batch.files)):
        if isinstance(instance, InvalidInstance):
            reason = None if stow else skip_reason(name, instance, len(batch.files))
            if reason is None:
                raise UploadRejected(str(instance), file=name, code="invalid_dicom")
            parsed.skipped.append((name, reason))
            continue
        if isinstance(instance, ArchiveMemberError):
            raise UploadRejected(instance.message, file=name, code=instance.code)
        if expected_study_uid and instance.study_uid != expected_study_uid:
            raise UploadRejected("the instance belongs to another study than the one in the URL", file=name,
                                 code="study_mismatch")
        if instance.sop_instance_uid in seen:
            continue  # the same instance twice in one upload: store it once
        seen.add(instance.sop_instance_uid)
        parsed.append(instance)
    if not parsed:  # every file was skipped; their names may say who the patient is: none is listed
        raise UploadRejected("no DICOM file was found in the upload", code="no_dicom")
    return parsed


def _plan(user: Any, parsed: list[ParsedInstance], patient: Patient | None) -> list[StudyPlan]:
    by_study: dict[str, list[ParsedInstance]] = defaultdict(list)
    for item in parsed:
        by_study[item.study_uid].append(item)
    series_study: dict[str, str] = {}
    for item in parsed:
        if series_study.setdefault(item.series_uid, item.study_uid) != item.study_uid:
            raise UploadRejected("the series appears in two studies", file=item.name, code="inconsistent_series")
    plans: list[StudyPlan] = []
    new_patients: dict[str, str] = {}
    for study_uid, items in by_study.items():
        existing = Study.objects.select_related("patient").filter(study_instance_uid=study_uid).first()
        if existing is not None:
            if not studies_writable_by(user).filter(pk=existing.pk).exists():
                if studies_visible_to(user).filter(pk=existing.pk).exists():
                    raise UploadRejected("you may read this study but not add to it", file=items[0].name,
                                         code="permission_denied")
                raise UploadRejected("this study already exists in MedCloud under another owner", file=items[0].name,
                                     code="study_exists")
            if patient is not None and existing.patient_id != patient.pk:
                raise UploadRejected("this study already belongs to another patient", file=items[0].name,
                                     code="patient_mismatch")
            clash = Series.objects.filter(series_instance_uid__in={i.series_uid for i in items}).exclude(study=existing)
        else:
            clash = Series.objects.filter(series_instance_uid__in={i.series_uid for i in items})
        if clash.exists():
            raise UploadRejected("a series of this upload already belongs to another study", file=items[0].name,
                                 code="inconsistent_series")
        describe(items[0])
        plan = StudyPlan(study_uid, items, existing, existing.patient if existing else patient)
        if plan.patient is None:
            mrn = items[0].patient_id
            if mrn:
                plan.patient = patients_visible_to(user).filter(
                    mrn_index=blind_index(mrn, purpose=MRN_PURPOSE), created_by=user).order_by("id").first()
            if plan.patient is None:
                plan.new_patient_key = f"mrn:{mrn}" if mrn else f"study:{study_uid}"
                plan.pseudonym = new_patients.setdefault(plan.new_patient_key, new_pseudonym())
        if plan.patient is not None:
            plan.pseudonym = plan.patient.pseudonym
        plans.append(plan)
    return plans


class _Store:
    """Stores de-identified instances in Orthanc from a small thread pool; remembers what it added."""

    def __init__(self, client: OrthancClient) -> None:
        self.client = client
        self.added: list[str] = []  # Orthanc ids this upload created (Status "Success"), to roll back
        self.results: dict[str, StoredInstance] = {}
        self.failed = threading.Event()
        self.lock = threading.Lock()
        self.pre_existing: set[str] = set()  # Orthanc ids of the instances of studies that already existed
        self.writers = threading.BoundedSemaphore(orthanc_writers())

    def store(self, item: ParsedInstance, pseudonym: str) -> None:
        if self.failed.is_set():
            return
        try:
            data = deidentify_file(item.source, pseudonym, item.splice_plan)
            result, retried = self._store_with_retries(data)
        except ArchiveMemberError as exc:  # the upload changed on disk since it was validated
            self.failed.set()
            raise UploadRejected(exc.message, file=item.name, code=exc.code) from exc
        except OrthancError as exc:
            self.failed.set()
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise UploadRejected("Orthanc refused this DICOM file", file=item.name, code="invalid_dicom") from exc
            raise UpstreamUnavailable("The image store (Orthanc) is unavailable; nothing was stored.") from exc
        except Exception:
            self.failed.set()
            raise
        expected = orthanc_id(pseudonym, item.study_uid, item.series_uid, item.sop_instance_uid)
        if result.orthanc_id != expected:
            # Orthanc indexed other identifiers than the ones MedCloud validated (a file that reads differently
            # to DCMTK and pydicom): undo it, whatever Orthanc said, unless it was there before this upload.
            self.failed.set()
            with self.lock:
                if result.orthanc_id not in self.pre_existing:
                    self.added.append(result.orthanc_id)
            raise UploadRejected("the image store read other identifiers from this file than MedCloud did "
                                 "(ambiguous or repeated elements); nothing was stored", file=item.name,
                                 code="ambiguous_dicom")
        with self.lock:
            self.results[item.sop_instance_uid] = result
            # "Success" is ours to undo; so is "AlreadyStored" after a failed attempt that in fact committed,
            # unless the instance was there before this upload began.
            if result.status == "Success" or (retried and result.orthanc_id not in self.pre_existing):
                self.added.append(result.orthanc_id)

    def _store_with_retries(self, data: bytes) -> tuple[StoredInstance, bool]:
        """Orthanc's PostgreSQL index runs serializable transactions: concurrent stores sometimes fail with
        a serialization error (HTTP 500, "might succeed if retried"). Retry those, with a short backoff."""
        for attempt in range(STORE_ATTEMPTS):
            try:
                with self.writers:
                    return self.client.store_instance(data), attempt > 0
            except OrthancError as exc:
                if exc.status_code != 500 or attempt == STORE_ATTEMPTS - 1:
                    raise
                logger.warning("Orthanc could not store an instance (attempt %d), retrying", attempt + 1)
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def rollback(self) -> bool:
        """Delete what this upload added; True when all of it is gone (else the journal keeps it)."""
        complete = True
        for added_id in self.added:
            try:
                self.client.delete("instances", added_id)
            except OrthancError as exc:
                if exc.status_code == 404:
                    continue
                complete = False
                logger.warning("could not roll back Orthanc instance %s (%s): left to the reconciliation",
                               added_id, exc)
        return complete


def _check_indexed_phi(client: OrthancClient, plan: StudyPlan, orthanc_study: str,
                       orthanc_series: list[dict[str, Any]]) -> None:
    """What Orthanc indexed for the study and its series must be what MedCloud sent: the pseudonym as the
    patient, and none of the PHI attributes (emptied before storing). A difference means Orthanc read the
    file otherwise than MedCloud did: the upload is refused and rolled back."""
    study = client.study(orthanc_study)
    patient_tags = study.get("PatientMainDicomTags", {})
    problems = [k for k in ("PatientName", "PatientID") if str(patient_tags.get(k, "")).strip() != plan.pseudonym]
    tags = {**patient_tags, **study.get("MainDicomTags", {})}
    problems += [k for k in STUDY_PHI_TAGS.values() if k not in ("PatientName", "PatientID") and
                 str(tags.get(k, "")).strip()]
    for series in orthanc_series:
        problems += [k for k in SERIES_PHI_TAGS.values() if str(series.get("MainDicomTags", {}).get(k, "")).strip()]
    if problems:
        raise UploadRejected("the image store indexed attributes that MedCloud had removed (ambiguous or repeated "
                             "elements); nothing was stored", file=plan.items[0].name, code="ambiguous_dicom")


# --- the ingest journal and the reconciliation of Orthanc against the database -----------------------------

def _journal_open(plans: list[StudyPlan], pre_existing: set[str]) -> PendingIngest:
    ids = [orthanc_id(plan.pseudonym, item.study_uid, item.series_uid, item.sop_instance_uid)
           for plan in plans for item in plan.items]
    return PendingIngest.objects.create(orthanc_instance_ids=[i for i in ids if i not in pre_existing],
                                        study_instance_uids=[plan.study_uid for plan in plans], pid=os.getpid())


def _journal_close(journal: PendingIngest, *, rolled_back: bool) -> None:
    """After a failed upload: forget the journal when the rollback finished, else keep it for the replay."""
    try:
        if rolled_back:
            journal.delete()
        else:
            PendingIngest.objects.filter(pk=journal.pk).update(failed_at=timezone.now())
    except DatabaseError:
        logger.warning("could not update ingest journal %s: the reconciliation will replay it", journal.pk)


@dataclass
class ReconcileReport:
    replayed_journals: int = 0
    removed_instances: int = 0
    orphan_studies: list[str] = field(default_factory=list)  # Orthanc ids of studies no MedCloud study owns
    removed_orphans: int = 0
    errors: int = 0


def orthanc_reconcile(*, stale_after_seconds: float | None = None, orphan_grace_seconds: float | None = None,
                      remove_orphans: bool = True) -> ReconcileReport:
    """Finish what failed uploads left in Orthanc, then report (and, after a grace period, remove) studies that
    Orthanc holds and no MedCloud study owns. Runs at worker start and periodically (celery beat), and as
    `manage.py reconcile_orthanc`. Safe to run at any time: an upload in flight is protected by its
    journal's age (stale_after_seconds) and by the orphans' grace period."""
    stale_after = settings.PACS_INGEST_STALE_SECONDS if stale_after_seconds is None else stale_after_seconds
    grace = settings.PACS_ORPHAN_GRACE_SECONDS if orphan_grace_seconds is None else orphan_grace_seconds
    report = ReconcileReport()
    now = timezone.now()
    due = PendingIngest.objects.filter(Q(failed_at__isnull=False) |
                                       Q(created_at__lt=now - datetime.timedelta(seconds=stale_after)))
    with OrthancClient() as client:
        for journal in due:
            if _replay_journal(client, journal, report):
                journal.delete()
                report.replayed_journals += 1
        _sweep_orphans(client, report, grace, remove=remove_orphans)
    if report.removed_instances or report.orphan_studies or report.errors:
        logger.warning("orthanc reconciliation: %s", report)
        record_event(AuditAction.ORTHANC_RECONCILE, actor=None, target_type="study",
                     details={"replayed_journals": report.replayed_journals,
                              "removed_instances": report.removed_instances,
                              "orphan_studies": len(report.orphan_studies),
                              "removed_orphans": report.removed_orphans, "errors": report.errors})
    return report


def _replay_journal(client: OrthancClient, journal: PendingIngest, report: ReconcileReport) -> bool:
    """Delete the journal's instances that no recorded study accounts for; True when done."""
    recorded = {s.orthanc_id: s for s in Study.objects.filter(study_instance_uid__in=journal.study_instance_uids)}
    for instance_id in journal.orthanc_instance_ids:
        try:
            info = client.instance(instance_id)
            if info is None:
                continue
            study_id = client.series(info["ParentSeries"])["ParentStudy"]
            study = recorded.get(study_id)
            if study is not None and study.updated_at > journal.created_at:
                continue  # a later upload recorded this study with its instances: they are owned now
            if study is not None and len(client.study(study_id).get("Instances", [])) <= study.instance_count:
                continue
            client.delete("instances", instance_id)
            report.removed_instances += 1
        except OrthancError:
            report.errors += 1
            return False
    return True


def _sweep_orphans(client: OrthancClient, report: ReconcileReport, grace: float, *, remove: bool) -> None:
    try:
        studies = client.studies_expanded()
    except OrthancError:
        report.errors += 1
        return
    owned = set(Study.objects.exclude(orthanc_id="").values_list("orthanc_id", flat=True))
    in_flight = set()
    for journal in PendingIngest.objects.filter(failed_at__isnull=True):
        in_flight.update(journal.study_instance_uids)
    cutoff = timezone.now() - datetime.timedelta(seconds=grace)
    for study in studies:
        if study["ID"] in owned or study.get("MainDicomTags", {}).get("StudyInstanceUID") in in_flight:
            continue
        report.orphan_studies.append(study["ID"])
        updated = _orthanc_time(study.get("LastUpdate", ""))
        if not remove or (updated is not None and updated > cutoff):
            continue  # (young: perhaps an upload that has not recorded its study yet)
        try:
            client.delete("studies", study["ID"])
            report.removed_orphans += 1
        except OrthancError:
            report.errors += 1


def _orthanc_time(value: str) -> datetime.datetime | None:
    try:  # Orthanc writes "20261202T161503" in UTC
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


def _patient_for(plan: StudyPlan, user: Any, created: dict[str, Patient]) -> Patient:
    if plan.patient is not None:
        return plan.patient
    if plan.new_patient_key in created:
        return created[plan.new_patient_key]
    head = plan.items[0]
    first, last = person_name_parts(head.patient_name)
    patient = patient_create(user=user, first_name=first, last_name=last,
                             sex=head.patient_sex if head.patient_sex in ("M", "F", "O") else "",
                             birth_date=head.patient_birth_date, age_years=head.patient_age_years,
                             medical_record_number=head.patient_id, pseudonym=plan.pseudonym, audit=False)
    created[plan.new_patient_key] = patient
    return patient


def _record_study(plan: StudyPlan, patient: Patient, user: Any, store: _Store, client: OrthancClient) -> Study:
    head = plan.items[0]
    orthanc_study = store.results[head.sop_instance_uid].parent_study
    orthanc_series = client.study_series(orthanc_study)
    _check_indexed_phi(client, plan, orthanc_study, orthanc_series)
    study = plan.existing or Study(study_instance_uid=plan.study_uid, owner=user, patient=patient,
                                   study_date=head.study_date, description=head.study_description,
                                   phi=head.study_phi)
    study.orthanc_id = orthanc_study
    study.series_count = len(orthanc_series)
    study.instance_count = sum(len(s.get("Instances", [])) for s in orthanc_series)
    study.modalities = sorted({str(s.get("MainDicomTags", {}).get("Modality", "")).upper() for s in orthanc_series}
                              - {""})
    study.save()
    by_series: dict[str, list[ParsedInstance]] = defaultdict(list)
    for item in plan.items:
        by_series[item.series_uid].append(item)
    counts = {s.get("MainDicomTags", {}).get("SeriesInstanceUID"): (s["ID"], len(s.get("Instances", [])))
              for s in orthanc_series}
    for series_uid, items in by_series.items():
        first = describe(items[0])
        orthanc_id, count = counts.get(series_uid, ("", len(items)))
        series, made = Series.objects.get_or_create(
            series_instance_uid=series_uid,
            defaults={"study": study, "modality": first.modality, "series_number": first.series_number,
                      "description": first.series_description, "phi": first.series_phi,
                      "orthanc_id": orthanc_id, "instance_count": count})
        if not made:
            series.orthanc_id, series.instance_count = orthanc_id, count
            series.save(update_fields=["orthanc_id", "instance_count"])
    return study


def ingest(batch: UploadBatch, *, user: Any, request: Any = None, patient: Patient | None = None,
           source: str = "upload", expected_study_uid: str | None = None) -> IngestResult:
    """Validate every file, then store them all (PHI protected) and record the studies; or store nothing."""
    started = time.perf_counter()
    try:
        parsed = _parse_all(batch, expected_study_uid)
        plans = _plan(user, parsed, patient)
    except ApplicationError as exc:
        _record_failure(user, request, source, exc)
        raise
    validated = time.perf_counter()
    pseudonym_of = {item.sop_instance_uid: plan.pseudonym for plan in plans for item in plan.items}
    journal: PendingIngest | None = None
    with OrthancClient() as client:
        store = _Store(client)
        try:
            for plan in plans:
                if plan.existing is not None:
                    store.pre_existing.update(client.instances_of_study(plan.study_uid))
            journal = _journal_open(plans, store.pre_existing)
            writers = orthanc_writers()
            if writers == 1:  # one POST at a time, back to back, as the fastest direct client does
                for item in parsed:
                    store.store(item, pseudonym_of[item.sop_instance_uid])
            else:
                with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="orthanc-store") as pool:
                    futures = [pool.submit(store.store, item, pseudonym_of[item.sop_instance_uid]) for item in parsed]
                for future in futures:
                    future.result()  # re-raises the first failure
            stored = time.perf_counter()
            created_patients: dict[str, Patient] = {}
            with transaction.atomic():
                studies = []
                for plan in plans:
                    study = _record_study(plan, _patient_for(plan, user, created_patients), user, store, client)
                    studies.append(study)
                    added = sum(1 for i in plan.items if store.results[i.sop_instance_uid].status == "Success")
                    record_event(AuditAction.STUDY_UPLOAD, actor=user, request=request, target_type="study",
                                 target_id=study.pk, details={"source": source, "instances": len(plan.items),
                                                              "series": study.series_count, "new_instances": added})
                for new_patient in created_patients.values():
                    record_event(AuditAction.PATIENT_CREATE, actor=user, request=request, target_type="patient",
                                 target_id=new_patient.pk, details={"source": "dicom_header"})
                journal.delete()  # with the studies: either both are committed or neither
        except BaseException as exc:
            rolled_back = store.rollback()
            if journal is not None:
                _journal_close(journal, rolled_back=rolled_back)
            if isinstance(exc, IntegrityError):
                err = UploadRejected("another upload of the same study is in progress; try again",
                                     code="conflict")
                _record_failure(user, request, source, err)
                raise err from exc
            if isinstance(exc, OrthancError):
                err2 = UpstreamUnavailable("The image store (Orthanc) is unavailable; nothing was stored.")
                _record_failure(user, request, source, err2)
                raise err2 from exc
            if isinstance(exc, ApplicationError):
                _record_failure(user, request, source, exc)
            raise
    new = len(store.added)
    logger.info("ingest %s: %d instances (%d new) in %d studies; validate %.2fs, store %.2fs, record %.2fs", source,
                len(parsed), new, len(studies), validated - started, stored - validated, time.perf_counter() - stored)
    return IngestResult(studies=studies, instances=parsed, new_instances=new, created=new > 0, stored=store.results)


def _record_failure(user: Any, request: Any, source: str, exc: ApplicationError) -> None:
    record_event(AuditAction.STUDY_UPLOAD, actor=user, request=request, target_type="study", outcome="failure",
                 details={"source": source, "code": exc.code, "status": exc.status_code})


# --- deletion ------------------------------------------------------------------------------------------------

def study_delete(study: Study, *, user: Any, request: Any = None) -> None:
    check_study_manager(user, study, message="Only the study's owner or an administrator may delete it.")
    with OrthancClient() as client:
        try:
            if study.orthanc_id:
                client.delete("studies", study.orthanc_id)
        except OrthancError as exc:
            if exc.status_code != 404:
                raise UpstreamUnavailable("The image store (Orthanc) is unavailable; the study was kept.") from exc
    with transaction.atomic():
        record_event(AuditAction.STUDY_DELETE, actor=user, request=request, target_type="study", target_id=study.pk)
        study.delete()


# --- audited reads: every read of patient data leaves an audit row (the views never write one themselves) ----

def patient_list_audit(*, user: Any, request: Any = None, results: int) -> None:
    """A page of the patient list was shown (`results` patients on it)."""
    record_event(AuditAction.PATIENT_LIST, actor=user, request=request, target_type="patient",
                 details={"results": results})


def patient_view(*, user: Any, patient_id: int, request: Any = None) -> Patient:
    """One patient the user may see (else 404), its reading recorded."""
    patient = patient_for_reader(user, patient_id)
    record_event(AuditAction.PATIENT_VIEW, actor=user, request=request, target_type="patient", target_id=patient.pk)
    return patient


def study_list_audit(*, user: Any, request: Any = None, results: int, page: str) -> None:
    """A page (`page`, as asked) of the study list was shown (`results` studies on it)."""
    record_event(AuditAction.STUDY_LIST, actor=user, request=request, target_type="study",
                 details={"results": results, "page": page})


def study_view(*, user: Any, study_id: int, request: Any = None) -> tuple[Study, str | None]:
    """One study the user may read (else 404) and the user's access to it, its reading recorded."""
    study = study_for_reader(user, study_id)
    record_event(AuditAction.STUDY_VIEW, actor=user, request=request, target_type="study", target_id=study.pk)
    return study, study_access(user, study)


@dataclass
class ViewerToken:
    token: str
    expires_at: datetime.datetime
    study_instance_uid: str
    viewer_url: str


def viewer_token_create(*, user: Any, study_id: int, request: Any = None) -> ViewerToken:
    """A short-lived token with which the viewer reads this one study (the user must read it, else 404)."""
    study = study_for_reader(user, study_id)
    token = issue_viewer_token(user, study.study_instance_uid)
    record_event(AuditAction.STUDY_VIEWER_TOKEN, actor=user, request=request, target_type="study",
                 target_id=study.pk)
    expires = timezone.now() + datetime.timedelta(seconds=settings.PACS_VIEWER_TOKEN_SECONDS)
    return ViewerToken(token=token, expires_at=expires, study_instance_uid=study.study_instance_uid,
                       viewer_url=f"/viewer/viewer?StudyInstanceUIDs={study.study_instance_uid}&token={token}")
