"""Fast unit tests of who may read, write and manage which study (`pacs.selectors`) and of upload planning
(`services._plan`, with in-memory ParsedInstance objects): the database only, no HTTP, no Orthanc."""

from __future__ import annotations

import pytest

from medcloud.core.errors import ApplicationError
from medcloud.pacs import selectors, services
from medcloud.pacs.dicom import ParsedInstance
from medcloud.pacs.models import Patient, Series, Study
from medcloud.pacs.uploads import UploadRejected
from medcloud.sharing.models import Access, GroupMembership, MemberRole, StudyShare, UserGroup
from tests.factories import create_study, create_user, new_uid

pytestmark = pytest.mark.django_db


def share(study: Study, *, user=None, group=None, access: str = Access.READ) -> StudyShare:
    return StudyShare.objects.create(study=study, user=user, group=group, access=access, granted_by=study.owner)


def group_of(*members) -> UserGroup:
    group = UserGroup.objects.create(name="readers", created_by=members[0])
    for member in members:
        GroupMembership.objects.create(group=group, user=member, role=MemberRole.MEMBER)
    return group


def _ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


# --- studies_visible_to / studies_writable_by ----------------------------------------------------------------

def test_owner_reads_and_writes_own_studies_only():
    owner, other = create_user(), create_user()
    mine, theirs = create_study(owner), create_study(other)
    assert _ids(selectors.studies_visible_to(owner)) == {mine.pk}
    assert _ids(selectors.studies_writable_by(owner)) == {mine.pk}
    assert theirs.pk not in _ids(selectors.studies_visible_to(owner))


def test_shares_direct_and_by_group_read_and_write():
    owner, reader, writer, member = create_user(), create_user(), create_user("health_professional"), create_user()
    study = create_study(owner)
    share(study, user=reader)
    share(study, user=writer, access=Access.WRITE)
    share(study, group=group_of(member))
    for user in (reader, writer, member):
        assert _ids(selectors.studies_visible_to(user)) == {study.pk}
    assert _ids(selectors.studies_writable_by(reader)) == set()
    assert _ids(selectors.studies_writable_by(member)) == set()
    assert _ids(selectors.studies_writable_by(writer)) == {study.pk}
    assert [selectors.study_access(u, study) for u in (owner, writer, reader, member)] == \
        ["owner", "write", "read", "read"]


def test_a_patient_registered_is_not_a_study_shared():
    """Registering a patient gives no study of that patient: only ownership or a share does."""
    registrar, owner = create_user(), create_user()
    patient = Patient.objects.create(first_name="Bo", last_name="Test", created_by=registrar)
    study = create_study(owner, patient=patient)
    assert study.pk not in _ids(selectors.studies_visible_to(registrar))
    assert patient.pk in _ids(selectors.patients_visible_to(registrar))


def test_admin_sees_all_pending_and_inactive_see_nothing():
    owner = create_user()
    study = create_study(owner)
    admin = create_user("admin")
    pending = create_user("health_professional", verified=False)
    inactive = create_user(active=False)
    share(study, user=pending, access=Access.WRITE)
    share(study, user=inactive)
    assert study.pk in _ids(selectors.studies_visible_to(admin))
    assert selectors.study_access(admin, study) == "admin"
    for user in (pending, inactive):
        assert _ids(selectors.studies_visible_to(user)) == set()
        assert _ids(selectors.studies_writable_by(user)) == set()
        assert selectors.study_access(user, study) is None


# --- the access helpers --------------------------------------------------------------------------------------

def _error(exc: pytest.ExceptionInfo) -> tuple[int, str, str]:
    return exc.value.status_code, exc.value.code, exc.value.message


def test_study_for_reader_hides_what_the_user_may_not_read():
    owner, reader, stranger = create_user(), create_user(), create_user()
    study = create_study(owner)
    share(study, user=reader)
    assert selectors.study_for_reader(reader, study.pk) == study
    with pytest.raises(ApplicationError) as exc:
        selectors.study_for_reader(stranger, study.pk)
    assert _error(exc) == (404, "not_found", "Not found.")


def test_study_for_manager_owner_or_admin_only():
    owner, writer, stranger, admin = create_user(), create_user(), create_user(), create_user("admin")
    study = create_study(owner)
    share(study, user=writer, access=Access.WRITE)
    assert selectors.study_for_manager(owner, study.pk) == study
    assert selectors.study_for_manager(admin, study.pk) == study
    with pytest.raises(ApplicationError) as exc:  # sees it, may not manage it: 403
        selectors.study_for_manager(writer, study.pk)
    assert _error(exc) == (403, "permission_denied", "Only the study's owner may manage its shares.")
    with pytest.raises(ApplicationError) as exc:  # does not see it: 404, its existence not revealed
        selectors.study_for_manager(stranger, study.pk)
    assert _error(exc)[:2] == (404, "not_found")
    with pytest.raises(ApplicationError) as exc:
        selectors.check_study_manager(writer, study, message="Only the study's owner may share it.")
    assert _error(exc) == (403, "permission_denied", "Only the study's owner may share it.")


