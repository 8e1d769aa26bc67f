"""studios.walk: the second outside export process of bench/real_data.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.importing import parse_metrics_csv
from studios.messy import MINIMAL_COLUMNS
from studios.walk import walk_export


def test_the_same_seed_gives_the_same_export_and_another_seed_another():
    a, b, c = walk_export(6, seed=3), walk_export(6, seed=3), walk_export(6, seed=4)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not a.frame["total_revenue"].equals(c.frame["total_revenue"])


def test_a_minimal_export_the_importer_takes_whole(tmp_path):
    """Only the minimal columns; every row parses without an error."""
    export = walk_export(8, seed=0)
    assert set(export.frame.columns) == set(MINIMAL_COLUMNS)
    path = tmp_path / "walk.csv"
    export.to_csv(str(path))
    parsed = parse_metrics_csv(path.read_text(), known_studios={})
    assert parsed.errors == []
    assert len(parsed.rows) == len(export.frame)


def test_member_counts_do_not_follow_new_minus_churned():
    """Gross sign-ups and filed cancellations: the identity misses every studio."""
    frame = walk_export(10, seed=1).frame
    misses = []
    for _, studio in frame.groupby("studio_name"):
        months = pd.PeriodIndex(studio["month_year"], freq="M")
        consecutive = (months[1:] - months[:-1]).map(lambda d: d.n) == 1
        members = studio["total_members"].to_numpy()
        rolled = members[:-1] + studio["new_members"].to_numpy()[1:]
        rolled = rolled - studio["churned_members"].to_numpy()[1:]
        gap = np.abs(members[1:] - rolled)[np.asarray(consecutive)]
        misses.append(np.mean(gap > 1))
    assert min(misses) > 0.5


def test_short_histories_are_named_and_the_oracle_covers_every_month():
    export = walk_export(30, seed=0)
    sizes = export.frame.groupby("studio_name").size()
    assert export.unusable and all(sizes[name] <= 20 for name in export.unusable)
    assert set(sizes[sizes <= 20].index) <= set(export.unusable)
    assert set(export.unusable.values()) <= {"too_short"}
    merged = export.frame.merge(export.truth, on=["studio_name", "month_year"])
    assert len(merged) == len(export.frame)
    assert (merged["expected_total_revenue"] > 0).all()
