"""The forward model: lever response, leakage, determinism, accuracy, persistence."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.evaluation import evaluate, format_report
from forecasting.ml.exceptions import (
    ArtifactIntegrityError,
    InsufficientHistoryError,
    LeverError,
    NotFittedError,
)
from forecasting.ml.frame import LEVER_COLUMNS, LEVERS, frame_from_generated
from forecasting.ml.model import RESPONSE_ERROR, ForwardModel
from studios.generator import generate

HORIZON = 12
# Lever values from zero to far beyond anything in the training data (ticket
# $80-300, new members 10-50, classes 100-400, rates as generated).
LEVER_GRIDS = {
    "retention_rate": [0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99, 1.0],
    "avg_ticket_price": [0.0, 20.0, 80.0, 150.0, 300.0, 1_000.0, 10_000.0],
    "class_attendance_rate": [0.0, 0.1, 0.3, 0.6, 0.8, 0.95, 1.0],
    "new_members_monthly": [0.0, 5.0, 20.0, 40.0, 100.0, 1_000.0],
    "upsell_rate": [0.0, 0.05, 0.2, 0.4, 0.7, 1.0],
    "total_classes_held": [0.0, 50.0, 200.0, 400.0, 2_000.0],
}


@pytest.fixture(scope="module")
def train_frame() -> pd.DataFrame:
    return frame_from_generated(generate(n_studios=40, months=60, seed=0))


@pytest.fixture(scope="module")
def model(train_frame) -> ForwardModel:
    return ForwardModel(random_state=0).fit(train_frame)


@pytest.fixture(scope="module")
def held_out() -> pd.DataFrame:
    """Studios the model never saw, enough of them for stable coverage figures."""
    return frame_from_generated(generate(n_studios=120, months=60, seed=11))


@pytest.fixture(scope="module")
def history(held_out) -> pd.DataFrame:
    return held_out[held_out["unique_id"] == held_out["unique_id"].iloc[0]].reset_index(
        drop=True
    )


@pytest.fixture(scope="module")
def state(model, history):
    return model.make_state(history, history["ds"].iloc[50])


def _grid_plans(state, lever: str, values: list[float]) -> np.ndarray:
    plans = np.repeat(state.levers[None, :], len(values), axis=0)
    plans[:, LEVERS.index(lever)] = values
    return plans


# ------------------------------------------------------------------ lever response
# Under a relative plan the price moves churn and sign-ups and a fuller timetable
# stretches the staff (forecasting.ml.response): revenue has a maximum in price and
# need not rise with classes. The other levers, and every lever of an absolute
# plan (the levers the studio will realise), never lower revenue (SPEC §4).
MONOTONE = [
    (lever, plan)
    for plan in ("relative", "absolute")
    for lever in LEVER_GRIDS
    if plan == "absolute" or lever not in ("avg_ticket_price", "total_classes_held")
]


@pytest.mark.parametrize(("lever", "plan"), MONOTONE)
def test_raising_a_lever_never_lowers_revenue_at_any_horizon(model, state, lever, plan):
    """Revenue is non-decreasing along the lever's grid, at every horizon."""
    values = LEVER_GRIDS[lever]
    result = model.predict(state, _grid_plans(state, lever, values), HORIZON, plan=plan)
    assert (np.diff(result.revenue, axis=0) >= 0).all()
    assert (result.revenue >= 0).all()


def test_a_dearer_ticket_loses_members_and_revenue_has_a_maximum_in_price(model, state):
    """Relative plans: members fall with the price, and month-12 revenue rises
    with it, peaks and falls (SPEC §12)."""
    ticket = state.levers[LEVERS.index("avg_ticket_price")]
    factors = np.array([0.5, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 8.0])
    result = model.predict(
        state, _grid_plans(state, "avg_ticket_price", list(ticket * factors)), 12
    )
    members = result.members[:, -1]
    assert np.all(np.diff(members) < 0)
    revenue = result.revenue[:, -1]
    best = int(np.argmax(revenue))
    assert 0 < best < len(factors) - 1
    assert np.all(np.diff(revenue[: best + 1]) > 0)
    assert np.all(np.diff(revenue[best:]) < 0)
    # and the price acts a month later: month 1's members do not move
    assert np.ptp(result.members[:, 0]) == pytest.approx(0.0, abs=1e-6)


