"""Untrusted packages contained at run time: each attack fails with a clear reason and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from medcloud.sdk.sandbox import SandboxLimits, run_sandboxed
from medcloud.sdk.validate import package_sha256, validate_package
from tests.sdk.conftest import sandbox_processes

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)

FAST = SandboxLimits(cpu_seconds=20, wall_seconds=60, memory_bytes=2 << 30, max_processes=16)


def attack(body: str, labels: str = '("thing",)') -> str:
    """A package whose run() executes ``body`` (which fills the dict ``found``) and returns it as the summary."""
    return (
        "import os\nimport socket\nimport time\n\n"
        "from medcloud.sdk import Application, InferTask, InferType, Results\n\n\n"
        f"class Seg(InferTask):\n    type = InferType.SEGMENTATION\n"
        f"    labels = {labels}\n    modalities = ('MR',)\n\n\n"
        "class App(Application):\n    tasks = [Seg]\n\n    def run(self, series, context):\n        found = {}\n"
        + textwrap.indent(textwrap.dedent(body), " " * 8)
        + "\n        return Results(summary=found)\n"
    )


def run(make_package, mr_small, tmp_path, body: str, limits: SandboxLimits = FAST, requirements: str = "[]"):
    pkg = make_package(attack(body), requirements=requirements)
    assert validate_package(pkg) == [], "the attack package itself must be statically valid"
    before = package_sha256(pkg)
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
    res = run_sandboxed(pkg, mr_small, out, limits)
    assert sandbox_processes() == [], "processes of the sandbox uid survived the run"
    assert package_sha256(pkg) == before, "the package folder was modified by the run"
    return res, out


def test_template_runs_sandboxed(template_dir, mr_small, tmp_path):
    res = run_sandboxed(template_dir, mr_small, tmp_path / "out")
    assert res.ok, f"the template failed in the sandbox: {res.reason}\n{res.stderr[-3000:]}"
    assert res.results is not None and res.results.masks[0].array.shape == (12, 256, 256)
    assert [p["percent"] for p in res.progress] == [5.0, 40.0, 80.0, 100.0], "progress lines come back"
    assert "threshold" in res.stderr, "the model's log is kept for its owner"
    assert sandbox_processes() == []


def test_environment_is_clean(make_package, mr_small, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDCLOUD_KEK", "c2VjcmV0LWtleS1lbmNyeXB0aW9uLWtleQ==")
    monkeypatch.setenv("DATABASE_URL", "postgres://medcloud:secret@127.0.0.1:55432/medcloud")
    res, _ = run(
        make_package,
        mr_small,
        tmp_path,
        "found['env'] = dict(os.environ)\nfound['cwd'] = os.getcwd()\nfound['uid'] = os.getuid()",
    )
    assert res.ok, res.reason
    env = res.results.summary["env"]
    assert "MEDCLOUD_KEK" not in env and "DATABASE_URL" not in env, (
        f"platform secrets leaked into the sandbox: {sorted(env)}"
    )
    allowed = {
        "PATH",
        "HOME",
        "LANG",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONNOUSERSITE",
        "MPLCONFIGDIR",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "LD_LIBRARY_PATH",
        "LC_CTYPE",
        "PWD",
    }
    assert set(env) <= allowed, f"unexpected variables in the sandbox: {set(env) - allowed}"
    if os.geteuid() == 0:
        assert res.results.summary["uid"] != 0, "the model must not run as root"


def test_files_outside_are_invisible(make_package, mr_small, tmp_path):
    body = """
    for p in ['/work/main/.env', '/work', '/etc/shadow', '/etc/passwd', '/root', '/home', '/var', '/run',
              '/work/wt-sdk/backend/medcloud/settings', '/opt/medcloud-sdk/medcloud/settings', '/sys/class/net']:
        try:
            found[p] = 'listed %d' % len(os.listdir(p)) if os.path.isdir(p) else 'read %d' % len(open(p, 'rb').read())
        except OSError as exc:
            found[p] = 'denied: ' + exc.__class__.__name__
    found['root'] = sorted(os.listdir('/'))
    found['opt'] = sorted(os.listdir('/opt'))
    """
    res, _ = run(make_package, mr_small, tmp_path, body)
    assert res.ok, res.reason
    s = res.results.summary
    for p in [
        "/work/main/.env",
        "/work",
        "/etc/shadow",
        "/etc/passwd",
        "/root",
        "/home",
        "/var",
        "/run",
        "/work/wt-sdk/backend/medcloud/settings",
        "/opt/medcloud-sdk/medcloud/settings",
    ]:
        assert s[p].startswith("denied"), f"{p} is visible in the sandbox: {s[p]}"
    assert set(s["root"]) <= {
        "bin",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "model",
        "opt",
        "out",
        "proc",
        "sbin",
        "series",
        "tmp",
        "usr",
    }, f"unexpected top-level folders: {s['root']}"
    assert set(s["opt"]) <= {"python", "venv", "medcloud-sdk"}
    # the series itself is read by the SDK before the drop to the sandbox uid and given to run() in memory


@pytest.mark.parametrize("target", [("127.0.0.1", 55432), ("127.0.0.1", 56379), ("127.0.0.1", 58042), ("1.1.1.1", 443)])
def test_no_network(make_package, mr_small, tmp_path, target):
    body = f"""
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect({target!r})
        found['connect'] = 'connected'
    except OSError as exc:
        found['connect'] = 'failed: %s' % exc
    try:
        socket.getaddrinfo('example.com', 443)
        found['dns'] = 'resolved'
    except OSError as exc:
        found['dns'] = 'failed: %s' % exc
    found['interfaces'] = sorted(n for _, n in socket.if_nameindex())
    """
    res, _ = run(make_package, mr_small, tmp_path, body)
    assert res.ok, res.reason
    s = res.results.summary
    assert s["connect"].startswith("failed"), f"the sandbox reached {target}: {s['connect']}"
    assert s["dns"].startswith("failed"), "name resolution works inside the sandbox"
    assert s["interfaces"] == ["lo"], f"network interfaces visible: {s['interfaces']}"


def test_endless_loop_hits_cpu_limit(make_package, mr_small, tmp_path):
    limits = dataclasses.replace(FAST, cpu_seconds=3, wall_seconds=60)
    res, _ = run(make_package, mr_small, tmp_path, "while True:\n    pass", limits)
    assert not res.ok and "CPU-time limit of 3 s" in res.reason, (
        f"an endless loop was not stopped by CPU time: {res.reason}"
    )
    assert res.duration_s < 30


def test_sleeping_forever_hits_wall_clock(make_package, mr_small, tmp_path):
    limits = dataclasses.replace(FAST, wall_seconds=5)
    res, _ = run(make_package, mr_small, tmp_path, "time.sleep(3600)", limits)
    assert not res.ok and res.killed == "wall" and "wall-clock limit of 5 s" in res.reason, res.reason
    assert res.duration_s < 15


def test_unbounded_allocation_hits_memory_limit(make_package, mr_small, tmp_path):
    limits = dataclasses.replace(FAST, memory_bytes=1 << 30)
    res, _ = run(make_package, mr_small, tmp_path, "hog = []\nwhile True:\n    hog.append(bytearray(64 << 20))", limits)
    assert not res.ok and "memory limit of 1024 MiB" in res.reason, f"unbounded allocation not contained: {res.reason}"


def test_fork_bomb_hits_process_limit(make_package, mr_small, tmp_path):
    body = """
    children = []
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    """
    res, _ = run(make_package, mr_small, tmp_path, body, dataclasses.replace(FAST, max_processes=16))
    assert not res.ok and "process limit of 16" in res.reason, f"a fork bomb was not limited: {res.reason}"


def test_writes_outside_are_refused(make_package, mr_small, tmp_path):
    body = """
    for p in ['/model/evil.py', '/series/evil.dcm', '/usr/evil', '/etc/evil', '/evil', '/opt/python/evil',
              '/opt/medcloud-sdk/medcloud/sdk/evil.py', '/proc/sys/kernel/hostname']:
        try:
            with open(p, 'w') as fh:
                fh.write('x')
            found[p] = 'written'
        except OSError as exc:
            found[p] = 'denied: %s' % exc.__class__.__name__
    with open(os.path.join(str(context.scratch), 'ok.txt'), 'w') as fh:
        fh.write('scratch is writable')
    found['scratch'] = str(context.scratch)
    """
    res, _ = run(make_package, mr_small, tmp_path, body)
    assert res.ok, res.reason
    for p, outcome in res.results.summary.items():
        if p != "scratch":
            assert outcome.startswith("denied"), f"the sandbox could write {p}"
    assert res.results.summary["scratch"] == "/tmp/scratch"


def test_huge_file_hits_file_size_limit(make_package, mr_small, tmp_path):
    limits = dataclasses.replace(FAST, max_file_bytes=8 << 20)
    body = "with open('/out/big.bin', 'wb') as fh:\n    for _ in range(100):\n        fh.write(b'x' * (1 << 20))"
    res, out = run(make_package, mr_small, tmp_path, body, limits)
    assert not res.ok and "file-size limit of 8 MiB" in res.reason, f"a huge file was not stopped: {res.reason}"
    assert (out / "big.bin").stat().st_size <= 8 << 20


def test_scratch_tmpfs_is_bounded(make_package, mr_small, tmp_path):
    limits = dataclasses.replace(FAST, tmpfs_bytes=16 << 20)
    body = "for i in range(100):\n    with open('/tmp/f%d' % i, 'wb') as fh:\n        fh.write(b'x' * (1 << 20))"
    res, _ = run(make_package, mr_small, tmp_path, body, limits)
    assert not res.ok and "No space left" in res.reason, f"the scratch tmpfs is not bounded: {res.reason}"


def test_wrong_mask_shape_is_refused(make_package, mr_small, tmp_path):
    pkg = make_package(
        "import numpy as np\nfrom medcloud.sdk import Application, InferTask, InferType, Mask, Results\n\n\n"
        "class Seg(InferTask):\n    type = InferType.SEGMENTATION\n    labels = ('thing',)\n\n\n"
        "class App(Application):\n    tasks = [Seg]\n\n    def run(self, series, context):\n"
        "        return Results(masks=[Mask(np.zeros((3, 4, 5), np.uint8), ['thing'])])\n",
        requirements='["numpy"]',
    )
    res = run_sandboxed(pkg, mr_small, tmp_path / "out", FAST)
    assert (
        not res.ok
        and "invalid results" in res.reason
        and "does not match the series shape (12, 256, 256)" in res.reason
    ), res.reason


def test_nan_confidence_is_refused(make_package, mr_small, tmp_path):
    pkg = make_package(
        "from medcloud.sdk import Application, InferTask, InferType, Label, Results\n\n\n"
        "class Cls(InferTask):\n    type = InferType.CLASSIFICATION\n    labels = ('a', 'b')\n\n\n"
        "class App(Application):\n    tasks = [Cls]\n\n    def run(self, series, context):\n"
        "        return Results(labels=[Label('a', float('nan'))])\n",
        tasks='["Cls"]',
    )
    res = run_sandboxed(pkg, mr_small, tmp_path / "out", FAST)
    assert not res.ok and "NaN" in res.reason, f"a NaN confidence was accepted: {res.reason}"


def test_symlink_planted_in_out_is_not_followed(make_package, mr_small, tmp_path):
    body = "os.symlink('/etc/shadow', '/out/mask_0.npy')"
    pkg = make_package(attack(body))
    out = tmp_path / "out"
    res = run_sandboxed(pkg, mr_small, out, FAST)
    assert res.ok, res.reason  # the model's own results.json does not name the planted file
    (out / "results.json").write_text('{"masks": [{"file": "mask_0.npy", "labels": ["thing"]}]}')
    from medcloud.sdk.results import ResultError, load_results

    with pytest.raises(ResultError, match="symlinks are refused"):
        load_results(out)


def test_output_and_logs_are_bounded(make_package, mr_small, tmp_path):
    limits = dataclasses.replace(FAST, max_log_bytes=1000)
    res, _ = run(make_package, mr_small, tmp_path, "print('x' * 100000)", limits)
    assert res.ok, res.reason
    assert len(res.stdout) < 1200 and "more bytes not kept" in res.stdout, "stdout must be bounded"


def test_model_exception_is_reported_with_traceback(make_package, mr_small, tmp_path):
    res, _ = run(make_package, mr_small, tmp_path, "raise ValueError('weights not found')")
    assert not res.ok and res.reason == "the model failed: ValueError: weights not found"
    assert "Traceback" in res.error["traceback"], "the owner gets the traceback"


def test_nothing_left_in_tmp(make_package, mr_small, tmp_path):
    before = set(Path("/tmp").iterdir())
    run(make_package, mr_small, tmp_path, "open('/tmp/leftover', 'w').write('x')")
    assert not (Path("/tmp") / "leftover").exists(), "the sandbox's /tmp is private"
    assert set(Path("/tmp").iterdir()) - before <= {p for p in Path("/tmp").iterdir() if p.name.startswith("pytest")}
