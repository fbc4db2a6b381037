from django.urls import path

from . import views

model_patterns = [
    path("", views.ModelListView.as_view(), name="models"),
    path("<int:model_id>/", views.ModelDetailView.as_view(), name="model-detail"),
    path("<int:model_id>/package/", views.ModelPackageView.as_view(), name="model-package"),
    path("<int:model_id>/weights/", views.ModelWeightsView.as_view(), name="model-weights"),
    path("<int:model_id>/files/", views.ModelFilesView.as_view(), name="model-files"),
    path("<int:model_id>/publish/", views.ModelPublishView.as_view(), name="model-publish"),
    path("<int:model_id>/versions/", views.ModelVersionsView.as_view(), name="model-versions"),
    path("<int:model_id>/rollback/", views.ModelRollbackView.as_view(), name="model-rollback"),
    path("<int:model_id>/shares/", views.ModelSharesView.as_view(), name="model-shares"),
    path("<int:model_id>/shares/<int:share_id>/", views.ModelShareView.as_view(), name="model-share"),
    path("<int:model_id>/publication/", views.ModelPublicationView.as_view(), name="model-publication"),
]

job_patterns = [
    path("", views.JobListView.as_view(), name="jobs"),
    path("<uuid:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("<uuid:job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("<uuid:job_id>/retry/", views.JobRetryView.as_view(), name="job-retry"),
    path("<uuid:job_id>/events/", views.JobEventsView.as_view(), name="job-events"),
]
