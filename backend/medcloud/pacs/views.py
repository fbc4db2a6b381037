"""REST API of the PACS: patients, studies (list, detail, upload, delete), viewer tokens, study shares.
Thin views: input serializers validate, services write (and record every read of patient data), selectors
read and decide access (one helper per object: `selectors.study_for_reader`, `study_for_manager`, ...),
output serializers shape (`serializers.py`)."""

from __future__ import annotations

import logging
import time

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from medcloud.accounts.permissions import CanAccessPatientData
from medcloud.core.errors import ApplicationError
from medcloud.sharing import services as sharing_services
from medcloud.sharing.selectors import group_for, share_of, shares_of

from . import selectors, services
from .serializers import (
    PatientInput,
    PatientOutput,
    ShareInput,
    ShareOutput,
    StudyDetailOutput,
    StudyFilterInput,
    StudyOutput,
    UploadInput,
    UploadOutput,
    ViewerTokenOutput,
)
from .uploads import UploadRejected, check_declared_size, upload_batch

logger = logging.getLogger(__name__)
PATIENT_DATA = [IsAuthenticated, CanAccessPatientData]


class Pages(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class PatientListView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(parameters=[OpenApiParameter("q", str), OpenApiParameter("patient_id", str)],
                   responses=PatientOutput(many=True), summary="Patients I may see, by name or record number")
    def get(self, request):
        qs = selectors.patient_list(request.user, q=request.query_params.get("q", ""),
                                    patient_id=request.query_params.get("patient_id", ""))
        paginator = Pages()
        page = paginator.paginate_queryset(qs, request, view=self)
        services.patient_list_audit(user=request.user, request=request, results=len(page or []))
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
        patient = services.patient_view(user=request.user, patient_id=patient_id, request=request)
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
        services.study_list_audit(user=request.user, request=request, results=len(page or []),
                                  page=request.query_params.get("page", "1"))
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
        study, access = services.study_view(user=request.user, study_id=study_id, request=request)
        return Response(StudyDetailOutput(study, context={"access": access}).data)

    @extend_schema(responses={204: None}, summary="Delete a study (owner or admin): from Orthanc and MedCloud")
    def delete(self, request, study_id: int):
        services.study_delete(selectors.study_for_reader(request.user, study_id), user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ViewerTokenView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(request=None, responses={201: ViewerTokenOutput},
                   summary="A short-lived token that lets the viewer read this one study over DICOMweb")
    def post(self, request, study_id: int):
        token = services.viewer_token_create(user=request.user, study_id=study_id, request=request)
        return Response(ViewerTokenOutput(token).data, status=status.HTTP_201_CREATED)


class StudySharesView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(responses=ShareOutput(many=True), summary="Who the study is shared with (owner, admin)")
    def get(self, request, study_id: int):
        study = selectors.study_for_manager(request.user, study_id)
        return Response(ShareOutput(shares_of(study), many=True).data)

    @extend_schema(request=ShareInput, responses={201: ShareOutput},
                   summary="Share the study with a user or a group, read or read-write")
    def post(self, request, study_id: int):
        study = selectors.study_for_manager(request.user, study_id)
        data = ShareInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = None
        if "group" in data.validated_data:
            group = group_for(request.user, data.validated_data["group"])
            if group is None:
                raise ApplicationError("The group does not exist or you are not a member.", code="unknown_group")
        share = sharing_services.study_share(study, actor=request.user, request=request,
                                             access=data.validated_data["access"],
                                             user_email=data.validated_data.get("user_email"), group=group)
        return Response(ShareOutput(share).data, status=status.HTTP_201_CREATED)


class StudyShareView(APIView):
    permission_classes = PATIENT_DATA

    @extend_schema(responses={204: None}, summary="Revoke a share")
    def delete(self, request, study_id: int, share_id: int):
        share = share_of(selectors.study_for_reader(request.user, study_id), share_id)
        if share is None:
            raise selectors.not_found()
        sharing_services.share_revoke(share, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
