"""The hot lookups written in SQL (studiosim.rows) load what the ORM loads."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from forecasting.models import (
    ModelVersion,
    ModelVersionStatus,
    PredictionLog,
    PredictionType,
)
from studios.models import ApiToken, MemberCohort, Studio, StudioRole
from studios.selectors import studio_get, studio_list
from studios.services import api_token_authenticate, api_token_create
from studiosim import rows
from tests.factories import (
    MemberCohortFactory,
    ModelVersionFactory,
    StaffUserFactory,
    StudioFactory,
    StudioMembershipFactory,
    SuperUserFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def field_values(instance) -> dict:
    """Every concrete field's value and type, which ``==`` on instances ignores."""
    return {
        field.attname: (
            getattr(instance, field.attname),
            type(instance.__dict__[field.attname]),
        )
        for field in type(instance)._meta.concrete_fields
    }


def loaded(model, pk):
    """``model``'s row ``pk`` through :mod:`studiosim.rows`."""
    row = rows.fetch_one(
        f"SELECT {rows.columns(model, connection, 'x')} "
        f"FROM {rows.table(model, connection)} x "
        f"WHERE {rows.column(model, 'pk', connection, 'x')} = %s",
        [rows.db_value(model, "pk", pk, connection)],
        connection,
    )
    return rows.instance(model, row, connection)


def test_a_row_converts_like_the_orm_dates_uuids_decimals_json_and_booleans():
    version = ModelVersionFactory(
        status=ModelVersionStatus.ACTIVE,
        deployed_at=timezone.now(),
        months_covered_start=dt.date(2021, 1, 1),
        metrics={"mape": 0.051, "by_horizon": [0.04, 0.05]},
    )
    studio = StudioFactory(opening_date=dt.date(2019, 3, 1))
    membership = StudioMembershipFactory(studio=studio)

    for model, pk in (
        (ModelVersion, version.pk),
        (Studio, studio.pk),
        (get_user_model(), membership.user.pk),
    ):
        orm = model.objects.get(pk=pk)
        assert field_values(loaded(model, pk)) == field_values(orm)
    version_row = loaded(ModelVersion, version.pk)
    assert version_row.metrics["by_horizon"] == [0.04, 0.05]
    assert timezone.is_aware(version_row.deployed_at)
    assert version_row.months_covered_start == dt.date(2021, 1, 1)
    assert isinstance(loaded(Studio, studio.pk).pk, uuid.UUID)


def test_a_loaded_instance_saves_as_an_update_of_its_row():
    studio = StudioFactory(name="Before")

    instance = loaded(Studio, studio.pk)
    instance.name = "After"
    instance.save()

    assert Studio.objects.count() == 1
    assert Studio.objects.get(pk=studio.pk).name == "After"


def test_a_decimal_column_keeps_its_precision():
    cohort = MemberCohortFactory(avg_ltv=Decimal("1800.25"))

    assert loaded(MemberCohort, cohort.pk).avg_ltv == Decimal("1800.25")
    assert field_values(loaded(MemberCohort, cohort.pk)) == field_values(
        MemberCohort.objects.get(pk=cohort.pk)
    )


def test_a_token_and_its_user_come_from_one_query(django_assert_num_queries):
    user = UserFactory(last_login=timezone.now())
    token, key = api_token_create(user=user, name="app")
    api_token_authenticate(key=key)  # records the first use

    with django_assert_num_queries(1):
        found = api_token_authenticate(key=key)
        found_user = found.user

    assert field_values(found) == field_values(ApiToken.objects.get(pk=token.pk))
    assert field_values(found_user) == field_values(
        get_user_model().objects.get(pk=user.pk)
    )


def test_a_malformed_studio_id_is_refused_before_any_query(django_assert_num_queries):
    staff = StaffUserFactory()

    with django_assert_num_queries(0), pytest.raises(ValidationError):
        rows.db_value(Studio, "pk", "not-a-uuid", connection)
    with django_assert_num_queries(0), pytest.raises(Studio.DoesNotExist):
        studio_get(user=staff, studio_id="not-a-uuid")


def test_studio_get_follows_the_tenancy_rule_for_every_kind_of_user():
    mine = StudioFactory()
    shared = StudioFactory()
    theirs = StudioFactory()
    member = StudioMembershipFactory(studio=mine).user
    StudioMembershipFactory(studio=shared, user=member, role=StudioRole.VIEWER)
    StudioMembershipFactory(studio=shared)
    inactive_member = StudioMembershipFactory(studio=mine).user
    inactive_member.is_active = False
    inactive_member.save()
    inactive_staff = StaffUserFactory(is_active=False)
    users = [
        member,
        UserFactory(),  # no membership
        StaffUserFactory(),
        SuperUserFactory(),
        inactive_member,
        inactive_staff,
        AnonymousUser(),
        None,
    ]
    ids = [mine.pk, shared.pk, theirs.pk, uuid.uuid4(), str(mine.pk), "42"]

    seen_somewhere = set()
    for user in users:
        visible = set(studio_list(user=user).values_list("pk", flat=True))
        for studio_id in ids:
            try:
                found = studio_get(user=user, studio_id=studio_id).pk
            except Studio.DoesNotExist:
                found = None
            expected = next((pk for pk in visible if str(pk) == str(studio_id)), None)
            assert found == expected, (user, studio_id)
            seen_somewhere.add(found)
    # The matrix exercises both answers, and every studio is seen by someone.
    assert {mine.pk, shared.pk, theirs.pk, None} <= seen_somewhere


def test_an_inserted_row_reads_back_as_the_instance_that_was_inserted():
    studio = StudioFactory()
    version = ModelVersionFactory()
    user = UserFactory()
    log = PredictionLog(
        studio=studio,
        prediction_type=PredictionType.FORWARD,
        model_version=version,
        base_month=dt.date(2024, 1, 1),
        projection_months=3,
        inputs={"levers": {"retention_rate": 0.9}},
        outputs={"predictions": [{"revenue": 1.5, "month_year": "2024-02-01"}]},
        confidence=0.75,
        created_by=user,
    )

    rows.insert(log, connection)

    assert log.created_at is not None  # auto_now_add filled by the field itself
    assert not log._state.adding
    stored = PredictionLog.objects.get(pk=log.pk)
    assert {name: value for name, (value, _) in field_values(stored).items()} == {
        name: value for name, (value, _) in field_values(log).items()
    }


def test_insert_refuses_a_model_whose_key_the_database_assigns():
    version = ModelVersionFactory.build()

    with pytest.raises(TypeError, match="primary key"):
        rows.insert(version, connection)
    assert not ModelVersion.objects.exists()
