from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from medcloud.core.views import HealthView, spa_index
from medcloud.inference.urls import job_patterns, model_patterns
from medcloud.pacs.dicomweb import dicomweb_authz, dicomweb_proxy

api_patterns = [
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("audit/", include("medcloud.audit.urls")),
    path("auth/", include("medcloud.accounts.urls")),
    path("pacs/", include("medcloud.pacs.urls")),
    path("groups/", include("medcloud.sharing.urls")),
    path("models/", include(model_patterns)),
    path("jobs/", include(job_patterns)),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    # The DICOMweb proxy sits at Orthanc's own DICOMweb root, so that its BulkDataURIs point back here.
    re_path(r"^dicom-web/(?P<path>.*)$", dicomweb_proxy, name="dicomweb"),
    # The front server's auth_request for frames and bulk data (ADR 0006); nginx keeps it internal.
    path("dicom-web-authz", dicomweb_authz, name="dicomweb-authz"),
    # Anything else that is not an API path is a route of the single-page app. (No Django admin: it signed staff
    # in with a password alone; the admin endpoints are the API's, /api/auth/admin/..., behind 2FA and lockout.)
    re_path(r"^(?!api/|admin/|static/|dicom-web/|dicom-web-authz$).*$", spa_index, name="spa"),
]

handler400 = "medcloud.core.errors.json_400"
handler403 = "medcloud.core.errors.json_403"
handler404 = "medcloud.core.errors.json_404"
handler500 = "medcloud.core.errors.json_500"
