"""Large uploads are parsed by worker processes (medcloud.pacs.parsing): the same outcomes as parsing in the
request's thread, in upload order (the first invalid file is the one named), and a worker killed mid-upload
only means the rest is parsed in the calling thread."""

from __future__ import annotations

import os
import signal
import zipfile

import pytest

from medcloud.pacs import parsing
from medcloud.pacs.archive import ArchiveMemberError
from medcloud.pacs.dicom import InvalidInstance, ParsedInstance
from medcloud.pacs.uploads import upload_batch
from tests.pacs.conftest import make_series

# slow: worker processes are started, killed and waited for (seconds each)
pytestmark = [pytest.mark.skipif(parsing.workers() < 2, reason="MEDCLOUD_PARSE_WORKERS turns the pool off"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def pool_ready():
    assert parsing.wait_until_ready(60), "the parsing workers did not start"


def _outcomes(files):
    return list(parsing.parse_in_order(((path, path.name) for path in files), len(files)))


def test_workers_give_what_the_thread_gives_in_order(pool_ready, mr_series_dir, tmp_path):
    series = make_series(mr_series_dir, tmp_path / "s", count=40)
    files = list(series.files)
    files[25] = tmp_path / "notes.txt"
    files[25].write_bytes(b"not DICOM\n" * 100)
    files[30] = tmp_path / "broken.dcm"
    files[30].write_bytes(series.files[30].read_bytes()[:200_000])  # inside the pixel data
    files[35] = tmp_path / "headers-only.dcm"
    files[35].write_bytes(series.files[35].read_bytes()[:100_000])  # cut before the pixel data
    pooled = _outcomes(files)
    threaded = [(path.name, parsing.parse_one(path, path.name)) for path in files]
    assert [name for name, _ in pooled] == [path.name for path in files]
    for (name, got), (_, expected) in zip(pooled, threaded, strict=True):
        assert type(got) is type(expected), name
        if isinstance(got, ParsedInstance):
            assert (got.sop_instance_uid, got.series_uid, got.splice_plan) == \
                (expected.sop_instance_uid, expected.series_uid, expected.splice_plan)
        else:
            assert str(got) == str(expected)
    assert isinstance(pooled[25][1], InvalidInstance) and "not a DICOM file" in str(pooled[25][1])
    assert "truncated" in str(pooled[30][1]) and "no pixel data" in str(pooled[35][1])


def test_stored_members_are_read_and_checked_by_the_workers(pool_ready, mr_series_dir, tmp_path):
    series = make_series(mr_series_dir, tmp_path / "s", count=30)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in series.files:
            zf.write(path, f"s/{path.name}")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("s/0020.dcm")
    data[info.header_offset + 30 + len("s/0020.dcm") + 1000] ^= 0xFF  # one changed byte
    archive.write_bytes(bytes(data))
    with upload_batch() as batch:
        batch.add_zip("a.zip", archive)
        outcomes = list(parsing.parse_in_order(((i.source, i.name) for i in batch.ready_files()), len(batch.files)))
    bad = [(name, o) for name, o in outcomes if not isinstance(o, ParsedInstance)]
    assert len(outcomes) == 30
    assert [(name, o.code) for name, o in bad] == [("a.zip/s/0020.dcm", "bad_archive")]
    assert isinstance(bad[0][1], ArchiveMemberError)


def test_a_killed_worker_means_parsing_in_the_calling_thread(pool_ready, mr_series_dir, tmp_path):
    series = make_series(mr_series_dir, tmp_path / "s", count=48)
    outcomes = parsing.parse_in_order(((p, p.name) for p in series.files), len(series.files))
    first = [next(outcomes)]
    for pid in list(parsing._pool._processes):  # a worker killed mid-upload (out of memory, an operator)
        os.kill(pid, signal.SIGKILL)
    rest = list(outcomes)
    got = first + rest
    assert [name for name, _ in got] == [p.name for p in series.files]
    assert all(isinstance(o, ParsedInstance) for _, o in got)
    assert parsing.wait_until_ready(60)  # and the next large upload has a fresh pool
    assert all(isinstance(o, ParsedInstance) for _, o in _outcomes(series.files))


def test_workers_killed_while_idle_are_replaced(pool_ready, mr_series_dir, tmp_path):
    series = make_series(mr_series_dir, tmp_path / "s", count=32)
    assert parsing.wait_until_ready(60)
    for pid in list(parsing._pool._processes):  # killed between two uploads
        os.kill(pid, signal.SIGKILL)
    got = _outcomes(series.files)
    assert all(isinstance(o, ParsedInstance) for _, o in got) and len(got) == 32
    assert parsing.wait_until_ready(60)
    assert all(isinstance(o, ParsedInstance) for _, o in _outcomes(series.files))


def test_workers_exit_when_the_server_that_started_them_dies(tmp_path):
    """A backend killed outright (no atexit) leaves no parsing workers behind."""
    import subprocess
    import sys
    import time

    script = (
        "import os, sys\n"
        "from medcloud.pacs import parsing\n"
        "assert parsing.wait_until_ready(60)\n"
        "print(' '.join(str(p) for p in parsing._pool._processes), flush=True)\n"
        "os._exit(0)\n"  # like SIGKILL: no clean-up runs
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == parsing.workers()

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/status") as status:
                return "State:\tZ" not in status.read()
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)
