"""Owner limits are hard in both directions, and no plan keeps a change for nothing.

Item 5 of issue 15: a bound that excludes today's value brings the plan inside it
or is refused naming the lever; maximum decreases are honoured; with or without
prioritize_low_cost, reachable or not, every lever a plan moves adds revenue.
"""

from math import factorial

import numpy as np
import pytest

from forecasting.ml.frame import LEVERS
from forecasting.models import PredictionLog
from forecasting.registry import active_model
from forecasting.services import forecast_predict, parse_base_month, studio_state
from optimization.costs import plan_money_cost
from optimization.optimize import levers_optimize
from optimization.services import InverseConstraints, inverse_predict
from studiosim.errors import InvalidInput

pytestmark = pytest.mark.django_db

BASE = "2026-04"


def _status_quo(studio, months=3) -> float:
    return (
        forecast_predict(studio=studio, base_month=BASE, months=months, log=False)
        .predictions[-1]
        .revenue
    )


def _today(studio) -> dict[str, float]:
    return forecast_predict(studio=studio, base_month=BASE, log=False).base_levers


def _revenue(studio, levers: dict[str, float], months=3) -> float:
    return (
        forecast_predict(
            studio=studio, base_month=BASE, months=months, levers=levers, log=False
        )
        .predictions[-1]
        .revenue
    )


def _shapley(studio, current: dict, plan: dict, months=3) -> dict[str, float]:
    """Exact Shapley shares of month-``months`` revenue, by brute force."""
    loaded = active_model()
    state = studio_state(
        model=loaded.model,
        version_id=loaded.version.pk,
        studio=studio,
        base_month=parse_base_month(BASE),
    )
    now = np.array([current[k] for k in LEVERS])
    then = np.array([plan[k] if plan[k] is not None else current[k] for k in LEVERS])
    changed = [i for i in range(7) if then[i] != now[i]]
    m = len(changed)
    masks = np.arange(2**m)
    bits = ((masks[:, None] >> np.arange(m)) & 1).astype(bool)
    rows = np.tile(now, (len(masks), 1))
    rows[:, changed] = np.where(bits, then[changed], now[changed])
    revenue = loaded.model.predict(state, rows, months).revenue[:, -1]
    shares = {}
    for j, lever in enumerate(changed):
        total = 0.0
        for mask in masks[~bits[:, j]]:
            size = int(bits[mask].sum())
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            total += weight * (revenue[mask | (1 << j)] - revenue[mask])
        shares[LEVERS[lever]] = total
    return shares


# --- bounds that exclude today's value -------------------------------------------


def test_an_upper_bound_below_today_brings_the_plan_under_it(
    active_version, loaded_studios
):
    studio = loaded_studios[0]
    today = _today(studio)
    ceiling = today["avg_ticket_price"] - 10.0
    target = _status_quo(studio) * 1.03

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=target,
        constraints=InverseConstraints(upper_bounds={"avg_ticket_price": ceiling}),
    )

    plans = [out.recommended_levers, out.relaxed.levers]
    plans += [a.levers for a in out.alternatives]
    for plan in plans:
        assert plan["avg_ticket_price"] <= ceiling + 1e-9
    # The flag says what the forward model says of the plan, nothing kinder.
    rechecked = _revenue(studio, out.recommended_levers)
    assert rechecked == pytest.approx(out.projected_revenue, rel=1e-6)
    assert out.reachable == (rechecked >= target * (1 - 1e-6))


def test_an_unreachable_target_under_an_excluding_bound_says_so(
    active_version, loaded_studios
):
    studio = loaded_studios[0]
    today = _today(studio)
    ceiling = today["avg_ticket_price"] - 10.0
    target = _status_quo(studio) * 1.6

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=target,
        constraints=InverseConstraints(upper_bounds={"avg_ticket_price": ceiling}),
    )

    assert not out.reachable
    assert out.recommended_levers["avg_ticket_price"] <= ceiling + 1e-9
    assert "cannot be reached" in out.message


def test_a_lower_bound_above_today_raises_the_lever_to_it(
    active_version, loaded_studios
):
    studio = loaded_studios[1]
    today = _today(studio)
    floor = today["total_classes_held"] + 10.0

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        # Met today: only the bound moves anything.
        target_revenue=_status_quo(studio) * 0.9,
        constraints=InverseConstraints(lower_bounds={"total_classes_held": floor}),
    )

    assert out.recommended_levers["total_classes_held"] >= floor - 1e-9
    assert out.reachable


