"""Every registry and job endpoint, asked by every kind of user: role (researcher, health professional with and
without an approved certificate, admin) x ownership (owner, stranger) x sharing (run-only group, edit group) x
publication (before and after an admin publishes the model). Over real HTTPS through nginx.

A refusal never tells whether the object exists to someone who may not see it (404); someone who may see it but not
do this gets 403. The rules are docs/ai-platform.md's "Who may do what"."""

from __future__ import annotations

import pytest

from tests.inference.test_jobs import TEMPLATE, api_token, zipped
from tests.pacs.conftest import bearer, upload

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

USERS = ("owner", "stranger", "runner", "editor", "professional", "pending", "admin")


def expect(**by_user: int) -> dict[str, int]:
    assert set(by_user) == set(USERS), set(USERS) ^ set(by_user)
    return by_user


def test_every_registry_and_job_endpoint_for_every_kind_of_user(client, make_user, series_factory) -> None:
    users = {
        "owner": make_user("researcher"), "stranger": make_user("researcher"), "runner": make_user("researcher"),
        "editor": make_user("researcher"),
        "professional": make_user("health_professional", clinical_role="radiologist"),
        "pending": make_user("health_professional", clinical_role="radiologist", verified=False),
        "admin": make_user("admin"),
    }
    headers = {name: api_token(u) if u.role == "researcher" else bearer(u) for name, u in users.items()}
    package = zipped(TEMPLATE)

    def call(name: str, method: str, path: str, **kwargs):
        return client.request(method, path, headers=headers[name], **kwargs)

    def ask(method: str, path: str, order=USERS, **kwargs) -> dict[str, int]:
        return {name: call(name, method, path, **kwargs).status_code for name in order}

    created = call("owner", "POST", "/api/models/", json={"name": "Matrix", "task_type": "segmentation"})
    assert created.status_code == 201, created.text
    m = f"/api/models/{created.json()['id']}"
    assert call("owner", "POST", f"{m}/package/", files={"package": ("p.zip", package, "application/zip")}
                ).status_code == 201
    shares = {}
    for member, access in (("runner", "run"), ("editor", "edit")):
        group = call("owner", "POST", "/api/groups/", json={"name": f"matrix-{access}"}).json()["id"]
        assert call("owner", "POST", f"/api/groups/{group}/members/",
                    json={"email": users[member].email}).status_code == 201
        share = call("owner", "POST", f"{m}/shares/", json={"group": group, "access": access})
        assert share.status_code == 201, share.text
        shares[access] = share.json()["id"]

    # creating a model: researchers and admins bring models; health professionals do not
    assert ask("POST", "/api/models/", json={"name": "Mine", "task_type": "classification"}) == expect(
        owner=201, stranger=201, runner=201, editor=201, professional=403, pending=403, admin=201)

    # --- before publication: the owner, the groups it is shared with, admins ---------------------------------
    listed = {name: any(row["name"] == "Matrix" for row in call(name, "GET", "/api/models/").json())
              for name in USERS}
    assert listed == dict(owner=True, stranger=False, runner=True, editor=True, professional=False, pending=False,
                          admin=True)
    see = expect(owner=200, stranger=404, runner=200, editor=200, professional=404, pending=404, admin=200)
    edit = expect(owner=200, stranger=404, runner=403, editor=200, professional=404, pending=404, admin=200)
    assert ask("GET", f"{m}/") == see
    assert ask("GET", f"{m}/versions/") == see
    assert ask("PATCH", f"{m}/", json={"description": "edited"}) == edit
    assert ask("GET", f"{m}/files/") == edit
    assert ask("PUT", f"{m}/files/", json={"path": "notes.md", "content": "# notes\n"}) == edit
    assert ask("POST", f"{m}/package/", files={"package": ("p.zip", package, "application/zip")}) == {
        name: 201 if code == 200 else code for name, code in edit.items()}
    assert ask("POST", f"{m}/publish/") == {name: 201 if code == 200 else code for name, code in edit.items()}
    assert ask("POST", f"{m}/weights/", files={"file": ("w.npy", b"\x93NUMPY weights", "application/octet-stream")},
               data={"path": "weights/w.npy"}) == {name: 201 if code == 200 else code for name, code in edit.items()}
    assert ask("POST", f"{m}/rollback/", json={"version": 1}) == edit
    # deleting a file: the ones who may not first (nothing changes), then the owner (the rollback reset the working
    # copy to version 1, which has no notes.md)
    assert call("owner", "PUT", f"{m}/files/", json={"path": "notes.md", "content": "# notes\n"}).status_code == 200
    refused = [name for name in USERS if edit[name] != 200]
    assert ask("DELETE", f"{m}/files/?path=notes.md", order=refused) == {name: edit[name] for name in refused}
    assert call("owner", "DELETE", f"{m}/files/?path=notes.md").status_code == 204
    # sharing is the owner's decision (and an admin's)
    owner_only = expect(owner=200, stranger=404, runner=403, editor=403, professional=404, pending=404, admin=200)
    assert ask("GET", f"{m}/shares/") == owner_only
    others = [name for name in USERS if name not in ("owner", "admin")]
    assert ask("DELETE", f"{m}/shares/{shares['run']}/", order=others) == {name: owner_only[name] for name in others}
    # publication to health professionals: admins only; the others who see the model get 403, the rest 404
    assert ask("PUT", f"{m}/publication/", order=others + ["owner"], json={"published": True}) == {
        "stranger": 404, "runner": 403, "editor": 403, "professional": 404, "pending": 404, "owner": 403}
    assert call("admin", "PUT", f"{m}/publication/", json={"published": True}).status_code == 200

    # --- after publication: verified health professionals see it and may run it; researchers still do not ---
    assert ask("GET", f"{m}/") == expect(owner=200, stranger=404, runner=200, editor=200, professional=200,
                                         pending=200, admin=200)
    assert ask("PATCH", f"{m}/", json={"description": "again"}) == expect(
        owner=200, stranger=404, runner=403, editor=200, professional=403, pending=403, admin=200)
    assert ask("GET", f"{m}/shares/") == expect(owner=200, stranger=404, runner=403, editor=403, professional=403,
                                                pending=403, admin=200)

    # --- jobs: on a study the asker may read (and write the results into) ------------------------------------
    series = series_factory(count=2)
    study = upload(client, users["professional"], [(p.name, p.read_bytes()) for p in series.files]).json()
    job_input = {"model": int(m.rsplit("/", 1)[1]), "study": study["studies"][0]["id"],
                 "series_instance_uid": series.series_uid}
    # nobody else may read the professional's study: 404 for it; the pending professional reads no patient data
    assert ask("POST", "/api/jobs/", order=[n for n in USERS if n not in ("professional", "admin")],
               json=job_input) == {"owner": 404, "stranger": 404, "runner": 404, "editor": 404, "pending": 403}
    job = call("professional", "POST", "/api/jobs/", json=job_input)
    assert job.status_code == 201, job.text
    j = f"/api/jobs/{job.json()['id']}"
    mine = expect(owner=404, stranger=404, runner=404, editor=404, professional=200, pending=403, admin=200)
    assert ask("GET", f"{j}/") == mine
    listed_jobs = {name: any(row["id"] == job.json()["id"] for row in call(name, "GET", "/api/jobs/").json())
                   for name in USERS if name != "pending"}
    assert listed_jobs == dict(owner=False, stranger=False, runner=False, editor=False, professional=True,
                               admin=True)
    assert call("pending", "GET", "/api/jobs/").status_code == 403
    strangers = [name for name in USERS if name not in ("professional", "admin")]
    assert ask("POST", f"{j}/cancel/", order=strangers) == {name: mine[name] for name in strangers}
    assert ask("POST", f"{j}/retry/", order=strangers) == {name: mine[name] for name in strangers}
    assert ask("GET", f"{j}/events/", order=strangers) == {name: mine[name] for name in strangers}
    assert call("professional", "POST", f"{j}/cancel/").json()["state"] == "cancelled"
    events = call("professional", "GET", f"{j}/events/")
    assert events.status_code == 200 and "cancelled" in events.text  # the stream ends with the job
    retried = call("professional", "POST", f"{j}/retry/")
    assert retried.status_code == 201 and retried.json()["id"] != job.json()["id"]
    assert call("professional", "POST", f"/api/jobs/{retried.json()['id']}/cancel/").status_code == 200

    # the owner's traceback-level detail of a job is the model owner's; the requester sees the short error only
    # (checked in test_jobs); unsharing and unpublishing take the right away again
    assert call("owner", "DELETE", f"{m}/shares/{shares['run']}/").status_code == 204
    assert call("runner", "GET", f"{m}/").status_code == 404
    assert call("admin", "PUT", f"{m}/publication/", json={"published": False}).status_code == 200
    assert call("professional", "GET", f"{m}/").status_code == 404
    assert call("professional", "POST", "/api/jobs/", json=job_input).status_code == 404


