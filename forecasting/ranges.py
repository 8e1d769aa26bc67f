"""Where each lever has been: the studio's own history and its peers' (SPEC §12).

A forecast or a plan with a lever outside every value the studio has run, or
outside what studios of its type run, is an extrapolation: the model's response
there rests on other studios' data or on its structural prior alone. Answers
carry a :class:`RangeWarning` for each such lever, and the inverse keeps its
recommendations inside the peers' range unless the caller allows otherwise.

Two ranges per lever, chosen for what each is for:

* **history**: the lowest and highest value in the studio's own months up to
  the base month (flagged outlier months left out). Min-max, because every value
  the studio has actually run is experience the model saw from this studio.
* **peers**: the 5th to 95th percentile of every month of every studio of the
  same type and currency (outliers left out, all months). Percentiles rather than
  min-max, because across dozens of studios one odd month would otherwise widen
  the range to values few studios ever run; 90% of peer months fall inside it.
  The same currency, because a ticket of 24,000 yen among dollar prices would
  set the peers' top (and a dollar studio's plan could then head for it).

Ranges are cached per studio, base month and data version (the studio's own and
the sum of its peers', so any import to a peer makes a new key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Sum

from forecasting.ml.frame import LEVER_COLUMNS, LEVER_LABELS, LEVERS
from studios.models import MonthlyMetric, Studio
from studiosim.display import format_money

__all__ = [
    "PEER_PERCENTILES",
    "LeverRange",
    "RangeWarning",
    "lever_ranges",
    "range_warnings",
]

#: The peers' range: these percentiles of all their months.
PEER_PERCENTILES = (5.0, 95.0)
SCOPES = ("history", "peers")


@dataclass(frozen=True)
class LeverRange:
    """A lever's observed range in the studio's history and across its peers."""

    lever: str
    history_low: float | None
    history_high: float | None
    peer_low: float | None
    peer_high: float | None


@dataclass(frozen=True)
class RangeWarning:
    lever: str
    value: float
    low: float
    high: float
    scope: str
    message: str


def _format(lever: str, value: float, currency: str) -> str:
    if lever == "avg_ticket_price":
        return format_money(value, currency, places=2)
    if lever in ("new_members_monthly", "total_classes_held"):
        return f"{value:,.1f}"
    return f"{value:.1%}"


def _peer_version(studio_type: str, currency: str) -> tuple[int, int]:
    totals = Studio.objects.filter(
        studio_type=studio_type, currency=currency
    ).aggregate(version=Sum("data_version"), studios=Count("pk"))
    return int(totals["version"] or 0), int(totals["studios"] or 0)


def _own(studio: Studio, base_month: dt.date) -> list[list[float | None]]:
    """Each lever's [min, max] in the studio's non-outlier months up to base_month."""
    own = np.array(
        list(
            MonthlyMetric.objects.filter(
                is_outlier=False, studio=studio, month_year__lte=base_month
            ).values_list(*LEVER_COLUMNS)
        ),
        dtype=float,
    ).reshape(-1, len(LEVERS))
    out = []
    for i in range(len(LEVERS)):
        mine = own[:, i][np.isfinite(own[:, i])]
        out.append(
            [float(mine.min()), float(mine.max())] if len(mine) else [None, None]
        )
    return out


def _peers(studio_type: str, currency: str) -> list[list[float | None]]:
    """Each lever's percentiles over the non-outlier months of the type's studios
    that count money in ``currency``."""
    peers = np.array(
        list(
            MonthlyMetric.objects.filter(
                is_outlier=False,
                studio__studio_type=studio_type,
                studio__currency=currency,
            ).values_list(*LEVER_COLUMNS)
        ),
        dtype=float,
    ).reshape(-1, len(LEVERS))
    out = []
    for i in range(len(LEVERS)):
        theirs = peers[:, i][np.isfinite(peers[:, i])]
        out.append(
            [float(v) for v in np.percentile(theirs, PEER_PERCENTILES)]
            if len(theirs)
            else [None, None]
        )
    return out


def lever_ranges(*, studio: Studio, base_month: dt.date) -> dict[str, LeverRange]:
    """Each lever's range in the studio's own history and across its peers.

    ``history_*`` is None for a lever the studio has no value of on record up to
    ``base_month``; ``peer_*`` is None when no studio of its type and currency
    has one. The peers' percentiles read every month of those studios, so they
    are cached once per type and currency (and their data version), not once per
    studio: a chain's studios share them.
    """
    peers_of = (studio.studio_type, studio.currency)
    version, count = _peer_version(*peers_of)
    peer_set = f"{studio.studio_type}-{studio.currency}-{version}-{count}"
    peers_key = f"lever-ranges:peers:v2:{peer_set}"
    key = (
        f"lever-ranges:v3:{studio.pk}:data{studio.data_version}:"
        f"{base_month.isoformat()}:peers-{peer_set}"
    )
    # Straight to the cache, not through cached_json: the ranges are a part of
    # an answer, and the hit and miss counts are of whole answers.
    values = cache.get(key)
    if values is None:
        peers = cache.get(peers_key)
        if peers is None:
            peers = _peers(*peers_of)
            cache.set(peers_key, peers)
        own = _own(studio, base_month)
        values = {lever: own[i] + peers[i] for i, lever in enumerate(LEVERS)}
        cache.set(key, values)
    return {lever: LeverRange(lever, *values[lever]) for lever in LEVERS}


def range_warnings(
    levers: Mapping[str, float | None],
    ranges: Mapping[str, LeverRange],
    *,
    beyond_peers_allowed: bool = False,
    currency: str = "USD",
) -> list[RangeWarning]:
    """A warning for each lever value outside the studio's history, and outside its
    peers' range (one each, so a value outside both gets two).

    ``beyond_peers_allowed`` marks the peers' warnings as the caller's choice
    (an inverse asked to go beyond the peers' range); ``currency`` is the
    studio's, in which a ticket is written.
    """
    warnings: list[RangeWarning] = []
    for lever in LEVERS:
        value = levers.get(lever)
        known = ranges.get(lever)
        if value is None or known is None:
            continue
        label = LEVER_LABELS[lever]
        for scope, low, high in (
            ("history", known.history_low, known.history_high),
            ("peers", known.peer_low, known.peer_high),
        ):
            if low is None or high is None or low - 1e-9 <= value <= high + 1e-9:
                continue
            where = (
                "this studio's own history"
                if scope == "history"
                else "the range of studios of its type (5th-95th percentile)"
            )
            message = (
                f"{label.capitalize()} at {_format(lever, value, currency)} is "
                f"outside {where}, {_format(lever, low, currency)} to "
                f"{_format(lever, high, currency)}: the "
                "forecast there is an extrapolation."
            )
            if scope == "peers" and beyond_peers_allowed:
                message += " Recommended because allowBeyondPeers is set."
            warnings.append(
                RangeWarning(
                    lever=lever,
                    value=float(value),
                    low=float(low),
                    high=float(high),
                    scope=scope,
                    message=message,
                )
            )
    return warnings
