"""Database-level constraints hold on every engine (the suite runs on both)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from forecasting.models import ModelVersionStatus
from tests.factories import (
    ClassTypeFactory,
    MemberCohortFactory,
    ModelVersionFactory,
    MonthlyMetricFactory,
    ScenarioFactory,
    StudioFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]


def _violates(factory, **kwargs) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)


def test_one_metric_row_per_studio_and_month():
    metric = MonthlyMetricFactory(month_year=dt.date(2024, 1, 1))

    _violates(
        MonthlyMetricFactory, studio=metric.studio, month_year=dt.date(2024, 1, 1)
    )


@pytest.mark.parametrize(
    "field",
    [
        "retention_rate",
        "class_attendance_rate",
        "staff_utilization_rate",
        "upsell_rate",
    ],
)
@pytest.mark.parametrize("value", [-0.01, 1.01])
def test_rates_outside_zero_one_are_rejected(field, value):
    _violates(MonthlyMetricFactory, **{field: value})


@pytest.mark.parametrize("field", ["retention_rate", "upsell_rate"])
def test_rates_at_the_bounds_and_missing_are_accepted(field):
    MonthlyMetricFactory(**{field: 0.0})
    MonthlyMetricFactory(**{field: 1.0})
    MonthlyMetricFactory(**{field: None})


@pytest.mark.parametrize(
    "field",
    ["total_members", "new_members", "churned_members", "total_class_attendance"],
)
def test_negative_counts_are_rejected(field):
    _violates(MonthlyMetricFactory, **{field: -1})


@pytest.mark.parametrize(
    "field", ["avg_ticket_price", "total_revenue", "upsell_revenue"]
)
def test_negative_money_is_rejected(field):
    _violates(MonthlyMetricFactory, **{field: Decimal("-0.01")})


def test_class_type_and_cohort_ranges_are_enforced():
    _violates(ClassTypeFactory, avg_attendance_rate=1.5)
    _violates(ClassTypeFactory, class_price=Decimal("-1"))
    _violates(MemberCohortFactory, retention_month_3=-0.2)
    studio = StudioFactory()
    MemberCohortFactory(studio=studio, join_month=dt.date(2024, 1, 1))
    _violates(MemberCohortFactory, studio=studio, join_month=dt.date(2024, 1, 1))


def test_at_most_one_active_model_version():
    ModelVersionFactory(status=ModelVersionStatus.ACTIVE)

    _violates(ModelVersionFactory, status=ModelVersionStatus.ACTIVE)
    ModelVersionFactory(status=ModelVersionStatus.READY)  # any number of others


def test_scenario_projection_months_and_confidence_are_bounded():
    _violates(ScenarioFactory, projection_months=13)
    _violates(ScenarioFactory, projection_months=0)
    _violates(ScenarioFactory, confidence_score=1.2)


@pytest.mark.parametrize("currency", ["us", "USDX", "U$D", ""])
def test_a_studio_s_currency_is_an_iso_code(currency):
    """Amounts are written in it and peers share it: 'us' would print 'us 1,200'
    and make a studio of its own currency."""
    studio = StudioFactory.build(currency=currency)

    with pytest.raises(ValidationError) as error:
        studio.full_clean()

    assert "currency" in error.value.message_dict


def test_a_studio_in_yen_is_valid():
    StudioFactory.build(currency="JPY").full_clean()
