from django.urls import path

from . import views

urlpatterns = [
    path("", views.GroupListView.as_view(), name="groups"),
    path("<int:group_id>/", views.GroupDetailView.as_view(), name="group-detail"),
    path("<int:group_id>/members/", views.GroupMembersView.as_view(), name="group-members"),
    path("<int:group_id>/members/<int:user_id>/", views.GroupMemberView.as_view(), name="group-member"),
    path("<int:group_id>/leave/", views.GroupLeaveView.as_view(), name="group-leave"),
]
