"""DICOM-level hardening of uploads (pure unit tests: files built in memory with pydicom, no services):

- repeated or out-of-order top-level elements are refused (pydicom keeps the last copy, Orthanc's DCMTK the
  first, so a decoy copy would make the two read different patients or studies);
- uncompressed YBR_FULL_422 pixel data is two samples per pixel, not three;
- an originally empty PatientName / PatientID is restored as empty, never as the pseudonym;
- stray non-DICOM files (README, LICENSE, .DS_Store, DICOMDIR) beside DICOM files are skipped, not fatal.
"""

from __future__ import annotations

import io
import pickle
import zlib
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import data_element_generator
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from medcloud.pacs.dicom import (
    MEDIA_STORAGE_DIRECTORY,
    InvalidInstance,
    ParsedFiles,
    collect_phi,
    deidentify_file,
    describe,
    parse_instance,
    restore_dataset,
    restore_instance_bytes,
    restore_json,
    skip_reason,
)
from medcloud.pacs.dicom.element_order import _tile_end

SYNTAXES = {
    "explicit-le": ExplicitVRLittleEndian,
    "implicit-le": ImplicitVRLittleEndian,
    "explicit-be": ExplicitVRBigEndian,
}
PATIENT_NAME, PATIENT_ID = 0x00100010, 0x00100020
SOP_INSTANCE_UID, STUDY_UID, SERIES_UID = 0x00080018, 0x0020000D, 0x0020000E
MEDIA_SOP_INSTANCE_UID, MEDIA_SOP_CLASS_UID = 0x00020003, 0x00020002
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


class Source:
    """A DicomSource over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_bytes(self) -> bytes:
        return self.data


# --- building files ------------------------------------------------------------------------------------------

def make_dataset(syntax: str = ExplicitVRLittleEndian, **attributes) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyDate = "20240102"
    ds.Modality = "CT"
    ds.InstitutionName = "Saint Qwerty Hospital"
    ds.PatientName = "Real^Patient"
    ds.PatientID = "MRN-REAL-1"
    ds.PatientBirthDate = "19610423"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(16))
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def to_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def encode(tag: int, vr: str, value, *, implicit: bool = False, little: bool = True) -> bytes:
    """The raw bytes of one element, as a writer would put them in the file."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = little, implicit
    write_data_element(buffer, DataElement(tag, vr, value))
    return buffer.getvalue()


def encoding_of(syntax: str) -> tuple[bool, bool]:
    uid = pydicom.uid.UID(syntax)
    return uid.is_implicit_VR, uid.is_little_endian


def layout(data: bytes) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """(meta, dataset): tag -> (start, end) of each top-level element in the bytes of a well-formed file."""
    stream = io.BytesIO(data)
    stream.seek(132)
    meta: dict[int, tuple[int, int]] = {}
    dataset: dict[int, tuple[int, int]] = {}
    start = 132
    for elem in data_element_generator(stream, False, True, lambda tag, vr, length: tag >> 16 != 2):
        meta[int(elem.tag)] = (start, stream.tell())
        start = stream.tell()
    syntax = pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID
    implicit, little = encoding_of(syntax)
    for elem in data_element_generator(stream, implicit, little):
        dataset[int(elem.tag)] = (start, stream.tell())
        start = stream.tell()
    return meta, dataset


def insert(data: bytes, at: int, raw: bytes) -> bytes:
    return data[:at] + raw + data[at:]


def refusal(data: bytes) -> str:
    with pytest.raises(InvalidInstance) as caught:
        parse_instance(Source(data), "spliced.dcm")
    return str(caught.value)


# --- 1. repeated or out-of-order elements --------------------------------------------------------------------

DECOYS = {
    PATIENT_NAME: ("PN", "Decoy^Nobody"),
    PATIENT_ID: ("LO", "MRN-DECOY"),
    STUDY_UID: ("UI", "1.2.3.4.5.6.7.8.9"),
    SERIES_UID: ("UI", "1.2.3.4.5.6.7.8.10"),
    SOP_INSTANCE_UID: ("UI", "1.2.3.4.5.6.7.8.11"),
}


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_a_normal_file_passes_in_every_encoding(syntax: str) -> None:
    data = to_bytes(make_dataset(syntax))
    parsed = parse_instance(Source(data), "normal.dcm")
    assert parsed.sop_instance_uid == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
