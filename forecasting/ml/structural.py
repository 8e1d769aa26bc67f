"""The structural stock-flow core of the forward model (SPEC §2.1 and §2.6).

Members roll forward by the plan's retention and new members and the studio's
member-flow residual ``f`` (what freezes, transfers and corrections do to the count
beyond the reported flows; 0 where the identity holds),
``m_h = m_{h-1} * (r_h + f) + n_h``; attendance is ``rate x classes x capacity``; revenue is
the sum of the five components of the revenue formula with the studio's estimated
constants (see :data:`forecasting.ml.features.CONSTANTS`). With non-negative inputs
every output is non-negative and non-decreasing in retention, ticket, attendance
rate, new members, upsell rate and classes held, at every horizon, whatever the
values: that is what makes the full model lever-faithful by construction.
"""

from __future__ import annotations

import numpy as np

from forecasting.ml.frame import LEVERS

__all__ = ["LEVER_INDEX", "structural_path"]

#: Position of each lever in the last axis of a plan array.
LEVER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LEVERS)}

_R = LEVER_INDEX["retention_rate"]
_P = LEVER_INDEX["avg_ticket_price"]
_A = LEVER_INDEX["class_attendance_rate"]
_N = LEVER_INDEX["new_members_monthly"]
_U = LEVER_INDEX["upsell_rate"]
_C = LEVER_INDEX["total_classes_held"]


def structural_path(
    members0: np.ndarray,
    plan: np.ndarray,
    constants: np.ndarray,
    capacity: np.ndarray,
    flow: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Roll members forward under a plan and apply the revenue formula.

    Parameters
    ----------
    members0 : numpy.ndarray
        Members at the base month, shape (n,) or broadcastable to it.
    plan : numpy.ndarray
        Lever values per projected month, shape (n, H, 7) in :data:`LEVERS` order.
    constants : numpy.ndarray
        Revenue-formula constants, shape (n, 5) or (5,).
    capacity : numpy.ndarray
        Studio max capacity, shape (n,) or scalar.
    flow : numpy.ndarray or float, default 0
        Member-flow residual per member and month, shape (n,) or scalar (see
        :func:`forecasting.ml.features.member_flow_residual`).

    Returns
    -------
    members : numpy.ndarray
        Shape (n, H): members at the end of each projected month.
    revenue : numpy.ndarray
        Shape (n, H): structural revenue of each projected month.
    """
    n, horizon, _ = plan.shape
    retention = plan[:, :, _R]
    new = plan[:, :, _N]
    members = np.empty((n, horizon))
    current = np.broadcast_to(np.asarray(members0, dtype=np.float64), (n,))
    flow = np.broadcast_to(np.asarray(flow, dtype=np.float64), (n,))
    # A short recursion over months (at most 12 steps), vectorised over plans.
    for k in range(horizon):
        current = current * np.maximum(retention[:, k] + flow, 0.0) + new[:, k]
        members[:, k] = current
    constants = np.atleast_2d(np.asarray(constants, dtype=np.float64))
    k_mem, per_attendance, per_new, retail, upsell_value = (
        constants[:, j : j + 1] for j in range(5)
    )
    capacity = np.asarray(capacity, dtype=np.float64).reshape(-1, 1)
    attendance = plan[:, :, _A] * plan[:, :, _C] * capacity
    revenue = (
        members * (k_mem * plan[:, :, _P] + retail + upsell_value * plan[:, :, _U])
        + per_attendance * attendance
        + per_new * new
    )
    return members, revenue
