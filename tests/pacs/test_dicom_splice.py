"""The de-identification splice encodes emptied elements and the pseudonym by hand (speed): byte for byte what
pydicom's own writer produces, for every PHI attribute, in both little-endian transfer syntaxes."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element

from medcloud.pacs.dicom import SERIES_PHI_TAGS, STUDY_PHI_TAGS, deidentify_file, parse_instance
from medcloud.pacs.dicom.splice import _encode_simple


def _pydicom_bytes(tag: int, vr: str, value, implicit: bool) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_data_element(buffer, DataElement(tag, vr, [] if vr == "SQ" and value is None else value))
    return buffer.getvalue()


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("key", sorted({**STUDY_PHI_TAGS, **SERIES_PHI_TAGS}))
def test_emptied_elements_match_pydicom(key: str, implicit: bool) -> None:
    tag = int(key, 16)
    vr = dictionary_VR(tag).split(" or ")[0]
    assert _encode_simple(tag, vr, None, implicit) == _pydicom_bytes(tag, vr, None, implicit)


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("value", ["P7QX2", "P7QX2K", "A"])
@pytest.mark.parametrize("key", ["00100010", "00100020"])
def test_pseudonyms_match_pydicom(key: str, value: str, implicit: bool) -> None:
    tag = int(key, 16)
    vr = dictionary_VR(tag)
    assert _encode_simple(tag, vr, value, implicit) == _pydicom_bytes(tag, vr, value, implicit)


def test_values_it_cannot_encode_are_left_to_pydicom() -> None:
    assert _encode_simple(0x00100010, "PN", "Zoë^Müller", False) is None  # not ASCII: the character set matters
    assert _encode_simple(0x00100020, "LO", "A\\B", False) is None  # several values
    assert _encode_simple(0x00280010, "US", 512, False) is None  # not text


def test_spliced_file_reads_back_with_only_the_pseudonym(mr_series_dir, tmp_path) -> None:
    source = sorted(mr_series_dir.glob("*.dcm"))[0]
    ds = pydicom.dcmread(source)
    ds.PatientName, ds.PatientID, ds.InstitutionName = "Doe^Jane", "MRN-0042", "St Elsewhere"
    ds.ReferringPhysicianName = "House^Gregory"
    path = tmp_path / "one.dcm"
    ds.save_as(path, enforce_file_format=True)
    parsed = parse_instance(path, "one.dcm")
    assert parsed.splice_plan is not None  # the fast path
    out = pydicom.dcmread(io.BytesIO(deidentify_file(path, "P7QX2", parsed.splice_plan)))
    assert (str(out.PatientName), out.PatientID) == ("P7QX2", "P7QX2")
    assert out.InstitutionName == "" and str(out.ReferringPhysicianName) == ""
    assert out.pixel_array.tobytes() == ds.pixel_array.tobytes()
    stored = deidentify_file(path, "P7QX2", parsed.splice_plan)
    for phi in (b"Doe^Jane", b"MRN-0042", b"St Elsewhere", b"House^Gregory"):
        assert phi not in stored