@pytest.mark.parametrize("tag", DECOYS, ids=[f"{t:08X}" for t in DECOYS])
def test_a_decoy_copy_after_the_real_element_is_refused(tag: int, syntax: str) -> None:
    data = to_bytes(make_dataset(syntax))
    _meta, elements = layout(data)
    implicit, little = encoding_of(syntax)
    vr, value = DECOYS[tag]
    spliced = insert(data, elements[tag][1], encode(tag, vr, value, implicit=implicit, little=little))
    # the attack is real: pydicom alone reads the decoy (the last copy), DCMTK would read the real one
    assert str(pydicom.dcmread(io.BytesIO(spliced))[tag].value) == value
    assert refusal(spliced) == f"duplicated element ({tag >> 16:04X},{tag & 0xFFFF:04X})"


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
@pytest.mark.parametrize("tag", [PATIENT_NAME, PATIENT_ID, STUDY_UID], ids=["name", "id", "study"])
def test_a_decoy_copy_appended_after_the_pixel_data_is_refused(tag: int, syntax: str) -> None:
    data = to_bytes(make_dataset(syntax))
    implicit, little = encoding_of(syntax)
    vr, value = DECOYS[tag]
    spliced = data + encode(tag, vr, value, implicit=implicit, little=little)
    assert refusal(spliced) == f"duplicated element ({tag >> 16:04X},{tag & 0xFFFF:04X})"


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_a_copy_of_any_element_anywhere_is_refused(syntax: str) -> None:
    """Every top-level element, copied just before itself, just after itself and at the end of the file:
    the quick check on pydicom's own parse must never vouch for such a file."""
    data = to_bytes(make_dataset(syntax))
    _meta, elements = layout(data)
    for tag, (start, end) in elements.items():
        copy = data[start:end]
        for spliced in (insert(data, start, copy), insert(data, end, copy), data + copy):
            assert refusal(spliced) == f"duplicated element ({tag >> 16:04X},{tag & 0xFFFF:04X})", hex(tag)


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_elements_out_of_order_are_refused(syntax: str) -> None:
    data = to_bytes(make_dataset(syntax))
    _meta, elements = layout(data)
    (name_start, name_end), (id_start, id_end) = elements[PATIENT_NAME], elements[PATIENT_ID]
    assert name_end == id_start
    swapped = data[:name_start] + data[id_start:id_end] + data[name_start:name_end] + data[id_end:]
    assert refusal(swapped) == "elements out of order at (0010,0010)"


@pytest.mark.parametrize("syntax", SYNTAXES.values(), ids=SYNTAXES.keys())
def test_a_duplicate_in_the_file_meta_group_is_refused(syntax: str) -> None:
    data = to_bytes(make_dataset(syntax))
    meta, _elements = layout(data)
    decoy = encode(MEDIA_SOP_INSTANCE_UID, "UI", "1.2.3.4.5.6.7.8.12")  # the meta group is always explicit LE
    spliced = insert(data, meta[MEDIA_SOP_INSTANCE_UID][1], decoy)
    assert refusal(spliced) == "duplicated element (0002,0003)"


def test_the_file_meta_group_out_of_order_is_refused() -> None:
    data = to_bytes(make_dataset())
    meta, _elements = layout(data)
    (class_start, class_end), (instance_start, instance_end) = meta[MEDIA_SOP_CLASS_UID], meta[MEDIA_SOP_INSTANCE_UID]
    swapped = (data[:class_start] + data[instance_start:instance_end] + data[class_start:class_end]
               + data[instance_end:])
    assert refusal(swapped) == "elements out of order at (0002,0002)"


def _deflated(data: bytes, splice=None) -> bytes:
    """`data` (explicit VR little endian) as Deflated Explicit VR Little Endian, its dataset first passed
    through `splice`."""
    meta, _elements = layout(data)
    meta_end = max(end for _start, end in meta.values())
    head, body = bytearray(data[:meta_end]), data[meta_end:]
    syntax_start, syntax_end = meta[0x00020010]
    new_syntax = encode(0x00020010, "UI", DeflatedExplicitVRLittleEndian)
    head[syntax_start:syntax_end] = new_syntax
    group_length_start, _ = meta[0x00020000]  # keep the group length right
    head[group_length_start + 8:group_length_start + 12] = (len(head) - group_length_start - 12).to_bytes(4, "little")
    if splice is not None:
        body = splice(body)
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return bytes(head) + packer.compress(body) + packer.flush()


