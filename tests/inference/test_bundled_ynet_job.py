"""The bundled Y-Net, published at first start, run by a health professional through a real job on a tumour
series built from validation images: the worker runs it in its own process, stores the SEG and the SR into the
study, and the job's measurements equal the Y-Net library's own JSON for the same series."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from tests.ai.conftest import _tf_threads, load_png, val_tumour_records, ynet_data  # noqa: F401  (fixtures)
from tests.pacs.conftest import bearer

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_bundled_ynet_runs_as_a_job_and_its_measurements_are_the_librarys(
        client, make_user, live_worker, val_tumour_records, tmp_path) -> None:  # noqa: F811
    from medcloud.ai.common.synthetic import series_from_images
    from medcloud.inference.services import bundled_models_ensure

    (model,) = [m for m in bundled_models_ensure() if m.name.startswith("Y-Net")]
    assert model.published and model.bundled and model.current_version.manifest["bundled"] is True
    assert bundled_models_ensure()[0].current_version == model.current_version  # idempotent: same files, same SHA

    datasets = series_from_images([load_png(r.image_path) for r in val_tumour_records], pixel_spacing=(0.98, 0.98),
                                  slice_spacing=5.0, origin=(-125.0, -125.0, 10.0))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, ds in enumerate(datasets):
            raw = io.BytesIO()
            ds.save_as(raw, enforce_file_format=True)
            archive.writestr(f"t1/{i:04d}.dcm", raw.getvalue())
    doctor = make_user("health_professional", clinical_role="radiologist")
    headers = bearer(doctor)
    uploaded = client.post("/api/pacs/studies/upload/", headers=headers,
                           files=[("files", ("tumour.zip", buffer.getvalue(), "application/zip"))])
    assert uploaded.status_code == 201, uploaded.text
    study = uploaded.json()["studies"][0]
    series_uid = str(datasets[0].SeriesInstanceUID)

    assert model.pk in [m["id"] for m in client.get("/api/models/", headers=headers).json()]
    job = client.post("/api/jobs/", headers=headers, json={"model": model.pk, "study": study["id"],
                                                           "series_instance_uid": series_uid})
    assert job.status_code == 201, job.text
    deadline = time.monotonic() + 300
    while (done := client.get(f"/api/jobs/{job.json()['id']}/", headers=headers).json())["state"] in (
            "queued", "running"):
        assert time.monotonic() < deadline, done
        time.sleep(1)
    assert done["state"] == "succeeded", done
    assert done["detail"] == {}  # the traceback and the model's output: the model's owner's (here: MedCloud's)

    # the library's own result on the same files, as the worker saw them (pseudonymised, from Orthanc)
    _tf_threads()
    from medcloud.ai.ynet import inference

    lib = json.loads(inference.infer_series(datasets, inference.get_predictor()).to_json())
    results = done["result"]["results"]
    (label,) = results["labels"]
    assert label["name"] == lib["decision"]["label"] and label["name"] != "no_tumor"
    assert label["confidence"] == pytest.approx(lib["decision"]["confidence"], abs=1e-5)
    (volume,) = [m["value"] for m in results["measurements"] if m["name"] == "Tumour volume"]
    assert volume == pytest.approx(lib["measurements"]["volume_mm3"], abs=1e-3)
    areas = {m["slice_index"]: m["value"] for m in results["measurements"] if m["name"] == "Tumour area"}
    assert sorted(areas) == lib["tumour_slices"]

    # the SEG and the SR are in the study, for any reader of it
    for modality in ("SEG", "SR"):
        found = client.get(f"/dicom-web/studies/{study['study_instance_uid']}/series", params={"Modality": modality},
                           headers=headers)
        assert found.status_code == 200 and len(found.json()) == 1, (modality, found.text)
    sr_series = client.get(f"/dicom-web/studies/{study['study_instance_uid']}/series", params={"Modality": "SR"},
                           headers=headers).json()[0]["0020000E"]["Value"][0]
    metadata = client.get(f"/dicom-web/studies/{study['study_instance_uid']}/series/{sr_series}/metadata",
                          headers=headers).json()
    assert model.current_version.sha256 in json.dumps(metadata)  # provenance: the package's SHA-256 in the SR
