"""The front server's fast path for pixel data (ADR 0006), over real HTTP/2 + TLS through nginx, against the
real Orthanc: frames and bulk data stream from Orthanc only after the backend's auth_request said yes, and every
refusal or fault is answered by the backend's proxy in the one error shape."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LOG_DIR
from tests.pacs.conftest import bearer, upload
from tests.support.servers import free_port, https_server, server_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ACCEPT = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}


def _first_instance(client, user, series) -> tuple[str, str]:
    response = upload(client, user, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 201, response.text
    metadata = client.get(f"/dicom-web/studies/{series.study_uid}/metadata", headers=bearer(user))
    assert metadata.status_code == 200, metadata.text
    item = metadata.json()[0]
    return item["0020000E"]["Value"][0], item["00080018"]["Value"][0]


def _frame(study_uid: str, series_uid: str, sop_uid: str) -> str:
    return f"/dicom-web/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/1"


def test_frames_stream_from_orthanc_only_for_authorised_callers(client_h2, make_user, series_factory, orthanc):
    owner, stranger = make_user("researcher"), make_user("researcher")
    mine, theirs = series_factory(count=1), series_factory(count=1)
    series_uid, sop_uid = _first_instance(client_h2, owner, mine)
    other_series_uid, other_sop_uid = _first_instance(client_h2, stranger, theirs)
    path = _frame(mine.study_uid, series_uid, sop_uid)

    # The owner gets Orthanc's frame byte for byte, over HTTP/2, with the proxy's response headers.
    proxied = client_h2.get(path, headers={**bearer(owner), **ACCEPT})
    direct = orthanc._http.get(path, headers=ACCEPT)
    assert proxied.http_version == "HTTP/2" and proxied.status_code == direct.status_code == 200
    assert proxied.content.split(b"\r\n\r\n", 1)[1][:65536] == direct.content.split(b"\r\n\r\n", 1)[1][:65536]
    assert proxied.headers["cache-control"] == "no-store" and proxied.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in proxied.headers

    # Refusals come from the backend's proxy, in the one error shape: no credential, a wrong one, a stranger.
    anonymous = client_h2.get(path, headers=ACCEPT)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    forged = client_h2.get(path, headers={"Authorization": "Bearer not-a-token", **ACCEPT})
    assert forged.status_code == 401 and forged.json()["error"]["status"] == 401
    assert client_h2.get(path, headers={**bearer(stranger), **ACCEPT}).status_code == 404
    assert client_h2.get(_frame(mine.study_uid, series_uid, sop_uid).replace("frames/1", "bulk/7fe00010"),
                         headers={**bearer(stranger), **ACCEPT}).status_code == 404

    # A study the caller may read, with someone else's series and instance under it: Orthanc checks the
    # hierarchy, so the authorised study UID cannot be used as a key to another study's pixels.
    mixed = client_h2.get(_frame(mine.study_uid, other_series_uid, other_sop_uid), headers={**bearer(owner), **ACCEPT})
    assert mixed.status_code == 404 and mixed.json()["error"]["code"] in ("upstream_error", "not_found")

    # A viewer token scoped to the study reads its frames (as ?token= and as OHIF's Bearer) and nothing else.
    minted = client_h2.get("/api/pacs/studies/", headers=bearer(owner)).json()["results"][0]
    token = client_h2.post(f"/api/pacs/studies/{minted['id']}/viewer-token/", headers=bearer(owner)).json()["token"]
    assert client_h2.get(path, params={"token": token}, headers=ACCEPT).status_code == 200
    assert client_h2.get(path, headers={"Authorization": f"Bearer {token}", **ACCEPT}).status_code == 200
    assert client_h2.get(_frame(theirs.study_uid, other_series_uid, other_sop_uid), params={"token": token},
                         headers=ACCEPT).status_code == 404

    # Writing to a frame is not a thing; the authorisation endpoint is not reachable from outside.
    assert client_h2.post(path, headers=bearer(owner)).status_code == 405
    assert client_h2.get("/_medcloud/dicomweb-authz", headers=bearer(owner)).status_code == 404


def test_authz_endpoint_refuses_what_it_does_not_know(client, make_user, series_factory):
    """Asked as nginx asks it (the backend's own handler), it only ever says yes for a pixel path of a study the
    caller may read, served exactly as it was sent; from outside (through nginx) it does not exist."""
    from django.test import Client as DjangoClient

    owner = make_user("researcher")
    series = series_factory(count=1)
    series_uid, sop_uid = _first_instance(client, owner, series)
    frame = _frame(series.study_uid, series_uid, sop_uid)
    backend = DjangoClient(SERVER_NAME="localhost")

    def authz(raw: str, headers: dict[str, str] | None = None, method: str = "GET", served: str | None = None):
        meta = {"HTTP_X_ORIGINAL_URI": raw, "HTTP_X_SERVED_URI": raw.split("?")[0] if served is None else served}
        meta.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()})
        return backend.generic(method, "/dicom-web-authz", **meta)

    def ask(raw: str, headers: dict[str, str] | None = None, method: str = "GET", served: str | None = None) -> int:
        return authz(raw, headers, method, served).status_code

    assert ask(frame, bearer(owner)) == 204
    # The grant names the patient's pseudonym (Orthanc's PatientID) for the frame route (ADR 0008), nothing else.
    from medcloud.pacs.models import Study

    granted = authz(frame, bearer(owner))
    pseudonym = Study.objects.select_related("patient").get(study_instance_uid=series.study_uid).patient.pseudonym
    assert granted.headers["x-medcloud-orthanc-patient"] == pseudonym and granted.content == b""
    assert "x-medcloud-orthanc-patient" not in authz(frame).headers
    assert ask(frame) == 403
    assert ask(frame, bearer(owner), method="POST") == 403
    assert ask(f"/dicom-web/studies/{series.study_uid}/metadata", bearer(owner)) == 403  # PHI: never the fast path
    assert ask(f"/dicom-web/studies/{series.study_uid}/series/{series_uid}/instances/{sop_uid}", bearer(owner)) == 403
    assert ask("/dicom-web/studies/../../instances/x/frames/1", bearer(owner)) == 403
    assert ask("/api/pacs/studies/", bearer(owner)) == 403
    # authorised on the path that is served, and only when the client sent exactly that path
    assert ask(frame, bearer(owner), served="") == 403
    assert ask(frame.replace("/series/", "/series/../series/", 1), bearer(owner), served=frame) == 403
    assert ask(frame, bearer(owner), served=frame.replace(series.study_uid, "1.2.3")) == 403
    # two credentials in one request: refused, whichever layer looks
    assert ask(frame + "?token=mcv.x", bearer(owner)) == 403
    # nginx does not route it from outside: it would tell anyone whether a credential reads a study
    for method in ("GET", "POST"):
        outside = client.request(method, "/dicom-web-authz", headers={"X-Original-URI": frame, **bearer(owner)})
        assert outside.status_code == 404 and "x-medcloud-orthanc-patient" not in outside.headers


def test_orthanc_down_frames_get_the_backends_503(client, test_database_name, make_user, series_factory):
    owner = make_user("researcher")
    series = series_factory(count=1)
    series_uid, sop_uid = _first_instance(client, owner, series)
    env = server_env(test_database_name, ORTHANC_URL=f"http://127.0.0.1:{free_port()}")
    with https_server(env, LOG_DIR / "web-front-orthanc-down.log") as base_url, \
            httpx.Client(base_url=base_url, verify=False, timeout=60) as down:
        response = down.get(_frame(series.study_uid, series_uid, sop_uid), headers={**bearer(owner), **ACCEPT})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "upstream_unavailable"



# --- single frames through MedCloud's Orthanc frame route (ADR 0008) --------------------------------------------

ORTHANC_TYPE = 'multipart/related; type="application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"; boundary='


def _from_route(response: httpx.Response) -> bool:
    """Whether MedCloud's frame route answered: its body is the DICOMweb plugin's, but for the boundary
    (32 hex digits; the DICOMweb plugin's has dashes)."""
    boundary = response.headers["content-type"].split("boundary=", 1)[1]
    return len(boundary) == 32 and all(c in "0123456789abcdef" for c in boundary)


def _parts(response: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """(headers, payload) of each part of a multipart/related response, parsed strictly."""
    boundary = response.headers["content-type"].split("boundary=", 1)[1].split(";")[0].strip('"').encode()
    body = response.content
    assert body.startswith(b"--" + boundary + b"\r\n") and body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = []
    for chunk in body[len(boundary) + 4: -(len(boundary) + 8)].split(b"\r\n--" + boundary + b"\r\n"):
        head, payload = chunk.split(b"\r\n\r\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append(({k.lower(): v for k, v in headers.items()}, payload))
    return parts


def test_single_frames_come_from_orthancs_frame_route(client_h2, test_database_name, make_user, series_factory,
                                                      orthanc):
    """What a viewer asks for, one frame as stored, is read through the plugin's route: the pixel bytes of the
    uploaded file, exactly; the same as the DICOMweb plugin's; and every fault still answered by the backend."""
    import pydicom

    owner = make_user("researcher")
    series = series_factory(count=3)
    response = upload(client_h2, owner, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 201, response.text
    pixels = {str(ds.SOPInstanceUID): ds.PixelData for ds in map(pydicom.dcmread, series.files)}
    metadata = client_h2.get(f"/dicom-web/studies/{series.study_uid}/metadata", headers=bearer(owner)).json()
    assert len(metadata) == 3
    for item in metadata:
        series_uid, sop_uid = item["0020000E"]["Value"][0], item["00080018"]["Value"][0]
        path = _frame(series.study_uid, series_uid, sop_uid)
        for accept in (ACCEPT["Accept"], 'multipart/related; type="application/octet-stream"; '
                       "transfer-syntax=1.2.840.10008.1.2.1", "multipart/related; type=application/octet-stream"):
            proxied = client_h2.get(path, headers={**bearer(owner), "Accept": accept})
            assert proxied.status_code == 200, proxied.text
            assert _from_route(proxied) and proxied.headers["content-type"].startswith(ORTHANC_TYPE)
            [(headers, payload)] = _parts(proxied)
            assert headers["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
            assert headers["content-location"].endswith(path) and headers["content-location"].startswith("https://")
            assert headers["content-length"] == str(len(payload)) and headers["mime-version"] == "1.0"
            assert payload == pixels[sop_uid]
            assert proxied.headers["cache-control"] == "no-store" and "set-cookie" not in proxied.headers
        [(_, direct)] = _parts(orthanc._http.get(path, headers=ACCEPT))
        assert direct == pixels[sop_uid]

    # Frame numbers the instance does not have: Orthanc's DICOMweb plugin, then the backend, name the error.
    for wrong in ("frames/2", "frames/0"):
        answer = client_h2.get(path.replace("frames/1", wrong), headers={**bearer(owner), **ACCEPT})
        assert 400 <= answer.status_code < 500 and answer.json()["error"]["status"] == answer.status_code
    # Several frames at once, and an Accept the route does not answer: the DICOMweb plugin, as before.
    listed = client_h2.get(path.replace("frames/1", "frames/1,1"), headers={**bearer(owner), **ACCEPT})
    assert listed.status_code == 200 and not _from_route(listed)
    assert [payload for _, payload in _parts(listed)] == [pixels[sop_uid]] * 2

    # MEDCLOUD_RAW_FRAMES=0: every frame from the DICOMweb plugin; the same bytes.
    env = server_env(test_database_name, MEDCLOUD_RAW_FRAMES="0")
    with https_server(env, LOG_DIR / "web-front-no-raw-frames.log") as base_url, \
            httpx.Client(base_url=base_url, verify=False, timeout=60) as plain:
        relayed = plain.get(path, headers={**bearer(owner), **ACCEPT})
    assert relayed.status_code == 200 and not _from_route(relayed)
    assert [payload for _, payload in _parts(relayed)] == [pixels[sop_uid]]


def test_compressed_frames_fall_back_to_the_dicomweb_plugin(client_h2, make_user, series_factory, orthanc):
    """An instance stored compressed (RLE): the route declines, and the DICOMweb plugin answers under the same
    grant, as stored for transfer-syntax=* and decompressed for Explicit VR Little Endian."""
    import numpy as np
    import pydicom
    from pydicom.uid import RLELossless

    owner, stranger = make_user("researcher"), make_user("researcher")
    series = series_factory(count=1)
    ds = pydicom.dcmread(series.files[0])
    original = ds.pixel_array.copy()
    ds.compress(RLELossless)
    ds.save_as(series.files[0])
    response = upload(client_h2, owner, [(series.files[0].name, series.files[0].read_bytes())])
    assert response.status_code == 201, response.text
    path = _frame(series.study_uid, series.series_uid, str(ds.SOPInstanceUID))

    as_stored = client_h2.get(path, headers={**bearer(owner), **ACCEPT})
    assert as_stored.status_code == 200, as_stored.text
    assert not _from_route(as_stored)
    [(headers, payload)] = _parts(as_stored)
    assert "1.2.840.10008.1.2.5" in headers["content-type"]
    assert payload == _parts(orthanc._http.get(path, headers=ACCEPT))[0][1]

    explicit = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'}
    decoded = client_h2.get(path, headers={**bearer(owner), **explicit})
    assert decoded.status_code == 200, decoded.text
    [(_, payload)] = _parts(decoded)
    assert np.array_equal(np.frombuffer(payload, dtype=original.dtype).reshape(original.shape), original)

    # The fall-back is reached only under a grant: a stranger still gets the backend's 404.
    assert client_h2.get(path, headers={**bearer(stranger), **ACCEPT}).status_code == 404


def test_frame_route_numbers_frames_of_a_multiframe_instance_from_one(client_h2, make_user, series_factory):
    """WADO-RS counts frames from 1, Orthanc's frame API from 0: frame n of a three-frame instance is the
    n-th slice that went into it, through the route; frame 4 does not exist."""
    import pydicom

    owner = make_user("researcher")
    series = series_factory(count=3)
    slices = [pydicom.dcmread(p).PixelData for p in series.files]
    ds = pydicom.dcmread(series.files[0])
    ds.NumberOfFrames = 3
    ds.PixelData = b"".join(slices)
    ds.save_as(series.files[0])
    response = upload(client_h2, owner, [(series.files[0].name, series.files[0].read_bytes())])
    assert response.status_code == 201, response.text
    path = _frame(series.study_uid, series.series_uid, str(ds.SOPInstanceUID))
    for number, source in enumerate(slices, start=1):
        answer = client_h2.get(path.replace("frames/1", f"frames/{number}"), headers={**bearer(owner), **ACCEPT})
        assert answer.status_code == 200 and _from_route(answer)
        assert _parts(answer)[0][1] == source
    beyond = client_h2.get(path.replace("frames/1", "frames/4"), headers={**bearer(owner), **ACCEPT})
    assert 400 <= beyond.status_code < 500 and beyond.json()["error"]["status"] == beyond.status_code
