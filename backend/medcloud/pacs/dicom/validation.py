"""Parsing and validating one file completely before anything is stored (`parse_instance`: Part 10 file
meta, the four UIDs, element order, complete pixel data), and reading the descriptive attributes and PHI of
a validated instance (`describe`). No Django here."""

from __future__ import annotations

import datetime
import io
import re

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from .element_order import check_element_order
from .instance import MEDIA_STORAGE_DIRECTORY, DicomSource, InvalidInstance, ParsedInstance
from .profile import SERIES_PHI_TAGS, STUDY_PHI_TAGS, collect_phi
from .splice import deidentification_plan

UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")

NATIVE_SYNTAXES = {
    pydicom.uid.ImplicitVRLittleEndian, pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ExplicitVRBigEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,
}


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _date(value: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(value[:8], "%Y%m%d").date() if value else None
    except ValueError:
        return None


def _age_years(value: str) -> int | None:
    match = re.fullmatch(r"(\d{3})([DWMY])", value or "")
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2)
    return {"Y": number, "M": number // 12, "W": number // 52, "D": number // 365}[unit]


def _check_pixel_data(ds: Dataset) -> None:
    if "PixelData" not in ds:
        if ("Rows" in ds or "Columns" in ds) and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            # an image whose file ends before its pixels: pydicom stops quietly at the end of the bytes
            raise InvalidInstance("the image has no pixel data (truncated file?)")
        return
    syntax = ds.file_meta.get("TransferSyntaxUID")
    value = ds.PixelData
    if syntax in NATIVE_SYNTAXES:
        try:
            rows, cols = int(ds.Rows), int(ds.Columns)
            samples = int(ds.get("SamplesPerPixel", 1))
            if samples == 3 and str(ds.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
                samples = 2  # chroma halved horizontally: Y Y Cb Cr, two samples per pixel (PS3.3 C.7.6.3.1.2)
            expected = (rows * cols * samples * int(ds.BitsAllocated)
                        * int(ds.get("NumberOfFrames", 1) or 1) + 7) // 8
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidInstance("the image attributes (Rows, Columns, BitsAllocated) are missing or invalid") from exc
        if len(value) < expected:
            raise InvalidInstance(f"the pixel data is truncated ({len(value)} of {expected} bytes)")
    else:
        try:
            fragments = list(pydicom.encaps.generate_fragments(value))
        except Exception as exc:  # noqa: BLE001 - any parsing failure means a corrupt encapsulation
            raise InvalidInstance("the encapsulated pixel data is corrupt") from exc
        if not fragments:
            raise InvalidInstance("the encapsulated pixel data holds no fragment")


def parse_instance(source: DicomSource, name: str) -> ParsedInstance:
    """Read and validate one file completely. Raises InvalidInstance with a reason a person can act on."""
    data = source.read_bytes()
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except InvalidDicomError as exc:
        raise InvalidInstance("not a DICOM file (no DICM preamble and file meta information)",
                              not_dicom=data[128:132] != b"DICM") from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds of errors on corrupt input
        raise InvalidInstance(f"corrupt DICOM file ({exc.__class__.__name__})") from exc
    try:
        if ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY:
            raise InvalidInstance("a DICOMDIR (an index of other files), not an instance", dicomdir=True)
        # first, while pydicom's raw elements are untouched (reading an attribute decodes it in place)
        check_element_order(data, ds)
        required = {}
        for keyword in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"):
            value = _text(ds, keyword)
            if not value:
                raise InvalidInstance(f"{keyword} is missing")
            if len(value) > 64 or not UID_RE.match(value):
                raise InvalidInstance(f"{keyword} is not a valid UID")
            required[keyword] = value
        if "TransferSyntaxUID" not in ds.file_meta:
            raise InvalidInstance("the file meta information has no TransferSyntaxUID")
        _check_pixel_data(ds)
        return ParsedInstance(
            source=source,
            name=name,
            sop_instance_uid=required["SOPInstanceUID"],
            sop_class_uid=required["SOPClassUID"],
            study_uid=required["StudyInstanceUID"],
            series_uid=required["SeriesInstanceUID"],
            splice_plan=deidentification_plan(data, ds),
        )
    except InvalidInstance:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InvalidInstance(f"corrupt DICOM file ({exc.__class__.__name__})") from exc


def describe(instance: ParsedInstance) -> ParsedInstance:
    """Fill in the descriptive attributes and the PHI of an already validated instance (header only)."""
    if instance.described:
        return instance
    ds = pydicom.dcmread(io.BytesIO(instance.source.read_bytes()), stop_before_pixels=True)
    series_number = ds.get("SeriesNumber")
    instance.modality = _text(ds, "Modality").upper()[:16]
    try:
        instance.series_number = int(series_number) if series_number not in (None, "") else None
    except (TypeError, ValueError):
        instance.series_number = None
    instance.series_description = _text(ds, "SeriesDescription")
    instance.study_date = _date(_text(ds, "StudyDate"))
    instance.study_description = _text(ds, "StudyDescription")
    instance.patient_name = _text(ds, "PatientName")
    instance.patient_id = _text(ds, "PatientID")
    instance.patient_sex = _text(ds, "PatientSex").upper()[:1]
    instance.patient_birth_date = _date(_text(ds, "PatientBirthDate"))
    instance.patient_age_years = _age_years(_text(ds, "PatientAge"))
    instance.study_phi = collect_phi(ds, STUDY_PHI_TAGS)
    instance.series_phi = collect_phi(ds, SERIES_PHI_TAGS)
    instance.described = True
    return instance


def person_name_parts(value: str) -> tuple[str, str]:
    """(first name, last name) from a DICOM person name "Family^Given^Middle^Prefix^Suffix"."""
    parts = value.split("=")[0].split("^")
    last = parts[0].strip()
    first = " ".join(p.strip() for p in parts[1:3] if p.strip())
    return first, last
