"""AI platform benchmark: job latency from submit to "succeeded", split into its parts, with a warm worker.

    make benchmark-inference            # or: python -m benchmarks.inference [--runs 3] [--workers-test]

Uses the benchmark database (`<name>_bench`, as benchmarks/pacs.py), the running Orthanc, the real servers
(nginx + uvicorn) and real Celery workers. Figures: for the SDK's template package (run in the bubblewrap
sandbox) on 24 slices and on the 192-slice MR, and for the bundled Y-Net (in the worker's process) when it is
published: queueing (submit -> a worker starts it), fetching the series from Orthanc, running the model
(including building the DICOM objects), storing them into the study; then jobs per minute with two workers.
Printed, never asserted: the machine's load moves them (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
from tests.support.servers import celery_worker, server_env

from benchmarks.pacs import _bench_database_url, _fresh_series, _setup_django, _token, _user, _zip, https_server
from medcloud.core.paths import REPO_ROOT, shared_data_dir

TEMPLATE = REPO_ROOT / "backend" / "medcloud" / "sdk" / "template"


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in TEMPLATE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            archive.write(path, path.relative_to(TEMPLATE).as_posix())
    return buffer.getvalue()


def _study(client: httpx.Client, headers: dict, source: Path, work: Path, count: int) -> tuple[int, str]:
    series_dir = work / f"series-{secrets.token_hex(3)}"
    files = _fresh_series(source, series_dir)[1][:count]
    answer = client.post("/api/pacs/studies/upload/", headers=headers,
                         files=[("files", ("s.zip", _zip(files, work / f"{series_dir.name}.zip").read_bytes(),
                                           "application/zip"))])
    answer.raise_for_status()
    import pydicom

    return answer.json()["studies"][0]["id"], pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID


def _run(client: httpx.Client, headers: dict, model_id: int, study_id: int, series_uid: str) -> dict:
    from medcloud.inference.models import InferenceJob

    submitted = time.perf_counter()
    job = client.post("/api/jobs/", headers=headers, json={"model": model_id, "study": study_id,
                                                            "series_instance_uid": series_uid}).json()
    while job["state"] in ("queued", "running"):
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}/", headers=headers).json()
    total = time.perf_counter() - submitted
    if job["state"] != "succeeded":
        raise SystemExit(f"job {job['state']}: {job['error']}")
    row = InferenceJob.objects.get(pk=job["id"])
    t = row.timings
    return {"total": total, "queue": (row.started_at - row.queued_at).total_seconds(), "fetch": t["fetch_s"],
            "model": t.get("model_s", t["run_s"]), "dicom": t.get("dicom_s", 0.0), "store": t["store_s"]}


def _line(name: str, samples: list[dict]) -> str:
    med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    return (f"   {name:<44} {med['total']:6.2f} s end to end  (queue {med['queue']:.2f}, fetch {med['fetch']:.2f}, "
            f"model {med['model']:.2f}, series + DICOM {med['dicom']:.2f}, store {med['store']:.2f}; "
            f"median of {len(samples)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--series", type=Path, default=shared_data_dir() / "dicom" / "mr_brain_sagittal")
    args = parser.parse_args(argv)
    _setup_django(_bench_database_url())
    from django.conf import settings

    from medcloud.inference.models import AIModel
    from medcloud.inference.services import bundled_models_ensure

    work = Path(tempfile.mkdtemp(prefix="medcloud-bench-ai-"))
    env = server_env(str(settings.DATABASES["default"]["NAME"]),
                     DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"])
    user = _user()
    headers = {"Authorization": f"Bearer {_token(user)}"}
    print(f"MedCloud AI platform benchmark ({os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f})")
    # (verify=False: the local servers' self-signed certificate)
    with https_server(REPO_ROOT / ".var" / "bench" / "web-ai.log") as (base, _proc), \
            httpx.Client(base_url=base, verify=False, timeout=600) as client, \
            celery_worker(env, REPO_ROOT / ".var" / "bench" / "worker-1.log", hostname="bench-1"):
        model = client.post("/api/models/", headers=headers, json={"name": f"template-{secrets.token_hex(3)}",
                                                                   "task_type": "segmentation"}).json()
        client.post(f"/api/models/{model['id']}/package/", headers=headers,
                    files={"package": ("t.zip", _package(), "application/zip")}).raise_for_status()
        studies = {n: _study(client, headers, args.series, work, n) for n in (24, 192)}
        print("\n1. One job at a time, warm worker (the first job of each kind is a warm-up, not counted)")
        for n, (study_id, series_uid) in studies.items():
            print(_line(f"(first run: series fetched from Orthanc) {n} slices:",
                        [_run(client, headers, model["id"], study_id, series_uid)]))
            samples = [_run(client, headers, model["id"], study_id, series_uid) for _ in range(args.runs)]
            print(_line(f"template package, sandboxed, {n} slices:", samples))
        bundled = [m for m in bundled_models_ensure() if m.current_version is not None]
        for m in bundled:
            AIModel.objects.filter(pk=m.pk).update(published=True)
            for n, (study_id, series_uid) in studies.items():
                print(_line(f"(first run: model loaded, warm series) {n} slices:",
                            [_run(client, headers, m.pk, study_id, series_uid)]))
                samples = [_run(client, headers, m.pk, study_id, series_uid) for _ in range(args.runs)]
                print(_line(f"{m.name[:24]}, in the worker, {n} slices:", samples))
        if not bundled:
            print("   (no bundled model package published: the Y-Net's SDK package is not in this code base yet)")
        print("\n2. Throughput: 6 jobs (24 slices, sandboxed template) with two workers")
        with celery_worker(env, REPO_ROOT / ".var" / "bench" / "worker-2.log", hostname="bench-2"):
            user2 = _user()
            h2 = {"Authorization": f"Bearer {_token(user2)}"}
            model2 = client.post("/api/models/", headers=h2, json={"name": f"template-{secrets.token_hex(3)}",
                                                                   "task_type": "segmentation"}).json()
            client.post(f"/api/models/{model2['id']}/package/", headers=h2,
                        files={"package": ("t.zip", _package(), "application/zip")}).raise_for_status()
            others = [_study(client, h2, args.series, work, 24) for _ in range(2)]
            started = time.perf_counter()
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(2) as pool:  # each user keeps at most 3 jobs in flight (the per-user limit)
                def batch(h: dict, model_id: int, sid: int, suid: str) -> None:
                    for _ in range(3):
                        _run(client, h, model_id, sid, suid)

                list(pool.map(lambda a: batch(*a), [(headers, model["id"], *studies[24]),
                                                    (h2, model2["id"], *others[0])]))
            elapsed = time.perf_counter() - started
            print(f"   6 jobs in {elapsed:.1f} s = {6 * 60 / elapsed:.1f} jobs per minute")


if __name__ == "__main__":
    main()
