"""What the owner pages show, shaped from the selectors' and services' results.

Plain functions over plain values (no ORM, no requests): the views gather, these
shape, the templates and ``static/web/*.js`` draw. Chart data travels to the page
as JSON (``json_script``) in one shape, :func:`chart`, that ``charts.js`` reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from forecasting.ml.frame import LEVER_COLUMNS, LEVERS
from forecasting.services import lever_bounds
from optimization.services import default_max_changes
from studiosim import display
from studiosim.charts import COLORS, SCENARIO_COLORS, Marks, Series, chart
from studiosim.display import (
    format_count,
    format_money,
    format_percent,
    format_signed_percent,
)

__all__ = [
    "LEVER_HISTORY_COLUMN",
    "LEVER_UI",
    "SCENARIO_COLORS",
    "Kpi",
    "LeverControl",
    "comparison_chart",
    "format_lever",
    "kpi_tiles",
    "lever_controls",
    "members_chart",
    "add_months",
    "month_label",
    "price_curve_chart",
    "projection_chart",
    "retention_chart",
    "revenue_chart",
]

#: How each lever reads on a page: label, unit ("rate" fractions shown as %,
#: "money", "count" per month), the GraphQL field names of its value and of its
#: maximum change in InverseConstraintsInput, and a line of help.
LEVER_UI: dict[str, dict[str, str]] = {
    "retention_rate": {
        "label": "Retention",
        "unit": "rate",
        "field": "retentionRate",
        "max_field": "maxRetentionIncrease",
        "help": "Share of last month's members who stay this month.",
    },
    "avg_ticket_price": {
        "label": "Average ticket",
        "unit": "money",
        "field": "avgTicketPrice",
        "max_field": "maxTicketIncrease",
        "help": "Average monthly payment per member.",
    },
    "class_attendance_rate": {
        "label": "Class attendance",
        "unit": "rate",
        "field": "classAttendanceRate",
        "max_field": "maxAttendanceIncrease",
        "help": "Share of class places filled.",
    },
    "new_members_monthly": {
        "label": "New members per month",
        "unit": "count",
        "field": "newMembersMonthly",
        "max_field": "maxNewMembersIncrease",
        "help": "Members joining each month.",
    },
    "staff_utilization_rate": {
        "label": "Staff utilisation",
        "unit": "rate",
        "field": "staffUtilizationRate",
        "max_field": "maxStaffUtilizationIncrease",
        "help": "Share of staff hours booked.",
    },
    "upsell_rate": {
        "label": "Upsell rate",
        "unit": "rate",
        "field": "upsellRate",
        "max_field": "maxUpsellIncrease",
        "help": "Share of members buying add-ons.",
    },
    "total_classes_held": {
        "label": "Classes per month",
        "unit": "count",
        "field": "totalClassesHeld",
        "max_field": "maxClassesIncrease",
        "help": "Classes on the timetable each month.",
    },
}

#: The MonthlyMetric column holding each lever's history.
LEVER_HISTORY_COLUMN: dict[str, str] = dict(zip(LEVERS, LEVER_COLUMNS, strict=True))


def month_label(month: date | str) -> str:
    """``2026-05`` for a month (the x labels of every chart)."""
    if isinstance(month, str):
        return month[:7]
    return f"{month:%Y-%m}"


def format_lever(lever: str, value: float | None, currency: str = "USD") -> str:
    return display.format_lever(lever, value, currency) or display.format_count(value)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# --- KPI tiles ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    note: str = ""
    tone: str = ""  # "good", "bad" or "" (neutral)


def _percentile_note(percentile: float | None, peers: int, studio_type: str) -> str:
    if percentile is None or peers == 0:
        return f"no other {studio_type} studio to compare with"
    others = f"{peers} other {studio_type} studio{'s' if peers != 1 else ''}"
    if percentile <= 0:
        return f"lowest among {others}"
    if percentile >= 100:
        return f"highest among {others}"
    return f"{_ordinal(round(percentile))} percentile among {others}"


def _ordinal(n: int) -> str:
    suffix = (
        "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    )
    return f"{n}{suffix}"


def kpi_tiles(*, baseline: Any, currency: str, studio_type: str) -> list[Kpi]:
    """The dashboard's tiles from a :class:`studios.selectors.StudioBaseline`."""
    current, peers = baseline.current, baseline.benchmarks
    growth = baseline.revenue_growth_12m
    trend = baseline.retention_trend.value
    return [
        Kpi(
            "Revenue",
            format_money(current.monthly_revenue, currency),
            f"in {baseline.end_month:%B %Y}",
        ),
        Kpi(
            "Members",
            format_count(current.total_members),
            f"at the end of {baseline.end_month:%B %Y}",
        ),
        Kpi(
            "Retention",
            format_percent(current.retention_rate),
            f"{trend} over 12 months; "
            + _percentile_note(
                peers.retention_rate_percentile, peers.peer_count, studio_type
            ),
            {"improving": "good", "declining": "bad"}.get(trend, ""),
        ),
        Kpi(
            "Year on year",
            format_signed_percent(growth),
            f"revenue against {baseline.end_month.replace(year=baseline.end_month.year - 1):%B %Y}"
            if growth is not None
            else "needs 13 months of data",
            "" if growth is None else ("good" if growth >= 0 else "bad"),
        ),
        Kpi(
            "Average ticket",
            format_money(current.avg_ticket_price, currency, places=2),
            _percentile_note(
                peers.avg_ticket_percentile, peers.peer_count, studio_type
            ),
        ),
        Kpi(
            "Class attendance",
            format_percent(current.class_attendance_rate),
            _percentile_note(
                peers.attendance_percentile, peers.peer_count, studio_type
            ),
        ),
    ]


