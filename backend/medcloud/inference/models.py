"""The model registry (models, their immutable versions, their sharing) and inference jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class InferType(models.TextChoices):  # the SDK's InferType (medcloud.sdk.api), as stored
    SEGMENTATION = "segmentation", "Segmentation"
    CLASSIFICATION = "classification", "Classification"
    LOCALISATION = "localisation", "Localisation"
    DETECTION = "detection", "Detection"
    PROCESSING = "processing", "Processing"


class AIModel(models.Model):
    """A model a researcher brings (or one MedCloud bundles): a name, what it does, and its published versions.
    Private to its owner unless shared with researcher groups or published to health professionals by an admin;
    bundled models are published to everyone."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="ai_models")  # None: bundled with MedCloud
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    architecture = models.CharField(max_length=200, blank=True, default="")
    task_type = models.CharField(max_length=20, choices=InferType.choices)
    modality = models.CharField(max_length=16, blank=True, default="")  # e.g. "MR"; empty: any
    bundled = models.BooleanField(default=False)
    published = models.BooleanField(default=False)  # to health professionals, by an admin
    published_at = models.DateTimeField(null=True, blank=True)
    current_version = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="inference_model_name_per_owner")]

    def __str__(self) -> str:
        return f"model {self.pk}"


class ModelVersion(models.Model):
    """One published package of a model, immutable: stored outside the database, content-addressed (SHA-256 of
    the zip) under MEDIA_ROOT/model-packages/. Rolling back points the model at an earlier version."""

    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    manifest = models.JSONField(default=dict)  # model.toml as parsed, and the tasks found in main.py
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [models.UniqueConstraint(fields=["model", "number"], name="inference_version_number")]

    def __str__(self) -> str:
        return f"model {self.model_id} v{self.number}"


class ModelFile(models.Model):
    """A text file of a model's working copy (the web editor writes them one by one; publishing zips them)."""

    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=200)
    content = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["model", "path"], name="inference_file_path")]

    def __str__(self) -> str:
        return f"model {self.model_id} file {self.path}"


class ModelAccess(models.TextChoices):
    RUN = "run", "Run"
    EDIT = "edit", "Run and edit"


class ModelShare(models.Model):
    model = models.ForeignKey(AIModel, on_delete=models.CASCADE, related_name="shares")
    group = models.ForeignKey("sharing.UserGroup", on_delete=models.CASCADE, related_name="model_shares")
    access = models.CharField(max_length=8, choices=ModelAccess.choices, default=ModelAccess.RUN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "group"], name="inference_model_share")]

    def __str__(self) -> str:
        return f"model {self.model_id} shared with group {self.group_id}"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class InferenceJob(models.Model):
    """One run of one model version on one series of one study; its results go back into that study."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    study = models.ForeignKey("pacs.Study", on_delete=models.CASCADE, related_name="inference_jobs")
    series_instance_uid = models.CharField(max_length=64)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True, default="")  # from the model, or the platform
    error = models.CharField(max_length=500, blank=True, default="")  # short and clear, for the user
    detail = models.JSONField(default=dict, blank=True)  # traceback and the model's output: its owner only
    result = models.JSONField(default=dict, blank=True)  # results.json: results + provenance + DICOM written
    attempts = models.PositiveSmallIntegerField(default=0)
    sends = models.PositiveSmallIntegerField(default=1)  # messages sent to the workers for it (the watchdog resends)
    queued_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(default=timezone.now)  # when the last message for it was sent
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)  # seconds: fetch, run, build, store

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["requested_by", "state"])]

    def __str__(self) -> str:
        return f"job {self.pk}"
