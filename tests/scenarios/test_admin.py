"""The scenario admin: filters, readable JSON, the share link, adding through the service."""

import pytest
from django.urls import reverse

from forecasting.models import PredictionType
from scenarios.models import Scenario
from tests.factories import PredictionLogFactory, ScenarioFactory, StudioFactory
from tests.scenarios.builders import forward_log

pytestmark = [pytest.mark.django_db]

CHANGELIST = "admin:scenarios_scenario_changelist"


def test_the_changelist_filters_by_tag_studio_and_type_and_searches_tags(
    client, superuser
):
    studio = StudioFactory()
    ScenarioFactory(studio=studio, tags=["summer", "promo"])
    ScenarioFactory(studio=studio, tags=["winter"])
    ScenarioFactory(tags=["summer"])
    client.force_login(superuser)

    by_tag = client.get(reverse(CHANGELIST), {"tag": "Summer"})
    by_studio = client.get(
        reverse(CHANGELIST), {"tag": "summer", "studio__id__exact": studio.pk}
    )
    by_type = client.get(reverse(CHANGELIST), {"scenario_type__exact": "inverse"})
    searched = client.get(reverse(CHANGELIST), {"q": "promo"})

    assert by_tag.context["cl"].result_count == 2
    assert by_studio.context["cl"].result_count == 1
    assert by_type.context["cl"].result_count == 0
    assert searched.context["cl"].result_count == 1
    assert ">summer</a>" in by_tag.content.decode()  # offered as a filter choice


def test_the_change_page_shows_pretty_json_and_the_share_link(client, superuser):
    scenario = ScenarioFactory(predicted_outputs={"total_revenue": 140000})
    client.force_login(superuser)

    page = client.get(
        reverse("admin:scenarios_scenario_change", args=[scenario.pk])
    ).content.decode()

    assert "&quot;total_revenue&quot;: 140000" in page
    assert f'href="/scenarios/{scenario.pk}/"' in page


def test_editing_normalises_tags_and_leaves_the_figures_alone(client, superuser):
    scenario = ScenarioFactory(name="Old")
    outputs = scenario.predicted_outputs
    client.force_login(superuser)

    response = client.post(
        reverse("admin:scenarios_scenario_change", args=[scenario.pk]),
        {"name": "New", "description": "", "tags": " Promo, promo,Q3, "},
    )

    assert response.status_code == 302
    scenario.refresh_from_db()
    assert scenario.name == "New"
    assert scenario.tags == ["promo", "q3"]
    assert scenario.predicted_outputs == outputs


def test_adding_saves_a_forward_prediction_through_the_service(client, superuser):
    log = forward_log(StudioFactory())
    client.force_login(superuser)

    response = client.post(
        reverse("admin:scenarios_scenario_add"),
        {
            "prediction_log": log.pk,
            "name": "From admin",
            "description": "",
            "tags": "A",
        },
    )

    assert response.status_code == 302
    scenario = Scenario.objects.get()
    assert response["Location"].endswith("/scenarios/scenario/")
    assert scenario.studio == log.studio
    assert scenario.predicted_outputs == log.outputs
    assert scenario.created_by == superuser
    assert scenario.tags == ["a"]


def test_adding_refuses_an_inverse_prediction(client, superuser):
    log = PredictionLogFactory(prediction_type=PredictionType.INVERSE)
    client.force_login(superuser)

    response = client.post(
        reverse("admin:scenarios_scenario_add"),
        {"prediction_log": log.pk, "name": "x", "description": "", "tags": ""},
    )

    assert response.status_code == 200
    assert "prediction_log" in response.context["adminform"].form.errors
    assert not Scenario.objects.exists()


def test_the_change_page_reads_as_text_and_tables_not_json(client, superuser):
    scenario = ScenarioFactory(tags=["summer", "promo"], confidence_score=0.8446166)
    client.force_login(superuser)

    page = client.get(
        reverse("admin:scenarios_scenario_change", args=[scenario.pk])
    ).content.decode()

    assert 'value="summer, promo"' in page
    assert "84.5%" in page and "0.8446" not in page
    assert '<table class="json-table">' in page
