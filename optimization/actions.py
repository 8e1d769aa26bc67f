"""Action plans: the tactics sized to a plan's lever increases, ranked (SPEC §6).

Shared by the inverse prediction and the auto-optimiser (this layer) and by the
insights and the share page above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from forecasting.ml.frame import LEVER_LABELS
from optimization.tactics import Tactic, cost_factor, tactics_for_change
from studiosim.display import format_money

__all__ = [
    "Action",
    "LeverChangeImpact",
    "action_plan_build",
    "format_lever_value",
]

_PERCENT_LEVERS = {
    "retention_rate",
    "class_attendance_rate",
    "staff_utilization_rate",
    "upsell_rate",
}


@dataclass(frozen=True)
class LeverChangeImpact:
    """A recommended lever move and the revenue the forward model attributes to it."""

    lever: str
    current: float
    recommended: float
    revenue_impact: float


@dataclass(frozen=True)
class Action:
    priority: int
    lever: str
    action: str
    specifics: str
    expected_impact: float
    timeline_weeks: int
    cost: str
    cost_estimate: float


def format_lever_value(lever: str, value: float, currency: str = "USD") -> str:
    """A lever's value as an owner reads it: a rate as a percentage, the ticket
    as money in the studio's ``currency``, a count as a whole number."""
    if lever in _PERCENT_LEVERS:
        return f"{value:.1%}"
    if lever == "avg_ticket_price":
        return format_money(value, currency, places=2)
    return f"{value:,.0f}"


def _specifics(
    change: LeverChangeImpact, tactic: Tactic, share: float, currency: str
) -> str:
    label = LEVER_LABELS.get(change.lever, change.lever)
    delta = change.recommended - change.current
    if change.lever in _PERCENT_LEVERS:
        step = f"{delta * 100:+.1f} pts"
    elif change.lever == "avg_ticket_price":
        step = f"{delta:+,.2f}"
    else:
        step = f"{delta:+,.0f}"
    part = "" if share >= 0.999 else f" (this tactic's part: about {share:.0%} of it)"
    return (
        f"{tactic.description} Target: {label} from "
        f"{format_lever_value(change.lever, change.current, currency)} to "
        f"{format_lever_value(change.lever, change.recommended, currency)} "
        f"({step}){part}."
    )


def action_plan_build(
    changes: Iterable[LeverChangeImpact], currency: str = "USD"
) -> list[Action]:
    """Ranked actions for the lever increases in ``changes``.

    Each increase gets the tactics sized to it (see
    :func:`optimization.tactics.tactics_for_change`); a lever's revenue impact,
    computed with the forward model by the caller, is shared among its tactics
    in proportion to their typical improvement. Actions are ranked by revenue
    impact per unit of cost, then by how soon they work.
    """
    drafts: list[tuple[float, int, Action]] = []
    factor = cost_factor(currency)
    for change in changes:
        tactics = tactics_for_change(
            change.lever, change.recommended - change.current, change.current
        )
        total = sum(t.expected_improvement for t in tactics)
        for tactic in tactics:
            share = tactic.expected_improvement / total if total else 1.0
            impact = round(change.revenue_impact * share, 2)
            drafts.append(
                (
                    impact / (tactic.cost_estimate * factor),
                    tactic.timeline_weeks,
                    Action(
                        priority=0,
                        lever=change.lever,
                        action=tactic.name,
                        specifics=_specifics(change, tactic, share, currency),
                        expected_impact=impact,
                        timeline_weeks=tactic.timeline_weeks,
                        cost=tactic.cost.value,
                        cost_estimate=tactic.cost_estimate * factor,
                    ),
                )
            )
    drafts.sort(key=lambda d: (-d[0], d[1]))
    return [
        Action(**{**action.__dict__, "priority": rank})
        for rank, (_, _, action) in enumerate(drafts, start=1)
    ]
