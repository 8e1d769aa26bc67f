"""Studio archetypes: the five studio types, US cities, names and static parameters.

Everything a studio keeps for its whole history is drawn here, once per studio and
vectorised across studios. :mod:`studios.generator.simulate` then rolls the months
forward from these parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CITIES",
    "STUDIO_TYPES",
    "TYPE_PROFILES",
    "StudioParams",
    "TypeProfile",
    "draw_studios",
    "member_path",
]

STUDIO_TYPES: tuple[str, ...] = (
    "yoga",
    "pilates",
    "crossfit",
    "wellness",
    "boutique_fitness",
)

#: (city, state) pairs; the name of a studio ends with its city.
CITIES: tuple[tuple[str, str], ...] = (
    ("Austin", "TX"),
    ("Dallas", "TX"),
    ("Houston", "TX"),
    ("San Antonio", "TX"),
    ("Denver", "CO"),
    ("Boulder", "CO"),
    ("Portland", "OR"),
    ("Seattle", "WA"),
    ("San Diego", "CA"),
    ("Los Angeles", "CA"),
    ("San Francisco", "CA"),
    ("Santa Monica", "CA"),
    ("Sacramento", "CA"),
    ("Chicago", "IL"),
    ("Minneapolis", "MN"),
    ("Madison", "WI"),
    ("Nashville", "TN"),
    ("Atlanta", "GA"),
    ("Miami", "FL"),
    ("Tampa", "FL"),
    ("Charlotte", "NC"),
    ("Raleigh", "NC"),
    ("Asheville", "NC"),
    ("Boston", "MA"),
    ("Brooklyn", "NY"),
    ("New York", "NY"),
    ("Philadelphia", "PA"),
    ("Pittsburgh", "PA"),
    ("Washington", "DC"),
    ("Phoenix", "AZ"),
    ("Scottsdale", "AZ"),
    ("Salt Lake City", "UT"),
    ("Columbus", "OH"),
    ("Kansas City", "MO"),
)


@dataclass(frozen=True)
class TypeProfile:
    """Ranges a studio of one type is drawn from (uniform unless noted).

    Attributes
    ----------
    share : float
        Probability that a generated studio has this type.
    base_retention : float
        Typical monthly retention of the type before studio effects.
    list_price : tuple of float
        Monthly membership list price at the start of the window, in USD.
    size : tuple of float
        Member count at age 4 years (the end of the stabilising phase).
    capacity : tuple of int
        People per class in the largest room.
    square_feet_per_spot, lobby_square_feet : tuple of float
        Floor area per class spot and fixed area, giving ``square_footage``.
    drop_in_share : tuple of float
        Share of class attendance paid as drop-in or class pack.
    intro_price : tuple of float
        Price of the intro offer, in USD.
    intro_share : tuple of float
        Share of new members who joined through the intro offer.
    retail_per_member : tuple of float
        Monthly retail sales per member, in USD (the revenue counts 20%).
    upsell_value : tuple of float
        Average value of one upsell (private session, workshop...), in USD.
    upsell_rate : tuple of float
        Share of members buying an upsell in a month, at the type's usual attendance.
    attendance : tuple of float
        Mean class attendance rate of a mature studio.
    classes_at_size : tuple of float
        Classes held per month when the studio has ``size`` members.
    name_first, name_second, name_suffix : tuple of str
        Parts of the studio name, ``"{first} {second} {suffix} — {city}"``.
    classes : tuple of (str, float, int)
        Class catalogue: name, typical price of one class in USD, capacity limit
        of the room or equipment the class needs.
    """

    share: float
    base_retention: float
    list_price: tuple[float, float]
    size: tuple[float, float]
    capacity: tuple[int, int]
    square_feet_per_spot: tuple[float, float]
    lobby_square_feet: tuple[float, float]
    drop_in_share: tuple[float, float]
    intro_price: tuple[float, float]
    intro_share: tuple[float, float]
    retail_per_member: tuple[float, float]
    upsell_value: tuple[float, float]
    upsell_rate: tuple[float, float]
    attendance: tuple[float, float]
    classes_at_size: tuple[float, float]
    name_first: tuple[str, ...]
    name_second: tuple[str, ...]
    name_suffix: tuple[str, ...]
    classes: tuple[tuple[str, float, int], ...]


TYPE_PROFILES: dict[str, TypeProfile] = {
    "yoga": TypeProfile(
        share=0.28,
        base_retention=0.92,
        list_price=(118.0, 165.0),
        size=(250.0, 390.0),
        capacity=(16, 30),
        square_feet_per_spot=(55.0, 80.0),
        lobby_square_feet=(500.0, 1200.0),
        drop_in_share=(0.14, 0.26),
        intro_price=(29.0, 59.0),
        intro_share=(0.40, 0.60),
        retail_per_member=(18.0, 40.0),
        upsell_value=(35.0, 60.0),
        upsell_rate=(0.14, 0.26),
        attendance=(0.64, 0.78),
        classes_at_size=(210.0, 290.0),
        name_first=(
            "Lotus",
            "Sun",
            "Moon",
            "Prana",
            "Shanti",
            "Sage",
            "Juniper",
            "Willow",
            "Cedar",
            "Saffron",
            "Indigo",
            "Golden",
            "Still Water",
            "True North",
            "Bodhi",
            "Ananda",
            "Bamboo",
            "Lumen",
            "Harbor",
            "Wild Lotus",
        ),  # fmt: skip
        name_second=(
            "Flow",
            "Breath",
            "Tree",
            "Light",
            "Root",
            "Heart",
            "Path",
            "Spirit",
            "Sol",
            "Field",
            "Pulse",
            "Grove",
        ),  # fmt: skip
        name_suffix=("Yoga", "Yoga Studio", "Yoga House", "Hot Yoga"),
        classes=(
            ("Vinyasa Flow", 24.0, 30),
            ("Yoga Flow", 22.0, 30),
            ("Hot Yoga", 26.0, 28),
            ("Yin Yoga", 22.0, 25),
            ("Restorative Yoga", 22.0, 20),
            ("Hatha Basics", 20.0, 25),
            ("Power Yoga", 24.0, 30),
            ("Ashtanga Mysore", 26.0, 18),
            ("Yoga Nidra", 20.0, 25),
            ("Prenatal Yoga", 24.0, 15),
        ),
    ),
    "pilates": TypeProfile(
        share=0.20,
        base_retention=0.907,
        list_price=(155.0, 205.0),
        size=(230.0, 360.0),
        capacity=(10, 16),
        square_feet_per_spot=(90.0, 130.0),
        lobby_square_feet=(400.0, 900.0),
        drop_in_share=(0.18, 0.30),
        intro_price=(49.0, 99.0),
        intro_share=(0.45, 0.65),
        retail_per_member=(15.0, 35.0),
        upsell_value=(55.0, 95.0),
        upsell_rate=(0.16, 0.28),
        attendance=(0.66, 0.80),
        classes_at_size=(240.0, 320.0),
        name_first=(
            "Core",
            "Balance",
            "Align",
            "Poise",
            "Axis",
            "Pure",
            "Plank",
            "Lengthen",
            "Center",
            "Form",
            "Grace",
            "Elevate",
            "Linea",
            "Spring",
            "Tempo",
            "Arc",
            "Carriage",
            "Union",
            "Pivot",
            "Keel",
        ),  # fmt: skip
        name_second=(
            "Line",
            "Method",
            "House",
            "Society",
            "Lab",
            "Room",
            "Motion",
            "Works",
            "Collective",
            "Loft",
            "Project",
            "Point",
        ),  # fmt: skip
        name_suffix=("Pilates", "Reformer Studio", "Pilates Co.", "Pilates Studio"),
        classes=(
            ("Reformer Pilates", 38.0, 14),
            ("Mat Pilates", 26.0, 20),
            ("Tower Pilates", 40.0, 10),
            ("Jumpboard Cardio", 36.0, 14),
            ("Reformer Fundamentals", 34.0, 12),
            ("Barre", 28.0, 20),
            ("Pilates Sculpt", 34.0, 14),
            ("Private Reformer Duet", 60.0, 10),
            ("Stretch & Restore", 26.0, 16),
        ),
    ),
    "crossfit": TypeProfile(
        share=0.18,
        base_retention=0.918,
        list_price=(145.0, 205.0),
        size=(220.0, 340.0),
        capacity=(12, 24),
        square_feet_per_spot=(140.0, 220.0),
        lobby_square_feet=(300.0, 800.0),
        drop_in_share=(0.04, 0.10),
        intro_price=(49.0, 119.0),
        intro_share=(0.45, 0.65),
        retail_per_member=(25.0, 55.0),
        upsell_value=(45.0, 85.0),
        upsell_rate=(0.18, 0.30),
        attendance=(0.66, 0.80),
        classes_at_size=(230.0, 320.0),
        name_first=(
            "Iron",
            "Forge",
            "Anvil",
            "Granite",
            "Summit",
            "Rogue Valley",
            "Redline",
            "Steel",
            "Ironclad",
            "Basecamp",
            "Grit",
            "Northside",
            "Eastside",
            "Westside",
            "Southside",
            "Riverside",
            "Harbor",
            "Foundry",
            "Kettle",
            "Bedrock",
        ),  # fmt: skip
        name_second=(
            "Strength",
            "Athletics",
            "Box",
            "Barbell",
            "Engine",
            "Union",
            "Tribe",
            "Performance",
            "Conditioning",
            "Garage",
            "Yard",
            "Works",
        ),  # fmt: skip
        name_suffix=("CrossFit", "Strength & Conditioning", "Functional Fitness"),
        classes=(
            ("WOD", 25.0, 24),
            ("Olympic Lifting", 28.0, 12),
            ("Foundations", 30.0, 10),
            ("Engine Conditioning", 25.0, 20),
            ("Gymnastics Skills", 25.0, 14),
            ("Strength Cycle", 25.0, 16),
            ("Open Gym", 20.0, 24),
            ("Mobility", 20.0, 20),
            ("Team WOD", 25.0, 24),
        ),
    ),
    "wellness": TypeProfile(
        share=0.14,
        base_retention=0.908,
        list_price=(118.0, 175.0),
        size=(230.0, 380.0),
        capacity=(10, 20),
        square_feet_per_spot=(90.0, 150.0),
        lobby_square_feet=(600.0, 1500.0),
        drop_in_share=(0.20, 0.34),
        intro_price=(39.0, 79.0),
        intro_share=(0.40, 0.60),
        retail_per_member=(30.0, 60.0),
        upsell_value=(60.0, 110.0),
        upsell_rate=(0.14, 0.26),
        attendance=(0.62, 0.76),
        classes_at_size=(180.0, 250.0),
        name_first=(
            "Haven",
            "Sanctuary",
            "Restore",
            "Evergreen",
            "Clearwater",
            "Blue Sky",
            "Kindred",
            "Bloom",
            "Hearth",
            "Solace",
            "Tidewater",
            "Aurora",
            "Meadow",
            "Oak & Ember",
            "Still Point",
            "Stillwater",
            "Open Sky",
            "Nourish",
            "Luma",
            "Driftwood",
        ),  # fmt: skip
        name_second=(
            "Mind",
            "Body",
            "Spa",
            "Retreat",
            "Commons",
            "Garden",
            "Springs",
            "Well",
            "Studio",
            "Lodge",
            "Oasis",
            "Haus",
        ),  # fmt: skip
        name_suffix=("Wellness", "Wellness Center", "Wellness Club", "Healing Arts"),
        classes=(
            ("Sound Bath", 30.0, 20),
            ("Breathwork", 25.0, 16),
            ("Guided Meditation", 20.0, 20),
            ("Mobility & Stretch", 22.0, 16),
            ("Gentle Yoga", 22.0, 18),
            ("Tai Chi", 20.0, 20),
            ("Qigong", 20.0, 18),
            ("Infrared Recovery", 35.0, 10),
            ("Myofascial Release", 28.0, 12),
        ),
    ),
    "boutique_fitness": TypeProfile(
        share=0.20,
        base_retention=0.897,
        list_price=(125.0, 200.0),
        size=(240.0, 380.0),
        capacity=(18, 30),
        square_feet_per_spot=(60.0, 95.0),
        lobby_square_feet=(500.0, 1100.0),
        drop_in_share=(0.20, 0.35),
        intro_price=(25.0, 59.0),
        intro_share=(0.40, 0.60),
        retail_per_member=(18.0, 42.0),
        upsell_value=(30.0, 60.0),
        upsell_rate=(0.16, 0.28),
        attendance=(0.64, 0.78),
        classes_at_size=(220.0, 300.0),
        name_first=(
            "Pulse",
            "Ignite",
            "Rumble",
            "Velocity",
            "Spark",
            "Catalyst",
            "Kinetic",
            "Hustle",
            "Rebel",
            "Neon",
            "Momentum",
            "Blaze",
            "Apex",
            "Rally",
            "Fuel",
            "Torque",
            "Volt",
            "Cadence",
            "Stride",
            "Sprint",
        ),  # fmt: skip
        name_second=(
            "Sweat",
            "Ride",
            "Burn",
            "Lab",
            "Club",
            "Republic",
            "House",
            "Studio",
            "Room",
            "Cycle",
            "Crew",
            "Social",
        ),  # fmt: skip
        name_suffix=("Fitness", "Fitness Studio", "Athletic Club", "Training Club"),
        classes=(
            ("HIIT", 28.0, 30),
            ("Indoor Cycling", 28.0, 30),
            ("Bootcamp", 26.0, 24),
            ("Barre", 28.0, 24),
            ("Strength Circuit", 26.0, 20),
            ("Rowing Intervals", 30.0, 18),
            ("Boxing Conditioning", 30.0, 20),
            ("Dance Cardio", 24.0, 30),
            ("Core & Stretch", 22.0, 24),
        ),
    ),
}

# Member growth per quarter by phase of a studio's age. With the list price ramp and
# inflation below, revenue grows 10-15% a quarter in years 1-2, 3-7% in years 3-4
# and 1-4% from year 5 (SPEC §2.3); the test of that rule measures revenue itself.
_GROWTH_RAPID = (0.085, 0.100)
_GROWTH_STABILISING = (0.030, 0.045)
_GROWTH_MATURE = (0.006, 0.016)
_RAPID_END, _STABLE_END = 24, 48  # ages in months

# New studios sell founding memberships below list price; they roll off over the
# first two years, which is part of the rapid revenue growth of that phase.
FOUNDING_DISCOUNT = 0.80
# Yearly list price increase; studios' own price rises (simulate.PRICE_MOVES,
# about 2% a year on average) come on top.
_INFLATION = (0.015, 0.030)

# Members on the growth path stay within these bounds by the choice of each
# studio's size (SPEC §2.7: 100-500, with room for noise).
MEMBERS_LOW, MEMBERS_HIGH = 110.0, 430.0
# Expected churn on the path stays within these bounds by the choice of base
# retention; monthly retention itself within RETENTION_LOW-RETENTION_HIGH.
CHURN_LOW, CHURN_HIGH = 7.5, 32.0
RETENTION_LOW, RETENTION_HIGH = 0.875, 0.955

# Classes held grow less than proportionally with members (a timetable has a floor),
# so a growing studio fills its classes: attendance rate ~ (members / size) ** 0.15.
SCHEDULE_ELASTICITY = 0.85
# Planned classes per month stay within these bounds by the choice of timetable.
CLASSES_LOW, CLASSES_HIGH = 120.0, 320.0
STAFF_MIN, STAFF_MAX = 5, 25
# A bigger team (more instructors, more personal attention, more class choice)
# keeps members longer: retention gained per member of staff above the reference.
# This is the staff-retention link of SPEC §2.4.
STAFF_RETENTION = 0.002
STAFF_REFERENCE = 15.0

#: Oldest studio age at the start of the window, in months (8 years).
MAX_AGE_AT_START = 96


def planned_classes(
    members: np.ndarray, classes_at_size: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """Classes a studio schedules for a month, given its members."""
    return classes_at_size * (members / size) ** SCHEDULE_ELASTICITY


def planned_staff(
    classes: np.ndarray, classes_per_staff: np.ndarray, target_utilization: np.ndarray
) -> np.ndarray:
    """Staff count a studio keeps for a schedule, at its target utilisation."""
    return np.clip(
        np.round(classes / (classes_per_staff * target_utilization)),
        STAFF_MIN,
        STAFF_MAX,
    )


def staffed_retention(base_retention: np.ndarray, staff: np.ndarray) -> np.ndarray:
    """Monthly retention of a studio with ``staff`` members of staff."""
    return base_retention + STAFF_RETENTION * (staff - STAFF_REFERENCE)


@dataclass(frozen=True)
class StudioParams:
    """Static parameters of ``n`` studios, one array element per studio.

    Public columns end up in :attr:`GeneratedData.studios`; the rest drive the
    simulation and never leave the generator.
    """

    names: np.ndarray
    types: np.ndarray  # str, one of STUDIO_TYPES
    type_index: np.ndarray  # int, index into STUDIO_TYPES
    cities: np.ndarray
    states: np.ndarray
    opening_dates: list[dt.date]
    square_footage: np.ndarray
    max_capacity: np.ndarray
    age_at_start: np.ndarray  # months since opening at the first history month
    growth: np.ndarray  # (n, 3) member growth per month (log) of the three phases
    size: np.ndarray  # members on the path at age 48 months
    base_retention: np.ndarray
    list_price: np.ndarray
    inflation: np.ndarray  # yearly
    classes_at_size: np.ndarray
    attendance: np.ndarray
    drop_in_share: np.ndarray
    intro_price: np.ndarray
    intro_share: np.ndarray
    retail_per_member: np.ndarray
    upsell_value: np.ndarray
    upsell_rate: np.ndarray
    staff_target_utilization: np.ndarray
    classes_per_staff: np.ndarray
    drift: (
        np.ndarray
    )  # (n, 3) drift of drop-in share, retail, upsell value over 5 years
    jan_lift: np.ndarray
    sep_lift: np.ndarray
    summer_dip: np.ndarray
    december_dip: np.ndarray

    @property
    def n(self) -> int:
        """Number of studios."""
        return len(self.names)


def member_path(
    age: np.ndarray, growth: np.ndarray, size: np.ndarray | None = None
) -> np.ndarray:
    """Members a studio has on its growth path at a given age.

    Parameters
    ----------
    age : ndarray
        Age in months since opening, shape ``(n,)`` or ``(n, m)``; negative ages
        extrapolate the rapid phase backwards (the founding-member base).
    growth : ndarray
        Log member growth per month of the three phases, shape ``(n, 3)``.
    size : ndarray, optional
        Members at age 48 months, shape ``(n,)``. Without it the path is returned
        relative to that size.

    Returns
    -------
    ndarray
        Members on the path, same shape as ``age``.
    """
    age = np.asarray(age, dtype=float)
    extra_dims = (None,) * (age.ndim - 1)
    g1, g2, g3 = (growth[(slice(None), i, *extra_dims)] for i in range(3))
    log_path = (
        g1 * (np.minimum(age, _RAPID_END) - _RAPID_END)
        + g2 * (np.clip(age, _RAPID_END, _STABLE_END) - _STABLE_END)
        + g3 * np.maximum(age - _STABLE_END, 0.0)
    )
    path = np.exp(log_path)
    if size is not None:
        path = path * size[(slice(None), *extra_dims)]
    return path


def _uniform(rng: np.random.Generator, bounds: np.ndarray) -> np.ndarray:
    """Draw one uniform value per row of ``bounds`` (shape ``(n, 2)``)."""
    return bounds[:, 0] + rng.random(len(bounds)) * (bounds[:, 1] - bounds[:, 0])


def _bounds(types: np.ndarray, field: str) -> np.ndarray:
    """Per-studio (low, high) of a :class:`TypeProfile` range field."""
    table = np.array([getattr(TYPE_PROFILES[t], field) for t in STUDIO_TYPES], float)
    return table[types]


def _names(
    rng: np.random.Generator, type_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique studio names with their city and state.

    Each type samples distinct (first, second, suffix, city) combinations without
    replacement; the suffixes of different types never coincide, so the names are
    unique across types too. Past the number of combinations (about 30,000 per
    type) a branch number keeps them unique.
    """
    n = len(type_index)
    names = np.empty(n, dtype=object)
    city_index = np.empty(n, dtype=np.int64)
    for t, studio_type in enumerate(STUDIO_TYPES):
        profile = TYPE_PROFILES[studio_type]
        rows = np.flatnonzero(type_index == t)
        if len(rows) == 0:
            continue
        dims = (
            len(profile.name_first),
            len(profile.name_second),
            len(profile.name_suffix),
            len(CITIES),
        )
        space = int(np.prod(dims))
        combos = np.concatenate(
            [
                rng.permutation(space)[: len(rows) - start]
                for start in range(0, len(rows), space)
            ]
        )
        first, second, suffix, city = np.unravel_index(combos, dims)
        branch = np.arange(len(rows)) // space
        for k, row in enumerate(rows):
            name = (
                f"{profile.name_first[first[k]]} {profile.name_second[second[k]]} "
                f"{profile.name_suffix[suffix[k]]} — {CITIES[city[k]][0]}"
            )
            names[row] = name if branch[k] == 0 else f"{name} {branch[k] + 1}"
        city_index[rows] = city
    cities = np.array([c for c, _ in CITIES], dtype=object)[city_index]
    states = np.array([s for _, s in CITIES], dtype=object)[city_index]
    return names, cities, states


