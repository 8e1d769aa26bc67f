"""Action plans and insights (SPEC §6).

Action plans turn lever changes into ranked, sized tactics. Insights describe a
saved scenario: next best actions, risk factors and opportunities. Every revenue
figure in them comes from the active forward model, run from the scenario's
base month over its horizon and read at its last month ("month N"): the revenue
of one plan minus that of another, both forecast by the model.

What the probabilities mean:

- ``confidence`` of an action or opportunity: the probability that month-N
  revenue with the change is higher than without it, from the two forecasts'
  intervals (:func:`scenarios.selectors.probability_higher`: normal on the log
  scale, errors taken as independent, which understates it).
- ``probability`` of a risk: a seasonal dip's is the share of past years in
  which that calendar month fell below the studio's trend; a retention
  decline's is the probability that the underlying trend is downward (the
  least-squares slope's Student t distribution); an over-utilisation's is the
  probability that a month under the plan exceeds 90%, given the lever's own
  month-to-month spread over the last year.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from statistics import NormalDist
from typing import Any
from uuid import UUID

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from scipy import stats

from forecasting.ml.frame import LEVER_LABELS, LEVERS
from forecasting.ml.model import ForecastResult, StudioState
from forecasting.registry import ActiveModel, active_model
from forecasting.services import by_lever, lever_bounds, lever_scale, studio_state
from insights.llm import (
    ExtraTactic,
    LlmAdvice,
    LlmUnavailable,
    advice_request,
    llm_enabled,
)
from insights.selectors import (
    HistoryMonth,
    PeerLevers,
    peer_latest_levers,
    studio_history,
)
from optimization.actions import (
    format_lever_value,
)
from optimization.tactics import (
    RISK_MITIGATIONS,
    TACTICS_BY_LEVER,
    Tactic,
    tactics_for_change,
)
from scenarios.models import Scenario
from scenarios.selectors import (
    log_sigma,
    probability_higher,
    scenario_get,
    scenario_projection,
)
from studios.selectors import User
from studiosim.cache import cached_json, prediction_cache_key
from studiosim.errors import InvalidInput

logger = logging.getLogger(__name__)

#: Set in the cache, for OPENAI_COOLDOWN seconds, when the LLM has just failed.
LLM_COOLDOWN_KEY = "insights-llm-cooldown"
# --- insights ------------------------------------------------------------------------

#: A calendar month at least this far below the studio's trend is a seasonal dip.
SEASONAL_DIP = 0.03
#: Years of a calendar month it takes to call its dip a pattern.
MIN_SEASONAL_YEARS = 2
RETENTION_TREND_MONTHS = 6
MIN_TREND_POINTS = 4
#: Retention falling faster than this per month (0.1 points) is a risk.
RETENTION_DECLINE_PER_MONTH = 0.001
#: Staff or classes busier than this are over-utilised.
OVER_UTILISED = 0.9
#: Months whose spread tells how far a lever wanders from plan.
RECENT_MONTHS = 12
#: No studio fills every place every class; the spare-capacity target stops here.
REALISTIC_FILL_CAP = 0.85
MIN_FILL_GAP = 0.05
MIN_UPSELL_GAP = 0.01
MIN_PEERS = 3
PEER_PERCENTILE = 75


class InsightType(StrEnum):
    NEXT_BEST_ACTIONS = "next_best_actions"
    RISK_FACTORS = "risk_factors"
    OPPORTUNITIES = "opportunities"


class RiskKind(StrEnum):
    SEASONAL_DIP = "seasonal_dip"
    RETENTION_DECLINE = "retention_decline"
    STAFF_OVERUTILISATION = "staff_overutilisation"
    CAPACITY_LIMIT = "capacity_limit"


class OpportunityKind(StrEnum):
    SPARE_CAPACITY = "spare_capacity"
    UPSELL_HEADROOM = "upsell_headroom"


@dataclass(frozen=True)
class NextBestAction:
    """A tactic and what the model says its typical improvement alone is worth."""

    priority: int
    lever: str
    action: str
    impact: str
    expected_revenue_gain: float
    confidence: float
    timeline_weeks: int
    cost: str


@dataclass(frozen=True)
class RiskFactor:
    """``potential_revenue_impact`` is negative for a loss; ``month_year`` is set for dips."""

    kind: str
    risk: str
    month_year: date | None
    probability: float
    potential_revenue_impact: float
    mitigation: str


@dataclass(frozen=True)
class Opportunity:
    """``target_value`` is the lever level the gain assumes."""

    kind: str
    opportunity: str
    lever: str
    target_value: float
    potential_revenue_gain: float
    confidence: float
    actions: list[str]


@dataclass(frozen=True)
class Insights:
    """A scenario's insights; a list is ``None`` when its type was not asked for.

    ``generated_at`` is when the figures were computed (a cached answer keeps
    it); ``source`` is ``"rules"`` or the name of the LLM that added the tips,
    obstacles and extra tactics.
    """

    scenario_id: str
    model_version: str
    target_month: date
    generated_at: datetime
    source: str
    next_best_actions: list[NextBestAction] | None
    risk_factors: list[RiskFactor] | None
    opportunities: list[Opportunity] | None
    tips: list[str]
    obstacles: list[str]
    extra_tactics: list[ExtraTactic]


def insights_generate(
    *,
    user: User | None,
    scenario_id: UUID | str,
    insight_types: Iterable[str] | None = None,
    enhance: bool = True,
) -> Insights:
    """Next best actions, risk factors and opportunities of a scenario.

    ``insight_types`` picks among :class:`InsightType` (all when empty). Anyone
    who may see the scenario may ask. The rule-based answer is cached per
    scenario, model version and studio data version; with ``enhance`` and an
    ``OPENAI_API_KEY`` the LLM's advice is added (:mod:`insights.llm`) and
    cached alongside, only when it succeeded. A failed call (within the
    ``OPENAI_TIMEOUT`` budget: :mod:`insights.llm`) is retried once
    ``OPENAI_COOLDOWN`` seconds have passed; until then answers are the rules'.

    Raises NotFound for a scenario the user may not see, InvalidInput for an
    unknown insight type or a base month the model cannot forecast from,
    NoActiveModel without an active model.
    """
    types = _insight_types(insight_types)
    scenario = scenario_get(user=user, scenario_id=scenario_id)
    loaded = active_model()
    key = prediction_cache_key(
        "insights",
        studio=scenario.studio,
        model_version=loaded.version.version,
        payload={"scenario": str(scenario.pk)},
    )
    rules, _hit = cached_json(key, lambda: _rules_json(_context(scenario, loaded)))
    advice = _advice(scenario, loaded, rules) if enhance else None
    return Insights(
        scenario_id=str(scenario.pk),
        model_version=loaded.version.version,
        target_month=date.fromisoformat(rules["target_month"]),
        generated_at=datetime.fromisoformat(rules["generated_at"]),
        source=advice.model if advice else "rules",
        next_best_actions=(
            [NextBestAction(**a) for a in rules["next_best_actions"]]
            if InsightType.NEXT_BEST_ACTIONS in types
            else None
        ),
        risk_factors=(
            [_risk_from_json(r) for r in rules["risk_factors"]]
            if InsightType.RISK_FACTORS in types
            else None
        ),
        opportunities=(
            [Opportunity(**o) for o in rules["opportunities"]]
            if InsightType.OPPORTUNITIES in types
            else None
        ),
        tips=advice.tips if advice else [],
        obstacles=advice.obstacles if advice else [],
        extra_tactics=advice.extra_tactics if advice else [],
    )


def _risk_from_json(value: dict[str, Any]) -> RiskFactor:
    month = value["month_year"]
    return RiskFactor(
        **{**value, "month_year": date.fromisoformat(month) if month else None}
    )


def _insight_types(values: Iterable[str] | None) -> set[InsightType]:
    try:
        types = {InsightType(str(v).lower()) for v in values or ()}
    except ValueError:
        raise InvalidInput(
            f"insight types are {', '.join(InsightType)}", field="insight_types"
        ) from None
    return types or set(InsightType)


# --- the rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What the rules read about one scenario, gathered once."""

    scenario: Scenario
    loaded: ActiveModel
    state: StudioState
    horizon: int
    coverage: float
    base: np.ndarray
    plan: np.ndarray
    history: list[HistoryMonth]
    peers: list[PeerLevers]

    def forecast(self, plans: np.ndarray) -> ForecastResult:
        return self.loaded.model.predict(
            self.state, np.asarray(plans, dtype=float), self.horizon, self.coverage
        )

    def effects(
        self, reference: np.ndarray, plans: Sequence[np.ndarray]
    ) -> list[tuple[float, float]]:
        """Per plan: month-N revenue minus the reference plan's, and the
        probability that it is higher at all."""
        result = self.forecast(np.array([reference, *plans]))
        revenue = result.revenue[:, -1]
        sigma = [
            log_sigma(lower, upper, self.coverage)
            for lower, upper in zip(
                result.revenue_lower[:, -1], result.revenue_upper[:, -1], strict=True
            )
        ]
        return [
            (
                round(float(revenue[i] - revenue[0]), 2),
                round(
                    probability_higher(revenue[i], sigma[i], revenue[0], sigma[0]), 4
                ),
            )
            for i in range(1, len(revenue))
        ]

    def recent(self, lever: str) -> list[float]:
        """The lever's values over the last months of history, outliers left out."""
        return [
            value
            for m in self.history[-RECENT_MONTHS:]
            if not m.is_outlier and (value := getattr(m, lever)) is not None
        ]