def test_the_peak_is_the_highest_3_month_membership_so_far(state, history):
    members = history["total_members"].iloc[:51].astype(float)
    assert state.peak_members == pytest.approx(
        members.rolling(3, min_periods=1).mean().max()
    )


def test_extra_new_members_bring_less_the_nearer_the_studio_is_to_its_peak(
    model, state
):
    """SPEC §12: more marketing saturates with the market; the member gain of
    +20% new members scales with the studio's headroom (the core is linear in
    new members)."""
    levers = state.levers.copy()
    levers[LEVERS.index("new_members_monthly")] *= 1.2
    base = model.predict(state, state.levers, 6).members[0]
    gains = {}
    for peak in (state.members, 10.0 * state.members):
        near = replace(state, peak_members=peak)
        gains[peak] = model.predict(near, levers, 6).members[0] - base
    at_peak, far = gains[state.members], gains[10.0 * state.members]
    assert np.all(at_peak > 0) and np.all(at_peak < far)
    r = model.responses_
    ratio = r.headroom(state.members, state.members) / r.headroom(
        state.members, 10.0 * state.members
    )
    np.testing.assert_allclose(at_peak / far, ratio, rtol=1e-6)


def test_class_visits_follow_the_plans_members(model, state):
    """A plan with more members brings more of them to class (the learned
    ``follow``); the status quo is unchanged by it."""
    assert model.responses_.follow > 0.5
    still = copy.copy(model)
    still.responses_ = replace(model.responses_, follow=0.0)
    levers = state.levers.copy()
    levers[LEVERS.index("retention_rate")] += 0.03
    for plan in (state.levers, levers):
        assert model.predict(state, plan, 6).members == pytest.approx(
            still.predict(state, plan, 6).members
        )
    np.testing.assert_allclose(
        model.predict(state, state.levers, 6).revenue,
        still.predict(state, state.levers, 6).revenue,
    )
    gain = (
        model.predict(state, levers, 6).revenue
        - model.predict(state, state.levers, 6).revenue
    )
    gain_still = (
        still.predict(state, levers, 6).revenue
        - still.predict(state, state.levers, 6).revenue
    )
    assert np.all(gain[0, 1:] > gain_still[0, 1:])


def test_without_lever_responses_the_core_prices_every_plan_at_face_value(
    train_frame, state
):
    """The ablation switch: lever_responses=False keeps the old monotone core."""
    plain = ForwardModel(random_state=0, correction="none", lever_responses=False).fit(
        train_frame
    )
    ticket = state.levers[LEVERS.index("avg_ticket_price")]
    result = plain.predict(
        state, _grid_plans(state, "avg_ticket_price", [ticket, 2 * ticket]), 12
    )
    assert (result.revenue[1] > result.revenue[0]).all()
    np.testing.assert_allclose(result.members[1], result.members[0])


OUT_OF_RANGE = [
    ("retention_rate", 0.30, 0.40),  # far below the generated 0.6-0.95
    ("retention_rate", 0.96, 0.98),  # above it
    ("avg_ticket_price", 1_000.0, 5_000.0),
    ("class_attendance_rate", 0.10, 0.20),
    ("new_members_monthly", 200.0, 2_000.0),
    ("upsell_rate", 0.60, 0.80),
    ("total_classes_held", 1_000.0, 3_000.0),
]


@pytest.mark.parametrize(
    ("lever", "low", "high", "plan"),
    [
        (*case, plan)
        for plan in ("relative", "absolute")
        for case in OUT_OF_RANGE
        if (case[0], plan) in MONOTONE
    ],
)
def test_a_lever_outside_the_training_range_still_moves_revenue_up(
    model, state, lever, low, high, plan
):
    """Trees alone go flat outside their data; the structural core does not."""
    result = model.predict(
        state, _grid_plans(state, lever, [low, high]), HORIZON, plan=plan
    )
    assert (result.revenue[1] > result.revenue[0]).all()


