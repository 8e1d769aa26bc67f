"""The cross-lever responses (SPEC §12): what they do to a plan, and how they are
learned from a studio chain's own price rises and timetables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.frame import LEVERS, validate_frame
from forecasting.ml.response import (
    PRIOR,
    UTILISATION_THRESHOLD,
    Responses,
    fit_responses,
)

P, R, A, N, U, C = (
    LEVERS.index(name)
    for name in (
        "avg_ticket_price",
        "retention_rate",
        "class_attendance_rate",
        "new_members_monthly",
        "staff_utilization_rate",
        "total_classes_held",
    )
)
REFERENCE = np.array([0.92, 150.0, 0.7, 30.0, 0.80, 0.2, 200.0])
KNOWN = np.ones(7, dtype=bool)
RESPONSES = Responses(
    sign_ups=0.5,
    churn_level=0.2,
    churn_rise=1.5,
    spread=0.6,
    utilisation_penalty=0.15,
    evidence={},
)


def plan(horizon: int = 6, **changes: float) -> np.ndarray:
    path = np.repeat(REFERENCE[None, None, :], horizon, axis=1)
    for lever, change in changes.items():
        path[:, :, LEVERS.index(lever)] += change
    return path


def test_the_status_quo_is_left_alone():
    path = plan()
    np.testing.assert_array_equal(RESPONSES.apply(path, REFERENCE, KNOWN), path)


def test_a_dearer_ticket_thins_sign_ups_and_raises_churn_a_month_later():
    out = RESPONSES.apply(plan(avg_ticket_price=15.0), REFERENCE, KNOWN)[0]
    # month 1: nothing yet
    assert out[0, R] == REFERENCE[R] and out[0, N] == REFERENCE[N]
    # then fewer sign-ups, by the semi-elasticity of a 10% rise
    assert out[1:, N] == pytest.approx(REFERENCE[N] * np.exp(-0.5 * 0.10))
    # and more churn, most in the first month after, fading to the level effect
    churn = 1.0 - out[1:, R]
    assert np.all(np.diff(churn) < 0)
    assert churn[-1] > (1.0 - REFERENCE[R]) * np.exp(0.2 * 0.10)


def test_a_cheaper_ticket_brings_sign_ups_without_a_churn_shock():
    out = RESPONSES.apply(plan(avg_ticket_price=-15.0), REFERENCE, KNOWN)[0]
    assert np.all(out[1:, N] > REFERENCE[N])
    assert np.all(out[1:, R] > REFERENCE[R])


def test_more_classes_spread_the_same_demand_and_stretch_the_team():
    out = RESPONSES.apply(plan(total_classes_held=40.0), REFERENCE, KNOWN)[0]
    expected_rate = REFERENCE[A] * (200.0 / 240.0) ** 0.6
    assert out[:, A] == pytest.approx(expected_rate)
    utilisation = REFERENCE[U] * 240.0 / 200.0  # 0.96
    penalty = 0.15 * (utilisation - UTILISATION_THRESHOLD)
    assert out[:, R] == pytest.approx(REFERENCE[R] - penalty)


def test_extra_classes_stretch_the_timetable_the_studio_runs_today():
    """40 more classes on a base month of 250 (a studio that has grown past its
    12-month reference of 200) are 16% more, not 20%: the team and the demand
    fit today's timetable."""
    base = REFERENCE.copy()
    base[C] = 250.0
    out = RESPONSES.apply(plan(total_classes_held=40.0), REFERENCE, KNOWN, base=base)[0]
    assert out[:, A] == pytest.approx(REFERENCE[A] * (250.0 / 290.0) ** 0.6)
    utilisation = REFERENCE[U] * 290.0 / 250.0
    penalty = 0.15 * (utilisation - UTILISATION_THRESHOLD)
    assert out[:, R] == pytest.approx(REFERENCE[R] - penalty)
    # At the reference's own timetable the base month changes nothing.
    np.testing.assert_allclose(
        RESPONSES.apply(
            plan(total_classes_held=40.0), REFERENCE, KNOWN, base=REFERENCE
        ),
        RESPONSES.apply(plan(total_classes_held=40.0), REFERENCE, KNOWN),
    )


def test_the_plans_own_changes_add_to_the_responses():
    out = RESPONSES.apply(
        plan(total_classes_held=40.0, class_attendance_rate=0.05), REFERENCE, KNOWN
    )[0]
    assert out[:, A] == pytest.approx(REFERENCE[A] * (200.0 / 240.0) ** 0.6 + 0.05)


