# ruff: noqa: S603, S607, S608, S501, E501 - a local tool: runs psql/curl, talks to its own self-signed server
"""PACS benchmarks: `make benchmark-pacs` (or, from the repository root with `backend/` on PYTHONPATH,
`python -m benchmarks.pacs`). Prints figures, asserts nothing. Not part of the product (not in the image).

1. Ingest: the whole MR series (192 instances) through the backend (zip upload over HTTPS, validation, PHI
   protection, Orthanc, database) against the same files posted straight into Orthanc's REST API.
2. WADO-RS retrieval of the whole series (study metadata + every frame; and whole instances) through the
   proxy against straight from Orthanc's DICOMweb plugin. MEDCLOUD_RAW_FRAMES=0 measures the proxy relaying the
   DICOMweb plugin's frames instead of reading them through MedCloud's frame route (ADR 0008).
3. Peak memory (RSS) of the web server while it streams a small and a large study.
4. Study-list latency (p50, p95) with 10,000 studies in the database.

It uses its own database (`<name>_bench`, migrated on the fly), the running Orthanc (everything it stores is
deleted at the end) and its own servers, as `make run` runs them: nginx (TLS, HTTP/2) in front of uvicorn, started
with the test suite's helpers (`tests/support/servers.py`).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from tests.support.servers import REPO_ROOT, server_env, serving_https

from medcloud.core.paths import shared_data_dir

# Orthanc's index database (scripts/render_orthanc_config.py), read before _setup_django points DATABASE_URL at
# the benchmark's own database
ORTHANC_DB = os.environ.get("ORTHANC_DATABASE_NAME") or (urlparse(
    os.environ.get("MEDCLOUD_EFFECTIVE_DATABASE_URL") or os.environ.get("DATABASE_URL", "")).path.lstrip("/")
    or "medcloud") + "_orthanc"


def _bench_database_url() -> str:
    base = os.environ.get("DATABASE_URL") or f"postgres://postgres@127.0.0.1:{os.environ.get('MEDCLOUD_PG_PORT', '55432')}/medcloud"
    url = urlparse(base)
    name = (url.path.lstrip("/") or "medcloud") + "_bench"
    return urlunparse(url._replace(path="/" + name))


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medcloud.settings.local")
    url = urlparse(database_url)
    admin = urlunparse(url._replace(path="/postgres"))
    name = url.path.lstrip("/")
    exists = subprocess.run(["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def https_server(log_path: Path):
    """The stack as `make run` serves it: nginx (TLS, HTTP/2; frames and bulk data from Orthanc after the
    backend's auth_request, ADR 0006) in front of uvicorn on loopback, on the benchmark's database and with
    its settings. Yields (HTTPS base URL, uvicorn)."""
    from django.conf import settings

    env = server_env(str(settings.DATABASES["default"]["NAME"]),
                     DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"])
    with serving_https(env, log_path) as served:
        yield served


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    result, todo = [], [pid]
    while todo:
        current = todo.pop()
        result.append(current)
        todo.extend(children.get(current, []))
    return result


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak(pids: list[int]) -> None:
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass


def _peak_rss(pids: list[int]) -> int:
    return max((_status(pid, "VmHWM") for pid in pids), default=0)


def _fresh_series(source: Path, out: Path, copies: int = 1, study_uid: str | None = None,
                  name: str = "Bench^Patient") -> tuple[str, list[Path]]:
    import pydicom
    from pydicom.uid import generate_uid

    study_uid = study_uid or generate_uid()
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for copy in range(copies):
        series_uid = generate_uid()
        for index, path in enumerate(sorted(source.glob("*.dcm"))):
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.SeriesNumber = copy + 1
            ds.PatientName = name
            target = out / f"{copy:02d}-{index:04d}.dcm"
            ds.save_as(target, enforce_file_format=True)
            files.append(target)
    return study_uid, files


def _zip(files: list[Path], out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for path in files:
            archive.write(path, f"series/{path.name}")
    return out


def _delete_study(client, study_uid: str) -> None:
    for resource in client.lookup(study_uid):
        if resource.get("Type") == "Study":
            client.delete("studies", resource["ID"])


def _token(user) -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    return str(AccessToken.for_user(user))


def _user(role: str = "researcher"):
    from medcloud.accounts.models import User

    return User.objects.create_user(f"bench-{secrets.token_hex(4)}@example.test", secrets.token_hex(12), role=role)


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


# --- 1. ingest -----------------------------------------------------------------------------------------------

def bench_ingest(base: str, source: Path, work: Path, runs: int) -> dict[str, float]:
    """Runs alternate (direct, backend over HTTP/1.1, backend over HTTP/2) so that the machine's load drifts
    alike for all three; ratios are taken within each run, then the median."""
    import httpx

    from medcloud.core.orthanc import OrthancClient

    user = _user()
    token = _token(user)
    rates: dict[str, list[float]] = {"direct": [], "direct_seq": [], "backend_h1": [], "backend_h2_curl": []}
    ratios: dict[str, list[float]] = {"backend_h1": [], "backend_h2_curl": []}
    with OrthancClient() as orthanc:
        # One upload first, not measured: a server starts its parsing workers with its first large upload
        # (medcloud.pacs.parsing); what is measured is a server that has served an upload before.
        study_uid, files = _fresh_series(source, work / "warm-up")
        with httpx.Client(verify=False, timeout=600) as http, _zip(files, work / "warm-up.zip").open("rb") as handle:
            response = http.post(f"{base}/api/pacs/studies/upload/", headers={"Authorization": f"Bearer {token}"},
                                 files={"files": ("series.zip", handle, "application/zip")})
        assert response.status_code == 201, response.text
        _delete_study(orthanc, study_uid)
        for run in range(runs):
            for label, threads in (("direct", 4), ("direct_seq", 1)):
                study_uid, files = _fresh_series(source, work / f"{label}{run}")
                started = time.perf_counter()
                blobs = [p.read_bytes() for p in files]
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(orthanc.store_instance, blobs))
                rates[label].append(len(blobs) / (time.perf_counter() - started))
                _delete_study(orthanc, study_uid)

            study_uid, files = _fresh_series(source, work / f"backend{run}")
            archive = _zip(files, work / f"backend{run}.zip")
            with httpx.Client(verify=False, timeout=600) as http:
                started = time.perf_counter()
                with archive.open("rb") as handle:
                    response = http.post(f"{base}/api/pacs/studies/upload/", headers={"Authorization": f"Bearer {token}"},
                                         files={"files": ("series.zip", handle, "application/zip")})
                elapsed = time.perf_counter() - started
            assert response.status_code == 201, response.text
            rates["backend_h1"].append(len(files) / elapsed)
            _delete_study(orthanc, study_uid)

            study_uid, files = _fresh_series(source, work / f"curl{run}")
            archive = _zip(files, work / f"curl{run}.zip")
            started = time.perf_counter()
            out = subprocess.run(["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_code}",
                                  "-H", f"Authorization: Bearer {token}", "-F", f"files=@{archive}",
                                  f"{base}/api/pacs/studies/upload/"], capture_output=True, text=True)
            elapsed = time.perf_counter() - started
            assert out.stdout == "201", out.stdout
            rates["backend_h2_curl"].append(len(files) / elapsed)
            _delete_study(orthanc, study_uid)
    from medcloud.pacs.models import Study

    Study.objects.all().delete()
    figures = {k: statistics.median(v) for k, v in rates.items()}
    count = len(list(source.glob("*.dcm")))
    print("   per run, seconds for the series (direct 4 parallel / 1 at a time / backend HTTPS/1.1 / HTTP/2):")
    for run in range(runs):
        print("     " + " / ".join(f"{count / rates[k][run]:.2f}" for k in ("direct", "direct_seq", "backend_h1",
                                                                        "backend_h2_curl")))
    # The bar is the faster direct way. Which way is faster is decided over all runs (by median), and each
    # run's backend rate is divided by that way's rate in the same run: taking the better of the two direct
    # ways run by run would compare our one sample with the best of two noisy ones (biased by the noise).
    best = max(("direct", "direct_seq"), key=lambda k: figures[k])
    figures["best_direct"] = 1.0 if best == "direct" else 0.0
    for label in ratios:
        ratios[label] = [mine / theirs for mine, theirs in zip(rates[label], rates[best], strict=True)]
        figures[f"{label}_ratio"] = statistics.median(ratios[label])
        figures[f"{label}_ratio_min"], figures[f"{label}_ratio_max"] = min(ratios[label]), max(ratios[label])
    return figures


# --- 2. retrieval --------------------------------------------------------------------------------------------

def _cpu_ticks(pid: int) -> tuple[str, int]:
    """(command line, user + system clock ticks so far) of one process; ("", 0) once it is gone."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return "", 0
    return cmdline, int(fields[11]) + int(fields[12])


def cpu_seconds_by_part() -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part of the stack on this machine: Orthanc, the
    PostgreSQL connections of Orthanc's index, nginx and the backend (this process's children), and this
    process (the benchmark's client). CPU time does not count the time a busy virtual machine waits for its
    host, which is what makes wall-clock ratios swing from run to run here."""
    tick = os.sysconf("SC_CLK_TCK")
    parts = {"orthanc": 0, "orthanc_db": 0, "nginx": 0, "backend": 0}
    mine = set(_tree(os.getpid())) - {os.getpid()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        cmdline, ticks = _cpu_ticks(pid)
        if pid in mine:
            parts["nginx" if cmdline.startswith("nginx") else "backend"] += ticks
        elif cmdline.split(" ", 1)[0].endswith("Orthanc"):
            parts["orthanc"] += ticks
        elif cmdline.startswith("postgres:") and f" {ORTHANC_DB} " in cmdline:
            parts["orthanc_db"] += ticks
    seconds = {k: v / tick for k, v in parts.items()}
    seconds["client"] = time.process_time()
    return seconds


def _retrieve_series(get, study_uid: str, parallel: int) -> tuple[int, float, float]:
    """Study metadata, then every frame (`parallel` requests at a time; a viewer keeps 4-6 in flight).
    Returns (bytes, seconds, of which seconds for the metadata)."""
    started = time.perf_counter()
    metadata = get(f"/dicom-web/studies/{study_uid}/metadata", {"Accept": "application/dicom+json"})
    items = metadata.json()
    metadata_seconds = time.perf_counter() - started
    total = len(metadata.content)
    accept = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
    paths = [f"/dicom-web/studies/{study_uid}/series/{i['0020000E']['Value'][0]}/instances/"
             f"{i['00080018']['Value'][0]}/frames/1" for i in items]
    with ThreadPoolExecutor(parallel) as pool:
        sizes = list(pool.map(lambda p: len(get(p, accept).content), paths))
    return total + sum(sizes), time.perf_counter() - started, metadata_seconds


def _retrieve_instances(get, study_uid: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = get(f"/dicom-web/studies/{study_uid}", {"Accept": 'multipart/related; type="application/dicom"'})
    return len(response.content), time.perf_counter() - started


def bench_retrieval(base: str, source: Path, work: Path, runs: int, parallel: list[int]) -> dict[str, Any]:
    """For each level of parallelism, `runs` paired runs: the same retrieval straight from Orthanc and through
    the proxy, in alternating order (the machine's load drifts alike for both, and neither always goes
    second); each run's ratio is taken within the pair, then the median over runs."""
    import httpx
    from django.conf import settings

    from medcloud.core.orthanc import OrthancClient
    from medcloud.pacs.uploads import upload_batch

    from .services import ingest

    user = _user()
    study_uid, files = _fresh_series(source, work / "retrieve")
    with upload_batch() as batch:
        for path in files:
            with path.open("rb") as handle:
                batch.add_stream(path.name, handle)
        ingest(batch, user=user, source="bench")
    auth = {"Authorization": f"Bearer {_token(user)}"}
    figures: dict[str, Any] = {"series": {}}
    direct = httpx.Client(base_url=settings.ORTHANC_URL, auth=(settings.ORTHANC_USERNAME, settings.ORTHANC_PASSWORD),
                          timeout=300, limits=httpx.Limits(max_connections=8))
    proxy = httpx.Client(base_url=base, verify=False, timeout=300, headers=auth, limits=httpx.Limits(max_connections=8))
    with direct, proxy:
        def get_direct(path, headers):
            response = direct.get(path, headers=headers)
            response.raise_for_status()
            return response

        def get_proxy(path, headers):
            response = proxy.get(path, headers=headers)
            response.raise_for_status()
            return response

        ways = (("direct", get_direct), ("proxy", get_proxy))
        for level in parallel:
            _retrieve_series(get_direct, study_uid, level)  # warm both paths (Orthanc's caches, connections)
            _retrieve_series(get_proxy, study_uid, level)
            results: dict[str, list[float]] = {"direct": [], "proxy": [], "direct_meta": [], "proxy_meta": []}
            size = 0
            cpu: dict[str, list[dict[str, float]]] = {"direct": [], "proxy": []}
            for run in range(runs):
                for name, get in (ways if run % 2 == 0 else ways[::-1]):
                    before = cpu_seconds_by_part()
                    got, seconds, metadata_seconds = _retrieve_series(get, study_uid, level)
                    after = cpu_seconds_by_part()
                    cpu[name].append({k: after[k] - before[k] for k in after})
                    size = got if name == "direct" else size  # Orthanc's own bytes (the proxy's JSON is compact)
                    results[name].append(seconds)
                    results[f"{name}_meta"].append(metadata_seconds)
            ratios = [d / p for d, p in zip(results["direct"], results["proxy"], strict=True)]
            frame_ratios = [(d - dm) / (p - pm) for d, p, dm, pm in zip(
                results["direct"], results["proxy"], results["direct_meta"], results["proxy_meta"], strict=True)]
            meta_ratios = [dm / pm for dm, pm in zip(results["direct_meta"], results["proxy_meta"], strict=True)]
            figures["series"][level] = {
                "runs": results, "bytes": size, "ratio": statistics.median(ratios), "ratio_min": min(ratios),
                "ratio_max": max(ratios), "frames_ratio": statistics.median(frame_ratios),
                "metadata_ratio": statistics.median(meta_ratios),
                **{f"{k}_s": statistics.median(v) for k, v in results.items()},
                "cpu": {name: {k: statistics.median(run[k] for run in runs_) for k in runs_[0]}
                        for name, runs_ in cpu.items()},
                # the server's CPU (everything but the client) for the same retrieval, direct / proxy, per run
                "cpu_ratio": statistics.median(
                    sum(v for k, v in d.items() if k != "client") / sum(v for k, v in p.items() if k != "client")
                    for d, p in zip(cpu["direct"], cpu["proxy"], strict=True))}
        # Throughput is reported in MB/s of Orthanc's own bytes on both paths. (The proxy's metadata is compact
        # JSON, a third of Orthanc's pretty-printed bytes: dividing each path's own byte count by its time would
        # understate the proxy.)
        inst: dict[str, list[float]] = {"direct": [], "proxy": []}
        for run in range(runs):
            for name, get in (ways if run % 2 == 0 else ways[::-1]):
                size, seconds = _retrieve_instances(get, study_uid)
                inst[name].append(seconds)
                if name == "direct":
                    figures["instances_bytes"] = size
        figures["instances_direct_s"] = statistics.median(inst["direct"])
        figures["instances_proxy_s"] = statistics.median(inst["proxy"])
        figures["instances_ratio"] = statistics.median(
            [d / p for d, p in zip(inst["direct"], inst["proxy"], strict=True)])
    with OrthancClient() as orthanc:
        _delete_study(orthanc, study_uid)
    from medcloud.pacs.models import Study

    Study.objects.all().delete()
    return figures


# --- 3. memory -----------------------------------------------------------------------------------------------

def bench_memory(base: str, proc, source: Path, work: Path) -> dict[str, float]:
    import httpx

    from medcloud.core.orthanc import OrthancClient
    from medcloud.pacs.uploads import upload_batch

    from .services import ingest

    user = _user()
    auth = {"Authorization": f"Bearer {_token(user)}"}
    studies = {}
    for label, copies, count in (("small", 1, 8), ("large", 4, None)):
        study_uid, files = _fresh_series(source, work / f"mem-{label}", copies=copies)
        if count:
            files = files[:count]
        with upload_batch() as batch:
            for path in files:
                with path.open("rb") as handle:
                    batch.add_stream(path.name, handle)
            ingest(batch, user=user, source="bench")
        studies[label] = (study_uid, len(files), sum(p.stat().st_size for p in files))
    figures: dict[str, float] = {}
    with httpx.Client(base_url=base, verify=False, timeout=600, headers=auth) as http:
        pids = _tree(proc.pid)
        http.get("/api/pacs/studies/")
        for label, (study_uid, count, size) in studies.items():
            for _ in range(2):  # the first pass warms imports and caches
                _reset_peak(pids)
                before = max(_status(pid, "VmRSS") for pid in pids)
                samples: list[int] = []
                done = threading.Event()

                def sample(done: threading.Event = done, samples: list[int] = samples) -> None:
                    while not done.is_set():
                        samples.append(max(_status(pid, "VmRSS") for pid in pids))
                        time.sleep(0.01)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                streamed = 0
                with http.stream("GET", f"/dicom-web/studies/{study_uid}",
                                 headers={"Accept": 'multipart/related; type="application/dicom"'}) as response:
                    for chunk in response.iter_bytes():
                        streamed += len(chunk)
                metadata = http.get(f"/dicom-web/studies/{study_uid}/metadata")
                streamed += len(metadata.content)
                done.set()
                sampler.join()
                peak = max(_peak_rss(pids), max(samples, default=0))
                sampled = max(samples, default=0)
            figures[f"{label}_instances"] = count
            figures[f"{label}_study_bytes"] = size
            figures[f"{label}_streamed_bytes"] = streamed
            figures[f"{label}_rss_before"] = before
            figures[f"{label}_peak_rss"] = peak
            figures[f"{label}_sampled_rss"] = sampled
            figures[f"{label}_samples"] = len(samples)
    with OrthancClient() as orthanc:
        for study_uid, _, _ in studies.values():
            _delete_study(orthanc, study_uid)
    from medcloud.pacs.models import Study

    Study.objects.all().delete()
    return figures


# --- 4. study list -------------------------------------------------------------------------------------------

def _seed_studies(total: int) -> tuple[object, object, str]:
    import datetime
    import random

    from medcloud.crypto.blind_index import blind_index, token_prefix_indexes
    from medcloud.pacs.models import Patient, Study
    from medcloud.pacs.selectors import MRN_PURPOSE, NAME_PURPOSE
    from medcloud.sharing.models import GroupMembership, StudyShare, UserGroup

    owner, reader = _user(), _user("health_professional")
    reader.clinical_verified_at = datetime.datetime.now(datetime.UTC)
    reader.save()
    rng = random.Random(4)
    family = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
              "Okafor", "Nguyen", "Kowalski", "Garcia", "Rossi", "Muller", "Schmidt", "Jensen", "Silva", "Tanaka"]
    given = ["Anna", "Louis", "Emma", "Hugo", "Lea", "Jules", "Chloe", "Adam", "Ines", "Noah", "Sara", "Leo"]
    patients = []
    for index in range(total // 5):
        first, last = rng.choice(given), rng.choice(family)
        mrn = f"MRN{index:06d}"
        patients.append(Patient(first_name=first, last_name=last, medical_record_number=mrn, created_by=owner,
                                name_index=token_prefix_indexes(f"{first} {last}", purpose=NAME_PURPOSE),
                                mrn_index=blind_index(mrn, purpose=MRN_PURPOSE)))
    Patient.objects.bulk_create(patients, batch_size=1000)
    patients = list(Patient.objects.filter(created_by=owner))
    modalities = ["MR", "CT", "CR", "US", "PT"]
    studies = []
    start = datetime.date(2015, 1, 1)
    for _ in range(total):
        studies.append(Study(patient=rng.choice(patients), owner=owner, study_instance_uid=f"2.25.{secrets.randbits(100)}",
                             modalities=[rng.choice(modalities)], study_date=start + datetime.timedelta(days=rng.randint(0, 3650)),
                             description="Bench study", series_count=1, instance_count=100, phi={}))
    Study.objects.bulk_create(studies, batch_size=1000)
    group = UserGroup.objects.create(name="bench", created_by=owner)
    GroupMembership.objects.create(group=group, user=reader)
    shared = list(Study.objects.filter(owner=owner).values_list("pk", flat=True)[: total // 10])
    StudyShare.objects.bulk_create([StudyShare(study_id=pk, group=group) for pk in shared], batch_size=1000)
    return owner, reader, rng.choice(family)


def bench_study_list(base: str, total: int, requests: int) -> dict[str, dict[str, float]]:
    import httpx

    from medcloud.pacs.models import Patient, Study

    owner, reader, surname = _seed_studies(total)
    admin = _user("admin")
    queries: dict[str, tuple[Any, dict[str, Any]]] = {
        "owner, newest first": (owner, {}),
        "owner, name prefix": (owner, {"q": surname[:3]}),
        "owner, modality + dates": (owner, {"modality": "MR", "date_from": "2018-01-01", "date_to": "2020-12-31"}),
        "owner, record number": (owner, {"patient_id": "MRN000123"}),
        "shared with reader's group": (reader, {}),
        f"admin, page {min(40, max(1, total // 25))}": (admin, {"page": min(40, max(1, total // 25))}),
    }
    figures: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=base, verify=False, timeout=60) as http:
        for label, (user, params) in queries.items():
            headers = {"Authorization": f"Bearer {_token(user)}"}
            for _ in range(5):
                http.get("/api/pacs/studies/", params=params, headers=headers).raise_for_status()
            times = []
            count = 0
            for _ in range(requests):
                started = time.perf_counter()
                response = http.get("/api/pacs/studies/", params=params, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                count = response.json()["count"]
            times.sort()
            figures[label] = {"p50": times[len(times) // 2], "p95": times[int(len(times) * 0.95) - 1], "count": count}
    Study.objects.all().delete()
    Patient.objects.all().delete()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)  # the machine's noise is ±10-20% per run
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", choices=["ingest", "retrieval", "memory", "list"], action="append")
    parser.add_argument("--parallel", type=lambda v: [int(x) for x in v.split(",")], default=[4],
                        help="retrieval: frame requests in flight, e.g. 1,2,4 (default 4, as a viewer)")
    parser.add_argument("--series", type=Path, default=shared_data_dir() / "dicom" / "mr_brain_sagittal")
    args = parser.parse_args(argv)
    _setup_django(_bench_database_url())
    from medcloud.audit.models import AuditEvent
    from medcloud.pacs.models import Patient, Study

    Study.objects.all().delete()
    Patient.objects.all().delete()
    only = set(args.only or ["ingest", "retrieval", "memory", "list"])
    work = Path(tempfile.mkdtemp(prefix="medcloud-bench-"))
    print(f"MedCloud PACS benchmarks  ({os.cpu_count()} CPU cores; series: {args.series.name}, "
          f"{len(list(args.series.glob('*.dcm')))} instances)")
    try:
        with https_server(REPO_ROOT / ".var" / "bench" / "web.log") as (base, proc):
            if "ingest" in only:
                f = bench_ingest(base, args.series, work, args.runs)
                print("\n1. Ingest of the 192-instance MR series (median of", args.runs, "alternating runs)")
                print(f"   straight into Orthanc, REST, 1 POST at a time:   {f['direct_seq']:7.1f} instances/s")
                print(f"   straight into Orthanc, REST, 4 parallel POSTs:   {f['direct']:7.1f} instances/s")
                best = "4 parallel POSTs" if f["best_direct"] else "1 POST at a time"
                for label, title in (("backend_h1", "zip upload over HTTPS/1.1 (httpx):"),
                                     ("backend_h2_curl", "zip upload over HTTP/2 (curl -F): ")):
                    print(f"   backend: {title}       {f[label]:7.1f} instances/s = {100 * f[label + '_ratio']:.0f}% "
                          f"of the faster direct way ({best}; median of per-run ratios, "
                          f"{100 * f[label + '_ratio_min']:.0f}-{100 * f[label + '_ratio_max']:.0f}%)")
            if "retrieval" in only:
                f = bench_retrieval(base, args.series, work, args.runs, args.parallel)
                print(f"\n2. WADO-RS retrieval of the whole series: study metadata, then the 192 frames "
                      f"({args.runs} paired runs, alternating which path goes first)")
                from medcloud.core.frontserver import raw_frames_enabled

                print("   the proxy reads single frames through " + (
                    "MedCloud's Orthanc frame route (ADR 0008; MEDCLOUD_RAW_FRAMES=0 to relay the DICOMweb plugin)"
                    if raw_frames_enabled(os.environ.get("MEDCLOUD_RAW_FRAMES")) else "Orthanc's DICOMweb plugin (MEDCLOUD_RAW_FRAMES=0)"))
                for level, g in f["series"].items():
                    print(f"   {level} frame request(s) at a time, {_mb(g['bytes'])} from Orthanc: direct "
                          f"{g['direct_s']:.3f} s = {_mb(g['bytes'] / g['direct_s'])}/s, proxy {g['proxy_s']:.3f} s = "
                          f"{_mb(g['bytes'] / g['proxy_s'])}/s: proxy = {100 * g['ratio']:.0f}% of direct (median of "
                          f"per-run ratios, {100 * g['ratio_min']:.0f}-{100 * g['ratio_max']:.0f}%)")
                    print(f"     metadata: direct {g['direct_meta_s']:.3f} s, proxy {g['proxy_meta_s']:.3f} s "
                          f"({100 * g['metadata_ratio']:.0f}%); frames: direct {g['direct_s'] - g['direct_meta_s']:.3f} s, "
                          f"proxy {g['proxy_s'] - g['proxy_meta_s']:.3f} s ({100 * g['frames_ratio']:.0f}%)")
                    cpu = g["cpu"]
                    print("     CPU seconds per retrieval (median): " + ", ".join(
                        f"{part} {cpu['direct'][part]:.2f}/{cpu['proxy'][part]:.2f}" for part in cpu["direct"])
                        + f" (direct/proxy); the server's CPU, direct/proxy: {100 * g['cpu_ratio']:.0f}%")
                    print("     per run, seconds (direct / proxy): " + "  ".join(
                        f"{d:.2f}/{p:.2f}" for d, p in zip(g["runs"]["direct"], g["runs"]["proxy"], strict=True)))
                print(f"   whole instances, one multipart response ({_mb(f['instances_bytes'])}): direct "
                      f"{f['instances_direct_s']:.3f} s, proxy {f['instances_proxy_s']:.3f} s = "
                      f"{100 * f['instances_ratio']:.0f}% of direct (PHI restored in every instance)")
            if "memory" in only:
                f = bench_memory(base, proc, args.series, work)
                print("\n3. Peak RSS of the web server while streaming a study (whole instances + metadata)")
                for label in ("small", "large"):
                    print(f"   {label}: {int(f[label + '_instances']):4d} instances, {_mb(f[label + '_study_bytes'])} "
                          f"streamed {_mb(f[label + '_streamed_bytes'])}: RSS before {_mb(f[label + '_rss_before'])}, "
                          f"peak {_mb(f[label + '_peak_rss'])} (VmHWM; highest of {int(f[label + '_samples'])} "
                          f"samples while streaming: {_mb(f[label + '_sampled_rss'])})")
                growth = f["large_peak_rss"] - f["small_peak_rss"]
                print(f"   peak grows by {_mb(growth)} for {_mb(f['large_study_bytes'] - f['small_study_bytes'])} more data")
            if "list" in only:
                lists = bench_study_list(base, args.studies, args.requests)
                print(f"\n4. Study list latency over HTTPS, {args.studies} studies, {args.requests} requests each")
                for label, v in lists.items():
                    print(f"   {label:30s} p50 {v['p50']:6.1f} ms   p95 {v['p95']:6.1f} ms   ({int(v['count'])} matches)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        AuditEvent.objects.all().delete()


if __name__ == "__main__":
    main()


