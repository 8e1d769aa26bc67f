"""Benchmark of the inverse solver on synthetic forward models (no Django, no data).

Runs random studios, limits and targets through ``optimization.solver.solve`` and checks
every answer independently: reachability against ``max_achievable`` (a different search),
limits with plain comparisons, revenue against a fresh model call. The forward model is
slowed down to a realistic cost per call so the latencies mean something.

    .venv/bin/python bench/solver.py                 # 600 cases, piecewise-constant model
    .venv/bin/python bench/solver.py --model interacting --cases 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimization.solver import LeverLimits, max_achievable, solve  # noqa: E402
from optimization.solver.synthetic import StudioModel, random_studio  # noqa: E402

FloatArray = npt.NDArray[np.float64]

#: Typical owner limits (retention +0.05, ticket +$20, new members +10, ...).
TYPICAL_CHANGE = np.array([0.05, 20.0, 0.1, 10.0, 0.1, 0.1, 50.0])
FLAVOURS = {
    "smooth": {"stepped": False, "staff_peak": False, "interaction": False},
    "stepped": {"stepped": True, "staff_peak": False, "interaction": False},
    "interacting": {"stepped": False, "staff_peak": True, "interaction": True},
    "stepped-interacting": {"stepped": True, "staff_peak": True, "interaction": True},
}


class SlowModel:
    """The synthetic model plus a simulated cost per call and per row (busy wait)."""

    def __init__(self, model: StudioModel, call_ms: float, row_us: float) -> None:
        self.model = model
        self.call_s = call_ms / 1e3
        self.row_s = row_us / 1e6
        self.waited = 0.0

    def __call__(self, levers: FloatArray) -> FloatArray:
        start = time.perf_counter()
        revenue = self.model(levers)
        until = start + self.call_s + self.row_s * len(levers)
        while time.perf_counter() < until:
            pass
        self.waited += time.perf_counter() - start
        return revenue


@dataclass
class Case:
    """One benchmark case's outcome."""

    constrained: bool
    reachable: bool
    reported_reachable: bool
    within_5pct: bool
    reached: bool
    feasible: bool
    cost: float
    latency_s: float
    solver_only_s: float
    calls: int
    rows: int


def random_limits(rng: np.random.Generator, current: FloatArray) -> LeverLimits:
    """Owner limits: maximum changes around the typical ones, some locks and bounds."""
    change = TYPICAL_CHANGE * rng.uniform(0.5, 1.5, 7)
    valid_upper = np.array([1, np.inf, 1, np.inf, 1, 1, np.inf])
    upper = np.where(
        rng.random(7) < 0.2, current * rng.uniform(1.0, 1.15, 7), valid_upper
    )
    return LeverLimits.build(
        lower=np.where(rng.random(7) < 0.2, current * rng.uniform(0.85, 1.0, 7), 0.0),
        upper=np.minimum(upper, valid_upper),
        max_increase=change,
        max_decrease=np.where(rng.random(7) < 0.5, np.inf, change),
        locked=[int(i) for i in np.flatnonzero(rng.random(7) < 0.15)],
    )


def within(levers: FloatArray, current: FloatArray, limits: LeverLimits) -> bool:
    """Every limit, checked with plain comparisons (not the solver's own checker)."""
    locked = sorted(limits.locked)
    return bool(
        (levers >= limits.lower).all()
        and (levers <= limits.upper).all()
        and (levers - current <= limits.max_increase).all()
        and (current - levers <= limits.max_decrease).all()
        and (levers[locked] == current[locked]).all()
    )


def flat_fees(current: np.ndarray, fees: np.ndarray):
    def money(rows: np.ndarray) -> np.ndarray:
        return ((rows > current + 1e-12) * fees).sum(axis=1)

    return money


