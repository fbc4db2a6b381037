"""Zip members read in place: no Django here, so that the parsing workers (parsing.py) can read them too."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

ZIP_MAGIC = b"PK\x03\x04"


class ArchiveMemberError(Exception):
    """A member's bytes are not what the archive declares, or hide another archive."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, code)
        self.message, self.code = message, code


@dataclass(frozen=True)
class ArchiveMember:
    """A member stored without compression, read in place from the uploaded archive: no extracted copy.
    Every read checks the size and the CRC-32 the archive declares, as zipfile does when it extracts."""

    archive: Path
    offset: int  # of the member's data, after its local header
    size: int
    crc: int
    name: str  # as shown in errors: "upload.zip/folder/file.dcm"

    def read_bytes(self) -> bytes:
        with self.archive.open("rb") as handle:
            data = os.pread(handle.fileno(), self.size, self.offset)
        if len(data) != self.size or zlib.crc32(data) != self.crc:
            raise ArchiveMemberError("the archive member is corrupt (size or CRC-32 mismatch)", "bad_archive")
        if data[:4] == ZIP_MAGIC:
            raise ArchiveMemberError("nested archives are not accepted", "nested_archive")
        return data
