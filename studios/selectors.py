"""Reads of studios and everything hanging off a studio, restricted by tenancy.

Every query that returns studio data goes through :func:`restrict_to_user`: a user
sees the studios they hold a membership of; staff and superusers see all;
anonymous or inactive users see nothing.
"""

import functools
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, TypeVar
from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import (
    Count,
    F,
    Model,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import ExtractMonth, ExtractYear, RowNumber

from studios.models import (
    ClassType,
    MemberCohort,
    MonthlyMetric,
    Studio,
    StudioMembership,
    StudioRole,
)
from studiosim import rows
from studiosim.cache import cached_json, prediction_cache_key
from studiosim.errors import InvalidInput

M = TypeVar("M", bound=Model)
User = AbstractBaseUser | AnonymousUser


def user_sees_all_studios(user: User | None) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_staff or user.is_superuser)
    )


class Visibility(Enum):
    """Which studios a user may see: the tenancy rule, decided here only."""

    NONE = "none"  # anonymous or inactive
    ALL = "all"  # active staff and superusers
    MEMBERSHIPS = "memberships"  # the studios the user holds a membership of


def studio_visibility(user: User | None) -> Visibility:
    if user is None or not user.is_authenticated or not user.is_active:
        return Visibility.NONE
    if user_sees_all_studios(user):
        return Visibility.ALL
    return Visibility.MEMBERSHIPS


def restrict_to_user(
    queryset: QuerySet[M], *, user: User | None, studio_path: str = "studio"
) -> QuerySet[M]:
    """Restrict ``queryset`` to rows whose studio the user may see.

    ``studio_path`` is the lookup from the queryset's model to its studio
    (``""`` for the Studio model itself).
    """
    visibility = studio_visibility(user)
    if visibility is Visibility.NONE:
        return queryset.none()
    if visibility is Visibility.ALL:
        return queryset
    prefix = f"{studio_path}__" if studio_path else ""
    return queryset.filter(**{f"{prefix}memberships__user": user}).distinct()


def studio_list(*, user: User | None) -> QuerySet[Studio]:
    return restrict_to_user(Studio.objects.all(), user=user, studio_path="")


def studio_get(
    *, user: User | None, studio_id: UUID | str, using: str = DEFAULT_DB_ALIAS
) -> Studio:
    """The studio with ``studio_id`` if the user may see it (:func:`studio_list`'s
    rule), read fresh: its ``data_version`` keys cached answers.

    Raises ``Studio.DoesNotExist`` both when it does not exist and when the user
    may not see it, so callers cannot tell the two apart. Every served
    prediction makes this lookup, so its SQL is written once (see
    :mod:`studiosim.rows`).
    """
    visibility = studio_visibility(user)
    connection = connections[using]
    try:
        pk = rows.db_value(Studio, "pk", studio_id, connection)
    except (ValueError, TypeError, ValidationError):
        pk = None  # a malformed id is answered like an unknown one
    row = None
    if pk is not None and visibility is not Visibility.NONE:
        params = [pk] if visibility is Visibility.ALL else [pk, user.pk]
        row = rows.fetch_one(_studio_sql(using, visibility), params, connection)
    if row is None:
        raise Studio.DoesNotExist(f"No studio {studio_id}.")
    return rows.instance(Studio, row, connection)


@functools.cache
def _studio_sql(using: str, visibility: Visibility) -> str:
    connection = connections[using]
    sql = (
        f"SELECT {rows.columns(Studio, connection, 's')} "
        f"FROM {rows.table(Studio, connection)} s "
        f"WHERE {rows.column(Studio, 'pk', connection, 's')} = %s"
    )
    if visibility is Visibility.MEMBERSHIPS:
        sql += (
            f" AND EXISTS (SELECT 1 FROM {rows.table(StudioMembership, connection)} m"
            f" WHERE {rows.column(StudioMembership, 'studio', connection, 'm')} = "
            f"{rows.column(Studio, 'pk', connection, 's')}"
            f" AND {rows.column(StudioMembership, 'user', connection, 'm')} = %s)"
        )
    return sql