# --- charts -------------------------------------------------------------------------


def history_series(
    history: Sequence[Mapping[str, Any]], value: str
) -> list[float | None]:
    return [_finite(row[value]) for row in history]


def revenue_chart(
    *,
    history: Sequence[Mapping[str, Any]],
    forecast: Any | None,
    currency: str,
    coverage: float = 0.8,
) -> dict[str, Any]:
    """Revenue history with outlier months marked, then the forecast and its band.

    The forecast line starts at the last month of history so the two join.
    """
    labels = [month_label(row["month_year"]) for row in history]
    actual = history_series(history, "total_revenue")
    outliers = Marks(
        name="Outlier month",
        points=[
            {
                "x": month_label(row["month_year"]),
                "y": _finite(row["total_revenue"]),
                "note": (row.get("outlier_reason") or "outlier").replace("_", " "),
            }
            for row in history
            if row.get("is_outlier")
        ],
    )
    series = [Series("Revenue", actual, COLORS["history"])]
    if forecast is not None and forecast.predictions:
        months = forecast.predictions
        start = [None] * (len(labels) - 1) + [actual[-1] if actual else None]
        labels += [month_label(m.month_year) for m in months]
        pad = [None] * len(months)
        series[0].values = actual + pad
        series.append(
            Series(
                "Forecast",
                start + [m.revenue for m in months],
                COLORS["forecast"],
                dashed=True,
                lower=start + [m.lower for m in months],
                upper=start + [m.upper for m in months],
                band_name=f"{coverage:.0%} interval",
            )
        )
    return chart(
        labels=labels,
        series=series,
        marks=[outliers] if outliers.points else [],
        currency=currency,
        title="Monthly revenue",
    )


def projection_chart(
    *,
    history: Sequence[Mapping[str, Any]],
    months: Sequence[Any],
    currency: str,
    name: str,
    coverage: float,
    status_quo: Sequence[Any] | None = None,
    history_months: int = 12,
    title: str = "Revenue forecast",
) -> dict[str, Any]:
    """The last ``history_months`` of revenue, then a projection with its band
    (``months`` carry ``month_year``, ``revenue``, ``lower``, ``upper``), and the
    status-quo forecast beside it when given."""
    tail = list(history)[-history_months:]
    labels = [month_label(r["month_year"]) for r in tail]
    actual = history_series(tail, "total_revenue")
    start = [None] * (len(labels) - 1) + [actual[-1] if actual else None]
    labels += [month_label(m.month_year) for m in months]
    pad = [None] * len(months)
    series = [Series("Revenue", actual + pad, COLORS["history"])]
    if status_quo is not None:
        series.append(
            Series(
                "Today's plan",
                start + [m.revenue for m in status_quo],
                COLORS["status_quo"],
                dashed=True,
            )
        )
    series.append(
        Series(
            name,
            start + [m.revenue for m in months],
            COLORS["forecast"],
            lower=start + [m.lower for m in months],
            upper=start + [m.upper for m in months],
            band_name=f"{coverage:.0%} interval",
        )
    )
    return chart(labels=labels, series=series, currency=currency, title=title)


