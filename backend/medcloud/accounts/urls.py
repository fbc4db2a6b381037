from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [
    *router.urls,
    path("jwt/create/", views.LoginView.as_view(), name="jwt-create"),
    path("jwt/2fa/", views.SecondFactorView.as_view(), name="jwt-2fa"),
    path("jwt/refresh/", views.RefreshView.as_view(), name="jwt-refresh"),
    path("jwt/verify/", views.VerifyView.as_view(), name="jwt-verify"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("me/patient-access/", views.PatientAccessView.as_view(), name="patient-access"),
    path("tokens/", views.ApiTokenListView.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", views.ApiTokenDetailView.as_view(), name="api-token"),
    path("2fa/", views.TwoFactorStatusView.as_view(), name="2fa-status"),
    path("2fa/setup/", views.TwoFactorSetupView.as_view(), name="2fa-setup"),
    path("2fa/confirm/", views.TwoFactorConfirmView.as_view(), name="2fa-confirm"),
    path("2fa/disable/", views.TwoFactorDisableView.as_view(), name="2fa-disable"),
    path("2fa/recovery-codes/", views.RecoveryCodesView.as_view(), name="2fa-recovery-codes"),
    path("providers/", views.ProvidersView.as_view(), name="social-providers"),
    re_path(r"^o/(?P<provider>[a-z0-9-]+)/$", views.ProviderAuthView.as_view(), name="provider-auth"),
    path("certificates/", views.CertificateListView.as_view(), name="certificates"),
    path("admin/users/<int:user_id>/", views.AdminUserView.as_view(), name="admin-user"),
    path("admin/2fa-policy/", views.TwoFactorPolicyView.as_view(), name="2fa-policy"),
    path("admin/certificates/", views.CertificateQueueView.as_view(), name="certificate-queue"),
    path("admin/certificates/<int:certificate_id>/", views.CertificateDetailView.as_view(), name="certificate"),
    path("admin/certificates/<int:certificate_id>/file/", views.CertificateFileView.as_view(), name="certificate-file"),
    path("admin/certificates/<int:certificate_id>/approve/", views.CertificateApproveView.as_view(),
         name="certificate-approve"),
    path("admin/certificates/<int:certificate_id>/reject/", views.CertificateRejectView.as_view(),
         name="certificate-reject"),
]
