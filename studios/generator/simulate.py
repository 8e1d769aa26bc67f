"""Month-by-month simulation of every studio at once.

The loop runs over months only; every statement inside it works on arrays with
one element per studio. The causal order within a month is:

1. the schedule (classes) and the staff rota are planned from last month's members,
   the timetable moved by the studio's own reorganisations;
2. retention follows from the studio's base retention, how stretched the staff
   are and last month's price (:mod:`studios.generator.demand`); churn is drawn
   around ``(1 - retention) x last month's members``;
3. new members are drawn around the studio's acquisition for its age and season,
   thinned or swelled by last month's price;
4. members roll forward: ``members = previous + new - churned`` (exact);
5. the price follows the list price path, moved by the studio's own price changes;
   members' demand for classes, spread over the classes held, saturates towards
   capacity; upsell follows attendance;
6. revenue is the SPEC §2.6 formula on the realised values, component by component.

The same month step (:class:`World`) generates histories and runs an owner's plan
forward from a studio's state (:func:`run_plan`), with or without noise: the
generator is also the simulator the plans of the inverse prediction are proven in.

Each noisy series is drawn as ``expected x (1 + sigma x z)`` with ``z`` standard
normal clipped at +-2.5; the ``expected`` value (noise-free, conditional on the
realised previous month) is kept as evaluation truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import numpy as np

from studios.generator import outliers
from studios.generator.demand import (
    DEMAND,
    REFERENCE_ADAPTATION,
    extra_sign_ups,
    price_response,
    saturated_rate,
)
from studios.generator.profiles import (
    FOUNDING_DISCOUNT,
    SCHEDULE_ELASTICITY,
    StudioParams,
    member_path,
    planned_classes,
    planned_staff,
    staffed_retention,
)

__all__ = [
    "DROP_IN_PRICE",
    "INT_FIELDS",
    "NOISE",
    "PLAN_LEVERS",
    "RETAIL_MARGIN",
    "World",
    "WorldState",
    "restrict",
    "run_plan",
    "simulate",
]

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
# The studios' own timetables (see _timetable_moves; all assumptions): kept
# within this factor of the planned timetable either way; the share of a
# revision the rota follows at once (a new term's extra classes are mostly
# taught by the team it has, as extra hours); classes are added only while the
# studio's usual fill stays above _MIN_FILL and its team's usual utilisation
# below _MAX_STRETCH.
_TIMETABLE_BOUND = 1.12
_ROTA_FOLLOWS = 0.25
_MIN_FILL = 0.68
_MAX_STRETCH = 0.87


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


@dataclass(frozen=True)
class WorldState:
    """Where ``n`` studios stand between two months; what the next month starts from.

    Attributes
    ----------
    t : int
        Months simulated so far (the index of the next month in the window).
    members : numpy.ndarray
        Members at the end of the last month.
    price_level : numpy.ndarray
        Last month's posted price over the studio's usual price (1 at the usual
        price; the usual price follows the list price, founding ramp and
        inflation, which members take in their stride).
    reference_level : numpy.ndarray
        The price level the members have got used to.
    smoothed_retention : numpy.ndarray
        Retention smoothed over about four months (the member lifetime).
    price_move, schedule_move : numpy.ndarray
        The studio's own price and timetable, as factors on its list price path
        and planned schedule, in force in the last month.
    """

    t: int
    members: np.ndarray
    price_level: np.ndarray
    reference_level: np.ndarray
    smoothed_retention: np.ndarray
    price_move: np.ndarray
    schedule_move: np.ndarray


#: The levers a plan may change (SPEC §4), each as a change against the status
#: quo: retention, attendance, staff utilisation and upsell in points (0.02 is two
#: points), the average ticket in the currency, new members and classes per month.
PLAN_LEVERS: tuple[str, ...] = (
    "retention_rate",
    "avg_ticket_price",
    "class_attendance_rate",
    "new_members_monthly",
    "staff_utilization_rate",
    "upsell_rate",
    "total_classes_held",
)


class World:
    """The month step of ``n`` studios, for histories and for plans.

    Parameters
    ----------
    p : StudioParams
        Static studio parameters.
    first_month : int
        Calendar month (1-12) of the window's first month.
    """

    def __init__(self, p: StudioParams, first_month: int) -> None:
        self.p = p
        self.first_month = first_month
        self.capacity = p.max_capacity.astype(float)
        self.response = tuple(
            np.array([getattr(DEMAND[t], field) for t in p.types], dtype=float)
            for field in ("sign_ups", "churn_level", "churn_shock")
        )

    def _path(self, age: np.ndarray) -> np.ndarray:
        return member_path(age, self.p.growth, self.p.size)

    def _path_retention(self, age: np.ndarray) -> np.ndarray:
        p = self.p
        staff = planned_staff(
            planned_classes(self._path(age), p.classes_at_size, p.size),
            p.classes_per_staff,
            p.staff_target_utilization,
        )
        return staffed_retention(p.base_retention, staff)

    def acquisition(self, t: int) -> np.ndarray:
        """New members that keep a studio exactly on its growth path in month t.

        ``path(a) - r(a - 1) x path(a - 1)``, with ``r`` the retention the studio
        has with the team it keeps on the path. New members are drawn around it,
        so they do not react to last month's churn noise, and a studio with higher
        retention needs fewer new members to grow the same (SPEC §2.4).
        """
        age = self.p.age_at_start + t
        previous = (age - 1).astype(float)
        return self._path(age.astype(float)) - self._path_retention(
            previous
        ) * self._path(previous)

    def usual_price(self, t: int) -> np.ndarray:
        """The list price path: list price, founding ramp and inflation."""
        p = self.p
        age = p.age_at_start + t
        ramp = FOUNDING_DISCOUNT ** np.maximum(1.0 - age / _RAMP_MONTHS, 0.0)
        return p.list_price * ramp * (1.0 + p.inflation) ** (t / 12.0)

    def initial_state(self) -> WorldState:
        """The state before the window's first month: members on the path."""
        p = self.p
        members = np.round(self._path((p.age_at_start - 1).astype(float)))
        ones = np.ones(p.n)
        return WorldState(
            t=0,
            members=members,
            price_level=ones,
            reference_level=ones,
            smoothed_retention=self._path_retention((p.age_at_start - 1).astype(float)),
            price_move=ones,
            schedule_move=ones,
        )

    def step(
        self,
        state: WorldState,
        *,
        noise: Mapping[str, np.ndarray] | None,
        shock: np.ndarray | None = None,
        price_move: np.ndarray | None = None,
        schedule_move: np.ndarray | None = None,
        changes: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[WorldState, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One month for every studio.

        Parameters
        ----------
        state : WorldState
            Where the studios stand.
        noise : mapping of str to numpy.ndarray, or None
            This month's multiplicative noise per series (``1 + sigma x z``);
            None for the expected month (nothing drawn, nothing rounded).
        shock : numpy.ndarray, optional
            Shape (7, n): this month's outlier multipliers (new members, churn,
            classes, attendance, ticket, upsell, retail); none by default.
        price_move, schedule_move : numpy.ndarray, optional
            The studio's own price and timetable factors from this month on
            (default: those in force).
        changes : mapping of str to numpy.ndarray, optional
            An owner's plan: the change of each lever of :data:`PLAN_LEVERS`
            against the status quo (see :func:`run_plan`).

        Returns
        -------
        state, realised, expected
            The new state and the month's realised and noise-free values per
            MonthlyMetric field.
        """
        p, t = self.p, state.t
        n = p.n
        month = (self.first_month - 1 + t) % 12 + 1
        years = t / 12.0
        changes = changes or {}
        shock = np.ones((7, n)) if shock is None else shock
        s_new, s_churn, s_classes, s_attendance, s_ticket, s_upsell, s_retail = shock
        price_move = state.price_move if price_move is None else price_move
        schedule_move = state.schedule_move if schedule_move is None else schedule_move

        def draw(name: str, expected: np.ndarray) -> np.ndarray:
            return expected if noise is None else expected * noise[name]

        def whole(values: np.ndarray) -> np.ndarray:
            return values if noise is None else np.round(values)

        members_prev = state.members
        relative_size = members_prev / p.size

        # 1. Schedule and staff, planned from last month's members.
        schedule = planned_classes(members_prev, p.classes_at_size, p.size)
        # The rota follows a quarter of the studio's own timetable moves: a bigger
        # timetable stretches the team it keeps.
        staff = planned_staff(
            schedule * (1.0 + _ROTA_FOLLOWS * (schedule_move - 1.0)),
            p.classes_per_staff,
            p.staff_target_utilization,
        )
        timetable = np.maximum(
            schedule * schedule_move + changes.get("total_classes_held", 0.0), 1.0
        )
        exp_classes = timetable * s_classes
        classes = np.maximum(whole(draw("total_classes_held", exp_classes)), 1)
        if "staff_utilization_rate" in changes:
            # The plan sets the team to reach its utilisation on this timetable.
            target = np.clip(
                exp_classes / (staff * p.classes_per_staff)
                + changes["staff_utilization_rate"],
                0.05,
                _UTILIZATION_MAX,
            )
            staff = np.maximum(exp_classes / (p.classes_per_staff * target), 1.0)
        exp_util = exp_classes / (staff * p.classes_per_staff)
        # Booked hours also include privates, cover and admin, hence noise of its own
        # rather than a copy of the class-count noise; never quite 100%.
        util = np.clip(draw("staff_utilization_rate", exp_util), 0.0, _UTILIZATION_MAX)

        # 2. Retention and churn: a bigger team keeps members longer, an
        # overstretched one (utilisation above 85%) loses some, and last month's
        # price moves churn (demand.price_response).
        sign_up_response, churn_response = price_response(
            state.price_level, state.reference_level, self.response
        )
        exp_retention = (
            staffed_retention(p.base_retention, staff)
            + changes.get("retention_rate", 0.0)
            - _OVERSTRETCH_PENALTY * np.maximum(exp_util - _OVERSTRETCH_THRESHOLD, 0.0)
        )
        exp_churn = np.clip(
            (1.0 - exp_retention) * members_prev * s_churn * churn_response,
            0.0,
            members_prev,
        )
        churned = np.clip(whole(draw("churned_members", exp_churn)), 0, members_prev)

        # 3. New members: the path's acquisition, its season, last month's price,
        # and whatever extra effort the plan or a promotion puts in (saturating
        # with the market).
        # A promotion (an outlier month with s_new above 1) is extra marketing
        # too, and saturates with the market like a plan's.
        usual_new = self.acquisition(t) * _season_new(p, month) * sign_up_response
        exp_new = np.maximum(
            usual_new * np.minimum(s_new, 1.0)
            + extra_sign_ups(
                changes.get("new_members_monthly", 0.0)
                + usual_new * np.maximum(s_new - 1.0, 0.0),
                members_prev,
                p.size,
            ),
            0.0,
        )
        new = np.maximum(whole(draw("new_members", exp_new)), 0)

        # 4. Stock-flow identity.
        members = members_prev + new - churned
        retention = 1.0 - churned / members_prev
        exp_members = members_prev + exp_new - exp_churn

        # 5. Price, attendance, upsell.
        # The posted price; an outlier month (dues credited back) bills less of it.
        usual = self.usual_price(t)
        posted = np.maximum(
            usual * price_move + changes.get("avg_ticket_price", 0.0), 0.0
        )
        exp_ticket = posted * s_ticket
        ticket = (
            exp_ticket
            if noise is None
            else np.round(exp_ticket * noise["avg_ticket_price"], 2)
        )
        # Members' demand for classes, spread over the classes held: the planned
        # timetable fills to the studio's level; a fuller one spreads it thinner.
        demand = p.attendance * relative_size ** (
            1.0 - SCHEDULE_ELASTICITY
        ) * _season_attendance(
            p, month
        ) * s_attendance * schedule / timetable + changes.get(
            "class_attendance_rate", 0.0
        )
        exp_rate = saturated_rate(demand)
        # No-shows and late cancellations keep a month's classes below 95% full.
        rate_draw = np.clip(
            draw("class_attendance_rate", exp_rate), 0.0, _ATTENDANCE_MAX
        )
        attendance = whole(classes * self.capacity * rate_draw)
        rate = attendance / (classes * self.capacity)
        exp_attendance = exp_classes * self.capacity * exp_rate

        upsell_at = (
            p.upsell_rate * s_upsell / p.attendance**_UPSELL_ATTENDANCE_ELASTICITY
        )
        upsell_plan = changes.get("upsell_rate", 0.0)
        exp_upsell = np.clip(
            upsell_at * exp_rate**_UPSELL_ATTENDANCE_ELASTICITY + upsell_plan, 0.0, 1.0
        )
        upsell = np.clip(
            draw(
                "upsell_rate",
                upsell_at * rate**_UPSELL_ATTENDANCE_ELASTICITY + upsell_plan,
            ),
            0.0,
            1.0,
        )

        # 6. Revenue (SPEC §2.6), studio constants drifting slowly over the window.
        drift = 1.0 + p.drift * (years / 5.0)
        drop_in_share = p.drop_in_share * drift[:, 0]
        retail_per_member = p.retail_per_member * drift[:, 1] * s_retail
        upsell_value = p.upsell_value * drift[:, 2]

        exp_conversions = exp_new * p.intro_share
        conversions = np.clip(
            whole(draw("intro_offer_conversions", new * p.intro_share)), 0, new
        )

        def money(values: np.ndarray) -> np.ndarray:
            return values if noise is None else np.round(values, 2)

        components = {
            "membership_revenue": money(members * ticket),
            "class_pack_revenue": money(attendance * drop_in_share * DROP_IN_PRICE),
            "intro_offer_revenue": money(conversions * p.intro_price),
            "retail_revenue": money(members * retail_per_member * RETAIL_MARGIN),
            "upsell_revenue": money(members * upsell * upsell_value),
        }
        expected_components = {
            "membership_revenue": exp_members * exp_ticket,
            "class_pack_revenue": exp_attendance * drop_in_share * DROP_IN_PRICE,
            "intro_offer_revenue": exp_conversions * p.intro_price,
            "retail_revenue": exp_members * retail_per_member * RETAIL_MARGIN,
            "upsell_revenue": exp_members * exp_upsell * upsell_value,
        }
        total = money(sum(components.values()))
        exp_total = sum(expected_components.values())

        smoothed_retention = (
            1.0 - _LIFETIME_SMOOTHING
        ) * state.smoothed_retention + _LIFETIME_SMOOTHING * retention
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
        new_state = WorldState(
            t=t + 1,
            members=members,
            price_level=posted / usual,
            reference_level=state.reference_level
            + REFERENCE_ADAPTATION * (posted / usual - state.reference_level),
            smoothed_retention=smoothed_retention,
            price_move=price_move,
            schedule_move=schedule_move,
        )
        return new_state, realised, expected


def _price_rises(rng: np.random.Generator, n: int, months: int) -> np.ndarray:
    """Each studio's own price moves: a factor on its usual price per month.

    Rises: the first comes 3-24 months into the window, the next ones every 18-30
    months (each studio its own rhythm), each by 3-7%. Promotions: about once every
    two years (each studio's first 2-24 months into the window, then every 15-30
    months, none in the last 12 months of a history of 36 months or more), the
    price is cut by 5-12% for 2-4 months and then restored. Both are
    assumptions: studios raise prices now and then and run seasonal offers and
    win-back discounts; the cuts and their end give the price response the
    up-and-down variation it is learned from (SPEC §12).
    """
    factor = np.ones((n, months))
    next_rise = rng.integers(3, 25, n)
    rhythm = rng.integers(18, 31, n)
    current = np.ones(n)
    for t in range(months):
        rising = t == next_rise
        current = np.where(rising, current * rng.uniform(1.03, 1.07, n), current)
        next_rise = np.where(rising, next_rise + rhythm, next_rise)
        factor[:, t] = current
    promotion = np.ones((n, months))
    start = rng.integers(2, 25, n)
    # Like outlier months, promotions stay out of the last 12 months (validation
    # and test) when the history is long enough, so that evaluation measures the
    # models on regular months and a plan starts from a settled price.
    end = months - 12 if months - 12 >= 24 else months
    for i in range(n):
        at = int(start[i])
        while True:
            length = int(rng.integers(2, 5))
            cut = rng.uniform(0.05, 0.12)
            if at + length > end:
                break
            promotion[i, at : at + length] = 1.0 - cut
            at += length + int(rng.integers(15, 31))
    return factor * promotion


def _timetable_moves(
    rng: np.random.Generator, p: StudioParams, months: int
) -> np.ndarray:
    """Each studio's own timetable: a factor on its planned timetable per month.

    Studios publish a new timetable each term: every 4-8 months (each studio its
    own rhythm, the first 1-8 months into the window) the timetable moves by 4-10%
    either way (a handful of classes a week more or fewer), down to 12% below the
    plan and up to 12% above it only as far as the classes stay well attended (the
    studio's usual fill over ``_MIN_FILL``) and the team, following a quarter of
    the revision (:meth:`World.step`), stays below ``_MAX_STRETCH`` of its hours
    (demand-led: a studio adds classes its members fill and its team can teach).
    Like promotions, revisions stay out of the last 12 months of a history of 36
    months or more, so that evaluation measures the models on regular months and a
    plan starts from a settled timetable. All of these are assumptions (termly or
    seasonal timetables are common practice); the revisions are the variation the
    timetable's spread over attendance and the utilisation penalty are learned
    from (SPEC §12).
    """
    n = p.n
    # Classes are added only while they stay well attended and the team is not
    # overstretched; cuts go down to 1 / _TIMETABLE_BOUND.
    fill_room = p.attendance / _MIN_FILL
    team_room = 1.0 + (_MAX_STRETCH / p.staff_target_utilization - 1.0) / (
        1.0 - _ROTA_FOLLOWS
    )
    high = np.clip(np.minimum(fill_room, team_room), 1.0, _TIMETABLE_BOUND)
    factor = np.ones((n, months))
    current = np.ones(n)
    next_at = rng.integers(1, 9, n)
    end = months - 12 if months - 12 >= 24 else months
    for t in range(months):
        revising = (t == next_at) & (t < end)
        size = rng.uniform(np.log1p(0.04), np.log1p(0.10), n)
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        moved = np.clip(current * np.exp(sign * size), 1.0 / _TIMETABLE_BOUND, high)
        current = np.where(revising, moved, current)
        next_at = np.where(t == next_at, next_at + rng.integers(4, 9, n), next_at)
        factor[:, t] = current
    return factor


def simulate(
    p: StudioParams,
    months: int,
    first_month: int,
    shocks: outliers.Shocks,
    rng: np.random.Generator,
    moves_rng: np.random.Generator | None = None,
    world_out: list | None = None,
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
    moves_rng : numpy.random.Generator, optional
        Source of the studios' own price rises, promotions and timetable
        reorganisations (none without it).
    world_out : list, optional
        When given, receives the :class:`World` and its final :class:`WorldState`
        (to run plans forward from the end of the history).

    Returns
    -------
    dict of str to ndarray
        One ``(n, months)`` array per MonthlyMetric field (int64 for
        INT_FIELDS, float64 otherwise) and per ``expected_<field>`` (float64).
    """
    n = p.n
    z = np.clip(rng.standard_normal((len(NOISE), n, months)), -_NOISE_CLIP, _NOISE_CLIP)
    noise = {name: 1.0 + sigma * z[i] for i, (name, sigma) in enumerate(NOISE.items())}
    if moves_rng is not None:
        # The variation the model learns the price and timetable responses from
        # (SPEC §12). Promotions cut the price for a few months only: over the
        # years SPEC §2.7's ticket still rises gradually.
        price_moves = _price_rises(moves_rng, n, months)
        schedule_moves = _timetable_moves(moves_rng, p, months)
    else:
        price_moves = schedule_moves = np.ones((n, months))
    multipliers = np.stack(
        [
            shocks.new,
            shocks.churn,
            shocks.classes,
            shocks.attendance,
            shocks.ticket,
            shocks.upsell,
            shocks.retail,
        ]
    )

    world = World(p, first_month)
    state = world.initial_state()
    out: dict[str, np.ndarray] = {}
    for t in range(months):
        state, realised, expected = world.step(
            state,
            noise={name: values[:, t] for name, values in noise.items()},
            shock=multipliers[:, :, t],
            price_move=price_moves[:, t],
            schedule_move=schedule_moves[:, t],
        )
        for name, values in [
            *realised.items(),
            *((f"expected_{k}", v) for k, v in expected.items()),
        ]:
            if name not in out:
                dtype = np.int64 if name in INT_FIELDS else np.float64
                out[name] = np.zeros((n, months), dtype=dtype)
            out[name][:, t] = values
    if world_out is not None:
        world_out.extend([world, state])
    return out


def run_plan(
    world: World,
    state: WorldState,
    months: int,
    changes: Mapping[str, np.ndarray | float] | None = None,
    *,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Run an owner's plan forward from ``state`` for ``months`` months.

    The plan changes levers against the status quo (the studio carrying on as it
    is: its price and timetable held, its growth path, its seasons): each entry of
    ``changes`` is one lever of :data:`PLAN_LEVERS` and its change, a scalar, an
    (n,) array or an (n, months) array. The world answers as a business does: a
    dearer ticket loses members, a fuller timetable spreads attendance thinner
    and stretches the staff, extra marketing saturates with the market.

    Parameters
    ----------
    world, state : World, WorldState
        From :func:`simulate` (``world_out``), e.g. at the end of a history.
    months : int
        Months to run.
    changes : mapping, optional
        The plan; empty or None for the status quo.
    rng : numpy.random.Generator, optional
        With it, each month is drawn with the generator's noise; without it the
        expected (noise-free) months are returned.

    Returns
    -------
    dict of str to numpy.ndarray
        Shape (n, months) per MonthlyMetric field: realised values (or expected
        ones without ``rng``).
    """
    n = world.p.n
    changes = changes or {}
    unknown = set(changes) - set(PLAN_LEVERS)
    if unknown:
        raise ValueError(f"unknown levers {sorted(unknown)}; levers are {PLAN_LEVERS}")
    paths = {
        lever: np.broadcast_to(
            np.asarray(value, dtype=float).reshape(
                (n, -1)
                if np.ndim(value) == 2
                else (-1, 1)
                if np.ndim(value) == 1
                else (1, 1)
            ),
            (n, months),
        )
        for lever, value in changes.items()
    }
    out: dict[str, np.ndarray] = {}
    for k in range(months):
        noise = None
        if rng is not None:
            z = np.clip(rng.standard_normal((len(NOISE), n)), -_NOISE_CLIP, _NOISE_CLIP)
            noise = {
                name: 1.0 + sigma * z[i]
                for i, (name, sigma) in enumerate(NOISE.items())
            }
        state, realised, expected = world.step(
            state,
            noise=noise,
            changes={lever: path[:, k] for lever, path in paths.items()},
        )
        values = expected if rng is None else realised
        for name, value in values.items():
            out.setdefault(name, np.zeros((n, months)))[:, k] = value
    return out


def restrict(
    world: World, state: WorldState, rows: np.ndarray
) -> tuple[World, WorldState]:
    """The world and state of some studios only (``rows``: indices or a mask)."""
    p = world.p
    indices = np.arange(p.n)[rows]
    subset = type(p)(
        **{
            f.name: (
                [p.opening_dates[i] for i in indices]
                if f.name == "opening_dates"
                else getattr(p, f.name)[indices]
            )
            for f in fields(p)
        }
    )
    sub_state = replace(
        state,
        **{
            name: getattr(state, name)[indices]
            for name in (
                "members",
                "price_level",
                "reference_level",
                "smoothed_retention",
                "price_move",
                "schedule_move",
            )
        },
    )
    return World(subset, world.first_month), sub_state
