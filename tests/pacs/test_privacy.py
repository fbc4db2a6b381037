"""No plaintext PHI at rest: the whole MR series stored through the backend with a known synthetic patient;
Orthanc's storage folder, Orthanc's PostgreSQL index, the backend's database and the logs hold none of it,
while an authorised reader gets the real values back from every DICOMweb response that carries them."""

from __future__ import annotations

import email.parser
import glob
import io
import json
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.pacs.conftest import bearer, upload, zip_folders
from tests.support.servers import REPO_ROOT

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _pg_dump(database: str) -> bytes:
    from django.conf import settings

    db = settings.DATABASES["default"]
    pg_dump = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"))[-1]
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{database}"
    return subprocess.run([pg_dump, "--data-only", url], check=True, capture_output=True).stdout


def _orthanc_database() -> str:
    config = REPO_ROOT / ".var" / "orthanc" / "config" / "orthanc.json"
    text = "\n".join(line for line in config.read_text().splitlines() if not line.strip().startswith("//"))
    return json.loads(text)["PostgreSQL"]["Database"]


def _secrets_of(series) -> list[bytes]:
    values = [series.family, series.given, series.patient_id, "19610423", "Saint Qwerty Hospital", "Drwho"]
    return [v.encode() for v in values] + [v.upper().encode() for v in values]


def test_no_plaintext_phi_in_orthanc_storage_index_or_backend_database(client, make_user, series_factory, orthanc,
                                                                      test_database_name):
    user = make_user("health_professional", clinical_role="radiologist")
    series = series_factory()  # all 192 slices
    response = upload(client, user, [("mr.zip", zip_folders({"t1_mprage_sag": series.files}))])
    assert response.status_code == 201, response.text
    secrets = _secrets_of(series)

    # 1. Orthanc's storage folder: every file is sealed (AES-256-GCM) and none holds a secret.
    storage = REPO_ROOT / ".var" / "orthanc" / "storage"
    files = [p for p in storage.rglob("*") if p.is_file() and not p.name.endswith(".json")]
    instance_ids = orthanc.instances_of_study(series.study_uid)
    assert len(instance_ids) == 192
    attachments = 0
    for path in files:
        data = path.read_bytes()
        if data[:4] == b"MCE1":
            attachments += 1
        assert b"DICM" not in data[:256], path
        for secret in secrets:
            assert secret not in data, (path, secret)
    assert attachments >= 192

    # 2. Orthanc's index (PostgreSQL): only the pseudonym.
    index_dump = _pg_dump(_orthanc_database())
    assert series.study_uid.encode() in index_dump  # the dump is the right one
    for secret in secrets:
        assert secret not in index_dump, secret
    tags = orthanc.instance_tags(instance_ids[0])
    assert tags["PatientName"].startswith("MC") and tags["PatientID"] == tags["PatientName"]
    assert tags.get("PatientBirthDate", "") == "" and tags.get("InstitutionName", "") == ""

    # 3. The backend's database: names, record number and DICOM PHI encrypted; blind indexes only.
    backend_dump = _pg_dump(test_database_name)
    for secret in secrets:
        assert secret not in backend_dump, secret

    # 4. The logs of the web server and of Orthanc.
    for log in [REPO_ROOT / ".var" / "test-logs" / "web.log", *(REPO_ROOT / ".var" / "orthanc" / "log").glob("*")]:
        if log.is_file():
            content = log.read_bytes()
            for secret in secrets:
                assert secret not in content, (log, secret)

    # 5. ...while the authorised reader gets the real values back.
    headers = bearer(user)
    base = f"/dicom-web/studies/{series.study_uid}"
    metadata = client.get(f"{base}/metadata", headers=headers)
    assert metadata.status_code == 200, metadata.text
    items = metadata.json()
    assert len(items) == 192
    for item in items:
        assert item["00100010"]["Value"][0]["Alphabetic"] == series.patient_name
        assert item["00100020"]["Value"] == [series.patient_id]
        assert item["00100030"]["Value"] == ["19610423"]
        assert item["00080080"]["Value"] == ["Saint Qwerty Hospital"]
        assert item["00321060"]["Value"] == [f"MRI brain {series.family}"]
        assert item["00400254"]["Value"] == [f"T1 sagittal for {series.given}"]
        [request] = item["00400275"]["Value"]
        assert request["00401001"]["Value"] == [f"REQ-{series.patient_id}"]
    qido = client.get("/dicom-web/studies", params={"StudyInstanceUID": series.study_uid}, headers=headers).json()
    assert qido[0]["00100010"]["Value"][0]["Alphabetic"] == series.patient_name
    assert qido[0]["00100020"]["Value"] == [series.patient_id]
    series_meta = client.get(f"{base}/series/{series.series_uid}/metadata", headers=headers).json()
    assert series_meta[0]["00100010"]["Value"][0]["Alphabetic"] == series.patient_name

    # A whole instance (multipart/related application/dicom), PHI restored in the file itself.
    sop_uid = items[0]["00080018"]["Value"][0]
    instance = client.get(f"{base}/series/{series.series_uid}/instances/{sop_uid}",
                          headers={**headers, "Accept": 'multipart/related; type="application/dicom"'})
    assert instance.status_code == 200, instance.text[:300]
    message = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + instance.headers["content-type"].encode() + b"\r\n\r\n" + instance.content)
    [part] = [p for p in message.walk() if p.get_content_type() == "application/dicom"]
    ds = pydicom.dcmread(io.BytesIO(part.get_payload(decode=True)))
    assert str(ds.PatientName) == series.patient_name and ds.PatientID == series.patient_id
    assert ds.RequestedProcedureDescription == f"MRI brain {series.family}"
    assert ds.RequestAttributesSequence[0].ScheduledProcedureStepDescription == f"Brain for {series.family}"
    assert ds.SOPInstanceUID == sop_uid and len(ds.PixelData) == 256 * 256 * 2
    # Orthanc itself serves the pseudonymised file.
    raw = pydicom.dcmread(io.BytesIO(orthanc.instance_file(instance_ids[0])))
    assert str(raw.PatientName).startswith("MC") and raw.get("PatientBirthDate", "") == ""
    assert raw.get("RequestedProcedureDescription", "") == "" and raw.get("PerformedProcedureStepDescription", "") == ""
    assert len(raw.get("RequestAttributesSequence", [])) == 0


