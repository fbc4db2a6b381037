"""Build a DICOM MR series from 2-D images (for tests and the benchmark).

Every slice gets a known geometry: ImagePositionPatient stepping along the
normal of ImageOrientationPatient by ``slice_spacing``, a given PixelSpacing,
and optional bit depth, MONOCHROME1 and rescale slope/intercept.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def series_from_images(
    images: Sequence[np.ndarray],
    pixel_spacing: tuple[float, float] = (0.9, 0.9),
    slice_spacing: float = 5.0,
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    origin: Sequence[float] = (-120.0, -110.0, -30.0),
    bits: int = 16,
    monochrome1: bool = False,
    slope: float = 1.0,
    intercept: float = 0.0,
    shuffle_seed: int | None = None,
    patient_id: str = "SYNTH-0001",
) -> list[Dataset]:
    """One single-frame MR instance per image (uint8 or float images, any size)."""
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    row_c = np.asarray(orientation[:3], float)
    col_c = np.asarray(orientation[3:], float)
    normal = np.cross(row_c, col_c)
    today = datetime.date(2026, 1, 1).strftime("%Y%m%d")
    out = []
    for i, img in enumerate(images):
        a = np.asarray(img, dtype=np.float64)
        if a.max() <= 1.0:
            a = a * 255.0
        maxv = 2**bits - 1
        stored = a / 255.0 * min(maxv, 4000 if bits > 8 else 255)  # a realistic MR range
        stored = (stored - intercept) / slope
        if monochrome1:
            stored = stored.max() - stored
        stored = np.clip(np.round(stored), 0, maxv).astype(np.uint16 if bits > 8 else np.uint8)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        sop_uid = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = for_uid
        ds.PatientName = "Synthetic^Series"
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = today
        ds.StudyTime = "120000"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.StudyID = "1"
        ds.Modality = "MR"
        ds.Manufacturer = "MedCloud-synthetic"
        ds.SeriesNumber = 1
        ds.InstanceNumber = i + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.EchoTime = 10
        ds.RepetitionTime = 500
        ds.EchoTrainLength = 1
        ds.PositionReferenceIndicator = ""
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in np.asarray(origin, float) + normal * slice_spacing * i]
        ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
        ds.SliceThickness = float(slice_spacing)
        ds.SpacingBetweenSlices = float(slice_spacing)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
        ds.Rows, ds.Columns = stored.shape
        ds.BitsAllocated = 16 if bits > 8 else 8
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 0
        if slope != 1.0 or intercept != 0.0:
            ds.RescaleSlope = slope
            ds.RescaleIntercept = intercept
        ds.PixelData = stored.tobytes()
        out.append(ds)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(out))
        out = [out[i] for i in order]
    return out