def test_patient_for_reader():
    creator, stranger = create_user(), create_user()
    patient = Patient.objects.create(first_name="Cy", last_name="Test", created_by=creator)
    assert selectors.patient_for_reader(creator, patient.pk) == patient
    with pytest.raises(ApplicationError) as exc:
        selectors.patient_for_reader(stranger, patient.pk)
    assert _error(exc)[:2] == (404, "not_found")


# --- upload planning -----------------------------------------------------------------------------------------

class _NoBytes:
    def read_bytes(self) -> bytes:
        raise AssertionError("planning reads no file")


def parsed(study_uid: str, series_uid: str | None = None, *, mrn: str = "", name: str = "") -> ParsedInstance:
    """An already described instance (describe() reads nothing more)."""
    return ParsedInstance(source=_NoBytes(), name=name or f"{new_uid()}.dcm", sop_instance_uid=new_uid(),
                          sop_class_uid="1.2.840.10008.5.1.4.1.1.4", study_uid=study_uid,
                          series_uid=series_uid or new_uid(), patient_id=mrn, patient_name="Test^Ada", described=True)


def _rejected(exc: pytest.ExceptionInfo) -> tuple[int, str]:
    return exc.value.status_code, exc.value.code


def test_plan_groups_by_study_and_shares_new_patients_by_record_number():
    user = create_user()
    a, b, c = new_uid(), new_uid(), new_uid()
    series_a = new_uid()
    items = [parsed(a, series_a, mrn="MRN-1"), parsed(a, series_a, mrn="MRN-1"), parsed(b, mrn="MRN-1"), parsed(c)]
    plans = {plan.study_uid: plan for plan in services._plan(user, items, None)}
    assert [len(plans[uid].items) for uid in (a, b, c)] == [2, 1, 1]
    assert all(plan.existing is None and plan.patient is None for plan in plans.values())
    assert plans[a].new_patient_key == plans[b].new_patient_key == "mrn:MRN-1"
    assert plans[a].pseudonym == plans[b].pseudonym != plans[c].pseudonym
    assert plans[c].new_patient_key == f"study:{c}"


def test_plan_finds_the_uploaders_patient_by_record_number_or_takes_the_one_given():
    user, other = create_user(), create_user()
    mine = services.patient_create(user=user, first_name="Di", last_name="Test", medical_record_number="MRN-2",
                                   audit=False)
    services.patient_create(user=other, first_name="Di", last_name="Test", medical_record_number="MRN-3",
                            audit=False)
    [plan] = services._plan(user, [parsed(new_uid(), mrn="MRN-2")], None)
    assert plan.patient == mine and plan.pseudonym == mine.pseudonym and not plan.new_patient_key
    [plan] = services._plan(user, [parsed(new_uid(), mrn="MRN-3")], None)  # another user's patient: not matched
    assert plan.patient is None and plan.new_patient_key == "mrn:MRN-3"
    given = Patient.objects.create(first_name="Ed", last_name="Test", created_by=user)
    [plan] = services._plan(user, [parsed(new_uid(), mrn="MRN-2")], given)
    assert plan.patient == given and plan.pseudonym == given.pseudonym


def test_plan_refuses_a_series_in_two_studies():
    user = create_user()
    series = new_uid()
    with pytest.raises(UploadRejected) as exc:
        services._plan(user, [parsed(new_uid(), series), parsed(new_uid(), series)], None)
    assert _rejected(exc) == (409, "inconsistent_series")
    owner = create_user()
    existing = create_study(owner)
    Series.objects.create(study=existing, series_instance_uid=series)
    with pytest.raises(UploadRejected) as exc:  # a series already recorded under another study
        services._plan(owner, [parsed(new_uid(), series)], None)
    assert _rejected(exc) == (409, "inconsistent_series")


def test_plan_adds_to_an_existing_study_only_with_write_access():
    owner, writer, reader, stranger = create_user(), create_user(), create_user(), create_user()
    study = create_study(owner)
    share(study, user=writer, access=Access.WRITE)
    share(study, user=reader)
    [plan] = services._plan(writer, [parsed(study.study_instance_uid)], None)
    assert plan.existing == study and plan.patient == study.patient and plan.pseudonym == study.patient.pseudonym
    with pytest.raises(UploadRejected) as exc:
        services._plan(reader, [parsed(study.study_instance_uid)], None)
    assert _rejected(exc) == (403, "permission_denied")
    with pytest.raises(UploadRejected) as exc:
        services._plan(stranger, [parsed(study.study_instance_uid)], None)
    assert _rejected(exc) == (409, "study_exists")
    other_patient = Patient.objects.create(first_name="Flo", last_name="Test", created_by=owner)
    with pytest.raises(UploadRejected) as exc:
        services._plan(owner, [parsed(study.study_instance_uid)], other_patient)
    assert _rejected(exc) == (409, "patient_mismatch")