def _context(scenario: Scenario, loaded: ActiveModel) -> _Context:
    projection = scenario_projection(scenario)
    studio = scenario.studio
    state = studio_state(
        model=loaded.model,
        version_id=loaded.version.pk,
        studio=studio,
        base_month=scenario.base_month,
    )

    def levers(values: Mapping[str, float | None]) -> np.ndarray:
        # A lever the studio has no data on has no value in the scenario; the
        # model holds it at its base value.
        given = np.array([values.get(k) for k in LEVERS], dtype=float)
        return np.where(np.isnan(given), state.levers, given)

    return _Context(
        scenario=scenario,
        loaded=loaded,
        state=state,
        horizon=scenario.projection_months,
        coverage=projection.coverage,
        base=levers(projection.base_levers),
        plan=levers(projection.levers),
        history=studio_history(studio=studio, until=scenario.base_month),
        peers=peer_latest_levers(studio=studio, until=scenario.base_month),
    )


def _rules_json(ctx: _Context) -> dict[str, Any]:
    forecast = ctx.forecast(ctx.plan[None, :])
    risks = sorted(
        [
            *_seasonal_dips(ctx, forecast),
            *_retention_decline(ctx, forecast),
            *_over_utilisation(ctx),
        ],
        key=lambda r: r.potential_revenue_impact,
    )
    opportunities = sorted(
        _opportunities(ctx), key=lambda o: o.potential_revenue_gain, reverse=True
    )
    value = {
        "target_month": forecast.months[-1].date(),
        "generated_at": timezone.now(),
        "next_best_actions": [asdict(a) for a in _next_best_actions(ctx)],
        "risk_factors": [asdict(r) for r in risks],
        "opportunities": [asdict(o) for o in opportunities],
    }
    # Dates become ISO strings, as the cache keeps them.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _with(levers: np.ndarray, lever: str, value: float) -> np.ndarray:
    """``levers`` with one lever set to ``value``, kept within its valid range
    for a studio at ``levers`` (forecasting.services.lever_bounds)."""
    low, high = lever_bounds(levers)[lever]
    moved = levers.copy()
    moved[LEVERS.index(lever)] = min(max(value, low), high)
    return moved


