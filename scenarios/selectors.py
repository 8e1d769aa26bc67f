"""Reads of saved scenarios, restricted by tenancy, and their side-by-side comparison.

A scenario stores what the forecasting services computed (SPEC §7): a forward
scenario the forecast itself, an inverse one the optimizer's answer plus the
forecast of its recommended levers. :func:`scenario_projection` reads both the
same way, so comparison, insights and the share page never look at the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Generic, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest
from django.urls import reverse

from forecasting.ml.frame import LEVERS
from scenarios.models import Scenario, ScenarioType
from studios.models import Studio
from studios.selectors import User, restrict_to_user, studio_get
from studiosim.errors import InvalidInput, NotFound

__all__ = [
    "MAX_COMPARED",
    "MAX_PAGE_SIZE",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "ComparedScenario",
    "ComparisonMonth",
    "Difference",
    "LeverComparison",
    "MonthFigures",
    "Page",
    "ProjectedMonth",
    "ScenarioComparison",
    "ScenarioProjection",
    "SavedAction",
    "ScenarioVerdict",
    "log_sigma",
    "probability_higher",
    "scenario_action_plan",
    "scenario_compare",
    "scenario_get",
    "scenario_list",
    "scenario_order",
    "scenario_projection",
    "scenario_queryset",
    "scenario_shareable_url",
    "scenarios_with_tags",
    "tags_normalise",
]

T = TypeVar("T")

MAX_PAGE_SIZE = 100
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_COMPARED = 10


# --- tags ---------------------------------------------------------------------------


def tags_normalise(tags: Iterable[str] | None, *, field: str = "tags") -> list[str]:
    """Trimmed, lower-case, without blanks or repeats, in first-seen order.

    Saving and filtering both go through here, so ``"Summer "`` finds ``summer``.
    Raises InvalidInput for a non-string, a tag over :data:`MAX_TAG_LENGTH`
    characters or more than :data:`MAX_TAGS` tags.
    """
    if tags is None:
        return []
    if isinstance(tags, str):
        raise InvalidInput(
            "tags must be a list of strings, not one string", field=field
        )
    clean: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidInput("every tag must be a string", field=field)
        tag = tag.strip().lower()
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(
                f"tag {tag[:MAX_TAG_LENGTH]!r}... is longer than "
                f"{MAX_TAG_LENGTH} characters",
                field=field,
            )
        if tag and tag not in clean:
            clean.append(tag)
    if len(clean) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags, not {len(clean)}", field=field)
    return clean


def scenarios_with_tags(
    queryset: QuerySet[Scenario], tags: Sequence[str]
) -> QuerySet[Scenario]:
    """Scenarios carrying every one of ``tags`` (already normalised).

    Where the database can test JSON containment (PostgreSQL), one
    ``tags @> '["a", "b"]'`` condition, which the GIN index of migration 0002
    serves. SQLite cannot; there each tag becomes an ``EXISTS`` over SQLite's
    ``json_each`` table function: an exact element match, checked row by row
    over the studio's scenarios (which the (studio, created_at) index narrows).
    """
    if not tags:
        return queryset
    if connections[queryset.db].features.supports_json_field_contains:
        return queryset.filter(tags__contains=list(tags))
    table = Scenario._meta.db_table
    for tag in tags:
        queryset = queryset.filter(
            RawSQL(
                f'EXISTS (SELECT 1 FROM json_each("{table}"."tags") '
                "WHERE json_each.value = %s)",
                (tag,),
                output_field=BooleanField(),
            )
        )
    return queryset


# --- reads --------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; ``page`` counts from 1."""

    items: list[T]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.page_size)


def scenario_queryset(*, user: User | None) -> QuerySet[Scenario]:
    """Every scenario of the studios the user may see."""
    return restrict_to_user(
        Scenario.objects.select_related("studio", "created_by"), user=user
    )


