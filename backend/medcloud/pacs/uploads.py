"""Turning an upload (form files, a zip of folders, a STOW-RS body) into files on disk, safely.

Everything lands in one private temporary folder that is removed afterwards, whatever happens. Archives
are checked before a byte is extracted (paths, nesting, encryption, declared sizes and compression ratio)
and again while extracting (actual sizes), so that a zip bomb or a path traversal is refused early. Members
stored without compression (what DICOM zips mostly are: the pixel data does not compress) are not extracted
at all: they are read in place from the uploaded archive, their CRC-32 checked on every read.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings

from medcloud.core.errors import ApplicationError

from .archive import ZIP_MAGIC, ArchiveMember
from .multipart import MultipartError, MultipartParser, boundary_of, iter_stream

SKIPPED_MEMBERS = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|DICOMDIR$)", re.IGNORECASE)
RATIO_MIN_BYTES = 1024 * 1024  # small members may compress well: only larger ones are held to the ratio
COPY_CHUNK = 1024 * 1024
EXTRACT_THREADS = 2
BATCH_PREFIX = "medcloud-upload-"


class UploadRejected(ApplicationError):
    """An upload refused, naming the file (``details.file``) when one is to blame."""

    default_code = "invalid_upload"

    def __init__(self, message: str, *, file: str | None = None, code: str = "invalid_upload") -> None:
        details = {"file": file} if file is not None else {}
        super().__init__(f"{file}: {message}" if file else message, code=code, details=details)


@dataclass
class UploadedPath:
    name: str
    source: Path | ArchiveMember  # anything with read_bytes(): a file in the batch folder, or a stored member
    pending: Future[int] | None = None  # being extracted from an archive: its size once done


class UploadBatch:
    """The files of one upload, in a private temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._archives: list[zipfile.ZipFile] = []
        self.files: list[UploadedPath] = []
        self.total_bytes = 0
        self._counter = 0

    def _new_path(self) -> Path:
        self._counter += 1
        return self.root / f"{self._counter:06d}.dcm"

    def _account(self, name: str, size: int) -> None:
        self.total_bytes += size
        if len(self.files) > settings.PACS_UPLOAD_MAX_FILES:
            raise UploadRejected(f"too many files (at most {settings.PACS_UPLOAD_MAX_FILES} per upload)",
                                 file=name, code="too_many_files")
        if self.total_bytes > settings.PACS_ZIP_MAX_TOTAL_BYTES:
            raise UploadRejected("the upload expands to more than the allowed total size", file=name,
                                 code="too_large")

    def add_stream(self, name: str, stream: IO[bytes]) -> None:
        """A plain (non-archive) file: copied to the batch folder as it is."""
        path = self._new_path()
        size = 0
        with path.open("wb") as out:
            for chunk in iter_stream(stream, COPY_CHUNK):
                size += len(chunk)
                out.write(chunk)
        self.files.append(UploadedPath(name, path))
        self._account(name, size)

    def add_upload(self, uploaded: Any) -> None:
        """A Django UploadedFile from a form: a DICOM file, or a zip whose folders hold series."""
        name = str(uploaded.name or "upload")
        uploaded.seek(0)
        head = uploaded.read(4)
        uploaded.seek(0)
        if head == ZIP_MAGIC:
            if hasattr(uploaded, "temporary_file_path"):
                self.add_zip(name, Path(uploaded.temporary_file_path()))
            else:
                self.add_zip(name, uploaded)
        else:
            self.add_stream(name, uploaded)

    def add_zip(self, archive_name: str, source: Any) -> None:
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UploadRejected("not a readable zip archive", file=archive_name, code="bad_archive") from exc
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not SKIPPED_MEMBERS.search(m.filename)]
            declared = 0
            for member in members:  # every check before extracting anything
                shown = f"{archive_name}/{member.filename}"
                check_member_path(member.filename, shown)
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise UploadRejected("symbolic links are not accepted in archives", file=shown,
                                         code="unsafe_path")
                if member.flag_bits & 0x1:
                    raise UploadRejected("encrypted archive members are not accepted", file=shown, code="bad_archive")
                if member.filename.lower().endswith((".zip", ".tar", ".gz", ".tgz", ".7z", ".rar")):
                    raise UploadRejected("nested archives are not accepted", file=shown, code="nested_archive")
                ratio = member.file_size / max(member.compress_size, 1)
                if member.file_size > RATIO_MIN_BYTES and ratio > settings.PACS_ZIP_MAX_RATIO:
                    raise UploadRejected(f"compression ratio {ratio:.0f}:1 is above the limit of "
                                         f"{settings.PACS_ZIP_MAX_RATIO}:1 (zip bomb?)", file=shown, code="zip_bomb")
                declared += member.file_size
                if declared > settings.PACS_ZIP_MAX_TOTAL_BYTES:
                    raise UploadRejected("the archive expands to more than the allowed total size", file=shown,
                                         code="too_large")
            if len(members) + len(self.files) > settings.PACS_UPLOAD_MAX_FILES:
                raise UploadRejected(f"too many files (at most {settings.PACS_UPLOAD_MAX_FILES} per upload)",
                                     file=archive_name, code="too_many_files")
            if isinstance(source, (str, Path)):
                stored = [m for m in members if m.compress_type == zipfile.ZIP_STORED]
                offsets = _stored_data_offsets(Path(source), stored, archive_name)
                members = [m for m in members if m.compress_type != zipfile.ZIP_STORED]
                for member in stored:  # in place: read (and CRC-checked) when validated and when stored
                    shown = f"{archive_name}/{member.filename}"
                    self.files.append(UploadedPath(shown, ArchiveMember(Path(source), offsets[member.header_offset],
                                                                        member.file_size, member.CRC, shown)))
                    self._account(shown, member.file_size)
            jobs = [(member, f"{archive_name}/{member.filename}", self._new_path()) for member in members]
            if isinstance(source, (str, Path)) and len(jobs) > 1:
                # Inflating releases the GIL: worker threads, each with its own handle on the archive file,
                # extract in the background while the files already out are validated (ready_files()).
                for member, shown, path in jobs:
                    future = self._extractor().submit(self._extract_in_worker, source, member, shown, path)
                    self.files.append(UploadedPath(shown, path, pending=future))
                return
            for member, shown, path in jobs:
                size = _extract_member(archive, member, shown, path)
                self.files.append(UploadedPath(shown, path))
                self._account(shown, size)

    def _extractor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=EXTRACT_THREADS, thread_name_prefix="unzip")
        return self._pool

    def _extract_in_worker(self, source: str | Path, member: zipfile.ZipInfo, shown: str, path: Path) -> int:
        archive = getattr(self._local, "archive", None)
        if archive is None:
            archive = self._local.archive = zipfile.ZipFile(source)  # noqa: SIM115 - closed in close()
            with self._lock:
                self._archives.append(archive)
        return _extract_member(archive, member, shown, path)

    def ready_files(self) -> Iterator[UploadedPath]:
        """The files in upload order, each once it is fully on disk (the first failed extraction raises)."""
        for item in self.files:
            if item.pending is not None:
                size = item.pending.result()
                item.pending = None
                self._account(item.name, size)
            yield item

    def close(self) -> None:
        """Stop background extraction (what has not started is cancelled) and close the archive handles."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for archive in self._archives:
            archive.close()
        self._archives.clear()

    def add_stow_body(self, content_type: str, stream: IO[bytes]) -> None:
        """A STOW-RS request body: multipart/related, each part one application/dicom instance."""
        if not content_type.lower().startswith("multipart/related"):
            raise UploadRejected("STOW-RS expects a multipart/related body", code="unsupported_media_type")
        try:
            parser = MultipartParser(boundary_of(content_type))
            out: IO[bytes] | None = None
            name = ""
            size = 0
            received = 0
            part_number = 0
            for chunk in iter_stream(stream):
                received += len(chunk)
                if received > settings.PACS_UPLOAD_MAX_BYTES:
                    raise UploadRejected(f"the request body is larger than the limit of "
                                         f"{settings.PACS_UPLOAD_MAX_BYTES} bytes", code="too_large")
                for event, value in parser.feed(chunk):
                    if event == "headers":
                        part_number += 1
                        name = f"part {part_number}"
                        headers = value if isinstance(value, dict) else {}
                        part_type = str(headers.get("content-type", "application/dicom")).split(";")[0].strip().lower()
                        if part_type != "application/dicom":
                            raise UploadRejected(f"parts must be application/dicom, not {part_type[:60]}", file=name,
                                                 code="unsupported_media_type")
                        path = self._new_path()
                        out = path.open("wb")
                        size = 0
                        self.files.append(UploadedPath(name, path))
                    elif event == "data" and out is not None and isinstance(value, bytes):
                        size += len(value)
                        out.write(value)
                    elif event == "end_part" and out is not None:
                        out.close()
                        out = None
                        self._account(name, size)
            parser.close()
        except MultipartError as exc:
            raise UploadRejected(f"malformed multipart body: {exc}", code="bad_multipart") from exc
        if not self.files:
            raise UploadRejected("the STOW-RS body holds no instance", code="empty_upload")


def _stored_data_offsets(archive: Path, members: list[zipfile.ZipInfo], archive_name: str) -> dict[int, int]:
    """Where each stored member's data begins, from its local header, checked against the central directory
    the way zipfile checks it when it opens a member (signature, name, no encryption, no compression)."""
    offsets: dict[int, int] = {}
    with archive.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        for member in members:
            shown = f"{archive_name}/{member.filename}"
            header = os.pread(handle.fileno(), 30, member.header_offset)
            if len(header) != 30 or header[:4] != ZIP_MAGIC:
                raise UploadRejected("the archive member has no valid local header", file=shown, code="bad_archive")
            flags, method = struct.unpack("<HH", header[6:10])
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            raw_name = os.pread(handle.fileno(), name_length, member.header_offset + 30)
            local_name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
            if local_name != member.orig_filename or flags & 0x1 or method != zipfile.ZIP_STORED \
                    or member.compress_size != member.file_size:
                raise UploadRejected("the archive's local header and central directory disagree", file=shown,
                                     code="bad_archive")
            offset = member.header_offset + 30 + name_length + extra_length
            if offset + member.file_size > size:
                raise UploadRejected("the archive member runs past the end of the archive", file=shown,
                                     code="bad_archive")
            offsets[member.header_offset] = offset
    return offsets


def _extract_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, shown: str, path: Path) -> int:
    """Extract one member to `path`, refusing nested archives and members larger than their header says."""
    written = 0
    try:
        with archive.open(member) as src, path.open("wb") as out:
            first = True
            while chunk := src.read(COPY_CHUNK):
                if first and chunk[:4] == ZIP_MAGIC:
                    raise UploadRejected("nested archives are not accepted", file=shown, code="nested_archive")
                first = False
                written += len(chunk)
                if written > member.file_size:  # lying headers
                    raise UploadRejected("the member is larger than its header says", file=shown,
                                         code="zip_bomb")
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise UploadRejected("the archive member is corrupt", file=shown, code="bad_archive") from exc
    return written


def check_member_path(filename: str, shown: str) -> None:
    if "\x00" in filename:
        raise UploadRejected("the file name holds a NUL byte", file=shown, code="unsafe_path")
    normalised = filename.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        raise UploadRejected("absolute paths are not accepted in archives", file=shown, code="unsafe_path")
    if ".." in PurePosixPath(normalised).parts:
        raise UploadRejected("'..' is not accepted in archive paths", file=shown, code="unsafe_path")


@contextmanager
def upload_batch() -> Iterator[UploadBatch]:
    # the process id in the name: a folder whose process is gone was left by a crash (clean_stale_uploads)
    root = Path(tempfile.mkdtemp(prefix=f"{BATCH_PREFIX}{os.getpid()}-", dir=settings.FILE_UPLOAD_TEMP_DIR))
    batch = UploadBatch(root)
    try:
        yield batch
    finally:
        batch.close()
        shutil.rmtree(root, ignore_errors=True)


def check_declared_size(request: Any) -> None:
    """Refuse a body whose declared length is over the limit before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.PACS_UPLOAD_MAX_BYTES:
        raise UploadRejected(f"the request body ({length} bytes) is larger than the limit of "
                             f"{settings.PACS_UPLOAD_MAX_BYTES} bytes", code="too_large")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_uploads(folder: str | Path | None = None, *, older_than_seconds: float = 3600) -> int:
    """Remove what uploads left in the upload temporary folder when their process died (a crash, a kill -9):
    batch folders whose process is gone, and Django's spooled form files (``*.upload*``) older than
    ``older_than_seconds`` (a live upload's are younger). Run when a backend process starts. Returns how many
    entries were removed. Upload files hold PHI until they are de-identified: none may outlive its request."""
    import time

    root = Path(folder or settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())
    removed = 0
    cutoff = time.time() - older_than_seconds
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir() and entry.name.startswith(BATCH_PREFIX):
                pid = entry.name[len(BATCH_PREFIX):].split("-", 1)[0]
                if pid.isdigit() and not _process_alive(int(pid)):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            elif entry.is_file() and ".upload" in entry.name and entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)
                removed += 1
        except OSError:
            continue
    return removed