def test_a_lever_not_modelled_carries_no_response():
    known = KNOWN.copy()
    known[[P, U]] = False
    out = RESPONSES.apply(
        plan(avg_ticket_price=15.0, total_classes_held=40.0), REFERENCE, known
    )[0]
    assert np.all(out[:, N] == REFERENCE[N])
    assert np.all(out[:, R] == REFERENCE[R])  # no price, no utilisation penalty


def _chain(noise: float, seed: int = 0) -> pd.DataFrame:
    """60 studios x 60 months whose sign-ups and churn answer clean price steps
    with semi-elasticities 0.5 and 0.2, and whose timetables move on their own."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(60):
        steps = np.exp(
            np.cumsum(
                np.where(rng.random(60) < 1 / 12, rng.uniform(-0.1, 0.1, 60), 0.0)
            )
        )
        price = 120.0 * steps * (1.0 + noise * rng.standard_normal(60))
        level = np.concatenate([[0.0], steps[:-1] - 1.0])
        new = 30.0 * np.exp(-0.5 * level) * rng.lognormal(0, 0.03, 60)
        members = 300.0 * np.exp(-0.7 * level) * rng.lognormal(0, 0.005, 60)
        churn_rate = 0.08 * np.exp(0.2 * level) * rng.lognormal(0, 0.03, 60)
        churned = churn_rate * np.concatenate([[300.0], members[:-1]])
        timetable = 200.0 * np.exp(
            np.cumsum(
                np.where(rng.random(60) < 1 / 12, rng.uniform(-0.1, 0.1, 60), 0.0)
            )
        )
        rate = np.clip(
            0.7 * (200.0 / timetable) ** 0.8 * rng.lognormal(0, 0.01, 60), 0, 1
        )
        for t in range(60):
            rows.append(
                {
                    "unique_id": f"s{s}",
                    "ds": pd.Timestamp("2021-01-01") + pd.DateOffset(months=t),
                    "total_members": members[t],
                    "new_members": new[t],
                    "churned_members": churned[t],
                    "retention_rate": 1 - churn_rate[t],
                    "avg_ticket_price": price[t],
                    "total_classes_held": timetable[t],
                    "total_class_attendance": rate[t] * timetable[t] * 20,
                    "class_attendance_rate": rate[t],
                    "total_revenue": members[t] * price[t],
                    "is_outlier": False,
                    "split": "train",
                    "studio_type": "yoga",
                    "max_capacity": 20.0,
                }
            )
    return validate_frame(pd.DataFrame(rows))


def test_responses_are_learned_from_the_chains_own_price_rises_and_timetables():
    """Clean prices: the data's slopes recover the truth and outweigh the prior."""
    learned = fit_responses(_chain(noise=0.0))
    assert learned.sign_ups == pytest.approx(0.5, abs=0.12)
    assert learned.churn_level == pytest.approx(0.2, abs=0.08)
    assert learned.spread == pytest.approx(0.8, abs=0.2)
    assert learned.evidence["sign_ups"]["data_weight"] > 0.9
    # with no staff data, the utilisation penalty stays at its prior
    assert learned.utilisation_penalty == PRIOR["utilisation_penalty"]


def test_prices_too_noisy_to_read_leave_the_prior_standing():
    """15% month-level noise on the ticket hides its steps in a year's average."""
    learned = fit_responses(_chain(noise=0.15))
    assert learned.sign_ups == PRIOR["sign_ups"]
    assert learned.churn_level == PRIOR["churn_level"]
    assert learned.evidence["sign_ups"]["data_weight"] == 0.0


def test_responses_round_trip_through_json():
    again = Responses.from_json(RESPONSES.to_json())
    assert again == RESPONSES


def test_prices_with_the_generators_noise_are_read_through_it():
    """6% month-level noise on the ticket (SPEC §2.5): a 12-month average's slope
    would be pulled towards zero, the instrumented one is not."""
    learned = fit_responses(_chain(noise=0.06, seed=0))
    assert learned.sign_ups == pytest.approx(0.5, abs=0.15)
    assert learned.evidence["sign_ups"]["data_weight"] > 0.8


def test_extra_new_members_shrink_with_the_headroom_and_cuts_count_in_full():
    more = RESPONSES.apply(plan(new_members_monthly=10.0), REFERENCE, KNOWN, 0.4)[0]
    assert more[:, N] == pytest.approx(REFERENCE[N] + 0.4 * 10.0)
    fewer = RESPONSES.apply(plan(new_members_monthly=-10.0), REFERENCE, KNOWN, 0.4)[0]
    assert fewer[:, N] == pytest.approx(REFERENCE[N] - 10.0)
    # the default is a studio far from its market
    free = RESPONSES.apply(plan(new_members_monthly=10.0), REFERENCE, KNOWN)[0]
    assert free[:, N] == pytest.approx(REFERENCE[N] + 10.0)


