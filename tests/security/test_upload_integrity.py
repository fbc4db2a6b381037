"""Regression tests of the security review, uploads: files whose repeated or out-of-order top-level elements
read differently to pydicom (last copy) and to Orthanc's DCMTK (first copy) are refused and leave nothing in
Orthanc; stray non-DICOM files in a folder zip are skipped and listed; an empty PatientName comes back empty,
never as the pseudonym; and Orthanc killed in the middle of an upload leaves nothing behind once the
reconciliation has run. Over real HTTP through nginx, against the real PostgreSQL and Orthanc."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from tests.conftest import LOG_DIR
from tests.pacs.conftest import bearer, orthanc_has_instance, upload, zip_folders
from tests.support.servers import REPO_ROOT, https_server, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _encoded(tag: int, vr: str, value: str) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_data_element(buffer, DataElement(tag, vr, value))
    return buffer.getvalue()


def _with_extra_element(data: bytes, tag: int, vr: str, value: str, *, after: int) -> bytes:
    """``data`` (explicit VR little endian) with one more top-level element inserted after the element
    ``after`` (a duplicate when ``tag == after``, an out-of-order element otherwise)."""
    from medcloud.pacs.dicom.splice import _top_level_offsets

    offsets = _top_level_offsets(data, False, 0x7FE00010)
    assert offsets is not None and after in offsets
    end = offsets[after][1]
    return data[:end] + _encoded(tag, vr, value) + data[end:]


def _find_in_orthanc(orthanc, level: str, query: dict[str, str]) -> list:
    return orthanc._request("POST", "/tools/find", json={"Level": level, "Query": query}).json()


def test_duplicated_and_out_of_order_elements_are_refused_and_leave_nothing(client, make_user, series_factory,
                                                                            orthanc):
    """Finding 3: the real PatientName/PatientID followed by decoys, a repeated StudyInstanceUID naming another
    study, and each UID repeated: refused (400), nothing stored, and Orthanc's index holds no real name."""
    owner = make_user("researcher")
    series = series_factory(count=2)
    other = series_factory(count=1)
    data = series.files[0].read_bytes()
    sop_uid = pydicom.dcmread(series.files[0], stop_before_pixels=True).SOPInstanceUID
    cases = {
        "PatientName then a decoy": _with_extra_element(data, 0x00100010, "PN", "Decoy^Name", after=0x00100010),
        "PatientID then a decoy": _with_extra_element(data, 0x00100020, "LO", "DECOY-1", after=0x00100020),
        "StudyInstanceUID of another study": _with_extra_element(data, 0x0020000D, "UI", other.study_uid,
                                                                  after=0x0020000D),
        "SeriesInstanceUID repeated": _with_extra_element(data, 0x0020000E, "UI", other.series_uid, after=0x0020000E),
        "SOPInstanceUID repeated": _with_extra_element(data, 0x00080018, "UI", "1.2.3.4.5", after=0x00080018),
        "PatientName out of order": _with_extra_element(data, 0x00100010, "PN", "Late^Name", after=0x0020000D),
    }
    for label, payload in cases.items():
        for files in ([("dup.dcm", payload)], [("good.dcm", series.files[1].read_bytes()), ("dup.dcm", payload)],
                      [("a.zip", _zip({"s/good.dcm": series.files[1].read_bytes(), "s/dup.dcm": payload}))]):
            response = upload(client, owner, files)
            assert response.status_code == 400, (label, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_dicom" and "dup.dcm" in error["details"]["file"], (label, error)
            assert series.family not in response.text
    assert not orthanc_has_instance(orthanc, sop_uid)
    assert not orthanc.lookup(series.study_uid)
    for query in ({"PatientName": f"*{series.family}*"}, {"PatientID": series.patient_id}):
        assert _find_in_orthanc(orthanc, "Patient", query) == []
    # the same files without the extra elements are accepted
    assert upload(client, owner, [(p.name, p.read_bytes()) for p in series.files]).status_code == 201


def _zip(members: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def test_stray_files_in_a_folder_zip_are_skipped_and_listed(client, make_user, series_factory):
    owner = make_user("researcher")
    series = series_factory(count=2)
    members = {f"t1/{p.name}": p.read_bytes() for p in series.files}
    members.update({"LICENSE": b"MIT License\n" * 40, "t1/.DS_Store": b"\x00\x00\x00\x01Bud1" + b"\x00" * 60,
                    "README.txt": b"how to read this disc\n"})
    response = upload(client, owner, [("disc.zip", _zip(members))])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["instances"] == 2
    skipped = sorted(s["file"].rsplit("/", 1)[-1] for s in body["skipped"])
    assert skipped in (["LICENSE", "README.txt"], [".DS_Store", "LICENSE", "README.txt"]), skipped  # (hidden files:
    # the zip reader may drop them before parsing)
    # a member that claims to be DICOM and is broken still refuses the whole upload
    members["t1/broken.dcm"] = b"DICM" + b"\x00" * 200
    refused = upload(client, owner, [("disc.zip", _zip(members))])
    assert refused.status_code == 400 and "broken.dcm" in refused.json()["error"]["details"]["file"]


def test_an_empty_patient_name_comes_back_empty_never_as_the_pseudonym(client, make_user, series_factory, tmp_path):
    from medcloud.pacs.models import Study

    owner = make_user("researcher")
    series = series_factory(count=1)
    ds = pydicom.dcmread(series.files[0])
    ds.PatientName = ""
    path = tmp_path / "anonymous.dcm"
    ds.save_as(path, enforce_file_format=True)
    response = upload(client, owner, [(path.name, path.read_bytes())])
    assert response.status_code == 201, response.text
    pseudonym = Study.objects.select_related("patient").get(study_instance_uid=series.study_uid).patient.pseudonym
    headers = bearer(owner)
    metadata = client.get(f"/dicom-web/studies/{series.study_uid}/metadata", headers=headers)
    assert metadata.status_code == 200 and pseudonym not in metadata.text
    assert not metadata.json()[0].get("00100010", {}).get("Value")
    found = client.get("/dicom-web/studies", params={"StudyInstanceUID": series.study_uid}, headers=headers)
    assert found.status_code == 200 and pseudonym not in found.text
    whole = client.get(f"/dicom-web/studies/{series.study_uid}", headers={**headers, "Accept": "multipart/related; "
                                                                                              "type=\"application/dicom\""})
    assert whole.status_code == 200 and pseudonym.encode() not in whole.content


# --- Orthanc killed in the middle of an upload ---------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateOrthanc:
    """An Orthanc of this test's own (own port, storage folder and index database), configured like the one
    `make run` starts (scripts/render_orthanc_config.py), so that it can be killed and restarted freely."""

    def __init__(self, folder: Path, database_name: str, role: str, password: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.env = {**os.environ, "ORTHANC_URL": self.url, "ORTHANC_DICOM_PORT": str(_free_port()),
                    "ORTHANC_STORAGE_DIR": str(folder / "storage"), "ORTHANC_DATABASE_NAME": database_name,
                    "ORTHANC_DB_USER": role, "ORTHANC_DB_PASSWORD": password,
                    "PYTHONPATH": str(REPO_ROOT / "orthanc" / "plugins")}
        self.config = folder / "orthanc.json"
        subprocess.run(["python3", str(REPO_ROOT / "scripts" / "render_orthanc_config.py"), str(self.config)],
                       env=self.env, check=True)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        (self.folder / "log").mkdir(parents=True, exist_ok=True)
        log = (self.folder / "stdout.log").open("ab")
        self.proc = subprocess.Popen(["Orthanc", f"--logdir={self.folder / 'log'}", str(self.config)],  # noqa: S607
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.count_instances() is not None:
                return
            assert self.proc.poll() is None, (self.folder / "stdout.log").read_text()[-2000:]
            time.sleep(0.2)
        raise AssertionError("the private Orthanc did not start")

    def client(self):
        from medcloud.core.orthanc import OrthancClient

        return OrthancClient(base_url=self.url)

    def count_instances(self) -> int | None:
        try:
            with self.client() as orthanc:
                return int(orthanc._request("GET", "/statistics").json()["CountInstances"])
        except Exception:  # noqa: BLE001 - not up (yet, or any more)
            return None

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _create_database(name: str) -> tuple[str, str]:
    """A fresh index database owned by a role of its own, as scripts/services.sh gives Orthanc its database;
    returns (role, password)."""
    import secrets

    from django.conf import settings

    db = settings.DATABASES["default"]
    admin = f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/postgres"
    role, password = f"{name}_role", secrets.token_hex(16)

    def sql(statement: str) -> None:
        subprocess.run(["psql", admin, "-qc", statement], check=True, capture_output=True)

    sql(f'DROP DATABASE IF EXISTS "{name}"')
    sql(f'DROP ROLE IF EXISTS "{role}"')
    sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
    sql(f'CREATE DATABASE "{name}" OWNER "{role}"')
    return role, password


def test_orthanc_killed_mid_upload_leaves_nothing_once_reconciled(make_user, series_factory, tmp_path,
                                                                  test_database_name):
    """The fault the review injected: Orthanc killed ~0.8 s into the upload of a 192-instance zip. The upload
    answers 503 "nothing was stored"; the instances Orthanc had already stored (the rollback could not reach
    it) are listed in the ingest journal, and the reconciliation removes them once Orthanc is back."""
    from medcloud.pacs.models import PendingIngest, Study

    database = f"{test_database_name}_orthanc_kill"
    orthanc = PrivateOrthanc(tmp_path / "orthanc", database, *_create_database(database))
    orthanc.start()
    owner = make_user("researcher")
    series = series_factory()  # all 192 slices
    body = zip_folders({"t1": series.files})
    env = server_env(test_database_name, ORTHANC_URL=orthanc.url)
    answer: dict[str, httpx.Response] = {}
    try:
        with https_server(env, LOG_DIR / "web-orthanc-kill.log") as base_url, \
                httpx.Client(base_url=base_url, verify=False, timeout=120) as client:
            sender = threading.Thread(target=lambda: answer.setdefault("r", upload(client, owner, [("mr.zip", body)])))
            sender.start()
            deadline = time.monotonic() + 60
            while (orthanc.count_instances() or 0) < 10:  # the upload is storing: kill Orthanc now
                assert time.monotonic() < deadline and sender.is_alive(), "the upload never reached Orthanc"
                time.sleep(0.02)
            orthanc.kill()
            sender.join(timeout=120)
        response = answer["r"]
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "upstream_unavailable"
        assert not Study.objects.filter(study_instance_uid=series.study_uid).exists()
        journal = PendingIngest.objects.get()
        assert journal.failed_at is not None and len(journal.orthanc_instance_ids) == 192

        orthanc.start()  # restarted: what the killed upload had stored is still there
        left = orthanc.count_instances()
        assert left and left >= 10

        reconcile = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), str(REPO_ROOT / "backend" /
                                    "manage.py"), "reconcile_orthanc", "--report-only"], env=env, cwd=REPO_ROOT,
                                   capture_output=True, text=True, timeout=120)
        assert reconcile.returncode == 0, reconcile.stderr
        assert "replayed journals: 1" in reconcile.stdout, reconcile.stdout
        assert orthanc.count_instances() == 0
        assert not PendingIngest.objects.exists()
        from medcloud.audit.models import AuditEvent

        assert AuditEvent.objects.filter(action="orthanc.reconcile").exists()
    finally:
        orthanc.stop()


def test_upload_files_left_by_a_crashed_backend_are_removed_at_start(tmp_path, test_database_name):
    """Security review, finding 9: temporary upload files may outlive a crash. A batch folder of a process that
    no longer exists and an old spooled form file are removed when a backend starts; a live one is kept."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"medcloud-upload-{dead.pid}-abc123"
    (left / "files").mkdir(parents=True)
    (left / "files" / "0001.dcm").write_bytes(b"DICM with PHI")
    live = tmp_path / f"medcloud-upload-{os.getpid()}-def456"
    live.mkdir()
    spooled = tmp_path / "tmpq1w2e3.upload.dcm"
    spooled.write_bytes(b"PHI")
    os.utime(spooled, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / "tmpz9x8c7.upload.zip"
    fresh.write_bytes(b"in flight")
    env = server_env(test_database_name, MEDCLOUD_UPLOAD_TMP=str(tmp_path))
    with https_server(env, LOG_DIR / "web-upload-cleanup.log"):
        pass
    assert not left.exists() and not spooled.exists()
    assert live.exists() and fresh.exists()


def test_reconciliation_reports_then_removes_studies_no_medcloud_study_owns(make_user, series_factory, tmp_path,
                                                                            test_database_name):
    """Instances that no MedCloud study owns (stored behind the backend's back, or left by a crash whose
    journal was lost) are reported, and removed once older than the grace period; owned studies are kept."""
    from medcloud.pacs.dicom import deidentify_file, parse_instance

    database = f"{test_database_name}_orthanc_orphans"
    orthanc = PrivateOrthanc(tmp_path / "orthanc", database, *_create_database(database))
    orthanc.start()
    owner = make_user("researcher")
    owned, orphan = series_factory(count=1), series_factory(count=1)
    env = server_env(test_database_name, ORTHANC_URL=orthanc.url)
    manage = [str(REPO_ROOT / ".venv" / "bin" / "python"), str(REPO_ROOT / "backend" / "manage.py"),
              "reconcile_orthanc"]
    try:
        with https_server(env, LOG_DIR / "web-orphans.log") as base_url, \
                httpx.Client(base_url=base_url, verify=False, timeout=60) as client:
            assert upload(client, owner, [(p.name, p.read_bytes()) for p in owned.files]).status_code == 201
        item = parse_instance(orphan.files[0], orphan.files[0].name)
        with orthanc.client() as direct:
            direct.store_instance(deidentify_file(item.source, "MCORPHAN0000000001", item.splice_plan))
        assert orthanc.count_instances() == 2

        reported = subprocess.run([*manage, "--report-only", "--orphan-grace", "0"], env=env, cwd=REPO_ROOT,
                                  capture_output=True, text=True, timeout=120)
        assert reported.returncode == 0 and "orphan studies: 1 (removed 0)" in reported.stdout, reported.stdout
        kept = subprocess.run(manage, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert "orphan studies: 1 (removed 0)" in kept.stdout, kept.stdout  # younger than the default grace
        assert orthanc.count_instances() == 2
        removed = subprocess.run([*manage, "--orphan-grace", "0"], env=env, cwd=REPO_ROOT, capture_output=True,
                                 text=True, timeout=120)
        assert "orphan studies: 1 (removed 1)" in removed.stdout, removed.stdout
        assert orthanc.count_instances() == 1  # the owned study stays
        with orthanc.client() as direct:
            assert direct.lookup(owned.study_uid) and not direct.lookup(orphan.study_uid)
    finally:
        orthanc.stop()
