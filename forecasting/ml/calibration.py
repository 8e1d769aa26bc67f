"""Split-conformal intervals on the log scale, pooled across horizons.

Validation residuals ``r = log(actual / forecast)`` are divided by a per-horizon
scale ``s_h`` (their interquartile range, made non-decreasing in ``h`` because a
forecast further out is never more certain), and the scaled residuals of every
horizon are pooled into one distribution. The interval at horizon ``h`` and
coverage ``c`` is ``forecast x exp(s_h x q)`` for the pooled quantiles ``q`` at
``(1 -+ c) / 2``, with split conformal prediction's finite-sample correction.

Pooling matters with few studios: a 12-month horizon of 40 studios has 240
validation residuals from 40 histories, and its own 10% and 90% quantiles move by
a third from one set of studios to the next; the scale (a central statistic) is
stable, and the pooled tails rest on twelve times as many residuals.

The residuals are those of forecasts with the levers the studio actually ran. A
plan that moves the levers adds the error of the model's lever *responses*; the
methods that take a ``spread`` add it as an independent normal error of that
standard deviation on the log scale (per horizon; ``ForwardModel`` sets it to
the relative response error times the plan's modelled log lift), convolved with
the calibrated distribution: actual = forecast x exp(s_h x Z + spread x N).
A spread of 0 gives the calibrated distribution unchanged.

Some calendar months are harder to forecast than others wherever they fall in the
horizon: on a chain whose annual members pay in January the forecasts of its
Januaries missed by 17% on average, of its other months by 5-8%. Pooled, such
months widen every interval and are still missed. So each target calendar month gets a factor of its own on the
scale, ``f_m``: the spread (10% to 90% range) of its scaled residuals over the
spread of all of them, shrunk towards 1 by the residuals it rests on (a month seen
in few residuals keeps about the pooled width), and the pooled quantiles are of
the residuals divided by both. A forecast's offsets use the factors of its own
target months (:meth:`HorizonConformal.starting`).

Some studios are harder to forecast than others: a small studio whose revenue
comes in lumps misses by 20-30% where a large steady one misses by 2%, and one
width for all of them is too wide for the one and too narrow for the other. So
each studio the calibration residuals come from gets a factor of its own, ``g_s``,
read the same way as a calendar month's (the 10-90% range of its residuals, scaled
by horizon and calendar month, over that of all of them) and shrunk harder towards
1 (a studio's residuals are a few base months' forecasts at twelve horizons, which
err together); a studio without residuals (new, or not among those scored) keeps
the pooled width.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["HorizonConformal"]

#: Levels at which the pooled distribution is stored.
LEVELS = np.linspace(0.0, 1.0, 1001)
# Residuals a horizon needs for its own scale; fewer borrow the previous horizon's.
_MIN_PER_HORIZON = 20
# A calendar month's factor is shrunk towards 1 as if this many residuals of the
# pooled spread were added to its own; a month with fewer than
# _MIN_PER_MONTH residuals keeps a factor of 1.
_CALENDAR_PRIOR = 60
_MIN_PER_MONTH = 20
# The same for a studio's factor; its residuals are fewer independent errors than
# their count (one base month's twelve horizons err together), so a heavier prior.
_STUDIO_PRIOR = 120
_MIN_PER_STUDIO = 20
# Interquartile range of a standard normal: makes the scale a standard deviation.
_IQR_TO_SD = 1.349
# The response error's normal distribution, as equal-probability nodes (midpoints
# of 64 bins): the convolution with it is a mean over them.
_NODES = np.array([NormalDist().inv_cdf((k + 0.5) / 64) for k in range(64)])
# Ratios (response spread / calibrated scale) at which the quantile of the
# convolution is tabulated for the optimizer; beyond the last the normal term
# dominates and the quantile grows in proportion.
_RHO = np.concatenate([[0.0], np.geomspace(1e-3, 40.0, 120)])
# Points of the scaled-offset grid on which a convolved CDF is inverted.
_GRID = 1201


@dataclass(frozen=True)
class HorizonConformal:
    """Calibrated log-residual distribution per horizon.

    Attributes
    ----------
    scale : numpy.ndarray
        Shape (max_horizon,): non-decreasing residual scale per horizon.
    quantiles : numpy.ndarray
        Shape (len(LEVELS),): quantiles of the pooled scaled residuals.
    n : int
        Number of calibration residuals.
    calendar : numpy.ndarray, optional
        Shape (12,): each target calendar month's factor on the scale, January
        first; None for none (all 1, and for :meth:`starting`'s result, whose
        ``scale`` holds them already).
    studios : dict of str to float, optional
        Each calibrated studio's factor on the scale; a studio not in it has 1.
        None for none (and for :meth:`starting`'s result).
    """

    scale: np.ndarray
    quantiles: np.ndarray
    n: int
    calendar: np.ndarray | None = None
    studios: dict[str, float] | None = None
    # Tabulated convolved quantiles per level (see _quantile_table); a cache.
    _tables: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def fit(
        cls,
        residuals: np.ndarray,
        horizon: np.ndarray,
        max_horizon: int,
        month: np.ndarray | None = None,
        studio: np.ndarray | None = None,
        fold: np.ndarray | None = None,
    ) -> HorizonConformal:
        """Calibrate on log residuals and their horizons.

        Parameters
        ----------
        residuals : numpy.ndarray
            ``log(actual / forecast)`` of the calibration pairs.
        horizon : numpy.ndarray of int
            Horizon of each residual, 1..max_horizon.
        max_horizon : int
        month : numpy.ndarray of int, optional
            Each residual's target calendar month, 1..12: with it, each month
            gets its factor on the scale (see the module's description).
        studio : numpy.ndarray of str, optional
            Each residual's studio: with it, each studio gets its factor on
            the scale, read after the calendar months' (see the module's
            description).
        fold : numpy.ndarray of int, optional
            Each residual's fold (the rolling origin that scored it): the
            pooled quantiles are then of residuals divided by studio factors
            read from the other folds, as a served forecast's factor is read
            from months before it. Factors read from the residuals they divide
            make those residuals look more alike than the next ones will be,
            and the intervals cover less than they say (on 40 messy studios,
            75.3% at 80%, 74.5% at months 7-12).

        Returns
        -------
        HorizonConformal

        Raises
        ------
        ValueError
            If there are no residuals at horizon 1 to start the scales from.
        """
        residuals = np.asarray(residuals, dtype=np.float64)
        horizon = np.asarray(horizon, dtype=np.int64)
        scale = np.empty(max_horizon)
        previous = np.nan
        for h in range(1, max_horizon + 1):
            at = residuals[horizon == h]
            if len(at) >= _MIN_PER_HORIZON:
                q25, q75 = np.quantile(at, [0.25, 0.75])
                current = max((q75 - q25) / _IQR_TO_SD, 1e-6)
            else:
                current = previous
            if np.isnan(current):
                raise ValueError(
                    f"calibration needs at least {_MIN_PER_HORIZON} residuals at horizon 1"
                )
            previous = current if np.isnan(previous) else max(previous, current)
            scale[h - 1] = previous
        scaled = residuals / scale[horizon - 1]
        calendar = None
        if month is not None:
            calendar = _calendar_factors(scaled, np.asarray(month, dtype=np.int64))
            scaled = scaled / calendar[np.asarray(month, dtype=np.int64) - 1]
        studios = None
        if studio is not None:
            studio = np.asarray(studio).astype(str)
            studios = _studio_factors(scaled, studio)
            scaled = scaled / _held_out_factors(scaled, studio, fold, studios)
        return cls(
            scale=scale,
            quantiles=np.quantile(scaled, LEVELS),
            n=len(residuals),
            calendar=calendar,
            studios=studios,
        )

    def studio_factor(self, studio: str | None) -> float:
        """``studio``'s factor on the scale (1 for one not calibrated)."""
        if self.studios is None or studio is None:
            return 1.0
        return self.studios.get(str(studio), 1.0)

    def starting(self, base_month: int, studio: str | None = None) -> HorizonConformal:
        """The distribution of forecasts of ``studio`` from a base month in
        calendar month ``base_month`` (1..12): each horizon's scale times its
        target month's factor and the studio's. Itself when there are no
        factors."""
        factor = self.studio_factor(studio)
        if self.calendar is None and self.studios is None:
            return self
        scale = self.scale * factor
        if self.calendar is not None:
            target = (int(base_month) - 1 + np.arange(1, len(self.scale) + 1)) % 12
            scale = scale * self.calendar[target]
        return replace(
            self,
            scale=scale,
            calendar=None,
            studios=None,
            _tables=self._tables,  # the pooled quantiles are the same
        )

    def interval(self, horizon: int, coverage: float) -> tuple[np.ndarray, np.ndarray]:
        """Log offsets of the interval's bounds for horizons 1..``horizon``.

        The upper level is ``(1 - alpha/2)(n + 1) / n``, split conformal
        prediction's finite-sample correction, and the lower one mirrors it.
        """
        alpha = 1.0 - coverage
        upper_level = min((1.0 - alpha / 2.0) * (self.n + 1) / self.n, 1.0)
        lower_level = 1.0 - upper_level
        lower = float(np.interp(lower_level, LEVELS, self.quantiles))
        upper = float(np.interp(upper_level, LEVELS, self.quantiles))
        scale = self.scale[:horizon]
        return scale * lower, scale * upper

    def lower_quantile(self, horizon: int, probability: float) -> np.ndarray:
        """Log offsets, horizons 1..``horizon``, that actuals exceed with ``probability``.

        The ``1 - probability`` quantile of the calibrated distribution, with the
        same finite-sample correction as :meth:`interval`'s lower bound: a forecast
        ``x exp(offset)`` is reached or beaten in ``probability`` of cases.
        """
        level = 1.0 - min(probability * (self.n + 1) / self.n, 1.0)
        return self.scale[:horizon] * float(np.interp(level, LEVELS, self.quantiles))

    def lower_quantile_with(
        self, horizon: int, probability: float, spread: np.ndarray
    ) -> np.ndarray:
        """:meth:`lower_quantile` with a response error of sd ``spread`` added.

        ``spread`` has shape (n, horizon): the log-scale standard deviation of the
        lever-response error of ``n`` plans at months 1..``horizon``. Returns the
        offsets (n, horizon) that actuals exceed with ``probability`` under the
        convolution of the calibrated distribution with that normal error; a
        spread of 0 gives :meth:`lower_quantile` exactly, and a larger spread a
        lower offset (for ``probability`` above the calibrated median's) once it
        is more than a few hundredths of the scale: below that the pooled
        quantiles' local shape can move it by about 1e-3 of the scale either
        way (checked by Monte Carlo), 1e-4 of revenue at the usual scales.
        """
        spread = np.asarray(spread, dtype=np.float64)
        if spread.ndim != 2 or spread.shape[1] != horizon:
            raise ValueError(
                f"spread must have shape (n, {horizon}), got {spread.shape}"
            )
        if (spread < 0).any() or not np.isfinite(spread).all():
            raise ValueError("spread must be finite and non-negative")
        level = 1.0 - min(probability * (self.n + 1) / self.n, 1.0)
        table = self._quantile_table(level)
        scale = self.scale[:horizon]
        rho = spread / scale
        inside = np.interp(np.minimum(rho, _RHO[-1]), _RHO, table)
        # Past the table the normal term dominates: its quantile grows with rho.
        beyond = table[-1] + (rho - _RHO[-1]) * (table[-1] - table[-2]) / (
            _RHO[-1] - _RHO[-2]
        )
        return scale * np.where(rho <= _RHO[-1], inside, beyond)

    def _mixture_cdf(self, rho: float) -> tuple[np.ndarray, np.ndarray]:
        """Grid and CDF of ``Z + rho x N`` (Z the pooled scaled residual)."""
        # One grid for every rho up to 1, so that the inversion's interpolation
        # error is the same as at rho 0 and cancels (small spreads stay monotone).
        pad = 6.0 * max(rho, 1.0)
        low = self.quantiles[0] - pad
        high = self.quantiles[-1] + pad
        grid = np.linspace(low, high, _GRID)
        cdf = np.interp(
            grid[:, None] - rho * _NODES[None, :],
            self.quantiles,
            LEVELS,
            left=0.0,
            right=1.0,
        ).mean(axis=1)
        return grid, cdf

    def _mixture_quantiles(
        self, rho: float, levels: np.ndarray, at_zero: np.ndarray | None = None
    ) -> np.ndarray:
        """Quantiles of ``Z + rho x N`` at ``levels``, exact at ``rho`` 0.

        ``at_zero``: the grid inversion at ``rho`` 0 (computed when not given).
        """
        exact = np.interp(levels, LEVELS, self.quantiles)
        if rho == 0.0:
            return exact
        if at_zero is None:
            at_zero = _invert(levels, *self._mixture_cdf(0.0))
        # The grid inversion's own error cancels against its value at rho 0.
        return exact + _invert(levels, *self._mixture_cdf(rho)) - at_zero

    def _quantile_table(self, level: float) -> np.ndarray:
        """The ``level`` quantile of ``Z + rho x N`` at every tabulated ``rho``."""
        key = round(float(level), 12)
        if key not in self._tables:
            levels = np.array([level])
            at_zero = _invert(levels, *self._mixture_cdf(0.0))
            self._tables[key] = np.array(
                [self._mixture_quantiles(float(r), levels, at_zero)[0] for r in _RHO]
            )
        return self._tables[key]

    def exceedance(
        self, log_ratio: np.ndarray, horizon: int, spread: float = 0.0
    ) -> np.ndarray:
        """Probability that ``log(actual / forecast) >= log_ratio`` at ``horizon``.

        With ``spread`` > 0, under the calibrated distribution convolved with a
        normal response error of that standard deviation (see
        :meth:`lower_quantile_with`).
        """
        if not np.isfinite(spread) or spread < 0:
            raise ValueError("spread must be finite and non-negative")
        scale = self.scale[horizon - 1]
        scaled = np.asarray(log_ratio, dtype=np.float64) / scale
        if spread == 0.0:
            return 1.0 - np.interp(scaled, self.quantiles, LEVELS, left=0.0, right=1.0)
        rho = spread / scale
        cdf = np.interp(
            scaled[..., None] - rho * _NODES,
            self.quantiles,
            LEVELS,
            left=0.0,
            right=1.0,
        ).mean(axis=-1)
        return 1.0 - cdf

    def level_offsets(self, horizon: int, spread: np.ndarray) -> np.ndarray:
        """Log offsets at every stored level, months 1..``horizon``: (levels, horizon).

        The calibrated quantiles convolved with each month's response ``spread``
        (shape (horizon,)); months err together (the same level every month).
        """
        spread = np.asarray(spread, dtype=np.float64)
        if spread.shape != (horizon,) or (spread < 0).any():
            raise ValueError(f"spread must be {horizon} non-negative values")
        scale = self.scale[:horizon]
        return np.column_stack(
            [
                scale[h] * self._mixture_quantiles(float(spread[h] / scale[h]), LEVELS)
                for h in range(horizon)
            ]
        )

    def within(self, tolerance: float, horizon: int) -> np.ndarray:
        """Calibrated probability that ``|log(actual / forecast)| <= tolerance``."""
        bound = tolerance / self.scale[:horizon]

        def cdf(x: np.ndarray) -> np.ndarray:
            return np.interp(x, self.quantiles, LEVELS, left=0.0, right=1.0)

        return cdf(bound) - cdf(-bound)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (see :meth:`from_json`)."""
        out: dict[str, Any] = {
            "scale": self.scale.tolist(),
            "quantiles": self.quantiles.tolist(),
            "n": self.n,
        }
        if self.calendar is not None:
            out["calendar"] = self.calendar.tolist()
        if self.studios is not None:
            out["studios"] = dict(sorted(self.studios.items()))
        return out

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> HorizonConformal:
        """Rebuild from :meth:`to_json`'s output."""
        calendar = payload.get("calendar")  # none in models saved before it
        studios = payload.get("studios")  # nor these
        return cls(
            scale=np.asarray(payload["scale"], dtype=np.float64),
            quantiles=np.asarray(payload["quantiles"], dtype=np.float64),
            n=int(payload["n"]),
            calendar=None
            if calendar is None
            else np.asarray(calendar, dtype=np.float64),
            studios=None
            if studios is None
            else {str(k): float(v) for k, v in studios.items()},
        )


def _spread(values: np.ndarray) -> float:
    low, high = np.quantile(values, [0.1, 0.9])
    return float(high - low)


def _group_factors(
    scaled: np.ndarray, group: np.ndarray, *, prior: int, minimum: int
) -> dict[Any, float]:
    """Each group's factor on the scale: the 10-90% range of its residuals over
    that of all of them, to the power ``n / (n + prior)`` for its ``n``
    residuals; 1 for a group with fewer than ``minimum``, and for every group
    when the residuals have no spread."""
    pooled = _spread(scaled)
    labels, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
    factors = {label.item(): 1.0 for label in labels}
    if not pooled > 0:
        return factors
    for k, label in enumerate(labels):
        if counts[k] < minimum:
            continue
        ratio = max(_spread(scaled[inverse == k]), 1e-6) / pooled
        factors[label.item()] = float(ratio ** (counts[k] / (counts[k] + prior)))
    return factors


def _studio_factors(scaled: np.ndarray, studio: np.ndarray) -> dict[str, float]:
    return _group_factors(scaled, studio, prior=_STUDIO_PRIOR, minimum=_MIN_PER_STUDIO)


def _held_out_factors(
    scaled: np.ndarray,
    studio: np.ndarray,
    fold: np.ndarray | None,
    factors: dict[str, float],
) -> np.ndarray:
    """Each residual's studio factor: read from the other folds' residuals
    where there are two folds or more, ``factors`` (read from all of them)
    otherwise."""
    divisor = np.array([factors.get(s, 1.0) for s in studio])
    if fold is None:
        return divisor
    fold = np.asarray(fold)
    for k in np.unique(fold):
        at = fold == k
        if at.all():
            break
        others = _studio_factors(scaled[~at], studio[~at])
        divisor[at] = [others.get(s, 1.0) for s in studio[at]]
    return divisor


def _calendar_factors(scaled: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Each target calendar month's factor on the scale (see the module's
    description), January first."""
    factors = _group_factors(
        scaled, month, prior=_CALENDAR_PRIOR, minimum=_MIN_PER_MONTH
    )
    return np.array([factors.get(m, 1.0) for m in range(1, 13)])


def _invert(levels: np.ndarray, grid: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Where a non-decreasing ``cdf`` on ``grid`` reaches each of ``levels``."""
    # Flat stretches of the CDF: keep the first grid point of each value.
    keep = np.concatenate([[True], np.diff(cdf) > 0])
    return np.interp(levels, cdf[keep], grid[keep])
