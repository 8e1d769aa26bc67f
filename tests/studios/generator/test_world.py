"""The generator as a simulator of the world (SPEC §12): levers act on a studio the
way they act on a business, and a plan can be run forward from a studio's state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studios.generator import PLAN_LEVERS, generate, generate_world, run_plan
from studios.generator.demand import ATTENDANCE_CEILING, saturated_rate

N_STUDIOS = 60


@pytest.fixture(scope="module")
def world():
    return generate_world(N_STUDIOS, 60, seed=3)


def _last(data, column: str) -> np.ndarray:
    return data.metrics.groupby("studio_name", sort=False)[column].last().to_numpy()


def _effect(world, months: int, **changes) -> dict[str, np.ndarray]:
    """Mean relative change against the status quo, per month, of members and revenue."""
    _, w, state = world
    base = run_plan(w, state, months)
    plan = run_plan(w, state, months, changes)
    return {
        key: (plan[key] / base[key] - 1.0).mean(axis=0)
        for key in ("total_members", "total_revenue")
    }


def test_generate_world_returns_the_same_history_as_generate(world):
    data, w, state = world
    assert data.metrics.equals(generate(N_STUDIOS, 60, seed=3).metrics)
    assert state.t == 60 and len(state.members) == N_STUDIOS
    np.testing.assert_array_equal(state.members, _last(data, "total_members"))


def test_every_studio_raises_its_price_and_moves_its_timetable(world):
    """The variation the model learns the responses from."""
    data, *_ = world
    m = data.metrics.sort_values(["studio_name", "month_year"])
    step = m["expected_avg_ticket_price"] / m["expected_avg_ticket_price"].shift()
    same = m["studio_name"].eq(m["studio_name"].shift()) & ~m["is_outlier"]
    same &= ~m["is_outlier"].shift(fill_value=False)
    rises = (same & (step > 1.02)).groupby(m["studio_name"]).sum()
    assert (rises >= 1).all()
    spread = (
        (m["expected_total_classes_held"] / m["expected_total_members"] ** 0.85)
        .groupby(m["studio_name"])
        .std()
    )
    assert (spread > 0).mean() > 0.5


def test_studios_run_promotions_that_end_and_stay_out_of_the_last_year(world):
    """Price cuts of 5-12% for 2-4 months, then the full price again: the
    up-and-down variation the price response is learned from."""
    data, *_ = world
    m = data.metrics.sort_values(["studio_name", "month_year"])
    ratio = (
        m["expected_avg_ticket_price"] / m["expected_avg_ticket_price"].shift()
    ).where(m["studio_name"].eq(m["studio_name"].shift()))
    regular = ~m["is_outlier"] & ~m["is_outlier"].shift(fill_value=False)
    cuts = (regular & (ratio < 0.96)).groupby(m["studio_name"]).sum()
    assert (cuts >= 1).mean() > 0.9
    # a cut is a promotion, not a new price: most are back within 2-4 months
    months = m.groupby("studio_name").cumcount()
    assert not (regular & (ratio < 0.96) & (months >= 48)).any()
    steps = np.log(ratio[regular & ((ratio < 0.96) | (ratio > 1.04))])
    assert abs(steps.mean()) < 0.03  # down and up again, on the whole


def test_a_dearer_ticket_loses_members_and_gains_ever_less_revenue(world):
    """+10% ticket: revenue up at once, members down and falling, the gain fading."""
    data, *_ = world
    effect = _effect(world, 12, avg_ticket_price=0.10 * _last(data, "avg_ticket_price"))
    members, revenue = effect["total_members"], effect["total_revenue"]
    assert members[0] == pytest.approx(0.0, abs=1e-9)  # members act next month
    assert members[2] < -0.01 and members[11] < members[5] < members[2]
    assert revenue[0] > 0.06
    assert revenue[11] < revenue[5] < revenue[0]


def test_revenue_has_a_maximum_in_price(world):
    """Month-12 revenue rises with the ticket, then falls: there is a best price."""
    data, w, state = world
    ticket = _last(data, "avg_ticket_price")
    factors = np.linspace(-0.3, 1.5, 19)
    revenue = np.array(
        [
            run_plan(w, state, 12, {"avg_ticket_price": f * ticket})["total_revenue"][
                :, -1
            ].sum()
            for f in factors
        ]
    )
    best = int(np.argmax(revenue))
    assert 0 < best < len(factors) - 1
    assert np.all(np.diff(revenue[: best + 1]) > 0)
    assert np.all(np.diff(revenue[best:]) < 0)


@pytest.mark.parametrize(
    ("lever", "change"),
    [
        ("retention_rate", 0.02),
        ("class_attendance_rate", 0.05),
        ("new_members_monthly", 5.0),
        ("upsell_rate", 0.03),
    ],
)
def test_the_other_levers_raise_revenue(world, lever, change):
    effect = _effect(world, 6, **{lever: change})
    assert effect["total_revenue"][-1] > 0


def test_more_classes_spread_attendance_and_stretch_the_staff(world):
    """+10% classes at the same demand: classes emptier, staff busier, members lost."""
    data, w, state = world
    extra = 0.10 * _last(data, "total_classes_held")
    base = run_plan(w, state, 6)
    plan = run_plan(w, state, 6, {"total_classes_held": extra})
    assert (plan["class_attendance_rate"] < base["class_attendance_rate"]).all()
    assert (plan["staff_utilization_rate"] > base["staff_utilization_rate"]).all()
    assert (plan["total_members"][:, -1] <= base["total_members"][:, -1] + 1e-9).all()


def test_busier_staff_cost_retention_above_85_percent(world):
    _, w, state = world
    base = run_plan(w, state, 3)
    busy = run_plan(w, state, 3, {"staff_utilization_rate": 0.15})
    over = busy["staff_utilization_rate"][:, 0] > 0.85
    assert over.any()
    assert (busy["retention_rate"][over, 0] < base["retention_rate"][over, 0]).all()


def test_attendance_saturates_below_the_ceiling():
    demand = np.array([0.2, 0.5, 0.8, 1.0, 1.5, 3.0])
    rate = saturated_rate(demand)
    assert rate[0] == pytest.approx(0.2, rel=1e-4)
    assert np.all(np.diff(rate) > 0) and np.all(rate < ATTENDANCE_CEILING)
    assert rate[-1] == pytest.approx(ATTENDANCE_CEILING, rel=1e-3)


def test_a_promotions_extra_sign_ups_saturate_with_the_market(world):
    """A major promotion is extra marketing: it lifts sign-ups less the nearer a
    studio is to its market (here: its members over its size)."""
    data, w, _ = world
    m = data.metrics.assign(
        order=pd.Categorical(data.metrics["studio_name"], data.studios["name"])
    ).sort_values(["order", "month_year"])  # the world's order of studios
    new = m["new_members"].to_numpy(dtype=float).reshape(N_STUDIOS, -1)
    members = m["total_members"].to_numpy(dtype=float).reshape(N_STUDIOS, -1)
    reason = m["outlier_reason"].to_numpy().reshape(N_STUDIOS, -1)
    studio, t = np.nonzero(reason == "promotion")
    keep = (t >= 2) & (t < new.shape[1] - 2)
    studio, t = studio[keep], t[keep]
    usual = np.median(np.stack([new[studio, t + k] for k in (-2, -1, 1, 2)]), axis=0)
    lift = new[studio, t] / usual - 1.0
    fullness = members[studio, t - 1] / w.p.size[studio]
    assert len(lift) > 15
    assert np.corrcoef(fullness, lift)[0, 1] < -0.3


def test_extra_marketing_saturates_with_the_market(world):
    """The same extra effort brings fewer sign-ups to studios nearer their market."""
    _, w, state = world
    base = run_plan(w, state, 1)
    pushed = run_plan(w, state, 1, {"new_members_monthly": 20.0})
    gained = pushed["new_members"][:, 0] - base["new_members"][:, 0]
    assert (gained <= 20.0 + 1e-9).all() and (gained > 0).all()
    fill = state.members / w.p.size
    assert np.corrcoef(fill, gained)[0, 1] < -0.5


def test_a_plan_runs_with_or_without_noise(world):
    _, w, state = world
    expected = run_plan(w, state, 6, {"retention_rate": 0.01})
    again = run_plan(w, state, 6, {"retention_rate": 0.01})
    drawn = [
        run_plan(
            w, state, 6, {"retention_rate": 0.01}, rng=np.random.default_rng(seed)
        )["total_revenue"]
        for seed in range(30)
    ]
    np.testing.assert_array_equal(expected["total_revenue"], again["total_revenue"])
    mean = np.mean(drawn, axis=0)
    assert np.median(np.abs(mean / expected["total_revenue"] - 1)) < 0.02
    assert np.std(drawn, axis=0).mean() > 0


def test_unknown_levers_are_refused(world):
    _, w, state = world
    with pytest.raises(ValueError, match="unknown levers"):
        run_plan(w, state, 3, {"price": 5.0})
    assert len(PLAN_LEVERS) == 7