def test_deflated_files_are_walked_after_inflating() -> None:
    data = to_bytes(make_dataset())
    _meta, elements = layout(data)
    meta_end = min(start for start, _end in elements.values())
    deflated = _deflated(data)
    assert pydicom.dcmread(io.BytesIO(deflated)).file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    parse_instance(Source(deflated), "deflated.dcm")
    at = elements[PATIENT_NAME][1] - meta_end
    decoy = encode(PATIENT_NAME, "PN", "Decoy^Nobody")
    assert refusal(_deflated(data, lambda body: insert(body, at, decoy))) == "duplicated element (0010,0010)"


def test_files_pydicom_reads_with_nested_structures_take_the_full_walk() -> None:
    """An undefined-length sequence (decoded while reading, so no raw length to check) and encapsulated pixel
    data: a normal file passes, a duplicate is still found."""
    item = Dataset()
    item.PatientID = "MRN-OTHER"
    ds = make_dataset(JPEGBaseline8Bit, PixelData=encapsulate([b"\xff\xd8\xff\xd9"]), BitsStored=8)
    ds["PixelData"].VR = "OB"
    ds.OtherPatientIDsSequence = Sequence([item])
    ds["OtherPatientIDsSequence"].is_undefined_length = True
    data = to_bytes(ds)
    parse_instance(Source(data), "nested.dcm")
    _meta, elements = layout(data)
    assert refusal(insert(data, elements[PATIENT_NAME][1], encode(PATIENT_NAME, "PN", "Decoy^Nobody"))) \
        == "duplicated element (0010,0010)"

    plain = make_dataset(JPEGBaseline8Bit, PixelData=encapsulate([b"\xff\xd8\xff\xd9"]))
    plain["PixelData"].VR = "OB"
    data = to_bytes(plain)
    parse_instance(Source(data), "jpeg.dcm")
    assert refusal(data + encode(SERIES_UID, "UI", "1.2.3")) == "duplicated element (0020,000E)"


def test_trailing_zero_padding_passes_but_data_pydicom_never_reads_is_refused() -> None:
    data = to_bytes(make_dataset())
    parse_instance(Source(data + bytes(64)), "padded.dcm")
    # an item delimiter at the top level makes pydicom stop reading; another reader may go on
    delimiter = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
    hidden = encode(0x00102160, "SH", "Hidden")
    assert refusal(data + delimiter + hidden) == "unexpected data after the end of the dataset"


def test_the_quick_check_vouches_for_a_real_series_file(mr_series_dir: Path) -> None:
    data = sorted(mr_series_dir.glob("*.dcm"))[0].read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    meta_end = _tile_end(ds.file_meta._dict, data, 132, 0x00020000, 0x0002FFFF)
    assert meta_end is not None
    assert _tile_end(ds._dict, data, meta_end, 0x00030000, 0xFFFFFFFF) == len(data)
    parse_instance(Source(data), "real.dcm")


# --- 2. YBR_FULL_422 ------------------------------------------------------------------------------------------

def _ybr_422(pixel_bytes: int) -> bytes:
    return to_bytes(make_dataset(SamplesPerPixel=3, PhotometricInterpretation="YBR_FULL_422", PlanarConfiguration=0,
                                 Rows=4, Columns=6, PixelData=bytes(pixel_bytes)))


def test_uncompressed_ybr_full_422_is_two_samples_per_pixel() -> None:
    parse_instance(Source(_ybr_422(4 * 6 * 2)), "ybr.dcm")  # Y Y Cb Cr: 48 bytes, not 72


def test_truncated_ybr_full_422_is_still_refused() -> None:
    assert refusal(_ybr_422(4 * 6 * 2 - 2)) == "the pixel data is truncated (46 of 48 bytes)"


def test_rgb_still_needs_three_samples_per_pixel() -> None:
    data = to_bytes(make_dataset(SamplesPerPixel=3, PhotometricInterpretation="RGB", PlanarConfiguration=0,
                                 Rows=4, Columns=6, PixelData=bytes(48)))
    assert refusal(data) == "the pixel data is truncated (48 of 72 bytes)"


# --- 3. empty PatientName / PatientID restored as empty ---------------------------------------------------------

@pytest.mark.parametrize("absent", [False, True], ids=["empty", "absent"])
def test_empty_patient_name_and_id_are_kept_as_empty(absent: bool) -> None:
    ds = make_dataset(PatientName=None, PatientID=None) if absent else make_dataset(PatientName="", PatientID="")
    phi = collect_phi(ds, {"00100010": "PatientName", "00100020": "PatientID", "00100030": "PatientBirthDate"})
    assert phi["00100010"] == {"vr": "PN"} and phi["00100020"] == {"vr": "LO"}
    assert phi["00100030"]["Value"] == ["19610423"]
    instance = describe(parse_instance(Source(to_bytes(ds)), "empty.dcm"))
    assert instance.study_phi["00100010"] == {"vr": "PN"} and instance.study_phi["00100020"] == {"vr": "LO"}


