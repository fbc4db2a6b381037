"""The demo study of `make run`: the real MR series of ../shared/data, under a synthetic patient, owned by
the demo radiologist and shared (read) with the demo specialist. Idempotent; skipped when the data folder
or Orthanc is missing, so that a bare machine still starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medcloud.core.paths import shared_data_dir

DEMO_PATIENT: dict[str, Any] = {"first_name": "Demo", "last_name": "Patient", "sex": "M",
                                "medical_record_number": "DEMO-0001"}


def demo_series_dir() -> Path:
    return shared_data_dir() / "dicom" / "mr_brain_sagittal"


def seed_demo_study(owner: Any, reader: Any = None) -> str:
    from medcloud.core.errors import ApplicationError
    from medcloud.sharing.services import study_share

    from .models import Patient, Study
    from .selectors import mrn_digest
    from .services import ingest, patient_create
    from .uploads import upload_batch

    source = demo_series_dir()
    files = sorted(source.glob("*.dcm"))
    if not files:
        return f"demo study skipped: no DICOM files in {source}"
    patient = Patient.objects.filter(mrn_index=mrn_digest(DEMO_PATIENT["medical_record_number"])).first()
    if patient is not None and Study.objects.filter(patient=patient).exists():
        return "demo study: already there"
    if patient is None:
        patient = patient_create(user=owner, **DEMO_PATIENT)
    try:
        with upload_batch() as batch:
            for path in files:
                with path.open("rb") as handle:
                    batch.add_stream(path.name, handle)
            result = ingest(batch, user=owner, patient=patient, source="demo")
    except ApplicationError as exc:
        return f"demo study skipped: {exc.message}"
    study = result.studies[0]
    if reader is not None:
        study_share(study, actor=owner, user_email=reader.email)
    return f"demo study: {study.instance_count} instances stored (study {study.pk})"
