"""studios.messy.recent_months: an export cut to each studio's last months."""

from __future__ import annotations

import pandas as pd
import pytest

from studios.messy import messy_export, recent_months


def _span(frame: pd.DataFrame) -> pd.DataFrame:
    month = pd.PeriodIndex(frame["month_year"], freq="M")
    grouped = pd.Series(month, index=frame.index).groupby(frame["studio_name"])
    return pd.DataFrame(
        {"first": grouped.min(), "last": grouped.max(), "rows": grouped.size()}
    )


def test_each_studio_keeps_its_last_months_within_the_bounds():
    export = messy_export(12, seed=3, unusable=0)
    cut = recent_months(export, 20, 24, seed=3)
    before, after = _span(export.frame), _span(cut.frame)
    assert list(after.index) == list(before.index)
    # every studio still ends where it ended
    assert (after["last"] == before["last"]).all()
    months = (after["last"] - after["first"]).map(lambda d: d.n) + 1
    # a studio longer than the cut spans 20-24 calendar months; a shorter one
    # keeps all it had
    longer = (before["last"] - before["first"]).map(lambda d: d.n) + 1 > 24
    assert longer.any()
    assert months[longer].between(20, 24).all()
    assert (months[~longer] <= 24).all()
    assert (after.loc[~longer, "rows"] == before.loc[~longer, "rows"]).all()
    # the rows kept are the export's own, unchanged
    merged = cut.frame.merge(export.frame, on=["studio_name", "month_year"])
    assert len(merged) == len(cut.frame)
    assert (merged["total_revenue_x"] == merged["total_revenue_y"]).all()


def test_the_cut_is_the_same_for_the_same_seed():
    export = messy_export(8, seed=1)
    first = recent_months(export, 18, 30, seed=5).frame
    pd.testing.assert_frame_equal(first, recent_months(export, 18, 30, seed=5).frame)
    assert not first.equals(recent_months(export, 18, 30, seed=6).frame)


@pytest.mark.parametrize("low, high", [(0, 12), (13, 12)])
def test_bounds_out_of_order_are_refused(low, high):
    with pytest.raises(ValueError, match="low <= high"):
        recent_months(messy_export(4, seed=0), low, high)
