"""Features computed for blocks of studios, and the batch path's forecasts from
each studio's latest month, against the one-studio serving path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.features import frame_features, studio_features
from forecasting.ml.frame import METRIC_FIELDS, OPTIONAL_METRICS, frame_from_generated
from forecasting.ml.model import ForwardModel
from studios.generator import generate

FIELDS = (
    "ds",
    "context",
    "constants",
    "levers",
    "reference",
    "has_data",
    "known",
    "flow",
    "members",
    "log_revenue",
    "is_gap",
    "month_of_year",
)


@pytest.fixture(scope="module")
def model() -> ForwardModel:
    return ForwardModel(random_state=0).fit(
        frame_from_generated(generate(n_studios=24, months=48, seed=2))
    )


@pytest.fixture(scope="module")
def messy() -> pd.DataFrame:
    """Studios with histories of different lengths, gaps, missing optional
    metrics and missing statics."""
    frame = frame_from_generated(generate(n_studios=18, months=40, seed=5))
    rng = np.random.default_rng(1)
    uids = frame["unique_id"].unique()
    ids = frame["unique_id"].to_numpy()
    drop = np.zeros(len(frame), dtype=bool)
    for i, uid in enumerate(uids[:9]):
        rows = np.flatnonzero(ids == uid)
        drop[rows[: 2 * i]] = True  # later starts: nine lengths
        if i % 3 == 0:
            drop[rows[25]] = True  # a missing month, interpolated
    frame = frame.loc[~drop].reset_index(drop=True)
    for column in OPTIONAL_METRICS:
        frame.loc[rng.random(len(frame)) < 0.2, column] = np.nan
    frame.loc[frame["unique_id"].isin(uids[10:13]), "square_footage"] = np.nan
    frame.loc[frame["unique_id"].isin(uids[12:15]), "opening_date"] = pd.NaT
    return frame


def _alone(history: pd.DataFrame):
    first = history.iloc[0]
    return studio_features(
        {name: history[name].to_numpy() for name in ("ds", "is_outlier", "is_gap")}
        | {name: history[name].to_numpy() for name in METRIC_FIELDS},
        studio_type=first["studio_type"],
        max_capacity=first["max_capacity"],
        square_footage=first["square_footage"],
        opening_date=first["opening_date"],
    )


def test_block_features_are_each_studios_own_to_the_bit(messy):
    """frame_features (studios in blocks of equal length) gives every studio
    exactly the arrays studio_features gives it alone."""
    from forecasting.ml.frame import validate_frame

    frame = validate_frame(messy)
    assert frame["is_gap"].any()
    assert frame.groupby("unique_id").size().nunique() > 5
    blocks = frame_features(frame)
    assert list(blocks) == list(pd.unique(frame["unique_id"]))
    for uid, history in frame.groupby("unique_id", sort=False):
        alone = _alone(history.reset_index(drop=True))
        for name in FIELDS:
            np.testing.assert_array_equal(
                getattr(blocks[uid], name), getattr(alone, name), err_msg=name
            )
        assert blocks[uid].capacity == alone.capacity


def test_forecast_latest_equals_predict_from_each_studios_latest_month(model, messy):
    """Row i is predict(make_state(history, latest month)) with the base levers
    (the status quo): revenue, band, members, confidence and base revenue."""
    latest = model.forecast_latest(messy, horizon=4, coverage=0.8)

    assert latest.skipped == {}
    assert latest.unique_ids == list(pd.unique(messy["unique_id"]))
    result = latest.result
    for i, uid in enumerate(latest.unique_ids):
        history = messy[messy["unique_id"] == uid].reset_index(drop=True)
        state = model.make_state(history, history["ds"].iloc[-1])
        single = model.predict(state, state.levers, 4, 0.8)
        assert latest.base_months[i] == state.base_month
        assert latest.base_revenue[i] == state.revenue
        for name in ("revenue", "members", "revenue_lower", "revenue_upper"):
            np.testing.assert_allclose(
                getattr(result, name)[i], getattr(single, name)[0], rtol=1e-12
            )
        np.testing.assert_allclose(result.confidence[i], single.confidence[0])


def test_forecast_latest_equals_the_states_path(model, messy):
    """The same numbers as forecast_status_quo over states_for_frame's states."""
    states = list(model.states_for_frame(messy, base_months="latest").values())
    expected = model.forecast_status_quo(states, 3, 0.8)

    latest = model.forecast_latest(messy, 3, 0.8)

    assert latest.unique_ids == [s.unique_id for s in states]
    for name in ("revenue", "members", "revenue_lower", "revenue_upper", "retention"):
        np.testing.assert_allclose(
            getattr(latest.result, name), getattr(expected, name), rtol=1e-12
        )


def test_a_malformed_or_short_studio_is_skipped_with_the_reason(model, messy):
    """A studio breaking the frame contract and one with too short a history are
    left out, each with why; every other studio is still forecast, unchanged."""
    uids = list(pd.unique(messy["unique_id"]))
    broken, short = uids[3], uids[7]
    frame = messy.copy()
    frame.loc[frame["unique_id"] == broken, "total_members"] = -5.0
    frame = frame.drop(
        frame.index[frame["unique_id"] == short][: -(model.min_history - 1)]
    ).reset_index(drop=True)
    clean = model.forecast_latest(messy, 3, 0.8)

    latest = model.forecast_latest(frame, 3, 0.8)

    assert set(latest.skipped) == {broken, short}
    assert "total_members" in latest.skipped[broken]
    assert f"at least {model.min_history}" in latest.skipped[short]
    assert latest.unique_ids == [u for u in uids if u not in {broken, short}]
    kept = [clean.unique_ids.index(u) for u in latest.unique_ids]
    np.testing.assert_array_equal(latest.result.revenue, clean.result.revenue[kept])


def test_forecast_latest_refuses_a_bad_horizon(model, messy):
    with pytest.raises(ValueError, match="horizon"):
        model.forecast_latest(messy, horizon=model.max_horizon + 1)
    with pytest.raises(ValueError, match="coverage"):
        model.forecast_latest(messy, horizon=3, coverage=1.0)