def test_a_month_by_month_plan_moves_only_the_months_it_changes(model, state):
    """More new members in month 4 leaves months 1-3 alone and lifts months 4-12."""
    base = np.repeat(state.levers[None, None, :], HORIZON, axis=1)
    boosted = base.copy()
    boosted[0, 3, LEVERS.index("new_members_monthly")] += 15.0
    result = model.predict(state, np.concatenate([base, boosted]), HORIZON)
    np.testing.assert_array_equal(result.revenue[0, :3], result.revenue[1, :3])
    assert (result.revenue[1, 3:] > result.revenue[0, 3:]).all()
    assert (result.members[1, 3:] > result.members[0, 3:]).all()


def test_a_constant_plan_equals_the_same_plan_month_by_month(model, state):
    """(n, 7) is shorthand for (n, horizon, 7) with the same row every month."""
    flat = model.predict(state, state.levers[None, :], 6)
    monthly = model.predict(state, np.repeat(state.levers[None, None, :], 6, axis=1), 6)
    np.testing.assert_array_equal(flat.revenue, monthly.revenue)


def test_prediction_has_the_documented_shape_and_content(model, state):
    """Every output is (n, horizon); intervals bracket the forecast; confidence in [0, 1]."""
    result = model.predict(
        state, np.repeat(state.levers[None, :], 3, axis=0), 5, coverage=0.8
    )
    for name in (
        "revenue",
        "members",
        "retention",
        "revenue_lower",
        "revenue_upper",
        "confidence",
    ):
        assert getattr(result, name).shape == (3, 5)
    assert (result.revenue_lower < result.revenue).all()
    assert (result.revenue < result.revenue_upper).all()
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    # the calibrated probability of landing within 10% of the forecast, with the
    # width of each target month: further out is never more certain for the same
    # calendar month (the scale never narrows), but a calendar month that is
    # hard to forecast (annual fees billed in January) is less certain nearer
    pooled = model.calibration_["relative_unseen" if not state.seen else "relative"]
    np.testing.assert_allclose(
        result.confidence[0],
        pooled.starting(state.base_month.month).within(np.log(1.10), 5),
    )
    assert (np.diff(pooled.scale) >= 0).all()
    assert list(result.months) == list(
        pd.date_range(state.base_month, periods=6, freq="MS")[1:]
    )
    assert result.total_revenue.shape == (3,)


def test_a_wider_coverage_gives_a_wider_interval(model, state):
    """Coverage is chosen at predict time: 95% contains 80% contains 50%."""
    widths = [
        model.predict(state, state.levers[None, :], 6, coverage=c)
        for c in (0.5, 0.8, 0.95)
    ]
    for narrow, wide in zip(widths, widths[1:], strict=False):
        assert (wide.revenue_lower < narrow.revenue_lower).all()
        assert (wide.revenue_upper > narrow.revenue_upper).all()


# ------------------------------------------------------------------------ leakage
def test_rows_after_the_base_month_do_not_change_the_forecast(model, history):
    """Dropping or rewriting every month after t gives the same state and forecast."""
    t = 40
    base_month = history["ds"].iloc[t]
    rewritten = history.copy()
    later = rewritten.index > t
    for column in (
        "total_revenue",
        "membership_revenue",
        "avg_ticket_price",
        "total_members",
    ):
        rewritten.loc[later, column] *= 2.5
    forecasts = [
        model.predict(
            model.make_state(h, base_month),
            h.iloc[[t]][list(LEVER_COLUMNS)].to_numpy(),
            12,
        )
        for h in (history, history.iloc[: t + 1], rewritten)
    ]
    for other in forecasts[1:]:
        np.testing.assert_array_equal(forecasts[0].revenue, other.revenue)
        np.testing.assert_array_equal(forecasts[0].revenue_upper, other.revenue_upper)
        np.testing.assert_array_equal(forecasts[0].members, other.members)


