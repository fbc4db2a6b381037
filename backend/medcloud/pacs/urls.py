from django.urls import path

from . import views

urlpatterns = [
    path("patients/", views.PatientListView.as_view(), name="patients"),
    path("patients/<int:patient_id>/", views.PatientDetailView.as_view(), name="patient-detail"),
    path("studies/", views.StudyListView.as_view(), name="studies"),
    path("studies/upload/", views.StudyUploadView.as_view(), name="study-upload"),
    path("studies/<int:study_id>/", views.StudyDetailView.as_view(), name="study-detail"),
    path("studies/<int:study_id>/viewer-token/", views.ViewerTokenView.as_view(), name="study-viewer-token"),
    path("studies/<int:study_id>/shares/", views.StudySharesView.as_view(), name="study-shares"),
    path("studies/<int:study_id>/shares/<int:share_id>/", views.StudyShareView.as_view(), name="study-share"),
]
