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
