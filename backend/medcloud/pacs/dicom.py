"""DICOM parsing, validation and PHI protection (pydicom). No Django here: pure functions over files.

PHI protection (before anything reaches Orthanc): the identifying attributes of the DICOM basic
application-level confidentiality profile that MedCloud does not need in the clear are emptied, and
PatientID / PatientName become the patient's random pseudonym. Their original values are returned as DICOM
JSON elements, which the backend keeps encrypted (AES-256-GCM) and puts back into DICOMweb responses for
authorised readers. UIDs, study and series dates, modality and series descriptions stay in the clear
(Orthanc and the viewer need them; they do not name anyone).
"""

from __future__ import annotations

import datetime
import functools
import io
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.tag import Tag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")

# Patient- and study-level attributes kept encrypted in `Study.phi` (tag -> keyword, for documentation).
STUDY_PHI_TAGS: dict[str, str] = {
    "00100010": "PatientName",
    "00100020": "PatientID",
    "00100021": "IssuerOfPatientID",
    "00100030": "PatientBirthDate",
    "00100032": "PatientBirthTime",
    "00100040": "PatientSex",
    "00101000": "OtherPatientIDs",
    "00101001": "OtherPatientNames",
    "00101002": "OtherPatientIDsSequence",
    "00101005": "PatientBirthName",
    "00101010": "PatientAge",
    "00101020": "PatientSize",
    "00101030": "PatientWeight",
    "00101040": "PatientAddress",
    "00101060": "PatientMotherBirthName",
    "00102154": "PatientTelephoneNumbers",
    "00102160": "EthnicGroup",
    "00102180": "Occupation",
    "001021B0": "AdditionalPatientHistory",
    "00104000": "PatientComments",
    "00080050": "AccessionNumber",
    "00080080": "InstitutionName",
    "00080081": "InstitutionAddress",
    "00080090": "ReferringPhysicianName",
    "00080092": "ReferringPhysicianAddress",
    "00080094": "ReferringPhysicianTelephoneNumbers",
    "00081030": "StudyDescription",
    "00081040": "InstitutionalDepartmentName",
    "00081048": "PhysiciansOfRecord",
    "00081060": "NameOfPhysiciansReadingStudy",
    "00200010": "StudyID",
    "00321032": "RequestingPhysician",
    # The rest of the basic profile's patient-, visit- and request-level attributes (PS3.15 E.1-1) that are
    # the same for every instance of a study: emptied in Orthanc, restored for readers like the ones above.
    "00080082": "InstitutionCodeSequence",
    "00080096": "ReferringPhysicianIdentificationSequence",
    "00081049": "PhysiciansOfRecordIdentificationSequence",
    "00081062": "PhysiciansReadingStudyIdentificationSequence",
    "00081080": "AdmittingDiagnosesDescription",
    "00081084": "AdmittingDiagnosesCodeSequence",
    "00081120": "ReferencedPatientSequence",
    "00100050": "PatientInsurancePlanCodeSequence",
    "00101080": "MilitaryRank",
    "00101081": "BranchOfService",
    "00101090": "MedicalRecordLocator",
    "00102000": "MedicalAlerts",
    "00102110": "Allergies",
    "00102150": "CountryOfResidence",
    "00102152": "RegionOfResidence",
    "001021A0": "SmokingStatus",
    "001021C0": "PregnancyStatus",
    "001021D0": "LastMenstrualDate",
    "001021F0": "PatientReligiousPreference",
    "00102297": "ResponsiblePerson",
    "00102299": "ResponsibleOrganization",
    "00321033": "RequestingService",
    "00321060": "RequestedProcedureDescription",  # one of Orthanc's indexed study tags
    "00380010": "AdmissionID",
    "00380300": "CurrentPatientLocation",
    "00380400": "PatientInstitutionResidence",
    "00380500": "PatientState",
    "00401001": "RequestedProcedureID",
}
# Series-level attributes kept encrypted in `Series.phi`.
SERIES_PHI_TAGS: dict[str, str] = {
    "00081010": "StationName",
    "00081050": "PerformingPhysicianName",
    "00081070": "OperatorsName",
    "00181000": "DeviceSerialNumber",
    "00081052": "PerformingPhysicianIdentificationSequence",
    "00081072": "OperatorIdentificationSequence",
    "00400241": "PerformedStationAETitle",
    "00400242": "PerformedStationName",
    "00400243": "PerformedLocation",
    "00400253": "PerformedProcedureStepID",
    "00400254": "PerformedProcedureStepDescription",  # one of Orthanc's indexed series tags
    "00400275": "RequestAttributesSequence",
    "00400280": "CommentsOnThePerformedProcedureStep",
}
PSEUDONYMISED_TAGS = {"00100010", "00100020"}  # PatientName, PatientID: the pseudonym instead of emptiness
_PSEUDONYMISED_VRS = {"00100010": "PN", "00100020": "LO"}
_PHI_TAG_INTS = tuple(int(k, 16) for k in (*STUDY_PHI_TAGS, *SERIES_PHI_TAGS))
_PSEUDONYMISED_INTS = tuple(int(k, 16) for k in PSEUDONYMISED_TAGS)

