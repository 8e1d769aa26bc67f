"""Lever impact analysis's response curves, on the session's trained model."""

import numpy as np
import pytest

from forecasting.ml.frame import LEVERS
from forecasting.services import LeverNote, forecast_predict, lever_bounds
from optimization.services import CurveSpec, lever_curves, lever_impact_analysis
from studiosim.errors import InvalidInput

pytestmark = pytest.mark.django_db

BASE = "2026-04"
MONOTONE = (
    "retention_rate",
    "class_attendance_rate",
    "new_members_monthly",
    "upsell_rate",
)


def curves(studio, **spec):
    out = lever_impact_analysis(studio=studio, base_month=BASE, curve=CurveSpec(**spec))
    return out, {impact.lever: impact.curve for impact in out.lever_impacts}


def test_every_modelled_lever_gets_a_curve_around_todays_value(
    active_version, loaded_studios
):
    # given
    studio = loaded_studios[0]
    base = forecast_predict(studio=studio, base_month=BASE, log=False).base_levers

    # when
    out, by_lever = curves(studio)

    # then: 9 points from -20% to +20%, today's value in the middle
    assert set(by_lever) == set(LEVERS)
    for lever, curve in by_lever.items():
        pcts = [p.pct for p in curve.points]
        assert pcts == pytest.approx(np.linspace(-0.2, 0.2, 9).tolist())
        middle = curve.points[4]
        assert middle.lever_value == pytest.approx(base[lever], abs=1e-6)
        assert middle.revenue == pytest.approx(out.base_revenue, abs=0.01)
        low, high = lever_bounds(base)[lever]
        for point in curve.points:
            assert low <= point.lever_value <= high
            expected = base[lever] * (1 + point.pct)
            assert point.clipped == (not low <= expected <= high)
            if not point.clipped:
                assert point.lever_value == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("lever", MONOTONE)
def test_revenue_never_falls_as_a_monotone_lever_rises(
    active_version, loaded_studios, lever
):
    for studio in loaded_studios[:4]:
        _, by_lever = curves(studio, from_pct=-0.3, to_pct=0.3, steps=13)

        revenue = [p.revenue for p in by_lever[lever].points]

        assert np.all(np.diff(revenue) >= -0.01), (studio.name, revenue)
        assert revenue[-1] > revenue[0], (studio.name, revenue)


def test_the_ticket_optimum_is_the_best_point_and_a_direct_forecast_agrees(
    active_version, loaded_studios
):
    for studio in loaded_studios[:4]:
        # when
        out, by_lever = curves(studio, from_pct=-0.5, to_pct=0.5, steps=21)
        curve = by_lever["avg_ticket_price"]

        # then: the optimum is the highest revenue, at the edge or inside
        revenue = [p.revenue for p in curve.points]
        assert curve.optimum.revenue == max(revenue)
        index = curve.points.index(curve.optimum)
        assert curve.optimum_at_edge == (index in (0, len(revenue) - 1))
        # and the model's own forecast at that price gives the same revenue
        direct = forecast_predict(
            studio=studio,
            base_month=BASE,
            months=out.horizon,
            levers={"avg_ticket_price": curve.optimum.lever_value},
            log=False,
        )
        assert direct.predictions[-1].revenue == pytest.approx(
            curve.optimum.revenue, abs=0.02
        )
        assert direct.predictions[-1].member_count == pytest.approx(
            curve.optimum.members, abs=0.1
        )


def test_a_higher_price_keeps_fewer_members(active_version, loaded_studios):
    """The price response the model learned (SPEC §12) shows in the curve."""
    _, by_lever = curves(loaded_studios[0], from_pct=-0.5, to_pct=0.5, steps=5)

    members = [p.members for p in by_lever["avg_ticket_price"].points]

    assert members[-1] < members[0]


def test_curves_come_from_one_call_of_the_model(
    active_version, loaded_studios, monkeypatch
):
    # given
    from forecasting.ml.model import ForwardModel

    calls = []
    original = ForwardModel.predict

    def counting(self, state, levers, *args, **kwargs):
        calls.append(np.asarray(levers).shape)
        return original(self, state, levers, *args, **kwargs)

    monkeypatch.setattr(ForwardModel, "predict", counting)

    # when
    curves(loaded_studios[0], steps=41)

    # then: the sensitivities' 8 plans and 7 curves of 41 points, in one batch
    assert calls == [(8 + 7 * 41, len(LEVERS))]


