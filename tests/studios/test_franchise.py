"""studios.franchise: the hold-out export process of bench/real_data.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.franchise import franchise_export, mondays
from studios.importing import parse_metrics_csv
from studios.messy import MINIMAL_COLUMNS


def test_the_same_seed_gives_the_same_export_and_another_seed_another():
    a, b = franchise_export(6, seed=3), franchise_export(6, seed=3)
    c = franchise_export(6, seed=4)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not a.frame["total_revenue"].equals(c.frame["total_revenue"])


def test_a_minimal_export_the_importer_takes_whole(tmp_path):
    export = franchise_export(8, seed=0)
    assert set(export.frame.columns) == set(MINIMAL_COLUMNS)
    path = tmp_path / "franchise.csv"
    export.to_csv(str(path))
    parsed = parse_metrics_csv(path.read_text(), known_studios={})
    assert parsed.errors == []
    assert len(parsed.rows) == len(export.frame)


def test_mondays_counts_the_billing_runs_of_a_month():
    assert mondays(pd.Timestamp("2026-06-01")) == 5  # Mondays 1, 8, 15, 22, 29
    assert mondays(pd.Timestamp("2026-07-01")) == 4  # 6, 13, 20, 27
    assert mondays(pd.Timestamp("2024-02-01")) == 4  # a leap February: 5, 12, 19, 26


def test_weekly_billing_moves_revenue_per_member_with_the_mondays():
    """Some studios' revenue per member is a quarter higher in five-Monday months;
    a monthly-billed studio's is not."""
    frame = franchise_export(30, seed=2).frame
    frame = frame.assign(
        per_member=frame["total_revenue"] / frame["total_members"],
        five=pd.to_datetime(frame["month_year"]).map(mondays) == 5,
    )
    lift = frame.groupby("studio_name").apply(
        lambda s: (
            s.loc[s["five"], "per_member"].median()
            / s.loc[~s["five"], "per_member"].median()
        ),
        include_groups=False,
    )
    assert (lift > 1.12).sum() >= 5
    assert (lift.between(0.95, 1.05)).sum() >= 10


def test_short_histories_are_named_and_the_oracle_covers_every_month():
    export = franchise_export(30, seed=0)
    sizes = export.frame.groupby("studio_name").size()
    assert export.unusable
    assert set(export.unusable) == set(sizes[sizes < 18].index)
    assert set(export.unusable.values()) == {"too_short"}
    merged = export.frame.merge(export.truth, on=["studio_name", "month_year"])
    assert len(merged) == len(export.frame)
    assert (merged["expected_total_revenue"] > 0).all()
    # The oracle is closer to the month's revenue than last month's revenue is.
    merged = merged.sort_values(["studio_name", "month_year"])
    last = merged.groupby("studio_name")["total_revenue"].shift()
    oracle_error = np.abs(
        merged["expected_total_revenue"] / merged["total_revenue"] - 1
    )
    naive_error = np.abs(last / merged["total_revenue"] - 1)
    assert oracle_error.median() < 0.6 * naive_error.median()
