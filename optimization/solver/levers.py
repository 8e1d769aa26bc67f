"""The seven levers, their default cost weights and the owner's limits on moving them.

Everything here is plain numpy: lever vectors are float arrays of shape ``(7,)`` in the
:data:`LEVERS` order fixed by ``docs/CONTRACTS.md``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_COST_WEIGHTS",
    "DEFAULT_LOWER",
    "DEFAULT_UPPER",
    "IMPLICIT_MAX_CHANGE",
    "LEVERS",
    "N_LEVERS",
    "ConstraintKind",
    "LeverLimits",
    "LeverValues",
    "SolverInputError",
    "default_lever_scales",
    "lever_vector",
]

FloatArray = npt.NDArray[np.float64]

#: The plan an owner controls; the order is fixed everywhere (CONTRACTS.md).
LEVERS: tuple[str, ...] = (
    "retention_rate",
    "avg_ticket_price",
    "class_attendance_rate",
    "new_members_monthly",
    "staff_utilization_rate",
    "upsell_rate",
    "total_classes_held",
)
N_LEVERS = len(LEVERS)

#: Relative effort of one unit of change per lever (SPEC §5). total_classes_held is not in
#: the spec; 2.0 puts it beside attendance and staff utilisation because adding classes
#: needs instructors and room time, the same kind of operational effort.
DEFAULT_COST_WEIGHTS: FloatArray = np.array([3.0, 1.0, 2.0, 2.5, 2.0, 1.5, 2.0])

#: Valid ranges (SPEC §1): rates are fractions in [0, 1], money and counts are >= 0.
DEFAULT_LOWER: FloatArray = np.zeros(N_LEVERS)
DEFAULT_UPPER: FloatArray = np.array([1.0, np.inf, 1.0, np.inf, 1.0, 1.0, np.inf])

#: Maximum change, in lever scales, in a direction the owner left unlimited.
IMPLICIT_MAX_CHANGE = 1.0

ConstraintKind = Literal[
    "max_increase", "upper_bound", "max_decrease", "lower_bound", "locked"
]

#: A per-lever value given as a full vector or as ``{lever name: value}``.
LeverValues = Mapping[str, float] | npt.ArrayLike


class SolverInputError(ValueError):
    """An input the solver cannot work with; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def lever_vector(
    values: LeverValues | None, default: float | FloatArray, *, input_name: str
) -> FloatArray:
    """Return a ``(7,)`` float vector from a full vector, a name mapping or ``None``.

    Parameters
    ----------
    values
        A sequence of seven numbers in :data:`LEVERS` order, a mapping from lever name to
        value (levers not named keep ``default``), or ``None`` for ``default`` everywhere.
    default
        Scalar or ``(7,)`` vector used where ``values`` says nothing.
    input_name
        Name reported in :class:`SolverInputError`.
    """
    out = np.broadcast_to(np.asarray(default, dtype=float), (N_LEVERS,)).copy()
    if values is None:
        return out
    if isinstance(values, Mapping):
        for name, value in values.items():
            if name not in LEVERS:
                raise SolverInputError(input_name, f"unknown lever {name!r}")
            out[LEVERS.index(name)] = float(value)
        return out
    array = np.asarray(values, dtype=float)
    if array.shape != (N_LEVERS,):
        raise SolverInputError(
            input_name, f"expected {N_LEVERS} values, got shape {array.shape}"
        )
    return array.copy()


def _lever_index(item: int | str | np.integer, input_name: str) -> int:
    if isinstance(item, str):
        if item not in LEVERS:
            raise SolverInputError(input_name, f"unknown lever {item!r}")
        return LEVERS.index(item)
    index = int(item)
    if not 0 <= index < N_LEVERS:
        raise SolverInputError(input_name, f"lever index {index} out of range")
    return index


