"""Batching machinery: searches written as generators, run in lockstep on one model.

The forward model costs about the same for one row as for a few hundred, so the number
of *calls* is what makes a solve slow. Every search in this package is a generator that
yields a batch of lever rows and receives the model's monthly revenue for them.
:func:`parallel` merges several such searches into one, concatenating whatever they ask
for at each round into a single batch, and :func:`run` feeds a search from the model.
The recommended plan, the 2x-relaxed plan, the alternatives and the maximisation all
advance together, so a full solve costs about as many calls as its longest search.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from optimization.solver.levers import N_LEVERS

__all__ = ["CountingModel", "PredictRevenue", "Task", "evaluate", "parallel", "run"]

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

#: ``levers (n, 7) -> monthly revenue (n, horizon)`` for months 1..horizon.
PredictRevenue = Callable[[FloatArray], npt.ArrayLike]

#: A search: yields lever rows ``(n, 7)``, receives monthly revenue ``(n, horizon)``.
Task = Generator[FloatArray, FloatArray, T]


class CountingModel:
    """Wrap ``predict_revenue``: check its output and count calls and rows.

    Parameters
    ----------
    predict_revenue
        The forward model as a batch callable.
    horizon
        Months needed; the model may return more columns, the extra ones are ignored.
    """

    def __init__(self, predict_revenue: PredictRevenue, horizon: int) -> None:
        self.predict_revenue = predict_revenue
        self.horizon = horizon
        self.calls = 0
        self.rows = 0

    def __call__(self, levers: FloatArray) -> FloatArray:
        """Return monthly revenue ``(n, horizon)`` for lever rows ``(n, 7)``."""
        monthly = np.asarray(self.predict_revenue(levers), dtype=float)
        self.calls += 1
        self.rows += len(levers)
        if monthly.ndim != 2 or monthly.shape[0] != len(levers):
            raise ValueError(
                f"predict_revenue returned shape {monthly.shape} for {len(levers)} rows;"
                " expected (rows, horizon)"
            )
        if monthly.shape[1] < self.horizon:
            raise ValueError(
                f"predict_revenue returned {monthly.shape[1]} months, need {self.horizon}"
            )
        monthly = monthly[:, : self.horizon]
        # A NaN would silently lose every comparison and stall the search; it is a
        # forward-model bug, so say so instead.
        if not np.isfinite(monthly).all():
            raise ValueError("predict_revenue returned non-finite revenue")
        return monthly


def run(model: CountingModel, task: Task[T]) -> T:
    """Drive ``task`` to completion, one model call per batch it yields."""
    try:
        rows = next(task)
        while True:
            monthly = (
                model(rows) if len(rows) else np.empty((0, model.horizon), dtype=float)
            )
            rows = task.send(monthly)
    except StopIteration as stop:
        return stop.value


def parallel(tasks: Sequence[Task[Any]]) -> Task[list[Any]]:
    """Advance several searches in lockstep; return their results in order.

    Each round concatenates the batches of the searches still running into one batch,
    so the round costs one model call however many searches take part.
    """
    results: list[Any] = [None] * len(tasks)
    pending: dict[int, FloatArray] = {}
    for k, task in enumerate(tasks):
        try:
            pending[k] = next(task)
        except StopIteration as stop:
            results[k] = stop.value
    while pending:
        order = list(pending)
        monthly = yield np.concatenate([pending[k] for k in order]).reshape(
            -1, N_LEVERS
        )
        start = 0
        advanced: dict[int, FloatArray] = {}
        for k in order:
            stop_row = start + len(pending[k])
            try:
                advanced[k] = tasks[k].send(monthly[start:stop_row])
            except StopIteration as stop:
                results[k] = stop.value
            start = stop_row
        pending = advanced
    return results


def evaluate(rows: FloatArray) -> Task[FloatArray]:
    """Return the monthly revenue of ``rows`` (a one-batch search)."""
    monthly = yield rows
    return monthly
