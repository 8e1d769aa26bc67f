import numpy as np
import pytest

from optimization.solver import LEVERS, LeverLimits, SolverInputError
from optimization.solver.levers import default_lever_scales

CONTRACT_LEVERS = (
    "retention_rate",
    "avg_ticket_price",
    "class_attendance_rate",
    "new_members_monthly",
    "staff_utilization_rate",
    "upsell_rate",
    "total_classes_held",
)


def test_lever_order_matches_the_contract():
    """The solver's lever order is the one fixed in docs/CONTRACTS.md."""
    assert LEVERS == CONTRACT_LEVERS


def test_build_accepts_names_mappings_and_masks():
    """Limits can be given by lever name, as vectors or as a boolean lock mask."""
    # given
    mask = np.zeros(7, dtype=bool)
    mask[[2, 5]] = True

    # when
    by_name = LeverLimits.build(
        max_increase={"retention_rate": 0.05, "avg_ticket_price": 20.0},
        locked={"class_attendance_rate", "upsell_rate"},
    )
    by_mask = LeverLimits.build(locked=mask)

    # then
    assert by_name.max_increase[0] == 0.05
    assert by_name.max_increase[1] == 20.0
    assert np.isinf(by_name.max_increase[2])
    assert by_name.locked == by_mask.locked == frozenset({2, 5})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_increase": {"ticket": 5.0}}, "max_increase"),
        ({"locked": {"nope"}}, "locked"),
        ({"locked": {9}}, "locked"),
        ({"lower": np.ones(3)}, "lower"),
        ({"max_decrease": -np.ones(7)}, "max_decrease"),
        ({"lower": np.full(7, 2.0), "upper": np.ones(7)}, "lower"),
    ],
)
def test_build_rejects_bad_limits_naming_the_field(kwargs, field):
    """Bad limits raise SolverInputError naming the offending input."""
    with pytest.raises(SolverInputError) as error:
        LeverLimits.build(**kwargs)
    assert error.value.field == field


def test_box_edges_satisfy_the_limits_exactly():
    """current + max_increase can round past the limit; the box never does."""
    rng = np.random.default_rng(0)
    for _ in range(2000):
        current = rng.uniform(0, 1, 7) * 10.0 ** rng.integers(-2, 3, 7)
        step = rng.uniform(0, 1, 7) * 10.0 ** rng.integers(-3, 2, 7)
        limits = LeverLimits.build(
            lower=np.full(7, -np.inf),
            upper=np.full(7, np.inf),
            max_increase=step,
            max_decrease=step,
        )
        lo, hi = limits.box(current)
        assert limits.violations(current, lo) == []
        assert limits.violations(current, hi) == []


def test_violations_name_each_broken_limit():
    """Each kind of breach is reported with its lever."""
    # given
    current = np.array([0.8, 150.0, 0.7, 30.0, 0.8, 0.2, 250.0])
    limits = LeverLimits.build(
        max_increase={"avg_ticket_price": 10.0},
        max_decrease={"new_members_monthly": 5.0},
        locked={"upsell_rate"},
    )
    levers = current.copy()
    levers[0] = 1.2  # above the retention upper bound of 1
    levers[1] = 161.0
    levers[3] = 20.0
    levers[5] = 0.25
    levers[6] = -1.0

    # when
    broken = limits.violations(current, levers)

    # then
    assert set(broken) == {
        (0, "upper_bound"),
        (1, "max_increase"),
        (3, "max_decrease"),
        (5, "locked"),
        (6, "lower_bound"),
    }


def test_locked_lever_outside_its_bounds_is_rejected():
    """A lock that contradicts a bound cannot be satisfied."""
    limits = LeverLimits.build(upper={"avg_ticket_price": 100.0}, locked={1})
    current = np.array([0.8, 150.0, 0.7, 30.0, 0.8, 0.2, 250.0])
    with pytest.raises(SolverInputError) as error:
        limits.box(current)
    assert error.value.field == "locked"


def test_relaxed_doubles_maximum_changes_and_keeps_bounds_and_locks():
    """The 2x relaxation is about maximum changes only."""
    limits = LeverLimits.build(
        max_increase={"retention_rate": 0.05},
        max_decrease={"avg_ticket_price": 10.0},
        upper={"avg_ticket_price": 200.0},
        locked={"upsell_rate"},
    )
    relaxed = limits.relaxed(2.0)
    assert relaxed.max_increase[0] == 0.1
    assert relaxed.max_decrease[1] == 20.0
    assert relaxed.upper[1] == 200.0
    assert relaxed.locked == limits.locked


def test_unlimited_directions_get_an_implicit_cap_of_one_scale():
    """A lever with no bound and no maximum change cannot run off to infinity."""
    current = np.array([0.8, 150.0, 0.7, 30.0, 0.8, 0.2, 250.0])
    limits = LeverLimits.build(max_increase={"new_members_monthly": 5.0})
    capped = limits.with_finite_reach(default_lever_scales(current, limits))
    assert capped.max_increase[1] == 150.0  # unbounded above: capped at one scale
    assert capped.max_increase[3] == 5.0  # the owner's own limit stays
    assert np.isinf(capped.max_increase[0])  # retention is bounded by 1 already
    assert np.isinf(capped.max_decrease[1])  # bounded below by 0 already


def test_default_scale_is_the_current_magnitude_with_a_range_fallback_at_zero():
    """Cost counts relative change; a lever at zero falls back to its range width."""
    current = np.array([0.8, 150.0, 0.7, 30.0, 0.8, 0.0, 250.0])
    scales = default_lever_scales(current, LeverLimits())
    assert scales[1] == 150.0
    assert scales[5] == 1.0  # upsell at 0: width of [0, 1]
