"""Upload over real HTTP/2 (nginx, uvicorn) into the real Orthanc and PostgreSQL, with the real MR series:
a zip of folders, STOW-RS, many files, one file; re-upload is idempotent; every bad input is refused with a
clear 4xx naming the file and leaves no trace in Orthanc or the database."""

from __future__ import annotations

import io
import zipfile

import pydicom
import pytest

from tests.conftest import LOG_DIR
from tests.pacs.conftest import (
    bearer,
    db_counts,
    orthanc_has_instance,
    orthanc_has_study,
    stow_body,
    upload,
    zip_folders,
)
from tests.support.servers import free_port, https_server, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_zip_of_folders_creates_one_patient_one_study_and_reupload_is_idempotent(client, make_user, series_factory,
                                                                                orthanc):
    from medcloud.pacs.models import Patient, Series, Study

    user = make_user("researcher")
    series = series_factory()  # the whole 192-slice series
    # stored (members read in place from the upload), then deflated (members inflated to the batch folder)
    archive = zip_folders({"sagittal_t1": series.files}, compression=zipfile.ZIP_STORED)
    response = upload(client, user, [("mr.zip", archive)])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["instances"] == 192 and body["new_instances"] == 192
    [study] = body["studies"]
    assert study["series_count"] == 1 and study["instance_count"] == 192
    assert study["modalities"] == ["MR"] and study["study_date"] == "2013-03-08"
    assert study["patient"]["last_name"] == series.family and study["patient"]["first_name"] == series.given
    assert study["patient"]["medical_record_number"] == series.patient_id
    assert Patient.objects.count() == 1 and Study.objects.count() == 1 and Series.objects.count() == 1
    assert Series.objects.get().instance_count == 192
    assert len(orthanc.instances_of_study(series.study_uid)) == 192

    again = upload(client, user, [("mr.zip", zip_folders({"sagittal_t1": series.files}))])
    assert again.status_code == 200, again.text
    assert again.json()["new_instances"] == 0
    assert db_counts() == (1, 1, 1)
    assert Study.objects.get().instance_count == 192
    assert len(orthanc.instances_of_study(series.study_uid)) == 192