def scenario_list(
    *,
    user: User | None,
    studio_id: UUID | str,
    tags: Iterable[str] | None = None,
    scenario_type: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> Page[Scenario]:
    """A studio's scenarios, newest first, one page at a time.

    ``tags`` keeps scenarios carrying all of them; ``scenario_type`` one type.
    A page past the last one is empty. Raises NotFound for a studio the user
    may not see, InvalidInput for a bad filter or page.
    """
    try:
        studio = studio_get(user=user, studio_id=studio_id)
    except Studio.DoesNotExist:
        raise NotFound(f"No studio {studio_id}.", field="studio_id") from None
    if scenario_type is not None and scenario_type not in ScenarioType.values:
        raise InvalidInput(
            f"scenario type must be one of {', '.join(ScenarioType.values)}",
            field="scenario_type",
        )
    if page < 1:
        raise InvalidInput("page must be 1 or more", field="page")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"page size must be between 1 and {MAX_PAGE_SIZE}", field="page_size"
        )
    # The studio was checked above; filtering by it directly keeps the query on
    # the (studio, created_at) index without the membership join.
    queryset = Scenario.objects.filter(studio=studio).select_related(
        "studio", "created_by"
    )
    if scenario_type is not None:
        queryset = queryset.filter(scenario_type=scenario_type)
    queryset = scenarios_with_tags(queryset, tags_normalise(tags))
    start = (page - 1) * page_size
    return Page(
        items=list(queryset.order_by("-created_at", "-pk")[start : start + page_size]),
        total=queryset.count(),
        page=page,
        page_size=page_size,
    )


def scenario_get(*, user: User | None, scenario_id: UUID | str) -> Scenario:
    """The scenario if the user may see it; NotFound otherwise, missing or not."""
    try:
        return scenario_queryset(user=user).get(pk=scenario_id)
    except (ValueError, ValidationError, Scenario.DoesNotExist):
        raise NotFound(f"No scenario {scenario_id}.", field="scenario_id") from None


def scenario_order(
    *, user: User | None, scenario_ids: Sequence[UUID | str]
) -> list[str]:
    """``scenario_ids`` oldest saved first (the order a comparison reads best in:
    later ideas against the earlier plan). Ids that are not UUIDs, or that the
    user may not see, are NotFound like in :func:`scenario_get`."""
    ids = [str(i) for i in scenario_ids]
    try:
        found = {
            str(pk): created
            for pk, created in scenario_queryset(user=user)
            .filter(pk__in=ids)
            .values_list("pk", "created_at")
        }
    except (ValueError, ValidationError):
        raise NotFound("No such scenario.", field="scenario_ids") from None
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"No scenario {missing[0]}.", field="scenario_ids")
    return sorted(dict.fromkeys(ids), key=lambda i: (found[i], i))


def scenario_shareable_url(
    scenario: Scenario, *, request: HttpRequest | None = None
) -> str:
    """The scenario's stable address: ``<FRONTEND_BASE_URL>/scenarios/<id>/``.

    Without a frontend base URL it is the project's own read-only page, absolute
    when a request gives the host, else a path.
    """
    path = reverse("scenarios:detail", kwargs={"scenario_id": scenario.pk})
    base = settings.FRONTEND_BASE_URL.rstrip("/")
    if base:
        return f"{base}{path}"
    return request.build_absolute_uri(path) if request is not None else path


# --- one scenario's projection ------------------------------------------------------


@dataclass(frozen=True)
class ProjectedMonth:
    month: int
    month_year: date
    revenue: float
    member_count: float
    lower: float | None
    upper: float | None
    confidence_score: float


@dataclass(frozen=True)
class ScenarioProjection:
    """What a saved scenario forecasts, read the same way for both types.

    ``base_levers`` is where the plan starts (the base month's levers, or an
    inverse request's stated current levers), ``levers`` the plan itself.
    ``predicted_revenue`` is the headline figure: an inverse scenario's revenue
    measured like its target (month-N revenue or the total), a forward
    scenario's month-N revenue. Both lever dicts name every lever; a lever the
    studio has no data on is None.
    """

    coverage: float
    months: tuple[ProjectedMonth, ...]
    base_levers: dict[str, float | None]
    levers: dict[str, float | None]
    total_revenue: float
    predicted_revenue: float
    target_revenue: float | None
    model_version: str


