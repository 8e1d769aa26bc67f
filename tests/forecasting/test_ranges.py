"""Lever ranges (history and peers) and the warnings forward and inverse answers carry."""

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from forecasting.ml.frame import LEVER_COLUMNS, LEVERS
from forecasting.ranges import PEER_PERCENTILES, lever_ranges
from forecasting.services import forecast_predict, parse_base_month
from optimization.optimize import levers_optimize
from optimization.services import InverseConstraints, inverse_predict
from studios.models import MonthlyMetric, Studio

pytestmark = pytest.mark.django_db

BASE = "2026-04"


def _status_quo(studio) -> float:
    return (
        forecast_predict(studio=studio, base_month=BASE, log=False)
        .predictions[-1]
        .revenue
    )


def test_ranges_are_the_studios_history_and_its_peers_percentiles(loaded_studios):
    studio = loaded_studios[0]
    base = parse_base_month(BASE)

    ranges = lever_ranges(studio=studio, base_month=base)

    own = MonthlyMetric.objects.filter(
        studio=studio, month_year__lte=base, is_outlier=False
    )
    peers = MonthlyMetric.objects.filter(
        studio__studio_type=studio.studio_type, is_outlier=False
    )
    for lever, column in zip(LEVERS, LEVER_COLUMNS, strict=True):
        mine = [float(v) for v in own.values_list(column, flat=True) if v is not None]
        theirs = [
            float(v) for v in peers.values_list(column, flat=True) if v is not None
        ]
        assert ranges[lever].history_low == pytest.approx(min(mine))
        assert ranges[lever].history_high == pytest.approx(max(mine))
        low, high = np.percentile(theirs, PEER_PERCENTILES)
        assert ranges[lever].peer_low == pytest.approx(low)
        assert ranges[lever].peer_high == pytest.approx(high)


def test_ranges_follow_new_data_of_the_studio(loaded_studios):
    studio = loaded_studios[0]
    base = parse_base_month(BASE)
    before = lever_ranges(studio=studio, base_month=base)
    record = MonthlyMetric.objects.filter(studio=studio, month_year=base).get()

    # An import writes the month and bumps the studio's data version.
    MonthlyMetric.objects.filter(pk=record.pk).update(avg_ticket_price=9999)
    Studio.objects.filter(pk=studio.pk).update(data_version=F("data_version") + 1)
    studio.refresh_from_db()
    after = lever_ranges(studio=studio, base_month=base)

    assert before["avg_ticket_price"].history_high < 9999
    assert after["avg_ticket_price"].history_high == 9999


def test_the_peers_of_a_type_are_read_once_for_all_its_studios(loaded_studios):
    """A chain's studios of one type share the peers' percentiles: the second
    studio's ranges read its own months only, and agree with a fresh read."""
    studio_type = loaded_studios[0].studio_type
    first, second = [s for s in loaded_studios if s.studio_type == studio_type][:2]
    base = parse_base_month(BASE)
    lever_ranges(studio=first, base_month=base)

    with CaptureQueriesContext(connection) as queries:
        ranges = lever_ranges(studio=second, base_month=base)

    # the type's data version and the studio's own months; no read of the
    # type's months
    sql = [query["sql"] for query in queries.captured_queries]
    assert len(sql) == 2, sql
    assert not any(
        'FROM "studios_monthlymetric"' in q and '"studio_type"' in q for q in sql
    ), sql
    cache.clear()
    assert lever_ranges(studio=second, base_month=base) == ranges


