"""What an upload's files are once read: where the bytes are (`DicomSource`), the validated instance
(`ParsedInstance`), why a file was refused (`InvalidInstance`) and which refused files an upload may leave
out (`skip_reason`). Plain data: it pickles, so the parsing workers send it back. No Django here."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Protocol


class DicomSource(Protocol):
    """Where an instance's bytes are: a file (pathlib.Path) or a member read in place from an archive."""

    def read_bytes(self) -> bytes: ...


class InvalidInstance(Exception):
    """A file is not an acceptable DICOM instance; the message says why (no PHI in it).

    `not_dicom`: the file does not even claim to be DICOM (no "DICM" at offset 128); `dicomdir`: it is a
    media directory (DICOMDIR), an index of other files rather than an instance. Uploads skip such files
    (`skip_reason`). Plain attributes: the exception still pickles (parsing workers send it back)."""

    def __init__(self, message: str, *, not_dicom: bool = False, dicomdir: bool = False) -> None:
        super().__init__(message)
        self.not_dicom = not_dicom
        self.dicomdir = dicomdir


MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # the SOP class of a DICOMDIR


def skip_reason(name: str, exc: InvalidInstance, files: int) -> str | None:
    """Why an upload of `files` files may leave out the file `name` that `parse_instance` refused (`exc`),
    or None when the refusal stands. Only files that do not claim to be DICOM are left out (no DICM
    preamble and no .dcm/.dicom name: a LICENSE, README, .DS_Store in a folder), and only beside others;
    a DICOMDIR always (it only indexes the other files). A file that claims to be DICOM and is broken
    still refuses the upload."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if exc.dicomdir or base.upper() == "DICOMDIR":
        return "a DICOMDIR (an index of the other files), not an instance"
    if exc.not_dicom and files > 1 and not base.lower().endswith((".dcm", ".dicom")):
        return "not a DICOM file"
    return None


@dataclass
class ParsedInstance:
    source: DicomSource
    name: str  # the name the client gave the file (zip member, form file name or STOW part number)
    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    # (implicit VR?, {tag: (start, end, VR)}) of the elements to protect, found while validating, so that
    # de-identification only slices bytes; None: the file takes pydicom's full rewrite.
    splice_plan: tuple[bool, dict[int, tuple[int, int, str]]] | None = None
    # Descriptive attributes and PHI: read (`describe`) only for the first instance of each series.
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    study_date: datetime.date | None = None
    study_description: str = ""
    patient_name: str = ""
    patient_id: str = ""
    patient_sex: str = ""
    patient_birth_date: datetime.date | None = None
    patient_age_years: int | None = None
    study_phi: dict[str, Any] = field(default_factory=dict)
    series_phi: dict[str, Any] = field(default_factory=dict)
    described: bool = False


class ParsedFiles(list[ParsedInstance]):
    """The instances of an upload, in order, and the files it left out: (name, reason), see `skip_reason`."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[str, str]] = []