def scenario_projection(scenario: Scenario) -> ScenarioProjection:
    outputs = scenario.predicted_outputs
    inverse = scenario.scenario_type == ScenarioType.INVERSE
    forecast = outputs["projection"] if inverse else outputs
    months = tuple(
        ProjectedMonth(
            month=p["month"],
            month_year=date.fromisoformat(p["month_year"]),
            revenue=p["revenue"],
            member_count=p["member_count"],
            lower=p["lower"],
            upper=p["upper"],
            confidence_score=p["confidence_score"],
        )
        for p in forecast["predictions"]
    )
    if inverse:
        base_levers = {c["lever"]: c["current"] for c in outputs["lever_changes"]}
        levers = dict(outputs["recommended_levers"])
        predicted, target = outputs["projected_revenue"], outputs["target_revenue"]
    else:
        base_levers, levers = dict(forecast["base_levers"]), dict(forecast["levers"])
        predicted, target = months[-1].revenue, None
    return ScenarioProjection(
        coverage=forecast["coverage"],
        months=months,
        base_levers={lever: base_levers.get(lever) for lever in LEVERS},
        levers={lever: levers.get(lever) for lever in LEVERS},
        total_revenue=forecast["total_projected_revenue"],
        predicted_revenue=predicted,
        target_revenue=target,
        model_version=forecast["model_version"],
    )


@dataclass(frozen=True)
class SavedAction:
    """A step of the action plan an inverse prediction returned, as saved."""

    priority: int
    lever: str
    action: str
    specifics: str
    expected_impact: float
    timeline_weeks: int
    cost: str


def scenario_action_plan(scenario: Scenario) -> list[SavedAction] | None:
    """The optimiser's action plan saved with an inverse scenario (the one the
    owner saw when it was planned), in priority order; None for a forward
    scenario, which has none."""
    if scenario.scenario_type != ScenarioType.INVERSE:
        return None
    plan = scenario.predicted_outputs.get("action_plan") or []
    return sorted(
        (
            SavedAction(
                priority=step["priority"],
                lever=step["lever"],
                action=step["action"],
                specifics=step.get("specifics", ""),
                expected_impact=step["expected_impact"],
                timeline_weeks=step["timeline_weeks"],
                cost=step["cost"],
            )
            for step in plan
        ),
        key=lambda step: step.priority,
    )


# --- uncertainty --------------------------------------------------------------------


def log_sigma(
    lower: float | None, upper: float | None, coverage: float
) -> float | None:
    """Standard deviation of log revenue implied by a forecast interval.

    The interval is read as a normal distribution on the log scale: its log
    half-width is ``z`` standard deviations, ``z`` the standard normal quantile
    at ``(1 + coverage) / 2``. ``None`` when the forecast has no interval.
    """
    if lower is None or upper is None or lower <= 0 or upper <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + coverage / 2)
    return (math.log(upper) - math.log(lower)) / (2 * z)


def probability_higher(
    revenue: float, sigma: float | None, other: float, other_sigma: float | None
) -> float:
    """P(actual revenue under ``revenue``'s plan > under ``other``'s).

    Both log-normal around their point forecasts, with independent errors: the
    variance of the log difference is the sum of the two. The errors of two
    plans for one studio and month are in truth largely shared, which shrinks
    that variance and moves the probability away from 1/2; for any non-negative
    correlation the answer here is therefore the cautious one. A forecast of no
    revenue (a studio that records none) is the log-normal's limit, certainly
    below any positive one and tied with another of none; a missing spread
    (no interval) counts as none.
    """
    if revenue <= 0 or other <= 0:
        return 0.5 if revenue <= 0 and other <= 0 else float(revenue > other)
    return _probability_positive(
        math.log(revenue) - math.log(other),
        math.hypot(sigma or 0.0, other_sigma or 0.0),
    )


def _probability_positive(mean: float, sd: float) -> float:
    """P(X > 0) for X normal; with no spread, certainty (or 1/2 on a tie)."""
    if sd == 0:
        return 0.5 if mean == 0 else float(mean > 0)
    return NormalDist().cdf(mean / sd)


