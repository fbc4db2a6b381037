"""Reads of groups and shares."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from medcloud.core.errors import ApplicationError

from .models import GroupMembership, MemberRole, StudyShare, UserGroup


def groups_of(user: Any) -> QuerySet[UserGroup]:
    if user.is_admin:
        return UserGroup.objects.all()
    return UserGroup.objects.filter(memberships__user=user).distinct()


def group_for(user: Any, group_id: int) -> UserGroup | None:
    return groups_of(user).filter(pk=group_id).first()


def group_for_member(user: Any, group_id: int) -> UserGroup:
    """One of the user's groups (admins: any), else 404: the access helper of a group."""
    group = group_for(user, group_id)
    if group is None:
        raise ApplicationError("Not found.", code="not_found")
    return group


def is_manager(user: Any, group: UserGroup) -> bool:
    return user.is_admin or GroupMembership.objects.filter(group=group, user=user, role=MemberRole.MANAGER).exists()


def members_of(group: UserGroup) -> QuerySet[GroupMembership]:
    return group.memberships.select_related("user")


def shares_of(study: Any) -> QuerySet[StudyShare]:
    return StudyShare.objects.filter(study=study).select_related("user", "group")


def share_of(study: Any, share_id: int) -> StudyShare | None:
    """One share of `study` (with its study), else None."""
    return StudyShare.objects.filter(study=study, pk=share_id).select_related("study").first()
