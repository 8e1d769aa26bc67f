"""A bounded, stratified sample of a chain's studios to train on (SPEC §15).

The forward model is global: every studio is forecast from its own history by
one model, whether or not the studio was among those it learned from (a studio
it never saw gets the intervals of unseen studios). Past a few hundred studios
more training studios stop improving held-out accuracy (``bench/learning_curve.py``
measures where), while training time and memory keep growing with them. So a
large chain trains on a sample of at most ``max_studios`` studios, drawn so that
every kind of studio keeps its share: stratified by studio type, size (tercile of
the latest member count) and age (tercile of the months of history).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["stratified_studio_ids", "stratified_studio_sample", "studio_summary"]


def _terciles(values: pd.Series) -> pd.Series:
    """0, 1 or 2 by tercile; one bin when the values do not spread."""
    ranks = values.rank(method="first")
    return np.floor(3 * (ranks - 1) / max(len(values), 1)).astype(int)


def studio_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """What the stratification reads of each studio of a history frame.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``unique_id`` (sorted), columns ``months`` (rows of history),
        ``members`` (the latest member count) and ``studio_type`` ("" when the
        frame has none): the shape :func:`stratified_studio_ids` takes, which
        ``forecasting.selectors.history_summary`` also returns from the database
        without reading the history.
    """
    return frame.groupby("unique_id", sort=True).agg(
        months=("ds", "size"),
        members=("total_members", "last"),
        studio_type=(
            ("studio_type", "first")
            if "studio_type" in frame.columns
            else ("ds", lambda s: "")
        ),
    )


def stratified_studio_ids(
    studios: pd.DataFrame, max_studios: int | None, *, seed: int = 0
) -> list[str] | None:
    """At most ``max_studios`` studio ids, stratified by type, size and age.

    Each stratum (studio type x member-count tercile x history-length tercile)
    gets a share of the sample proportional to its share of the chain, rounded
    by largest remainder so the sample has exactly ``max_studios`` studios;
    within a stratum the studios are drawn at random with ``seed``.

    Parameters
    ----------
    studios : pandas.DataFrame
        One row per studio, as :func:`studio_summary` returns.
    max_studios : int or None
        The most studios to keep; None keeps every studio.
    seed : int, default 0

    Returns
    -------
    list of str or None
        The chosen ids; None when every studio is kept (at most ``max_studios``
        studios, or ``max_studios`` None).

    Raises
    ------
    ValueError
        If ``max_studios`` is below 1.
    """
    if max_studios is None:
        return None
    if max_studios < 1:
        raise ValueError(f"max_studios must be at least 1, got {max_studios}")
    if len(studios) <= max_studios:
        return None
    studios = studios.sort_index()
    members = studios["members"].fillna(studios["members"].median())
    strata = (
        studios["studio_type"].astype(str)
        + "|"
        + _terciles(members).astype(str)
        + "|"
        + _terciles(studios["months"]).astype(str)
    )
    sizes = strata.value_counts().sort_index()
    quota = sizes * max_studios / len(studios)
    take = np.floor(quota).astype(int)
    # Largest remainder: the seats left go to the strata closest to one more.
    short = max_studios - int(take.sum())
    if short:
        order = (quota - take).sort_values(ascending=False, kind="stable").index
        take[order[:short]] += 1
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    for stratum, n in take.items():
        if n <= 0:
            continue
        members_of = strata.index[strata == stratum].to_numpy()
        chosen.extend(rng.choice(members_of, size=int(n), replace=False).tolist())
    return chosen


def stratified_studio_sample(
    frame: pd.DataFrame, max_studios: int | None, *, seed: int = 0
) -> pd.DataFrame:
    """The rows of at most ``max_studios`` studios, stratified by type, size and age.

    :func:`stratified_studio_ids` on the frame's :func:`studio_summary`. Returns
    ``frame`` itself when it has at most ``max_studios`` studios or
    ``max_studios`` is None.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long-format history with ``unique_id``, ``ds``, ``total_members`` and,
        when present, ``studio_type``.
    max_studios : int or None
        The most studios to keep; None keeps every studio.
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        The sampled studios' rows, in the frame's order.

    Raises
    ------
    ValueError
        If ``max_studios`` is below 1.
    """
    if max_studios is None:
        return frame
    chosen = stratified_studio_ids(studio_summary(frame), max_studios, seed=seed)
    if chosen is None:
        return frame
    return frame[frame["unique_id"].isin(chosen)]
