"""The model registry and inference jobs over the API: thin views (input serializer, access helper, service or
selector, output serializer)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from medcloud.accounts.permissions import CanAccessPatientData
from medcloud.core.errors import ApplicationError
from medcloud.sharing.selectors import group_for_member

from . import selectors, services
from . import serializers as s
from .models import TERMINAL_STATES, InferenceJob

MAX_PACKAGE_BYTES = 1 << 30


def _model(request: Request, model) -> dict:
    return s.ModelOutput(model, context={"request": request}).data


class ModelListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.ModelOutput(many=True)}, summary="The models I may run")
    def get(self, request: Request) -> Response:
        models = selectors.models_visible_to(request.user).select_related("current_version")
        return Response(s.ModelOutput(models, many=True, context={"request": request}).data)

    @extend_schema(request=s.ModelCreateInput, responses={201: s.ModelOutput},
                   summary="Create a model (no version yet)")
    def post(self, request: Request) -> Response:
        data = s.ModelCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        if request.user.role not in ("researcher", "admin") and not request.user.is_admin:
            raise ApplicationError("Researchers bring models.", code="permission_denied")
        model = services.model_create(owner=request.user, request=request, **data.validated_data)
        return Response(_model(request, model), status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.ModelOutput}, summary="A model I may run")
    def get(self, request: Request, model_id: int) -> Response:
        return Response(_model(request, selectors.model_for_runner(request.user, model_id)))

    @extend_schema(request=s.ModelUpdateInput, responses={200: s.ModelOutput}, summary="Change a model's description")
    def patch(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        data = s.ModelUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        model = services.model_update(model=model, actor=request.user, request=request, **data.validated_data)
        return Response(_model(request, model))


class ModelPackageView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": s.PackageUploadInput}, responses={201: s.ModelVersionOutput},
                   summary="Publish a package zip as the model's new version (validated; errors name file and line)")
    def post(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        upload = request.FILES.get("package")
        if upload is None:
            raise ApplicationError("Send the package zip as the form field 'package'.", code="invalid",
                                   details={"package": ["required"]})
        if upload.size > MAX_PACKAGE_BYTES:
            raise ApplicationError("A package is at most 1 GB.", code="too_large")
        with tempfile.TemporaryDirectory(prefix="medcloud-package-") as tmp:
            path = Path(tmp) / "package.zip"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            version = services.version_publish(model=model, package=path, actor=request.user, request=request)
        return Response(s.ModelVersionOutput(version).data, status=status.HTTP_201_CREATED)


class ModelWeightsView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": s.WeightUploadInput}, responses={201: s.ModelVersionOutput},
                   summary="Add (or replace) one file, usually weights: the current version plus it becomes a new "
                           "version (validated as a whole)")
    def post(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError("Send the file as the form field 'file'.", code="invalid",
                                   details={"file": ["required"]})
        if upload.size > MAX_PACKAGE_BYTES:
            raise ApplicationError("A package is at most 1 GB.", code="too_large")
        name = request.data.get("path") or upload.name or ""
        with tempfile.TemporaryDirectory(prefix="medcloud-weights-") as tmp:
            path = Path(tmp) / "upload"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            version = services.version_add_file(model=model, name=name, upload=path, actor=request.user,
                                                request=request)
        return Response(s.ModelVersionOutput(version).data, status=status.HTTP_201_CREATED)


class ModelFilesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.FileOutput(many=True)}, summary="The model's working copy (text files)")
    def get(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        return Response(s.FileOutput(model.files.all(), many=True).data)

    @extend_schema(request=s.FileInput, responses={200: s.FileOutput},
                   summary="Write one text file of the working copy")
    def put(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        data = s.FileInput(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.file_write(model=model, actor=request.user, request=request, **data.validated_data)
        return Response(s.FileOutput(row).data)

    @extend_schema(request=None, responses={204: None}, parameters=[], summary="Delete one file (?path=)")
    def delete(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        services.file_delete(model=model, path=request.query_params.get("path", ""), actor=request.user,
                             request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelPublishView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: s.ModelVersionOutput},
                   summary="Publish the working copy as a new version (validated; errors name file and line)")
    def post(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        version = services.version_publish_files(model=model, actor=request.user, request=request)
        return Response(s.ModelVersionOutput(version).data, status=status.HTTP_201_CREATED)


class ModelVersionsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.ModelVersionOutput(many=True)}, summary="The model's versions, newest first")
    def get(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_runner(request.user, model_id)
        return Response(s.ModelVersionOutput(model.versions.all(), many=True).data)


class ModelRollbackView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.RollbackInput, responses={200: s.ModelVersionOutput},
                   summary="Make an earlier version current again")
    def post(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_editor(request.user, model_id)
        data = s.RollbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.version_rollback(model=model, number=data.validated_data["version"], actor=request.user,
                                             request=request)
        return Response(s.ModelVersionOutput(version).data)


class ModelSharesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.ModelShareOutput(many=True)}, summary="The groups the model is shared with")
    def get(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_owner(request.user, model_id)
        return Response(s.ModelShareOutput(model.shares.select_related("group"), many=True).data)

    @extend_schema(request=s.ModelShareInput, responses={201: s.ModelShareOutput},
                   summary="Share with a group of mine (run only, or run and edit)")
    def post(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_owner(request.user, model_id)
        data = s.ModelShareInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = group_for_member(request.user, data.validated_data["group"])
        share = services.model_share(model=model, group=group, access=data.validated_data["access"],
                                     actor=request.user, request=request)
        return Response(s.ModelShareOutput(share).data, status=status.HTTP_201_CREATED)


class ModelShareView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="Stop sharing with a group")
    def delete(self, request: Request, model_id: int, share_id: int) -> Response:
        model = selectors.model_for_owner(request.user, model_id)
        share = model.shares.filter(pk=share_id).first()
        if share is None:
            raise ApplicationError("Not found.", code="not_found")
        services.model_unshare(share=share, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelPublicationView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.PublicationInput, responses={200: s.ModelOutput},
                   summary="Publish the model to health professionals, or unpublish it (admins)")
    def put(self, request: Request, model_id: int) -> Response:
        model = selectors.model_for_runner(request.user, model_id)
        data = s.PublicationInput(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_publication_set(model=model, published=data.validated_data["published"],
                                               actor=request.user, request=request)
        return Response(_model(request, model))


# --- jobs ---------------------------------------------------------------------------------------------------------

def _job(request: Request, job: InferenceJob) -> dict:
    return s.JobOutput(job, context={"user": request.user}).data


class JobListView(APIView):
    permission_classes = [IsAuthenticated, CanAccessPatientData]
    parser_classes = [JSONParser]

    @extend_schema(responses={200: s.JobOutput(many=True)}, summary="My inference jobs, newest first")
    def get(self, request: Request) -> Response:
        jobs = selectors.jobs_visible_to(request.user)
        if request.query_params.get("study"):
            jobs = jobs.filter(study_id=request.query_params["study"])
        return Response(s.JobOutput(jobs[:200], many=True, context={"user": request.user}).data)

    @extend_schema(request=s.JobCreateInput, responses={201: s.JobOutput},
                   summary="Run a model on a series (answers at once; the job runs on a worker)")
    def post(self, request: Request) -> Response:
        data = s.JobCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        job = services.job_create(user=request.user, model_id=v["model"], version_number=v.get("version"),
                                  study_id=v["study"], series_uid=v["series_instance_uid"], request=request)
        return Response(_job(request, job), status=status.HTTP_201_CREATED)


class JobDetailView(APIView):
    permission_classes = [IsAuthenticated, CanAccessPatientData]

    @extend_schema(responses={200: s.JobOutput}, summary="One of my jobs (poll it, or read its events)")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(_job(request, selectors.job_for_user(request.user, job_id)))


class JobCancelView(APIView):
    permission_classes = [IsAuthenticated, CanAccessPatientData]

    @extend_schema(request=None, responses={200: s.JobOutput}, summary="Cancel a queued or running job")
    def post(self, request: Request, job_id: str) -> Response:
        job = services.job_cancel(job=selectors.job_for_user(request.user, job_id), user=request.user,
                                  request=request)
        return Response(_job(request, job))


class JobRetryView(APIView):
    permission_classes = [IsAuthenticated, CanAccessPatientData]

    @extend_schema(request=None, responses={201: s.JobOutput},
                   summary="Run a failed or cancelled job again (a new job)")
    def post(self, request: Request, job_id: str) -> Response:
        job = services.job_retry(job=selectors.job_for_user(request.user, job_id), user=request.user,
                                 request=request)
        return Response(_job(request, job), status=status.HTTP_201_CREATED)


class JobEventsView(APIView):
    """The job's state as a stream of Server-Sent Events (``text/event-stream``): one event when the state,
    progress or message changes, until the job ends (a browser reads it with fetch and its Authorization)."""

    permission_classes = [IsAuthenticated, CanAccessPatientData]

    @extend_schema(responses={(200, "text/event-stream"): s.JobOutput}, summary="Live progress (Server-Sent Events)")
    def get(self, request: Request, job_id: str) -> StreamingHttpResponse:
        job = selectors.job_for_user(request.user, job_id)
        user = request.user

        def snapshot() -> dict:
            fresh = InferenceJob.objects.select_related("version__model").get(pk=job.pk)
            return s.JobOutput(fresh, context={"user": user}).data

        async def events():
            last = None
            for _ in range(3600 * 2):  # at most an hour
                data = await sync_to_async(snapshot)()
                key = (data["state"], data["progress"], data["message"])
                if key != last:
                    last = key
                    yield f"event: job\ndata: {json.dumps(data, default=str)}\n\n".encode()
                if data["state"] in TERMINAL_STATES:
                    return
                await asyncio.sleep(0.5)

        response = StreamingHttpResponse(events(), content_type="text/event-stream")
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"
        return response