def test_the_headroom_falls_as_members_near_their_peak():
    responses = Responses(**{**RESPONSES.to_json(), "saturation": 0.6})
    assert responses.headroom(50.0, 100.0) == pytest.approx(0.7)
    assert responses.headroom(100.0, 100.0) == pytest.approx(0.4)
    assert responses.headroom(100.0, float("nan")) == pytest.approx(0.4)
    full = Responses(**{**RESPONSES.to_json(), "saturation": 1.0})
    assert full.headroom(120.0, 100.0) == 0.0


def _spiky_chain(saturation: float, seed: int = 0) -> pd.DataFrame:
    """40 studios growing from half their peak to it, each with three flagged
    sign-up spikes whose lift is ``1.5 x (1 - saturation x members / peak)``."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(40):
        members = 300.0 * np.minimum(
            0.5 + np.arange(60) / 60.0 * rng.uniform(0.6, 1.2), 1.0
        )
        new = 30.0 * rng.lognormal(0, 0.05, 60)
        spikes = rng.choice(np.arange(4, 56), 3, replace=False)
        flagged = np.zeros(60, dtype=bool)
        flagged[spikes] = True
        peak = members.max()
        for t in spikes:
            new[t] *= 1.0 + 1.5 * (1.0 - saturation * members[t - 1] / peak)
        for t in range(60):
            rows.append(
                {
                    "unique_id": f"s{s}",
                    "ds": pd.Timestamp("2021-01-01") + pd.DateOffset(months=t),
                    "total_members": members[t],
                    "new_members": new[t],
                    "churned_members": 0.05 * members[t],
                    "retention_rate": 0.95,
                    "avg_ticket_price": 120.0,
                    "total_classes_held": 200.0,
                    "total_class_attendance": 2800.0,
                    "class_attendance_rate": 0.7,
                    "total_revenue": members[t] * 120.0,
                    "is_outlier": bool(flagged[t]),
                    "split": "train",
                    "studio_type": "yoga",
                    "max_capacity": 20.0,
                }
            )
    return validate_frame(pd.DataFrame(rows))


@pytest.mark.parametrize("saturation", [0.3, 0.8])
def test_the_saturation_is_learned_from_sign_up_spikes(saturation):
    learned = fit_responses(_spiky_chain(saturation))
    assert learned.saturation == pytest.approx(saturation, abs=0.1)
    assert learned.evidence["saturation"]["data_weight"] > 0.8


def test_without_spikes_the_saturation_prior_stands():
    learned = fit_responses(_chain(noise=0.0))
    assert learned.saturation == PRIOR["saturation"]
    assert learned.evidence["saturation"]["data_weight"] == 0.0


def test_responses_saved_before_the_new_coefficients_answer_as_they_did():
    """A model saved before the saturation, team and visit responses loads with
    them switched off."""
    payload = RESPONSES.to_json()
    for name in ("saturation", "team", "follow"):
        del payload[name]
    again = Responses.from_json(payload)
    assert (again.saturation, again.team, again.follow) == (0.0, 0.0, 0.0)
    assert again.headroom(100.0, 100.0) == 1.0


def test_a_generated_chain_moves_the_price_and_market_responses_towards_its_own():
    """The generator's own chain (SPEC §12): its price moves and promotions carry
    the sign-up response and the market's saturation (recovery within tolerance)."""
    from forecasting.ml.frame import frame_from_generated
    from studios.generator import generate
    from studios.generator.demand import DEMAND

    data = generate(150, 60, seed=0)
    truth = np.mean([DEMAND[t].sign_ups for t in data.studios["studio_type"]])
    learned = fit_responses(frame_from_generated(data))
    assert learned.evidence["sign_ups"]["data_weight"] > 0.5
    assert learned.sign_ups == pytest.approx(truth, abs=0.25)
    # promotions lift sign-ups less near the peak: a real saturation
    assert learned.evidence["saturation"]["data_weight"] > 0.9
    assert 0.5 < learned.saturation < 1.0
    # a bigger team keeps members longer (SPEC §2.4: staff ~ retention)
    assert learned.evidence["team"]["data_weight"] > 0.9
    assert learned.team > 0.01
    # and members are who comes to class
    assert learned.follow == pytest.approx(1.0, abs=0.2)