def test_batch_states_equal_the_serving_path(model, held_out, history):
    """states_for_frame (training-style, whole frame) matches make_state exactly."""
    uid = history["unique_id"].iloc[0]
    batch = model.states_for_frame(held_out, base_months={uid: [20, 50]})
    assert sorted(batch) == [
        (uid, history["ds"].iloc[20]),
        (uid, history["ds"].iloc[50]),
    ]
    for (_, month), state in batch.items():
        single = model.make_state(history, month)
        for name in ("levers", "reference", "constants", "revenue_correction"):
            np.testing.assert_array_equal(getattr(state, name), getattr(single, name))
        assert state.members == single.members
        assert state.peak_members == single.peak_members


# -------------------------------------------------------------------- determinism
def test_same_data_and_seed_give_the_same_model_and_forecasts(tmp_path):
    """Two fits write byte-identical files and forecast identically."""
    small = frame_from_generated(generate(n_studios=8, months=36, seed=5))
    first = ForwardModel(random_state=7).fit(small)
    second = ForwardModel(random_state=7).fit(small)
    assert first.save(tmp_path / "a") == second.save(tmp_path / "b")
    history = small[small["unique_id"] == small["unique_id"].iloc[0]]
    states = [m.make_state(history, history["ds"].iloc[24]) for m in (first, second)]
    forecasts = [
        m.predict(s, s.levers[None, :], 12)
        for m, s in zip((first, second), states, strict=True)
    ]
    np.testing.assert_array_equal(forecasts[0].revenue, forecasts[1].revenue)


# ----------------------------------------------------------------------- accuracy
@pytest.fixture(scope="module")
def plain_test_report(model, held_out) -> pd.DataFrame:
    return evaluate(model, held_out, split="test", mode="plain")


def test_evaluation_table_has_every_method_and_metric(plain_test_report):
    """One row per horizon and method, with the SPEC §4 metrics and the oracle ratio."""
    assert set(plain_test_report["method"]) == {
        "model",
        "naive",
        "seasonal_naive",
        "seasonal_naive_scaled",
        "oracle",
    }
    for column in (
        "mode",
        "split",
        "horizon",
        "n",
        "rmse",
        "mae",
        "mape",
        "r2",
        "directional_accuracy",
        "business_impact",
        "coverage",
        "relative_width",
        "interval_score",
        "ratio_to_oracle",
    ):
        assert column in plain_test_report.columns
    oracle = plain_test_report[plain_test_report["method"] == "oracle"]
    assert (oracle["ratio_to_oracle"] == 1.0).all()
    report = format_report(plain_test_report)
    assert "== plain forecasts (relative plan), test split ==" in report
    assert len(report.splitlines()) == 2 + 5 * HORIZON


def test_beats_naive_and_seasonal_naive_at_every_horizon_on_the_test_split(
    plain_test_report,
):
    """The model's MAPE is below every baseline's, horizon by horizon."""
    table = plain_test_report.pivot(index="horizon", columns="method", values="mape")
    assert len(table) == HORIZON
    for baseline in ("naive", "seasonal_naive", "seasonal_naive_scaled"):
        assert (table["model"] < table[baseline]).all(), baseline


def test_month_one_error_is_close_to_the_noise_free_oracle(plain_test_report):
    """Month-1 MAPE within 1.2x of the oracle's (the benchmark's target is 1.15x)."""
    month_one = plain_test_report[plain_test_report["horizon"] == 1].set_index("method")
    assert month_one.loc["model", "mape"] <= 1.2 * month_one.loc["oracle", "mape"]


def test_eighty_percent_intervals_cover_75_to_85_percent_of_held_out_months(
    plain_test_report,
):
    """Calibrated: pooled over horizons, the 80% interval holds 75-85% of actuals."""
    model_rows = plain_test_report[plain_test_report["method"] == "model"]
    pooled = (model_rows["coverage"] * model_rows["n"]).sum() / model_rows["n"].sum()
    assert 0.75 <= pooled <= 0.85


