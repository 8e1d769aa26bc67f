"""Synthetic forward models for the solver's tests and benchmark (not used in production).

A stock-flow studio (members roll forward by retention and new members; revenue by the
SPEC §2.6 formula) in three flavours that cover what the real forward model may do:
smooth; piecewise constant in every lever (what tree corrections look like, with a zero
numerical gradient everywhere); and with a lever interaction plus a non-monotone staff
utilisation response.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["TREE_LIKE_STEPS", "TYPICAL_LEVERS", "StudioModel", "random_studio"]

FloatArray = npt.NDArray[np.float64]

#: A studio in the middle of the SPEC §2.7 ranges, in LEVERS order.
TYPICAL_LEVERS: FloatArray = np.array([0.90, 150.0, 0.70, 30.0, 0.80, 0.20, 250.0])

#: Step widths per lever for the piecewise-constant flavour (like tree split spacing).
TREE_LIKE_STEPS: FloatArray = np.array([0.01, 5.0, 0.02, 2.0, 0.05, 0.02, 10.0])


@dataclass(frozen=True)
class StudioModel:
    """Monthly revenue of one studio for months 1..horizon, vectorised over plans.

    ``members(t) = members(t-1) * retention + new_members``; each month's revenue is
    ``members * ticket + attendance * drop_in_share * drop_in_price
    + new * intro_price * intro_conversion + members * retail_per_member * 0.2
    + members * upsell_rate * upsell_value`` with
    ``attendance = classes * class_capacity * attendance_rate``.

    Attributes
    ----------
    steps
        If set, every lever is floored to a multiple of its step before the formula,
        making revenue piecewise constant in each lever.
    staff_peak
        If set, revenue is scaled by ``1 - 2 * (staff_utilization - staff_peak)**2``:
        under-used staff sell less, over-used staff serve worse.
    interaction
        If set, upsell revenue scales with attendance (``0.5 + attendance_rate``), so
        attendance and upsell reinforce each other.
    """

    members0: float = 300.0
    class_capacity: float = 20.0
    drop_in_share: float = 0.15
    drop_in_price: float = 15.0
    intro_price: float = 49.0
    intro_conversion: float = 0.3
    retail_per_member: float = 40.0
    upsell_value: float = 60.0
    horizon: int = 12
    steps: tuple[float, ...] | None = None
    staff_peak: float | None = None
    interaction: bool = False

    def __call__(self, levers: FloatArray) -> FloatArray:
        """Return monthly revenue ``(n, horizon)`` for lever rows ``(n, 7)``."""
        x = np.asarray(levers, dtype=float)
        if self.steps is not None:
            steps = np.asarray(self.steps)
            # The small offset keeps 0.9 / 0.01 = 89.999... from flooring to 89.
            x = np.floor(x / steps + 1e-9) * steps
        retention, ticket, attendance_rate, new, staff, upsell, classes = x.T
        months = np.arange(1, self.horizon + 1)
        kept = retention[:, None] ** months
        # Closed form of the roll-forward: members0 * r^t + new * (1 + r + ... + r^(t-1)).
        members = self.members0 * kept + new[:, None] * _geometric_sum(
            retention, months
        )
        attendance = classes * self.class_capacity * attendance_rate
        upsell_lift = (
            0.5 + attendance_rate if self.interaction else np.ones_like(upsell)
        )
        per_member = (
            ticket
            + self.retail_per_member * 0.2
            + upsell * self.upsell_value * upsell_lift
        )
        flat = (
            attendance * self.drop_in_share * self.drop_in_price
            + new * self.intro_price * self.intro_conversion
        )
        revenue = members * per_member[:, None] + flat[:, None]
        if self.staff_peak is not None:
            revenue = revenue * (1 - 2 * (staff - self.staff_peak) ** 2)[:, None]
        return revenue


def _geometric_sum(ratio: FloatArray, months: npt.NDArray[np.int_]) -> FloatArray:
    """``1 + r + ... + r^(t-1)`` for each ratio and month, exact at ``r == 1``."""
    r = ratio[:, None]
    near_one = np.isclose(r, 1.0)
    safe = np.where(near_one, 0.5, r)
    return np.where(near_one, months, (1 - safe**months) / (1 - safe))


def random_studio(
    rng: np.random.Generator, *, stepped: bool, staff_peak: bool, interaction: bool
) -> tuple[StudioModel, FloatArray]:
    """Draw a studio model and today's levers from the SPEC §2.7 ranges."""
    model = StudioModel(
        members0=float(rng.uniform(100, 500)),
        class_capacity=float(rng.uniform(10, 30)),
        upsell_value=float(rng.uniform(30, 90)),
        steps=tuple(TREE_LIKE_STEPS) if stepped else None,
        staff_peak=float(rng.uniform(0.7, 0.9)) if staff_peak else None,
        interaction=interaction,
    )
    current = np.array(
        [
            rng.uniform(0.60, 0.95),
            rng.uniform(80, 300),
            rng.uniform(0.5, 0.9),
            rng.uniform(10, 50),
            rng.uniform(0.6, 0.95),
            rng.uniform(0.10, 0.40),
            rng.uniform(100, 400),
        ]
    )
    return model, current