def run_case(
    rng: np.random.Generator,
    flavour: str,
    constrained: bool,
    call_ms: float,
    row_us: float,
) -> Case:
    model, current = random_studio(rng, **FLAVOURS[flavour])
    limits = random_limits(rng, current) if constrained else LeverLimits()
    horizon = int(rng.integers(1, 7))
    kind = "month" if rng.random() < 0.8 else "total"
    base = model(current[None])[0, :horizon]
    target = float(
        (base[-1] if kind == "month" else base.sum()) * rng.uniform(0.9, 1.3)
    )
    slow = SlowModel(model, call_ms, row_us)
    start = time.perf_counter()
    solution = solve(
        slow,
        current=current,
        target=target,
        horizon=horizon,
        target_kind=kind,
        limits=limits,
        # A quarter of the cases minimise a money cost (a flat monthly fee per
        # lever raised), as prioritizeLowCostLevers does with the tactic catalogue.
        money_cost=flat_fees(current, rng.uniform(100, 3000, 7))
        if rng.random() < 0.25
        else None,
    )
    latency = time.perf_counter() - start
    best = max_achievable(
        model, current=current, horizon=horizon, target_kind=kind, limits=limits
    )
    recheck = model(solution.recommended.levers[None])[0, :horizon]
    revenue = float(recheck[-1] if kind == "month" else recheck.sum())
    plans = [solution.recommended.levers, solution.best_achievable_levers]
    plans += [alternative.levers for alternative in solution.alternatives]
    return Case(
        constrained=constrained,
        reachable=best.revenue >= target,
        reported_reachable=solution.reachable,
        within_5pct=revenue >= 0.95 * target,
        reached=revenue >= target,
        feasible=all(within(plan, current, limits) for plan in plans),
        cost=solution.recommended.cost,
        latency_s=latency,
        solver_only_s=latency - slow.waited,
        calls=solution.n_model_calls,
        rows=solution.n_model_rows,
    )


def share(cases: list[Case], test: Callable[[Case], bool]) -> str:
    hits = sum(test(case) for case in cases)
    return f"{hits / len(cases):7.1%}  ({hits}/{len(cases)})" if cases else "    n/a"


def report(title: str, cases: list[Case]) -> None:
    reachable = [c for c in cases if c.reachable]
    unreachable = [c for c in cases if not c.reachable]
    latency = np.array([c.latency_s for c in cases]) * 1e3
    own = np.array([c.solver_only_s for c in cases]) * 1e3
    lines = [
        (
            "reachable targets reached within 5%",
            share(reachable, lambda c: c.within_5pct),
        ),
        ("reachable targets reached in full", share(reachable, lambda c: c.reached)),
        (
            "unreachable targets reported unreachable",
            share(unreachable, lambda c: not c.reported_reachable),
        ),
        ("recommendations within every constraint", share(cases, lambda c: c.feasible)),
        (
            "mean cost of reachable recommendations",
            f"{np.mean([c.cost for c in reachable]):7.3f}" if reachable else "    n/a",
        ),
        (
            "latency p50 / p95 (ms)",
            f"{np.percentile(latency, 50):7.1f} / {np.percentile(latency, 95):.1f}",
        ),
        (
            "solver's own time p50 / p95 (ms)",
            f"{np.percentile(own, 50):7.1f} / {np.percentile(own, 95):.1f}",
        ),
        (
            "model calls mean / max",
            f"{np.mean([c.calls for c in cases]):7.1f} / {max(c.calls for c in cases)}",
        ),
        ("model rows mean", f"{np.mean([c.rows for c in cases]):7.0f}"),
    ]
    print(f"\n{title}: {len(cases)} cases")
    for label, value in lines:
        print(f"  {label:<42}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=sorted(FLAVOURS), default="stepped")
    parser.add_argument(
        "--call-ms", type=float, default=1.0, help="simulated cost per model call"
    )
    parser.add_argument(
        "--row-us", type=float, default=2.0, help="simulated cost per row"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    cases = [
        run_case(
            rng,
            args.model,
            constrained=k % 2 == 1,
            call_ms=args.call_ms,
            row_us=args.row_us,
        )
        for k in range(args.cases)
    ]
    print(
        f"solver benchmark: model={args.model} cases={args.cases} seed={args.seed} "
        f"targets -10%..+30% of the forecast; model cost {args.call_ms} ms/call + "
        f"{args.row_us} us/row; reachability decided by max_achievable"
    )
    report("all", cases)
    report("unconstrained (valid ranges only)", [c for c in cases if not c.constrained])
    report(
        "constrained (max changes, bounds, locks)", [c for c in cases if c.constrained]
    )


if __name__ == "__main__":
    main()