def add_months(month: date, months: int) -> date:
    """The first of the month ``months`` after ``month``."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def price_curve_chart(curve: Any, *, currency: str, month: date) -> dict[str, Any]:
    """A ticket response curve (:class:`optimization.services.LeverCurve`):
    revenue and members in ``month`` at each average ticket, the highest revenue
    marked."""
    labels = [format_money(p.lever_value, currency) for p in curve.points]
    best = curve.points.index(curve.optimum)
    return chart(
        labels=labels,
        series=[
            Series("Revenue", [p.revenue for p in curve.points], COLORS["forecast"]),
            Series(
                "Members",
                [p.members for p in curve.points],
                COLORS["members"],
                dashed=True,
                axis="y2",
            ),
        ],
        marks=[
            Marks(
                name="Highest revenue",
                points=[
                    {
                        "x": labels[best],
                        "y": curve.optimum.revenue,
                        "note": f"at {labels[best]}",
                    }
                ],
                color=COLORS["target"],
                shape="rectRot",
            )
        ],
        currency=currency,
        second_unit="count",
        title=f"Average ticket against revenue and members in {month:%B %Y}",
    )


def members_chart(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return chart(
        labels=[month_label(r["month_year"]) for r in history],
        series=[
            Series(
                "Members", history_series(history, "total_members"), COLORS["members"]
            )
        ],
        unit="count",
        title="Members",
    )


def retention_chart(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return chart(
        labels=[month_label(r["month_year"]) for r in history],
        series=[
            Series(
                "Retention",
                history_series(history, "retention_rate"),
                COLORS["retention"],
            )
        ],
        unit="rate",
        title="Monthly retention",
    )


def comparison_chart(
    comparison: Any, *, currency: str, names: Sequence[str]
) -> dict[str, Any]:
    """Every compared scenario's forecast with its band, on the calendar months
    of :func:`scenarios.selectors.scenario_compare`."""
    labels = [month_label(m.month_year) for m in comparison.months]
    series = []
    for i, name in enumerate(names):
        figures = [m.figures[i] for m in comparison.months]
        series.append(
            Series(
                name,
                [f.revenue if f else None for f in figures],
                SCENARIO_COLORS[i % len(SCENARIO_COLORS)],
                dashed=i > 0 and i % 2 == 0,
                lower=[f.lower if f else None for f in figures],
                upper=[f.upper if f else None for f in figures],
                band_name=f"{name}: interval",
            )
        )
    return chart(
        labels=labels,
        series=series,
        currency=currency,
        title="Revenue by scenario",
        band_style="lines",
    )


# --- the simulator's and the planner's controls -------------------------------------


@dataclass(frozen=True)
class LeverControl:
    """A lever's slider (or limit field): its range, step and where it is today."""

    lever: str
    label: str
    unit: str
    field: str
    max_field: str
    help: str
    today: float
    minimum: float
    maximum: float
    step: float
    history_low: float | None
    history_high: float | None
    default_max_change: float
    #: Why the model cannot move this lever for the studio; empty when it can.
    note: str = ""
    #: False when the studio has no data on the lever (``today`` is then 0).
    has_data: bool = True
    #: What studios of its type run: the 5th to 95th percentile of their months
    #: (forecasting.ranges); None where no peer has a value.
    peer_low: float | None = None
    peer_high: float | None = None

    @property
    def modelled(self) -> bool:
        return not self.note

    @property
    def today_text(self) -> str:
        if not self.has_data:
            return "no data"
        return format_lever(self.lever, self.today)

    @property
    def history_text(self) -> str:
        if self.history_low is None or self.history_high is None:
            return "no history on record"
        return (
            f"{format_lever(self.lever, self.history_low)} to "
            f"{format_lever(self.lever, self.history_high)}"
        )

    @property
    def peers_text(self) -> str:
        if self.peer_low is None or self.peer_high is None:
            return ""
        return (
            f"{format_lever(self.lever, self.peer_low)} to "
            f"{format_lever(self.lever, self.peer_high)}"
        )

    @property
    def today_position(self) -> float:
        """Where today's value sits along the slider, in % of its width."""
        span = self.maximum - self.minimum
        return 0.0 if span <= 0 else round(100 * (self.today - self.minimum) / span, 2)

    @property
    def max_change_input(self) -> float:
        """The default maximum change as the planner's field shows it (rates in
        percentage points)."""
        value = self.default_max_change
        return round(value * 100, 2) if self.unit == "rate" else value

    @property
    def max_change_unit(self) -> str:
        return {"rate": "pts", "money": "", "count": ""}[self.unit]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lever": self.lever,
            "label": self.label,
            "unit": self.unit,
            "field": self.field,
            "maxField": self.max_field,
            "today": self.today,
            "historyLow": self.history_low,
            "historyHigh": self.history_high,
            "peerLow": self.peer_low,
            "peerHigh": self.peer_high,
        }