def test_the_editor_works_on_the_current_version_and_keeps_its_weights(client, make_user) -> None:
    """The working copy starts as the uploaded version's text files; publishing it keeps the version's weights;
    uploading weights makes a new version; a rollback brings the working copy back to that version."""
    import io
    import zipfile

    owner = make_user("researcher")
    h = api_token(owner)
    created = client.post("/api/models/", headers=h, json={"name": "E", "task_type": "segmentation"})
    m = f"/api/models/{created.json()['id']}"
    weights = bytes(range(256)) * 64
    package = zipped(TEMPLATE, extra={"weights.bin": weights})
    first = client.post(f"{m}/package/", headers=h, files={"package": ("p.zip", package, "application/zip")})
    assert first.status_code == 201, first.text
    files = {row["path"]: row["content"] for row in client.get(f"{m}/files/", headers=h).json()}
    assert set(files) == {"README.md", "main.py", "model.toml", "params.json"}  # text only: weights stay in versions
    assert files["main.py"] == (TEMPLATE / "main.py").read_text()

    edited = files["main.py"] + "\n# tuned\n"
    assert client.put(f"{m}/files/", headers=h, json={"path": "main.py", "content": edited}).status_code == 200
    second = client.post(f"{m}/publish/", headers=h)
    assert second.status_code == 201, second.text

    from medcloud.inference import packages
    from medcloud.inference.models import ModelVersion

    def contents(number: int) -> dict[str, bytes]:
        version = ModelVersion.objects.get(model_id=int(m.rsplit("/", 1)[1]), number=number)
        with zipfile.ZipFile(io.BytesIO(packages.path_for(version.sha256).read_bytes())) as archive:
            return {name: archive.read(name) for name in archive.namelist()}

    assert contents(2)["weights.bin"] == weights and contents(2)["main.py"] == edited.encode()
    third = client.post(f"{m}/weights/", headers=h, data={"path": "weights.bin"},
                        files={"file": ("new.bin", b"new weights", "application/octet-stream")})
    assert third.status_code == 201, third.text
    assert contents(3)["weights.bin"] == b"new weights" and contents(3)["main.py"] == edited.encode()
    # a weight file may not escape the package
    escape = client.post(f"{m}/weights/", headers=h, data={"path": "../x.bin"},
                         files={"file": ("x.bin", b"x", "application/octet-stream")})
    assert escape.status_code == 400 and escape.json()["error"]["code"] == "invalid"
    assert client.post(f"{m}/rollback/", headers=h, json={"version": 1}).status_code == 200
    files = {row["path"]: row["content"] for row in client.get(f"{m}/files/", headers=h).json()}
    assert files["main.py"] == (TEMPLATE / "main.py").read_text()