def test_other_empty_phi_is_still_not_recorded() -> None:
    phi = collect_phi(make_dataset(InstitutionName=""), {"00080080": "InstitutionName"})
    assert phi == {}


def test_restore_json_gives_back_an_empty_name_not_the_pseudonym() -> None:
    phi = collect_phi(make_dataset(PatientName=""), {"00100010": "PatientName", "00100020": "PatientID"})
    qido = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "P7QX2"}]},
            "00100020": {"vr": "LO", "Value": ["P7QX2"]}}
    restored = restore_json(qido, phi, only_present=True)
    assert restored["00100010"] == {"vr": "PN"}
    assert restored["00100020"] == {"vr": "LO", "Value": ["MRN-REAL-1"]}


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian],
                         ids=["explicit-le", "implicit-le", "explicit-be (pydicom rewrite)"])
@pytest.mark.parametrize("absent", [False, True], ids=["empty", "absent"])
def test_restored_instance_bytes_have_an_empty_patient_name(syntax: str, absent: bool) -> None:
    attrs = {"PatientName": None, "PatientID": None} if absent else {"PatientName": "", "PatientID": ""}
    data = to_bytes(make_dataset(syntax, **attrs))
    instance = describe(parse_instance(Source(data), "empty.dcm"))
    stored = deidentify_file(Source(data), "P7QX2", instance.splice_plan)
    as_stored = pydicom.dcmread(io.BytesIO(stored))
    assert (str(as_stored.PatientName), as_stored.PatientID) == ("P7QX2", "P7QX2")  # what Orthanc holds
    served = pydicom.dcmread(io.BytesIO(restore_instance_bytes(stored, instance.study_phi, {})))
    assert "PatientName" in served and str(served.PatientName) == ""
    assert "PatientID" in served and served.PatientID == ""
    assert served.InstitutionName == "Saint Qwerty Hospital"


def test_restore_dataset_puts_back_an_empty_element() -> None:
    ds = make_dataset(PatientName="P7QX2")
    restore_dataset(ds, {"00100010": {"vr": "PN"}, "00101002": {"vr": "SQ"}})
    assert ds["PatientName"].is_empty and str(ds.PatientName) == ""
    assert ds["OtherPatientIDsSequence"].is_empty


# --- 4. stray files beside the DICOM files ------------------------------------------------------------------------

def _not_dicom() -> InvalidInstance:
    return InvalidInstance("not a DICOM file (no DICM preamble and file meta information)", not_dicom=True)


@pytest.mark.parametrize("name", ["study.zip/series1/LICENSE", "study.zip/README", "study.zip/a/.DS_Store",
                                  "notes.txt", "study.zip/a/IM0001"])
def test_a_file_that_does_not_claim_to_be_dicom_is_skipped_beside_others(name: str) -> None:
    assert skip_reason(name, _not_dicom(), 3) == "not a DICOM file"


@pytest.mark.parametrize("name", ["study.zip/series1/IM1.dcm", "IM1.DCM", "scan.dicom", "x.DiCoM"])
def test_a_file_named_dcm_claims_to_be_dicom_and_still_refuses_the_upload(name: str) -> None:
    assert skip_reason(name, _not_dicom(), 3) is None


def test_a_single_file_upload_is_refused_as_before() -> None:
    assert skip_reason("README", _not_dicom(), 1) is None


def test_a_broken_file_with_the_dicm_preamble_still_refuses_the_upload() -> None:
    broken = b"\0" * 128 + b"DICM" + b"\x02\x00"  # claims to be DICOM, then ends
    try:
        parse_instance(Source(broken), "IM0001")
    except InvalidInstance as exc:
        assert not exc.not_dicom
        assert skip_reason("study.zip/IM0001", exc, 3) is None
    else:  # pragma: no cover
        pytest.fail("a broken file was accepted")


@pytest.mark.parametrize("name", ["study.zip/DICOMDIR", "DICOMDIR", "study.zip/cd/dicomdir"])
def test_a_dicomdir_is_skipped_by_name(name: str) -> None:
    missing = InvalidInstance("SOPInstanceUID is missing")
    assert skip_reason(name, missing, 1) is not None
    assert skip_reason(name, missing, 5) is not None


def test_a_dicomdir_is_recognised_by_its_sop_class_whatever_its_name() -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "DISC1"
    with pytest.raises(InvalidInstance) as caught:
        parse_instance(Source(to_bytes(ds)), "index")
    assert caught.value.dicomdir and not caught.value.not_dicom
    assert skip_reason("study.zip/index", caught.value, 4) is not None


