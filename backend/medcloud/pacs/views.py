"""REST API of the PACS: patients, studies (list, detail, upload, delete), viewer tokens, study shares.
Thin views: input serializers validate, services write, selectors read, output serializers shape."""

from __future__ import annotations

import datetime
import logging
import time

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from medcloud.accounts.permissions import CanAccessPatientData
from medcloud.audit.services import record_event
from medcloud.core.errors import ServiceError
from medcloud.sharing import services as sharing_services
from medcloud.sharing.models import Access, StudyShare
from medcloud.sharing.selectors import group_for, shares_of

from . import selectors, services
from .auth import issue_viewer_token
from .models import Patient, Series, Sex, Study
from .uploads import UploadRejected, check_declared_size, upload_batch

logger = logging.getLogger(__name__)
PATIENT_DATA = [IsAuthenticated, CanAccessPatientData]


def _not_found() -> ServiceError:
    return ServiceError("Not found.", code="not_found", status_code=status.HTTP_404_NOT_FOUND)


class Pages(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


# --- serializers ---------------------------------------------------------------------------------------------

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


# --- views ---------------------------------------------------------------------------------------------------

def _visible_study(request, study_id: int) -> Study:
    study = selectors.study_detail(request.user, study_id)
    if study is None:
        raise _not_found()
    return study


class PatientListView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(parameters=[OpenApiParameter("q", str), OpenApiParameter("patient_id", str)],
                   responses=PatientOutput(many=True), summary="Patients I may see, by name or record number")
    def get(self, request):
        qs = selectors.patients_visible_to(request.user).order_by("-id")
        q = request.query_params.get("q", "").strip()
        if q:
            qs = qs.filter(selectors.name_filter(q))
        mrn = request.query_params.get("patient_id", "").strip()
        if mrn:
            qs = qs.filter(mrn_index=selectors.mrn_digest(mrn))
        paginator = Pages()
        page = paginator.paginate_queryset(qs, request, view=self)
        record_event("patient.list", actor=request.user, request=request, target_type="patient",
                     details={"results": len(page or [])})
        return paginator.get_paginated_response(PatientOutput(page, many=True).data)

    @extend_schema(request=PatientInput, responses={201: PatientOutput}, summary="Register a patient")
    def post(self, request):
        data = PatientInput(data=request.data)
        data.is_valid(raise_exception=True)
        patient = services.patient_create(user=request.user, request=request, **data.validated_data)
        return Response(PatientOutput(patient).data, status=status.HTTP_201_CREATED)


class PatientDetailView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(responses=PatientOutput, summary="One patient")
    def get(self, request, patient_id: int):
        patient = selectors.patients_visible_to(request.user).filter(pk=patient_id).first()
        if patient is None:
            raise _not_found()
        record_event("patient.view", actor=request.user, request=request, target_type="patient", target_id=patient.pk)
        return Response(PatientOutput(patient).data)


class StudyListView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(parameters=[StudyFilterInput], responses=StudyOutput(many=True),
                   summary="Studies I may see: filtered by patient name or ID, modality and date; paged")
    def get(self, request):
        filters = StudyFilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.study_list(request.user, selectors.StudyFilters(**filters.validated_data))
        paginator = Pages()
        page = paginator.paginate_queryset(qs, request, view=self)
        record_event("study.list", actor=request.user, request=request, target_type="study",
                     details={"results": len(page or []), "page": request.query_params.get("page", "1")})
        return paginator.get_paginated_response(StudyOutput(page, many=True).data)


class StudyUploadView(APIView):
    permission_classes = PATIENT_DATA
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        check_declared_size(request)  # before the body is parsed

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "patient": {"type": "integer"}}}},
        responses={201: UploadOutput, 200: UploadOutput},
        summary="Upload DICOM: one file, many files, or a zip of folders (each folder a series)")
    def post(self, request):
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        patient = None
        if data.validated_data["patient"] is not None:
            patient = selectors.patients_visible_to(request.user).filter(pk=data.validated_data["patient"]).first()
            if patient is None:
                raise UploadRejected("the patient does not exist or is not yours", code="unknown_patient")
        uploads = [f for key in request.FILES for f in request.FILES.getlist(key)]
        if not uploads:
            raise UploadRejected("send the DICOM files (or a zip) as multipart form files", code="empty_upload")
        with upload_batch() as batch:
            started = time.perf_counter()
            for uploaded in uploads:
                batch.add_upload(uploaded)
            logger.info("upload: %d files unpacked in %.2fs", len(batch.files), time.perf_counter() - started)
            result = services.ingest(batch, user=request.user, request=request, patient=patient,
                                     source="zip" if any(f.name.lower().endswith(".zip") for f in uploads)
                                     else "files")
        for study in result.studies:
            study.refresh_from_db()
        body = UploadOutput({"studies": result.studies, "instances": len(result.instances),
                             "new_instances": result.new_instances,
                             "skipped": [{"file": name, "reason": reason} for name, reason in result.skipped]}).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class StudyDetailView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(responses=StudyDetailOutput, summary="One study with its series")
    def get(self, request, study_id: int):
        study = _visible_study(request, study_id)
        record_event("study.view", actor=request.user, request=request, target_type="study", target_id=study.pk)
        access = selectors.study_access(request.user, study)
        return Response(StudyDetailOutput(study, context={"access": access}).data)

    @extend_schema(responses={204: None}, summary="Delete a study (owner or admin): from Orthanc and MedCloud")
    def delete(self, request, study_id: int):
        services.study_delete(_visible_study(request, study_id), user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ViewerTokenView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(request=None, responses={201: ViewerTokenOutput},
                   summary="A short-lived token that lets the viewer read this one study over DICOMweb")
    def post(self, request, study_id: int):
        study = _visible_study(request, study_id)
        token = issue_viewer_token(request.user, study.study_instance_uid)
        record_event("study.viewer_token", actor=request.user, request=request, target_type="study",
                     target_id=study.pk)
        expires = timezone.now() + datetime.timedelta(seconds=settings.PACS_VIEWER_TOKEN_SECONDS)
        body = {"token": token, "expires_at": expires, "study_instance_uid": study.study_instance_uid,
                "viewer_url": f"/viewer/viewer?StudyInstanceUIDs={study.study_instance_uid}&token={token}"}
        return Response(ViewerTokenOutput(body).data, status=status.HTTP_201_CREATED)


class StudySharesView(APIView):
    permission_classes = PATIENT_DATA

    def _owned(self, request, study_id: int) -> Study:
        study = _visible_study(request, study_id)
        if not (request.user.is_admin or study.owner_id == request.user.pk):
            raise ServiceError("Only the study's owner may manage its shares.", code="permission_denied",
                               status_code=status.HTTP_403_FORBIDDEN)
        return study

    @extend_schema(responses=ShareOutput(many=True), summary="Who the study is shared with (owner, admin)")
    def get(self, request, study_id: int):
        return Response(ShareOutput(shares_of(self._owned(request, study_id)), many=True).data)

    @extend_schema(request=ShareInput, responses={201: ShareOutput},
                   summary="Share the study with a user or a group, read or read-write")
    def post(self, request, study_id: int):
        study = self._owned(request, study_id)
        data = ShareInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = None
        if "group" in data.validated_data:
            group = group_for(request.user, data.validated_data["group"])
            if group is None:
                raise ServiceError("The group does not exist or you are not a member.", code="unknown_group")
        share = sharing_services.study_share(study, actor=request.user, request=request,
                                             access=data.validated_data["access"],
                                             user_email=data.validated_data.get("user_email"), group=group)
        return Response(ShareOutput(share).data, status=status.HTTP_201_CREATED)


class StudyShareView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(responses={204: None}, summary="Revoke a share")
    def delete(self, request, study_id: int, share_id: int):
        study = _visible_study(request, study_id)
        share = StudyShare.objects.filter(study=study, pk=share_id).select_related("study").first()
        if share is None:
            raise _not_found()
        sharing_services.share_revoke(share, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
