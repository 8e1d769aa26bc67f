"""studios.dropin: the third outside export process of bench/real_data.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studios.dropin import dropin_export
from studios.importing import parse_metrics_csv
from studios.messy import MINIMAL_COLUMNS


def test_the_same_seed_gives_the_same_export_and_another_seed_another():
    a, b, c = (
        dropin_export(4, seed=3),
        dropin_export(4, seed=3),
        dropin_export(4, seed=4),
    )
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not a.frame["total_revenue"].equals(c.frame["total_revenue"])


def test_a_minimal_export_the_importer_takes_whole(tmp_path):
    """Only the minimal columns; every row parses without an error (attendance
    within the places of the classes held, the identity holding)."""
    export = dropin_export(8, seed=0)
    assert set(export.frame.columns) == set(MINIMAL_COLUMNS)
    path = tmp_path / "dropin.csv"
    export.to_csv(str(path))
    parsed = parse_metrics_csv(path.read_text(), known_studios={})
    assert parsed.errors == []
    assert len(parsed.rows) == len(export.frame)
    assert not any("does not follow" in w.message for w in parsed.warnings)


def test_revenue_is_mostly_visits_with_a_strong_season():
    """Members pay under half of most studios' revenue, and each studio's
    busiest calendar month sees at least a fifth more visits than its quietest."""
    frame = dropin_export(20, seed=1).frame
    fees = frame["total_members"] * frame["avg_ticket_price"] / frame["total_revenue"]
    assert fees.median() < 0.5
    swings = []
    for _, studio in frame.groupby("studio_name"):
        month = pd.PeriodIndex(studio["month_year"], freq="M").month
        by_month = studio.groupby(np.asarray(month))["total_class_attendance"].mean()
        swings.append(by_month.max() / by_month.min())
    assert np.median(swings) > 1.2


def test_the_oracle_covers_every_month():
    export = dropin_export(6, seed=2)
    merged = export.frame.merge(export.truth, on=["studio_name", "month_year"])
    assert len(merged) == len(export.frame)
    assert (merged["expected_total_revenue"] > 0).all()
