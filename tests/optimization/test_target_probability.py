"""Risk-aware plans: targetProbability sizes the plan to the calibrated uncertainty."""

import numpy as np
import pytest

from forecasting.ml.frame import LEVERS
from forecasting.models import PredictionLog
from forecasting.registry import active_model
from forecasting.services import forecast_predict, parse_base_month, studio_state
from optimization.services import inverse_predict
from studiosim.errors import InvalidInput

pytestmark = pytest.mark.django_db

BASE = "2026-04"


def _quantile(studio, levers: dict, probability: float, months=3) -> float:
    """Month-``months`` revenue reached with ``probability``, from the model itself:
    the calibrated distribution convolved with the plan's lever-response error."""
    loaded = active_model()
    state = studio_state(
        model=loaded.model,
        version_id=loaded.version.pk,
        studio=studio,
        base_month=parse_base_month(BASE),
    )
    row = np.array([levers[k] for k in LEVERS])
    revenue = loaded.model.predict(state, row, months).revenue
    status_quo = loaded.model.predict(state, state.levers, months).revenue[0]
    quantile = loaded.model.revenue_quantile(state, revenue, status_quo, probability)
    return float(quantile[0, -1])


def _status_quo(studio) -> float:
    return (
        forecast_predict(studio=studio, base_month=BASE, log=False)
        .predictions[-1]
        .revenue
    )


def test_a_plan_at_80_percent_meets_the_target_at_that_quantile_and_moves_more(
    active_version, loaded_studios
):
    studio = loaded_studios[0]
    target = (
        forecast_predict(studio=studio, base_month=BASE, log=False)
        .predictions[-1]
        .revenue
        * 1.03
    )

    median = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=target, target_probability=0.5
    )
    likely = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=target, target_probability=0.8
    )

    assert likely.reachable and median.reachable
    assert _quantile(studio, likely.recommended_levers, 0.8) >= target * (1 - 1e-6)
    assert likely.projected_revenue == pytest.approx(
        _quantile(studio, likely.recommended_levers, 0.8), rel=1e-6
    )
    assert likely.reach_probability >= 0.8 - 0.01
    assert likely.total_cost > median.total_cost
    assert likely.expected_revenue > median.expected_revenue
    assert likely.target_probability == 0.8
    assert "80% probability" in likely.message


def test_a_larger_lift_or_probability_asks_more_of_the_plan(
    active_version, loaded_studios, monkeypatch
):
    """The lever-response error grows with the lift: the margin a plan keeps over
    its target (point forecast / target) grows with the target and with p, and
    without the response error the margin is the calibrated one alone."""
    studio = loaded_studios[0]
    base = _status_quo(studio)
    model = active_model().model

    def margin(uplift: float, probability: float) -> float:
        out = inverse_predict(
            studio=studio,
            base_month=BASE,
            target_revenue=base * (1 + uplift),
            target_probability=probability,
            log=False,
        )
        assert out.reachable
        return out.expected_revenue / out.target_revenue

    # With the model's own (default) response error, and with a wider one.
    assert margin(0.06, 0.8) > margin(0.01, 0.8)
    monkeypatch.setattr(model, "response_error", 0.3)
    small, large = margin(0.01, 0.8), margin(0.06, 0.8)
    assert large > small + 0.002
    assert margin(0.03, 0.9) > margin(0.03, 0.8)
    monkeypatch.setattr(model, "response_error", 0.0)
    assert margin(0.06, 0.8) < large - 0.002
    assert margin(0.06, 0.8) == pytest.approx(margin(0.01, 0.8), abs=0.002)


def test_a_plan_in_expectation_says_how_likely_it_is(active_version, loaded_studios):
    studio = loaded_studios[1]
    target = (
        forecast_predict(studio=studio, base_month=BASE, log=False)
        .predictions[-1]
        .revenue
        * 1.03
    )

    out = inverse_predict(studio=studio, base_month=BASE, target_revenue=target)

    assert out.target_probability is None
    assert out.expected_revenue == pytest.approx(out.projected_revenue, abs=0.01)
    # A plan sized to the point forecast lands near the middle of the distribution.
    assert 0.3 < out.reach_probability < 0.7


@pytest.mark.parametrize("probability", [0.0, 1.0, 1.5, -0.2])
def test_a_probability_out_of_range_is_refused(
    active_version, loaded_studios, probability
):
    with pytest.raises(InvalidInput) as error:
        inverse_predict(
            studio=loaded_studios[0],
            base_month=BASE,
            target_revenue=90000.0,
            target_probability=probability,
        )

    assert error.value.field == "target_probability"
    assert not PredictionLog.objects.exists()