def test_parse_instance_says_when_a_file_does_not_claim_to_be_dicom() -> None:
    with pytest.raises(InvalidInstance) as caught:
        parse_instance(Source(b"MIT License\n\nPermission is hereby granted..." * 10), "LICENSE")
    assert caught.value.not_dicom


def test_the_reasons_survive_the_trip_back_from_a_parsing_worker() -> None:
    exc = pickle.loads(pickle.dumps(InvalidInstance("a DICOMDIR", dicomdir=True)))  # noqa: S301 - our own bytes
    assert (str(exc), exc.dicomdir, exc.not_dicom) == ("a DICOMDIR", True, False)
    exc = pickle.loads(pickle.dumps(_not_dicom()))  # noqa: S301 - our own bytes
    assert exc.not_dicom and not exc.dicomdir


# _parse_all itself, over a stand-in for the upload batch (no database, no Orthanc: it only parses)

def _batch(tmp_path: Path, files: dict[str, bytes]) -> SimpleNamespace:
    items = []
    for index, (name, content) in enumerate(files.items()):
        path = tmp_path / f"{index:04d}.bin"
        path.write_bytes(content)
        items.append(SimpleNamespace(name=name, source=path))
    return SimpleNamespace(files=items, ready_files=lambda: iter(items))


def test_parse_all_skips_stray_files_and_reports_them(tmp_path: Path) -> None:
    from medcloud.pacs.services import IngestResult, _parse_all

    dicomdir = Dataset()
    dicomdir.file_meta = FileMetaDataset()
    dicomdir.file_meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY
    dicomdir.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dicomdir.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    batch = _batch(tmp_path, {"s.zip/LICENSE": b"MIT License", "s.zip/a/IM1.dcm": to_bytes(make_dataset()),
                              "s.zip/a/.DS_Store": b"\0\0\0\1Bud1", "s.zip/INDEX": to_bytes(dicomdir),
                              "s.zip/a/IM2.dcm": to_bytes(make_dataset())})
    parsed = _parse_all(batch, None)
    assert [item.name for item in parsed] == ["s.zip/a/IM1.dcm", "s.zip/a/IM2.dcm"]
    result = IngestResult(studies=[], instances=parsed, new_instances=0)
    assert result.skipped == [("s.zip/LICENSE", "not a DICOM file"), ("s.zip/a/.DS_Store", "not a DICOM file"),
                              ("s.zip/INDEX", "a DICOMDIR (an index of the other files), not an instance")]


def test_parse_all_refuses_a_broken_file_that_claims_to_be_dicom(tmp_path: Path) -> None:
    from medcloud.pacs.services import _parse_all
    from medcloud.pacs.uploads import UploadRejected

    batch = _batch(tmp_path, {"s.zip/README": b"read me", "s.zip/IM1.dcm": b"not really DICOM",
                              "s.zip/IM2.dcm": to_bytes(make_dataset())})
    with pytest.raises(UploadRejected) as caught:
        _parse_all(batch, None)
    assert caught.value.code == "invalid_dicom" and caught.value.details == {"file": "s.zip/IM1.dcm"}


def test_parse_all_refuses_an_upload_with_nothing_but_stray_files(tmp_path: Path) -> None:
    from medcloud.pacs.services import _parse_all
    from medcloud.pacs.uploads import UploadRejected

    batch = _batch(tmp_path, {"Doe_Jane/README": b"read me", "Doe_Jane/DICOMDIR": b"\0" * 200})
    with pytest.raises(UploadRejected) as caught:
        _parse_all(batch, None)
    assert caught.value.code == "no_dicom"
    assert "Doe" not in caught.value.message and caught.value.details == {}


def test_parse_all_skips_nothing_in_a_stow_body(tmp_path: Path) -> None:
    """STOW-RS parts were all sent as application/dicom: each claims to be DICOM."""
    from medcloud.pacs.services import _parse_all
    from medcloud.pacs.uploads import UploadRejected

    batch = _batch(tmp_path, {"part 1": to_bytes(make_dataset()), "part 2": b"not DICOM at all"})
    with pytest.raises(UploadRejected) as caught:
        _parse_all(batch, None)
    assert caught.value.code == "invalid_dicom" and caught.value.details == {"file": "part 2"}


def test_parsed_files_is_a_plain_list_of_instances() -> None:
    files = ParsedFiles()
    assert files == [] and files.skipped == []
