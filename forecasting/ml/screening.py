"""Which studios a training run can learn from, and why the others cannot.

A chain's export holds studios that cannot be used (a studio opened last quarter, a
studio whose system never recorded revenue, a studio with more missing months than
months) beside the ones that can. One such studio must never block the others
(SPEC §11): :func:`screen_training_frame` checks every studio, keeps the usable ones
and returns the reasons for the rest, every reason at once, each saying what is
actually wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forecasting.ml.exceptions import FrameError, NoUsableStudioError
from forecasting.ml.frame import check_frame

__all__ = ["MAX_GAP_SHARE", "MIN_REVENUE_SHARE", "Screening", "screen_training_frame"]

#: A studio missing more than this share of the months in its history is left out.
MAX_GAP_SHARE = 0.25
#: A studio needs positive revenue in at least this share of its months.
MIN_REVENUE_SHARE = 0.5


@dataclass(frozen=True)
class Screening:
    """The outcome of :func:`screen_training_frame`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The validated frame of the usable studios (gaps filled, see
        :func:`forecasting.ml.frame.check_frame`).
    excluded : dict of str to list of str
        Per studio left out, every reason, in plain words.
    """

    frame: pd.DataFrame
    excluded: dict[str, list[str]]


def screen_training_frame(
    frame: pd.DataFrame, *, min_months: int, require_split: bool = True
) -> Screening:
    """Keep the studios a model can learn from; say why each other one is left out.

    A studio is left out when its rows break the frame contract (a required value
    missing, a negative count, a static that changes...), when it has positive
    revenue in fewer than half of its months, when more than a quarter of the
    months in its history are missing, or when it has fewer than ``min_months``
    months of data. A studio left out can still be forecast by the model trained
    on the others, once it has the few months a forecast needs.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long-format history of the chain.
    min_months : int
        Months of data a studio needs to take part in training.
    require_split : bool, default True

    Returns
    -------
    Screening

    Raises
    ------
    FrameError
        When the frame as a whole is unusable (a missing column, no rows), or no
        studio is usable, listing every reason.
    """
    checked = check_frame(frame, require_split=require_split)
    if checked.frame is None:
        raise FrameError("; ".join(checked.problems))
    full = checked.frame
    excluded: dict[str, list[str]] = {
        uid: list(problems) for uid, problems in checked.studio_problems.items()
    }
    short: dict[str, int] = {}  # a short studio's reason, by its place in the list
    for uid, group in full.groupby("unique_id", sort=False):
        uid = str(uid)
        if uid in excluded:
            continue
        reasons = []
        observed = int((~group["is_gap"]).sum())
        span = len(group)
        revenue = group.loc[~group["is_gap"], "total_revenue"].to_numpy()
        with_revenue = int((revenue > 0).sum())
        if with_revenue < MIN_REVENUE_SHARE * observed:
            reasons.append(
                "no revenue recorded"
                if with_revenue == 0
                else f"revenue recorded in only {with_revenue} of its {observed} months"
            )
        if (group["total_members"].to_numpy() <= 0).all():
            reasons.append("no members recorded in any month")
        missing = span - observed
        if missing > MAX_GAP_SHARE * span:
            reasons.append(
                f"{missing} of the {span} months from {group['ds'].iloc[0]:%Y-%m} to "
                f"{group['ds'].iloc[-1]:%Y-%m} are missing (more than a quarter)"
            )
        if observed < min_months:
            short[uid] = len(reasons)
            reasons.append(
                f"has {observed} months of data; training needs at least {min_months}"
            )
        if reasons:
            excluded[uid] = reasons
    usable = full[~full["unique_id"].isin(list(excluded))].reset_index(drop=True)
    if not usable.empty:
        # Only where others train is there a model to forecast the short ones.
        suffix = " (it can still be forecast by the model trained on the others)"
        for uid, at in short.items():
            excluded[uid][at] += suffix
    else:
        detail = "; ".join(
            f"{uid}: {', '.join(reasons)}" for uid, reasons in excluded.items()
        )
        raise NoUsableStudioError(
            f"no studio can be used for training ({detail})", excluded
        )
    return Screening(frame=usable, excluded=excluded)
