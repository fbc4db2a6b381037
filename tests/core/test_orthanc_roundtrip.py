"""A real round trip to Orthanc: store an instance of the real MR series, read it back, delete it."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pydicom
import pytest
from django.conf import settings

from medcloud.core.orthanc import OrthancClient, OrthancError


def test_store_and_read_back_real_instance(orthanc: OrthancClient, mr_series_dir: Path) -> None:
    source = sorted(mr_series_dir.glob("*.dcm"))[0]
    raw = source.read_bytes()
    original = pydicom.dcmread(source)
    stored = orthanc.store_instance(raw)
    try:
        assert stored.status in {"Success", "AlreadyStored"}
        again = orthanc.store_instance(raw)
        assert again.status == "AlreadyStored" and again.orthanc_id == stored.orthanc_id  # idempotent
        read_back = pydicom.dcmread(io.BytesIO(orthanc.instance_file(stored.orthanc_id)))
        assert read_back.SOPInstanceUID == original.SOPInstanceUID
        assert read_back.PixelData == original.PixelData
        tags = orthanc.instance_tags(stored.orthanc_id)
        assert tags["SOPInstanceUID"] == original.SOPInstanceUID
    finally:
        orthanc.delete("instances", stored.orthanc_id)
    with pytest.raises(OrthancError) as missing:
        orthanc.instance_file(stored.orthanc_id)
    assert missing.value.status_code == 404


def test_orthanc_refuses_anonymous_and_wrong_credentials() -> None:
    assert httpx.get(f"{settings.ORTHANC_URL}/system", timeout=5).status_code == 401
    assert httpx.get(f"{settings.ORTHANC_URL}/system", auth=("medcloud-backend", "wrong"), timeout=5).status_code == 401


def test_orthanc_rejects_non_dicom(orthanc: OrthancClient) -> None:
    with pytest.raises(OrthancError) as refused:
        orthanc.store_instance(b"this is not a DICOM file")
    assert refused.value.status_code == 400


def test_unreachable_orthanc_is_a_clear_error() -> None:
    from tests.support.servers import free_port

    with OrthancClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(OrthancError, match="unreachable"):
            client.system()
