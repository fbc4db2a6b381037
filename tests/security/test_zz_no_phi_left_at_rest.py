"""After the whole test suite: no plaintext PHI that any test uploaded is anywhere at rest under `.var/`:
PostgreSQL's data folder (the backend's database and Orthanc's index, their write-ahead log included, which
still holds what was written and later deleted), Orthanc's storage folder, Redis's append-only file, every
server's log. Every test patient is synthetic with recognisable parts (tests/pacs/conftest.make_series:
family "Qzx" + 8 hex digits, given "Vyw" + 6, "Drwho^Referrer...", "Saint Qwerty Hospital")."""

from __future__ import annotations

import re

import pydicom
import pytest

from tests.support.servers import REPO_ROOT

pytestmark = [pytest.mark.services, pytest.mark.after_all]

PHI = re.compile(rb"Qzx[0-9A-Fa-f][0-9a-f]{7}|QZX[0-9A-F]{8}|Vyw[0-9A-Fa-f][0-9a-f]{5}|VYW[0-9A-F]{6}"
                 rb"|Drwho\^Referrer|DRWHO\^REFERRER|Saint Qwerty Hospital|SAINT QWERTY HOSPITAL")
SKIPPED = ("test-logs/screenshots",)


def test_the_scan_recognises_every_synthetic_patient(mr_series_dir, tmp_path) -> None:
    from tests.pacs.conftest import make_series

    series = make_series(mr_series_dir, tmp_path / "s", count=1)
    raw = series.files[0].read_bytes()
    found = {m.decode() for m in PHI.findall(raw)}
    ds = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    assert {series.family, series.given, str(ds.InstitutionName)} <= found


def test_no_plaintext_phi_of_any_test_is_left_at_rest() -> None:
    var = REPO_ROOT / ".var"
    scanned, leaks = 0, {}
    for path in var.rglob("*"):
        if not path.is_file() or any(s in str(path) for s in SKIPPED):
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        scanned += len(data)
        found = PHI.findall(data)
        if found:
            leaks[str(path.relative_to(var))] = sorted({f.decode(errors="replace") for f in found})[:5]
    assert not leaks, leaks
    assert list((var / "postgres").rglob("pg_wal/0*")) and scanned > 10 * 1024 * 1024  # the scan saw the data
