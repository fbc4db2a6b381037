"""Fixtures of the PACS tests: users with tokens, fresh copies of the real MR series (new UIDs, a synthetic
patient injected, so that tests never collide with each other or with other users of the shared Orthanc),
an HTTP/2 client, and clean-up of everything a test stored in Orthanc."""

from __future__ import annotations

import io
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid


@dataclass
class Series:
    dir: Path
    files: list[Path]
    study_uid: str
    series_uid: str
    patient_name: str  # DICOM PN "Family^Given"
    family: str
    given: str
    patient_id: str


def make_series(source: Path, out: Path, *, count: int | None = None, family: str | None = None,
                given: str | None = None, study_uid: str | None = None, patient_id: str | None = None) -> Series:
    """A copy of the series with new UIDs and a synthetic patient (names unique to this call)."""
    family = family or "Qzx" + secrets.token_hex(4).capitalize()
    given = given or "Vyw" + secrets.token_hex(3).capitalize()
    patient_id = patient_id or "MRN-" + secrets.token_hex(5).upper()
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    out.mkdir(parents=True, exist_ok=True)
    files = []
    sources = sorted(source.glob("*.dcm"))[: count or None]
    for index, path in enumerate(sources):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = f"{family}^{given}"
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19610423"
        ds.ReferringPhysicianName = "Drwho^Referrer" + secrets.token_hex(2)
        ds.InstitutionName = "Saint Qwerty Hospital"
        # free text that often names the patient, in two of the tags Orthanc indexes, and in a sequence
        ds.RequestedProcedureDescription = f"MRI brain {family}"
        ds.PerformedProcedureStepDescription = f"T1 sagittal for {given}"
        request = pydicom.Dataset()
        request.RequestedProcedureID = f"REQ-{patient_id}"
        request.ScheduledProcedureStepDescription = f"Brain for {family}"
        ds.RequestAttributesSequence = [request]
        target = out / f"{index:04d}.dcm"
        ds.save_as(target, enforce_file_format=True)
        files.append(target)
    return Series(out, files, study_uid, series_uid, f"{family}^{given}", family, given, patient_id)


def zip_folders(folders: dict[str, list[Path]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for folder, files in folders.items():
            for path in files:
                archive.write(path, f"{folder}/{path.name}")
    return buffer.getvalue()


def stow_body(files: list[Path]) -> tuple[bytes, str]:
    boundary = "stow-" + secrets.token_hex(8)
    parts = []
    for path in files:
        parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def bearer(user) -> dict[str, str]:
    from rest_framework_simplejwt.tokens import AccessToken

    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


@pytest.fixture
def make_user(transactional_db):
    """tests.factories.create_user, health professionals verified unless ``verified=False``."""
    from tests.factories import create_user

    def make(role: str = "researcher", *, verified: bool = True, **extra):
        return create_user(role, verified=verified, password="pw-" + secrets.token_hex(8), **extra)

    return make


@pytest.fixture
def client(live_https: str) -> Iterator[httpx.Client]:
    # HTTP/1.1 over TLS: httpx's own HTTP/2 client uploads at about 2 MB/s (its flow-control handling), which
    # would make the 43 MB uploads crawl; browsers and curl upload over HTTP/2 at full speed (docs/pacs.md).
    with httpx.Client(base_url=live_https, http2=False, verify=False, timeout=120) as c:
        yield c


@pytest.fixture
def client_h2(live_https: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_https, http2=True, verify=False, timeout=120) as c:
        yield c


@pytest.fixture
def orthanc_cleanup(orthanc) -> Iterator[list[str]]:
    """Append StudyInstanceUIDs: they are deleted from Orthanc when the test ends."""
    study_uids: list[str] = []
    yield study_uids
    for uid in study_uids:
        for resource in orthanc.lookup(uid):
            if resource.get("Type") == "Study":
                try:
                    orthanc.delete("studies", resource["ID"])
                except Exception:  # noqa: BLE001,S110 - already gone: nothing to clean
                    pass


@pytest.fixture
def series_factory(mr_series_dir: Path, tmp_path: Path, orthanc_cleanup: list[str]):
    counter = iter(range(1000))

    def make(count: int | None = None, **kwargs) -> Series:
        series = make_series(mr_series_dir, tmp_path / f"series{next(counter)}", count=count, **kwargs)
        orthanc_cleanup.append(series.study_uid)
        return series

    return make


def orthanc_has_study(orthanc, study_uid: str) -> bool:
    return any(r.get("Type") == "Study" for r in orthanc.lookup(study_uid))


def orthanc_has_instance(orthanc, sop_uid: str) -> bool:
    return any(r.get("Type") == "Instance" for r in orthanc.lookup(sop_uid))


def db_counts() -> tuple[int, int, int]:
    from medcloud.pacs.models import Patient, Series, Study

    return Patient.objects.count(), Study.objects.count(), Series.objects.count()


def upload(client: httpx.Client, user, files: list[tuple[str, bytes]], **data) -> httpx.Response:
    return client.post("/api/pacs/studies/upload/", headers=bearer(user),
                       files=[("files", (name, content, "application/octet-stream")) for name, content in files],
                       data=data)


def wait_out_read_grants() -> None:
    """Sleep through the window in which a granted DICOMweb read is remembered (MEDCLOUD_READ_GRANT_SECONDS,
    the production setting the test servers run with): after it, a revocation holds on every layer."""
    import time

    from django.conf import settings

    time.sleep(settings.PACS_READ_GRANT_SECONDS + 0.5)