def test_the_peers_are_the_studios_of_the_type_that_count_in_the_same_currency(
    loaded_studios,
):
    """A studio priced in yen has no dollar peers, and does not stretch the
    dollar studios' range: a yen price would otherwise set their top."""
    studio_type = loaded_studios[0].studio_type
    yen, dollars = [s for s in loaded_studios if s.studio_type == studio_type][:2]
    base = parse_base_month(BASE)
    before = lever_ranges(studio=dollars, base_month=base)["avg_ticket_price"]
    MonthlyMetric.objects.filter(studio=yen).update(
        avg_ticket_price=F("avg_ticket_price") * 150
    )
    Studio.objects.filter(pk=yen.pk).update(
        currency="JPY", data_version=F("data_version") + 1
    )
    yen.refresh_from_db()

    theirs = lever_ranges(studio=dollars, base_month=base)["avg_ticket_price"]
    mine = lever_ranges(studio=yen, base_month=base)["avg_ticket_price"]

    dollar_months = [
        float(v)
        for v in MonthlyMetric.objects.filter(
            studio__studio_type=studio_type, studio__currency="USD", is_outlier=False
        ).values_list("avg_ticket_price", flat=True)
    ]
    assert theirs.peer_high == pytest.approx(
        np.percentile(dollar_months, PEER_PERCENTILES[1])
    )
    assert theirs.peer_high < 2 * before.peer_high
    # its only peer in yen is itself: the peers' range is its own months'
    own = [
        float(v)
        for v in MonthlyMetric.objects.filter(studio=yen, is_outlier=False).values_list(
            "avg_ticket_price", flat=True
        )
    ]
    assert mine.peer_low == pytest.approx(np.percentile(own, PEER_PERCENTILES[0]))
    assert mine.peer_high == pytest.approx(np.percentile(own, PEER_PERCENTILES[1]))


def test_a_forecast_within_the_studios_range_has_no_warning(
    active_version, loaded_studios
):
    out = forecast_predict(studio=loaded_studios[0], base_month=BASE, log=False)

    assert out.warnings == []


def test_a_forecast_beyond_history_and_peers_warns_for_each(
    active_version, loaded_studios
):
    studio = loaded_studios[0]
    ranges = lever_ranges(studio=studio, base_month=parse_base_month(BASE))
    ticket = ranges["avg_ticket_price"].peer_high * 1.5

    out = forecast_predict(
        studio=studio,
        base_month=BASE,
        levers={"avg_ticket_price": ticket},
        log=False,
    )

    by_scope = {w.scope: w for w in out.warnings if w.lever == "avg_ticket_price"}
    assert set(by_scope) == {"history", "peers"}
    assert by_scope["history"].high == ranges["avg_ticket_price"].history_high
    assert by_scope["peers"].high == ranges["avg_ticket_price"].peer_high
    assert by_scope["peers"].value == ticket
    assert "extrapolation" in by_scope["peers"].message
    assert {w.lever for w in out.warnings} == {"avg_ticket_price"}


def test_the_inverse_stays_within_the_peers_range_unless_allowed(
    active_version, loaded_studios
):
    studio = loaded_studios[0]
    ranges = lever_ranges(studio=studio, base_month=parse_base_month(BASE))
    today = forecast_predict(studio=studio, base_month=BASE, log=False).base_levers
    # Room to go far: generous maximum changes, an unreachable target.
    wide = InverseConstraints(
        max_increase={
            "avg_ticket_price": 200.0,
            "new_members_monthly": 200.0,
            "total_classes_held": 400.0,
            "upsell_rate": 0.5,
        }
    )
    target = _status_quo(studio) * 3

    kept = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=target, constraints=wide
    )
    free = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=target,
        constraints=InverseConstraints(
            max_increase=wide.max_increase, allow_beyond_peers=True
        ),
    )

    for plan in [kept.recommended_levers, kept.relaxed.levers] + [
        a.levers for a in kept.alternatives
    ]:
        for lever in LEVERS:
            known = ranges[lever]
            assert plan[lever] <= max(known.peer_high, today[lever]) + 1e-9, lever
            assert plan[lever] >= min(known.peer_low, today[lever]) - 1e-9, lever
    assert not [w for w in kept.warnings if w.scope == "peers"]
    beyond = [w for w in free.warnings if w.scope == "peers"]
    assert beyond
    assert all("allowBeyondPeers" in w.message for w in beyond)
    assert free.achievable_revenue > kept.achievable_revenue


def test_optimize_levers_stays_within_the_peers_range(active_version, loaded_studios):
    studio = loaded_studios[0]
    ranges = lever_ranges(studio=studio, base_month=parse_base_month(BASE))
    today = forecast_predict(studio=studio, base_month=BASE, log=False).base_levers

    out = levers_optimize(
        studio=studio,
        base_month=BASE,
        constraints=InverseConstraints(max_increase={"avg_ticket_price": 300.0}),
        log=False,
    )

    high = max(ranges["avg_ticket_price"].peer_high, today["avg_ticket_price"])
    assert out.recommended_levers["avg_ticket_price"] <= high + 1e-9
    assert not [w for w in out.range_warnings if w.scope == "peers"]
