"""The tactics catalogue (SPEC §6) as data, and the rule that sizes tactics to a change.

Each tactic moves one lever by a typical amount over a typical time at a typical
cost. The figures are planning assumptions for a studio of 100-500 members, not
measurements; they are kept here, in one table, so an operator can tune them
without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from forecasting.services import lever_scale
from studiosim.currencies import dollar_rate


class Cost(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


#: Monthly cost, in US dollars, that each cost level stands for (converted for a
#: studio in another currency by :func:`cost_factor`).
COST_ESTIMATE = {Cost.LOW: 250.0, Cost.MEDIUM: 1000.0, Cost.HIGH: 3000.0}


def cost_factor(currency: str) -> float:
    """How many of ``currency`` a catalogue dollar is: ``CURRENCY_RATES`` (an
    operator setting), 1 for US dollars and for a currency it does not list."""
    return dollar_rate(currency) or 1.0


def cost_currency(currency: str) -> str:
    """The currency the catalogue's costs come out in for a studio in
    ``currency``: its own where :func:`cost_factor` converts them (US dollars, or
    a currency ``CURRENCY_RATES`` lists), US dollars otherwise."""
    return currency if dollar_rate(currency) is not None else "USD"


@dataclass(frozen=True)
class Tactic:
    key: str
    lever: str
    name: str
    description: str
    #: Typical change of the lever, in its own unit (rates as fractions, ticket
    #: in currency, new members and classes per month).
    expected_improvement: float
    timeline_weeks: int
    cost: Cost

    @property
    def cost_estimate(self) -> float:
        return COST_ESTIMATE[self.cost]


CATALOGUE: tuple[Tactic, ...] = (
    # Retention
    Tactic(
        "member_checkins",
        "retention_rate",
        "Member check-ins",
        "Instructors call or message members who missed two weeks of classes.",
        0.01,
        2,
        Cost.LOW,
    ),
    Tactic(
        "reengagement_campaign",
        "retention_rate",
        "Re-engagement campaign",
        "Win-back offers and personal outreach to members at risk of lapsing.",
        0.02,
        4,
        Cost.MEDIUM,
    ),
    Tactic(
        "loyalty_programme",
        "retention_rate",
        "Loyalty programme",
        "Milestone rewards and member-only perks for continuous membership.",
        0.03,
        8,
        Cost.HIGH,
    ),
    # Ticket
    Tactic(
        "peak_pricing",
        "avg_ticket_price",
        "Peak-hour pricing",
        "A higher price for prime-time classes; off-peak unchanged.",
        8.0,
        3,
        Cost.LOW,
    ),
    Tactic(
        "premium_tier",
        "avg_ticket_price",
        "Premium membership tier",
        "A top tier with priority booking, guest passes and workshops.",
        20.0,
        6,
        Cost.MEDIUM,
    ),
    # Attendance
    Tactic(
        "schedule_optimisation",
        "class_attendance_rate",
        "Schedule optimisation",
        "Move and merge under-filled time slots using booking data.",
        0.03,
        3,
        Cost.LOW,
    ),
    Tactic(
        "class_challenge",
        "class_attendance_rate",
        "Class challenge",
        "A 30-day attendance challenge with a leaderboard and prizes.",
        0.05,
        4,
        Cost.MEDIUM,
    ),
    # New members
    Tactic(
        "referral_programme",
        "new_members_monthly",
        "Referral programme",
        "A free month for members who bring a friend who joins.",
        4.0,
        4,
        Cost.LOW,
    ),
    Tactic(
        "intro_offer_campaign",
        "new_members_monthly",
        "Intro-offer campaign",
        "Paid social and local partnerships promoting a two-week intro offer.",
        8.0,
        6,
        Cost.MEDIUM,
    ),
    Tactic(
        "community_events",
        "new_members_monthly",
        "Community open days",
        "Free outdoor classes and open days with on-the-spot sign-up.",
        12.0,
        8,
        Cost.HIGH,
    ),
    # Staff utilisation
    Tactic(
        "shift_rebalancing",
        "staff_utilization_rate",
        "Shift rebalancing",
        "Align instructor shifts with booked demand; fewer idle hours.",
        0.04,
        2,
        Cost.LOW,
    ),
    Tactic(
        "cross_training",
        "staff_utilization_rate",
        "Instructor cross-training",
        "Train instructors to teach more class formats to fill gaps.",
        0.07,
        8,
        Cost.MEDIUM,
    ),
    # Upsell
    Tactic(
        "addon_bundles",
        "upsell_rate",
        "Add-on bundles",
        "Bundle workshops, retail and recovery sessions with memberships.",
        0.03,
        3,
        Cost.LOW,
    ),
    Tactic(
        "consultative_selling",
        "upsell_rate",
        "Consultative-selling training",
        "Front-desk and instructor training on recommending add-ons.",
        0.05,
        6,
        Cost.MEDIUM,
    ),
    # Class schedule
    Tactic(
        "add_peak_slots",
        "total_classes_held",
        "Add peak-time classes",
        "Open extra classes in the most booked time slots.",
        12.0,
        2,
        Cost.MEDIUM,
    ),
    Tactic(
        "new_class_format",
        "total_classes_held",
        "Launch a new class format",
        "A new format (e.g. a short express class) in new time slots.",
        20.0,
        6,
        Cost.HIGH,
    ),
)

#: What to do about each risk the insights report (see ``insights.services``),
#: kept beside the catalogue for the same reason: an operator tunes text, not code.
RISK_MITIGATIONS: dict[str, str] = {
    "seasonal_dip": (
        "Book a class challenge or an intro-offer push for the weeks before the "
        "dip, and move optional costs (retail stock, workshops) out of that month."
    ),
    "retention_decline": (
        "Find out why members leave (exit survey, lapsed-member calls) and start "
        "the retention tactics sized to the decline: {tactics}."
    ),
    "staff_overutilisation": (
        "Plan cover before burnout costs instructors: add part-time or substitute "
        "instructors and cap each instructor's weekly classes."
    ),
    "capacity_limit": (
        "Classes this full turn members away: add classes in the fullest time "
        "slots or a waitlist with automatic spots, before raising peak prices."
    ),
}

TACTICS_BY_LEVER: dict[str, tuple[Tactic, ...]] = {}
for _tactic in CATALOGUE:
    TACTICS_BY_LEVER.setdefault(_tactic.lever, ())
    TACTICS_BY_LEVER[_tactic.lever] += (_tactic,)


def tactics_for_change(
    lever: str, change: float, current: float | None = None
) -> list[Tactic]:
    """The tactics sized to a lever change (the selection rule).

    Only increases need tactics. The cheapest single tactic whose typical
    improvement covers the change is chosen; when none does alone, tactics are
    added in order of improvement per unit of cost until their combined typical
    improvement covers it (or the lever's tactics run out). ``current`` is the
    studio's value of the lever: on a studio :func:`forecasting.services.lever_scale`
    times the catalogue's, each tactic's typical improvement is that many times as
    large (a price review lifts a 24,000-yen ticket by yen, not dollars).
    """
    change = change / lever_scale(lever, current)
    if change <= 0:
        return []
    options = sorted(
        TACTICS_BY_LEVER.get(lever, ()),
        key=lambda t: (t.cost_estimate, t.timeline_weeks),
    )
    for tactic in options:
        if tactic.expected_improvement >= change:
            return [tactic]
    chosen: list[Tactic] = []
    covered = 0.0
    for tactic in sorted(
        options, key=lambda t: t.expected_improvement / t.cost_estimate, reverse=True
    ):
        chosen.append(tactic)
        covered += tactic.expected_improvement
        if covered >= change:
            break
    return chosen
