"""Charts as data: what the pages and the admin hand to ``web/static/web/app.js``
(Chart.js) as JSON. Plain values only, so any layer's adapter can build one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COLORS", "SCENARIO_COLORS", "Marks", "Series", "chart"]


@dataclass
class Series:
    """A line of a chart; ``lower``/``upper`` draw its interval as a band."""

    name: str
    values: list[float | None]
    color: str
    dashed: bool = False
    lower: list[float | None] | None = None
    upper: list[float | None] | None = None
    band_name: str = ""
    axis: str = "y"

    def as_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "values": self.values,
            "color": self.color,
            "dashed": self.dashed,
            "axis": self.axis,
        }
        if self.lower is not None and self.upper is not None:
            data.update(lower=self.lower, upper=self.upper, bandName=self.band_name)
        return data


@dataclass
class Marks:
    """Points marked on the chart (outlier months, a target)."""

    name: str
    points: list[dict[str, Any]] = field(default_factory=list)
    color: str = "#b42318"
    shape: str = "triangle"


#: Colour of each role; scenario colours in order (Okabe-Ito, colour-blind safe).
COLORS = {
    "history": "#1d2733",
    "forecast": "#0072b2",
    "status_quo": "#7a8594",
    "members": "#009e73",
    "retention": "#d55e00",
    "target": "#b42318",
}
SCENARIO_COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7"]


def chart(
    *,
    labels: Sequence[str],
    series: Iterable[Series],
    marks: Iterable[Marks] = (),
    unit: str = "money",
    currency: str = "USD",
    title: str,
    second_unit: str = "",
    band_style: str = "fill",
) -> dict[str, Any]:
    """One chart as ``charts.js`` draws it: x labels (months), series with
    optional bands, marked points, and the unit of the y axis ("money", "count"
    or "rate"; ``second_unit`` for series on the right-hand axis ``y2``)."""
    return {
        "title": title,
        "labels": list(labels),
        "series": [s.as_dict() for s in series],
        "marks": [
            {"name": m.name, "points": m.points, "color": m.color, "shape": m.shape}
            for m in marks
        ],
        "unit": unit,
        "secondUnit": second_unit,
        # "fill" shades each band; "lines" draws its edges, for overlapping bands.
        "bandStyle": band_style,
        "currency": currency,
    }