def test_storage_area_format_rejects_tampering_and_moved_files(tmp_path: Path) -> None:
    import base64
    import sys

    sys.path.insert(0, str(REPO_ROOT / "orthanc" / "plugins"))
    from medcloud_storage import EncryptedStorage, StorageKeyError, keys_from_environment

    key = base64.b64encode(b"k" * 32).decode()
    old = base64.b64encode(b"o" * 32).decode()
    primary, keys = keys_from_environment({"ORTHANC_STORAGE_KEY": key, "ORTHANC_STORAGE_KEY_ID": "k2",
                                           "ORTHANC_STORAGE_KEYS_PREVIOUS": f"k1:{old}"})
    assert primary == "k2" and set(keys) == {"k1", "k2"}
    previous = EncryptedStorage(str(tmp_path), "k1", {"k1": keys["k1"]}, fsync=False)
    previous.create("aabbccdd-1", 1, b"DICM old file")
    storage = EncryptedStorage(str(tmp_path), primary, keys, fsync=False)
    storage.create("aabbccdd-2", 1, b"DICM secret patient")
    sealed = Path(storage.path("aabbccdd-2")).read_bytes()
    assert sealed[:4] == b"MCE1" and b"secret" not in sealed
    assert storage.read("aabbccdd-2", 1) == b"DICM secret patient"
    assert storage.read("aabbccdd-1", 1) == b"DICM old file"  # still readable after the rotation
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        storage.read("aabbccdd-2", 2)  # another content type: the associated data differs
    Path(storage.path("aabbccdd-3")).parent.mkdir(parents=True, exist_ok=True)
    Path(storage.path("aabbccdd-3")).write_bytes(sealed)  # a file moved to another attachment's place
    with pytest.raises(Exception):  # noqa: B017
        storage.read("aabbccdd-3", 1)
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    Path(storage.path("aabbccdd-2")).write_bytes(bytes(tampered))
    with pytest.raises(Exception):  # noqa: B017
        storage.read("aabbccdd-2", 1)
    with pytest.raises(StorageKeyError):
        keys_from_environment({})


