"""User groups over real HTTP: create, invite (managers only), leave, remove; outsiders see nothing; every
change audited."""

from __future__ import annotations

import pytest

from tests.pacs.conftest import bearer

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_groups_invite_remove_leave(client, make_user):
    from medcloud.audit.models import AuditEvent

    manager, member, outsider = make_user("researcher"), make_user("researcher"), make_user("researcher")
    group = client.post("/api/groups/", headers=bearer(manager), json={"name": "MRI readers"}).json()
    gid = group["id"]
    invite = {"email": member.email}
    assert client.post(f"/api/groups/{gid}/members/", headers=bearer(manager), json=invite).status_code == 201
    # Members cannot invite; outsiders cannot even see the group.
    assert client.post(f"/api/groups/{gid}/members/", headers=bearer(member),
                       json={"email": outsider.email}).status_code == 403
    assert client.get(f"/api/groups/{gid}/", headers=bearer(outsider)).status_code == 404
    assert [g["id"] for g in client.get("/api/groups/", headers=bearer(member)).json()] == [gid]
    assert client.post(f"/api/groups/{gid}/leave/", headers=bearer(member)).status_code == 204
    assert client.get("/api/groups/", headers=bearer(member)).json() == []
    assert client.post(f"/api/groups/{gid}/members/", headers=bearer(manager), json=invite).status_code == 201
    assert client.delete(f"/api/groups/{gid}/members/{member.pk}/", headers=bearer(manager)).status_code == 204
    members = client.get(f"/api/groups/{gid}/", headers=bearer(manager)).json()["members"]
    assert [m["user"] for m in members] == [manager.pk]
    actions = set(AuditEvent.objects.filter(target_type="group", target_id=str(gid)).values_list("action", flat=True))
    assert actions == {"group.create", "group.invite", "group.leave", "group.remove"}
