"""Public API of the generator: frames, columns, types, determinism, splits."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from studios.generator import METRIC_FIELDS, GeneratedData, generate

STUDIO_COLUMNS = [
    "name",
    "studio_type",
    "city",
    "state",
    "opening_date",
    "square_footage",
    "max_capacity",
]
INT_FIELDS = {
    "total_members",
    "new_members",
    "churned_members",
    "total_classes_held",
    "total_class_attendance",
    "staff_count",
    "intro_offer_conversions",
}
MONEY_FIELDS = {
    "avg_ticket_price",
    "membership_revenue",
    "class_pack_revenue",
    "intro_offer_revenue",
    "retail_revenue",
    "upsell_revenue",
    "total_revenue",
}
EXPECTED_REQUIRED = {
    "total_revenue",
    "total_members",
    "new_members",
    "churned_members",
    "retention_rate",
    "avg_ticket_price",
    "class_attendance_rate",
    "total_class_attendance",
    "upsell_rate",
    "membership_revenue",
    "class_pack_revenue",
    "intro_offer_revenue",
    "retail_revenue",
    "upsell_revenue",
}


@pytest.fixture(scope="module")
def data() -> GeneratedData:
    return generate(n_studios=30, months=60, seed=3)


def test_contract_metric_fields_are_all_present(data: GeneratedData) -> None:
    """Every MonthlyMetric field of docs/CONTRACTS.md is a column, with its name."""
    contract = {
        "total_members", "new_members", "churned_members", "retention_rate",
        "avg_ticket_price", "total_classes_held", "total_class_attendance",
        "class_attendance_rate", "staff_count", "staff_utilization_rate",
        "membership_revenue", "class_pack_revenue", "intro_offer_revenue",
        "retail_revenue", "upsell_revenue", "total_revenue",
        "intro_offer_conversions", "upsell_rate", "average_member_lifetime_months",
    }  # fmt: skip
    assert set(METRIC_FIELDS) == contract
    expected = {"studio_name", "month_year", "is_outlier", "outlier_reason", "split"}
    assert expected | contract <= set(data.metrics.columns)


def test_frames_have_the_documented_columns(data: GeneratedData) -> None:
    """The four frames carry exactly the documented columns."""
    assert list(data.studios.columns) == STUDIO_COLUMNS
    assert list(data.class_types.columns) == [
        "studio_name",
        "class_name",
        "class_price",
        "max_capacity",
        "avg_attendance_rate",
    ]
    assert list(data.cohorts.columns) == [
        "studio_name",
        "join_month",
        "cohort_size",
        "retention_month_1",
        "retention_month_3",
        "retention_month_6",
        "retention_month_12",
        "avg_ltv",
    ]
    expected_columns = {c for c in data.metrics.columns if c.startswith("expected_")}
    assert {f"expected_{f}" for f in EXPECTED_REQUIRED} <= expected_columns
    assert {c[len("expected_") :] for c in expected_columns} <= set(METRIC_FIELDS)


def test_metric_dtypes(data: GeneratedData) -> None:
    """Counts are int64, rates and money float, money rounded to cents."""
    m = data.metrics
    for field in METRIC_FIELDS:
        if field in INT_FIELDS:
            assert m[field].dtype == np.int64, field
        else:
            assert m[field].dtype == np.float64, field
    for field in MONEY_FIELDS:
        assert np.allclose(m[field], m[field].round(2), rtol=0, atol=1e-9), field
    for column in m.columns:
        if column.startswith("expected_"):
            assert m[column].dtype == np.float64, column
    assert m["is_outlier"].dtype == bool
    assert pd.api.types.is_datetime64_any_dtype(m["month_year"])
    assert pd.api.types.is_datetime64_any_dtype(data.cohorts["join_month"])


def test_one_row_per_studio_month_ending_at_end_month(data: GeneratedData) -> None:
    """60 consecutive month starts per studio, the last one the end month."""
    m = data.metrics
    assert len(m) == 30 * 60
    assert not m.duplicated(["studio_name", "month_year"]).any()
    months = pd.DatetimeIndex(m["month_year"].unique())
    assert (months.day == 1).all()
    assert months.max() == pd.Timestamp("2026-10-01")
    assert months.min() == pd.Timestamp("2021-11-01")
    assert set(m["studio_name"]) == set(data.studios["name"])
    # Sorted by studio then month.
    assert m["month_year"].is_monotonic_increasing is False
    for _, group in m.groupby("studio_name", sort=False):
        assert group["month_year"].is_monotonic_increasing


def test_end_month_accepts_a_string_or_a_date() -> None:
    """end_month may be 'YYYY-MM' or any date in the month."""
    a = generate(n_studios=2, months=13, seed=1, end_month="2024-03")
    b = generate(n_studios=2, months=13, seed=1, end_month=dt.date(2024, 3, 17))
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.metrics["month_year"].max() == pd.Timestamp("2024-03-01")


@pytest.mark.parametrize(
    "kwargs", [{"n_studios": 0}, {"months": 0}, {"end_month": "March 2024"}]
)
def test_rejects_bad_arguments(kwargs: dict) -> None:
    """Non-positive sizes and malformed months raise ValueError."""
    with pytest.raises(ValueError):
        generate(**kwargs)


def test_result_is_frozen(data: GeneratedData) -> None:
    """GeneratedData cannot be reassigned."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.metrics = pd.DataFrame()  # type: ignore[misc]