def user_can_edit_studio(*, user: User | None, studio: Studio) -> bool:
    """Owners and managers change a studio's data; viewers only read it."""
    if user_sees_all_studios(user):
        return True
    if user is None or not user.is_authenticated:
        return False
    return StudioMembership.objects.filter(
        user=user,
        studio=studio,
        role__in=[StudioRole.OWNER, StudioRole.MANAGER],
    ).exists()


def metric_list(
    *, user: User | None, studio: Studio | None = None
) -> QuerySet[MonthlyMetric]:
    qs = restrict_to_user(MonthlyMetric.objects.all(), user=user)
    return qs.filter(studio=studio) if studio is not None else qs


def class_type_list(
    *, user: User | None, studio: Studio | None = None
) -> QuerySet[ClassType]:
    qs = restrict_to_user(ClassType.objects.all(), user=user)
    return qs.filter(studio=studio) if studio is not None else qs


def cohort_list(
    *, user: User | None, studio: Studio | None = None
) -> QuerySet[MemberCohort]:
    qs = restrict_to_user(MemberCohort.objects.all(), user=user)
    return qs.filter(studio=studio) if studio is not None else qs


def metric_latest_months(
    queryset: QuerySet[MonthlyMetric], *, months: int
) -> QuerySet[MonthlyMetric]:
    """Keep each studio's latest ``months`` rows of ``queryset``.

    A window function ranks every studio's months from the latest, so one query
    serves any number of studios (a prefetch for a whole page of them).
    """
    recency = Window(
        RowNumber(), partition_by=F("studio_id"), order_by=F("month_year").desc()
    )
    return queryset.alias(recency=recency).filter(recency__lte=months)


def studios_with_latest_figures(queryset: QuerySet[Studio]) -> QuerySet[Studio]:
    """``queryset`` annotated with each studio's latest month and its figures.

    Adds ``latest_month``, ``latest_revenue``, ``latest_members``,
    ``latest_retention`` and ``year_ago_revenue`` (the same calendar month a year
    before the latest, null when that month is missing), each a correlated
    subquery, so a page of studios costs one query however long it is.
    """
    latest = MonthlyMetric.objects.filter(studio=OuterRef("pk")).order_by("-month_year")
    year_ago = MonthlyMetric.objects.filter(
        studio=OuterRef("pk"),
        month_year__year=ExtractYear(OuterRef("latest_month")) - 1,
        month_year__month=ExtractMonth(OuterRef("latest_month")),
    )
    return queryset.annotate(
        latest_month=Subquery(latest.values("month_year")[:1]),
        latest_revenue=Subquery(latest.values("total_revenue")[:1]),
        latest_members=Subquery(latest.values("total_members")[:1]),
        latest_retention=Subquery(latest.values("retention_rate")[:1]),
    ).annotate(year_ago_revenue=Subquery(year_ago.values("total_revenue")[:1]))


# --- studio baseline (SPEC §9, Appendix A) ----------------------------------------

BASELINE_MONTHS = 12
# A fitted change in retention smaller than one percentage point over the
# baseline period is within the month-to-month noise of a typical studio.
RETENTION_TREND_THRESHOLD = 0.01
MIN_TREND_MONTHS = 3


class RetentionTrend(StrEnum):
    IMPROVING = "improving"
    STABLE = "stable"
    DECLINING = "declining"


class BaselineUnavailable(Exception):
    """The studio has no monthly data to describe."""


@dataclass(frozen=True)
class BaselineMetrics:
    """The studio's latest month."""

    retention_rate: float | None
    avg_ticket_price: Decimal
    class_attendance_rate: float | None
    total_members: int
    monthly_revenue: Decimal


@dataclass(frozen=True)
class SeasonalityIndex:
    """Revenue in calendar ``month`` (1-12) relative to the studio's trend (1 = par)."""

    month: int
    revenue_index: float | None


@dataclass(frozen=True)
class PeerBenchmarks:
    """Percentile ranks (0-100) of the latest month among same-type studios'."""

    peer_count: int
    retention_rate_percentile: float | None
    avg_ticket_percentile: float | None
    attendance_percentile: float | None


@dataclass(frozen=True)
class StudioBaseline:
    start_month: date
    end_month: date
    current: BaselineMetrics
    revenue_growth_12m: float | None
    retention_trend: RetentionTrend
    seasonality: tuple[SeasonalityIndex, ...]
    benchmarks: PeerBenchmarks