def _next_best_actions(ctx: _Context) -> list[NextBestAction]:
    """The tactics behind the scenario's lever increases, each worth its typical
    improvement applied alone to the plan's starting levers.

    A scenario that raises no lever (a status-quo forecast) gets the cheapest
    tactic of every lever instead. Tactics the model sees no gain from are left
    out; the rest are ranked by gain per unit of cost, then by how soon they work.
    """
    raised = [
        (lever, float(ctx.plan[i] - ctx.base[i]))
        for i, lever in enumerate(LEVERS)
        if ctx.plan[i] > ctx.base[i]
    ]
    base = by_lever(ctx.base)
    if raised:
        tactics = [
            t
            for lever, change in raised
            for t in tactics_for_change(lever, change, base[lever])
        ]
    else:
        tactics = [
            min(
                TACTICS_BY_LEVER[lever],
                key=lambda t: (t.cost_estimate, t.timeline_weeks),
            )
            for lever in LEVERS
        ]
    moved = [
        _with(
            ctx.base,
            t.lever,
            base[t.lever]
            + t.expected_improvement * lever_scale(t.lever, base[t.lever]),
        )
        for t in tactics
    ]
    drafts = [
        (
            gain / tactic.cost_estimate,
            tactic.timeline_weeks,
            _action(
                tactic, ctx.base, plan, gain, confidence, ctx.scenario.studio.currency
            ),
        )
        for tactic, plan, (gain, confidence) in zip(
            tactics, moved, ctx.effects(ctx.base, moved), strict=True
        )
        if gain > 0
    ]
    drafts.sort(key=lambda d: (-d[0], d[1]))
    return [replace(a, priority=rank) for rank, (_, _, a) in enumerate(drafts, start=1)]


