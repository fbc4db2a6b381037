"""Thin API views of the accounts app: parse input, call a service or a selector, serialise output."""

from __future__ import annotations

import base64
import io

import segno
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from djoser import views as djoser_views
from djoser.social.views import ProviderAuthView as DjoserProviderAuthView
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.views import TokenRefreshView, TokenVerifyView
from social_core.exceptions import SocialAuthBaseException
from social_django.utils import load_backend, load_strategy

from medcloud.core.errors import ApplicationError

from . import selectors, services
from . import serializers as s
from .authentication import plain_token_error
from .models import ApiToken, MedicalCertificate, User
from .permissions import CanAccessPatientData, IsAdmin, IsHealthProfessional, IsInteractiveSession, IsResearcher
from .throttling import (
    EmailRateThrottle,
    LoginRateThrottle,
    SignUpRateThrottle,
    TokenRateThrottle,
    TwoFactorRateThrottle,
)


def _login_payload(result: services.LoginResult) -> dict:
    data: dict = {"two_factor_required": result.two_factor_required,
                  "two_factor_enrolment_required": result.two_factor_enrolment_required}
    if result.two_factor_required:
        data["challenge"] = result.challenge
    else:
        data.update(access=result.access, refresh=result.refresh)
    return data


# --- djoser users: sign-up, activation, password reset, /users/me/ ---------------------------------------