def draw_studios(
    rng: np.random.Generator, n: int, start: pd.Timestamp, months: int
) -> StudioParams:
    """Draw the static parameters of ``n`` studios.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (the caller seeds it).
    n : int
        Number of studios.
    start : pandas.Timestamp
        First month of the history.
    months : int
        Length of the history in months.

    Returns
    -------
    StudioParams
    """
    shares = np.array([TYPE_PROFILES[t].share for t in STUDIO_TYPES])
    type_index = rng.choice(len(STUDIO_TYPES), size=n, p=shares / shares.sum())
    types = np.array(STUDIO_TYPES, dtype=object)[type_index]
    names, cities, states = _names(rng, type_index)

    # Opening dates spread over 0-8 years before the window, skewed young so that
    # every growth phase has plenty of studio-months.
    age_at_start = np.floor(MAX_AGE_AT_START * rng.random(n) ** 1.6).astype(np.int64)
    growth = (
        np.log1p(
            np.column_stack(
                [
                    rng.uniform(*_GROWTH_RAPID, n),
                    rng.uniform(*_GROWTH_STABILISING, n),
                    rng.uniform(*_GROWTH_MATURE, n),
                ]
            )
        )
        / 3.0
    )

    # Size: drawn per type, then bounded so that the member count on the path stays
    # inside [MEMBERS_LOW, MEMBERS_HIGH] over the whole window. The path only grows,
    # so its first and last months are its extremes.
    size_bounds = _bounds(type_index, "size")
    size = _uniform(rng, size_bounds)
    relative_first = member_path(age_at_start.astype(float) - 1.0, growth)
    relative_last = member_path(age_at_start + months - 1.0, growth)
    size = np.clip(size, MEMBERS_LOW / relative_first, MEMBERS_HIGH / relative_last)
    members_first, members_last = size * relative_first, size * relative_last

    # Timetable and team, bounded the same way.
    classes_at_size = np.clip(
        _uniform(rng, _bounds(type_index, "classes_at_size")),
        CLASSES_LOW / relative_first**SCHEDULE_ELASTICITY,
        CLASSES_HIGH / relative_last**SCHEDULE_ELASTICITY,
    )
    staff_target_utilization = rng.uniform(0.74, 0.84, n)
    classes_per_staff = rng.uniform(16.0, 20.0, n)
    staff_first, staff_last = (
        planned_staff(
            planned_classes(members, classes_at_size, size),
            classes_per_staff,
            staff_target_utilization,
        )
        for members in (members_first, members_last)
    )

    # Monthly retention: the type's level, lower for premium prices (SPEC §2.4),
    # higher for the larger communities of bigger studios; the staff effect comes on
    # top (staffed_retention). Bounded so that retention stays within
    # [RETENTION_LOW, RETENTION_HIGH] and expected churn = (1 - r) x members within
    # [CHURN_LOW, CHURN_HIGH] all along the path.
    list_bounds = _bounds(type_index, "list_price")
    price_z = rng.standard_normal(n)
    list_price = np.clip(
        list_bounds.mean(axis=1) + price_z * np.diff(list_bounds, axis=1)[:, 0] / 4,
        list_bounds[:, 0],
        list_bounds[:, 1],
    )
    size_z = (size - size_bounds.mean(axis=1)) / np.diff(size_bounds, axis=1)[:, 0]
    base_retention = (
        np.array([TYPE_PROFILES[t].base_retention for t in STUDIO_TYPES])[type_index]
        - 0.012 * price_z
        + 0.02 * size_z
        + 0.006 * rng.standard_normal(n)
    )
    highest = np.minimum(RETENTION_HIGH, 1.0 - CHURN_LOW / members_first)
    lowest = np.maximum(RETENTION_LOW, 1.0 - CHURN_HIGH / members_last)
    base_retention = np.clip(
        base_retention,
        lowest - staffed_retention(np.zeros(n), staff_last),
        highest - staffed_retention(np.zeros(n), staff_first),
    )

    capacity_bounds = _bounds(type_index, "capacity")
    max_capacity = np.round(_uniform(rng, capacity_bounds)).astype(np.int64)
    floor_area = max_capacity * _uniform(
        rng, _bounds(type_index, "square_feet_per_spot")
    ) + _uniform(rng, _bounds(type_index, "lobby_square_feet"))
    square_footage = (np.round(floor_area / 10) * 10).astype(np.int64)

    # Studios whose classes are fuller sell more extras: this studio-level link is
    # part of the attendance-upsell correlation of SPEC §2.4 (the rest is monthly).
    attendance_bounds = _bounds(type_index, "attendance")
    attendance = _uniform(rng, attendance_bounds)
    attendance_z = (attendance - attendance_bounds[:, 0]) / np.diff(
        attendance_bounds, axis=1
    )[:, 0]
    upsell_bounds = _bounds(type_index, "upsell_rate")
    upsell_rate = upsell_bounds[:, 0] + np.diff(upsell_bounds, axis=1)[:, 0] * np.clip(
        0.5 + 0.3 * (attendance_z - 0.5) + 0.25 * rng.standard_normal(n), 0.0, 1.0
    )

    opening_dates = []
    for offset in age_at_start:
        opening_month = start - pd.DateOffset(months=int(offset))
        day = 1 if offset == 0 else int(rng.integers(1, 29))
        opening_dates.append(dt.date(opening_month.year, opening_month.month, day))

    return StudioParams(
        names=names,
        types=types,
        type_index=type_index,
        cities=cities,
        states=states,
        opening_dates=opening_dates,
        square_footage=square_footage,
        max_capacity=max_capacity,
        age_at_start=age_at_start,
        growth=growth,
        size=size,
        base_retention=base_retention,
        list_price=list_price,
        inflation=rng.uniform(*_INFLATION, n),
        classes_at_size=classes_at_size,
        attendance=attendance,
        drop_in_share=_uniform(rng, _bounds(type_index, "drop_in_share")),
        intro_price=np.round(_uniform(rng, _bounds(type_index, "intro_price"))),
        intro_share=_uniform(rng, _bounds(type_index, "intro_share")),
        retail_per_member=_uniform(rng, _bounds(type_index, "retail_per_member")),
        upsell_value=_uniform(rng, _bounds(type_index, "upsell_value")),
        upsell_rate=upsell_rate,
        staff_target_utilization=staff_target_utilization,
        classes_per_staff=classes_per_staff,
        drift=rng.uniform(-0.08, 0.08, (n, 3)),
        jan_lift=rng.uniform(0.20, 0.30, n),
        sep_lift=rng.uniform(0.13, 0.17, n),
        summer_dip=rng.uniform(0.10, 0.15, n),
        december_dip=rng.uniform(0.05, 0.10, n),
    )