def _action(
    tactic: Tactic,
    base: np.ndarray,
    moved: np.ndarray,
    gain: float,
    confidence: float,
    currency: str,
) -> NextBestAction:
    i = LEVERS.index(tactic.lever)
    return NextBestAction(
        priority=0,
        lever=tactic.lever,
        action=tactic.name,
        impact=(
            f"{tactic.description} Typically lifts {LEVER_LABELS[tactic.lever]} "
            f"from {format_lever_value(tactic.lever, base[i], currency)} to "
            f"{format_lever_value(tactic.lever, moved[i], currency)}."
        ),
        expected_revenue_gain=gain,
        confidence=confidence,
        timeline_weeks=tactic.timeline_weeks,
        cost=tactic.cost.value,
    )


def _shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _seasonal_ratios(history: Sequence[HistoryMonth]) -> dict[int, list[float]]:
    """Per calendar month, each year's revenue over its centred 2x12 moving average.

    The studio baseline's seasonality index (``studios.selectors``) is the mean
    of these; each year's ratio is kept here because a dip's probability needs
    them. Windows with a gap or an outlier month are left out, and the ratios
    are scaled so that the calendar months' means average 1.
    """
    by_month = {m.month_year: m for m in history}
    ratios: dict[int, list[float]] = defaultdict(list)
    for month in by_month:
        window = [by_month.get(_shift(month, k)) for k in range(-6, 7)]
        if any(m is None or m.is_outlier for m in window):
            continue
        revenues = [m.total_revenue for m in window]
        trend = (sum(revenues[1:-1]) + (revenues[0] + revenues[-1]) / 2) / 12
        if trend > 0:
            ratios[month.month].append(revenues[6] / trend)
    if not ratios:
        return {}
    scale = statistics.fmean(statistics.fmean(r) for r in ratios.values())
    return {m: [r / scale for r in values] for m, values in ratios.items()}


def _seasonal_dips(ctx: _Context, forecast: ForecastResult) -> list[RiskFactor]:
    """Projected months that are seasonal lows of this studio.

    The revenue impact is the dip in the model's forecast for that month: the
    forecast minus the same forecast at par (forecast / index).
    """
    ratios = _seasonal_ratios(ctx.history)
    dips = []
    for h, stamp in enumerate(forecast.months):
        month = stamp.date()
        years = ratios.get(month.month, [])
        if len(years) < MIN_SEASONAL_YEARS:
            continue
        index = statistics.fmean(years)
        if index > 1 - SEASONAL_DIP:
            continue
        revenue = float(forecast.revenue[0, h])
        below = sum(r < 1 for r in years)
        dips.append(
            RiskFactor(
                kind=RiskKind.SEASONAL_DIP,
                risk=(
                    f"{month:%B} is a seasonal low for this studio: its revenue has "
                    f"run {1 - index:.0%} below trend in that month on average "
                    f"({below} of {len(years)} years below)."
                ),
                month_year=month,
                probability=round(below / len(years), 4),
                potential_revenue_impact=round(revenue - revenue / index, 2),
                mitigation=RISK_MITIGATIONS[RiskKind.SEASONAL_DIP],
            )
        )
    return dips


