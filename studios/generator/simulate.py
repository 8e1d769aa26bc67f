"""Month-by-month simulation of every studio at once.

The loop runs over months only; every statement inside it works on arrays with
one element per studio. The causal order within a month is:

1. the schedule (classes) and the staff rota are planned from last month's members;
2. retention follows from the studio's base retention and how stretched the staff
   are; churn is drawn around ``(1 - retention) x last month's members``;
3. new members are drawn around the studio's acquisition for its age and season;
4. members roll forward: ``members = previous + new - churned`` (exact);
5. attendance is classes x capacity x attendance rate; upsell follows attendance;
6. revenue is the SPEC §2.6 formula on the realised values, component by component.

Each noisy series is drawn as ``expected x (1 + sigma x z)`` with ``z`` standard
normal clipped at +-2.5; the ``expected`` value (noise-free, conditional on the
realised previous month) is kept as evaluation truth.
"""

from __future__ import annotations

import numpy as np

from studios.generator import outliers
from studios.generator.profiles import (
    FOUNDING_DISCOUNT,
    SCHEDULE_ELASTICITY,
    StudioParams,
    member_path,
    planned_classes,
    planned_staff,
    staffed_retention,
)

__all__ = ["DROP_IN_PRICE", "INT_FIELDS", "NOISE", "RETAIL_MARGIN", "simulate"]

#: MonthlyMetric fields that are counts.
INT_FIELDS = frozenset(
    {
        "total_members",
        "new_members",
        "churned_members",
        "total_classes_held",
        "total_class_attendance",
        "staff_count",
        "intro_offer_conversions",
    }
)

#: Multiplicative noise (standard deviation) of each noisy series (SPEC §2.5).
NOISE: dict[str, float] = {
    "new_members": 0.08,
    "churned_members": 0.08,
    "avg_ticket_price": 0.06,
    "total_classes_held": 0.05,
    "class_attendance_rate": 0.05,
    "upsell_rate": 0.08,
    "staff_utilization_rate": 0.05,
    "intro_offer_conversions": 0.06,
}
_NOISE_CLIP = 2.5

DROP_IN_PRICE = 15.0  # USD per drop-in visit (SPEC §2.6)
RETAIL_MARGIN = 0.2  # share of retail sales counted as revenue (SPEC §2.6)

# Upsell rate ~ attendance rate ** 0.3: members who come to class buy extras.
_UPSELL_ATTENDANCE_ELASTICITY = 0.3
# Retention lost per point of staff utilisation above 85% (overstretched staff).
_OVERSTRETCH_THRESHOLD = 0.85
_OVERSTRETCH_PENALTY = 0.15
# Smoothing of retention for the member lifetime (about a 4-month window).
_LIFETIME_SMOOTHING = 0.25
LIFETIME_MIN, LIFETIME_MAX = 6.0, 24.0
_ATTENDANCE_MAX = 0.95
_UTILIZATION_MAX = 0.98
_RAMP_MONTHS = 24


def _season_new(p: StudioParams, month: int) -> np.ndarray:
    """New-member seasonality, normalised to a yearly mean of 1.

    January brings ``1 + jan_lift`` and September ``1 + sep_lift`` times the
    new members of an ordinary month.
    """
    lift = p.jan_lift * (month == 1) + p.sep_lift * (month == 9)
    return (1.0 + lift) / (1.0 + (p.jan_lift + p.sep_lift) / 12.0)


def _season_attendance(p: StudioParams, month: int) -> np.ndarray:
    """Attendance-rate seasonality: the summer and December dips."""
    dip = p.summer_dip * (month in (6, 7, 8)) + p.december_dip * (month == 12)
    return 1.0 - dip


