"""Input and output serializers of the PACS API, one pair per view as in `accounts/serializers.py`: `XInput`
validates what a view receives, `XOutput` shapes what it answers. No logic beyond validation."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from medcloud.sharing.models import Access, StudyShare

from . import selectors
from .models import Patient, Series, Sex, Study


class PatientOutput(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "first_name", "last_name", "sex", "birth_date", "age_years", "medical_record_number",
                  "created_by", "created_at"]


class PatientInput(serializers.Serializer):
    first_name = serializers.CharField(max_length=120)
    last_name = serializers.CharField(max_length=120)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False, default="")
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    age_years = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=150, default=None)
    medical_record_number = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)

    def validate(self, attrs):
        if attrs.get("birth_date") and attrs["birth_date"] > timezone.localdate():
            raise serializers.ValidationError({"birth_date": "The birth date is in the future."})
        return attrs


class SeriesOutput(serializers.ModelSerializer):
    class Meta:
        model = Series
        fields = ["id", "series_instance_uid", "modality", "series_number", "description", "instance_count"]


class StudyOutput(serializers.ModelSerializer):
    patient = PatientOutput()

    class Meta:
        model = Study
        fields = ["id", "study_instance_uid", "patient", "owner", "modalities", "study_date", "description",
                  "series_count", "instance_count", "created_at", "updated_at"]


class StudyDetailOutput(StudyOutput):
    series = SeriesOutput(many=True, source="series.all")
    access = serializers.SerializerMethodField()
    dicomweb_root = serializers.SerializerMethodField()

    class Meta(StudyOutput.Meta):
        fields = [*StudyOutput.Meta.fields, "series", "access", "dicomweb_root"]

    def get_access(self, study: Study) -> str | None:
        return self.context.get("access")

    def get_dicomweb_root(self, study: Study) -> str:
        return "/dicom-web"


class StudyFilterInput(serializers.Serializer):
    q = serializers.CharField(required=False, default="", allow_blank=True, max_length=120,
                              help_text="patient name: every word must match a name, or its first letters (2+)")
    patient_id = serializers.CharField(required=False, default="", allow_blank=True, max_length=64,
                                       help_text="the patient's medical record number, exactly")
    patient = serializers.IntegerField(required=False, allow_null=True, default=None)
    modality = serializers.CharField(required=False, default="", allow_blank=True, max_length=16)
    date_from = serializers.DateField(required=False, allow_null=True, default=None)
    date_to = serializers.DateField(required=False, allow_null=True, default=None)
    ordering = serializers.ChoiceField(choices=list(selectors.ORDERINGS), required=False, default="-study_date")


class UploadInput(serializers.Serializer):
    patient = serializers.IntegerField(required=False, allow_null=True, default=None,
                                       help_text="attach the studies to this patient (else matched or created "
                                                 "from the DICOM header)")


class SkippedFileOutput(serializers.Serializer):
    file = serializers.CharField()
    reason = serializers.CharField()


class UploadOutput(serializers.Serializer):
    studies = StudyOutput(many=True)
    instances = serializers.IntegerField()
    new_instances = serializers.IntegerField()
    skipped = SkippedFileOutput(many=True, help_text="files left out as not DICOM (a README, a DICOMDIR)")


class ShareOutput(serializers.ModelSerializer):
    user_email = serializers.EmailField(source="user.email", default=None)
    group_name = serializers.CharField(source="group.name", default=None)

    class Meta:
        model = StudyShare
        fields = ["id", "user", "user_email", "group", "group_name", "access", "granted_by", "created_at"]


class ShareInput(serializers.Serializer):
    user_email = serializers.EmailField(required=False)
    group = serializers.IntegerField(required=False)
    access = serializers.ChoiceField(choices=Access.choices, default=Access.READ)

    def validate(self, attrs):
        if ("user_email" in attrs) == ("group" in attrs):
            raise serializers.ValidationError("Give either user_email or group.")
        return attrs


class ViewerTokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    study_instance_uid = serializers.CharField()
    viewer_url = serializers.CharField()