NATIVE_SYNTAXES = {
    pydicom.uid.ImplicitVRLittleEndian, pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ExplicitVRBigEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,
}


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


def _tag_key(tag: int) -> str:
    return f"{tag:08X}"


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


def element_json(elem: DataElement) -> dict[str, Any]:
    return elem.to_json_dict(bulk_data_element_handler=None, bulk_data_threshold=10**9)


def collect_phi(ds: Dataset, tags: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in tags:
        elem = ds.get(Tag(int(key, 16)))
        if elem is not None and not elem.is_empty:
            result[key] = element_json(elem)
        elif key in PSEUDONYMISED_TAGS:
            # Orthanc holds the pseudonym here even when the original was empty or absent: record the
            # emptiness, so that readers get an empty value back, never the pseudonym.
            result[key] = {"vr": _PSEUDONYMISED_VRS[key]}
    return result


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


# The explicit VRs whose length takes 4 bytes (after 2 reserved ones), as pydicom reads them (plain strings).
_LONG_LENGTH_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
UNDEFINED_LENGTH = 0xFFFFFFFF


def _element_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def check_element_order(data: bytes, ds: Dataset) -> None:
    """Refuse a file whose top-level elements repeat or are not in ascending order (DICOM requires it).

    pydicom keeps the LAST copy of a repeated element, Orthanc's parser (DCMTK) the FIRST: a real
    PatientName followed by a decoy would be protected as the decoy while Orthanc indexed the real name in
    the clear, and a second StudyInstanceUID would file the instance under another study. `ds` is
    pydicom's parse of `data`, its raw elements not yet decoded: when they lie end to end in the bytes, in
    ascending order, nothing can repeat (`_tile_end`; ~0.05 ms an MR slice, no second parse). Otherwise
    (a deflated dataset, an undefined-length sequence, a command group) the elements are walked in the
    bytes, as pydicom reads them, values skipped (~0.25 ms)."""
    if ds.file_meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
        meta_end = _tile_end(ds.file_meta._dict, data, 132, 0x00020000, 0x0002FFFF)
        end = _tile_end(ds._dict, data, meta_end, 0x00030000, 0xFFFFFFFF) if meta_end is not None else None
        if end is not None and 0 <= len(data) - end < 8:  # pydicom ignores a tail under 8 bytes too
            return
    stream = io.BytesIO(data)
    stream.seek(132)
    seen: set[int] = set()
    # as pydicom reads them: the meta group (explicit VR little endian), then any command group (implicit)
    _walk(stream, data, _looks_implicit(data, 132, False), True, seen, lambda tag, vr, length: tag >> 16 != 2)
    _walk(stream, data, _looks_implicit(data, stream.tell(), True), True, seen,
          lambda tag, vr, length: tag >> 16 != 0)
    start = stream.tell()
    implicit, little = ds.original_encoding
    if ds.file_meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian:
        data, start, implicit = zlib.decompress(data[start:], -zlib.MAX_WBITS), 0, False
        stream = io.BytesIO(data)
    stream.seek(start)
    _walk(stream, data, _looks_implicit(data, start, bool(implicit)), bool(little), seen, None)


def _looks_implicit(data: bytes, position: int, assumed: bool) -> bool:
    """Implicit or explicit VR, decided from the first element's VR bytes as pydicom decides it (it
    follows what the bytes look like over what the transfer syntax says)."""
    vr = data[position + 4:position + 6]
    if len(vr) < 2:
        return assumed
    return not (0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B)


def _tile_end(elements: Mapping[Any, Any], data: bytes, start: int, lowest: int, highest: int) -> int | None:
    """Where pydicom's top-level `elements` (a dataset's `_dict`) end in `data` when, in the order it met
    them, their tags ascend from `lowest` to `highest` and they lie end to end from `start`; else None
    ("walk the bytes", not "refuse"). Then nothing repeats: pydicom keeps one entry per tag, in the place
    where the first copy was met but with the last copy's position, so a repeated element leaves a copy's
    bytes (8 or more) uncovered, or an entry out of place."""
    tags = list(map(int, elements))  # in the order met (a dict keeps the place of the first insertion)
    if not tags or tags[0] < lowest or tags[-1] > highest or tags != sorted(tags):
        return None
    raw = next((e for e in elements.values() if type(e) is RawDataElement), None)
    if raw is None:
        return None
    implicit, little = raw.is_implicit_VR, raw.is_little_endian  # the same for all the elements of a walk
    position = start
    for tag, element in zip(tags, elements.values(), strict=True):
        if type(element) is RawDataElement:
            value_at = element.value_tell
            if value_at - (8 if implicit or element.VR not in _LONG_LENGTH_VRS else 12) != position:
                return None
            length = element.length
            if length == UNDEFINED_LENGTH:  # encapsulated pixel data: the value, then an 8-byte delimiter
                if element.value is None:
                    return None
                length = len(element.value) + 8
        else:  # decoded while reading (Specific Character Set...): its length from its header in the bytes
            decoded_at: int | None = getattr(element, "file_tell", None)
            decoded_length = _header_length(data, position, tag, decoded_at, implicit, little)
            if decoded_at is None or decoded_length is None:
                return None
            value_at, length = decoded_at, decoded_length
        position = value_at + length
    return position


def _header_length(data: bytes, position: int, tag: int, value_at: int | None, implicit: bool,
                   little: bool) -> int | None:
    """The defined value length in the header of `tag` at `position`, read as pydicom read it, when the
    header ends exactly at `value_at` (so no other bytes lie between); else None."""
    if value_at is None:
        return None
    header = value_at - position
    endian = "<" if little else ">"
    if header not in (8, 12) or len(data) < value_at \
            or struct.unpack_from(endian + "HH", data, position) != (tag >> 16, tag & 0xFFFF):
        return None
    vr = data[position + 4:position + 6]
    if header == 12:
        long_vr = not implicit and vr.decode("latin-1") in _LONG_LENGTH_VRS
        length = struct.unpack_from(endian + "L", data, position + 8)[0] if long_vr else None
    elif implicit or (vr.decode("latin-1") not in _LONG_LENGTH_VRS and not b"AA" <= vr <= b"ZZ"
                      and pydicom.config.assume_implicit_vr_switch):
        length = struct.unpack_from(endian + "L", data, position + 4)[0]  # an implicit VR header
    elif vr.decode("latin-1") in _LONG_LENGTH_VRS:
        length = None  # a 4-byte length would have made the header 12 bytes
    else:
        length = struct.unpack_from(endian + "H", data, position + 6)[0]
    return None if length is None or length == UNDEFINED_LENGTH else length


def _walk(stream: io.BytesIO, data: bytes, implicit: bool, little: bool, seen: set[int],
          stop_when: Callable[[Any, Any, int], bool] | None) -> None:
    """Read the top-level elements from the stream's position with pydicom's own element reader (values
    skipped, not loaded) and refuse a tag met before (`seen`, shared by the meta group and the dataset) or
    lower than the previous one. With `stop_when`, the stream is left at the first element it stops at."""
    previous = -1
    try:
        for element in data_element_generator(stream, implicit, little, stop_when, defer_size=0):
            tag = int(element.tag)
            if stop_when is None and tag == 0 and isinstance(element, RawDataElement) \
                    and not data[element.value_tell - 8:].strip(b"\0"):
                return  # zero padding after the last element, which some writers leave
            if tag in seen:
                raise InvalidInstance(f"duplicated element {_element_name(tag)}")
            if tag < previous:
                raise InvalidInstance(f"elements out of order at {_element_name(tag)}")
            seen.add(tag)
            previous = tag
    except (EOFError, NotImplementedError):
        return  # pydicom stops reading there too (a truncated file is refused by the pixel data check)
    position = stream.tell()
    if stop_when is None and len(data) - position >= 8 and data[position:].strip(b"\0"):
        # pydicom stopped at a stray item delimiter: what follows, it never read, but another reader might
        raise InvalidInstance("unexpected data after the end of the dataset")


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
            splice_plan=_deidentification_plan(data, ds),
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


LONG_HEADER_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT"}


def deidentify_file(source: DicomSource, pseudonym: str,
                    plan: tuple[bool, dict[int, tuple[int, int, str]]] | None = None) -> bytes:
    """The file's bytes as Orthanc will store them: PHI emptied, patient name and ID replaced by the pseudonym.

    Only the protected elements are re-encoded and spliced into the original bytes; everything else (pixel
    data included) is copied byte for byte. Files this cannot handle safely (implicit big endian, deflated,
    group lengths, undefined-length sequences to empty, missing PatientName/PatientID) take the slower path:
    pydicom rewrites the whole dataset.
    """
    data = source.read_bytes()
    if plan is not None:
        implicit, offsets = plan
        spliced = _apply_splice(data, offsets, _deidentified_values(offsets, pseudonym), implicit)
    else:
        spliced = _splice_deidentified(data, pseudonym)
    if spliced is not None:
        return spliced
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=4096)
    deidentify_dataset(ds, pseudonym)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _top_level_offsets(data: bytes, implicit: bool, last_tag: int) -> dict[int, tuple[int, int, str]] | None:
    """(start, end, VR) of every top-level element up to `last_tag`, read from the bytes themselves."""
    from pydicom.filereader import data_element_generator

    if data[128:132] != b"DICM":
        return None
    meta_length = int.from_bytes(data[140:144], "little") if data[132:136] == b"\x02\x00\x00\x00" else None
    if meta_length is None:
        return None
    stream = io.BytesIO(data)
    stream.seek(144 + meta_length)
    offsets = {}
    try:
        for raw in data_element_generator(stream, implicit, True, stop_when=lambda tag, vr, length: tag > last_tag,
                                          defer_size=256):
            assert isinstance(raw, pydicom.dataelem.RawDataElement)
            if raw.length == 0xFFFFFFFF:
                end = stream.tell()
            else:
                end = raw.value_tell + raw.length
            vr = raw.VR or pydicom.datadict.dictionary_VR(raw.tag)
            header = 8 if implicit or vr not in LONG_HEADER_VRS else 12
            offsets[int(raw.tag)] = (raw.value_tell - header, end, vr)
            if raw.length == 0xFFFFFFFF and raw.tag in (0x00101002,):
                return None  # an undefined-length sequence to replace: let pydicom rewrite the dataset
    except Exception:  # noqa: BLE001 - unusual encodings: take the slow, safe path
        return None
    return offsets


