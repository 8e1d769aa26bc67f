"""Reads the insights need: a studio's own history and its peers' latest levers.

``studio`` is one the caller may see (the studio of a scenario they may see);
other studios' figures leave this module only as percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import OuterRef, Subquery

from studios.models import MonthlyMetric, Studio

__all__ = ["HistoryMonth", "PeerLevers", "peer_latest_levers", "studio_history"]


@dataclass(frozen=True)
class HistoryMonth:
    month_year: date
    total_revenue: float
    retention_rate: float | None
    class_attendance_rate: float | None
    staff_utilization_rate: float | None
    is_outlier: bool


@dataclass(frozen=True)
class PeerLevers:
    class_attendance_rate: float | None
    upsell_rate: float | None


def studio_history(*, studio: Studio, until: date) -> list[HistoryMonth]:
    """The studio's months up to ``until``, oldest first."""
    rows = (
        MonthlyMetric.objects.filter(studio=studio, month_year__lte=until)
        .order_by("month_year")
        .values_list(
            "month_year",
            "total_revenue",
            "retention_rate",
            "class_attendance_rate",
            "staff_utilization_rate",
            "is_outlier",
        )
    )
    return [
        HistoryMonth(month, float(revenue), retention, attendance, staff, outlier)
        for month, revenue, retention, attendance, staff, outlier in rows
    ]


def peer_latest_levers(*, studio: Studio, until: date) -> list[PeerLevers]:
    """Each other studio of the same type at its latest month up to ``until``."""
    latest = (
        MonthlyMetric.objects.filter(studio=OuterRef("studio"), month_year__lte=until)
        .order_by("-month_year")
        .values("month_year")[:1]
    )
    rows = (
        MonthlyMetric.objects.filter(
            studio__studio_type=studio.studio_type, month_year=Subquery(latest)
        )
        .exclude(studio=studio)
        .values_list("class_attendance_rate", "upsell_rate")
    )
    return [PeerLevers(attendance, upsell) for attendance, upsell in rows]
