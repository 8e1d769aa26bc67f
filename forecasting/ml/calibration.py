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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HorizonConformal"]

#: Levels at which the pooled distribution is stored.
LEVELS = np.linspace(0.0, 1.0, 1001)
# Residuals a horizon needs for its own scale; fewer borrow the previous horizon's.
_MIN_PER_HORIZON = 20
# Interquartile range of a standard normal: makes the scale a standard deviation.
_IQR_TO_SD = 1.349


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
    """

    scale: np.ndarray
    quantiles: np.ndarray
    n: int

    @classmethod
    def fit(
        cls, residuals: np.ndarray, horizon: np.ndarray, max_horizon: int
    ) -> HorizonConformal:
        """Calibrate on log residuals and their horizons.

        Parameters
        ----------
        residuals : numpy.ndarray
            ``log(actual / forecast)`` of the calibration pairs.
        horizon : numpy.ndarray of int
            Horizon of each residual, 1..max_horizon.
        max_horizon : int

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
        return cls(scale=scale, quantiles=np.quantile(scaled, LEVELS), n=len(residuals))

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

    def exceedance(self, log_ratio: np.ndarray, horizon: int) -> np.ndarray:
        """Probability that ``log(actual / forecast) >= log_ratio`` at ``horizon``."""
        scaled = np.asarray(log_ratio, dtype=np.float64) / self.scale[horizon - 1]
        return 1.0 - np.interp(scaled, self.quantiles, LEVELS, left=0.0, right=1.0)

    def within(self, tolerance: float, horizon: int) -> np.ndarray:
        """Calibrated probability that ``|log(actual / forecast)| <= tolerance``."""
        bound = tolerance / self.scale[:horizon]

        def cdf(x: np.ndarray) -> np.ndarray:
            return np.interp(x, self.quantiles, LEVELS, left=0.0, right=1.0)

        return cdf(bound) - cdf(-bound)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (see :meth:`from_json`)."""
        return {
            "scale": self.scale.tolist(),
            "quantiles": self.quantiles.tolist(),
            "n": self.n,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> HorizonConformal:
        """Rebuild from :meth:`to_json`'s output."""
        return cls(
            scale=np.asarray(payload["scale"], dtype=np.float64),
            quantiles=np.asarray(payload["quantiles"], dtype=np.float64),
            n=int(payload["n"]),
        )
