"""The history frame of many studios (PostgreSQL's COPY) equals the frame read
studio by studio through the ORM."""

import datetime as dt

import pandas as pd
import pytest

from forecasting import selectors
from forecasting.selectors import history_frame
from tests.factories import MonthlyMetricFactory, StudioFactory

pytestmark = pytest.mark.django_db


def test_a_batch_history_equals_each_studios_own(loaded_studios, monkeypatch):
    """Values, missing optional values and statics, types and order agree."""
    # given a studio with missing optional values and statics among the others
    sparse = StudioFactory(name="Sparse", square_footage=None, opening_date=None)
    for month in (1, 2):
        MonthlyMetricFactory(
            studio=sparse,
            month_year=dt.date(2024, month, 1),
            retention_rate=None,
            class_pack_revenue=None,
            upsell_rate=None,
        )
    studios = [*loaded_studios, sparse]
    monkeypatch.setattr(selectors, "COPY_MIN_STUDIOS", 2)

    # when the history is read for all of them at once, and for each alone
    together = history_frame(studio_ids=[s.pk for s in studios])
    alone = pd.concat(
        [history_frame(studio_ids=[s.pk]) for s in studios], ignore_index=True
    )

    # then the frames are identical, once sorted the same way
    alone = alone.sort_values(["unique_id", "ds"], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone, check_exact=True)
    assert together["retention_rate"].isna().sum() == 2
    assert (
        together.loc[together["unique_id"] == str(sparse.pk), "square_footage"]
        .isna()
        .all()
    )


def test_the_whole_history_and_a_cut_one(loaded_studios):
    """Without studio ids every studio is read; ``until`` drops the later months."""
    everything = history_frame()
    cut = history_frame(until=dt.date(2022, 1, 1))

    assert everything["unique_id"].nunique() == len(loaded_studios)
    assert cut["ds"].max() <= pd.Timestamp("2022-01-01") < everything["ds"].max()
    assert len(cut) == (everything["ds"] <= pd.Timestamp("2022-01-01")).sum()