# --- comparison ---------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """Against the baseline scenario; ``percent`` as a fraction (0.05 = 5%)."""

    absolute: float
    percent: float | None


@dataclass(frozen=True)
class ComparedScenario:
    scenario_id: str
    name: str
    scenario_type: str
    base_month: date
    projection_months: int
    coverage: float
    total_revenue: float
    predicted_revenue: float
    target_revenue: float | None


@dataclass(frozen=True)
class LeverComparison:
    """One lever's planned value per scenario and its difference from the baseline."""

    lever: str
    values: tuple[float | None, ...]
    differences: tuple[Difference | None, ...]


@dataclass(frozen=True)
class MonthFigures:
    revenue: float
    member_count: float
    lower: float | None
    upper: float | None
    revenue_difference: Difference | None
    member_difference: Difference | None
    #: P(revenue under this plan > under the baseline's) in this month.
    probability_above_baseline: float | None


@dataclass(frozen=True)
class ComparisonMonth:
    """A calendar month; ``figures`` per scenario, ``None`` where it has no forecast."""

    month_year: date
    figures: tuple[MonthFigures | None, ...]


@dataclass(frozen=True)
class ScenarioVerdict:
    """A scenario against the baseline over the months both forecast.

    ``higher_scenario_id`` is the one with more revenue over those months
    (``None`` on a tie or with no month in common), ``by`` the absolute gap.
    """

    scenario_id: str
    common_months: int
    revenue: float | None
    baseline_revenue: float | None
    difference: Difference | None
    higher_scenario_id: str | None
    by: float | None
    probability_above_baseline: float | None


@dataclass(frozen=True)
class ScenarioComparison:
    studio_id: str
    scenarios: tuple[ComparedScenario, ...]
    levers: tuple[LeverComparison, ...]
    months: tuple[ComparisonMonth, ...]
    verdicts: tuple[ScenarioVerdict, ...]


def scenario_compare(
    *, user: User | None, scenario_ids: Sequence[UUID | str]
) -> ScenarioComparison:
    """Two or more scenarios of one studio side by side; the first is the baseline.

    Months are aligned on the calendar, so scenarios from different base months
    meet where their projections overlap. Every difference is against the
    baseline. Per month, ``probability_above_baseline`` comes from
    :func:`probability_higher` on the two forecast intervals. Over the months in
    common, each scenario's total is taken as normal with standard deviation
    ``sum(revenue_m * sigma_m)`` (its months' errors fully correlated, the
    widest case) and the two totals as independent.

    Raises InvalidInput for fewer than two, more than :data:`MAX_COMPARED` or
    repeated ids, or scenarios of different studios; NotFound for one the user
    may not see.
    """
    ids = [str(i) for i in scenario_ids]
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise InvalidInput(
            f"compare between 2 and {MAX_COMPARED} scenarios", field="scenario_ids"
        )
    if len(set(ids)) != len(ids):
        raise InvalidInput("a scenario is listed twice", field="scenario_ids")
    scenarios = [scenario_get(user=user, scenario_id=i) for i in ids]
    if len({s.studio_id for s in scenarios}) > 1:
        raise InvalidInput(
            "only scenarios of one studio can be compared", field="scenario_ids"
        )
    projections = [scenario_projection(s) for s in scenarios]
    by_month = [{m.month_year: m for m in p.months} for p in projections]
    baseline, baseline_months = projections[0], by_month[0]

    months = []
    for month_year in sorted(set().union(*by_month)):
        base = baseline_months.get(month_year)
        figures = tuple(
            None
            if month_year not in months_of
            else _month_figures(
                months_of[month_year],
                projection.coverage,
                # The baseline is not compared with itself.
                base if i else None,
                baseline.coverage,
            )
            for i, (projection, months_of) in enumerate(
                zip(projections, by_month, strict=True)
            )
        )
        months.append(ComparisonMonth(month_year=month_year, figures=figures))

    return ScenarioComparison(
        studio_id=str(scenarios[0].studio_id),
        scenarios=tuple(
            ComparedScenario(
                scenario_id=str(s.pk),
                name=s.name,
                scenario_type=s.scenario_type,
                base_month=s.base_month,
                projection_months=s.projection_months,
                coverage=p.coverage,
                total_revenue=p.total_revenue,
                predicted_revenue=p.predicted_revenue,
                target_revenue=p.target_revenue,
            )
            for s, p in zip(scenarios, projections, strict=True)
        ),
        levers=tuple(
            LeverComparison(
                lever=lever,
                values=tuple(p.levers.get(lever) for p in projections),
                differences=tuple(
                    None
                    if i == 0
                    else _difference(p.levers.get(lever), baseline.levers.get(lever))
                    for i, p in enumerate(projections)
                ),
            )
            for lever in LEVERS
        ),
        months=tuple(months),
        verdicts=tuple(
            _verdict(str(s.pk), p, str(scenarios[0].pk), baseline)
            for s, p in zip(scenarios[1:], projections[1:], strict=True)
        ),
    )