def simulate(
    p: StudioParams,
    months: int,
    first_month: int,
    shocks: outliers.Shocks,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Roll every studio forward month by month.

    Parameters
    ----------
    p : StudioParams
        Static studio parameters.
    months : int
        Length of the history.
    first_month : int
        Calendar month (1-12) of the first history month.
    shocks : outliers.Shocks
        Outlier months and their multipliers.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    dict of str to ndarray
        One ``(n, months)`` array per MonthlyMetric field (int64 for
        INT_FIELDS, float64 otherwise) and per ``expected_<field>`` (float64).
    """
    n = p.n
    z = np.clip(rng.standard_normal((len(NOISE), n, months)), -_NOISE_CLIP, _NOISE_CLIP)
    noise = {name: 1.0 + sigma * z[i] for i, (name, sigma) in enumerate(NOISE.items())}

    # The acquisition that keeps a studio exactly on its growth path:
    # path(a) - r(a) x path(a - 1), with r(a) the retention the studio has with the
    # team it keeps on the path. New members are drawn around it, so they do not
    # react to last month's churn noise, and a studio with higher retention needs
    # fewer new members to grow the same (SPEC §2.4).
    ages = p.age_at_start[:, None] + np.arange(-1, months)[None, :]
    path = member_path(ages, p.growth, p.size)
    path_staff = planned_staff(
        planned_classes(path[:, :-1], p.classes_at_size[:, None], p.size[:, None]),
        p.classes_per_staff[:, None],
        p.staff_target_utilization[:, None],
    )
    path_retention = staffed_retention(p.base_retention[:, None], path_staff)
    acquisition = path[:, 1:] - path_retention * path[:, :-1]

    out: dict[str, np.ndarray] = {}
    # Members before the first history month: on the path.
    members_prev = np.round(path[:, 0])
    smoothed_retention = path_retention[:, 0].copy()
    capacity = p.max_capacity.astype(float)

    for t in range(months):
        month = (first_month - 1 + t) % 12 + 1
        age = p.age_at_start + t
        years = t / 12.0

        # 1. Schedule and staff, planned from last month's members.
        relative_size = members_prev / p.size
        schedule = planned_classes(members_prev, p.classes_at_size, p.size)
        staff = planned_staff(schedule, p.classes_per_staff, p.staff_target_utilization)
        exp_classes = schedule * shocks.classes[:, t]
        classes = np.maximum(
            np.round(exp_classes * noise["total_classes_held"][:, t]), 1
        )
        exp_util = exp_classes / (staff * p.classes_per_staff)
        # Booked hours also include privates, cover and admin, hence noise of its own
        # rather than a copy of the class-count noise; never quite 100%.
        util = np.clip(
            exp_util * noise["staff_utilization_rate"][:, t], 0.0, _UTILIZATION_MAX
        )

        # 2. Retention and churn: a bigger team keeps members longer, an
        # overstretched one (utilisation above 85%) loses some.
        exp_retention = staffed_retention(
            p.base_retention, staff
        ) - _OVERSTRETCH_PENALTY * np.maximum(exp_util - _OVERSTRETCH_THRESHOLD, 0.0)
        exp_churn = (1.0 - exp_retention) * members_prev * shocks.churn[:, t]
        churned = np.clip(
            np.round(exp_churn * noise["churned_members"][:, t]), 0, members_prev
        )

        # 3. New members.
        exp_new = acquisition[:, t] * _season_new(p, month) * shocks.new[:, t]
        new = np.maximum(np.round(exp_new * noise["new_members"][:, t]), 0)

        # 4. Stock-flow identity.
        members = members_prev + new - churned
        retention = 1.0 - churned / members_prev
        exp_members = members_prev + exp_new - exp_churn

        # 5. Price, attendance, upsell.
        ramp = FOUNDING_DISCOUNT ** np.maximum(1.0 - age / _RAMP_MONTHS, 0.0)
        exp_ticket = (
            p.list_price * ramp * (1.0 + p.inflation) ** years * shocks.ticket[:, t]
        )
        ticket = np.round(exp_ticket * noise["avg_ticket_price"][:, t], 2)

        exp_rate = np.clip(
            p.attendance
            * relative_size ** (1.0 - SCHEDULE_ELASTICITY)
            * _season_attendance(p, month)
            * shocks.attendance[:, t],
            0.0,
            _ATTENDANCE_MAX,
        )
        # No-shows and late cancellations keep a month's classes below 95% full.
        rate_draw = np.clip(
            exp_rate * noise["class_attendance_rate"][:, t], 0.0, _ATTENDANCE_MAX
        )
        attendance = np.round(classes * capacity * rate_draw)
        rate = attendance / (classes * capacity)
        exp_attendance = exp_classes * capacity * exp_rate

        upsell_at = (
            p.upsell_rate
            * shocks.upsell[:, t]
            / p.attendance**_UPSELL_ATTENDANCE_ELASTICITY
        )
        exp_upsell = np.clip(
            upsell_at * exp_rate**_UPSELL_ATTENDANCE_ELASTICITY, 0.0, 1.0
        )
        upsell = np.clip(
            upsell_at
            * rate**_UPSELL_ATTENDANCE_ELASTICITY
            * noise["upsell_rate"][:, t],
            0.0,
            1.0,
        )

        # 6. Revenue (SPEC §2.6), studio constants drifting slowly over the window.
        drift = 1.0 + p.drift * (years / 5.0)
        drop_in_share = p.drop_in_share * drift[:, 0]
        retail_per_member = p.retail_per_member * drift[:, 1] * shocks.retail[:, t]
        upsell_value = p.upsell_value * drift[:, 2]

        exp_conversions = exp_new * p.intro_share
        conversions = np.clip(
            np.round(new * p.intro_share * noise["intro_offer_conversions"][:, t]),
            0,
            new,
        )
        components = {
            "membership_revenue": np.round(members * ticket, 2),
            "class_pack_revenue": np.round(
                attendance * drop_in_share * DROP_IN_PRICE, 2
            ),
            "intro_offer_revenue": np.round(conversions * p.intro_price, 2),
            "retail_revenue": np.round(members * retail_per_member * RETAIL_MARGIN, 2),
            "upsell_revenue": np.round(members * upsell * upsell_value, 2),
        }
        expected_components = {
            "membership_revenue": exp_members * exp_ticket,
            "class_pack_revenue": exp_attendance * drop_in_share * DROP_IN_PRICE,
            "intro_offer_revenue": exp_conversions * p.intro_price,
            "retail_revenue": exp_members * retail_per_member * RETAIL_MARGIN,
            "upsell_revenue": exp_members * exp_upsell * upsell_value,
        }
        total = np.round(sum(components.values()), 2)
        exp_total = sum(expected_components.values())

        smoothed_retention = (
            1.0 - _LIFETIME_SMOOTHING
        ) * smoothed_retention + _LIFETIME_SMOOTHING * retention
        lifetime = np.clip(1.0 / (1.0 - smoothed_retention), LIFETIME_MIN, LIFETIME_MAX)

        realised = {
            "total_members": members,
            "new_members": new,
            "churned_members": churned,
            "retention_rate": retention,
            "avg_ticket_price": ticket,
            "total_classes_held": classes,
            "total_class_attendance": attendance,
            "class_attendance_rate": rate,
            "staff_count": staff,
            "staff_utilization_rate": util,
            **components,
            "total_revenue": total,
            "intro_offer_conversions": conversions,
            "upsell_rate": upsell,
            "average_member_lifetime_months": lifetime,
        }
        expected = {
            "total_members": exp_members,
            "new_members": exp_new,
            "churned_members": exp_churn,
            "retention_rate": 1.0 - exp_churn / members_prev,
            "avg_ticket_price": exp_ticket,
            "total_classes_held": exp_classes,
            "total_class_attendance": exp_attendance,
            "class_attendance_rate": exp_rate,
            "staff_utilization_rate": exp_util,
            "upsell_rate": exp_upsell,
            "intro_offer_conversions": exp_conversions,
            **expected_components,
            "total_revenue": exp_total,
        }
        for name, values in [
            *realised.items(),
            *((f"expected_{k}", v) for k, v in expected.items()),
        ]:
            if name not in out:
                dtype = np.int64 if name in INT_FIELDS else np.float64
                out[name] = np.zeros((n, months), dtype=dtype)
            out[name][:, t] = values
        members_prev = members

    return out
