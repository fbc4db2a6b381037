"""Input and output serializers of the groups API, one pair per view as in `accounts/serializers.py`."""

from __future__ import annotations

from rest_framework import serializers

from . import selectors
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