def _deidentified_values(offsets: dict[int, tuple[int, int, str]], pseudonym: str) -> dict[int, Any]:
    return {tag: pseudonym if f"{tag:08X}" in PSEUDONYMISED_TAGS else None for tag in offsets}


def _deidentification_plan(data: bytes, ds: Dataset) -> tuple[bool, dict[int, tuple[int, int, str]]] | None:
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or not syntax.is_little_endian or syntax.is_deflated:
        return None
    present = ds._dict  # keyed by tag (an int): plain lookups, run for every file of every upload
    if not all(t in present for t in _PSEUDONYMISED_INTS):
        return None
    tags = [t for t in _PHI_TAG_INTS if t in present]
    if any((g << 16) in present for g in {t >> 16 for t in tags}):
        return None
    offsets = _offsets_from_parsed(ds, tags, syntax.is_implicit_VR)
    if offsets is None:  # some element already decoded, or of undefined length: walk the bytes again
        offsets = _top_level_offsets(data, syntax.is_implicit_VR, max(tags))
    if offsets is None or any(t not in offsets for t in tags):
        return None
    return syntax.is_implicit_VR, {t: offsets[t] for t in tags}


def _offsets_from_parsed(ds: Dataset, tags: list[int], implicit: bool) -> dict[int, tuple[int, int, str]] | None:
    """(start, end, VR) of `tags` from the raw elements pydicom kept while parsing `ds` from the file's bytes
    (their value positions are offsets into those bytes): the validation's own parse, not a second walk."""
    out: dict[int, tuple[int, int, str]] = {}
    for tag in tags:
        raw = ds._dict.get(tag)
        if not isinstance(raw, pydicom.dataelem.RawDataElement) or raw.value_tell is None \
                or raw.length == 0xFFFFFFFF:
            return None
        vr = raw.VR or pydicom.datadict.dictionary_VR(raw.tag)
        header = 8 if implicit or vr not in LONG_HEADER_VRS else 12
        out[tag] = (raw.value_tell - header, raw.value_tell + raw.length, vr)
    return out


