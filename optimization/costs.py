"""What lever changes cost in money: the catalogue tactics they need (SPEC §5, §6).

The tactics catalogue (``optimization.tactics``) sizes tactics to a lever change
(:func:`optimization.tactics.tactics_for_change`, the action plan's own rule) and gives
each a monthly cost estimate. These functions turn that rule into vectorised cost
functions of lever plans, for the optimizer and for the inverse's low-cost mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from forecasting.ml.frame import LEVERS
from forecasting.services import lever_scale
from optimization.tactics import TACTICS_BY_LEVER, cost_factor, tactics_for_change

__all__ = [
    "plan_money_cost",
    "tactic_cost_function",
    "tactic_coverage",
]


def tactic_coverage(lever: str, current: float | None = None) -> float:
    """How far all of a lever's catalogue tactics together typically move it, on
    a studio at ``current`` of it (:func:`forecasting.services.lever_scale`)."""
    return lever_scale(lever, current) * float(
        sum(t.expected_improvement for t in TACTICS_BY_LEVER.get(lever, ()))
    )


def _tactic_step(lever: str) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints and monthly costs of the catalogue's cost of raising ``lever``.

    The selection rule (:func:`optimization.tactics.tactics_for_change`) picks the same
    tactics for every change between two consecutive breakpoints: the single
    tactics' typical improvements and the running totals of the combination order.
    Returns ``thresholds`` (sorted) and ``costs`` with one more entry: a change in
    ``(thresholds[k-1], thresholds[k]]`` costs ``costs[k]``.
    """
    tactics = TACTICS_BY_LEVER.get(lever, ())
    if not tactics:
        return np.empty(0), np.zeros(1)
    by_efficiency = sorted(
        tactics, key=lambda t: t.expected_improvement / t.cost_estimate, reverse=True
    )
    points = {t.expected_improvement for t in tactics}
    points |= set(np.cumsum([t.expected_improvement for t in by_efficiency]).tolist())
    thresholds = np.array(sorted(p for p in points if p > 0))

    def cost(change: float) -> float:
        return float(sum(t.cost_estimate for t in tactics_for_change(lever, change)))

    costs = np.array(
        [cost(float(b)) for b in thresholds] + [cost(float(thresholds[-1]) * 2)]
    )
    return thresholds, costs


def tactic_cost_function(
    current: np.ndarray,
    *,
    tactics: bool,
    lever_costs: Mapping[str, float] | None = None,
    currency: str = "USD",
) -> Callable[[np.ndarray], np.ndarray]:
    """Monthly money cost of lever plans ``(n, 7)`` against today's ``current``.

    Only increases cost money: decreases, and today's plan, cost nothing. With
    ``tactics`` each increase costs the catalogue tactics sized to it (on a studio
    of the size ``current`` says, :func:`forecasting.services.lever_scale`), in
    the studio's ``currency`` (:func:`optimization.tactics.cost_factor`); each
    lever in ``lever_costs`` (already in that currency) adds its cost per unit of
    increase.
    """
    factor = cost_factor(currency)
    steps = (
        [
            (thresholds, costs * factor)
            for thresholds, costs in (_tactic_step(lever) for lever in LEVERS)
        ]
        if tactics
        else []
    )
    scale = np.array(
        [lever_scale(lever, float(v)) for lever, v in zip(LEVERS, current, strict=True)]
    )
    unit = np.array([float((lever_costs or {}).get(k, 0.0)) for k in LEVERS])

    def money_cost(rows: np.ndarray) -> np.ndarray:
        increase = np.maximum(rows - current, 0.0)
        total = increase @ unit
        for i, (thresholds, costs) in enumerate(steps):
            change = increase[:, i] / scale[i]
            # A change equal to a tactic's typical improvement, give or take
            # float noise (0.81 - 0.80), is covered by that tactic.
            index = np.searchsorted(thresholds * (1 + 1e-9), change, side="left")
            total = total + np.where(change > 0, costs[index], 0.0)
        return total

    return money_cost


def plan_money_cost(
    current: np.ndarray, currency: str = "USD"
) -> Callable[[np.ndarray], np.ndarray]:
    """Monthly money cost of the catalogue tactics each plan ``(n, 7)`` needs.

    What ``prioritizeLowCostLevers`` minimises. Each lever increase costs the
    tactics the action plan would prescribe for it (:func:`tactic_cost_function`);
    an increase beyond what all of the lever's tactics together typically achieve
    costs the whole catalogue again pro rata (running every tactic twice over for
    twice the coverage), so no increase is free. Decreases need no tactic and cost
    nothing in money (the inverse still drops any that add no revenue).
    """
    catalogue = tactic_cost_function(current, tactics=True, currency=currency)
    coverage = np.array(
        [tactic_coverage(k, float(v)) for k, v in zip(LEVERS, current, strict=True)]
    )
    # The cost of raising each lever alone by its full coverage.
    per_lever = np.array(
        [
            catalogue(
                (current + np.where(np.arange(len(LEVERS)) == i, coverage, 0.0))[None]
            )[0]
            for i in range(len(LEVERS))
        ]
    )
    rate = np.divide(per_lever, coverage, out=np.zeros(len(LEVERS)), where=coverage > 0)

    def money_cost(rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_2d(rows)
        excess = np.maximum(rows - current - coverage, 0.0)
        return catalogue(rows) + excess @ rate

    return money_cost
