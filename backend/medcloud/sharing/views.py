"""User groups: create, list, invite, remove, leave. Thin views: serializers in `serializers.py`, writes in
`services.py`, reads and the group access helper (`selectors.group_for_member`) in `selectors.py`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .serializers import GroupInput, GroupOutput, InviteInput, MemberOutput


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
        return Response(GroupOutput(selectors.group_for_member(request.user, group_id)).data)


class GroupMembersView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=InviteInput, responses={201: MemberOutput}, summary="Invite a user (managers only)")
    def post(self, request, group_id: int):
        data = InviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        group = selectors.group_for_member(request.user, group_id)
        membership = services.group_invite(group, actor=request.user, request=request, **data.validated_data)
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class GroupMemberView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None}, summary="Remove a member (managers only)")
    def delete(self, request, group_id: int, user_id: int):
        group = selectors.group_for_member(request.user, group_id)
        services.group_remove(group, actor=request.user, user_id=user_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupLeaveView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None}, summary="Leave a group")
    def post(self, request, group_id: int):
        services.group_leave(selectors.group_for_member(request.user, group_id), user=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