def _splice_deidentified(data: bytes, pseudonym: str) -> bytes | None:
    ds = pydicom.dcmread(io.BytesIO(data))
    if not all(Tag(int(k, 16)) in ds for k in PSEUDONYMISED_TAGS):
        return None
    replacements: dict[int, Any] = {}
    for key in (*STUDY_PHI_TAGS, *SERIES_PHI_TAGS):
        tag = int(key, 16)
        if Tag(tag) in ds:
            replacements[tag] = pseudonym if key in PSEUDONYMISED_TAGS else None
    return splice_elements(data, ds, replacements)


def splice_elements(data: bytes, ds: Dataset, replacements: dict[int, Any]) -> bytes | None:
    """`data` with the top-level elements in `replacements` (tag -> new value, or a DataElement) re-encoded
    in place; every other byte is kept. None when it cannot be done safely (the caller then rewrites the
    whole dataset with pydicom): an element missing, an undefined-length one, a group length to maintain,
    a big-endian or deflated transfer syntax."""

    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or not syntax.is_little_endian or syntax.is_deflated:
        return None
    implicit = syntax.is_implicit_VR
    if any(Tag(g << 16) in ds for g in {t >> 16 for t in replacements}):  # group lengths would go stale
        return None
    offsets = _top_level_offsets(data, implicit, max(replacements, default=0))
    if offsets is None:
        return None
    return _apply_splice(data, offsets, replacements, implicit)


TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT"}


@functools.lru_cache(maxsize=512)
def _encode_simple(tag: int, vr: str, value: Any, implicit: bool) -> bytes | None:
    """Little-endian encoding of an emptied element, or of an ASCII text value (the pseudonym), without
    pydicom's writer (a few microseconds instead of a fraction of a millisecond per element; byte for byte
    what pydicom writes, tests/pacs/test_dicom_splice.py). None for anything else: pydicom encodes it."""
    if value is None:
        payload = b""
    elif isinstance(value, str) and value.isascii() and vr in TEXT_VRS and "\\" not in value:
        payload = value.encode("ascii")
        if len(payload) % 2:
            payload += b" "
    else:
        return None
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + struct.pack("<I", len(payload)) + payload
    if vr in LONG_HEADER_VRS:
        return head + vr.encode("ascii") + b"\0\0" + struct.pack("<I", len(payload)) + payload
    if len(payload) > 0xFFFF:
        return None
    return head + vr.encode("ascii") + struct.pack("<H", len(payload)) + payload


def _apply_splice(data: bytes, offsets: dict[int, tuple[int, int, str]], replacements: dict[int, Any],
                  implicit: bool) -> bytes | None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    pieces, cursor = [], 0
    for tag in sorted(replacements):
        if tag not in offsets:
            return None
        start, end, vr = offsets[tag]
        if start < cursor or end > len(data):
            return None
        value = replacements[tag]
        encoded = _encode_simple(tag, vr, value, implicit) if value is None or isinstance(value, str) else None
        if encoded is None:
            if isinstance(value, DataElement):
                element = value
            else:
                element = DataElement(tag, vr, [] if vr == "SQ" and value is None else value)
            buffer = DicomBytesIO()
            buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
            write_data_element(buffer, element)
            encoded = buffer.getvalue()
        pieces += [data[cursor:start], encoded]
        cursor = end
    pieces.append(data[cursor:])
    return b"".join(pieces)


