"""How the levers act on each other: the cross-lever responses (SPEC §12).

The structural core rolls members forward by the plan's retention and new members
and prices them by the formula. Taken alone it answers "what if the price rises
10%?" with "10% more membership revenue, the same members", and "what if we run
10% more classes?" with "10% more attendance". A business does not work that way,
so a relative plan's levers act on each other before the core runs:

* **Price -> churn and sign-ups, a month later.** With ``x`` the plan's price over
  the studio's reference price, less 1 (0.1 is 10% dearer), sign-ups are
  multiplied by ``exp(-sign_ups x x)`` and churn by ``exp(churn_level x x +
  churn_rise x rise)``, where ``rise`` is the part of ``log(1 + x)`` the members
  have not got used to yet (it fades by ``ADAPTATION`` a month). Both act one
  month after the price. As semi-elasticities, each further rise costs more
  members than the last, so revenue has a maximum in price.
* **Classes -> attendance.** Members' demand for classes does not grow with the
  timetable: ``rate = reference rate x ratio ** spread + the plan's own change of
  the rate``, ``ratio`` being today's timetable over the plan's (the base month's
  classes over the base month's plus the plan's extra classes); ``spread`` is 1
  when attendance is pure demand, 0 when the rooms were full.
* **Classes -> staff utilisation -> retention.** With the team unchanged,
  utilisation follows the timetable, ``utilisation = reference / ratio + the
  plan's own change``, and every point above ``UTILISATION_THRESHOLD`` costs
  ``utilisation_penalty`` points of retention.
* **Utilisation -> team -> retention.** Utilisation above what the timetable
  explains is a smaller team: retention moves by ``team`` x the change in log team
  size (``log(classes / reference classes) - log(utilisation / reference)``).
* **Marketing -> new members, saturating.** Extra new members are scaled by the
  studio's :meth:`Responses.headroom`, ``1 - saturation x members / peak
  members``; fewer new members are lost in full.
* **Members -> class visits** (applied by the model after the core, since it needs
  the plan's members): ``follow``, see
  :meth:`forecasting.ml.model.ForwardModel.predict`.

The coefficients are learned across the training studios (:func:`fit_responses`)
from their own price moves and promotions, timetable changes, busy months, team
sizes and sign-up spikes, each slope shrunk towards a documented prior by its
standard error: with little variation in the data the prior stands, with plenty
the data decides.

The priors (:data:`PRIOR`). Published price elasticities of the demand for
exercise are small: about -0.3 for gym workouts (Anokye, Pokhrel and
Fox-Rushby, 2014, International Journal of Behavioral Nutrition and Physical
Activity 11:117), and demand for sports and club memberships is price-inelastic
(Anokye et al. 2012, European Journal of Health Economics 13:277-287; Wicker,
Breuer and Pawlowski). So the sign-up prior is 0.3 and the churn-level prior 0.1;
the rest are assumptions: a fresh rise raises churn with a coefficient of 1 and
members get used to it at a quarter of the gap a month; half of a timetable change
is absorbed by demand; above 85% of bookable hours (an assumption) each point of
utilisation costs 0.1 point of monthly retention; a studio at its peak has taken
half of its market (saturation 0.5); the team's size has no effect until the data
show one (0); members come to class in proportion to their number (follow 1).
Responses saved before ``saturation``, ``team`` and ``follow`` existed load with
them at 0, and answer as they did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.ml.frame import LEVERS

__all__ = [
    "ADAPTATION",
    "PRIOR",
    "PRIOR_SD",
    "UTILISATION_THRESHOLD",
    "Responses",
    "fit_responses",
]

#: Share of the gap between a new price and the one members are used to that
#: closes each month (an assumption: a half-life of about 2.4 months).
ADAPTATION = 0.25
#: Staff utilisation above which retention suffers (an assumption).
UTILISATION_THRESHOLD = 0.85
# Months averaged before the slopes are taken.
_WINDOW = 12
# Below this reliability a regressor's variation is mostly noise (see _slope).
_MIN_RELIABILITY = 0.5
# Below this first-stage t (an F of 10, the usual rule of thumb of Staiger and
# Stock, 1997) an instrument is too weak to use: its slope would lean towards the
# noise-attenuated one, and its standard error would not say so.
_MIN_FIRST_STAGE_T = float(np.sqrt(10.0))
# A flagged month counts as a sign-up spike above this lift over its neighbours.
_MIN_LIFT = 0.2
# Spikes the saturation needs before the data's slope counts.
_MIN_SPIKES = 10
# Months (of both parities) each half's price reading averages.
_PATH_WINDOW = 3
# Studios a slope needs (clusters for its standard error): the utilisation
# penalty is read only from studios that were over the threshold at times.
_MIN_STUDIOS = {"retention": 10}
# Months each utilisation reading averages: short enough to stay within a term's
# timetable, long enough to take some of the month-level noise before the
# threshold.
_UTILISATION_WINDOW = 5

_P = LEVERS.index("avg_ticket_price")
_R = LEVERS.index("retention_rate")
_A = LEVERS.index("class_attendance_rate")
_N = LEVERS.index("new_members_monthly")
_U = LEVERS.index("staff_utilization_rate")
_C = LEVERS.index("total_classes_held")


#: Prior means of the coefficients (see the module docstring for their sources).
PRIOR: dict[str, float] = {
    "sign_ups": 0.3,
    "churn_level": 0.1,
    "churn_rise": 1.0,
    "spread": 0.5,
    "utilisation_penalty": 0.1,
    "saturation": 0.5,
    "team": 0.0,
    "follow": 1.0,
}
#: Prior standard deviations: how far the data may move them.
PRIOR_SD: dict[str, float] = {
    "sign_ups": 0.3,
    "churn_level": 0.2,
    "churn_rise": 1.0,
    "spread": 0.5,
    "utilisation_penalty": 0.1,
    "saturation": 0.3,
    "team": 0.05,
    "follow": 0.5,
}
_BOUNDS: dict[str, tuple[float, float]] = {
    "sign_ups": (0.0, 3.0),
    "churn_level": (0.0, 3.0),
    "churn_rise": (0.0, 5.0),
    "spread": (0.0, 1.0),
    "utilisation_penalty": (0.0, 1.0),
    "saturation": (0.0, 1.0),
    "team": (0.0, 0.2),
    "follow": (0.0, 2.0),
}


@dataclass(frozen=True)
class Responses:
    """The cross-lever response coefficients (see the module docstring).

    Attributes
    ----------
    sign_ups, churn_level, churn_rise : float
        Price semi-elasticities of sign-ups and churn, and the extra churn of a
        fresh rise.
    spread : float
        In [0, 1]: how much of a timetable change attendance does not follow.
    utilisation_penalty : float
        Points of retention lost per point of utilisation above the threshold.
    saturation : float
        In [0, 1]: how much of its market a studio at its highest membership so
        far has taken; extra new members in a plan are scaled by ``1 -
        saturation x members / peak members`` (see :func:`headroom`).
    team : float
        Points of retention per unit of log team size at a given timetable: a
        plan that raises utilisation without more classes runs a smaller team.
    follow : float
        Elasticity of class visits to members: a plan's attendance rate is
        scaled by ``(members / status-quo members) ** follow``
        (:meth:`forecasting.ml.model.ForwardModel.predict`).
    evidence : dict
        Per coefficient: the data's own estimate, its standard error and the
        number of studio-months behind it (None where the data had none).
    """

    sign_ups: float
    churn_level: float
    churn_rise: float
    spread: float
    utilisation_penalty: float
    evidence: dict[str, Any]
    # Defaults, so that responses saved before these existed load and answer as
    # they did: no saturation, no team effect, visits that do not follow members.
    saturation: float = 0.0
    team: float = 0.0
    follow: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Responses:
        return cls(**payload)

    def apply(
        self,
        path: np.ndarray,
        reference: np.ndarray,
        known: np.ndarray,
        room: float = 1.0,
        base: np.ndarray | None = None,
    ) -> np.ndarray:
        """A relative plan's lever path with the cross-lever responses applied.

        Parameters
        ----------
        path : numpy.ndarray
            Shape (n, H, 7): the plan as the core will run it (reference levels
            shifted by the plan's changes).
        reference : numpy.ndarray
            Shape (7,): the reference levels (the status quo).
        known : numpy.ndarray of bool
            Shape (7,): the levers modelled for the studio; responses through a
            lever the studio has no data on are left out.
        room : float, default 1
            The studio's :func:`headroom` in its market: the share of a plan's
            extra new members that its marketing actually brings (fewer new
            members are lost in full).
        base : numpy.ndarray, optional
            Shape (7,): the base month's levers. A plan's change of the timetable
            (``path - reference``) is measured against the base month's classes,
            the timetable the team and the members' demand fit today (see
            :func:`_timetable_ratio`); without it, against the reference.

        Returns
        -------
        numpy.ndarray
            Shape (n, H, 7): retention, new members and attendance rate
            adjusted; the status quo (``path`` equal to ``reference``) unchanged.
        """
        out = path.copy()
        n, horizon, _ = path.shape
        if known[_N] and room < 1.0:
            extra = path[:, :, _N] - reference[_N]
            path = path.copy()
            path[:, :, _N] = reference[_N] + np.where(
                extra > 0, extra * max(room, 0.0), extra
            )
            out[:, :, _N] = path[:, :, _N]
        # Price: a log level against the reference, acting a month later.
        if known[_P] and reference[_P] > 0:
            ratio_p = np.maximum(path[:, :, _P], 1e-9) / reference[_P]
            # The level acts as a semi-elasticity (so each further rise costs more
            # members than the one before, and revenue has a maximum in price);
            # the fresh rise on the log scale, as members feel a step.
            level = np.concatenate([np.zeros((n, 1)), ratio_p[:, :-1] - 1.0], axis=1)
            log_level = np.concatenate(
                [np.zeros((n, 1)), np.log(ratio_p[:, :-1])], axis=1
            )
            used_to = np.zeros(n)
            rise = np.zeros((n, horizon))
            for h in range(1, horizon):
                rise[:, h] = np.maximum(log_level[:, h] - used_to, 0.0)
                used_to = used_to + ADAPTATION * (log_level[:, h] - used_to)
            churn = (1.0 - path[:, :, _R]) * np.exp(
                np.clip(self.churn_level * level + self.churn_rise * rise, -20, 20)
            )
            out[:, :, _R] = np.clip(1.0 - churn, 0.0, 1.0)
            out[:, :, _N] = path[:, :, _N] * np.exp(
                np.clip(-self.sign_ups * level, -20, 20)
            )
        # Classes: attendance follows demand, not the timetable.
        if known[_C] and reference[_C] > 0:
            ratio = _timetable_ratio(
                path[:, :, _C], reference[_C], None if base is None else base[_C]
            )
            if known[_A]:
                out[:, :, _A] = np.clip(
                    path[:, :, _A] - reference[_A] + reference[_A] * ratio**self.spread,
                    0.0,
                    1.0,
                )
            # ... and a fuller timetable stretches the same team.
            if known[_U]:
                utilisation = path[:, :, _U] - reference[_U] + reference[_U] / ratio
                excess = np.maximum(utilisation - UTILISATION_THRESHOLD, 0.0)
                excess -= max(reference[_U] - UTILISATION_THRESHOLD, 0.0)
                out[:, :, _R] = np.clip(
                    out[:, :, _R] - self.utilisation_penalty * excess, 0.0, 1.0
                )
        # Utilisation above what the timetable explains is a smaller team, and a
        # smaller team keeps fewer members (and the other way round).
        if known[_U] and reference[_U] > 0 and self.team > 0:
            if known[_C] and reference[_C] > 0:
                stretch = 1.0 / _timetable_ratio(
                    path[:, :, _C], reference[_C], None if base is None else base[_C]
                )
            else:
                stretch = np.ones((n, horizon))
            busy = path[:, :, _U] - reference[_U] + reference[_U] * stretch
            team = np.log(stretch) - np.log(np.maximum(busy, 1e-3) / reference[_U])
            out[:, :, _R] = np.clip(out[:, :, _R] + self.team * team, 0.0, 1.0)
        return out

    def headroom(self, members: float, peak: float) -> float:
        """The share of extra new members a studio's marketing still brings.

        ``1 - saturation x members / peak``, in [0, 1], with ``peak`` the
        studio's highest membership so far (without a usable peak, the studio is
        taken to be at it).
        """
        ratio = members / peak if np.isfinite(peak) and peak > 0 else 1.0
        if not np.isfinite(ratio):
            ratio = 1.0
        return float(np.clip(1.0 - self.saturation * ratio, 0.0, 1.0))

    def apply_rows(
        self,
        path: np.ndarray,
        reference: np.ndarray,
        known: np.ndarray,
        base: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`apply` for plans of different studios, one studio per plan.

        Parameters
        ----------
        path : numpy.ndarray
            Shape (n, H, 7), as for :meth:`apply`.
        reference, known : numpy.ndarray
            Shape (n, 7): each plan's studio's reference levels and modelled levers.
        base : numpy.ndarray, optional
            Shape (n, 7): each studio's base-month levers, as for :meth:`apply`.

        Returns
        -------
        numpy.ndarray
            Shape (n, H, 7); row ``i`` is ``apply(path[i:i+1], reference[i],
            known[i], base=base[i])[0]``, computed for every row at once (batch
            forecasts).
        """
        out = path.copy()
        n, horizon, _ = path.shape
        price = known[:, _P] & (reference[:, _P] > 0)
        if price.any():
            ratio_p = (
                np.maximum(path[:, :, _P], 1e-9)
                / np.where(price, reference[:, _P], 1.0)[:, None]
            )
            level = np.concatenate([np.zeros((n, 1)), ratio_p[:, :-1] - 1.0], axis=1)
            log_level = np.concatenate(
                [np.zeros((n, 1)), np.log(ratio_p[:, :-1])], axis=1
            )
            used_to = np.zeros(n)
            rise = np.zeros((n, horizon))
            for h in range(1, horizon):
                rise[:, h] = np.maximum(log_level[:, h] - used_to, 0.0)
                used_to = used_to + ADAPTATION * (log_level[:, h] - used_to)
            churn = (1.0 - path[:, :, _R]) * np.exp(
                np.clip(self.churn_level * level + self.churn_rise * rise, -20, 20)
            )
            rows = price[:, None]
            out[:, :, _R] = np.where(
                rows, np.clip(1.0 - churn, 0.0, 1.0), out[:, :, _R]
            )
            out[:, :, _N] = np.where(
                rows,
                path[:, :, _N] * np.exp(np.clip(-self.sign_ups * level, -20, 20)),
                out[:, :, _N],
            )
        classes = known[:, _C] & (reference[:, _C] > 0)
        if classes.any():
            ratio = _timetable_ratio(
                path[:, :, _C],
                np.where(classes, reference[:, _C], 1.0)[:, None],
                None if base is None else base[:, _C][:, None],
            )
            ref_a = reference[:, _A][:, None]
            attendance = (classes & known[:, _A])[:, None]
            out[:, :, _A] = np.where(
                attendance,
                np.clip(path[:, :, _A] - ref_a + ref_a * ratio**self.spread, 0.0, 1.0),
                out[:, :, _A],
            )
            ref_u = reference[:, _U][:, None]
            busy = (classes & known[:, _U])[:, None]
            utilisation = path[:, :, _U] - ref_u + ref_u / ratio
            excess = np.maximum(utilisation - UTILISATION_THRESHOLD, 0.0)
            excess -= np.maximum(ref_u - UTILISATION_THRESHOLD, 0.0)
            out[:, :, _R] = np.where(
                busy,
                np.clip(out[:, :, _R] - self.utilisation_penalty * excess, 0.0, 1.0),
                out[:, :, _R],
            )
        staffed = known[:, _U] & (reference[:, _U] > 0)
        if self.team > 0 and staffed.any():
            stretch = (
                np.where(classes[:, None], 1.0 / ratio, 1.0)
                if classes.any()
                else np.ones((n, horizon))
            )
            ref_u = np.where(staffed, reference[:, _U], 1.0)[:, None]
            busy = path[:, :, _U] - ref_u + ref_u * stretch
            team = np.log(stretch) - np.log(np.maximum(busy, 1e-3) / ref_u)
            out[:, :, _R] = np.where(
                staffed[:, None],
                np.clip(out[:, :, _R] + self.team * team, 0.0, 1.0),
                out[:, :, _R],
            )
        return out