def studio_baseline(*, studio: Studio) -> StudioBaseline:
    """Where ``studio`` stands: its last 12 months against its history and peers.

    ``studio`` is one the caller may see (from :func:`studio_get`); other studios'
    figures enter only as percentile ranks.

    - The period is the 12 calendar months ending with the latest month of data.
    - ``revenue_growth_12m``: the latest month's revenue against the same month a
      year earlier (``None`` without that month or with no revenue in it).
    - ``retention_trend``: the least-squares line through the period's retention
      rates (outlier months left out) rises or falls by at least
      :data:`RETENTION_TREND_THRESHOLD` across the period: improving or
      declining; otherwise, or with fewer than three usable months, stable.
    - ``seasonality``: per calendar month, the mean ratio of revenue to its
      centred 12-month moving average over the whole history (months whose
      window holds a gap or an outlier left out), scaled to average 1; ``None``
      for months with no such ratio (histories under 13 months have none).
    - ``benchmarks``: percentile ranks of the latest month's retention, ticket
      and attendance among the other studios of the same type, each at its own
      latest month (ties count half).

    Cached under the studio's data version and the data versions of its peers,
    so new data anywhere in the comparison gives a fresh answer. Raises
    :class:`BaselineUnavailable` when the studio has no monthly data.
    """
    peers = Studio.objects.filter(studio_type=studio.studio_type).aggregate(
        count=Count("pk"), data_versions=Sum("data_version")
    )
    key = prediction_cache_key(
        "studio_baseline",
        studio=studio,
        model_version=None,
        payload={"peers": [peers["count"], peers["data_versions"]]},
    )
    value, _hit = cached_json(
        key, lambda: _baseline_to_json(_studio_baseline_compute(studio))
    )
    return _baseline_from_json(value)


def _studio_baseline_compute(studio: Studio) -> StudioBaseline:
    history = list(
        MonthlyMetric.objects.filter(studio=studio)
        .order_by("month_year")
        .only(
            "month_year",
            "total_members",
            "retention_rate",
            "avg_ticket_price",
            "class_attendance_rate",
            "total_revenue",
            "is_outlier",
        )
    )
    if not history:
        raise BaselineUnavailable("the studio has no monthly data yet")
    latest = history[-1]
    start = _add_months(latest.month_year, 1 - BASELINE_MONTHS)
    period = [m for m in history if m.month_year >= start]
    by_month = {m.month_year: m for m in history}
    year_before = by_month.get(_add_months(latest.month_year, -12))
    growth = (
        float(latest.total_revenue / year_before.total_revenue - 1)
        if year_before is not None and year_before.total_revenue > 0
        else None
    )
    return StudioBaseline(
        start_month=period[0].month_year,
        end_month=latest.month_year,
        current=BaselineMetrics(
            retention_rate=latest.retention_rate,
            avg_ticket_price=latest.avg_ticket_price,
            class_attendance_rate=latest.class_attendance_rate,
            total_members=latest.total_members,
            monthly_revenue=latest.total_revenue,
        ),
        revenue_growth_12m=growth,
        retention_trend=_retention_trend(period),
        seasonality=_seasonality(by_month),
        benchmarks=_peer_benchmarks(studio, latest),
    )


def _add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _retention_trend(period: list[MonthlyMetric]) -> RetentionTrend:
    points = [
        (_months_between(period[0].month_year, m.month_year), m.retention_rate)
        for m in period
        if m.retention_rate is not None and not m.is_outlier
    ]
    if len(points) < MIN_TREND_MONTHS:
        return RetentionTrend.STABLE
    xs, ys = zip(*points, strict=True)
    change = statistics.linear_regression(xs, ys).slope * (xs[-1] - xs[0])
    if change >= RETENTION_TREND_THRESHOLD:
        return RetentionTrend.IMPROVING
    if change <= -RETENTION_TREND_THRESHOLD:
        return RetentionTrend.DECLINING
    return RetentionTrend.STABLE