def test_utilisation_without_more_classes_is_a_smaller_team_that_keeps_fewer():
    staffed = Responses(**{**RESPONSES.to_json(), "team": 0.03})
    out = staffed.apply(plan(staff_utilization_rate=0.05), REFERENCE, KNOWN)[0]
    # 80% -> 85% on the same timetable: the team is 0.80 / 0.85 of what it was
    assert out[:, R] == pytest.approx(REFERENCE[R] + 0.03 * np.log(0.80 / 0.85))
    # more classes with the same team stretch it (the penalty) but shrink nothing
    more = plan(total_classes_held=40.0)
    np.testing.assert_allclose(
        staffed.apply(more, REFERENCE, KNOWN), RESPONSES.apply(more, REFERENCE, KNOWN)
    )


def test_rows_apply_like_one_plan_at_a_time():
    responses = Responses(**{**RESPONSES.to_json(), "team": 0.03, "saturation": 0.5})
    paths = np.concatenate(
        [
            plan(avg_ticket_price=15.0),
            plan(total_classes_held=40.0, staff_utilization_rate=-0.05),
            plan(staff_utilization_rate=0.1),
        ]
    )
    reference = np.repeat(REFERENCE[None, :], 3, axis=0)
    known = np.repeat(KNOWN[None, :], 3, axis=0)
    known[2, C] = False
    rows = responses.apply_rows(paths, reference, known)
    for i in range(3):
        one = responses.apply(paths[i : i + 1], reference[i], known[i])[0]
        np.testing.assert_allclose(rows[i], one)
    # ... and with each studio's base month.
    base = reference * np.array([1.0, 1.1, 1.2])[:, None]
    rows = responses.apply_rows(paths, reference, known, base=base)
    for i in range(3):
        one = responses.apply(paths[i : i + 1], reference[i], known[i], base=base[i])
        np.testing.assert_allclose(rows[i], one[0])
    assert not np.allclose(rows[1], responses.apply_rows(paths, reference, known)[1])


def test_a_generated_chain_learns_its_worlds_answer_to_more_classes():
    """The generator's studios revise their timetable each term, the rota
    following a quarter of it (SPEC §12): the learned spread and utilisation
    penalty give the world's answer to 10% more classes on the same team, its
    sign and rough size (recovery on a chain of 40 studios, seed 0)."""
    from forecasting.ml.frame import frame_from_generated
    from forecasting.ml.structural import structural_path
    from studios.generator import generate_world, run_plan

    data, world, state = generate_world(40, 60, seed=0)
    learned = fit_responses(frame_from_generated(data))
    assert learned.evidence["spread"]["data_weight"] > 0.9
    assert learned.evidence["utilisation_penalty"]["data_weight"] > 0.5

    months = 6
    base = run_plan(world, state, months)
    classes = base["total_classes_held"][:, 0]
    more = run_plan(world, state, months, {"total_classes_held": 0.1 * classes})
    reference = np.column_stack(
        [
            base["retention_rate"][:, 0],
            base["avg_ticket_price"][:, 0],
            base["class_attendance_rate"][:, 0],
            base["new_members"][:, 0],
            base["staff_utilization_rate"][:, 0],
            base["upsell_rate"][:, 0],
            classes,
        ]
    )
    members0 = state.members
    world_rate, model_rate, world_members, model_members = [], [], [], []
    for i, ref in enumerate(reference):
        path = np.repeat(ref[None, None, :], months, axis=1)
        path[:, :, C] *= 1.1
        out = learned.apply(path, ref, KNOWN)
        model_rate.append(out[0, 0, A] / ref[A] - 1.0)
        world_rate.append(
            more["class_attendance_rate"][i, 0] / base["class_attendance_rate"][i, 0]
            - 1.0
        )
        # members by the same stock-flow roll, the status quo's flows held
        status_quo = np.repeat(ref[None, None, :], months, axis=1)
        moved, _ = structural_path(members0[i], out, np.zeros(5), 1.0)
        held, _ = structural_path(members0[i], status_quo, np.zeros(5), 1.0)
        model_members.append(moved[0, -1] / held[0, -1] - 1.0)
        world_members.append(
            more["total_members"][i, -1] / base["total_members"][i, -1] - 1.0
        )
    # the same demand over 10% more classes: the rate falls by about a tenth
    assert np.mean(model_rate) == pytest.approx(np.mean(world_rate), rel=0.15)
    # a stretched team loses members: the sign and rough size of the world's
    assert np.mean(world_members) < -0.005
    assert np.mean(model_members) == pytest.approx(np.mean(world_members), rel=0.3)