def _retention_decline(ctx: _Context, forecast: ForecastResult) -> list[RiskFactor]:
    """Retention falling over the last months before the base month.

    The revenue impact is month-N revenue with the trend carried on from the
    plan's retention, month by month, minus the plan's.
    """
    recent = [
        m
        for m in ctx.history[-RETENTION_TREND_MONTHS:]
        if not m.is_outlier and m.retention_rate is not None
    ]
    if len(recent) < MIN_TREND_POINTS:
        return []
    months = [
        (m.month_year.year - recent[0].month_year.year) * 12
        + m.month_year.month
        - recent[0].month_year.month
        for m in recent
    ]
    fit = stats.linregress(months, [m.retention_rate for m in recent])
    if fit.slope > -RETENTION_DECLINE_PER_MONTH:
        return []
    probability = (
        1.0
        if fit.stderr == 0
        else float(stats.t.cdf(-fit.slope / fit.stderr, df=len(recent) - 2))
    )
    retention = LEVERS.index("retention_rate")
    path = np.repeat(ctx.plan[None, None, :], ctx.horizon, axis=1)
    steps = np.arange(1, ctx.horizon + 1)
    path[0, :, retention] = np.clip(ctx.plan[retention] + fit.slope * steps, 0.0, 1.0)
    impact = float(ctx.forecast(path).revenue[0, -1] - forecast.revenue[0, -1])
    tactics = tactics_for_change("retention_rate", -fit.slope * ctx.horizon)
    return [
        RiskFactor(
            kind=RiskKind.RETENTION_DECLINE,
            risk=(
                f"Retention has fallen about {-fit.slope * 100:.1f} points a month "
                f"over the last {len(recent)} months (from "
                f"{recent[0].retention_rate:.1%} to {recent[-1].retention_rate:.1%}); "
                f"carried on from the plan's {ctx.plan[retention]:.1%}, it would be "
                f"{path[0, -1, retention]:.1%} by {forecast.months[-1]:%B %Y}."
            ),
            month_year=None,
            probability=round(probability, 4),
            potential_revenue_impact=round(impact, 2),
            mitigation=RISK_MITIGATIONS[RiskKind.RETENTION_DECLINE].format(
                tactics=", ".join(t.name.lower() for t in tactics)
            ),
        )
    ]


_OVER_UTILISATION = (
    (
        RiskKind.STAFF_OVERUTILISATION,
        "staff_utilization_rate",
        "Staff utilisation is planned at {planned:.0%}, above {limit:.0%}: "
        "instructors this busy burn out and leave.",
    ),
    (
        RiskKind.CAPACITY_LIMIT,
        "class_attendance_rate",
        "Classes are planned {planned:.0%} full, above {limit:.0%}: members will be "
        "turned away at peak times.",
    ),
)


def _over_utilisation(ctx: _Context) -> list[RiskFactor]:
    """Staff or classes planned above 90%.

    The revenue impact is month-N revenue with the lever brought back to 90%
    minus the plan's: what the plan counts on from running that hot.
    """
    risks = []
    for kind, lever, text in _OVER_UTILISATION:
        planned = float(ctx.plan[LEVERS.index(lever)])
        if not ctx.state.has_data[LEVERS.index(lever)] or planned <= OVER_UTILISED:
            continue
        recent = ctx.recent(lever)
        spread = statistics.stdev(recent) if len(recent) >= 3 else 0.0
        probability = (
            1 - NormalDist(planned, spread).cdf(OVER_UTILISED) if spread else 1.0
        )
        [(impact, _)] = ctx.effects(ctx.plan, [_with(ctx.plan, lever, OVER_UTILISED)])
        risks.append(
            RiskFactor(
                kind=kind,
                risk=text.format(planned=planned, limit=OVER_UTILISED),
                month_year=None,
                probability=round(probability, 4),
                potential_revenue_impact=impact,
                mitigation=RISK_MITIGATIONS[kind],
            )
        )
    return risks


