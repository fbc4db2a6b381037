"""The AI platform end to end, as a researcher's script meets it: a personal API token, a study uploaded, a model
package (the SDK's template) uploaded as a zip, a job run by a real Celery worker (the package in the bubblewrap
sandbox), and the SEG it produced read back from the study through DICOMweb with highdicom. Plus refusals, the
access matrix (role x ownership x sharing x publication), and a worker killed in the middle of a job."""

from __future__ import annotations

import io
import secrets
import signal
import time
import zipfile
from pathlib import Path

import highdicom as hd
import pydicom
import pytest

from tests.conftest import LOG_DIR
from tests.pacs.conftest import bearer, upload, zip_folders
from tests.support.servers import celery_worker, reset_broker_connections, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TEMPLATE = Path(__file__).resolve().parents[2] / "backend" / "medcloud" / "sdk" / "template"


def api_token(user) -> dict[str, str]:
    from medcloud.accounts.models import ApiToken
    from medcloud.accounts.selectors import token_hash

    raw = f"mct_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    ApiToken.objects.create(user=user, name="script", prefix=raw[4:12], token_hash=token_hash(raw))
    return {"Authorization": f"Bearer {raw}"}


def zipped(folder: Path, extra: dict[str, bytes] | None = None, replace: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            name = path.relative_to(folder).as_posix()
            data = path.read_bytes()
            if replace and name in replace:
                data = replace[name].encode()
            archive.writestr(name, data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def published_model(owner, package: bytes, *, name: str, task_type: str):
    """A model of ``owner`` with ``package`` published as its first version, through the registry's service (as
    an upload would be: validated, stored content-addressed)."""
    import tempfile

    from medcloud.inference import services
    from medcloud.inference.models import AIModel

    model = AIModel.objects.create(owner=owner, name=name, task_type=task_type)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "package.zip"
        path.write_bytes(package)
        services.version_publish(model=model, package=path, actor=owner)
    return model


def wait_for(client, job_id: str, headers: dict[str, str], timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}/", headers=headers).json()
        if job["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_a_researcher_runs_an_uploaded_model_and_gets_a_seg_in_the_study(client, make_user, series_factory,
                                                                         live_worker) -> None:
    researcher = make_user("researcher")
    token = api_token(researcher)
    series = series_factory()  # the real 192-slice MR series (new UIDs, a synthetic patient)
    uploaded = client.post("/api/pacs/studies/upload/", headers=token,
                           files=[("files", ("mr.zip", zip_folders({"t1": series.files}), "application/zip"))])
    assert uploaded.status_code == 201, uploaded.text
    study_id = uploaded.json()["studies"][0]["id"]

    model = client.post("/api/models/", headers=token, json={"name": "Threshold", "task_type": "segmentation",
                                                             "modality": "MR", "architecture": "Otsu"})
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    version = client.post(f"/api/models/{model_id}/package/", headers=token,
                          files={"package": ("template.zip", zipped(TEMPLATE), "application/zip")})
    assert version.status_code == 201, version.text
    sha = version.json()["sha256"]

    job = client.post("/api/jobs/", headers=token, json={"model": model_id, "study": study_id,
                                                         "series_instance_uid": series.series_uid})
    assert job.status_code == 201, job.text
    assert job.json()["state"] == "queued"
    with client.stream("GET", f"/api/jobs/{job.json()['id']}/events/", headers=token) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        first = next(events.iter_lines())
        assert first.startswith("event: job")
    done = wait_for(client, job.json()["id"], token)
    assert done["state"] == "succeeded", done
    assert done["progress"] == 100 and done["package_sha256"] == sha
    provenance = done["result"]["provenance"]
    assert provenance["package_sha256"] == sha and provenance["model_version"] and provenance["ran_by"]
    assert set(done["timings"]) >= {"fetch_s", "run_s", "store_s", "total_s"}

    # the SEG is in the study: found by QIDO, retrieved through the proxy, read by highdicom
    found = client.get(f"/dicom-web/studies/{series.study_uid}/series", params={"Modality": "SEG"}, headers=token)
    assert found.status_code == 200, found.text
    seg_series = [s["0020000E"]["Value"][0] for s in found.json() if s.get("00080060", {}).get("Value") == ["SEG"]]
    assert len(seg_series) == 1
    instances = client.get(f"/dicom-web/studies/{series.study_uid}/series/{seg_series[0]}/instances",
                           headers=token).json()
    sop = instances[0]["00080018"]["Value"][0]
    raw = client.get(f"/dicom-web/studies/{series.study_uid}/series/{seg_series[0]}/instances/{sop}",
                     headers={**token, "Accept": 'multipart/related; type="application/dicom"'})
    assert raw.status_code == 200
    body = raw.content
    start = body.index(b"DICM") - 128
    seg = hd.seg.segread(io.BytesIO(body[start:]))
    sources = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in series.files}
    referenced = {ref.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence
                  for ref in item.ReferencedInstanceSequence}
    assert referenced and referenced <= sources
    assert seg.PatientName == series.patient_name  # the reader gets the real patient back, as for any instance
    detail = client.get(f"/api/pacs/studies/{study_id}/", headers=token).json()
    assert "SEG" in detail["modalities"]


def test_a_package_that_breaks_the_rules_is_refused_naming_file_and_line(client, make_user) -> None:
    researcher = make_user("researcher")
    token = api_token(researcher)
    model_id = client.post("/api/models/", headers=token,
                           json={"name": "Bad", "task_type": "segmentation"}).json()["id"]
    cases = {
        "traversal": zipped(TEMPLATE, extra={"../evil.py": b"x = 1\n"}),
        "native": zipped(TEMPLATE, extra={"lib.so": b"\x7fELF" + b"\0" * 60}),
        "no run": zipped(TEMPLATE, replace={"main.py": "from medcloud.sdk import Application\n\n"
                                            "class App(Application):\n    tasks = ()\n"}),
    }
    for label, payload in cases.items():
        refused = client.post(f"/api/models/{model_id}/package/", headers=token,
                              files={"package": ("p.zip", payload, "application/zip")})
        assert refused.status_code == 400, (label, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "invalid_package" and error["details"]["problems"], (label, error)
        assert all({"file", "line", "message"} <= set(p) for p in error["details"]["problems"])
    assert client.get(f"/api/models/{model_id}/versions/", headers=token).json() == []


def test_access_rules_role_ownership_sharing_publication(client, make_user, series_factory) -> None:
    owner, stranger, runner, editor = (make_user("researcher") for _ in range(4))
    professional = make_user("health_professional", clinical_role="radiologist")
    pending = make_user("health_professional", clinical_role="radiologist", verified=False)
    admin = make_user("admin")
    h = {u.pk: api_token(u) if u.role == "researcher" else bearer(u)
         for u in (owner, stranger, runner, editor, professional, pending, admin)}
    model_id = client.post("/api/models/", headers=h[owner.pk], json={"name": "M", "task_type": "segmentation"}
                           ).json()["id"]
    assert client.post(f"/api/models/{model_id}/package/", headers=h[owner.pk],
                       files={"package": ("t.zip", zipped(TEMPLATE), "application/zip")}).status_code == 201
    for member, access in ((runner, "run"), (editor, "edit")):
        group = client.post("/api/groups/", headers=h[owner.pk], json={"name": f"g-{access}"}).json()["id"]
        assert client.post(f"/api/groups/{group}/members/", headers=h[owner.pk],
                           json={"email": member.email}).status_code == 201
        assert client.post(f"/api/models/{model_id}/shares/", headers=h[owner.pk],
                           json={"group": group, "access": access}).status_code == 201

    def status(user, method: str, path: str, **kwargs) -> int:
        return client.request(method, path, headers=h[user.pk], **kwargs).status_code

    see = {owner: 200, stranger: 404, runner: 200, editor: 200, professional: 404, pending: 404, admin: 200}
    assert {u: status(u, "GET", f"/api/models/{model_id}/") for u in see} == see
    edit = {owner: 200, stranger: 404, runner: 403, editor: 200, professional: 404, admin: 200}
    put = {u: status(u, "PUT", f"/api/models/{model_id}/files/", json={"path": "notes.md", "content": "x"})
           for u in edit}
    assert put == edit
    share = {owner: 200, runner: 403, editor: 403, stranger: 404}
    assert {u: status(u, "GET", f"/api/models/{model_id}/shares/") for u in share} == share
    # publication: an admin's decision; then health professionals (certificate approved) see and run it
    assert status(owner, "PUT", f"/api/models/{model_id}/publication/", json={"published": True}) == 403
    assert status(admin, "PUT", f"/api/models/{model_id}/publication/", json={"published": True}) == 200
    assert status(professional, "GET", f"/api/models/{model_id}/") == 200
    assert status(stranger, "GET", f"/api/models/{model_id}/") == 404  # researchers: their own and shared only

    # jobs: nobody runs a model on a study they cannot read, nor writes results into one they cannot write
    own_series = series_factory(count=2)
    study = upload(client, professional, [(p.name, p.read_bytes()) for p in own_series.files]).json()["studies"][0]
    job = {"model": model_id, "study": study["id"], "series_instance_uid": own_series.series_uid}
    runs = {professional: 201, runner: 404, stranger: 404, pending: 403, owner: 404}
    answered = {u: status(u, "POST", "/api/jobs/", json=job) for u in runs}
    assert answered == runs
    # read-only share of the study: may read, may not write the results into it
    share = client.post(f"/api/pacs/studies/{study['id']}/shares/", headers=h[professional.pk],
                        json={"user_email": runner.email, "access": "read"})
    assert share.status_code == 201, share.text
    assert status(runner, "POST", "/api/jobs/", json=job) == 403
    # jobs are private to who asked for them
    mine = client.get("/api/jobs/", headers=h[professional.pk]).json()
    assert len(mine) == 1
    assert status(stranger, "GET", f"/api/jobs/{mine[0]['id']}/") == 404
    assert status(professional, "POST", f"/api/jobs/{mine[0]['id']}/cancel/") == 200


SLOW_MODEL = '''"""A model that takes its time (for the worker-kill test)."""
import time

import numpy as np

from medcloud.sdk import Application, InferTask, InferType, Label, Results


class Slow(InferTask):
    type = InferType.CLASSIFICATION
    labels = ("done",)
    modalities = ("MR",)


class App(Application):
    tasks = (Slow,)

    def run(self, series, context):
        for step in range(40):
            context.progress(step * 2.5, "working")
            time.sleep(0.5)
        return Results(labels=[Label("done", 1.0)])
'''


def test_a_worker_killed_mid_job_leaves_it_retried_never_running(client, make_user, series_factory, settings,
                                                                 test_database_name) -> None:
    from medcloud.inference import services
    from medcloud.inference.tasks import reap_jobs

    settings.INFERENCE_QUEUE = "kill-test"  # this test's own workers only
    researcher = make_user("researcher")
    series = series_factory(count=2)
    study = upload(client, researcher, [(p.name, p.read_bytes()) for p in series.files]).json()["studies"][0]
    manifest = 'sdk_version = "1"\nname = "slow"\nversion = "1"\ntasks = ["Slow"]\nrequirements = ["numpy"]\n'
    package = zipped(TEMPLATE, replace={"main.py": SLOW_MODEL, "model.toml": manifest})
    model = published_model(researcher, package, name="slow", task_type="classification")
    env = server_env(test_database_name)
    with celery_worker(env, LOG_DIR / "worker-killed.log", hostname="doomed", queues="kill-test") as doomed:
        # queued once the worker answers (a solo worker busy with a job answers no ping until the job ends)
        job = services.job_create(user=researcher, model_id=model.pk, study_id=study["id"],
                                  series_uid=series.series_uid)
        deadline = time.monotonic() + 120
        while True:
            job.refresh_from_db()
            if job.state == "running":
                break
            assert time.monotonic() < deadline, (job.state, job.message, job.attempts)
            time.sleep(0.2)
        time.sleep(4)  # well inside the model's 20 s of work
        job.refresh_from_db()
        assert job.state == "running"
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    job.refresh_from_db()
    assert job.state == "running" and job.attempts == 1  # what the kill left: the watchdog's case
    with celery_worker(env, LOG_DIR / "worker-after-kill.log", hostname="heir", queues="kill-test"):
        assert reap_jobs(stale_seconds=0) == {"requeued": 1, "resent": 0, "failed": 0}
        deadline = time.monotonic() + 180
        while job.state not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job.message
            time.sleep(0.5)
            job.refresh_from_db()
    assert job.state == "succeeded", (job.error, job.detail)
    assert job.attempts == 2 and job.result["results"]["labels"][0]["name"] == "done"


def test_a_restarted_redis_loses_no_queued_job(client, make_user, series_factory, settings,
                                              test_database_name) -> None:
    """A job queued while no worker listens survives a Redis restart (append-only file) and runs afterwards."""
    import subprocess

    from medcloud.inference import services
    from tests.support.servers import REPO_ROOT

    settings.INFERENCE_QUEUE = "redis-restart-test"  # no worker listens on it until after the restart
    researcher = make_user("researcher")
    series = series_factory(count=2)
    study = upload(client, researcher, [(p.name, p.read_bytes()) for p in series.files]).json()["studies"][0]
    model = published_model(researcher, zipped(TEMPLATE), name="template", task_type="segmentation")
    from medcloud.celery import app

    with app.connection_for_write() as connection:  # (what an earlier, interrupted run may have left there)
        connection.default_channel.client.delete("redis-restart-test")
    job = services.job_create(user=researcher, model_id=model.pk, study_id=study["id"], series_uid=series.series_uid)

    with app.connection_for_write() as connection:  # the message is in Redis before the restart
        assert connection.default_channel.client.llen("redis-restart-test") == 1
        connection.default_channel.client.shutdown(save=True)  # a clean stop, as an operator's restart
    subprocess.run([str(REPO_ROOT / "scripts" / "services.sh"), "start"], check=True, cwd=REPO_ROOT,
                   capture_output=True)
    reset_broker_connections(app)  # this process's broker connections died with the old Redis
    env = server_env(test_database_name)
    with celery_worker(env, LOG_DIR / "worker-after-redis.log", hostname="after-redis", queues="redis-restart-test"):
        deadline = time.monotonic() + 120
        while job.state not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job.message
            time.sleep(0.5)
            job.refresh_from_db()
    assert job.state == "succeeded", (job.error, job.detail)


def test_a_queued_job_no_worker_takes_is_sent_again_then_failed_with_a_reason(make_user, series_factory, client,
                                                                             settings) -> None:
    """A lost message (a broker without its data, a worker of an older release that discards an unknown task):
    the watchdog sends the job again, then fails it with a reason; it never waits for ever."""
    from medcloud.inference import services
    from medcloud.inference.tasks import reap_jobs

    settings.INFERENCE_QUEUE = "nobody-listens"
    settings.INFERENCE_MAX_SENDS = 2
    researcher = make_user("researcher")
    series = series_factory(count=1)
    study = upload(client, researcher, [(p.name, p.read_bytes()) for p in series.files]).json()["studies"][0]
    model = published_model(researcher, zipped(TEMPLATE), name="template", task_type="segmentation")
    job = services.job_create(user=researcher, model_id=model.pk, study_id=study["id"], series_uid=series.series_uid)
    assert reap_jobs(unclaimed_seconds=3600) == {"requeued": 0, "resent": 0, "failed": 0}  # young: left alone
    assert reap_jobs(unclaimed_seconds=0) == {"requeued": 0, "resent": 1, "failed": 0}
    job.refresh_from_db()
    assert job.state == "queued" and job.sends == 2
    assert reap_jobs(unclaimed_seconds=0) == {"requeued": 0, "resent": 0, "failed": 1}
    job.refresh_from_db()
    assert job.state == "failed" and "No worker" in job.error
    from medcloud.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("nobody-listens")