def test_a_lever_not_modelled_gets_no_curve(
    active_version, loaded_studios, monkeypatch
):
    # given: the studio has no upsell data the model can use
    monkeypatch.setattr(
        "optimization.services.levers_not_modelled",
        lambda state: [LeverNote(lever="upsell_rate", reason="Not modelled: test")],
    )

    # when
    out, by_lever = curves(loaded_studios[0])

    # then
    assert by_lever["upsell_rate"] is None
    upsell = next(i for i in out.lever_impacts if i.lever == "upsell_rate")
    assert not upsell.modelled
    assert all(
        by_lever[lever] is not None for lever in LEVERS if lever != "upsell_rate"
    )


def test_without_a_curve_spec_no_curves_are_drawn(active_version, loaded_studios):
    out = lever_impact_analysis(studio=loaded_studios[0], base_month=BASE)

    assert all(impact.curve is None for impact in out.lever_impacts)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"steps": 2}, "curve.steps"),
        ({"steps": 42}, "curve.steps"),
        ({"from_pct": -1.5}, "curve.from_pct"),
        ({"to_pct": 1.01}, "curve.to_pct"),
        ({"from_pct": 0.1, "to_pct": 0.1}, "curve.from_pct"),
        ({"from_pct": float("nan")}, "curve.from_pct"),
    ],
)
def test_a_curve_out_of_range_is_refused(active_version, loaded_studios, spec, field):
    with pytest.raises(InvalidInput) as refused:
        curves(loaded_studios[0], **spec)

    assert refused.value.field == field


def test_the_curves_alone_are_the_analysis_curves(active_version, loaded_studios):
    spec = CurveSpec(from_pct=-0.3, to_pct=0.3, steps=7)
    _, analysed = curves(loaded_studios[1], **vars(spec))

    base, alone = lever_curves(studio=loaded_studios[1], curve=spec, base_month=BASE)

    assert base.isoformat() == f"{BASE}-01"
    assert alone == analysed


def test_the_curves_alone_are_validated_too(active_version, loaded_studios):
    with pytest.raises(InvalidInput) as refused:
        lever_curves(studio=loaded_studios[0], curve=CurveSpec(steps=50))

    assert refused.value.field == "curve.steps"


def test_a_rate_at_its_ceiling_gets_a_sensitivity_from_below(
    active_version, loaded_studios
):
    """Retention 1.0 (an export that reports no churn) cannot rise by 1%: its
    sensitivity is the change from 1% below, as large as a lever's usual."""
    import datetime as dt

    from studios.models import MonthlyMetric
    from studios.services import metric_save

    studio = loaded_studios[0]
    before = {
        i.lever: i.revenue_sensitivity
        for i in lever_impact_analysis(studio=studio, base_month=BASE).lever_impacts
    }
    metric = MonthlyMetric.objects.get(studio=studio, month_year=dt.date(2026, 4, 1))
    metric.retention_rate, metric.churned_members = 1.0, 0
    metric_save(metric=metric)
    studio.refresh_from_db()  # its data version moved on

    out = lever_impact_analysis(studio=studio, base_month=BASE)

    after = {i.lever: i.revenue_sensitivity for i in out.lever_impacts}
    assert after["retention_rate"] > 0
    assert after["retention_rate"] == pytest.approx(before["retention_rate"], rel=0.5)


def test_a_studio_whose_revenue_never_moves_gets_no_correlation_not_an_error(
    active_version, loaded_studios
):
    """Revenue the same every month (here: none recorded, as a studio left out
    of training has): a correlation with it is undefined and answered as such,
    where the analysis ended in an internal error (a non-finite number)."""
    from studios.models import MonthlyMetric

    studio = loaded_studios[1]
    MonthlyMetric.objects.filter(studio=studio).update(total_revenue=0)
    from studios.services import studio_data_changed

    studio_data_changed(studio_ids=[studio.pk])
    studio.refresh_from_db()

    out = lever_impact_analysis(
        studio=studio, base_month=BASE, analysis_type="correlation"
    )

    assert {i.correlation for i in out.lever_impacts} == {None}
    assert set(out.correlation_matrix.values()) == {None}