def test_same_seed_gives_identical_frames() -> None:
    """Generation is deterministic for a seed."""
    a = generate(n_studios=25, months=36, seed=11)
    b = generate(n_studios=25, months=36, seed=11)
    for field in ("studios", "metrics", "class_types", "cohorts"):
        pd.testing.assert_frame_equal(getattr(a, field), getattr(b, field))


def test_different_seeds_give_different_data() -> None:
    """Another seed gives other studios and other numbers."""
    a = generate(n_studios=25, months=36, seed=11)
    b = generate(n_studios=25, months=36, seed=12)
    assert list(a.studios["name"]) != list(b.studios["name"])
    assert not np.array_equal(
        a.metrics["total_revenue"].to_numpy(), b.metrics["total_revenue"].to_numpy()
    )


@pytest.mark.parametrize(("months", "train"), [(60, 48), (13, 1), (24, 12)])
def test_split_is_last_6_test_6_before_validation(months: int, train: int) -> None:
    """Months 1-48 train, 49-54 validation, 55-60 test; same rule for other lengths."""
    m = generate(n_studios=3, months=months, seed=0).metrics
    for _, group in m.groupby("studio_name"):
        split = group.sort_values("month_year")["split"].tolist()
        assert split == ["train"] * train + ["validation"] * 6 + ["test"] * 6


def test_studio_frame(data: GeneratedData) -> None:
    """Studios have a type from the contract, a city, a capacity and an opening date."""
    s = data.studios
    assert s["name"].is_unique
    assert set(s["studio_type"]) <= {
        "yoga",
        "pilates",
        "crossfit",
        "wellness",
        "boutique_fitness",
    }
    assert s["max_capacity"].between(10, 30).all()
    assert s["square_footage"].dtype == np.int64
    assert (s["square_footage"] > 0).all()
    assert all(isinstance(d, dt.date) for d in s["opening_date"])
    for row in s.itertuples():
        assert row.name.endswith(f" — {row.city}")
        assert len(row.state) == 2


@pytest.mark.parametrize("months", [8, 24, 25, 36, 120])
def test_two_or_three_outliers_for_other_history_lengths(months: int) -> None:
    """From 25 months on they all fall in train; shorter histories use any month
    but the first."""
    m = generate(n_studios=50, months=months, seed=2).metrics
    counts = m.groupby("studio_name")["is_outlier"].sum()
    assert counts.between(2, 3).all()
    assert not m.loc[m["month_year"] == m["month_year"].min(), "is_outlier"].any()
    if months >= 25:
        assert (m.loc[m["is_outlier"], "split"] == "train").all()