def _readonly(array: FloatArray) -> FloatArray:
    array = np.array(array, dtype=float)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class LeverLimits:
    """The owner's constraints: hard bounds, maximum change from today, locked levers.

    All of them are hard: no plan the solver returns breaks any of them. Build instances
    with :meth:`build`, which accepts vectors, name mappings and sets of names.

    Attributes
    ----------
    lower, upper
        Valid range per lever (``-inf`` / ``inf`` allowed).
    max_increase, max_decrease
        Largest allowed move up / down from the current value, ``>= 0`` (``inf`` allowed).
    locked
        Indices of levers that must keep their current value.
    """

    lower: FloatArray = field(default_factory=lambda: _readonly(DEFAULT_LOWER))
    upper: FloatArray = field(default_factory=lambda: _readonly(DEFAULT_UPPER))
    max_increase: FloatArray = field(
        default_factory=lambda: _readonly(np.full(N_LEVERS, np.inf))
    )
    max_decrease: FloatArray = field(
        default_factory=lambda: _readonly(np.full(N_LEVERS, np.inf))
    )
    locked: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "max_increase", "max_decrease"):
            array = np.asarray(getattr(self, name), dtype=float)
            if array.shape != (N_LEVERS,):
                raise SolverInputError(
                    name, f"expected shape ({N_LEVERS},), got {array.shape}"
                )
            if np.isnan(array).any():
                raise SolverInputError(name, "NaN is not a limit")
            object.__setattr__(self, name, _readonly(array))
        if (self.lower > self.upper).any():
            bad = LEVERS[int(np.argmax(self.lower > self.upper))]
            raise SolverInputError("lower", f"lower bound above upper bound for {bad}")
        for name in ("max_increase", "max_decrease"):
            if (getattr(self, name) < 0).any():
                raise SolverInputError(name, "maximum changes must be >= 0")
        object.__setattr__(
            self, "locked", frozenset(_lever_index(i, "locked") for i in self.locked)
        )

    @classmethod
    def build(
        cls,
        *,
        lower: LeverValues | None = None,
        upper: LeverValues | None = None,
        max_increase: LeverValues | None = None,
        max_decrease: LeverValues | None = None,
        locked: Collection[int | str] | npt.NDArray[np.bool_] = (),
    ) -> LeverLimits:
        """Build limits from flexible inputs; unspecified entries take the defaults.

        Parameters
        ----------
        lower, upper
            Hard bounds; default :data:`DEFAULT_LOWER` / :data:`DEFAULT_UPPER`.
        max_increase, max_decrease
            Maximum move from the current value; default unlimited.
        locked
            Lever indices or names, or a boolean mask of shape ``(7,)``.
        """
        if isinstance(locked, np.ndarray) and locked.dtype == bool:
            if locked.shape != (N_LEVERS,):
                raise SolverInputError("locked", f"mask must have shape ({N_LEVERS},)")
            locked_set = frozenset(int(i) for i in np.flatnonzero(locked))
        else:
            locked_set = frozenset(_lever_index(i, "locked") for i in locked)
        return cls(
            lower=lever_vector(lower, DEFAULT_LOWER, input_name="lower"),
            upper=lever_vector(upper, DEFAULT_UPPER, input_name="upper"),
            max_increase=lever_vector(max_increase, np.inf, input_name="max_increase"),
            max_decrease=lever_vector(max_decrease, np.inf, input_name="max_decrease"),
            locked=locked_set,
        )

    @property
    def locked_mask(self) -> npt.NDArray[np.bool_]:
        """Boolean ``(7,)`` mask of the locked levers."""
        mask = np.zeros(N_LEVERS, dtype=bool)
        mask[list(self.locked)] = True
        return mask

    def relaxed(self, factor: float) -> LeverLimits:
        """Return these limits with every maximum change multiplied by ``factor``.

        Hard bounds and locks stay: bounds are validity ranges (a retention rate above 1
        means nothing) and a lock is the owner's decision, not a tunable limit.
        """
        return LeverLimits(
            lower=self.lower,
            upper=self.upper,
            max_increase=self.max_increase * factor,
            max_decrease=self.max_decrease * factor,
            locked=self.locked,
        )

    def with_finite_reach(self, scales: FloatArray) -> LeverLimits:
        """Return these limits with every unlimited direction capped at one ``scale``.

        A direction with neither a bound nor a maximum change would let a search (and a
        recommendation) run off to infinity; the cap makes it an implicit maximum change
        of :data:`IMPLICIT_MAX_CHANGE` scales (doubling today's value, or halving it,
        with the default scales).
        """
        reach = IMPLICIT_MAX_CHANGE * scales
        return LeverLimits(
            lower=self.lower,
            upper=self.upper,
            max_increase=np.where(
                np.isinf(self.upper) & np.isinf(self.max_increase),
                reach,
                self.max_increase,
            ),
            max_decrease=np.where(
                np.isinf(self.lower) & np.isinf(self.max_decrease),
                reach,
                self.max_decrease,
            ),
            locked=self.locked,
        )

    def box(self, current: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return the per-lever interval ``[lo, hi]`` every plan must stay in.

        The interval is built so that plain float comparisons in :meth:`violations` hold
        for every value inside it: ``current + max_increase`` can round up past the
        allowed change, so ``hi`` is stepped down one ulp at a time until it does not.

        Raises
        ------
        SolverInputError
            If a lever has no allowed value (a locked lever outside its bounds, or bounds
            that the maximum change cannot reach from the current value).
        """
        lo = np.maximum(self.lower, current - self.max_decrease)
        hi = np.minimum(self.upper, current + self.max_increase)
        while (over := hi - current > self.max_increase).any():
            hi[over] = np.nextafter(hi[over], -np.inf)
        while (under := current - lo > self.max_decrease).any():
            lo[under] = np.nextafter(lo[under], np.inf)
        locked = self.locked_mask
        outside = locked & ((current < self.lower) | (current > self.upper))
        if outside.any():
            name = LEVERS[int(np.argmax(outside))]
            raise SolverInputError(
                "locked", f"{name} is locked at a value outside its bounds"
            )
        lo[locked] = current[locked]
        hi[locked] = current[locked]
        if (lo > hi).any():
            name = LEVERS[int(np.argmax(lo > hi))]
            raise SolverInputError(
                "current", f"{name} cannot reach its bounds within the maximum change"
            )
        return lo, hi

    def violations(
        self, current: FloatArray, levers: FloatArray
    ) -> list[tuple[int, ConstraintKind]]:
        """List every ``(lever index, constraint)`` that ``levers`` breaks, exactly."""
        change = levers - current
        checks: list[tuple[ConstraintKind, npt.NDArray[np.bool_]]] = [
            ("lower_bound", levers < self.lower),
            ("upper_bound", levers > self.upper),
            ("max_increase", change > self.max_increase),
            ("max_decrease", -change > self.max_decrease),
            ("locked", self.locked_mask & (levers != current)),
        ]
        return [(int(i), kind) for kind, bad in checks for i in np.flatnonzero(bad)]


def default_lever_scales(current: FloatArray, limits: LeverLimits) -> FloatArray:
    """Return the default unit of change per lever: the lever's current magnitude.

    Cost is then a weighted sum of *relative* changes (moving a $150 ticket by $15 and a
    0.80 retention by 0.08 are both 10%), which is what the owner reads as "change %".
    A lever at zero has no magnitude, so its finite range width (or 1) stands in.
    """
    width = limits.upper - limits.lower
    fallback = np.where(np.isfinite(width) & (width > 0), width, 1.0)
    magnitude = np.abs(current)
    return np.where(magnitude > 1e-9, magnitude, fallback)
