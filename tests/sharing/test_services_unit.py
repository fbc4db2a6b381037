"""Fast unit tests of the sharing services: a group keeps at least one manager, only managers invite and
remove, invitations find active users by e-mail (`accounts.selectors.user_by_email`), only a study's owner
(or an admin) shares and revokes. The database only: no HTTP, no Orthanc."""

from __future__ import annotations

import pytest

from medcloud.audit.models import AuditEvent
from medcloud.core.errors import ApplicationError
from medcloud.sharing import services
from medcloud.sharing.models import Access, GroupMembership, MemberRole, StudyShare
from tests.factories import create_study, create_user

pytestmark = pytest.mark.django_db


def _members(group) -> dict[int, str]:
    return dict(GroupMembership.objects.filter(group=group).values_list("user_id", "role"))


def _code(exc: pytest.ExceptionInfo) -> tuple[int, str]:
    return exc.value.status_code, exc.value.code


def test_the_creator_is_manager_and_invites_by_email_any_case():
    manager, member = create_user(), create_user()
    group = services.group_create(user=manager, name="  MRI readers ")
    assert group.name == "MRI readers" and _members(group) == {manager.pk: MemberRole.MANAGER}
    services.group_invite(group, actor=manager, email=f"  {member.email.upper()} ")
    assert _members(group) == {manager.pk: MemberRole.MANAGER, member.pk: MemberRole.MEMBER}
    actions = list(AuditEvent.objects.filter(target_type="group", target_id=str(group.pk))
                   .order_by("id").values_list("action", flat=True))
    assert actions == ["group.create", "group.invite"]


def test_unknown_or_inactive_invitees_and_non_managers_are_refused():
    manager, member, inactive = create_user(), create_user(), create_user(active=False)
    group = services.group_create(user=manager, name="g")
    with pytest.raises(ApplicationError) as exc:
        services.group_invite(group, actor=manager, email="nobody@example.test")
    assert _code(exc) == (400, "unknown_user")
    with pytest.raises(ApplicationError) as exc:
        services.group_invite(group, actor=manager, email=inactive.email)
    assert _code(exc) == (400, "unknown_user")
    services.group_invite(group, actor=manager, email=member.email)
    with pytest.raises(ApplicationError) as exc:
        services.group_invite(group, actor=member, email=manager.email)
    assert _code(exc) == (403, "permission_denied")
    with pytest.raises(ApplicationError) as exc:
        services.group_remove(group, actor=member, user_id=manager.pk)
    assert _code(exc) == (403, "permission_denied")


def test_the_last_manager_cannot_leave_while_others_remain():
    manager, member = create_user(), create_user()
    group = services.group_create(user=manager, name="g")
    services.group_invite(group, actor=manager, email=member.email)
    with pytest.raises(ApplicationError) as exc:
        services.group_leave(group, user=manager)
    assert _code(exc) == (409, "last_manager")
    assert manager.pk in _members(group)
    services.group_leave(group, user=member)  # a member may always leave
    services.group_leave(group, user=manager)  # alone now: the last manager may leave too
    assert _members(group) == {}


def test_a_manager_may_leave_once_another_is_manager():
    first, second, member = create_user(), create_user(), create_user()
    group = services.group_create(user=first, name="g")
    services.group_invite(group, actor=first, email=second.email, role=MemberRole.MANAGER)
    services.group_invite(group, actor=first, email=member.email)
    services.group_leave(group, user=first)
    assert _members(group) == {second.pk: MemberRole.MANAGER, member.pk: MemberRole.MEMBER}
    with pytest.raises(ApplicationError) as exc:  # removing the last manager is refused as leaving is
        services.group_remove(group, actor=second, user_id=second.pk)
    assert _code(exc) == (409, "last_manager")
    services.group_remove(group, actor=second, user_id=member.pk)
    with pytest.raises(ApplicationError) as exc:
        services.group_remove(group, actor=second, user_id=member.pk)
    assert _code(exc) == (404, "not_found")


def test_only_the_owner_or_an_admin_shares_and_revokes():
    owner, reader, admin = create_user(), create_user(), create_user("admin")
    study = create_study(owner)
    with pytest.raises(ApplicationError) as exc:
        services.study_share(study, actor=reader, user_email=reader.email)
    assert _code(exc) == (403, "permission_denied")
    with pytest.raises(ApplicationError) as exc:
        services.study_share(study, actor=owner, user_email=owner.email)
    assert _code(exc) == (400, "invalid")
    share = services.study_share(study, actor=owner, user_email=reader.email.upper())
    assert (share.user, share.access) == (reader, Access.READ)
    again = services.study_share(study, actor=admin, user_email=reader.email, access=Access.WRITE)
    assert again.pk == share.pk and again.access == Access.WRITE
    with pytest.raises(ApplicationError) as exc:
        services.share_revoke(again, actor=reader)
    assert _code(exc) == (403, "permission_denied")
    services.share_revoke(again, actor=owner)
    assert not StudyShare.objects.filter(study=study).exists()
