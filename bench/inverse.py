"""Benchmark: inverse prediction on the real forward model (SPEC §5, §10).

Run:  .venv/bin/python bench/inverse.py [--studios 40] [--cases 240]

Set-up trains a model on generated data in a fresh temporary database. Each case
is a random studio and base month, a target between -10% and +30% of the current
month-3 forecast, and, for half the cases, random constraints (tighter maximum
changes, an upper bound, one or two locked levers). Reachability is decided
independently of the solver: with every monotone lever at the top of its allowed
range and a grid over the two levers that need not be monotone (staff
utilisation, classes held), the forward model's maximum over that grid is the
best achievable revenue. Targets within 0.5% of that maximum are too close to
call and reported apart. Prints: share of reachable targets reached within 5%,
share of unreachable targets reported unreachable, share of recommendations
(recommended plans and alternatives) within every constraint, mean cost, and
p50/p95 latency of ``inverse_predict`` (in-process, logged as in production).
Targets: >= 97%, 100%, 100%, p95 < 250 ms.
"""

import argparse
import random
import time

import _setup
import numpy as np

GRID = np.linspace(0.0, 1.0, 11)
#: The levers whose revenue response need not be monotone.
NON_MONOTONE = ("avg_ticket_price", "staff_utilization_rate", "total_classes_held")


def _independent_max(model, state, current, limits, horizon) -> float:
    """Best month-`horizon` revenue within the limits, without the solver."""
    return _independent_argmax(model, state, current, limits, horizon)[0]


def _independent_argmax(model, state, current, limits, horizon):
    """Best month-`horizon` revenue within the limits and the levers reaching it.

    Every lever whose revenue response is monotone goes to the top of its range;
    the three that need not be are searched on a grid: the ticket (revenue has a
    maximum in price, SPEC §12), staff utilisation and classes held.
    """
    from forecasting.ml.frame import LEVERS

    lo, hi = limits.box(current)
    free = [LEVERS.index(k) for k in NON_MONOTONE]
    steps = np.meshgrid(*[GRID] * len(free), indexing="ij")
    rows = np.repeat(hi[None, :], GRID.size ** len(free), axis=0)
    for j, step in zip(free, steps, strict=True):
        rows[:, j] = lo[j] + step.ravel() * (hi[j] - lo[j])
    revenue = model.predict(state, rows, horizon).revenue[:, -1]
    best = int(np.argmax(revenue))
    return float(revenue[best]), rows[best]


def _within(plan: dict, current: np.ndarray, limits, levers) -> bool:
    values = np.array([plan[k] for k in levers])
    return not limits.violations(current, values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _setup.add_arguments(parser, studios=40)
    parser.add_argument("--cases", type=int, default=240)
    parser.add_argument("--horizon", type=int, default=3)
    args = parser.parse_args()
    _setup.setup(args)

    from forecasting.ml.frame import LEVERS
    from forecasting.ranges import lever_ranges
    from forecasting.registry import active_model
    from forecasting.services import forecast_predict, studio_state
    from optimization.services import (
        InverseConstraints,
        inverse_limits,
        inverse_predict,
    )
    from studios.models import MonthlyMetric, Studio
    from studiosim.errors import InvalidInput

    rng = random.Random(args.seed)
    studios = list(Studio.objects.all())
    months = sorted(set(MonthlyMetric.objects.values_list("month_year", flat=True)))[
        24:
    ]
    loaded = active_model()

    reached = reachable = unreachable = reported = close_calls = 0
    refused = refused_by_service = 0
    within = plans = 0
    costs, latencies = [], []
    for case in range(args.cases):
        studio, base = rng.choice(studios), rng.choice(months)
        constrained = case % 2 == 1
        constraints = InverseConstraints()
        if constrained:
            locked = tuple(rng.sample(LEVERS, rng.choice([1, 2])))
            constraints = InverseConstraints(
                max_increase={
                    "retention_rate": rng.choice([0.01, 0.02, 0.03]),
                    "avg_ticket_price": rng.choice([5.0, 10.0, 15.0]),
                    "new_members_monthly": rng.choice([2.0, 5.0]),
                },
                upper_bounds={"upsell_rate": rng.uniform(0.25, 0.4)},
                locked_levers=locked,
                prioritize_low_cost=rng.random() < 0.5,
            )
        status_quo = forecast_predict(
            studio=studio, base_month=base, months=args.horizon, log=False
        )
        target = status_quo.predictions[-1].revenue * rng.uniform(0.9, 1.3)

        state = studio_state(
            model=loaded.model,
            version_id=loaded.version.pk,
            studio=studio,
            base_month=base,
        )
        current = np.array([status_quo.base_levers[k] for k in LEVERS])
        # The service's own limits, the peers' range included.
        ranges = lever_ranges(studio=studio, base_month=base)
        try:
            limits, _, _ = inverse_limits(current, constraints, ranges)
        except InvalidInput:
            # Limits that cannot hold together (a lock outside a bound): the
            # service must refuse them too, never widen them.
            refused += 1
            try:
                inverse_predict(
                    studio=studio,
                    base_month=base,
                    target_revenue=target,
                    target_months=args.horizon,
                    constraints=constraints,
                )
            except InvalidInput:
                refused_by_service += 1
            continue
        best = _independent_max(loaded.model, state, current, limits, args.horizon)

        started = time.perf_counter()
        out = inverse_predict(
            studio=studio,
            base_month=base,
            target_revenue=target,
            target_months=args.horizon,
            constraints=constraints,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        costs.append(out.total_cost)
        for plan in [out.recommended_levers, *(a.levers for a in out.alternatives)]:
            plans += 1
            within += _within(plan, current, limits, LEVERS)

        if abs(target - best) <= 0.005 * best:
            close_calls += 1
        elif target < best:
            reachable += 1
            reached += out.projected_revenue >= 0.95 * target
        else:
            unreachable += 1
            reported += not out.reachable

    print(
        f"inverse_predict on {args.cases} cases ({len(studios)} studios, horizon {args.horizon})"
    )
    print(
        f"  reachable targets reached within 5%     {reached}/{reachable} = {reached / max(reachable, 1):.1%}  (target >= 97%)"
    )
    print(
        f"  unreachable targets reported            {reported}/{unreachable} = {reported / max(unreachable, 1):.1%}  (target 100%)"
    )
    print(f"  too close to call (within 0.5% of max)  {close_calls}")
    print(
        f"  impossible limits refused as bad input  {refused_by_service}/{refused}  (target: all)"
    )
    print(
        f"  plans within every constraint           {within}/{plans} = {within / max(plans, 1):.1%}  (target 100%)"
    )
    print(f"  mean cost of the recommended plan       {np.mean(costs):.3f}")
    print(
        f"  latency                                 {_setup.percentiles(latencies)}  (target p95 < 250 ms)"
    )


if __name__ == "__main__":
    main()