def _opportunities(ctx: _Context) -> list[Opportunity]:
    """Spare class capacity and upsell headroom against same-type peers.

    Spare capacity: classes planned at least 5 points below a realistic fill,
    the higher of the studio's best recent month and its peers' 75th
    percentile, never above 85%. Upsell headroom: an upsell rate at least one
    point below the peers' 75th percentile. Each is worth month-N revenue with
    the lever at that level minus the plan's; only gains the model sees are
    reported.
    """
    found: list[tuple[OpportunityKind, str, float, str]] = []
    attendance = float(ctx.plan[LEVERS.index("class_attendance_rate")])
    own_best = max(ctx.recent("class_attendance_rate"), default=None)
    peer_fill = _peer_percentile([p.class_attendance_rate for p in ctx.peers])
    levels = [v for v in (own_best, peer_fill) if v is not None]
    if levels:
        fill = min(REALISTIC_FILL_CAP, max(levels))
        if fill - attendance >= MIN_FILL_GAP:
            found.append(
                (
                    OpportunityKind.SPARE_CAPACITY,
                    "class_attendance_rate",
                    fill,
                    f"Classes are planned {attendance:.0%} full; filling them to "
                    f"{fill:.0%} (the studio's best recent month or its peers' 75th "
                    "percentile, at most 85%) sells places it already runs.",
                )
            )
    upsell = float(ctx.plan[LEVERS.index("upsell_rate")])
    peer_upsell = _peer_percentile([p.upsell_rate for p in ctx.peers])
    upsell_modelled = bool(ctx.state.known[LEVERS.index("upsell_rate")])
    if (
        upsell_modelled
        and peer_upsell is not None
        and peer_upsell - upsell >= MIN_UPSELL_GAP
    ):
        found.append(
            (
                OpportunityKind.UPSELL_HEADROOM,
                "upsell_rate",
                peer_upsell,
                f"The upsell rate is planned at {upsell:.0%}; a quarter of "
                f"{ctx.scenario.studio.get_studio_type_display()} studios upsell "
                f"{peer_upsell:.0%} or more.",
            )
        )
    if not found:
        return []
    effects = ctx.effects(
        ctx.plan, [_with(ctx.plan, lever, level) for _, lever, level, _ in found]
    )
    return [
        Opportunity(
            kind=kind,
            opportunity=text,
            lever=lever,
            target_value=round(level, 4),
            potential_revenue_gain=gain,
            confidence=confidence,
            actions=[
                t.name
                for t in tactics_for_change(
                    lever,
                    level - float(ctx.plan[LEVERS.index(lever)]),
                    float(ctx.plan[LEVERS.index(lever)]),
                )
            ],
        )
        for (kind, lever, level, text), (gain, confidence) in zip(
            found, effects, strict=True
        )
        if gain > 0
    ]


def _peer_percentile(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if len(present) < MIN_PEERS:
        return None
    return float(np.percentile(present, PEER_PERCENTILE))


# --- the LLM's advice ----------------------------------------------------------------


def _advice(
    scenario: Scenario, loaded: ActiveModel, rules: dict[str, Any]
) -> LlmAdvice | None:
    if not llm_enabled():
        logger.info(
            "Insights for scenario %s are rules only: OPENAI_API_KEY is not set.",
            scenario.pk,
        )
        return None
    key = prediction_cache_key(
        "insights-llm",
        studio=scenario.studio,
        model_version=loaded.version.version,
        payload={
            "scenario": str(scenario.pk),
            "llm": settings.OPENAI_MODEL,
            "endpoint": settings.OPENAI_BASE_URL,
        },
    )
    if cache.get(LLM_COOLDOWN_KEY):
        logger.info(
            "Insights for scenario %s are rules only: the LLM failed less than "
            "%g s ago.",
            scenario.pk,
            settings.OPENAI_COOLDOWN,
        )
        return None
    try:
        value, _hit = cached_json(
            key, lambda: asdict(advice_request(context=_llm_context(scenario, rules)))
        )
    except LlmUnavailable as exc:
        logger.warning(
            "Insights for scenario %s fall back to the rules: %s", scenario.pk, exc
        )
        if settings.OPENAI_COOLDOWN > 0:
            # Every web process skips the LLM for a while rather than each
            # waiting out its budget on an endpoint that is down.
            cache.set(LLM_COOLDOWN_KEY, str(exc)[:200], settings.OPENAI_COOLDOWN)
        return None
    return LlmAdvice(
        model=value["model"],
        tips=value["tips"],
        obstacles=value["obstacles"],
        extra_tactics=[ExtraTactic(**t) for t in value["extra_tactics"]],
    )


def _llm_context(scenario: Scenario, rules: dict[str, Any]) -> dict[str, Any]:
    """The studio and the rule-based plan, without names or anything personal."""
    studio = scenario.studio
    projection = scenario_projection(scenario)
    return {
        "studio": {
            "type": studio.get_studio_type_display(),
            "location": ", ".join(filter(None, [studio.city, studio.state])),
            "max_class_size": studio.max_capacity,
            "square_footage": studio.square_footage,
        },
        "scenario": {
            "type": scenario.scenario_type,
            "base_month": scenario.base_month.isoformat(),
            "months": scenario.projection_months,
            "lever_changes": {
                LEVER_LABELS[k]: {
                    "from": format_lever_value(
                        k, projection.base_levers[k], studio.currency
                    ),
                    "to": format_lever_value(k, projection.levers[k], studio.currency),
                }
                for k in LEVERS
                if projection.levers[k] != projection.base_levers[k]
            },
        },
        "rule_based_plan": {t.value: rules[t.value] for t in InsightType},
    }