def test_what_if_forecasts_with_the_levers_actually_run_are_nearly_exact(
    model, held_out
):
    """Absolute plans of realised levers leave only the constants' drift to miss."""
    report = evaluate(
        model, held_out, split="test", mode="what_if", horizons=[1, 6, 12]
    )
    model_rows = report[report["method"] == "model"].set_index("horizon")
    oracle_rows = report[report["method"] == "oracle"].set_index("horizon")
    assert (model_rows["mape"] < 0.01).all()
    assert (model_rows["mape"] < oracle_rows["mape"]).all()


# -------------------------------------------------------------------- persistence
def test_save_and_load_give_identical_forecasts(model, state, tmp_path):
    """The round trip through native text and JSON files loses nothing."""
    checksums = model.save(tmp_path / "model")
    loaded = ForwardModel.load(tmp_path / "model", expected_sha256=checksums)
    assert loaded.get_params() == model.get_params()
    plans = _grid_plans(state, "avg_ticket_price", [100.0, 150.0, 200.0])
    for plan in ("relative", "absolute"):
        before = model.predict(state, plans, 12, coverage=0.9, plan=plan)
        after = loaded.predict(state, plans, 12, coverage=0.9, plan=plan)
        for name in (
            "revenue",
            "members",
            "revenue_lower",
            "revenue_upper",
            "confidence",
        ):
            np.testing.assert_array_equal(getattr(before, name), getattr(after, name))


def test_a_model_saved_without_a_response_error_loads_with_the_documented_one(
    model, state, tmp_path
):
    """Models saved before the lever-response error existed: RESPONSE_ERROR."""
    model.save(tmp_path / "model")
    path = tmp_path / "model" / "model.json"
    manifest = json.loads(path.read_text())
    del manifest["params"]["response_error"]
    path.write_text(json.dumps(manifest))
    loaded = ForwardModel.load(tmp_path / "model")
    assert loaded.response_error == RESPONSE_ERROR
    np.testing.assert_array_equal(
        loaded.response_spread(np.array([0.0, 0.1])), [0.0, RESPONSE_ERROR * 0.1]
    )


def test_a_model_saved_before_the_what_if_mix_keeps_the_plan_alone(
    model, state, tmp_path
):
    """Models saved without what_if_weight load with weight 1 at every horizon:
    the structural core on the plan, as they were fitted to serve."""
    model.save(tmp_path / "model")
    path = tmp_path / "model" / "model.json"
    manifest = json.loads(path.read_text())
    del manifest["what_if_weight"]
    path.write_text(json.dumps(manifest))
    loaded = ForwardModel.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.what_if_weight_, np.ones(model.max_horizon))
    # on the generator's data, where the flows add up, the fit chose the plan
    # alone too: the what-if forecast is the one it was before the mix
    assert (model.what_if_weight_ >= 0.9).all(), model.what_if_weight_


def test_a_model_saved_before_attendance_followed_members_keeps_its_status_quo(
    model, history, tmp_path
):
    """The fit scales the status quo's attendance by the member count with the
    chain's learned ``follow``; a model saved before that loads with 0 and builds
    the reference levers it was fitted on (the 12-month mean rate, unscaled)."""
    assert model.attendance_follow_ == model.responses_.follow > 0.5
    model.save(tmp_path / "model")
    path = tmp_path / "model" / "model.json"
    manifest = json.loads(path.read_text())
    assert manifest["attendance_follow"] == model.attendance_follow_
    del manifest["attendance_follow"]
    path.write_text(json.dumps(manifest))
    loaded = ForwardModel.load(tmp_path / "model")
    assert loaded.attendance_follow_ == 0.0
    base = history["ds"].iloc[50]
    attendance = LEVERS.index("class_attendance_rate")
    scaled = model.make_state(history, base).reference
    unscaled = loaded.make_state(history, base).reference
    others = np.arange(len(LEVERS)) != attendance
    np.testing.assert_array_equal(scaled[others], unscaled[others])
    assert scaled[attendance] != unscaled[attendance]


