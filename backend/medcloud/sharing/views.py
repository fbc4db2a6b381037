"""User groups: create, list, invite, remove, leave."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from medcloud.core.errors import ServiceError

from . import selectors, services
from .models import MemberRole, UserGroup


class MemberOutput(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField()
    created_at = serializers.DateTimeField()


class GroupOutput(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = UserGroup
        fields = ["id", "name", "description", "created_by", "created_at", "members"]

    def get_members(self, group: UserGroup) -> list[dict]:
        return MemberOutput(selectors.members_of(group), many=True).data


class GroupInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class InviteInput(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=MemberRole.choices, default=MemberRole.MEMBER)


def _group(request, group_id: int) -> UserGroup:
    group = selectors.group_for(request.user, group_id)
    if group is None:
        raise ServiceError("Not found.", code="not_found", status_code=status.HTTP_404_NOT_FOUND)
    return group


class GroupListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=GroupOutput(many=True), summary="The groups I belong to (admins: all)")
    def get(self, request):
        return Response(GroupOutput(selectors.groups_of(request.user), many=True).data)

    @extend_schema(request=GroupInput, responses={201: GroupOutput}, summary="Create a group (I become its manager)")
    def post(self, request):
        data = GroupInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = services.group_create(user=request.user, request=request, **data.validated_data)
        return Response(GroupOutput(group).data, status=status.HTTP_201_CREATED)


class GroupDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=GroupOutput, summary="One of my groups, with its members")
    def get(self, request, group_id: int):
        return Response(GroupOutput(_group(request, group_id)).data)


class GroupMembersView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=InviteInput, responses={201: MemberOutput}, summary="Invite a user (managers only)")
    def post(self, request, group_id: int):
        data = InviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.group_invite(_group(request, group_id), actor=request.user, request=request,
                                           **data.validated_data)
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class GroupMemberView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None}, summary="Remove a member (managers only)")
    def delete(self, request, group_id: int, user_id: int):
        services.group_remove(_group(request, group_id), actor=request.user, user_id=user_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupLeaveView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="Leave a group")
    def post(self, request, group_id: int):
        services.group_leave(_group(request, group_id), user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