@extend_schema_view(
    create=extend_schema(summary="Sign up (multipart with the certificate for health professionals)",
                         request=s.SignUpInput, responses={201: s.DetailOutput}),
)
class UserViewSet(djoser_views.UserViewSet):
    """djoser's users endpoints with MedCloud's rules: a sign-up answer that never reveals whether the address
    had an account, throttles, audit rows, and every session revoked when the password changes."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_by_action = {
        "create": [SignUpRateThrottle],
        "reset_password": [EmailRateThrottle],
        "resend_activation": [EmailRateThrottle],
        "activation": [TokenRateThrottle],
        "reset_password_confirm": [TokenRateThrottle],
        "set_password": [TokenRateThrottle],
    }

    public_actions = {"create", "activation", "resend_activation", "reset_password", "reset_password_confirm"}

    def initialize_request(self, request, *args, **kwargs):
        request = super().initialize_request(request, *args, **kwargs)
        if self.action in self.public_actions:
            request.authenticators = ()  # a stale Authorization header must not break sign-up or a reset
            request.user = AnonymousUser()  # djoser's serializers expect an anonymous user, not None
        return request

    def get_throttles(self):
        return [throttle() for throttle in self.throttle_by_action.get(self.action, [])]

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        existing = selectors.user_by_email(serializer.validated_data["email"])
        if existing is not None:
            services.signup_for_existing_email(user=existing, request=request)
        else:
            try:
                self.perform_create(serializer)
            except IntegrityError:  # the same address signed up concurrently
                pass
        return Response({"detail": "Check your e-mail for a link to activate your account."},
                        status=status.HTTP_201_CREATED)

    def permission_denied(self, request, **kwargs):
        # djoser's version reads request.user.is_authenticated, and an anonymous request.user is None here.
        if request.user is None:
            return super(djoser_views.UserViewSet, self).permission_denied(request, **kwargs)
        return super().permission_denied(request, **kwargs)

    @action(["post"], detail=False)
    def set_password(self, request: Request, *args, **kwargs) -> Response:
        response = super().set_password(request, *args, **kwargs)
        if response.status_code == status.HTTP_204_NO_CONTENT:
            services.password_changed(user=request.user, request=request)
        return response

    @action(["post"], detail=False)
    def reset_password_confirm(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.user
        response = super().reset_password_confirm(request, *args, **kwargs)
        if response.status_code == status.HTTP_204_NO_CONTENT:
            services.password_reset_completed(user=user, request=request)
        return response

    @action(["post"], detail=False)
    def activation(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not services.activation_allowed(serializer.user):
            raise ApplicationError("This account was deactivated by an administrator; ask an administrator to "
                               "reactivate it.", code="account_deactivated")
        return super().activation(request, *args, **kwargs)

    @action(["post"], detail=False)
    def resend_activation(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not services.activation_allowed(serializer.get_user(is_active=False)):
            # the same answer as for an unknown address: nothing to enumerate, and no link is sent
            return Response(status=status.HTTP_204_NO_CONTENT)
        return super().resend_activation(request, *args, **kwargs)


# --- Sign-in, second factor, refresh, sign-out --------------------------------------------------------------

class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(request=s.LoginInput, responses={200: s.LoginOutput}, summary="Sign in, step 1: e-mail and password",
                   description="Without 2FA: an access and a refresh token. With 2FA: a `challenge` and no token; send "
                               "it with the code to /api/auth/jwt/2fa/. Failures are generic (401) and lock the "
                               "address for a while after repeated attempts (429).")
    def post(self, request: Request) -> Response:
        data = s.LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.login_with_password(request=request, **data.validated_data)
        return Response(_login_payload(result))


class SecondFactorView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TwoFactorRateThrottle]

    @extend_schema(request=s.SecondFactorInput, responses={200: s.LoginOutput},
                   summary="Sign in, step 2: the TOTP code (or a recovery code) for the challenge of step 1")
    def post(self, request: Request) -> Response:
        data = s.SecondFactorInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.login_with_second_factor(request=request, **data.validated_data)
        return Response(_login_payload(result))


class _PlainTokenErrors:
    def post(self, request: Request, *args, **kwargs) -> Response:
        try:
            return super().post(request, *args, **kwargs)  # type: ignore[misc]
        except InvalidToken as exc:
            raise plain_token_error(exc) from None


@extend_schema(summary="A new access token (and a new refresh token: the old one stops working)")
class RefreshView(_PlainTokenErrors, TokenRefreshView):
    authentication_classes = ()
    throttle_classes = (TokenRateThrottle,)


@extend_schema(summary="Whether a token is valid (and not revoked)")
class VerifyView(_PlainTokenErrors, TokenVerifyView):
    authentication_classes = ()
    throttle_classes = (TokenRateThrottle,)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.LogoutInput, responses={204: None},
                   summary="Sign out: revoke the refresh token and the access token of this request")
    def post(self, request: Request) -> Response:
        data = s.LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.logout(user=request.user, refresh=data.validated_data.get("refresh"),
                        access_token=None if isinstance(request.auth, ApiToken) else request.auth, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PatientAccessView(APIView):
    permission_classes = [IsAuthenticated, CanAccessPatientData]

    @extend_schema(responses={200: inline_serializer("PatientAccess", {"patient_data": serializers.BooleanField()})},
                   summary="Whether the caller may reach patient data (403 while a certificate is pending)")
    def get(self, request: Request) -> Response:
        return Response({"patient_data": True})


# --- Personal API tokens -----------------------------------------------------------------------------------

class ApiTokenListView(APIView):
    permission_classes = [IsAuthenticated, IsResearcher, IsInteractiveSession]

    @extend_schema(responses={200: s.ApiTokenOutput(many=True)}, summary="My personal API tokens (never their values)")
    def get(self, request: Request) -> Response:
        return Response(s.ApiTokenOutput(selectors.api_tokens_of(request.user), many=True).data)

    @extend_schema(request=s.ApiTokenInput, responses={201: s.ApiTokenCreatedOutput},
                   summary="Create a personal API token: the value is shown once, in this answer only")
    def post(self, request: Request) -> Response:
        data = s.ApiTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = services.api_token_create(user=request.user, request=request, name=data.validated_data["name"],
                                               expires_at=data.validated_data.get("expires_at"))
        token.token = raw
        return Response(s.ApiTokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    permission_classes = [IsAuthenticated, IsResearcher, IsInteractiveSession]

    @extend_schema(responses={204: None}, summary="Revoke one of my API tokens")
    def delete(self, request: Request, token_id: int) -> Response:
        token = get_object_or_404(selectors.api_tokens_of(request.user), pk=token_id)
        services.api_token_revoke(token=token, actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Two-factor authentication -------------------------------------------------------------------------------

class TwoFactorStatusView(APIView):
    permission_classes = [IsAuthenticated, IsInteractiveSession]

    @extend_schema(responses={200: s.TwoFactorStatusOutput}, summary="My two-factor authentication status")
    def get(self, request: Request) -> Response:
        user = request.user
        device = getattr(user, "totp_device", None)
        return Response({"enabled": user.two_factor_enabled, "required": selectors.two_factor_required_for(user),
                         "pending_confirmation": bool(device and not device.confirmed_at),
                         "recovery_codes_left": selectors.recovery_codes_left(user)})


class TwoFactorSetupView(APIView):
    permission_classes = [IsAuthenticated, IsInteractiveSession]
    throttle_classes = [TwoFactorRateThrottle]

    @extend_schema(request=None, responses={201: s.TwoFactorSetupOutput},
                   summary="Start enrolment: a new secret as an otpauth:// URI and a QR code (SVG and PNG)")
    def post(self, request: Request) -> Response:
        device = services.totp_setup(user=request.user, request=request)
        uri = services.totp_uri(device)
        qr = segno.make(uri, error="m")
        svg, png = io.BytesIO(), io.BytesIO()
        qr.save(svg, kind="svg", scale=4, xmldecl=False)
        qr.save(png, kind="png", scale=6)
        return Response({"secret": device.secret, "otpauth_uri": uri, "qr_svg": svg.getvalue().decode(),
                         "qr_png": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()},
                        status=status.HTTP_201_CREATED)


class TwoFactorConfirmView(APIView):
    permission_classes = [IsAuthenticated, IsInteractiveSession]
    throttle_classes = [TwoFactorRateThrottle]

    @extend_schema(request=s.CodeInput, responses={200: s.RecoveryCodesOutput},
                   summary="Turn 2FA on with a first code; answers the ten recovery codes, once")
    def post(self, request: Request) -> Response:
        data = s.CodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        codes = services.totp_confirm(user=request.user, code=data.validated_data["code"], request=request)
        return Response({"recovery_codes": codes})


class TwoFactorDisableView(APIView):
    permission_classes = [IsAuthenticated, IsInteractiveSession]
    throttle_classes = [TwoFactorRateThrottle]

    @extend_schema(request=s.TwoFactorDisableInput, responses={204: None},
                   summary="Turn 2FA off (password and a current code; refused where the role requires 2FA)")
    def post(self, request: Request) -> Response:
        data = s.TwoFactorDisableInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.totp_disable(user=request.user, request=request, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecoveryCodesView(APIView):
    permission_classes = [IsAuthenticated, IsInteractiveSession]
    throttle_classes = [TwoFactorRateThrottle]

    @extend_schema(request=s.CodeInput, responses={200: s.RecoveryCodesOutput},
                   summary="Replace my recovery codes (the old ones stop working)")
    def post(self, request: Request) -> Response:
        data = s.CodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        codes = services.recovery_codes_regenerate(user=request.user, code=data.validated_data["code"], request=request)
        return Response({"recovery_codes": codes})


class TwoFactorPolicyView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin, IsInteractiveSession]

    @extend_schema(responses={200: s.TwoFactorPolicyItem(many=True)}, summary="Which roles must use 2FA (admins)")
    def get(self, request: Request) -> Response:
        return Response(selectors.two_factor_policies())

    @extend_schema(request=s.TwoFactorPolicyItem, responses={200: s.TwoFactorPolicyItem(many=True)},
                   summary="Require (or stop requiring) 2FA for a role (admins)")
    def put(self, request: Request) -> Response:
        data = s.TwoFactorPolicyItem(data=request.data)
        data.is_valid(raise_exception=True)
        services.two_factor_policy_set(actor=request.user, request=request, **data.validated_data)
        return Response(selectors.two_factor_policies())


class AdminUserView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin, IsInteractiveSession]

    @extend_schema(request=s.AdminUserInput, responses={200: s.AdminUserOutput},
                   summary="Change a user's role, clinical role or active state (admins; deactivation signs out)")
    def patch(self, request: Request, user_id: int) -> Response:
        data = s.AdminUserInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_object_or_404(User.objects.all(), pk=user_id)
        user = services.user_update_by_admin(user=user, actor=request.user, request=request, **data.validated_data)
        return Response(s.AdminUserOutput(user).data)


# --- Social sign-in --------------------------------------------------------------------------------------------

class ProvidersView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: s.ProviderOutput(many=True)},
                   summary="The social sign-in providers offered (those configured with a key and a secret)")
    def get(self, request: Request) -> Response:
        return Response(selectors.offered_providers())


@extend_schema_view(
    get=extend_schema(
        summary="Social sign-in, step 1: the provider's authorisation URL",
        parameters=[OpenApiParameter("redirect_uri", str, required=True,
                                     description="one of SOCIAL_AUTH_ALLOWED_REDIRECT_URIS")],
        responses={200: inline_serializer("AuthorizationUrl", {"authorization_url": serializers.URLField()})},
    ),
    post=extend_schema(
        summary="Social sign-in, step 2: exchange the provider's code (query: code, state) for tokens "
                "(or a 2FA challenge)",
        parameters=[OpenApiParameter("code", str, required=True), OpenApiParameter("state", str, required=True)],
        request=None, responses={201: s.ProviderAuthOutput},
    ),
)
class ProviderAuthView(DjoserProviderAuthView):
    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]

    def get(self, request: Request, *args, **kwargs) -> Response:
        from djoser.conf import settings as djoser_settings

        redirect_uri = request.GET.get("redirect_uri")
        if redirect_uri not in djoser_settings.SOCIAL_AUTH_ALLOWED_REDIRECT_URIS:
            raise ApplicationError("redirect_uri is not one of the allowed redirect URIs.", code="invalid_redirect_uri")
        self._backend_or_404(request, redirect_uri)
        return super().get(request, *args, **kwargs)

    def post(self, request: Request, *args, **kwargs) -> Response:
        self._backend_or_404(request, None)
        return super().post(request, *args, **kwargs)

    def _backend_or_404(self, request: Request, redirect_uri: str | None) -> None:
        if self.kwargs["provider"] not in selectors.PROVIDER_LABELS or not any(
            p["name"] == self.kwargs["provider"] for p in selectors.offered_providers()
        ):
            raise ApplicationError("This sign-in provider is not offered.", code="not_found")
        try:
            load_backend(load_strategy(request), self.kwargs["provider"], redirect_uri=redirect_uri)
        except SocialAuthBaseException:
            raise ApplicationError("This sign-in provider is not offered.", code="not_found") from None


# --- Medical certificates ------------------------------------------------------------------------------------

class CertificateListView(APIView):
    permission_classes = [IsAuthenticated, IsHealthProfessional]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={200: s.CertificateOutput(many=True)}, summary="My medical certificates and their status")
    def get(self, request: Request) -> Response:
        return Response(s.CertificateOutput(selectors.certificates_of(request.user), many=True).data)

    @extend_schema(request=s.CertificateInput, responses={201: s.CertificateOutput},
                   summary="Upload a medical certificate (PDF, PNG or JPEG; size-limited); it waits for an admin")
    def post(self, request: Request) -> Response:
        data = s.CertificateInput(data=request.data)
        data.is_valid(raise_exception=True)
        certificate = services.certificate_submit(user=request.user, number=data.validated_data["number"],
                                                  upload=data.validated_data["file"], request=request)
        return Response(s.CertificateOutput(certificate).data, status=status.HTTP_201_CREATED)


class CertificateQueueView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(parameters=[s.CertificateQueueFilter], responses={200: s.CertificateAdminOutput(many=True)},
                   summary="The validation queue of medical certificates (admins; pending by default)")
    def get(self, request: Request) -> Response:
        query = s.CertificateQueueFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data["status"]
        certificates = selectors.certificate_queue(status=None if wanted == "all" else wanted)
        return Response(s.CertificateAdminOutput(certificates, many=True).data)


class CertificateDetailView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(responses={200: s.CertificateAdminOutput}, summary="One certificate (admins)")
    def get(self, request: Request, certificate_id: int) -> Response:
        certificate = get_object_or_404(selectors.certificate_queue(status=None), pk=certificate_id)
        return Response(s.CertificateAdminOutput(certificate).data)


class CertificateFileView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(responses={(200, "application/octet-stream"): bytes}, summary="The certificate file (admins)")
    def get(self, request: Request, certificate_id: int) -> HttpResponse:
        certificate = get_object_or_404(MedicalCertificate.objects.all(), pk=certificate_id)
        services.certificate_download_record(certificate=certificate, actor=request.user, request=request)
        response = HttpResponse(certificate.file, content_type=certificate.content_type)
        extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[certificate.content_type]
        response["Content-Disposition"] = f'attachment; filename="certificate-{certificate.pk}.{extension}"'
        response["Cache-Control"] = "no-store"
        return response


class CertificateApproveView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(request=None, responses={200: s.CertificateAdminOutput},
                   summary="Approve a certificate: its owner reaches patient data from now on, and is told by e-mail")
    def post(self, request: Request, certificate_id: int) -> Response:
        certificate = get_object_or_404(selectors.certificate_queue(status=None), pk=certificate_id)
        certificate = services.certificate_approve(certificate=certificate, actor=request.user, request=request)
        return Response(s.CertificateAdminOutput(certificate).data)


class CertificateRejectView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(request=s.RejectInput, responses={200: s.CertificateAdminOutput},
                   summary="Reject a certificate with a reason; its owner is told by e-mail")
    def post(self, request: Request, certificate_id: int) -> Response:
        data = s.RejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        certificate = get_object_or_404(selectors.certificate_queue(status=None), pk=certificate_id)
        certificate = services.certificate_reject(certificate=certificate, actor=request.user, request=request,
                                                  reason=data.validated_data["reason"])
        return Response(s.CertificateAdminOutput(certificate).data)

