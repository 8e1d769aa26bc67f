"""studios, studio and studioBaseline: tenancy, filters, paging, no N+1, baseline."""

import datetime as dt
import math
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studios.models import StudioType
from studios.selectors import RetentionTrend, studio_baseline
from tests.api.conftest import covers, error_codes
from tests.factories import (
    ClassTypeFactory,
    MemberCohortFactory,
    MonthlyMetricFactory,
    StudioFactory,
    StudioMembershipFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

STUDIOS_QUERY = """
query Studios(
  $filters: StudioFilter
  $ordering: [StudioOrder!]! = []
  $pagination: OffsetPaginationInput
) {
  studios(filters: $filters, ordering: $ordering, pagination: $pagination) {
    totalCount
    pageInfo { offset limit }
    results { id name studioType city state openingDate }
  }
}
"""

STUDIOS_WITH_RELATIONS_QUERY = """
query StudiosWithRelations {
  studios(pagination: {limit: 10}) {
    results {
      name
      monthlyMetrics(lastMonths: 3) { monthYear totalRevenue retentionRate }
      classTypes { className classPrice }
      cohorts { joinMonth cohortSize }
    }
  }
}
"""

STUDIO_QUERY = """
query Studio($id: ID!, $lastMonths: Int) {
  studio(id: $id) {
    id
    name
    studioType
    monthlyMetrics(lastMonths: $lastMonths) { monthYear totalRevenue }
    classTypes { className }
    cohorts { joinMonth }
  }
}
"""

STUDIO_BASELINE_QUERY = """
query StudioBaseline($studioId: ID!) {
  studioBaseline(studioId: $studioId) {
    baselinePeriod { startMonth endMonth }
    currentMetrics {
      retentionRate avgTicketPrice classAttendanceRate totalMembers monthlyRevenue
    }
    historicalTrends {
      revenueGrowth12m
      retentionTrend
      seasonalityPattern { month revenueIndex }
    }
    industryBenchmarks {
      peerCount retentionRatePercentile avgTicketPercentile attendancePercentile
    }
  }
}
"""


def month(index: int, start: dt.date = dt.date(2022, 1, 1)) -> dt.date:
    total = start.year * 12 + start.month - 1 + index
    return dt.date(total // 12, total % 12 + 1, 1)


def history(studio, months: int, **values_per_month):
    """``months`` rows from Jan 2022; each keyword maps month index -> value."""
    return [
        MonthlyMetricFactory(
            studio=studio,
            month_year=month(i),
            **{name: value(i) for name, value in values_per_month.items()},
        )
        for i in range(months)
    ]


# --- studios ---------------------------------------------------------------------


@covers("allowed", "studios")
@covers("denied", "studios")
def test_studios_lists_only_the_callers_studios(gql, owner, other_studio):
    # when
    body = gql(owner).execute(STUDIOS_QUERY)

    # then
    studios = body["data"]["studios"]
    assert studios["totalCount"] == 1
    assert [s["id"] for s in studios["results"]] == [str(owner.studio.pk)]


def test_staff_see_every_studio(gql, staff, owner, other_studio):
    body = gql(staff).execute(STUDIOS_QUERY)

    assert body["data"]["studios"]["totalCount"] == 2


def test_studios_filter_by_type_city_state_and_name(gql, staff):
    # given
    StudioFactory(name="Lotus Flow", studio_type=StudioType.YOGA, city="Austin")
    StudioFactory(name="Iron Box", studio_type=StudioType.CROSSFIT, city="Austin")
    StudioFactory(
        name="Flow State", studio_type=StudioType.YOGA, city="Denver", state="CO"
    )
    client = gql(staff)

    def names(filters):
        body = client.execute(STUDIOS_QUERY, {"filters": filters})
        return [s["name"] for s in body["data"]["studios"]["results"]]

    # then
    assert names({"studioType": "YOGA"}) == ["Flow State", "Lotus Flow"]
    assert names({"city": "austin"}) == ["Iron Box", "Lotus Flow"]
    assert names({"state": "co"}) == ["Flow State"]
    assert names({"nameContains": "FLOW"}) == ["Flow State", "Lotus Flow"]
    assert names({"studioType": "YOGA", "city": "Austin"}) == ["Lotus Flow"]


def test_studios_order_by_name_or_opening_date(gql, staff):
    # given
    StudioFactory(name="B", opening_date=dt.date(2015, 1, 1))
    StudioFactory(name="A", opening_date=dt.date(2020, 1, 1))
    StudioFactory(name="C", opening_date=dt.date(2018, 1, 1))
    client = gql(staff)

    def names(ordering):
        body = client.execute(STUDIOS_QUERY, {"ordering": ordering})
        return [s["name"] for s in body["data"]["studios"]["results"]]

    # then
    assert names([]) == ["A", "B", "C"]
    assert names([{"name": "DESC"}]) == ["C", "B", "A"]
    assert names([{"openingDate": "ASC"}]) == ["B", "C", "A"]


def test_studios_come_a_page_at_a_time_with_the_total(gql, staff):
    # given
    for name in "ABCDE":
        StudioFactory(name=name)

    # when
    body = gql(staff).execute(STUDIOS_QUERY, {"pagination": {"offset": 1, "limit": 2}})

    # then
    studios = body["data"]["studios"]
    assert studios["totalCount"] == 5
    assert studios["pageInfo"] == {"offset": 1, "limit": 2}
    assert [s["name"] for s in studios["results"]] == ["B", "C"]


def test_studios_page_size_defaults_to_100(gql, staff):
    body = gql(staff).execute(STUDIOS_QUERY)

    assert body["data"]["studios"]["pageInfo"] == {"offset": 0, "limit": 100}


@covers("bad input", "studios")
@pytest.mark.parametrize(
    ("pagination", "field", "reason"),
    [
        ({"limit": 101}, "pagination.limit", "must be between 1 and 100"),
        ({"limit": 0}, "pagination.limit", "must be between 1 and 100"),
        ({"offset": -1}, "pagination.offset", "must not be negative"),
    ],
)
def test_studios_refuses_pages_out_of_bounds(gql, owner, pagination, field, reason):
    # when
    body = gql(owner).execute(STUDIOS_QUERY, {"pagination": pagination})

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": field,
        "reason": reason,
    }
    assert error["message"] == f"{field}: {reason}"


def test_studios_refuses_an_unknown_studio_type_visibly(gql, owner):
    body = gql(owner).execute(STUDIOS_QUERY, {"filters": {"studioType": "ZUMBA"}})

    [error] = body["errors"]
    assert "ZUMBA" in error["message"]
    assert "StudioType" in error["message"]


def _user_with_studios(count: int):
    user = UserFactory()
    for _ in range(count):
        studio = StudioMembershipFactory(user=user).studio
        history(studio, 6)
        ClassTypeFactory.create_batch(2, studio=studio)
        MemberCohortFactory.create_batch(2, studio=studio)
    return user


def test_studios_with_relations_cost_the_same_queries_for_1_or_10_studios(gql):
    # given
    one, ten = _user_with_studios(1), _user_with_studios(10)
    clients = gql(one), gql(ten)

    # when
    counts, bodies = [], []
    for client in clients:
        with CaptureQueriesContext(connection) as queries:
            bodies.append(client.execute(STUDIOS_WITH_RELATIONS_QUERY))
        counts.append(len(queries))

    # then
    assert counts[0] == counts[1]
    results = bodies[1]["data"]["studios"]["results"]
    assert len(results) == 10
    assert all(len(s["monthlyMetrics"]) == 3 for s in results)
    assert all(len(s["classTypes"]) == 2 and len(s["cohorts"]) == 2 for s in results)


# --- studio ------------------------------------------------------------------------


@covers("allowed", "studio")
def test_studio_answers_with_its_relations(gql, owner):
    # given
    history(owner.studio, 3)
    ClassTypeFactory(studio=owner.studio, class_name="Yin")
    MemberCohortFactory(studio=owner.studio, join_month=dt.date(2022, 1, 1))

    # when
    body = gql(owner).execute(STUDIO_QUERY, {"id": str(owner.studio.pk)})

    # then
    studio = body["data"]["studio"]
    assert studio["name"] == owner.studio.name
    assert studio["studioType"] == "YOGA"
    assert [m["monthYear"] for m in studio["monthlyMetrics"]] == [
        "2022-01-01",
        "2022-02-01",
        "2022-03-01",
    ]
    assert studio["classTypes"] == [{"className": "Yin"}]
    assert studio["cohorts"] == [{"joinMonth": "2022-01-01"}]


@covers("denied", "studio")
def test_studio_answers_another_studio_like_a_missing_one(gql, owner, other_studio):
    # given
    client = gql(owner)
    missing = uuid.uuid4()

    # when
    hidden = client.execute(STUDIO_QUERY, {"id": str(other_studio.pk)})
    absent = client.execute(STUDIO_QUERY, {"id": str(missing)})

    # then
    assert hidden["data"] is None and absent["data"] is None
    assert error_codes(hidden) == error_codes(absent) == ["NOT_FOUND"]
    assert hidden["errors"][0]["message"] == f"No studio {other_studio.pk}."
    assert absent["errors"][0]["message"] == f"No studio {missing}."


@covers("bad input", "studio")
def test_studio_refuses_a_malformed_id(gql, owner):
    body = gql(owner).execute(STUDIO_QUERY, {"id": "42"})

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "id",
        "reason": "is not a studio id (a UUID)",
    }


