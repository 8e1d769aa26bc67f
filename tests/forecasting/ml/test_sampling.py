"""The stratified training sample of a large chain (SPEC §15)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.ml.sampling import stratified_studio_sample


def _chain(n_yoga: int = 60, n_crossfit: int = 30) -> pd.DataFrame:
    """Studios of two types, sizes 10..n and histories of 24..60 months."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_yoga + n_crossfit):
        months = int(rng.integers(24, 61))
        for t in range(months):
            rows.append(
                {
                    "unique_id": f"s{i:03d}",
                    "ds": pd.Timestamp("2020-01-01") + pd.DateOffset(months=t),
                    "studio_type": "yoga" if i < n_yoga else "crossfit",
                    "total_members": 10.0 + i,
                }
            )
    return pd.DataFrame(rows)


def test_a_chain_within_the_cap_is_kept_whole():
    chain = _chain()
    assert stratified_studio_sample(chain, 200) is chain
    assert stratified_studio_sample(chain, None) is chain


def test_the_sample_has_the_cap_and_every_row_of_each_chosen_studio():
    chain = _chain()
    sample = stratified_studio_sample(chain, 30, seed=0)
    assert sample["unique_id"].nunique() == 30
    sizes = chain.groupby("unique_id").size()
    kept = sample.groupby("unique_id").size()
    assert (kept == sizes[kept.index]).all()


def test_each_type_keeps_its_share_of_the_chain():
    chain = _chain(n_yoga=60, n_crossfit=30)
    sample = stratified_studio_sample(chain, 30, seed=0)
    types = sample.groupby("unique_id")["studio_type"].first().value_counts()
    # two thirds yoga, one third crossfit, give or take the rounding of 9 strata
    assert types["yoga"] == pytest.approx(20, abs=2)
    assert types["crossfit"] == pytest.approx(10, abs=2)


def test_small_and_large_studios_are_both_sampled():
    chain = _chain()
    sample = stratified_studio_sample(chain, 30, seed=0)
    members = sample.groupby("unique_id")["total_members"].last()
    everyone = chain.groupby("unique_id")["total_members"].last()
    assert (
        members.min()
        < everyone.quantile(1 / 3)
        < everyone.quantile(2 / 3)
        < (members.max())
    )


def test_the_same_seed_draws_the_same_studios_and_another_seed_others():
    chain = _chain()
    first = set(stratified_studio_sample(chain, 30, seed=0)["unique_id"])
    again = set(stratified_studio_sample(chain, 30, seed=0)["unique_id"])
    other = set(stratified_studio_sample(chain, 30, seed=1)["unique_id"])
    assert first == again
    assert first != other


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        stratified_studio_sample(_chain(), 0)
