"""PHI back in, for authorised readers: the kept original elements are put into DICOM JSON (QIDO results,
metadata) and into whole instances (spliced into the bytes when possible). No Django here."""

from __future__ import annotations

import io
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from .splice import splice_elements


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