def test_monthly_metrics_keep_the_latest_months_in_calendar_order(gql, owner):
    # given
    history(owner.studio, 14)

    # when
    body = gql(owner).execute(
        STUDIO_QUERY, {"id": str(owner.studio.pk), "lastMonths": 3}
    )

    # then
    months = [m["monthYear"] for m in body["data"]["studio"]["monthlyMetrics"]]
    assert months == ["2022-12-01", "2023-01-01", "2023-02-01"]


def test_monthly_metrics_refuse_fewer_than_one_month(gql, owner):
    body = gql(owner).execute(
        STUDIO_QUERY, {"id": str(owner.studio.pk), "lastMonths": 0}
    )

    [error] = body["errors"]
    assert error["extensions"]["field"] == "lastMonths"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


# --- studioBaseline ------------------------------------------------------------


@covers("allowed", "studioBaseline")
def test_studio_baseline_describes_the_last_12_months(gql, owner):
    # given: 24 months, revenue +10% a year, the latest month distinct
    history(
        owner.studio,
        24,
        total_revenue=lambda i: Decimal(10000 + 1000 * (i >= 12)),
        retention_rate=lambda i: 0.90,
    )
    latest = owner.studio.monthly_metrics.get(month_year=month(23))
    latest.avg_ticket_price = Decimal("160.00")
    latest.class_attendance_rate = 0.75
    latest.total_members = 321
    latest.save()

    # when
    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": str(owner.studio.pk)})

    # then
    baseline = body["data"]["studioBaseline"]
    assert baseline["baselinePeriod"] == {
        "startMonth": "2023-01-01",
        "endMonth": "2023-12-01",
    }
    assert baseline["currentMetrics"] == {
        "retentionRate": 0.9,
        "avgTicketPrice": 160.0,
        "classAttendanceRate": 0.75,
        "totalMembers": 321,
        "monthlyRevenue": 11000.0,
    }
    trends = baseline["historicalTrends"]
    assert trends["revenueGrowth12m"] == pytest.approx(0.1)
    assert trends["retentionTrend"] == "STABLE"
    assert [s["month"] for s in trends["seasonalityPattern"]] == list(range(1, 13))
    assert baseline["industryBenchmarks"] == {
        "peerCount": 0,
        "retentionRatePercentile": None,
        "avgTicketPercentile": None,
        "attendancePercentile": None,
    }


