"""The DICOMweb proxy's behaviour against the real Orthanc 1.10 / DICOMweb 1.7: split includefield, public
BulkDataURIs (Forwarded header), byte-identical frames and bulk data, HTTP/2, study list filters; plus the
streaming parsers it relies on, fed in random chunk sizes."""

from __future__ import annotations

import json
import random

import pytest

from tests.pacs.conftest import bearer, upload

pytestmark = [pytest.mark.services]


@pytest.mark.django_db(transaction=True)
def test_proxy_quirks_frames_and_bulk_data(client, client_h2, make_user, series_factory, orthanc, live_https):
    user = make_user("researcher")
    series = series_factory(count=3)
    response = upload(client, user, [(p.name, p.read_bytes()) for p in series.files])
    assert response.status_code == 201, response.text
    headers = bearer(user)
    base = f"/dicom-web/studies/{series.study_uid}"

    # includefield as OHIF sends it (comma-separated) is honoured.
    instances = client.get(f"{base}/instances", params={"includefield": "00280010,00280011"}, headers=headers)
    assert instances.status_code == 200, instances.text
    assert all(i["00280010"]["Value"] == [256] and i["00280011"]["Value"] == [256] for i in instances.json())

    # BulkDataURIs point at this server (the Forwarded header), and they work through the proxy.
    metadata = client_h2.get(f"{base}/metadata", headers=headers)
    assert metadata.http_version == "HTTP/2" and metadata.status_code == 200
    item = metadata.json()[0]
    pixel_uri = item["7FE00010"]["BulkDataURI"]
    assert pixel_uri.startswith(f"{live_https}/dicom-web/studies/{series.study_uid}/"), pixel_uri
    bulk = client.get(pixel_uri, headers={**headers, "Accept": "multipart/related; type=\"application/octet-stream\""})
    assert bulk.status_code == 200 and len(bulk.content) >= 256 * 256 * 2

    # Frames are passed through byte for byte.
    series_uid = item["0020000E"]["Value"][0]
    sop_uid = item["00080018"]["Value"][0]
    frame_path = f"{base}/series/{series_uid}/instances/{sop_uid}/frames/1"
    accept = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
    proxied = client.get(frame_path, headers={**headers, **accept})
    direct = orthanc._http.get(frame_path, headers=accept)
    assert proxied.status_code == direct.status_code == 200
    assert proxied.headers["content-type"].split("boundary=")[0] == direct.headers["content-type"].split("boundary=")[0]
    assert _parts(proxied) == _parts(direct) and len(_parts(direct)[0]) == 256 * 256 * 2

    # Rendered and thumbnails too; a bad path is a 404 in the one error shape; QIDO needs the study.
    assert client.get(f"{base}/series/{series_uid}/instances/{sop_uid}/rendered", headers=headers).status_code == 200
    assert client.get(f"{base}/../../system", headers=headers).status_code in (400, 404)
    assert client.get("/dicom-web/tools/lookup", headers=headers).json()["error"]["code"] == "not_found"
    assert client.get("/dicom-web/series", headers=headers).status_code == 400
    assert client.delete(base, headers=headers).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_study_list_filters_search_and_paging(client, make_user, series_factory):
    user = make_user("researcher")
    first = series_factory(count=1, family="Lefebvre", given="Amelie", patient_id="MRN-A1")
    second = series_factory(count=1, family="Okafor", given="Chidi", patient_id="MRN-B2")
    for series in (first, second):
        assert upload(client, user, [(p.name, p.read_bytes()) for p in series.files]).status_code == 201
    headers = bearer(user)

    def uids(**params):
        response = client.get("/api/pacs/studies/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {s["study_instance_uid"] for s in response.json()["results"]}

    assert uids() == {first.study_uid, second.study_uid}
    assert uids(q="lefebvre") == {first.study_uid}
    assert uids(q="Lef") == {first.study_uid}  # a prefix of a name token
    assert uids(q="chidi okafor") == {second.study_uid}
    assert uids(q="ok ch") == {second.study_uid}
    assert uids(q="zz") == set()
    assert uids(patient_id="MRN-B2") == {second.study_uid}
    assert uids(patient_id="MRN-B") == set()  # record numbers match exactly
    assert uids(modality="MR") == {first.study_uid, second.study_uid}
    assert uids(modality="CT") == set()
    assert uids(date_from="2013-03-08", date_to="2013-03-08") == {first.study_uid, second.study_uid}
    assert uids(date_from="2014-01-01") == set()
    page = client.get("/api/pacs/studies/", params={"page_size": 1, "ordering": "created_at"}, headers=headers).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    assert client.get("/api/pacs/studies/", params={"date_from": "yesterday"}, headers=headers).status_code == 400
    patients = client.get("/api/pacs/patients/", params={"q": "amel"}, headers=headers).json()["results"]
    assert [p["last_name"] for p in patients] == ["Lefebvre"]


def _parts(response) -> list[bytes]:
    from medcloud.pacs.multipart import MultipartParser, boundary_of

    parser = MultipartParser(boundary_of(response.headers["content-type"]))
    parts, current = [], bytearray()
    for event, value in parser.feed(response.content):
        if event == "data":
            current += value
        elif event == "end_part":
            parts.append(bytes(current))
            current = bytearray()
    return parts


def test_json_array_splitter_in_random_chunks() -> None:
    from medcloud.pacs.jsonstream import JsonArraySplitter

    objects = [{"00100010": {"vr": "PN", "Value": [{"Alphabetic": f"Na\\\"me{{{i}}}^Été"}]}, "n": [i, {"x": "}"}]}
               for i in range(50)]
    objects.append({"k": "a raw-looking \n} in a string", "deep": [{"x": {"y": "}\n}"}}]})
    generic = json.dumps(objects, indent="\t").encode()
    # Orthanc's own layout (top-level braces at the start of a line): cut at "\n}" without scanning
    styled = ("[" + ",".join(json.dumps(o, indent="\t") for o in objects) + "\n]").encode()
    rng = random.Random(7)
    for document, is_styled in ((generic, False), (styled, True)):
        for _ in range(20):
            splitter, found, pos = JsonArraySplitter(), [], 0
            while pos < len(document):
                size = rng.randint(1, 64) if rng.random() < 0.7 else rng.randint(1, 4096)
                found += splitter.feed(document[pos:pos + size])
                pos += size
            assert splitter.styled is is_styled
            assert [json.loads(o) for o in found] == objects


def test_multipart_parser_in_random_chunks() -> None:
    from medcloud.pacs.multipart import MultipartParser

    boundary = "b0undary"
    parts = [bytes(random.Random(i).randbytes(1000 + i * 37)) + b"\r\n--b0und" for i in range(6)]
    body = b"preamble\r\n" + b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts
    ) + f"--{boundary}--\r\nepilogue".encode()
    rng = random.Random(3)
    for _ in range(20):
        parser, got, current, pos = MultipartParser(boundary), [], bytearray(), 0
        while pos < len(body):
            size = rng.randint(1, 300)
            for event, value in parser.feed(body[pos:pos + size]):
                if event == "headers":
                    assert value == {"content-type": "application/dicom"}
                    current = bytearray()
                elif event == "data":
                    current += value
                elif event == "end_part":
                    got.append(bytes(current))
            pos += size
        parser.close()
        assert got == parts
