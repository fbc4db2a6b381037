"""Remembered DICOMweb read grants: reused for a few seconds per credential and study, never for a refusal,
and a revoked share stops being honoured once they expire."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import LOG_DIR
from tests.pacs.conftest import bearer, upload
from tests.support.servers import https_server, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
GRANT_SECONDS = 2.0


def test_revoked_share_is_refused_once_the_grant_expires(client, make_user, series_factory,
                                                         test_database_name: str) -> None:
    owner, reader = make_user("researcher"), make_user("researcher")
    series = series_factory(count=1)
    uploaded = upload(client, owner, [(p.name, p.read_bytes()) for p in series.files])
    assert uploaded.status_code == 201, uploaded.text
    study = uploaded.json()["studies"][0]
    metadata = f"/dicom-web/studies/{series.study_uid}/metadata"

    env = server_env(test_database_name, MEDCLOUD_READ_GRANT_SECONDS=str(GRANT_SECONDS))
    with https_server(env, LOG_DIR / "web-read-grants.log") as base_url, \
            httpx.Client(base_url=base_url, verify=False, timeout=30) as grants:
        assert grants.get(metadata, headers=bearer(reader)).status_code == 404  # refusals are not remembered
        share = client.post(f"/api/pacs/studies/{study['id']}/shares/", headers=bearer(owner),
                            json={"user_email": reader.email})
        assert share.status_code == 201, share.text
        reader_headers = bearer(reader)
        answer = grants.get(metadata, headers=reader_headers)
        assert answer.status_code == 200
        item = answer.json()[0]
        frame = (f"/dicom-web/studies/{series.study_uid}/series/{item['0020000E']['Value'][0]}/instances/"
                 f"{item['00080018']['Value'][0]}/frames/1")
        # frames come through the front server's auth_request, answered from the remembered grant
        assert grants.get(frame, headers={**reader_headers, "Accept": "*/*"}).status_code == 200
        assert grants.get(frame, headers={**reader_headers, "Accept": "*/*"}).status_code == 200
        # a remembered grant (nginx's cache, the backend's lean answer) still names the patient's pseudonym:
        # the viewer's frames keep coming from Orthanc's frame route (ADR 0008)
        viewer_accept = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
        for _ in range(3):
            raw = grants.get(frame, headers={**reader_headers, **viewer_accept})
            boundary = raw.headers["content-type"].split("boundary=", 1)[1]
            assert raw.status_code == 200 and len(boundary) == 32 and "-" not in boundary  # the route's boundary
        # nginx remembers the grant too, under a digest of the credential: never the credential on disk
        cached = [f.read_bytes() for f in (LOG_DIR / "web-read-grants-front" / "authz-cache").rglob("*") if f.is_file()]
        assert any(series.study_uid.encode() in c for c in cached)
        assert not any(reader_headers["Authorization"].split()[1].encode() in c for c in cached)
        revoked_at = time.monotonic()
        revoked = client.delete(f"/api/pacs/studies/{study['id']}/shares/{share.json()['id']}/",
                                headers=bearer(owner))
        assert revoked.status_code == 204
        # The same credential may still read for what is left of the grant, never longer.
        while time.monotonic() - revoked_at < GRANT_SECONDS + 0.5:
            time.sleep(0.25)
        assert grants.get(metadata, headers=reader_headers).status_code == 404
        refused = grants.get(frame, headers={**reader_headers, "Accept": "*/*"})
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


def test_a_session_cookie_reads_nothing(client, make_user, series_factory) -> None:
    """The DICOMweb proxy takes bearer credentials only (the viewer sends its viewer token): a Django session
    cookie, even an admin's, authenticates nothing there (security review: an admin session from /admin/,
    signed in with a password alone, read every study). /admin/ itself is gone."""
    from django.conf import settings
    from django.test import Client as DjangoClient

    owner, admin = make_user("researcher"), make_user("admin")
    series = series_factory(count=1)
    assert upload(client, owner, [(p.name, p.read_bytes()) for p in series.files]).status_code == 201
    metadata = f"/dicom-web/studies/{series.study_uid}/metadata"

    def session_cookie(user) -> dict[str, str]:
        django_client = DjangoClient()
        django_client.force_login(user)
        return {settings.SESSION_COOKIE_NAME: django_client.cookies[settings.SESSION_COOKIE_NAME].value}

    for user in (owner, admin):
        refused = client.get(metadata, cookies=session_cookie(user))
        assert refused.status_code == 401, refused.text
        assert refused.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/dicom-web/studies?StudyInstanceUID={series.study_uid}",
                      cookies=session_cookie(admin)).status_code == 401
    assert client.get(metadata, headers=bearer(owner)).status_code == 200
    for path in ("/admin/", "/admin/login/"):
        assert client.get(path).status_code == 404