@covers("denied", "studioBaseline")
def test_studio_baseline_of_another_studio_is_not_found(gql, owner, other_studio):
    history(other_studio, 3)

    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": str(other_studio.pk)})

    assert body["data"] is None
    assert error_codes(body) == ["NOT_FOUND"]


@covers("bad input", "studioBaseline")
def test_studio_baseline_refuses_a_malformed_id(gql, owner):
    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": "my-studio"})

    assert body["errors"][0]["extensions"]["field"] == "studioId"


def test_studio_baseline_of_a_studio_without_data_says_so(gql, owner):
    body = gql(owner).execute(STUDIO_BASELINE_QUERY, {"studioId": str(owner.studio.pk)})

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "studioId",
        "reason": "the studio has no monthly data yet",
    }


# --- the baseline's rules (selector) -------------------------------------------


@pytest.mark.parametrize(
    ("retention", "trend"),
    [
        (lambda i: 0.85 + 0.005 * (i - 12), RetentionTrend.IMPROVING),
        (lambda i: 0.90 - 0.005 * (i - 12), RetentionTrend.DECLINING),
        (lambda i: 0.90 + 0.003 * (-1) ** i, RetentionTrend.STABLE),
    ],
    ids=["rising", "falling", "noisy-flat"],
)
def test_retention_trend_follows_the_fitted_line_over_the_period(retention, trend):
    studio = StudioFactory()
    history(studio, 24, retention_rate=retention)

    assert studio_baseline(studio=studio).retention_trend == trend


