"""How figures read: money, percentages, slider ranges, peer percentiles."""

from decimal import Decimal

import pytest

from forecasting.ml.frame import LEVERS
from forecasting.services import LEVER_BOUNDS, lever_bounds
from studiosim.display import format_count, format_money, format_percent
from web import presenters


@pytest.mark.parametrize(
    ("value", "currency", "places", "text"),
    [
        (88490.87, "USD", 0, "$88,491"),
        (Decimal("143.8200"), "USD", 2, "$143.82"),
        (-1200.4, "USD", 0, "-$1,200"),
        (-0.3, "USD", 0, "$0"),
        (1200, "CHF", 0, "CHF 1,200"),
        (None, "USD", 0, "—"),
        (float("nan"), "USD", 0, "—"),
    ],
)
def test_money_reads_with_symbol_and_thousands(value, currency, places, text):
    assert format_money(value, currency, places=places) == text


def test_rates_read_as_percentages_and_counts_as_whole_numbers():
    assert format_percent(0.9422492401215805) == "94.2%"
    assert format_percent(None) == "—"
    assert format_count(331.5) == "332"  # banker's rounding is not what people read
    assert format_count(1234) == "1,234"


def test_every_slider_stays_within_its_lever_s_valid_range_and_holds_today():
    today = {
        "retention_rate": 0.99,
        "avg_ticket_price": 4900.0,
        "class_attendance_rate": 0.02,
        "new_members_monthly": 0.0,
        "staff_utilization_rate": 0.5,
        "upsell_rate": 0.95,
        "total_classes_held": 4000.0,
    }
    history = {
        "retention_rate": (0.9, 1.0),
        "avg_ticket_price": (100.0, 4990.0),
        "class_attendance_rate": None,
        "new_members": (0.0, 0.0),
        "staff_utilization_rate": (0.2, 0.9),
        "upsell_rate": (0.1, 0.99),
        "total_classes_held": (10.0, 4900.0),
    }

    controls = presenters.lever_controls(today=today, history_ranges=history)

    assert [c.lever for c in controls] == list(LEVERS)
    for control in controls:
        low, high = lever_bounds(today)[control.lever]
        assert low <= control.minimum <= control.today <= control.maximum <= high
        assert control.maximum > control.minimum
        assert 0 <= control.today_position <= 100
    attendance = controls[2]
    assert attendance.history_text == "no history on record"


def test_a_studio_priced_in_yen_gets_sliders_on_its_own_scale():
    """A ticket of 24,000 yen is an ordinary one: its slider holds it and reaches
    above it, and the planner's default step is in proportion (1,600, not 20)."""
    today = {lever: None for lever in LEVERS}
    today.update(avg_ticket_price=24000.0, total_classes_held=9000.0)
    history = {"avg_ticket_price": (21000.0, 24500.0), "total_classes_held": None}

    controls = {
        c.lever: c
        for c in presenters.lever_controls(today=today, history_ranges=history)
    }

    ticket, classes = controls["avg_ticket_price"], controls["total_classes_held"]
    assert LEVER_BOUNDS["avg_ticket_price"][1] < ticket.minimum < 24000.0
    assert ticket.maximum == pytest.approx(24500.0 * 1.3, abs=1)
    assert ticket.default_max_change == pytest.approx(1600.0)
    assert classes.minimum < 9000.0 < classes.maximum
    assert classes.default_max_change == pytest.approx(900.0)
    assert controls["new_members_monthly"].default_max_change == 10.0


@pytest.mark.parametrize(
    ("percentile", "peers", "text"),
    [
        (0.0, 3, "lowest among 3 other Yoga studios"),
        (100.0, 1, "highest among 1 other Yoga studio"),
        (66.7, 3, "67th percentile among 3 other Yoga studios"),
        (11.0, 9, "11th percentile among 9 other Yoga studios"),
        (None, 0, "no other Yoga studio to compare with"),
    ],
)
def test_a_peer_percentile_reads_as_a_rank_among_the_others(percentile, peers, text):
    assert presenters._percentile_note(percentile, peers, "Yoga") == text