def test_rekey_seals_old_files_under_the_new_key_and_then_the_old_key_can_go(tmp_path: Path) -> None:
    """After a storage-key rotation, `rekey` (what POST /medcloud/plugin/rekey runs for every attachment)
    re-seals a file written under the previous key; afterwards it reads with the new key alone."""
    import base64
    import sys

    sys.path.insert(0, str(REPO_ROOT / "orthanc" / "plugins"))
    from medcloud_storage import EncryptedStorage, StorageKeyError, keys_from_environment, sealed_key_id

    old, new = base64.b64encode(b"o" * 32).decode(), base64.b64encode(b"n" * 32).decode()
    _, old_keys = keys_from_environment({"ORTHANC_STORAGE_KEY": old, "ORTHANC_STORAGE_KEY_ID": "k1"})
    EncryptedStorage(str(tmp_path), "k1", old_keys, fsync=False).create("0011aabb-dicom", 1, b"DICM pixels")
    primary, both = keys_from_environment({"ORTHANC_STORAGE_KEY": new, "ORTHANC_STORAGE_KEY_ID": "k2",
                                           "ORTHANC_STORAGE_KEYS_PREVIOUS": f"k1:{old}"})
    rotated = EncryptedStorage(str(tmp_path), primary, both, fsync=False)
    assert rotated.rekey("0011aabb-dicom", 1) is True
    assert sealed_key_id(Path(rotated.path("0011aabb-dicom")).read_bytes()) == "k2"
    assert rotated.rekey("0011aabb-dicom", 1) is False  # already under the primary key: left alone
    _, new_only = keys_from_environment({"ORTHANC_STORAGE_KEY": new, "ORTHANC_STORAGE_KEY_ID": "k2"})
    assert EncryptedStorage(str(tmp_path), "k2", new_only, fsync=False).read("0011aabb-dicom", 1) == b"DICM pixels"
    assert rotated.rekey("0011aabb-gone", 1) is False  # removed meanwhile: not resurrected
    assert not Path(rotated.path("0011aabb-gone")).exists()
    EncryptedStorage(str(tmp_path), "k1", old_keys, fsync=False).create("0011aabb-json", 2, b"{}")
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag: the content type is bound, no silent re-key
        rotated.rekey("0011aabb-json", 1)
    assert sealed_key_id(Path(rotated.path("0011aabb-json")).read_bytes()) == "k1"  # left as it was
    with pytest.raises(StorageKeyError):  # a file sealed under a key that is no longer listed
        EncryptedStorage(str(tmp_path), "k3", {"k3": b"x" * 32}, fsync=False).rekey("0011aabb-dicom", 1)


def test_rekey_through_orthanc_walks_every_stored_instance(orthanc, series_factory, make_user, client) -> None:
    """The plugin's POST /medcloud/plugin/rekey, as `manage.py rekey_orthanc_storage` calls it, on the real
    Orthanc: every instance's attachments are found through Orthanc's index and checked (all already under
    the current key here, so none is rewritten), and the command leaves an audit row."""
    from django.core.management import call_command

    from medcloud.audit.models import AuditEvent

    user = make_user("researcher")
    series = series_factory(count=3)
    assert upload(client, user, [("three.zip", zip_folders({"s": series.files}))]).status_code == 201
    total = orthanc._request("GET", "/statistics").json()["CountInstances"]
    counts = orthanc.rekey_storage()
    assert counts["instances"] == total >= 3 and counts["attachments"] >= total and counts["rekeyed"] == 0
    out = io.StringIO()
    call_command("rekey_orthanc_storage", stdout=out)
    assert "0 sealed again under storage key" in out.getvalue()
    assert AuditEvent.objects.filter(action="orthanc.storage_rekey").exists()
