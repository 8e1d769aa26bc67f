"""The long-format frame contract and the features' use of history up to t only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.exceptions import FrameError
from forecasting.ml.features import CONTEXT_FEATURES, studio_features
from forecasting.ml.frame import (
    METRIC_FIELDS,
    STATIC_COLUMNS,
    frame_from_generated,
    validate_frame,
)
from studios.generator import generate


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return frame_from_generated(generate(n_studios=4, months=30, seed=3))


def _one_studio(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["unique_id"] == frame["unique_id"].iloc[0]].reset_index(
        drop=True
    )


def _features(history: pd.DataFrame):
    first = history.iloc[0]
    return studio_features(
        {
            name: history[name].to_numpy()
            for name in ("ds", "is_outlier", *METRIC_FIELDS)
        },
        studio_type=first["studio_type"],
        max_capacity=first["max_capacity"],
        square_footage=first["square_footage"],
        opening_date=first["opening_date"],
    )


def test_generated_data_becomes_the_contract_frame(frame):
    """Names become unique_id, months become ds, statics are joined, rows sorted."""
    for column in (
        "unique_id",
        "ds",
        *METRIC_FIELDS,
        "is_outlier",
        "split",
        *STATIC_COLUMNS,
    ):
        assert column in frame.columns
    assert "expected_total_revenue" in frame.columns
    assert frame["unique_id"].nunique() == 4
    assert len(frame) == 4 * 30
    assert frame["ds"].dt.is_month_start.all()
    assert set(frame["studio_type"]) <= {
        "yoga",
        "pilates",
        "crossfit",
        "wellness",
        "boutique_fitness",
    }
    assert frame.equals(frame.sort_values(["unique_id", "ds"]).reset_index(drop=True))


def test_studio_type_labels_are_normalised_to_values(frame):
    """Accepts the label "Boutique Fitness" as well as the value."""
    labelled = frame.assign(studio_type="Boutique Fitness")
    assert (validate_frame(labelled)["studio_type"] == "boutique_fitness").all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["total_revenue"]), "missing columns"),
        (lambda f: f.drop(index=5), "gap"),
        (lambda f: pd.concat([f, f.iloc[[3]]]), "duplicated month"),
        (lambda f: f.assign(retention_rate=f["retention_rate"] * 100), "fractions"),
        (lambda f: f.assign(new_members=-f["new_members"]), "negative"),
        (lambda f: f.assign(studio_type="spin"), "unknown studio_type"),
        (lambda f: f.assign(ds=f["ds"] + pd.Timedelta(days=3)), "month starts"),
    ],
)
def test_a_frame_that_breaks_the_contract_is_refused(frame, change, message):
    """Each breach raises FrameError saying what is wrong."""
    with pytest.raises(FrameError, match=message):
        validate_frame(change(frame))


def test_features_at_t_ignore_every_row_after_t(frame):
    """Changing or dropping months after t leaves the features at t unchanged."""
    history = _one_studio(frame)
    t = 17
    full = _features(history)
    truncated = _features(history.iloc[: t + 1])
    changed = history.copy()
    later = changed.index > t
    for column in ("total_revenue", "avg_ticket_price", "new_members", "total_members"):
        changed.loc[later, column] *= 3.0
    changed.loc[later, "is_outlier"] = True
    perturbed = _features(changed)
    for other in (truncated, perturbed):
        np.testing.assert_array_equal(full.context[: t + 1], other.context[: t + 1])
        np.testing.assert_array_equal(full.constants[: t + 1], other.constants[: t + 1])
        np.testing.assert_array_equal(full.reference[: t + 1], other.reference[: t + 1])


def test_context_has_the_spec_features(frame):
    """The SPEC §4 context features are all present and finite after a year."""
    for name in (
        "members",
        "revenue_prev",
        "retention_3m",
        "retention_momentum",
        "revenue_growth_mom",
        "churn_rate",
        "revenue_per_member",
        "class_utilization_3m",
        "ltv_estimate",
        "staff_per_member",
        "retention_x_ticket",
        "attendance_x_classes",
        "upsell_x_members",
        "age_months",
        "max_capacity",
        "studio_type_code",
    ):
        assert name in CONTEXT_FEATURES
    features = _features(_one_studio(frame))
    columns = [
        CONTEXT_FEATURES.index(name)
        for name in ("retention_momentum", "revenue_growth_mom")
    ]
    assert np.isfinite(features.context[12:, columns]).all()
