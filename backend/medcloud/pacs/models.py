"""Patients, studies and series. Names, identifiers, birth dates and the DICOM PHI of each series are
encrypted at rest (AES-256-GCM, medcloud.crypto); names and record numbers are searchable through blind
indexes only. Orthanc holds the images under a random pseudonym (`Patient.pseudonym`), never the name."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from medcloud.crypto.fields import EncryptedDateField, EncryptedJSONField, EncryptedTextField


def new_pseudonym() -> str:
    return "MC" + secrets.token_hex(8).upper()


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"
    OTHER = "O", "Other"
    UNKNOWN = "", "Unknown"


class Patient(models.Model):
    # What Orthanc sees as PatientID and PatientName: random, carries nothing about the person.
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym, editable=False)
    first_name = EncryptedTextField(blank=True, default="")
    last_name = EncryptedTextField(blank=True, default="")
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True, default="")
    birth_date = EncryptedDateField(null=True, blank=True)
    age_years = models.PositiveSmallIntegerField(null=True, blank=True)
    medical_record_number = EncryptedTextField(blank=True, default="")
    # Blind indexes: exact record number, and every name token and its prefixes.
    mrn_index = models.CharField(max_length=32, blank=True, default="", db_index=True)
    name_index = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [GinIndex(fields=["name_index"], name="pacs_patient_name_gin")]

    def __str__(self) -> str:
        return f"patient {self.pk}"


class Study(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    study_instance_uid = models.CharField(max_length=64, unique=True)
    orthanc_id = models.CharField(max_length=64, blank=True, default="")
    modalities = ArrayField(models.CharField(max_length=16), default=list, blank=True)
    study_date = models.DateField(null=True, blank=True)
    description = EncryptedTextField(blank=True, default="")
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    # Patient- and study-level DICOM PHI exactly as uploaded (DICOM JSON elements by tag), restored into
    # DICOMweb responses for authorised readers.
    phi = EncryptedJSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-study_date", "-id"]
        indexes = [
            models.Index(fields=["owner", "-study_date", "-id"], name="pacs_study_owner_date"),
            models.Index(fields=["-study_date", "-id"], name="pacs_study_date"),
            models.Index(fields=["-created_at", "-id"], name="pacs_study_created"),
            GinIndex(fields=["modalities"], name="pacs_study_modalities_gin"),
        ]

    def __str__(self) -> str:
        return f"study {self.pk}"


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    orthanc_id = models.CharField(max_length=64, blank=True, default="")
    modality = models.CharField(max_length=16, blank=True, default="")
    series_number = models.IntegerField(null=True, blank=True)
    description = EncryptedTextField(blank=True, default="")
    instance_count = models.PositiveIntegerField(default=0)
    # Series-level DICOM PHI (performing physician, operators, station...), as `Study.phi`.
    phi = EncryptedJSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_number", "id"]

    def __str__(self) -> str:
        return f"series {self.pk}"


class PendingIngest(models.Model):
    """A durable record of what one upload may add to Orthanc, written (and committed) before the first
    instance is stored and deleted in the transaction that records the studies. A row that outlives its
    upload (Orthanc down during the rollback, a killed backend) is replayed by the reconciliation
    (services.orthanc_reconcile): nothing an upload stored is left behind once Orthanc is back. Orthanc's
    instance identifiers are computed in advance (core.orthanc.orthanc_id): no PHI here."""

    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the upload failed and its own rollback could not finish: replayed at the next reconciliation.
    failed_at = models.DateTimeField(null=True, blank=True)
    orthanc_instance_ids = models.JSONField(default=list)
    study_instance_uids = models.JSONField(default=list)
    pid = models.IntegerField(default=0)  # the backend process of the upload (for the log)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"pending ingest {self.pk}"