def test_stow_rs_stores_the_whole_series(client, make_user, series_factory, orthanc):
    from medcloud.audit.models import AuditEvent
    from medcloud.pacs.models import Patient, Study

    user = make_user("health_professional", clinical_role="radiologist")
    series = series_factory()
    body, content_type = stow_body(series.files)
    response = client.post("/dicom-web/studies", content=body,
                           headers={**bearer(user), "Content-Type": content_type, "Accept": "application/dicom+json"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert len(result["00081199"]["Value"]) == 192
    assert result["00081190"]["Value"][0].endswith(f"/dicom-web/studies/{series.study_uid}")
    study = Study.objects.get(study_instance_uid=series.study_uid)
    assert study.owner_id == user.pk and study.series_count == 1 and study.instance_count == 192
    assert Patient.objects.count() == 1
    assert len(orthanc.instances_of_study(series.study_uid)) == 192
    assert AuditEvent.objects.filter(action="study.upload", target_id=str(study.pk), details__source="stow").exists()


def test_many_files_and_single_file_and_explicit_patient(client, make_user, series_factory, orthanc):
    from medcloud.pacs.models import Patient, Study

    user = make_user("researcher")
    created = client.post("/api/pacs/patients/", headers=bearer(user),
                          json={"first_name": "Elodie", "last_name": "Dupont", "sex": "F",
                                "medical_record_number": "H-1"})
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]

    series = series_factory(count=6)
    many = upload(client, user, [(p.name, p.read_bytes()) for p in series.files[:5]], patient=str(patient_id))
    assert many.status_code == 201, many.text
    assert many.json()["studies"][0]["patient"]["id"] == patient_id
    assert many.json()["studies"][0]["instance_count"] == 5
    one = upload(client, user, [(series.files[5].name, series.files[5].read_bytes())])
    assert one.status_code == 201, one.text
    study = Study.objects.get(study_instance_uid=series.study_uid)
    assert study.instance_count == 6 and study.patient_id == patient_id
    assert Patient.objects.count() == 1  # the header's patient was not created: the study has its patient
    assert len(orthanc.instances_of_study(series.study_uid)) == 6


def _corrupt(path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


def _without_sop_uid(path) -> bytes:
    ds = pydicom.dcmread(path)
    del ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_bad_inputs_are_refused_naming_the_file_and_leave_no_trace(client, make_user, series_factory, orthanc):
    user = make_user("researcher")
    series = series_factory(count=4)
    good = [(p.name, p.read_bytes()) for p in series.files[:3]]
    last = series.files[3]
    cases = {
        # a file that claims to be DICOM (its name) and is not: refused; a stray notes.txt is skipped instead
        "non-DICOM file": (good + [("notes.dcm", b"hello, not an image\n" * 20)], "notes.dcm", 400),
        "corrupt DICOM": (good + [("broken.dcm", _corrupt(last))], "broken.dcm", 400),
        "missing UID": (good + [("nouid.dcm", _without_sop_uid(last))], "nouid.dcm", 400),
        "path traversal": ([("a.zip", _zip({"series/ok.dcm": good[0][1], "../../etc/evil.dcm": good[1][1]}))],
                           "a.zip/../../etc/evil.dcm", 400),
        "absolute path": ([("a.zip", _zip({"series/ok.dcm": good[0][1], "/tmp/evil.dcm": good[1][1]}))],
                          "a.zip//tmp/evil.dcm", 400),
        "nested zip": ([("a.zip", _zip({"series/ok.dcm": good[0][1], "series/inner.zip": _zip({"x.dcm": b"x"})}))],
                       "a.zip/series/inner.zip", 400),
        "nested zip renamed": ([("a.zip", _zip({"series/ok.dcm": good[0][1],
                                                "series/inner.dcm": _zip({"x.dcm": b"x"})}))],
                               "a.zip/series/inner.dcm", 400),
        "zip bomb": ([("bomb.zip", _zip({"s/ok.dcm": good[0][1], "s/zeros.dcm": b"\0" * (64 * 1024 * 1024)}))],
                     "bomb.zip/s/zeros.dcm", 400),
        "corrupt zip": ([("bad.zip", b"PK\x03\x04" + b"garbage" * 100)], "bad.zip", 400),
    }
    before = db_counts()
    for label, (files, offending, expected_status) in cases.items():
        response = upload(client, user, files)
        assert response.status_code == expected_status, (label, response.text)
        error = response.json()["error"]
        assert error["details"].get("file") == offending, (label, error)
        assert offending in error["message"], (label, error)
        assert db_counts() == before, label
        assert not orthanc_has_study(orthanc, series.study_uid), label

    stow, content_type = stow_body(series.files[:2])
    bad_part = stow.replace(b"Content-Type: application/dicom", b"Content-Type: text/plain", 1)
    stow_headers = {**bearer(user), "Content-Type": content_type}
    response = client.post("/dicom-web/studies", content=bad_part, headers=stow_headers)
    assert response.status_code == 415 and response.json()["error"]["details"]["file"] == "part 1"
    truncated = stow[: len(stow) // 2]
    response = client.post("/dicom-web/studies", content=truncated, headers=stow_headers)
    assert response.status_code == 400, response.text
    assert db_counts() == before
    assert not orthanc_has_study(orthanc, series.study_uid)
    for path in series.files:
        assert not orthanc_has_instance(orthanc, pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _flip_byte_of_member(archive: bytes, member: str) -> bytes:
    """The archive with one byte of `member`'s data changed (its CRC-32 no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        info = zf.getinfo(member)
    header = archive[info.header_offset:info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    target = start + info.file_size // 2
    return archive[:target] + bytes([archive[target] ^ 0xFF]) + archive[target + 1:]


def _rename_in_local_header(archive: bytes, member: str, new_name: str) -> bytes:
    assert len(new_name) == len(member)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        offset = zf.getinfo(member).header_offset + 30
    return archive[:offset] + new_name.encode() + archive[offset + len(member):]


def test_stored_zip_members_read_in_place_are_checked_like_extracted_ones(client, make_user, series_factory, orthanc):
    """Uncompressed members are not extracted but read where they lie in the upload: a changed byte (CRC-32),
    a local header that disagrees with the central directory, or a zip hidden under a .dcm name is refused,
    naming the member, and nothing is stored. The archives are larger than Django keeps in memory (2.5 MB),
    so that the upload is a file on disk, as every real study is."""
    user = make_user("researcher")
    series = series_factory(count=14)
    files = {f"s/{p.name}": p.read_bytes() for p in series.files}
    archive = _zip(files, compression=zipfile.ZIP_STORED)
    assert len(archive) > 2_621_440
    victim = "s/0003.dcm"
    cases = {
        "changed byte": (_flip_byte_of_member(archive, victim), victim, "bad_archive"),
        "local header renamed": (_rename_in_local_header(archive, victim, "s/0003.dcx"), victim, "bad_archive"),
        "zip under a .dcm name": (_zip({**files, "s/inner.dcm": _zip({"x.dcm": b"x" * 100})},
                                       compression=zipfile.ZIP_STORED), "s/inner.dcm", "nested_archive"),
    }
    before = db_counts()
    for label, (body, member, code) in cases.items():
        response = upload(client, user, [("in-place.zip", body)])
        assert response.status_code == 400, (label, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["details"]["file"] == f"in-place.zip/{member}", (label, error)
        assert db_counts() == before, label
        assert not orthanc_has_study(orthanc, series.study_uid), label
    response = upload(client, user, [("in-place.zip", archive)])
    assert response.status_code == 201, response.text
    assert len(orthanc.instances_of_study(series.study_uid)) == 14


def test_oversized_body_and_too_many_files_are_refused(test_database_name, make_user, series_factory, orthanc):
    import httpx

    user = make_user("researcher")
    series = series_factory(count=4)
    env = server_env(test_database_name, MEDCLOUD_UPLOAD_MAX_BYTES=str(600_000), MEDCLOUD_UPLOAD_MAX_FILES="3")
    before = db_counts()
    with https_server(env, LOG_DIR / "web-pacs-limits.log") as base_url, \
            httpx.Client(base_url=base_url, verify=False, timeout=60) as small:
        too_big = upload(small, user, [(p.name, p.read_bytes()) for p in series.files[:3]] + [("pad.bin", b"0" * 10)])
        assert too_big.status_code == 413, too_big.text
        assert "larger than the limit" in too_big.json()["error"]["message"]
        archive = _zip({f"s/{p.name}": p.read_bytes() for p in series.files}, compression=zipfile.ZIP_DEFLATED)
        many = upload(small, user, [("many.zip", archive)])
        assert many.status_code == 413, many.text
        assert many.json()["error"]["code"] == "too_many_files"
    assert db_counts() == before
    assert not orthanc_has_study(orthanc, series.study_uid)


def test_failure_while_storing_rolls_back_what_orthanc_already_holds(make_user, series_factory, orthanc, monkeypatch):
    """In-process: the 4th of 6 files fails after others reached Orthanc; nothing must remain."""
    from medcloud.core.errors import ApplicationError
    from medcloud.pacs import services
    from medcloud.pacs.uploads import upload_batch

    user = make_user("researcher")
    series = series_factory(count=6)
    real = services.deidentify_file
    failing = series.files[3]

    def flaky(source, pseudonym, plan=None):
        if source.read_bytes() == failing.read_bytes():
            raise RuntimeError("disk full")
        return real(source, pseudonym, plan)

    monkeypatch.setattr(services, "deidentify_file", flaky)
    before = db_counts()
    with upload_batch() as batch, pytest.raises((RuntimeError, ApplicationError)):
        for path in series.files:
            with path.open("rb") as handle:
                batch.add_stream(path.name, handle)
        services.ingest(batch, user=user)
    assert db_counts() == before
    assert not orthanc_has_study(orthanc, series.study_uid)


def test_orthanc_down_gives_503_and_stores_nothing(test_database_name, make_user, series_factory):
    import httpx

    user = make_user("researcher")
    series = series_factory(count=2)
    env = server_env(test_database_name, ORTHANC_URL=f"http://127.0.0.1:{free_port()}")
    before = db_counts()
    with https_server(env, LOG_DIR / "web-pacs-orthanc-down.log") as base_url, \
            httpx.Client(base_url=base_url, verify=False, timeout=60) as down:
        response = upload(down, user, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert db_counts() == before


def test_store_retries_orthanc_serialization_failures(tmp_path, mr_series_dir) -> None:
    """Orthanc's PostgreSQL index answers 500 when concurrent transactions fail to serialize: retried."""
    from medcloud.core.orthanc import OrthancError, StoredInstance, orthanc_id
    from medcloud.pacs import services
    from medcloud.pacs.dicom import parse_instance

    source = sorted(mr_series_dir.glob("*.dcm"))[0]
    item = parse_instance(source, source.name)

    class FlakyOrthanc:
        calls = 0

        def store_instance(self, data: bytes) -> StoredInstance:
            self.calls += 1
            if self.calls == 1:
                raise OrthancError("Orthanc answered 500 to POST /instances", 500)
            assert b"MCTEST" in data  # what reaches Orthanc carries the pseudonym
            return StoredInstance(expected, "study", "series", "patient", "AlreadyStored")

    # Orthanc's id of the instance it indexed: the same identifiers MedCloud validated (checked by the store)
    expected = orthanc_id("MCTEST", item.study_uid, item.series_uid, item.sop_instance_uid)
    client = FlakyOrthanc()
    store = services._Store(client)  # type: ignore[arg-type]
    store.store(item, "MCTEST")
    assert client.calls == 2
    assert store.added == [expected]  # the failed attempt had in fact committed: rolled back with the rest
    store.pre_existing = {expected}
    store.added.clear()
    client.calls = 0
    store.store(item, "MCTEST")
    assert store.added == []  # but an instance that was there before the upload is never ours to delete
