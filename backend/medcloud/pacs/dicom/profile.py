"""The PHI profile: which DICOM attributes MedCloud treats as PHI (the patient-, visit-, request- and
procedure-level attributes of the basic application-level confidentiality profile, PS3.15 E.1-1), and how
their original values are kept (DICOM JSON, encrypted in `Study.phi` / `Series.phi`). No Django here."""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

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
PHI_TAG_INTS = tuple(int(k, 16) for k in (*STUDY_PHI_TAGS, *SERIES_PHI_TAGS))
PSEUDONYMISED_INTS = tuple(int(k, 16) for k in PSEUDONYMISED_TAGS)


def _tag_key(tag: int) -> str:
    return f"{tag:08X}"


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