@pytest.mark.parametrize(
    "constraints, field",
    [
        (
            # $30 below today's price, with decreases capped at $20.
            lambda today: InverseConstraints(
                upper_bounds={"avg_ticket_price": today["avg_ticket_price"] - 30},
                max_decrease={"avg_ticket_price": 20.0},
            ),
            "upper_bounds",
        ),
        (
            lambda today: InverseConstraints(
                lower_bounds={"new_members_monthly": today["new_members_monthly"] + 15},
                max_increase={"new_members_monthly": 10.0},
            ),
            "lower_bounds",
        ),
        (
            lambda today: InverseConstraints(
                upper_bounds={"avg_ticket_price": today["avg_ticket_price"] - 5},
                locked_levers=("avg_ticket_price",),
            ),
            "upper_bounds",
        ),
    ],
    ids=["decrease-too-small", "increase-too-small", "locked"],
)
def test_a_bound_no_plan_can_reach_is_refused_naming_the_lever(
    active_version, loaded_studios, constraints, field
):
    studio = loaded_studios[0]
    built = constraints(_today(studio))

    for call in (
        lambda: inverse_predict(
            studio=studio, base_month=BASE, target_revenue=90000.0, constraints=built
        ),
        lambda: levers_optimize(studio=studio, base_month=BASE, constraints=built),
    ):
        with pytest.raises(InvalidInput) as error:
            call()
        assert error.value.field == field
        lever = next(iter({**built.lower_bounds, **built.upper_bounds}))
        assert lever in str(error.value)
    assert not PredictionLog.objects.exists()


def test_maximum_decreases_hold(active_version, loaded_studios):
    """With ticket decreases capped at $2, no plan takes more off the price."""
    studio = loaded_studios[2]
    today = _today(studio)

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=_status_quo(studio) * 1.5,
        constraints=InverseConstraints(
            max_decrease={k: 0.0 for k in LEVERS} | {"avg_ticket_price": 2.0}
        ),
    )

    plans = [out.recommended_levers] + [a.levers for a in out.alternatives]
    for plan in plans:
        for lever in LEVERS:
            allowed = 2.0 if lever == "avg_ticket_price" else 0.0
            assert plan[lever] >= today[lever] - allowed - 1e-9, lever


def test_optimize_levers_keeps_to_a_bound_below_today(active_version, loaded_studios):
    studio = loaded_studios[0]
    ceiling = _today(studio)["avg_ticket_price"] - 10.0

    out = levers_optimize(
        studio=studio,
        base_month=BASE,
        constraints=InverseConstraints(upper_bounds={"avg_ticket_price": ceiling}),
        log=False,
    )

    assert out.recommended_levers["avg_ticket_price"] <= ceiling + 1e-9
    for alternative in out.alternatives:
        assert alternative.levers["avg_ticket_price"] <= ceiling + 1e-9


# --- no change that adds cost without revenue -------------------------------------


@pytest.mark.parametrize("uplift", [1.02, 1.1, 1.25, 1.7])
@pytest.mark.parametrize("low_cost", [False, True], ids=["effort", "low-cost"])
@pytest.mark.parametrize("studio_index", [0, 3])
def test_no_plan_in_any_mode_moves_a_lever_for_no_revenue(
    active_version, loaded_studios, studio_index, low_cost, uplift
):
    """Recommended, alternatives and relaxed plans; reachable and unreachable."""
    studio = loaded_studios[studio_index]
    today = _today(studio)

    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=_status_quo(studio) * uplift,
        constraints=InverseConstraints(prioritize_low_cost=low_cost),
        log=False,
    )

    plans = {"recommended": out.recommended_levers, "relaxed": out.relaxed.levers}
    plans |= {f"alternative {k}": a.levers for k, a in enumerate(out.alternatives)}
    for name, plan in plans.items():
        shares = _shapley(studio, today, plan)
        revenue = _revenue(studio, plan)
        for lever, share in shares.items():
            assert share > 1e-9 * revenue, (name, lever, share)


def test_low_cost_plans_spend_no_more_on_tactics_than_the_default(
    active_version, loaded_studios
):
    """prioritize_low_cost minimises the money the plan's tactics cost a month."""
    for studio in loaded_studios[:4]:
        target = _status_quo(studio) * 1.06
        default = inverse_predict(
            studio=studio, base_month=BASE, target_revenue=target, log=False
        )
        cheap = inverse_predict(
            studio=studio,
            base_month=BASE,
            target_revenue=target,
            constraints=InverseConstraints(prioritize_low_cost=True),
            log=False,
        )
        money = plan_money_cost(np.array([_today(studio)[k] for k in LEVERS]))
        if default.reachable:
            assert cheap.reachable
        assert cheap.tactic_cost <= default.tactic_cost + 1e-6
        plan = np.array([cheap.recommended_levers[k] for k in LEVERS])
        assert cheap.tactic_cost == pytest.approx(money(plan[None])[0], abs=0.01)


def test_a_target_equal_to_the_rounded_forecast_is_reachable(
    active_version, loaded_studios
):
    """The status quo rounded up by under a cent still counts as reachable."""
    for studio in loaded_studios[:6]:
        target = _status_quo(studio)

        out = inverse_predict(
            studio=studio, base_month=BASE, target_revenue=target, log=False
        )

        assert out.reachable, studio.name
