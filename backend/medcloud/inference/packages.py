"""Model packages at rest: content-addressed zips (SHA-256) under MEDIA_ROOT/model-packages/, written once and
never changed (a published version is immutable); made from an upload or from a folder (the working copy, a
bundled model)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings

CHUNK = 1 << 20


def store_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "model-packages"


def path_for(sha256: str) -> Path:
    return store_root() / sha256[:2] / f"{sha256}.zip"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def store(zip_path: Path) -> tuple[str, int]:
    """Copy a (validated) package zip into the store; (sha256, size). Storing the same bytes twice is one file."""
    sha = file_sha256(zip_path)
    target = path_for(sha)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            with zip_path.open("rb") as source:
                shutil.copyfileobj(source, tmp, CHUNK)
        os.chmod(tmp.name, 0o440)
        os.replace(tmp.name, target)  # atomic: a reader never sees half a package
    return sha, target.stat().st_size


def zip_folder(folder: Path, out: Path) -> Path:
    """A deterministic zip of a package folder (sorted names, fixed timestamps: the same files, the same SHA)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return out


def zip_files(files: dict[str, bytes], out: Path) -> Path:
    """A deterministic zip of named contents (a working copy over a version's weights)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], zipfile.ZIP_DEFLATED)
    return out


def read_binaries(sha256: str, text_limit: int = 2 << 20) -> dict[str, bytes]:
    """The files of a stored package that the working copy does not hold (see :func:`read_texts`): weights and
    other data files, and text files too large to edit."""
    with zipfile.ZipFile(path_for(sha256)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()
                if not info.is_dir() and (not info.filename.endswith(TEXT_SUFFIXES) or info.file_size > text_limit)}


def read_texts(sha256: str, limit: int = 2 << 20) -> dict[str, str]:
    """The text files of a stored package (to start a working copy from a version)."""
    texts: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(path_for(sha256).read_bytes())) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.file_size > limit or not info.filename.endswith(TEXT_SUFFIXES):
                continue
            texts[info.filename] = archive.read(info).decode("utf-8", errors="replace")
    return texts


TEXT_SUFFIXES = (".py", ".toml", ".json", ".txt", ".md", ".yaml", ".yml", ".csv")
