"""The front server holds only what it needs (security review, findings 6 and 7), over the real nginx and Orthanc:
its own Orthanc user, which may read frames and bulk data and nothing else, and an access log without query
strings or referers (patient names, record numbers and viewer tokens travel there)."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from django.conf import settings

from tests.conftest import LOG_DIR
from tests.pacs.conftest import bearer, upload

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ACCEPT = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}


def _stored(client, user, series) -> tuple[str, str, str]:
    """Upload through the backend; (series UID, SOP instance UID, the patient's pseudonym in Orthanc)."""
    from medcloud.pacs.models import Study

    response = upload(client, user, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 201, response.text
    item = client.get(f"/dicom-web/studies/{series.study_uid}/metadata", headers=bearer(user)).json()[0]
    pseudonym = Study.objects.select_related("patient").get(study_instance_uid=series.study_uid).patient.pseudonym
    return item["0020000E"]["Value"][0], item["00080018"]["Value"][0], pseudonym


def test_the_front_servers_orthanc_user_reads_frames_and_nothing_else(client, make_user, series_factory, orthanc):
    owner = make_user("researcher")
    series = series_factory(count=1)
    series_uid, sop_uid, pseudonym = _stored(client, owner, series)
    [instance] = [r["ID"] for r in orthanc.lookup(sop_uid) if r.get("Type") == "Instance"]
    front_user = os.environ.get("ORTHANC_FRONT_USERNAME") or "medcloud-front"
    front = httpx.Client(base_url=settings.ORTHANC_URL, auth=(front_user, os.environ["ORTHANC_FRONT_PASSWORD"]),
                         timeout=30)
    study = f"/dicom-web/studies/{series.study_uid}"
    with front:
        # What nginx asks for: one frame through the DICOMweb plugin and through MedCloud's frame route, bulk data.
        assert front.get(f"{study}/series/{series_uid}/instances/{sop_uid}/frames/1", headers=ACCEPT).status_code == 200
        assert front.get(f"/medcloud/frames/{pseudonym}/{series.study_uid}/{series_uid}/{sop_uid}/1").status_code == 200
        assert front.get(f"{study}/series/{series_uid}/instances/{sop_uid}/bulk/7fe00010").status_code == 200

        # Anything else is refused by Orthanc itself (the plugin's request filter): writes, deletes, the index,
        # searches, QIDO and metadata (PHI), the plugin's own maintenance route.
        with open(series.files[0], "rb") as dicom:
            refused = {
                "DELETE instance": front.delete(f"/instances/{instance}"),
                "POST /instances": front.post("/instances", content=dicom.read()),
                "GET /patients": front.get("/patients"),
                "GET /instances": front.get(f"/instances/{instance}/file"),
                "GET /tools/find": front.get("/tools/find"),
                "POST /tools/find": front.post("/tools/find", json={"Level": "Study", "Query": {}}),
                "QIDO studies": front.get("/dicom-web/studies"),
                "QIDO series": front.get(f"{study}/series"),
                "metadata": front.get(f"{study}/metadata"),
                "whole instance": front.get(f"{study}/series/{series_uid}/instances/{sop_uid}"),
                "POST frame": front.post(f"{study}/series/{series_uid}/instances/{sop_uid}/frames/1"),
                "DELETE frame route": front.delete(f"/medcloud/frames/{pseudonym}/{series.study_uid}/{series_uid}/"
                                                   f"{sop_uid}/1"),
                "rekey": front.post("/medcloud/plugin/rekey"),
                "system": front.get("/system"),
                "dot-dot": front.get(f"{study}/series/{series_uid}/instances/{sop_uid}/bulk/../../../../metadata"),
            }
    assert {name: r.status_code for name, r in refused.items()} == {name: 403 for name in refused}
    assert any(r.get("Type") == "Instance" for r in orthanc.lookup(sop_uid))  # the DELETE did nothing

    # The backend's user is not limited, and nginx holds the front server's credentials, never the backend's.
    assert orthanc._http.get("/patients").status_code == 200
    server_conf = (LOG_DIR / "web-front" / "server.conf").read_text()
    backend_basic = base64.b64encode(f"{settings.ORTHANC_USERNAME}:{settings.ORTHANC_PASSWORD}".encode()).decode()
    front_basic = base64.b64encode(f"{front_user}:{os.environ['ORTHANC_FRONT_PASSWORD']}".encode()).decode()
    assert front_basic in server_conf and backend_basic not in server_conf
    assert settings.ORTHANC_PASSWORD not in server_conf


def test_the_access_log_holds_no_query_string_and_no_referer(client, make_user, series_factory):
    owner = make_user("researcher")
    series = series_factory(count=1)
    series_uid, sop_uid, _ = _stored(client, owner, series)
    minted = client.get("/api/pacs/studies/", headers=bearer(owner)).json()["results"][0]
    token = client.post(f"/api/pacs/studies/{minted['id']}/viewer-token/", headers=bearer(owner)).json()["token"]
    assert token.startswith("mcv.")
    viewer_url = f"https://medcloud.test/viewer/?StudyInstanceUIDs={series.study_uid}&token={token}"

    listed = client.get("/api/pacs/studies/", params={"q": "SECRETNAME", "patient_id": "MRN123"},
                        headers={**bearer(owner), "Referer": viewer_url})
    assert listed.status_code == 200
    frame = f"/dicom-web/studies/{series.study_uid}/series/{series_uid}/instances/{sop_uid}/frames/1"
    assert client.get(frame, params={"token": token}, headers={**ACCEPT, "Referer": viewer_url}).status_code == 200
    assert client.get(f"/dicom-web/studies/{series.study_uid}/metadata", params={"token": token},
                      headers={"Referer": viewer_url}).status_code == 200

    log = (LOG_DIR / "web-front-access.log").read_text()
    assert '"GET /api/pacs/studies/ HTTP/1.1" 200' in log and f'"GET {frame} HTTP/1.1" 200' in log
    for secret in ("SECRETNAME", "MRN123", token, token.split(".", 1)[1], "token=", "StudyInstanceUIDs", "?"):
        assert secret not in log, secret
