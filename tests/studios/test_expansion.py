"""studios.expansion: the fourth outside export process of bench/real_data.py."""

from __future__ import annotations

import pandas as pd

from studios.expansion import expansion_export
from studios.importing import parse_metrics_csv
from studios.messy import MINIMAL_COLUMNS


def test_the_same_seed_gives_the_same_export_and_another_seed_another():
    a, b, c = (
        expansion_export(4, seed=3),
        expansion_export(4, seed=3),
        expansion_export(4, seed=4),
    )
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert not a.frame["total_revenue"].equals(c.frame["total_revenue"])


def test_a_minimal_export_the_importer_takes_whole(tmp_path):
    """Only the minimal columns; every row parses (the closure's freeze and the
    booking-system moves are warnings, never errors)."""
    export = expansion_export(9, seed=0)
    assert set(export.frame.columns) == set(MINIMAL_COLUMNS)
    path = tmp_path / "expansion.csv"
    export.to_csv(str(path))
    parsed = parse_metrics_csv(path.read_text(), known_studios={})
    assert parsed.errors == []
    assert len(parsed.rows) == len(export.frame)


def test_young_studios_ramp_up_and_the_chain_closes_together():
    """Every third studio opens during the export with a handful of members and
    grows; the two closed months hold no class in any studio open then."""
    export = expansion_export(12, seed=1)
    frame = export.frame
    studios = sorted(frame["studio_name"].unique())
    young = studios[2::3]
    for name in young:
        members = frame.loc[frame["studio_name"] == name, "total_members"].to_numpy()
        assert members[0] <= 30
        assert members[-1] > 2 * members[0]
    no_class = frame[frame["total_classes_held"] == 0]
    assert no_class["month_year"].nunique() == 2
    open_then = frame[frame["month_year"].isin(no_class["month_year"])]
    assert (open_then["total_classes_held"] == 0).all()
    assert any(
        "frozen" in how for hows in export.identity_breaks.values() for how in hows
    )


def test_annual_billing_makes_januaries_of_their_own():
    """Some studios' Januaries are worth twice an ordinary month or more and
    others' are not: a season the chain's studios do not share."""
    frame = expansion_export(24, seed=0).frame
    ratios = []
    for _, studio in frame.groupby("studio_name"):
        month = pd.PeriodIndex(studio["month_year"], freq="M").month
        revenue = studio["total_revenue"].to_numpy()
        january = revenue[month == 1].mean()
        others = revenue[(month == 11) | (month == 12) | (month == 2)].mean()
        ratios.append(january / others)
    assert sum(r > 1.8 for r in ratios) >= 3
    assert sum(r < 1.3 for r in ratios) >= 10


def test_the_oracle_covers_every_month():
    export = expansion_export(6, seed=2)
    merged = export.frame.merge(export.truth, on=["studio_name", "month_year"])
    assert len(merged) == len(export.frame)
    assert (merged["expected_total_revenue"] >= 0).all()
