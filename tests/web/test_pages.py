"""The owner pages rendered on the server: login, tenancy, figures and controls.

What the browser does with them (sliders, plans, saving) is in test_browser.py.
"""

import json
import re
import uuid

import pytest
from django.urls import reverse

from forecasting.services import forecast_predict
from optimization.services import InverseConstraints, inverse_predict
from scenarios.services import scenario_save
from studios.models import StudioRole
from studios.selectors import metric_latest_month
from studios.services import metric_save
from tests.factories import (
    MonthlyMetricFactory,
    StudioFactory,
    StudioMembershipFactory,
    UserFactory,
)
from tests.scenarios.builders import forward_scenario

pytestmark = pytest.mark.django_db

PAGES = ["web:dashboard", "web:simulate", "web:plan", "web:scenarios"]


def page_data(response) -> dict:
    match = re.search(
        r'<script id="page-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match[1])


def chart_data(response, name: str) -> dict:
    match = re.search(
        rf'<script id="chart-data-{name}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match[1])


@pytest.fixture
def member(db, loaded_studios):
    """``member(role)``: a user holding ``role`` in the first generated studio."""

    def make(role=StudioRole.OWNER):
        return StudioMembershipFactory(studio=loaded_studios[0], role=role).user

    return make


# --- login and tenancy --------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_an_anonymous_visitor_is_sent_to_sign_in(client, owner, name):
    url = reverse(name, kwargs={"studio_id": owner.studio.pk})

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", PAGES)
def test_another_owners_studio_is_not_found_like_a_missing_one(
    client, owner, other_studio, name
):
    client.force_login(owner)

    theirs = client.get(reverse(name, kwargs={"studio_id": other_studio.pk}))
    missing = client.get(reverse(name, kwargs={"studio_id": uuid.uuid4()}))

    assert theirs.status_code == missing.status_code == 404


def test_the_studio_list_shows_only_the_users_studios_with_their_latest_figures(
    client, owner, other_studio
):
    MonthlyMetricFactory(studio=owner.studio, total_revenue=41000, total_members=250)
    MonthlyMetricFactory(studio=other_studio, total_revenue=99000)
    client.force_login(owner)

    response = client.get(reverse("web:studio_list"))

    page = response.content.decode()
    assert owner.studio.name in page
    assert other_studio.name not in page
    assert "$41,000" in page and "$99,000" not in page


def test_signing_in_leads_to_the_studio_list(client, owner):
    owner.set_password("a-long-pass-phrase")
    owner.save()

    response = client.post(
        reverse("login"), {"username": "owner", "password": "a-long-pass-phrase"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("web:studio_list")


# --- dashboard ------------------------------------------------------------------------


def test_the_dashboard_shows_kpis_history_with_outliers_and_the_forecast_band(
    client, member, active_version, loaded_studios
):
    # given
    studio = loaded_studios[0]
    client.force_login(member())

    # when
    response = client.get(reverse("web:dashboard", kwargs={"studio_id": studio.pk}))

    # then: the tiles read as figures, not raw floats
    assert response.status_code == 200
    labels = [kpi.label for kpi in response.context["kpis"]]
    assert labels[:4] == ["Revenue", "Members", "Retention", "Year on year"]
    retention = response.context["kpis"][2].value
    assert re.fullmatch(r"\d{1,3}\.\d%", retention)
    # the revenue chart: every month of history, then 6 forecast months with a band
    chart = chart_data(response, "revenue")
    months = studio.monthly_metrics.count()
    assert len(chart["labels"]) == months + 6
    history, forecast = chart["series"]
    assert history["values"][:months] == [
        pytest.approx(float(m.total_revenue))
        for m in studio.monthly_metrics.order_by("month_year")
    ]
    assert all(
        low <= value <= high
        for low, value, high in zip(
            forecast["lower"][months:],
            forecast["values"][months:],
            forecast["upper"][months:],
            strict=True,
        )
    )
    outliers = studio.monthly_metrics.filter(is_outlier=True).count()
    assert outliers and len(chart["marks"][0]["points"]) == outliers
    assert chart_data(response, "members")["series"][0]["name"] == "Members"


def test_the_pages_name_a_latest_month_that_looks_like_a_typo(
    client, member, active_version, loaded_studios
):
    """The forecast starts from the latest month as it stands; where its revenue
    is far off the studio's level, the dashboard, simulator and planner say so."""
    # given: the latest month booked with an extra digit
    studio = loaded_studios[0]
    client.force_login(member())
    pages = [
        reverse(page, kwargs={"studio_id": studio.pk})
        for page in ("web:dashboard", "web:simulate", "web:plan")
    ]
    for url in pages:
        assert "Check the figures this forecast starts from" not in (
            client.get(url).content.decode()
        )
    latest = studio.monthly_metrics.order_by("-month_year").first()
    latest.total_revenue *= 10
    metric_save(metric=latest)

    # when / then
    for url in pages:
        page = client.get(url).content.decode()
        [note] = re.findall(r'<p class="notice" role="note">(.*?)</p>', page)
        assert note.startswith(
            f"Check the figures this forecast starts from: "
            f"{latest.month_year:%Y-%m}&#x27;s revenue ($"
        ), note
        assert "correct it or flag it as an outlier" in note


def test_without_an_active_model_the_dashboard_says_why_there_is_no_forecast(
    client, owner
):
    MonthlyMetricFactory(studio=owner.studio)
    client.force_login(owner)

    response = client.get(
        reverse("web:dashboard", kwargs={"studio_id": owner.studio.pk})
    )

    assert response.status_code == 200
    assert "No forecast right now: no active model" in response.content.decode()


# --- simulator and planner ------------------------------------------------------------


def test_the_simulator_has_a_labelled_slider_per_lever_within_its_valid_range(
    client, member, active_version, loaded_studios
):
    client.force_login(member())

    response = client.get(
        reverse("web:simulate", kwargs={"studio_id": loaded_studios[0].pk})
    )

    page = response.content.decode()
    sliders = re.findall(r'<input type="range" id="lever-(\w+)"[^>]*>', page)
    assert sliders == [c.lever for c in response.context["controls"]]
    assert len(sliders) == 7
    for control in response.context["controls"]:
        assert f'<label for="lever-{control.lever}">' in page
        assert control.minimum <= control.today <= control.maximum
        if control.unit == "rate":
            assert control.minimum >= 0 and control.maximum <= 1
    data = page_data(response)
    assert data["predictionId"] and len(data["statusQuo"]) == 6


def test_the_simulator_knows_the_ranges_forward_answers_warn_with(
    client, member, active_version, loaded_studios
):
    """Each slider carries the studio's own range up to the base month and its
    peers' (forecasting.ranges), and its hint says both."""
    import datetime as dt

    from forecasting.ranges import lever_ranges

    studio = loaded_studios[0]
    client.force_login(member())

    response = client.get(reverse("web:simulate", kwargs={"studio_id": studio.pk}))

    data = page_data(response)
    ranges = lever_ranges(
        studio=studio, base_month=dt.date.fromisoformat(data["baseMonth"] + "-01")
    )
    page = response.content.decode()
    for lever in data["levers"]:
        expected = ranges[lever["lever"]]
        assert lever["historyLow"] == expected.history_low
        assert lever["historyHigh"] == expected.history_high
        assert lever["peerLow"] == expected.peer_low
        assert lever["peerHigh"] == expected.peer_high
        assert expected.peer_low < expected.peer_high
    for control in response.context["controls"]:
        assert f"studios like yours {control.peers_text}." in page


def test_the_simulator_draws_price_against_revenue_with_the_best_price_marked(
    client, member, active_version, loaded_studios
):
    # given
    studio = loaded_studios[0]
    client.force_login(member())
    today = forecast_predict(
        studio=studio, base_month=metric_latest_month(studio=studio), log=False
    ).base_levers["avg_ticket_price"]

    # when
    response = client.get(reverse("web:simulate", kwargs={"studio_id": studio.pk}))

    # then: 13 tickets from 30% below today's to 30% above, revenue and members
    chart = chart_data(response, "price")
    [revenue, members] = chart["series"]
    assert (revenue["name"], members["name"], members["axis"]) == (
        "Revenue",
        "Members",
        "y2",
    )
    curve = response.context["price_curve"]
    assert [p.lever_value for p in curve.points] == pytest.approx(
        [today * (0.7 + 0.05 * i) for i in range(13)], abs=1e-6
    )
    assert revenue["values"] == [p.revenue for p in curve.points]
    [mark] = chart["marks"]
    assert mark["points"][0]["y"] == max(revenue["values"])
    page = response.content.decode()
    assert 'id="price-table"' in page
    assert page.count('class="optimum"') == 1


def test_levers_a_studio_has_no_data_on_are_shown_disabled_with_the_reason(
    client, active_version, loaded_studios
):
    """A studio imported from a minimal export: no upsell or staff data."""
    # given: a copy of a generated studio's history without the optional columns
    from studios.models import MonthlyMetric

    source = loaded_studios[0]
    minimal = StudioFactory(
        name="Minimal Export Studio",
        studio_type=source.studio_type,
        max_capacity=source.max_capacity,
    )
    for metric in MonthlyMetric.objects.filter(studio=source):
        metric.pk, metric.studio = None, minimal
        metric.upsell_rate = metric.upsell_revenue = None
        metric.staff_count = metric.staff_utilization_rate = None
        metric.save()
    owner = StudioMembershipFactory(studio=minimal, role=StudioRole.OWNER).user
    client.force_login(owner)

    # when
    simulator = client.get(reverse("web:simulate", kwargs={"studio_id": minimal.pk}))
    planner = client.get(reverse("web:plan", kwargs={"studio_id": minimal.pk}))

    # then: those sliders and limits are disabled and say why; the rest work
    page = simulator.content.decode()
    for lever in ("upsell_rate", "staff_utilization_rate"):
        slider = re.search(rf'<input type="range" id="lever-{lever}"[^>]*>', page)[0]
        assert slider.endswith(" disabled>")
        assert "Not modelled for this studio" in page
        lock = re.search(
            rf'<input type="checkbox" id="lock-{lever}"[^>]*>', planner.content.decode()
        )[0]
        assert "checked disabled" in lock
    ticket = re.search(r'<input type="range" id="lever-avg_ticket_price"[^>]*>', page)[
        0
    ]
    assert "disabled" not in ticket


@pytest.mark.parametrize("role", [StudioRole.OWNER, StudioRole.MANAGER])
def test_owners_and_managers_get_the_save_form(
    client, member, active_version, loaded_studios, role
):
    client.force_login(member(role))

    response = client.get(
        reverse("web:simulate", kwargs={"studio_id": loaded_studios[0].pk})
    )

    assert 'id="save-form"' in response.content.decode()


def test_a_viewer_is_told_saving_is_for_owners_and_managers(
    client, member, active_version, loaded_studios
):
    client.force_login(member(StudioRole.VIEWER))

    for name in ("web:simulate", "web:plan"):
        response = client.get(reverse(name, kwargs={"studio_id": loaded_studios[0].pk}))
        page = response.content.decode()
        assert 'id="save-form"' not in page
        assert "saving scenarios is for the studio's owners and managers" in page


def test_the_planner_offers_limits_and_locks_for_every_lever(
    client, member, active_version, loaded_studios
):
    client.force_login(member())

    response = client.get(
        reverse("web:plan", kwargs={"studio_id": loaded_studios[0].pk})
    )

    page = response.content.decode()
    assert response.context["default_target"] > 0
    for control in response.context["controls"]:
        assert f'name="{control.max_field}"' in page
        assert f'value="{control.lever.upper()}"' in page
        assert f'aria-label="Keep {control.label.lower()} as it is"' in page


# --- scenarios and comparison -----------------------------------------------------------


def test_two_scenarios_are_compared_with_their_bands_and_the_chance_one_beats_the_other(
    client, owner
):
    # given: an earlier plan and a later, better one
    baseline = forward_scenario(
        owner.studio, revenues=[40000.0, 41000.0], name="Steady"
    )
    better = forward_scenario(owner.studio, revenues=[44000.0, 46000.0], name="Push")
    client.force_login(owner)
    url = reverse("web:scenarios", kwargs={"studio_id": owner.studio.pk})

    # when: ticked in either order
    response = client.get(url, {"compare": [str(better.pk), str(baseline.pk)]})

    # then: the one saved first is the baseline
    summary = response.context["comparison_summary"]
    assert [row["scenario"].name for row in summary] == ["Steady", "Push"]
    assert summary[1]["difference"] == "$9,000"
    probability = int(summary[1]["probability"].rstrip("%"))
    assert 50 < probability < 100
    chart = chart_data(response, "comparison")
    assert [s["name"] for s in chart["series"]] == ["Steady", "Push"]
    assert chart["series"][1]["values"] == [44000.0, 46000.0]
    assert all(s["lower"] and s["upper"] for s in chart["series"])


def test_comparing_one_scenario_asks_for_two_to_four(client, owner):
    only = forward_scenario(owner.studio, revenues=[1.0])
    client.force_login(owner)

    response = client.get(
        reverse("web:scenarios", kwargs={"studio_id": owner.studio.pk}),
        {"compare": [str(only.pk)]},
    )

    assert "Pick between 2 and 4 scenarios to compare (1 picked)." in (
        response.content.decode()
    )


def test_a_scenario_of_another_studio_cannot_be_compared(client, owner, other_studio):
    mine = forward_scenario(owner.studio, revenues=[1.0])
    theirs = forward_scenario(other_studio, revenues=[1.0])
    client.force_login(owner)

    response = client.get(
        reverse("web:scenarios", kwargs={"studio_id": owner.studio.pk}),
        {"compare": [str(mine.pk), str(theirs.pk)]},
    )

    assert response.status_code == 404


def test_a_user_with_two_studios_cannot_compare_one_studio_s_scenarios_on_the_other(
    client, owner
):
    second = StudioFactory(name="Second")
    StudioMembershipFactory(user=owner, studio=second)
    a = forward_scenario(owner.studio, revenues=[1.0])
    b = forward_scenario(owner.studio, revenues=[2.0])
    client.force_login(owner)

    response = client.get(
        reverse("web:scenarios", kwargs={"studio_id": second.pk}),
        {"compare": [str(a.pk), str(b.pk)]},
    )

    assert response.status_code == 404


# --- the share page ----------------------------------------------------------------------


def test_an_inverse_scenario_s_page_shows_the_action_plan_saved_with_it(
    client, active_version, loaded_studios, superuser
):
    # given: a plan that needs lever changes, saved
    studio = loaded_studios[0]
    plain = forecast_predict(studio=studio, base_month="2026-04", levers={}, months=3)
    plan = inverse_predict(
        studio=studio,
        base_month="2026-04",
        target_revenue=plain.predictions[-1].revenue * 1.04,
        target_months=3,
        target_kind="month",
        constraints=InverseConstraints(),
    )
    assert plan.action_plan
    scenario = scenario_save(
        user=superuser, studio=studio, prediction_id=plan.prediction_id, name="Grow"
    )
    viewer = StudioMembershipFactory(studio=studio, role=StudioRole.VIEWER).user
    client.force_login(viewer)

    # when
    response = client.get(reverse("scenarios:detail", args=[scenario.pk]))

    # then: the optimiser's plan as returned, and the forecast drawn
    page = response.content.decode()
    assert [step.action for step in response.context["saved_plan"]] == [
        action.action for action in plan.action_plan
    ]
    for action in plan.action_plan:
        assert action.specifics in page
    assert "next best actions" not in page.lower()
    chart = chart_data(response, "scenario")
    assert chart["series"][-1]["values"][-3:] == pytest.approx(plan.monthly_revenue)


def test_every_page_carries_a_navigation_with_the_current_page_marked(client, owner):
    MonthlyMetricFactory(studio=owner.studio)
    client.force_login(owner)

    response = client.get(
        reverse("web:scenarios", kwargs={"studio_id": owner.studio.pk})
    )

    page = response.content.decode()
    assert re.search(
        r'<a href="[^"]+/scenarios/" aria-current="page">Scenarios</a>', page
    )
    assert '<a class="skip-link" href="#main">' in page


def test_a_user_without_studios_is_told_how_to_get_one(client):
    client.force_login(UserFactory())

    response = client.get(reverse("web:studio_list"))

    assert "not a member of any studio yet" in response.content.decode()


def test_comparing_an_id_that_is_not_a_scenario_is_not_found(client, owner):
    mine = forward_scenario(owner.studio, revenues=[1.0])
    client.force_login(owner)
    url = reverse("web:scenarios", kwargs={"studio_id": owner.studio.pk})

    malformed = client.get(url, {"compare": [str(mine.pk), "not-a-uuid"]})
    missing = client.get(url, {"compare": [str(mine.pk), str(uuid.uuid4())]})

    assert malformed.status_code == missing.status_code == 404