def test_saved_files_are_text_and_never_pickle(model, tmp_path):
    """LightGBM boosters as text, everything else as JSON; every file checksummed."""
    checksums = model.save(tmp_path / "model")
    names = sorted(path.name for path in (tmp_path / "model").iterdir())
    assert names == sorted(checksums)
    assert "model.json" in names
    assert any(name.endswith(".lgb.txt") for name in names)
    assert all(name.endswith((".json", ".txt")) for name in names)
    manifest = json.loads((tmp_path / "model" / "model.json").read_text())
    assert manifest["levers"] == list(LEVERS)
    assert {"lightgbm", "numpy", "pandas"} <= set(manifest["library_versions"])


def test_a_tampered_file_is_refused_before_it_is_parsed(model, tmp_path):
    """A changed booster file raises ArtifactIntegrityError naming the file."""
    checksums = model.save(tmp_path / "model")
    booster = next(name for name in checksums if name.endswith(".lgb.txt"))
    path = tmp_path / "model" / booster
    path.write_text(path.read_text().replace("tree", "trEe", 1))
    with pytest.raises(ArtifactIntegrityError, match=booster):
        ForwardModel.load(tmp_path / "model", expected_sha256=checksums)


def test_a_missing_or_extra_file_is_refused(model, tmp_path):
    """The directory must hold exactly the files the checksums name."""
    checksums = model.save(tmp_path / "model")
    extra = tmp_path / "model" / "notes.txt"
    extra.write_text("hello")
    with pytest.raises(ArtifactIntegrityError, match="unexpected"):
        ForwardModel.load(tmp_path / "model", expected_sha256=checksums)
    extra.unlink()
    Path(tmp_path / "model" / "model.json").unlink()
    with pytest.raises(ArtifactIntegrityError, match="model.json"):
        ForwardModel.load(tmp_path / "model", expected_sha256=checksums)


def test_saving_over_an_existing_model_replaces_it_and_leaves_no_temp_files(
    model, tmp_path
):
    """The second save wins; nothing else is left in the parent directory."""
    model.save(tmp_path / "model")
    checksums = model.save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    ForwardModel.load(tmp_path / "model", expected_sha256=checksums)


# ------------------------------------------------------------------------- errors
def test_a_base_month_without_history_is_a_clear_error(model, history):
    """Before the first month, after the last, or too early to have 3 months."""
    first, last = history["ds"].iloc[0], history["ds"].iloc[-1]
    for month in (first - pd.DateOffset(months=1), last + pd.DateOffset(months=1)):
        with pytest.raises(InsufficientHistoryError, match="no data for base month"):
            model.make_state(history, month)
    with pytest.raises(InsufficientHistoryError, match="at least 3"):
        model.make_state(history, history["ds"].iloc[1])
    with pytest.raises(InsufficientHistoryError, match="no history"):
        model.make_state(history.iloc[:0], first)


@pytest.mark.parametrize(
    ("levers", "message"),
    [
        (np.ones((2, 6)), "shape"),
        (np.ones((2, 4, 7)), "shape"),
        (np.ones((1, 2, 3, 7)), "shape"),
        (np.ones((0, 7)), "shape"),
        ("a lot", "numeric"),
    ],
)
def test_levers_of_the_wrong_shape_are_a_clear_error(model, state, levers, message):
    """The error names the expected shapes and the lever order."""
    with pytest.raises(LeverError, match=message):
        model.predict(state, levers, 3)


@pytest.mark.parametrize(
    ("lever", "value", "message"),
    [
        ("retention_rate", 85.0, "fractions"),
        ("avg_ticket_price", -1.0, "negative"),
        ("upsell_rate", np.nan, "finite"),
    ],
)
def test_impossible_lever_values_are_a_clear_error(model, state, lever, value, message):
    """A percentage passed as a rate, a negative or missing value is refused."""
    plan = state.levers.copy()
    plan[LEVERS.index(lever)] = value
    with pytest.raises(LeverError, match=message):
        model.predict(state, plan[None, :], 3)


