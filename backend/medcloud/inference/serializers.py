"""Input and output serializers of the model registry and the jobs (one pair per view, as the other apps)."""

from __future__ import annotations

from rest_framework import serializers

from .models import AIModel, InferenceJob, InferType, ModelAccess, ModelShare, ModelVersion


class ModelCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)
    architecture = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    task_type = serializers.ChoiceField(choices=InferType.choices)
    modality = serializers.CharField(required=False, default="", allow_blank=True, max_length=16)


class WeightUploadInput(serializers.Serializer):
    file = serializers.FileField()
    path = serializers.CharField(required=False, help_text="Where in the package (default: the file's name)")


class ModelUpdateInput(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    architecture = serializers.CharField(required=False, allow_blank=True, max_length=200)
    modality = serializers.CharField(required=False, allow_blank=True, max_length=16)


class ModelVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["number", "sha256", "size", "manifest", "created_at"]


class ModelOutput(serializers.ModelSerializer):
    current_version = ModelVersionOutput(read_only=True)
    owned = serializers.SerializerMethodField()

    class Meta:
        model = AIModel
        fields = ["id", "name", "description", "architecture", "task_type", "modality", "bundled", "published",
                  "current_version", "owned", "created_at"]

    def get_owned(self, model: AIModel) -> bool:
        request = self.context.get("request")
        return bool(request and model.owner_id == request.user.pk)


class PackageUploadInput(serializers.Serializer):
    package = serializers.FileField(help_text="The model package as a zip (main.py, model.toml, weights)")


class FileInput(serializers.Serializer):
    path = serializers.CharField(max_length=200)
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class FileOutput(serializers.Serializer):
    path = serializers.CharField()
    content = serializers.CharField()
    updated_at = serializers.DateTimeField()


class RollbackInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class ModelShareInput(serializers.Serializer):
    group = serializers.IntegerField()
    access = serializers.ChoiceField(choices=ModelAccess.choices, default=ModelAccess.RUN)


class ModelShareOutput(serializers.ModelSerializer):
    group_name = serializers.CharField(source="group.name", read_only=True)

    class Meta:
        model = ModelShare
        fields = ["id", "group", "group_name", "access", "created_at"]


class PublicationInput(serializers.Serializer):
    published = serializers.BooleanField()


class JobCreateInput(serializers.Serializer):
    model = serializers.IntegerField()
    version = serializers.IntegerField(required=False, min_value=1, help_text="default: the model's current version")
    study = serializers.IntegerField()
    series_instance_uid = serializers.RegexField(r"^[0-9]+(\.[0-9]+)*$", max_length=64)


class JobOutput(serializers.ModelSerializer):
    model = serializers.IntegerField(source="version.model_id", read_only=True)
    model_name = serializers.CharField(source="version.model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    package_sha256 = serializers.CharField(source="version.sha256", read_only=True)
    detail = serializers.SerializerMethodField(help_text="the traceback and the model's output: its owner only")

    class Meta:
        model = InferenceJob
        fields = ["id", "model", "model_name", "version", "package_sha256", "study", "series_instance_uid", "state",
                  "progress", "message", "error", "detail", "result", "attempts", "queued_at", "started_at",
                  "finished_at", "timings"]

    def get_detail(self, job: InferenceJob) -> dict:
        from .selectors import may_see_detail

        user = self.context.get("user")
        return job.detail if user is not None and may_see_detail(user, job) else {}
