"""Regression tests of the security review of main (issue "Close the access-control and PHI holes"): another
user's study through the front server's remembered grant (raw vs normalised paths), QIDO with repeated and
aliased keys, and an authorisation sweep generated from the URL configuration and nginx's locations. Every
request goes over real HTTP through nginx, with read grants remembered exactly as in production."""

from __future__ import annotations

import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pacs.conftest import bearer, upload

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
NGINX_TEMPLATE = Path(__file__).resolve().parents[2] / "frontend" / "nginx.conf.template"


@dataclass
class Uploaded:
    study_id: int
    patient_id: int
    study_uid: str
    series_uid: str
    sop_uid: str
    family: str


def _upload(client, user, series) -> Uploaded:
    response = upload(client, user, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 201, response.text
    study = response.json()["studies"][0]
    import pydicom

    sop_uid = pydicom.dcmread(series.files[0], stop_before_pixels=True).SOPInstanceUID
    from medcloud.pacs.models import Study

    patient_id = Study.objects.get(pk=study["id"]).patient_id
    return Uploaded(study["id"], patient_id, series.study_uid, series.series_uid, sop_uid, series.family)


def curl(base_url: str, raw_path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET exactly ``raw_path`` (curl --path-as-is: no client-side normalisation of "..", "%2e%2e", "//")."""
    command = ["curl", "-sk", "--path-as-is", "--http1.1", "-o", "-", "-w", "\n%{http_code}", base_url + raw_path]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout  # noqa: S603
    body, _, status = out.rpartition(b"\n")
    return int(status), body


@pytest.fixture
def attacker_and_victim(client, make_user, series_factory):
    attacker, victim = make_user("researcher"), make_user("researcher")
    mine = _upload(client, attacker, series_factory(count=1))
    theirs = _upload(client, victim, series_factory(count=1))
    return attacker, victim, mine, theirs


def _pixel_paths(study: Uploaded) -> dict[str, str]:
    instance = f"/series/{study.series_uid}/instances/{study.sop_uid}"
    return {"frame": f"{instance}/frames/1", "pixels": f"{instance}/bulk/7fe00010",
            "patient_id": f"{instance}/bulk/00100020", "frames": f"{instance}/frames/1,1"}


def _traversals(mine: Uploaded, theirs: Uploaded, tail: str) -> list[str]:
    g, v = mine.study_uid, theirs.study_uid
    return [
        f"/dicom-web/studies/{g}/../{v}{tail}",
        f"/dicom-web/studies/{g}/%2e%2e/{v}{tail}",
        f"/dicom-web/studies/{g}/%2E%2E/{v}{tail}",
        f"/dicom-web/studies/{g}/.%2e/{v}{tail}",
        f"/dicom-web/studies/{g}%2f..%2f{v}{tail}",
        f"/dicom-web/studies/{g}/..%2f{v}{tail}",
        f"/dicom-web//studies/{g}/../{v}{tail}",
        f"/dicom-web/studies//{v}{tail}",
        f"/dicom-web/studies/{v}/{tail.lstrip('/').replace('/', '//', 1)}",
        f"/dicom-web/studies/{g}/series/../../{v}{tail}",
    ]


def test_remembered_grant_never_opens_another_study(client, live_https, attacker_and_victim) -> None:
    """Finding 1 (critical): after a legitimate read primed the grant caches (the backend's and nginx's), a
    path whose raw form names the attacker's study while its normalised form names the victim's is refused."""
    from medcloud.audit.models import AuditEvent
    from medcloud.pacs.auth import issue_viewer_token

    attacker, _victim, mine, theirs = attacker_and_victim
    own = _pixel_paths(mine)
    viewer_token = issue_viewer_token(attacker, mine.study_uid)
    credentials = {"jwt": bearer(attacker), "viewer": {"Authorization": f"Bearer {viewer_token}"}}
    for name, headers in credentials.items():
        for kind in ("frame", "pixels"):
            status, _ = curl(live_https, f"/dicom-web/studies/{mine.study_uid}{own[kind]}",
                             {**headers, "Accept": FRAME_ACCEPT if kind == "frame" else "*/*"})
            assert status == 200, (name, kind)  # the grant is primed for the attacker's own study
        for kind, tail in _pixel_paths(theirs).items():
            for path in _traversals(mine, theirs, tail):
                for accept in (FRAME_ACCEPT, "*/*"):
                    status, body = curl(live_https, path, {**headers, "Accept": accept})
                    assert status in (400, 401, 403, 404), (name, kind, path, status, body[:200])
            # the token in the URL (how the viewer's first page carries it) changes nothing
            status, _ = curl(live_https, f"/dicom-web/studies/{mine.study_uid}/../{theirs.study_uid}{tail}"
                             f"?token={viewer_token}")
            assert status in (400, 401, 403, 404), (kind, status)
    assert not AuditEvent.objects.filter(target_type="study", target_id=str(theirs.study_id),
                                         actor=attacker).exists()


def test_qido_refuses_repeated_and_aliased_keys_and_returns_only_the_readable_study(client, attacker_and_victim):
    """Finding 2 (high): Orthanc treats a keyword and its tag as one key (the last wins; empty matches all)."""
    attacker, _victim, mine, theirs = attacker_and_victim
    headers = bearer(attacker)
    g, v = mine.study_uid, theirs.study_uid

    def get(path: str, params: list[tuple[str, str]]):
        return client.get(path, params=params, headers=headers)

    refused = [
        ("/dicom-web/series", [("StudyInstanceUID", g), ("0020000D", "")]),
        ("/dicom-web/series", [("0020000D", g), ("StudyInstanceUID", "")]),
        ("/dicom-web/instances", [("StudyInstanceUID", g), ("StudyInstanceUID", v)]),
        ("/dicom-web/instances", [("StudyInstanceUID", g), ("0020000d", "")]),
        ("/dicom-web/series", [("StudyInstanceUID", g), ("studyinstanceuid", "")]),
        ("/dicom-web/series", [("StudyInstanceUID", g), ("limit", "1"), ("limit", "2")]),
        (f"/dicom-web/studies/{g}/series", [("0020000D", "")]),
        (f"/dicom-web/studies/{g}/instances", [("StudyInstanceUID", v)]),
        (f"/dicom-web/studies/{g}/series/{mine.series_uid}/instances", [("0020000D", "")]),
    ]
    for path, params in refused:
        response = get(path, params)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["error"]["code"] == "bad_query"
    for path, params in [("/dicom-web/series", [("StudyInstanceUID", v)]),
                         ("/dicom-web/instances", [("0020000D", v)])]:
        assert get(path, params).status_code == 404

    # what is answered belongs to the readable study only, whatever else is asked
    for path, params in [
        ("/dicom-web/series", [("StudyInstanceUID", g)]),
        ("/dicom-web/instances", [("0020000D", g), ("includefield", "00080018,0020000E")]),
        (f"/dicom-web/studies/{g}/instances", [("includefield", "all")]),
        ("/dicom-web/studies", [("0020000D", "")]),
        ("/dicom-web/studies", []),
    ]:
        response = get(path, params)
        assert response.status_code == 200, (path, response.text)
        results = response.json()
        assert results and all(r["0020000D"]["Value"] == [g] for r in results), (path, params)
        assert v not in response.text and theirs.sop_uid not in response.text


def _api_routes() -> list[str]:
    """Every API route of the URL configuration, with its converters as placeholders."""
    from django.urls import URLPattern, URLResolver, get_resolver

    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern):
                routes.append(text)

    walk(get_resolver().url_patterns, "/")
    return [r for r in routes if r.startswith("/api/")]


def _nginx_pixel_locations() -> list[re.Pattern[str]]:
    text = NGINX_TEMPLATE.read_text()
    return [re.compile(m.replace("(?<", "(?P<")) for m in re.findall(r'location ~ "(\^/dicom-web/[^"]+)"', text)]


def test_authorisation_sweep_finds_nothing_readable(client, live_https, attacker_and_victim) -> None:
    """For every API read route (from the URL configuration) and every DICOMweb read path (the proxy's and
    nginx's pixel locations), the victim's objects through each credential type, plain and with traversal,
    doubled slashes, repeated and aliased keys, before and after a legitimate read primed the grant caches."""
    from django.contrib.sessions.backends.db import SessionStore

    from medcloud.accounts.models import ApiToken
    from medcloud.accounts.selectors import token_hash
    from medcloud.pacs.auth import issue_viewer_token
    from medcloud.sharing.models import StudyShare

    attacker, victim, mine, theirs = attacker_and_victim
    raw_token = f"mct_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    ApiToken.objects.create(user=attacker, name="sweep", prefix=raw_token[4:12], token_hash=token_hash(raw_token))
    victim_token = f"mct_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    victim_api_token = ApiToken.objects.create(user=victim, name="theirs", prefix=victim_token[4:12],
                                               token_hash=token_hash(victim_token))
    session = SessionStore()
    session["_auth_user_id"], session["_auth_user_backend"] = str(attacker.pk), \
        "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = attacker.get_session_auth_hash()
    session.create()
    from django.conf import settings

    credentials = {
        "jwt": bearer(attacker),
        "api_token": {"Authorization": f"Bearer {raw_token}"},
        "viewer_token": {"Authorization": f"Bearer {issue_viewer_token(attacker, mine.study_uid)}"},
        "session": {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"},
    }
    share = StudyShare.objects.filter(study_id=theirs.study_id).first()
    ids = {"id": victim.pk, "study_id": theirs.study_id, "patient_id": theirs.patient_id,
           "share_id": share.pk if share else 999999,
           "token_id": victim_api_token.pk, "user_id": victim.pk, "group_id": 999999, "certificate_id": 999999}
    victim_marks = [theirs.study_uid, theirs.family, theirs.sop_uid]

    # (path, names one of the victim's objects): a 2xx on a victim path is a leak; any body that names the
    # victim's study, instance or patient is a leak wherever it comes from
    probes: list[tuple[str, bool]] = []
    for route in _api_routes():
        specific = "<int:" in route or bool(re.search(r"\(\?P<(?!provider>)", route))
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids.get(m.group(1), 999999)), route)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(ids.get(m.group(1), "github")), path)
        path = re.sub(r"<\w+:(\w+)>|<(\w+)>", "x", path).replace("^", "").replace("$", "").replace("\\.", ".")
        probes.append((path, specific))
    assert (f"/api/pacs/studies/{theirs.study_id}/", True) in probes
    probes += [(f"/api/pacs/studies/?q={theirs.family}", False), (f"/api/pacs/patients/?q={theirs.family}", False)]

    dicomweb = [f"/dicom-web/studies/{theirs.study_uid}{suffix}" for suffix in (
        "", "/metadata", "/series", "/instances", f"/series/{theirs.series_uid}",
        f"/series/{theirs.series_uid}/metadata",
        f"/series/{theirs.series_uid}/instances", f"/series/{theirs.series_uid}/instances/{theirs.sop_uid}",
        f"/series/{theirs.series_uid}/instances/{theirs.sop_uid}/metadata",
        f"/series/{theirs.series_uid}/instances/{theirs.sop_uid}/rendered",
        f"/series/{theirs.series_uid}/thumbnail", *_pixel_paths(theirs).values())]
    dicomweb += [f"/dicom-web/series?StudyInstanceUID={theirs.study_uid}",
                 f"/dicom-web/instances?0020000D={theirs.study_uid}",
                 f"/dicom-web/series?StudyInstanceUID={mine.study_uid}&0020000D={theirs.study_uid}",
                 f"/dicom-web/instances?StudyInstanceUID={mine.study_uid}&StudyInstanceUID={theirs.study_uid}",
                 f"/dicom-web/series?StudyInstanceUID={mine.study_uid}&0020000D="]
    for tail in _pixel_paths(theirs).values():
        dicomweb += _traversals(mine, theirs, tail)
    dicomweb += _traversals(mine, theirs, "/metadata")
    probes += [(path, True) for path in dicomweb]
    probes += [(f"/dicom-web/studies?StudyInstanceUID={theirs.study_uid}", False),
               (f"/dicom-web/studies?0020000D={mine.study_uid}&StudyInstanceUID=", False)]
    victim_frame = f"/dicom-web/studies/{theirs.study_uid}{_pixel_paths(theirs)['frame']}"
    assert any(p.match(victim_frame) for p in _nginx_pixel_locations())  # the sweep covers nginx's fast path

    leaks = []
    for primed in (False, True):
        if primed:  # a legitimate read of the attacker's own study, with each credential
            for headers in credentials.values():
                curl(live_https, f"/dicom-web/studies/{mine.study_uid}{_pixel_paths(mine)['frame']}",
                     {**headers, "Accept": FRAME_ACCEPT})
                curl(live_https, f"/dicom-web/studies/{mine.study_uid}/metadata", headers)
        for name, headers in credentials.items():
            for path, specific in probes:
                status, body = curl(live_https, path, {**headers, "Accept": "*/*"})
                if specific and status < 300:
                    leaks.append((primed, name, path, status))
                if any(m.encode() in body for m in victim_marks):
                    leaks.append((primed, name, path, status, "names the victim's study"))
    assert not leaks, leaks
