"""Writes of groups, memberships and study shares; each writes its audit event in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from medcloud.accounts.selectors import user_by_email
from medcloud.audit.actions import AuditAction
from medcloud.audit.services import record_event
from medcloud.core.errors import ApplicationError
from medcloud.pacs.selectors import check_study_manager

from .models import GroupMembership, MemberRole, StudyShare, UserGroup
from .selectors import is_manager


def _forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, code="permission_denied")


def _active_user_by_email(email: str) -> Any:
    """The active user with this e-mail address (case-insensitive), else None."""
    user = user_by_email(email)
    return user if user is not None and user.is_active else None


def group_create(*, user: Any, name: str, description: str = "", request: Any = None) -> UserGroup:
    with transaction.atomic():
        group = UserGroup.objects.create(name=name.strip(), description=description.strip(), created_by=user)
        GroupMembership.objects.create(group=group, user=user, role=MemberRole.MANAGER, added_by=user)
        record_event(AuditAction.GROUP_CREATE, actor=user, request=request, target_type="group", target_id=group.pk)
    return group


def group_invite(group: UserGroup, *, actor: Any, email: str, role: str = "member",
                 request: Any = None) -> GroupMembership:
    """Adds a user (by e-mail) to the group at once; only the group's managers and admins may."""
    if not is_manager(actor, group):
        raise _forbidden("Only the group's managers may invite members.")
    invitee = _active_user_by_email(email)
    if invitee is None:
        raise ApplicationError("No active user has this e-mail address.", code="unknown_user")
    with transaction.atomic():
        membership, created = GroupMembership.objects.get_or_create(
            group=group, user=invitee, defaults={"role": role, "added_by": actor})
        if created:
            record_event(AuditAction.GROUP_INVITE, actor=actor, request=request, target_type="group",
                         target_id=group.pk, details={"user": invitee.pk, "role": role})
    return membership


def group_remove(group: UserGroup, *, actor: Any, user_id: int, request: Any = None) -> None:
    if not is_manager(actor, group):
        raise _forbidden("Only the group's managers may remove members.")
    _leave(group, user_id=user_id, actor=actor, request=request, action=AuditAction.GROUP_REMOVE)


def group_leave(group: UserGroup, *, user: Any, request: Any = None) -> None:
    _leave(group, user_id=user.pk, actor=user, request=request, action=AuditAction.GROUP_LEAVE)


def _leave(group: UserGroup, *, user_id: int, actor: Any, request: Any, action: AuditAction) -> None:
    """Ends a membership. A group keeps at least one manager while it has other members: the last manager
    cannot leave (or be removed) until someone else is manager; alone, they may."""
    with transaction.atomic():
        membership = GroupMembership.objects.select_for_update().filter(group=group, user_id=user_id).first()
        if membership is None:
            raise ApplicationError("This user is not a member of the group.", code="not_found")
        managers = GroupMembership.objects.filter(group=group, role=MemberRole.MANAGER).exclude(pk=membership.pk)
        others = GroupMembership.objects.filter(group=group).exclude(pk=membership.pk)
        if membership.role == MemberRole.MANAGER and others.exists() and not managers.exists():
            raise ApplicationError("The last manager cannot leave while others remain; make someone else manager "
                               "first.", code="last_manager")
        membership.delete()
        record_event(action, actor=actor, request=request, target_type="group", target_id=group.pk,
                     details={"user": user_id})


def study_share(study: Any, *, actor: Any, access: str = "read", user_email: str | None = None,
                group: UserGroup | None = None, request: Any = None) -> StudyShare:
    """Only the study's owner (or an admin) shares it, with one user or one group."""
    check_study_manager(actor, study, message="Only the study's owner may share it.")
    if (user_email is None) == (group is None):
        raise ApplicationError("Share with either a user (user_email) or a group (group).", code="invalid")
    target_user = None
    if user_email is not None:
        target_user = _active_user_by_email(user_email)
        if target_user is None:
            raise ApplicationError("No active user has this e-mail address.", code="unknown_user")
        if target_user.pk == study.owner_id:
            raise ApplicationError("The owner already has access to the study.", code="invalid")
    with transaction.atomic():
        share, created = StudyShare.objects.update_or_create(
            study=study, user=target_user, group=group, defaults={"access": access, "granted_by": actor})
        record_event(AuditAction.STUDY_SHARE, actor=actor, request=request, target_type="study", target_id=study.pk,
                     details={"share": share.pk, "user": target_user.pk if target_user else None,
                              "group": group.pk if group else None, "access": access, "created": created})
    return share


def share_revoke(share: StudyShare, *, actor: Any, request: Any = None) -> None:
    study = share.study
    check_study_manager(actor, study, message="Only the study's owner may revoke its shares.")
    with transaction.atomic():
        record_event(AuditAction.STUDY_UNSHARE, actor=actor, request=request, target_type="study", target_id=study.pk,
                     details={"share": share.pk, "user": share.user_id, "group": share.group_id})
        share.delete()
