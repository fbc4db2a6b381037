"""User groups and study grants. A grant gives one user, or every member of one group, read or
read-write access to one study; revoking deletes it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class UserGroup(models.Model):
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"group {self.pk}"


class MemberRole(models.TextChoices):
    MANAGER = "manager", "Manager"  # may invite and remove members
    MEMBER = "member", "Member"


class GroupMembership(models.Model):
    group = models.ForeignKey(UserGroup, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships")
    role = models.CharField(max_length=16, choices=MemberRole.choices, default=MemberRole.MEMBER)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="sharing_membership_unique")]

    def __str__(self) -> str:
        return f"membership {self.pk}"


class Access(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Read and write"


class StudyShare(models.Model):
    study = models.ForeignKey("pacs.Study", on_delete=models.CASCADE, related_name="shares")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="study_shares")
    group = models.ForeignKey(UserGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="study_shares")
    access = models.CharField(max_length=8, choices=Access.choices, default=Access.READ)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(user__isnull=False, group__isnull=True)
                                   | Q(user__isnull=True, group__isnull=False), name="sharing_share_one_target"),
            models.UniqueConstraint(fields=["study", "user"], condition=Q(user__isnull=False),
                                    name="sharing_share_user_unique"),
            models.UniqueConstraint(fields=["study", "group"], condition=Q(group__isnull=False),
                                    name="sharing_share_group_unique"),
        ]
        indexes = [models.Index(fields=["user", "study"]), models.Index(fields=["group", "study"])]

    def __str__(self) -> str:
        return f"share {self.pk}"