def test_bad_horizon_or_coverage_is_a_clear_error(model, state):
    """Horizon 1..12 and coverage strictly between 0 and 1."""
    for horizon in (0, 13):
        with pytest.raises(ValueError, match="horizon"):
            model.predict(state, state.levers[None, :], horizon)
    for coverage in (0.0, 1.0):
        with pytest.raises(ValueError, match="coverage"):
            model.predict(state, state.levers[None, :], 3, coverage=coverage)


def test_an_unfitted_model_says_so(history):
    """make_state before fit or load raises NotFittedError."""
    with pytest.raises(NotFittedError):
        ForwardModel().make_state(history, history["ds"].iloc[10])


def test_an_inconsistent_edit_to_the_base_month_keeps_the_forecast_sane(model, history):
    """Regression: a ticket edited without its membership revenue made the linear
    part of the correction extrapolate to exp(1e9) (an infinite forecast)."""
    base_month = history["ds"].iloc[-1]
    edited = history.copy()
    edited.loc[edited["ds"] == base_month, "avg_ticket_price"] += 1.55

    before_state = model.make_state(history, base_month)
    before = model.predict(before_state, before_state.levers, 3)
    after_state = model.make_state(edited, base_month)
    after = model.predict(after_state, after_state.levers, 3)

    assert np.isfinite(after.revenue).all()
    np.testing.assert_allclose(after.revenue, before.revenue, rtol=0.05)


# ------------------------------------------------- probabilities of moved plans
def test_the_response_spread_is_zero_at_the_status_quo_and_grows_with_the_lift(
    model,
):
    lift = np.array([0.0, 0.02, -0.02, 0.05, 0.10, 0.20])
    spread = model.response_spread(lift)
    assert spread[0] == 0.0
    assert spread[1] == spread[2] > 0.0
    assert (np.diff(spread[[0, 1, 3, 4, 5]]) > 0).all()
    np.testing.assert_allclose(spread, RESPONSE_ERROR * np.abs(lift))


def test_a_plan_further_from_the_status_quo_needs_more_margin(model, state):
    """The revenue reached with 80%: the calibrated quantile at the status quo,
    and a smaller share of the point forecast the further the plan lifts it."""
    status_quo = model.predict(state, state.levers, 3).revenue[0]
    # The calibrated lower 80% quantile's factors, months 1-3, read directly.
    factor = np.exp(model.calibration_for(state, "relative").lower_quantile(3, 0.8))
    at_status_quo = model.revenue_quantile(state, status_quo[None], status_quo, 0.8)
    np.testing.assert_allclose(at_status_quo[0], status_quo * factor, rtol=1e-12)

    plans = _grid_plans(
        state,
        "retention_rate",
        np.minimum(state.levers[0] + np.array([0.0, 0.02, 0.04, 0.06]), 1.0),
    )
    revenue = model.predict(state, plans, 3).revenue
    assert (np.diff(revenue[:, -1]) > 0).all()
    share = model.revenue_quantile(state, revenue, status_quo, 0.8) / revenue
    # Non-increasing up to the empirical distribution's local shape (spreads far
    # below its scale can move the quantile by ~1e-4 either way), and clearly
    # lower at the largest lift.
    assert (np.diff(share[:, -1]) < 1e-4).all()
    assert share[-1, -1] < share[0, -1] - 0.001
    assert share[0, -1] == pytest.approx(factor[-1], rel=1e-9)
    # ...and the plan's reach probability of its own 80% figure is 80%.
    reach = model.reach_probability(
        state, revenue[-1:], share[-1, -1] * revenue[-1, -1], status_quo=status_quo
    )
    assert reach[0] == pytest.approx(0.8, abs=0.01)
    # Without the response error, the calibrated quantile alone.
    plain = copy.copy(model)
    plain.response_error = 0.0
    np.testing.assert_allclose(
        plain.revenue_quantile(state, revenue, status_quo, 0.8), revenue * factor
    )


@pytest.mark.parametrize("error", [-0.1, float("nan"), "0.3"])
def test_a_bad_response_error_is_refused(train_frame, error):
    with pytest.raises(ValueError, match="response_error"):
        ForwardModel(response_error=error).fit(train_frame)