def deidentify_dataset(ds: Dataset, pseudonym: str) -> None:
    for key in (*STUDY_PHI_TAGS, *SERIES_PHI_TAGS):
        tag = Tag(int(key, 16))
        if tag not in ds:
            continue
        if key in PSEUDONYMISED_TAGS:
            ds[tag].value = pseudonym
        elif ds[tag].VR == "SQ":
            ds[tag].value = []
        else:
            ds[tag].value = None
    for key in PSEUDONYMISED_TAGS:  # always present in Orthanc, so that its patient level is the pseudonym
        tag = Tag(int(key, 16))
        if tag not in ds:
            ds.add_new(tag, "PN" if key == "00100010" else "LO", pseudonym)


def phi_element(key: str, element: dict[str, Any]) -> DataElement:
    """The DataElement of one kept PHI element (DICOM JSON). One with no value (an originally empty
    PatientName, say) is an empty element: pydicom's from_json refuses a missing "Value" when told to read it."""
    value_key = next((k for k in ("Value", "InlineBinary", "BulkDataURI") if k in element), None)
    return DataElement.from_json(Dataset, key, element["vr"], element.get(value_key) if value_key else None,
                                 value_key)


def restore_dataset(ds: Dataset, phi: dict[str, Any]) -> None:
    """Put the original PHI back into a dataset (a whole instance served to an authorised reader)."""
    for key, element in phi.items():
        tag = Tag(int(key, 16))
        try:
            restored = phi_element(key, element)
        except Exception:  # noqa: BLE001,S112 - keep serving the pseudonymised value rather than failing
            continue
        ds[tag] = restored


def restore_instance_bytes(data: bytes, study_phi: dict[str, Any],
                           series_phi: dict[str, dict[str, Any]]) -> bytes:
    """A stored (pseudonymised) instance with its original PHI put back, spliced into the bytes when possible."""
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=4096)
    phi = {**study_phi, **series_phi.get(str(ds.get("SeriesInstanceUID", "")), {})}
    if not phi:
        return data
    replacements: dict[int, Any] = {}
    for key, element in phi.items():
        try:
            replacements[int(key, 16)] = phi_element(key, element)
        except Exception:  # noqa: BLE001,S112 - keep serving the pseudonymised value rather than failing
            continue
    spliced = splice_elements(data, ds, replacements)
    if spliced is not None:
        return spliced
    restore_dataset(ds, phi)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def restore_json(obj: dict[str, Any], phi: dict[str, Any], *, only_present: bool) -> dict[str, Any]:
    """Put the original PHI back into one DICOM JSON dataset (QIDO result or metadata item)."""
    for key, element in phi.items():
        if only_present and key not in obj:
            continue
        obj[key] = element
    return obj


def person_name_parts(value: str) -> tuple[str, str]:
    """(first name, last name) from a DICOM person name "Family^Given^Middle^Prefix^Suffix"."""
    parts = value.split("=")[0].split("^")
    last = parts[0].strip()
    first = " ".join(p.strip() for p in parts[1:3] if p.strip())
    return first, last
