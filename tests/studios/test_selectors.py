"""Tenancy: a member sees their studios only; staff see all; anonymous nothing."""

import pytest
from django.contrib.auth.models import AnonymousUser

from scenarios.models import Scenario
from studios.models import Studio, StudioRole
from studios.selectors import (
    metric_list,
    restrict_to_user,
    studio_get,
    studio_list,
    user_can_edit_studio,
)
from tests.factories import (
    MonthlyMetricFactory,
    ScenarioFactory,
    StaffUserFactory,
    StudioMembershipFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def test_member_sees_only_their_studios(owner, other_studio):
    assert list(studio_list(user=owner)) == [owner.studio]


def test_staff_see_every_studio(owner, other_studio):
    staff = StaffUserFactory()

    assert set(studio_list(user=staff)) == {owner.studio, other_studio}


def test_anonymous_and_inactive_users_see_nothing(owner):
    owner.is_active = False

    assert not studio_list(user=AnonymousUser()).exists()
    assert not studio_list(user=None).exists()
    assert not studio_list(user=owner).exists()


def test_studio_get_answers_forbidden_like_missing(owner, other_studio):
    assert studio_get(user=owner, studio_id=owner.studio.pk) == owner.studio
    with pytest.raises(Studio.DoesNotExist):
        studio_get(user=owner, studio_id=other_studio.pk)
    with pytest.raises(Studio.DoesNotExist):
        studio_get(user=owner, studio_id="not-a-uuid")


def test_rows_hanging_off_a_studio_are_restricted(owner, other_studio):
    mine = MonthlyMetricFactory(studio=owner.studio)
    MonthlyMetricFactory(studio=other_studio)
    ScenarioFactory(studio=other_studio)
    my_scenario = ScenarioFactory(studio=owner.studio)

    assert list(metric_list(user=owner)) == [mine]
    assert list(restrict_to_user(Scenario.objects.all(), user=owner)) == [my_scenario]


def test_a_studio_shared_by_two_members_is_listed_once(owner):
    StudioMembershipFactory(studio=owner.studio)

    assert studio_list(user=owner).count() == 1
    assert studio_list(user=StaffUserFactory()).count() == 1


def test_viewers_read_but_do_not_edit(owner):
    viewer = UserFactory()
    StudioMembershipFactory(user=viewer, studio=owner.studio, role=StudioRole.VIEWER)

    assert user_can_edit_studio(user=owner, studio=owner.studio)
    assert not user_can_edit_studio(user=viewer, studio=owner.studio)
    assert studio_list(user=viewer).get() == owner.studio
