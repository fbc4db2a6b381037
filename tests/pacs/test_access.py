"""Who sees which study, on every API and DICOMweb path, over real HTTP against the real Orthanc:
invisible until shared, visible after, invisible again after revoke; viewer tokens read one study only."""

from __future__ import annotations

import pytest

from tests.pacs.conftest import bearer, stow_body, upload, wait_out_read_grants

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _upload(client, user, series):
    response = upload(client, user, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 201, response.text
    return response.json()["studies"][0]


def _sop_uids(series):
    import pydicom

    return [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in series.files]


def _dicomweb_paths(study_uid: str, series_uid: str, sop_uid: str) -> list[str]:
    base = f"/dicom-web/studies/{study_uid}"
    return [
        f"{base}/series",
        f"{base}/instances",
        f"/dicom-web/series?StudyInstanceUID={study_uid}",
        f"/dicom-web/instances?StudyInstanceUID={study_uid}",
        f"{base}/metadata",
        f"{base}/series/{series_uid}/metadata",
        f"{base}/series/{series_uid}/instances/{sop_uid}/metadata",
        f"{base}/series/{series_uid}/instances/{sop_uid}/frames/1",
        f"{base}/series/{series_uid}/instances/{sop_uid}",
        f"{base}/series/{series_uid}/instances/{sop_uid}/rendered",
    ]


def _sees(client, user, study: dict, series, sop_uid: str) -> dict[str, bool]:
    """Which paths answer the study's data to `user` (200 with content), path by path."""
    headers = bearer(user)
    seen = {}
    listing = client.get("/api/pacs/studies/", headers=headers)
    assert listing.status_code == 200, listing.text
    seen["api list"] = any(s["id"] == study["id"] for s in listing.json()["results"])
    seen["api detail"] = client.get(f"/api/pacs/studies/{study['id']}/", headers=headers).status_code == 200
    minted = client.post(f"/api/pacs/studies/{study['id']}/viewer-token/", headers=headers)
    seen["api token"] = minted.status_code == 201
    qido = client.get("/dicom-web/studies", headers=headers)
    assert qido.status_code == 200, qido.text
    seen["qido studies"] = any(r["0020000D"]["Value"][0] == study["study_instance_uid"] for r in qido.json())
    named = client.get(f"/dicom-web/studies?StudyInstanceUID={study['study_instance_uid']}", headers=headers)
    seen["qido studies by uid"] = named.status_code == 200 and len(named.json()) == 1
    for path in _dicomweb_paths(study["study_instance_uid"], series.series_uid, sop_uid):
        response = client.get(path, headers={**headers, "Accept": "*/*"} if "frames" in path else headers)
        assert response.status_code in (200, 404), (path, response.status_code, response.text[:200])
        seen[path.split("?")[0].replace(study["study_instance_uid"], "S")] = response.status_code == 200
    return seen


def test_study_invisible_until_shared_visible_after_and_invisible_after_revoke(client, make_user, series_factory):
    from medcloud.audit.models import AuditEvent

    owner, other, admin = make_user("researcher"), make_user("researcher"), make_user("admin")
    series = series_factory(count=3)
    study = _upload(client, owner, series)
    sop_uid = _sop_uids(series)[0]

    assert all(_sees(client, owner, study, series, sop_uid).values())
    assert all(_sees(client, admin, study, series, sop_uid).values())
    before = _sees(client, other, study, series, sop_uid)
    assert not any(before.values()), before

    # A group with the other user in it; the study shared with the group (read only).
    group = client.post("/api/groups/", headers=bearer(owner), json={"name": "Neuro research"})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    invited = client.post(f"/api/groups/{group_id}/members/", headers=bearer(owner), json={"email": other.email})
    assert invited.status_code == 201, invited.text
    share = client.post(f"/api/pacs/studies/{study['id']}/shares/", headers=bearer(owner), json={"group": group_id})
    assert share.status_code == 201, share.text
    during = _sees(client, other, study, series, sop_uid)
    assert all(during.values()), during
    detail = client.get(f"/api/pacs/studies/{study['id']}/", headers=bearer(other)).json()
    assert detail["access"] == "read"

    # Read access does not allow adding to the study, nor sharing it further.
    extra = series_factory(count=1, study_uid=series.study_uid)
    body, content_type = stow_body(extra.files)
    refused = client.post(f"/dicom-web/studies/{series.study_uid}", content=body,
                          headers={**bearer(other), "Content-Type": content_type})
    assert refused.status_code == 403, refused.text
    assert client.post(f"/api/pacs/studies/{study['id']}/shares/", headers=bearer(other),
                       json={"user_email": admin.email}).status_code == 403

    # Revoked: invisible again, everywhere.
    revoked = client.delete(f"/api/pacs/studies/{study['id']}/shares/{share.json()['id']}/", headers=bearer(owner))
    assert revoked.status_code == 204
    wait_out_read_grants()  # a granted read is remembered for a few seconds (as in production), never longer
    after = _sees(client, other, study, series, sop_uid)
    assert not any(after.values()), after

    # A direct read-write share lets the other user add an instance over STOW-RS.
    direct = client.post(f"/api/pacs/studies/{study['id']}/shares/", headers=bearer(owner),
                         json={"user_email": other.email, "access": "write"})
    assert direct.status_code == 201, direct.text
    stored = client.post(f"/dicom-web/studies/{series.study_uid}", content=body,
                         headers={**bearer(other), "Content-Type": content_type})
    assert stored.status_code == 200, stored.text
    assert client.get(f"/api/pacs/studies/{study['id']}/", headers=bearer(owner)).json()["instance_count"] == 4

    # Leaving / removal from a group takes the group's shares away; the audit log saw all of it.
    actions = set(AuditEvent.objects.filter(target_id__in=[str(study["id"]), str(group_id)])
                  .values_list("action", flat=True))
    assert {"study.upload", "study.share", "study.unshare", "group.create", "group.invite", "dicomweb.read",
            "study.view"} <= actions


def test_viewer_token_reads_its_study_only(client, make_user, series_factory):
    owner = make_user("health_professional", clinical_role="radiologist")
    first, second = series_factory(count=2), series_factory(count=2)
    study1 = _upload(client, owner, first)
    _upload(client, owner, second)
    minted = client.post(f"/api/pacs/studies/{study1['id']}/viewer-token/", headers=bearer(owner))
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    assert minted.json()["viewer_url"].endswith(f"token={token}")

    own = f"/dicom-web/studies/{first.study_uid}/metadata"
    other = f"/dicom-web/studies/{second.study_uid}/metadata"
    assert client.get(own, params={"token": token}).status_code == 200
    assert client.get(own, headers={"Authorization": f"Bearer {token}"}).status_code == 200  # how OHIF sends it
    assert client.get(other, params={"token": token}).status_code == 404
    assert client.get(other, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    listing = client.get("/dicom-web/studies", params={"token": token})
    assert [r["0020000D"]["Value"][0] for r in listing.json()] == [first.study_uid]
    other_series = client.get("/dicom-web/series", params={"StudyInstanceUID": second.study_uid, "token": token})
    assert other_series.status_code == 404
    # Not a credential for the REST API, not for storing, and not when tampered with.
    assert client.get("/api/pacs/studies/", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    body, content_type = stow_body(first.files[:1])
    assert client.post("/dicom-web/studies", content=body, params={"token": token},
                       headers={"Content-Type": content_type}).status_code == 403
    assert client.get(own, params={"token": token[:-2] + "xx"}).status_code == 401
    # A full JWT is refused in the URL (URLs end up in logs); only viewer tokens go there.
    jwt = bearer(owner)["Authorization"].split()[1]
    assert client.get(own, params={"token": jwt}).status_code == 401


def test_expired_viewer_token_is_refused(make_user, settings):
    import time

    from medcloud.pacs.auth import BadToken, issue_viewer_token, read_viewer_token

    user = make_user("researcher")
    token = issue_viewer_token(user, "1.2.3")
    assert read_viewer_token(token)[1] == "1.2.3"
    settings.PACS_VIEWER_TOKEN_SECONDS = 1
    time.sleep(2.1)
    with pytest.raises(BadToken, match="expired"):
        read_viewer_token(token)


def test_no_credentials_and_pending_professionals_get_nothing(client, make_user, series_factory):
    owner = make_user("researcher")
    pending = make_user("health_professional", verified=False, clinical_role="registrar")
    series = series_factory(count=1)
    study = _upload(client, owner, series)
    uid = study["study_instance_uid"]
    for path in ("/api/pacs/studies/", f"/api/pacs/studies/{study['id']}/", "/api/pacs/patients/",
                 "/dicom-web/studies", f"/dicom-web/studies/{uid}/metadata"):
        anonymous = client.get(path)
        assert anonymous.status_code == 401, (path, anonymous.status_code)
        assert anonymous.json()["error"]["status"] == 401
        refused = client.get(path, headers=bearer(pending))
        assert refused.status_code == 403, (path, refused.status_code)
        assert "certificate" in refused.json()["error"]["message"]
    nonsense = client.get(f"/dicom-web/studies/{uid}/metadata", headers={"Authorization": "Bearer nonsense"})
    assert nonsense.status_code == 401
