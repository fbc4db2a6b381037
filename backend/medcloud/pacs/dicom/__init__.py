"""DICOM parsing, validation and PHI protection (pydicom). No Django here: pure functions over files.

PHI protection (before anything reaches Orthanc): the identifying attributes of the DICOM basic
application-level confidentiality profile that MedCloud does not need in the clear are emptied, and
PatientID / PatientName become the patient's random pseudonym. Their original values are returned as DICOM
JSON elements, which the backend keeps encrypted (AES-256-GCM) and puts back into DICOMweb responses for
authorised readers. UIDs, study and series dates, modality and series descriptions stay in the clear
(Orthanc and the viewer need them; they do not name anyone).

- `profile`: which attributes are PHI (the tag tables) and how their originals are kept (`collect_phi`);
- `instance`: the data an upload's files become (`ParsedInstance`, `InvalidInstance`, `skip_reason`);
- `validation`: `parse_instance` (everything checked before anything is stored) and `describe`;
- `element_order`: unique, ascending top-level elements (`check_element_order`);
- `splice`: PHI out, by splicing bytes (`deidentify_file`, `splice_elements`);
- `restore`: PHI back in for readers (`restore_json`, `restore_instance_bytes`).
"""

from __future__ import annotations

from .element_order import check_element_order
from .instance import (
    MEDIA_STORAGE_DIRECTORY,
    DicomSource,
    InvalidInstance,
    ParsedFiles,
    ParsedInstance,
    skip_reason,
)
from .profile import PSEUDONYMISED_TAGS, SERIES_PHI_TAGS, STUDY_PHI_TAGS, collect_phi, element_json
from .restore import phi_element, restore_dataset, restore_instance_bytes, restore_json
from .splice import deidentify_dataset, deidentify_file, splice_elements
from .validation import UID_RE, describe, parse_instance, person_name_parts

__all__ = [
    "MEDIA_STORAGE_DIRECTORY",
    "PSEUDONYMISED_TAGS",
    "SERIES_PHI_TAGS",
    "STUDY_PHI_TAGS",
    "UID_RE",
    "DicomSource",
    "InvalidInstance",
    "ParsedFiles",
    "ParsedInstance",
    "check_element_order",
    "collect_phi",
    "deidentify_dataset",
    "deidentify_file",
    "describe",
    "element_json",
    "parse_instance",
    "person_name_parts",
    "phi_element",
    "restore_dataset",
    "restore_instance_bytes",
    "restore_json",
    "skip_reason",
    "splice_elements",
]
