"""The admin shows figures as a person reads them: percentages, money, tables
instead of JSON, the studio's history and cohorts, a model version's evaluation
drawn."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import (
    MemberCohortFactory,
    ModelVersionFactory,
    MonthlyMetricFactory,
    PredictionLogFactory,
    StudioFactory,
)

pytestmark = pytest.mark.django_db


def chart_json(page: str, name: str) -> dict:
    match = re.search(
        rf'<script id="chart-data-{name}" type="application/json">(.*?)</script>',
        page,
        re.S,
    )
    assert match, f"no chart {name}"
    return json.loads(match[1])


def months(studio, n, **fields):
    return [
        MonthlyMetricFactory(
            studio=studio, month_year=dt.date(2024 + i // 12, i % 12 + 1, 1), **fields
        )
        for i in range(n)
    ]


def test_the_studio_list_shows_latest_revenue_members_retention_and_trend(
    client, superuser
):
    # given: 13 months, the latest 10% above the same month a year earlier
    studio = StudioFactory(name="Lotus")
    rows = months(studio, 13, total_revenue=Decimal("40000.00"))
    rows[-1].total_revenue = Decimal("44000.00")
    rows[-1].retention_rate = 0.9422492401215805
    rows[-1].save()
    client.force_login(superuser)

    # when
    page = client.get(reverse("admin:studios_studio_changelist")).content.decode()

    # then
    assert "$44,000" in page
    assert "94.2%" in page and "0.9422" not in page
    assert "+10.0%" in page
    assert 'href="/admin/studios/monthlymetric/?studio__id__exact=' in page


def test_the_studio_page_has_kpis_history_charts_cohorts_and_owner_links(
    client, superuser
):
    studio = StudioFactory()
    months(studio, 14)
    MemberCohortFactory(studio=studio, join_month=dt.date(2025, 1, 1))
    client.force_login(superuser)

    page = client.get(
        reverse("admin:studios_studio_change", args=[studio.pk])
    ).content.decode()

    assert chart_json(page, "revenue")["series"][0]["values"][0] == 46200.0
    assert [s["name"] for s in chart_json(page, "members")["series"]] == [
        "Members",
        "Retention",
    ]
    assert "/static/vendor/chart.js-4.6.2/chart.umd.min.js" in page
    # the cohort as a table with percentages and money
    assert "Jan 2025" in page and "92.0%" in page and "$1,800" in page
    assert reverse("web:dashboard", args=[studio.pk]) in page
    assert reverse("web:simulate", args=[studio.pk]) in page


def test_monthly_metrics_list_rates_as_percentages_and_money_formatted(
    client, superuser
):
    MonthlyMetricFactory(
        retention_rate=0.9422492401215805,
        avg_ticket_price=Decimal("143.82"),
        total_revenue=Decimal("71170.00"),
        is_outlier=True,
        outlier_reason="pandemic",
    )
    client.force_login(superuser)

    page = client.get(
        reverse("admin:studios_monthlymetric_changelist")
    ).content.decode()

    assert "94.2%" in page and "0.9422" not in page
    assert "$143.82" in page and "$71,170" in page
    assert "250 (+25 / −20)" in page
    assert "Pandemic" in page


def test_a_model_version_page_draws_its_evaluation_against_the_baselines(
    client, superuser
):
    # given: an evaluation table in the shape evaluation_summary stores
    table = [
        {
            "mode": mode,
            "plan": "relative",
            "split": split,
            "horizon": h,
            "method": method,
            "mape": mape + 0.001 * h,
            "coverage": 0.81 if method == "model" else None,
            "relative_width": 0.2 if method == "model" else None,
            "interval_score": 0.4567 if method == "model" else None,
            "r2": 0.9,
            "directional_accuracy": 0.75,
        }
        for mode in ("plain", "what_if")
        for split in ("validation", "test")
        for h in (1, 3, 12)
        for method, mape in (
            ("model", 0.04),
            ("naive", 0.06),
            ("seasonal_naive", 0.12),
            ("oracle", 0.035),
        )
    ]
    version = ModelVersionFactory(
        metrics={
            "horizons": [1, 3, 12],
            "table": table,
            "headline": {"test_mape_h1": 0.041, "test_coverage_h1": 0.81},
        }
    )
    client.force_login(superuser)

    # when
    page = client.get(
        reverse("admin:forecasting_modelversion_change", args=[version.pk])
    ).content.decode()
    listing = client.get(
        reverse("admin:forecasting_modelversion_changelist")
    ).content.decode()

    # then: MAPE per horizon for the model and each baseline, and coverage
    mape = chart_json(page, "mape")
    assert mape["labels"] == ["1", "3", "12"]
    series = {s["name"]: s["values"] for s in mape["series"]}
    assert series["This model"] == pytest.approx([0.041, 0.043, 0.052])
    assert series["Naive (last value)"] == pytest.approx([0.061, 0.063, 0.072])
    assert set(series) == {
        "This model",
        "Naive (last value)",
        "Seasonal naive",
        "Noise-free oracle",
    }
    coverage = chart_json(page, "coverage")
    assert coverage["series"][0]["values"] == [0.81, 0.81, 0.81]
    assert "4.10%" in page  # the table beside the charts
    assert "Interval score" in page and "0.457" in page
    assert 'class="check-pass">passed' in page
    assert "4.1%" in listing and "81.0%" in listing


def test_a_prediction_log_s_json_reads_as_tables(client, superuser):
    log = PredictionLogFactory(
        inputs={"levers": {"retention_rate": 0.95}, "coverage": 0.8},
        outputs={
            "predictions": [
                {"month": 1, "revenue": 88490.87, "lower": 81851.4, "upper": 97614.3}
            ],
            "lever_changes": [
                {"lever": "avg_ticket_price", "current": 143.8, "recommended": 150.0}
            ],
        },
        confidence=0.8446166666666666,
    )
    client.force_login(superuser)

    page = client.get(
        reverse("admin:forecasting_predictionlog_change", args=[log.pk])
    ).content.decode()

    assert '<th scope="row">Retention rate</th><td>95.0%</td>' in page
    assert "<td>$88,491</td>" in page and "<td>$81,851</td>" in page
    assert "<td>$143.80</td><td>$150.00</td>" in page
    assert "84.5%" in page