def _difference(value: float | None, baseline: float | None) -> Difference | None:
    if value is None or baseline is None:
        return None
    absolute = value - baseline
    return Difference(
        absolute=round(absolute, 4),
        percent=round(absolute / baseline, 6) if baseline else None,
    )


def _month_figures(
    month: ProjectedMonth,
    coverage: float,
    baseline: ProjectedMonth | None,
    baseline_coverage: float,
) -> MonthFigures:
    probability = None
    if baseline is not None:
        sigma = log_sigma(month.lower, month.upper, coverage)
        baseline_sigma = log_sigma(baseline.lower, baseline.upper, baseline_coverage)
        if sigma is not None and baseline_sigma is not None:
            probability = probability_higher(
                month.revenue, sigma, baseline.revenue, baseline_sigma
            )
    return MonthFigures(
        revenue=month.revenue,
        member_count=month.member_count,
        lower=month.lower,
        upper=month.upper,
        revenue_difference=(
            _difference(month.revenue, baseline.revenue) if baseline else None
        ),
        member_difference=(
            _difference(month.member_count, baseline.member_count) if baseline else None
        ),
        probability_above_baseline=probability,
    )


def _total_and_sd(
    projection: ScenarioProjection, months: Sequence[date]
) -> tuple[float, float | None]:
    by_month = {m.month_year: m for m in projection.months}
    total = sum(by_month[m].revenue for m in months)
    sds = [
        log_sigma(by_month[m].lower, by_month[m].upper, projection.coverage)
        for m in months
    ]
    if any(sd is None for sd in sds):
        return total, None
    # A log-normal's standard deviation is about its median x sigma at the
    # widths seen here; months of one forecast move together, so they add up.
    return total, sum(
        by_month[m].revenue * sd for m, sd in zip(months, sds, strict=True)
    )


def _verdict(
    scenario_id: str,
    projection: ScenarioProjection,
    baseline_id: str,
    baseline: ScenarioProjection,
) -> ScenarioVerdict:
    common = sorted(
        {m.month_year for m in projection.months}
        & {m.month_year for m in baseline.months}
    )
    if not common:
        return ScenarioVerdict(
            scenario_id=scenario_id,
            common_months=0,
            revenue=None,
            baseline_revenue=None,
            difference=None,
            higher_scenario_id=None,
            by=None,
            probability_above_baseline=None,
        )
    total, sd = _total_and_sd(projection, common)
    baseline_total, baseline_sd = _total_and_sd(baseline, common)
    probability = (
        _probability_positive(total - baseline_total, math.hypot(sd, baseline_sd))
        if sd is not None and baseline_sd is not None
        else None
    )
    higher = (
        None
        if total == baseline_total
        else (scenario_id if total > baseline_total else baseline_id)
    )
    return ScenarioVerdict(
        scenario_id=scenario_id,
        common_months=len(common),
        revenue=round(total, 2),
        baseline_revenue=round(baseline_total, 2),
        difference=_difference(total, baseline_total),
        higher_scenario_id=higher,
        by=round(abs(total - baseline_total), 2),
        probability_above_baseline=probability,
    )