def _seasonality(by_month: dict[date, MonthlyMetric]) -> tuple[SeasonalityIndex, ...]:
    ratios: dict[int, list[float]] = defaultdict(list)
    for month in by_month:
        window = [by_month.get(_add_months(month, k)) for k in range(-6, 7)]
        if any(m is None or m.is_outlier for m in window):
            continue
        revenues = [float(m.total_revenue) for m in window]
        # The centred 2x12 moving average: half weight on the two ends.
        trend = (sum(revenues[1:-1]) + (revenues[0] + revenues[-1]) / 2) / 12
        if trend > 0:
            ratios[month.month].append(revenues[6] / trend)
    means = {m: statistics.fmean(r) for m, r in ratios.items()}
    scale = statistics.fmean(means.values()) if means else 1.0
    return tuple(
        SeasonalityIndex(
            month=m,
            revenue_index=round(means[m] / scale, 4) if m in means else None,
        )
        for m in range(1, 13)
    )


def _peer_benchmarks(studio: Studio, latest: MonthlyMetric) -> PeerBenchmarks:
    # Each peer's latest row found per peer studio (one probe of the (studio,
    # -month_year) index each), not per monthly row of every peer: a correlated
    # subquery on every row of the type cost 38 ms at 500 studios
    # (bench/indexes.py) and grew with every month of every peer.
    latest_row = (
        MonthlyMetric.objects.filter(studio=OuterRef("pk"))
        .order_by("-month_year")
        .values("pk")[:1]
    )
    peer_rows = (
        Studio.objects.filter(studio_type=studio.studio_type)
        .exclude(pk=studio.pk)
        .annotate(latest_row=Subquery(latest_row))
        .values("latest_row")
    )
    peers = list(
        MonthlyMetric.objects.filter(pk__in=peer_rows).values_list(
            "retention_rate",
            "avg_ticket_price",
            "class_attendance_rate",
            "studio__currency",
        )
    )
    retention, _, attendance, _ = zip(*peers, strict=True) if peers else ((),) * 4
    # A ticket ranks among tickets in the same currency only.
    ticket = [price for _, price, _, cur in peers if cur == studio.currency]
    return PeerBenchmarks(
        peer_count=len(peers),
        retention_rate_percentile=_percentile_rank(latest.retention_rate, retention),
        avg_ticket_percentile=_percentile_rank(latest.avg_ticket_price, ticket),
        attendance_percentile=_percentile_rank(
            latest.class_attendance_rate, attendance
        ),
    )


def _percentile_rank(
    value: float | Decimal | None, others: Iterable[float | Decimal | None]
) -> float | None:
    others = [o for o in others if o is not None]
    if value is None or not others:
        return None
    below = sum(o < value for o in others)
    equal = sum(o == value for o in others)
    return round(100 * (below + equal / 2) / len(others), 1)


def _baseline_to_json(baseline: StudioBaseline) -> dict[str, Any]:
    data = asdict(baseline)
    for name in ("start_month", "end_month"):
        data[name] = data[name].isoformat()
    for name in ("avg_ticket_price", "monthly_revenue"):
        data["current"][name] = str(data["current"][name])
    return data


def _baseline_from_json(data: dict[str, Any]) -> StudioBaseline:
    current = data["current"]
    return StudioBaseline(
        start_month=date.fromisoformat(data["start_month"]),
        end_month=date.fromisoformat(data["end_month"]),
        current=BaselineMetrics(
            **{
                **current,
                "avg_ticket_price": Decimal(current["avg_ticket_price"]),
                "monthly_revenue": Decimal(current["monthly_revenue"]),
            }
        ),
        revenue_growth_12m=data["revenue_growth_12m"],
        retention_trend=RetentionTrend(data["retention_trend"]),
        seasonality=tuple(SeasonalityIndex(**s) for s in data["seasonality"]),
        benchmarks=PeerBenchmarks(**data["benchmarks"]),
    )


def metric_latest_month(*, studio: Studio) -> date:
    """The studio's latest month of data: the default base month of a prediction.

    Raises InvalidInput (on ``studio_id``) when the studio has no data yet.
    """
    latest = (
        studio.monthly_metrics.order_by("-month_year")
        .values_list("month_year", flat=True)
        .first()
    )
    if latest is None:
        raise InvalidInput(f"{studio.name} has no monthly data yet", field="studio_id")
    return latest