def _timetable_ratio(
    classes: np.ndarray,
    reference: float | np.ndarray,
    base: float | np.ndarray | None,
) -> np.ndarray:
    """Today's timetable over the plan's, for the classes responses.

    A plan adds ``classes - reference`` classes to the status quo. They stretch
    the team the studio has and spread the demand its members bring today, both
    fitted to the base month's timetable, so the change is taken relative to it:
    ``base / (base + classes - reference)``. Measured against the 12-month
    reference instead, a growing studio's plan would read as a larger change
    than it is (10.5% for a plan of +10% of the base month, on the held-out
    studios of ``bench/levers.py``). Without a base month's classes (or where it
    is not positive), ``reference / classes``.
    """
    if base is None:
        return reference / np.maximum(classes, 1e-9)
    base = np.asarray(base, dtype=np.float64)
    today = np.where(base > 0, base, reference)
    return today / np.maximum(today + classes - reference, 1e-9)


def _smoothed(values: np.ndarray, keep: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` kept months (NaN with fewer than 3/4 kept)."""
    series = pd.Series(np.where(keep, values, np.nan))
    return series.rolling(window, min_periods=max(3 * window // 4, 2)).mean().to_numpy()


def _detrended(values: np.ndarray, good: np.ndarray) -> np.ndarray:
    """``values[good]`` less their quadratic trend in time."""
    t = np.flatnonzero(good).astype(float)
    basis = np.vander((t - t.mean()) / max(t.std(), 1.0), 3)
    coef, *_ = np.linalg.lstsq(basis, values[good], rcond=None)
    return values[good] - basis @ coef


def _posterior(
    slopes: dict[str, tuple[float, float, int]],
) -> tuple[dict[str, float], dict[str, Any]]:
    """Each coefficient's posterior mean: the data's slope and its standard error
    combined with the normal prior (precision-weighted); the prior alone where the
    data has none."""
    values, evidence = {}, {}
    for name, (estimate, standard_error, n) in slopes.items():
        prior, sd = PRIOR[name], PRIOR_SD[name]
        if np.isfinite(estimate) and np.isfinite(standard_error) and standard_error > 0:
            weight = (1.0 / standard_error**2) / (1.0 / standard_error**2 + 1.0 / sd**2)
            mean = weight * estimate + (1.0 - weight) * prior
        else:
            weight, mean = 0.0, prior
        values[name] = float(np.clip(mean, *_BOUNDS[name]))
        evidence[name] = {
            "estimate": float(estimate) if np.isfinite(estimate) else None,
            "standard_error": (
                float(standard_error) if np.isfinite(standard_error) else None
            ),
            "data_weight": float(weight),
            "n": int(n),
        }
    return values, evidence


def _slope(
    x: list[np.ndarray],
    y: list[np.ndarray],
    sign: float,
    noise: float | None = None,
) -> tuple[float, float, int]:
    """Pooled slope of ``sign x y`` on ``x`` (one array per studio), with a
    standard error clustered by studio (the smoothed series are serially
    correlated within a studio).

    ``noise`` is the variance the month-level noise of the raw regressor leaves
    in ``x`` after smoothing. Noise in a regressor pulls a slope towards zero by
    the regressor's reliability, ``1 - noise / var(x)``; the slope and its
    standard error are divided by it, and below a reliability of one half the
    data's slope is not used at all (the variation is mostly noise).
    """
    if len(x) < 3:
        return np.nan, np.nan, 0
    xs, ys = np.concatenate(x), np.concatenate(y)
    sxx = float(xs @ xs)
    if sxx <= 0:
        return np.nan, np.nan, len(xs)
    slope = float(xs @ ys) / sxx
    scores = np.array([float(a @ (b - slope * a)) for a, b in zip(x, y, strict=True)])
    standard_error = float(np.sqrt(np.sum(scores**2)) / sxx)
    if noise is not None:
        reliability = 1.0 - noise / float(np.var(xs)) if np.isfinite(noise) else 0.0
        if reliability < _MIN_RELIABILITY:
            return np.nan, np.nan, len(xs)
        slope, standard_error = slope / reliability, standard_error / reliability
    return sign * slope, standard_error, len(xs)


def _residual(values: np.ndarray, good: np.ndarray) -> np.ndarray:
    """``values`` less their quadratic trend over the ``good`` months (NaN elsewhere)."""
    out = np.full(len(values), np.nan)
    if good.sum() >= 6:
        out[good] = _detrended(values, good)
    return out


def _instrumented(
    x: list[np.ndarray],
    y: list[np.ndarray],
    z: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray] | None:
    """Pooled instrumental-variable (just-identified) coefficients of ``y`` on the
    columns of ``x`` with instruments ``z`` (one array per studio, ``x`` and ``z``
    of shape (months, k)), and their standard errors clustered by studio; None
    when an instrument is weak (a first-stage t below ``_MIN_FIRST_STAGE_T``).
    """
    if len(x) < 3:
        return None
    zx = sum(c.T @ a for a, c in zip(x, z, strict=True))
    zz = sum(c.T @ c for c in z)
    k = zx.shape[0]
    try:
        # First stages: each regressor on all the instruments; its own instrument's t.
        first = np.linalg.solve(zz, zx)
        zz_inv = np.linalg.inv(zz)
        for j in range(k):
            scores = np.array(
                [c.T @ (a[:, j] - c @ first[:, j]) for a, c in zip(x, z, strict=True)]
            )
            cov = zz_inv @ (scores.T @ scores) @ zz_inv
            # A control that is its own instrument fits exactly: t is infinite.
            with np.errstate(divide="ignore", invalid="ignore"):
                t = abs(first[j, j]) / np.sqrt(max(cov[j, j], 0.0))
            if np.isnan(t) or t < _MIN_FIRST_STAGE_T:
                return None
        zy = sum(c.T @ b for b, c in zip(y, z, strict=True))
        coef = np.linalg.solve(zx, zy)
        scores = np.array(
            [c.T @ (b - a @ coef) for a, b, c in zip(x, y, z, strict=True)]
        )
        inv = np.linalg.inv(zx)
        cov = inv @ (scores.T @ scores) @ inv.T
    except np.linalg.LinAlgError:
        return None
    return coef, np.sqrt(np.diag(cov))


def _price_paths(price: np.ndarray, good: np.ndarray) -> dict[str, np.ndarray]:
    """Two independent readings of a studio's price level and fresh rise.

    The months are split by parity; each half's log prices (less the studio's
    quadratic trend) are averaged over a centred window of ``_PATH_WINDOW``
    months (the one or two of its own parity in it: short enough to keep a
    promotion's dip, long enough to take some of a month's noise), and each
    path gives a level and the part of a rise
    the members have not got used to yet (closing ``ADAPTATION`` of the gap a
    month, as in :meth:`Responses.apply`). The month-level noise of the two
    halves is independent, so one half instruments the other (split-sample
    instrumental variables): the noise that would pull the slopes towards zero
    cancels.
    """
    detrended = _residual(price, good)
    index = np.arange(len(price))
    out = {}
    for parity in (0, 1):
        half = np.where(good & (index % 2 == parity), detrended, np.nan)
        level = (
            pd.Series(half)
            .rolling(_PATH_WINDOW, center=True, min_periods=2)
            .mean()
            .ffill()
            .bfill()
            .to_numpy()
        )
        used_to = level[0]
        rise = np.zeros(len(level))
        for t in range(len(level)):
            rise[t] = max(level[t] - used_to, 0.0)
            used_to += ADAPTATION * (level[t] - used_to)
        out[f"level{parity}"] = level
        out[f"rise{parity}"] = rise
    return out


def _monthly_price_series(
    group: pd.DataFrame, keep: np.ndarray
) -> dict[str, np.ndarray] | None:
    """One studio's monthly series for the instrumented price slopes: last
    month's two readings of the price level and fresh rise (:func:`_price_paths`),
    this month's log sign-ups and log churn rate, each less its quadratic trend
    over the studio's ordinary months (growth, inflation, the founding ramp); NaN
    where a month is missing."""
    members = group["total_members"].to_numpy(dtype=float)
    previous = np.concatenate([[np.nan], members[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.log(group["avg_ticket_price"].to_numpy(dtype=float))
        new = np.log(np.maximum(group["new_members"].to_numpy(dtype=float), 0.5))
        churn = np.log(
            np.maximum(group["churned_members"].to_numpy(dtype=float), 0.5) / previous
        )
    good = keep & np.isfinite(price)
    if good.sum() < 2 * _WINDOW:
        return None
    paths = _price_paths(price, good)
    # The level alone (for sign-ups): the month's own measured price, instrumented
    # by the mean of its neighbours' (two months before it, two after), whose noise
    # is independent of it and which share its price level.
    raw = _residual(price, good)
    neighbours = np.column_stack(
        [pd.Series(raw).shift(k).to_numpy() for k in (2, 1, -1, -2)]
    )
    counted = np.isfinite(neighbours).sum(axis=1)
    with np.errstate(invalid="ignore"):
        paths["price"] = raw
        paths["neighbours"] = np.where(
            counted >= 2, np.nanmean(neighbours, axis=1), np.nan
        )
    out = {
        name: np.concatenate([[np.nan], values[:-1]]) for name, values in paths.items()
    }
    for name, values in (("new", new), ("churn", churn)):
        ok = keep & np.isfinite(values)
        out[name] = _residual(values, ok) if ok.sum() >= 2 * _WINDOW else None
    # The timetable: this month's attendance rate on this month's classes held,
    # instrumented by the neighbouring months' classes, at a given membership.
    with np.errstate(divide="ignore", invalid="ignore"):
        classes = np.log(group["total_classes_held"].to_numpy(dtype=float))
        rate = np.log(group["class_attendance_rate"].to_numpy(dtype=float))
        log_members = np.log(members)
    out["rate"] = None
    ok = keep & np.isfinite(classes) & np.isfinite(rate) & np.isfinite(log_members)
    if ok.sum() >= 2 * _WINDOW:
        classes = _residual(classes, ok)
        around = np.column_stack(
            [pd.Series(classes).shift(k).to_numpy() for k in (2, 1, -1, -2)]
        )
        with np.errstate(invalid="ignore"):
            out["classes"] = classes
            out["classes_around"] = np.where(
                np.isfinite(around).sum(axis=1) >= 2, np.nanmean(around, axis=1), np.nan
            )
        out["rate"] = _residual(rate, ok)
        out["members"] = _residual(log_members, ok)
    out.update(_utilisation_series(group, keep))
    return out


def _utilisation_series(group: pd.DataFrame, keep: np.ndarray) -> dict[str, Any]:
    """One studio's monthly series for the utilisation penalty: this month's
    retention, two independent readings of this month's utilisation above
    ``UTILISATION_THRESHOLD`` and the log staff count, each less its quadratic
    trend over the studio's ordinary months; ``retention`` is None without the
    data.

    A month's measured utilisation carries month-level noise (5% in the
    generator, SPEC §2.5), and above a threshold noise does not average out: a
    studio at 80% would read as over it in a third of its months, and the slope
    on such readings is a fraction of the true one. So the month's utilisation is
    read twice: as reported, and as its classes per member of staff (scaled to
    utilisation by the studio's median ratio of the two), whose noise is the
    class count's, independent of the reported one's. Each reading is averaged
    over a centred window of ``_UTILISATION_WINDOW`` months (a timetable stays
    for a term, so the months around share its level) before the excess over the
    threshold is taken, and each instruments the other (as for the price).
    """
    out: dict[str, Any] = {"retention": None}
    if not {"staff_count", "staff_utilization_rate"} <= set(group.columns):
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        utilisation = group["staff_utilization_rate"].to_numpy(dtype=float)
        staff = group["staff_count"].to_numpy(dtype=float)
        per_staff = group["total_classes_held"].to_numpy(dtype=float) / staff
        log_staff = np.log(staff)
    retention = group["retention_rate"].to_numpy(dtype=float)
    ok = keep & np.isfinite(retention) & np.isfinite(log_staff)
    ok &= np.isfinite(utilisation) & (utilisation > 0)
    ok &= np.isfinite(per_staff) & (per_staff > 0)
    if ok.sum() < 2 * _WINDOW:
        return out
    scale = float(np.median(utilisation[ok] / per_staff[ok]))
    for name, reading in (("excess0", utilisation), ("excess1", scale * per_staff)):
        level = (
            pd.Series(np.where(ok, reading, np.nan))
            .rolling(_UTILISATION_WINDOW, center=True, min_periods=2)
            .mean()
            .to_numpy()
        )
        excess = np.maximum(level - UTILISATION_THRESHOLD, 0.0)
        if not (excess[ok & np.isfinite(level)] > 0).any():
            # Never over the threshold: nothing to learn the penalty from here.
            return out
        out[name] = _residual(excess, ok & np.isfinite(level))
    out["staff"] = _residual(log_staff, ok)
    out["retention"] = _residual(retention, ok)
    return out


def _price_slopes(
    studios: list[dict[str, np.ndarray]], months: list[np.ndarray]
) -> dict[str, tuple[float, float, int]]:
    """The sign-up slope on last month's price level (instrumented by the
    neighbouring months' prices), the churn slopes on its level and fresh rise
    (split-sample: each parity's reading instruments the other's, both ways
    stacked) and the attendance rate's slope on this month's classes at a given
    membership (instrumented by the neighbouring months' classes), the calendar
    month's mean (the seasons) taken out of every series first."""
    result = {}
    designs = (
        # (series, regressors, their instruments, both ways?)
        ("new", ("price",), ("neighbours",), False),
        ("churn", ("level0", "rise0"), ("level1", "rise1"), True),
        ("rate", ("classes", "members"), ("classes_around", "members"), False),
        (
            "retention",
            ("excess0", "staff"),
            ("excess1", "staff"),
            True,
        ),
    )
    for key, regressors, instruments, both_ways in designs:
        xs, ys, zs, ms = [], [], [], []
        for series, month in zip(studios, months, strict=True):
            if series[key] is None:
                continue
            x = np.column_stack([series[r] for r in regressors])
            z = np.column_stack([series[r] for r in instruments])
            ok = np.isfinite(x).all(axis=1) & np.isfinite(z).all(axis=1)
            ok &= np.isfinite(series[key])
            if ok.sum() < _WINDOW:
                continue
            if both_ways:
                # The even months' reading instrumented by the odd ones', and the
                # other way round (one studio, one cluster).
                xs.append(np.vstack([x[ok], z[ok]]))
                zs.append(np.vstack([z[ok], x[ok]]))
                ys.append(np.concatenate([series[key][ok]] * 2))
                ms.append(np.concatenate([month[ok]] * 2))
            else:
                xs.append(x[ok])
                zs.append(z[ok])
                ys.append(series[key][ok])
                ms.append(month[ok])
        n = int(sum(len(v) for v in ys)) // (2 if both_ways else 1)
        fit = None
        if len(xs) >= _MIN_STUDIOS.get(key, 3):
            all_months = np.concatenate(ms)
            for values in (xs, ys, zs):
                pooled = np.concatenate(values)
                means = np.zeros((13, *pooled.shape[1:]))
                for m in range(1, 13):
                    inside = all_months == m
                    if inside.any():
                        means[m] = pooled[inside].mean(axis=0)
                for i, m in enumerate(ms):
                    values[i] = values[i] - means[m]
            fit = _instrumented(xs, ys, zs)
        names, sign = {
            "new": (("sign_ups",), -1.0),
            "churn": (("churn_level", "churn_rise"), 1.0),
            "rate": (("spread",), -1.0),
            "retention": (("utilisation_penalty", "staff_in_month"), -1.0),
        }[key]
        for j, name in enumerate(names):
            if fit is None:
                result[name] = (np.nan, np.nan, n)
            else:
                result[name] = (sign * float(fit[0][j]), float(fit[1][j]), n)
    return result


def _promotion_lifts(
    group: pd.DataFrame, keep: np.ndarray
) -> list[tuple[float, float]]:
    """One studio's sign-up spikes: ``(members before / peak members, lift)``.

    A spike is a flagged month (an outlier, not a gap) whose new members exceed
    the median of the ordinary months within three months of it by more than
    ``_MIN_LIFT``: a promotion or a marketing push. ``peak`` is the studio's highest
    3-month mean membership over its ordinary months.
    """
    if "is_gap" in group.columns:
        flagged = group["is_outlier"].to_numpy(dtype=bool) & ~group["is_gap"].to_numpy(
            dtype=bool
        )
    else:
        flagged = group["is_outlier"].to_numpy(dtype=bool)
    new = group["new_members"].to_numpy(dtype=float)
    members = group["total_members"].to_numpy(dtype=float)
    smooth = (
        pd.Series(np.where(keep, members, np.nan))
        .rolling(3, min_periods=2)
        .mean()
        .to_numpy()
    )
    if not np.isfinite(smooth).any():
        return []
    peak = float(np.nanmax(smooth))
    out = []
    for i in np.flatnonzero(flagged):
        if i == 0 or not np.isfinite(members[i - 1]) or peak <= 0:
            continue
        around = [
            j
            for j in range(max(i - 3, 0), min(i + 4, len(new)))
            if j != i and keep[j] and np.isfinite(new[j])
        ]
        if len(around) < 3 or not np.isfinite(new[i]):
            continue
        usual = float(np.median(new[around]))
        if usual <= 0:
            continue
        lift = new[i] / usual - 1.0
        if lift > _MIN_LIFT:
            out.append((members[i - 1] / peak, lift))
    return out


def _saturation_slope(lifts: list[tuple[float, float]]) -> tuple[float, float, int]:
    """The saturation from sign-up spikes: ``lift = a x (1 - saturation x
    members / peak)``, by least squares of the lift on the membership ratio
    (``saturation = -slope / intercept``), its standard error by the delta
    method; NaN with fewer than ``_MIN_SPIKES`` spikes or no spread in the ratio."""
    if len(lifts) < _MIN_SPIKES:
        return np.nan, np.nan, len(lifts)
    x, y = np.array(lifts).T
    if np.std(x) < 0.05:
        return np.nan, np.nan, len(lifts)
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    # Heteroskedasticity-robust covariance (HC1).
    bread = np.linalg.inv(design.T @ design)
    meat = (design * residual[:, None] ** 2).T @ design
    cov = bread @ meat @ bread * len(x) / max(len(x) - 2, 1)
    a, b = coef
    if a <= 0:
        return np.nan, np.nan, len(lifts)
    estimate = -b / a
    gradient = np.array([b / a**2, -1.0 / a])
    standard_error = float(np.sqrt(gradient @ cov @ gradient))
    return float(estimate), standard_error, len(lifts)


def fit_responses(frame: pd.DataFrame) -> Responses:
    """Learn the cross-lever responses from a validated training frame.

    Within each studio, over ordinary months (no outlier, no gap), every series is
    stripped of its quadratic trend in time (the studio's growth, inflation, the
    founding ramp) and, pooled over studios, of its calendar month's mean (the
    seasons); what is left moves with the studio's own price moves, timetable
    changes and busy spells. The pooled slopes, with standard errors clustered by
    studio, are then combined with the priors:

    * ``sign_ups``: log new members on last month's log price;
    * ``churn_level``, ``churn_rise``: log churn rate on last month's price level
      and on the part of its last rise the members have not got used to yet;
    * ``spread``: log attendance rate on log classes held (minus the slope), at a
      given membership;
    * ``utilisation_penalty``: this month's retention on this month's
      utilisation above 85% (minus), at a given log staff count, in studios that
      were over 85% at times (:func:`_utilisation_series`);
    * ``team``: retention on the log staff count, both averaged over the trailing
      12 months;
    * ``follow``: log class attendance on log members, both averaged over the
      trailing 12 months;
    * ``saturation``: from the studio's sign-up spikes (flagged months with new
      members well above their neighbours: promotions, marketing pushes), the
      lift's fall with members over the studio's peak (:func:`_saturation_slope`).

    A measured price or timetable carries month-level noise (6% and 5% in the
    generator, SPEC §2.5), which would pull an ordinary slope towards zero; the
    price and timetable slopes are instrumental-variable ones instead: a month's
    measured price (or classes) is instrumented by its neighbouring months', whose
    noise is independent of it (:func:`_instrumented`, :func:`_price_paths`), and
    an instrument too weak to carry the slope (a first-stage F below 10) leaves
    the prior standing (``evidence`` records every estimate, its standard error and
    its weight). The utilisation is noisy too (5%), and its excess over a
    threshold does not average out, so it is read twice, as reported and as
    classes per member of staff, each reading instrumenting the other.

    Returns
    -------
    Responses
    """
    window = _WINDOW
    team_x: list[np.ndarray] = []
    team_y: list[np.ndarray] = []
    follow_x: list[np.ndarray] = []
    follow_y: list[np.ndarray] = []
    monthly: list[dict[str, np.ndarray]] = []
    calendar: list[np.ndarray] = []
    lifts: list[tuple[float, float]] = []
    for _, group in frame.groupby("unique_id", sort=False):
        if len(group) < 2 * window:
            continue
        keep = ~group["is_outlier"].to_numpy(dtype=bool)
        if "is_gap" in group.columns:
            keep &= ~group["is_gap"].to_numpy(dtype=bool)
        lifts.extend(_promotion_lifts(group, keep))
        price_series = _monthly_price_series(group, keep)
        if price_series is not None:
            monthly.append(price_series)
            calendar.append(pd.DatetimeIndex(group["ds"]).month.to_numpy())
        retention = group["retention_rate"].to_numpy(dtype=float)
        smooth_retention = _smoothed(retention, keep & np.isfinite(retention), window)
        with np.errstate(divide="ignore", invalid="ignore"):
            visits = np.log(group["total_class_attendance"].to_numpy(dtype=float))
            log_members = np.log(group["total_members"].to_numpy(dtype=float))
        smooth_visits = _smoothed(visits, keep & np.isfinite(visits), window)
        smooth_members = _smoothed(log_members, keep & np.isfinite(log_members), window)
        good = np.isfinite(smooth_visits) & np.isfinite(smooth_members)
        if good.sum() >= window:
            follow_x.append(_detrended(smooth_members, good))
            follow_y.append(_detrended(smooth_visits, good))
        if "staff_count" in group.columns:
            with np.errstate(divide="ignore", invalid="ignore"):
                staff = np.log(group["staff_count"].to_numpy(dtype=float))
            smooth_staff = _smoothed(staff, keep & np.isfinite(staff), window)
            good = np.isfinite(smooth_staff) & np.isfinite(smooth_retention)
            if good.sum() >= window:
                team_x.append(_detrended(smooth_staff, good))
                team_y.append(_detrended(smooth_retention, good))
    price_slopes = _price_slopes(monthly, calendar)
    slopes = {
        "sign_ups": price_slopes["sign_ups"],
        "churn_level": price_slopes["churn_level"],
        "churn_rise": price_slopes["churn_rise"],
        "spread": price_slopes["spread"],
        "utilisation_penalty": price_slopes["utilisation_penalty"],
        "saturation": _saturation_slope(lifts),
        "team": _slope(team_x, team_y, 1.0),
        "follow": _slope(follow_x, follow_y, 1.0),
    }
    values, evidence = _posterior(slopes)
    return Responses(**values, evidence=evidence)