def test_retention_trend_ignores_outlier_months():
    # given: a flat year with a pandemic slump in its last two months
    studio = StudioFactory()
    rows = history(studio, 12, retention_rate=lambda i: 0.9)
    for row in rows[-2:]:
        row.retention_rate, row.is_outlier, row.outlier_reason = 0.5, True, "pandemic"
        row.save()

    # then
    assert studio_baseline(studio=studio).retention_trend == RetentionTrend.STABLE


def test_revenue_growth_needs_the_same_month_a_year_earlier():
    studio = StudioFactory()
    history(studio, 12)

    assert studio_baseline(studio=studio).revenue_growth_12m is None


def test_seasonality_recovers_each_calendar_months_revenue_index():
    # given: a flat level times a known seasonal pattern averaging 1
    def season(calendar_month: int) -> float:
        return 1 + 0.2 * math.cos(2 * math.pi * (calendar_month - 1) / 12)

    studio = StudioFactory()
    history(
        studio,
        36,
        total_revenue=lambda i: Decimal(f"{10000 * season(month(i).month):.2f}"),
    )

    # when
    pattern = studio_baseline(studio=studio).seasonality

    # then
    assert [p.month for p in pattern] == list(range(1, 13))
    for point in pattern:
        assert point.revenue_index == pytest.approx(season(point.month), abs=1e-3)


def test_seasonality_is_unknown_with_less_than_13_months():
    studio = StudioFactory()
    history(studio, 12)

    assert all(
        p.revenue_index is None for p in studio_baseline(studio=studio).seasonality
    )


def test_benchmarks_rank_the_latest_month_among_same_type_studios_latest():
    # given: four yoga peers (latest retention .80 .85 .90 .95), one CrossFit
    studio = StudioFactory(studio_type=StudioType.YOGA)
    history(studio, 2, retention_rate=lambda i: 0.90)
    for retention in (0.80, 0.85, 0.90, 0.95):
        peer = StudioFactory(studio_type=StudioType.YOGA)
        history(peer, 2, retention_rate=lambda i, r=retention: 0.99 if i == 0 else r)
    history(
        StudioFactory(studio_type=StudioType.CROSSFIT), 2, retention_rate=lambda i: 1.0
    )

    # when
    benchmarks = studio_baseline(studio=studio).benchmarks

    # then: two below, one tie counted half, of four
    assert benchmarks.peer_count == 4
    assert benchmarks.retention_rate_percentile == 62.5
    assert benchmarks.avg_ticket_percentile == 50.0


def test_a_ticket_ranks_only_among_tickets_in_the_same_currency():
    # given: a yoga studio at $150, two dollar peers ($100, $200) and one priced
    # in yen (22,500), which is not a dearer ticket but another unit
    studio = StudioFactory(studio_type=StudioType.YOGA)
    history(studio, 2, avg_ticket_price=lambda i: 150)
    for price, currency in ((100, "USD"), (200, "USD"), (22500, "JPY")):
        peer = StudioFactory(studio_type=StudioType.YOGA, currency=currency)
        history(peer, 2, avg_ticket_price=lambda i, p=price: p)

    # when
    benchmarks = studio_baseline(studio=studio).benchmarks

    # then: every peer counts for the rates, only the dollar ones for the ticket
    assert benchmarks.peer_count == 3
    assert benchmarks.avg_ticket_percentile == 50.0
    assert benchmarks.retention_rate_percentile is not None