def _slider_range(
    unit: str, today: float, low: float | None, high: float | None, ceiling: float
) -> tuple[float, float, float]:
    """Wide enough to cover the history and a realistic plan, never above
    ``ceiling``, the lever's valid range for the studio
    (forecasting.services.lever_bounds)."""
    low = today if low is None else min(low, today)
    high = today if high is None else max(high, today)
    if unit == "rate":
        return max(0.0, round(low - 0.10, 2)), min(1.0, round(high + 0.10, 2)), 0.001
    if unit == "money":
        return max(0.0, math.floor(low * 0.7)), min(ceiling, math.ceil(high * 1.3)), 1.0
    return (
        max(0.0, math.floor(low * 0.5)),
        min(ceiling, math.ceil(high * 1.5 + 10)),
        1.0,
    )


def lever_controls(
    *,
    today: Mapping[str, float | None],
    history_ranges: Mapping[str, tuple[float, float] | None],
    not_modelled: Mapping[str, str] | None = None,
    peer_ranges: Mapping[str, tuple[float, float] | None] | None = None,
) -> list[LeverControl]:
    """One control per lever. ``today`` holds the base month's levers (a forward
    prediction's ``base_levers``; None where the studio has no data on one);
    ``history_ranges`` each lever's lowest and highest month on record, keyed by
    its MonthlyMetric column; ``not_modelled`` the reason for each lever the model
    cannot move for the studio (its control is shown disabled, with the reason);
    ``peer_ranges`` what studios of its type run, keyed by lever (the slider warns
    beyond it, as forward answers do)."""
    not_modelled = not_modelled or {}
    peer_ranges = peer_ranges or {}
    valid = lever_bounds(today)
    default_step, _ = default_max_changes(today)
    controls = []
    for lever in LEVERS:
        ui = LEVER_UI[lever]
        value = 0.0 if today.get(lever) is None else float(today[lever])
        observed = history_ranges.get(LEVER_HISTORY_COLUMN[lever])
        low, high = observed if observed else (None, None)
        peer_low, peer_high = peer_ranges.get(lever) or (None, None)
        minimum, maximum, step = _slider_range(
            ui["unit"], value, low, high, valid[lever][1]
        )
        controls.append(
            LeverControl(
                lever=lever,
                label=ui["label"],
                unit=ui["unit"],
                field=ui["field"],
                max_field=ui["max_field"],
                help=ui["help"],
                today=value,
                minimum=minimum,
                maximum=maximum,
                step=step,
                history_low=low,
                history_high=high,
                default_max_change=default_step[lever],
                note=not_modelled.get(lever, ""),
                has_data=today.get(lever) is not None,
                peer_low=peer_low,
                peer_high=peer_high,
            )
        )
    return controls
