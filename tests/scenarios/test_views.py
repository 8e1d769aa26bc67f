"""The read-only share page at /scenarios/<id>/."""

import pytest
from django.urls import reverse

from forecasting.services import forecast_predict
from scenarios.selectors import scenario_shareable_url
from scenarios.services import scenario_save
from studios.models import StudioRole
from tests.factories import StudioMembershipFactory
from tests.scenarios.builders import forward_scenario

pytestmark = [pytest.mark.django_db]


def test_a_member_sees_inputs_forecast_and_the_action_plan(
    client, active_version, loaded_studios, superuser
):
    # given
    studio = loaded_studios[0]
    viewer = StudioMembershipFactory(studio=studio, role=StudioRole.VIEWER).user
    out = forecast_predict(
        studio=studio, base_month="2026-04", levers={"retention_rate": 0.97}
    )
    scenario = scenario_save(
        user=superuser,
        studio=studio,
        prediction_id=out.prediction_id,
        name="Retention <drive>",
        tags=["summer"],
    )
    client.force_login(viewer)

    # when
    response = client.get(scenario_shareable_url(scenario))

    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "Retention &lt;drive&gt;" in page
    assert "May 2026" in page and "July 2026" in page
    assert f"${out.predictions[0].revenue:,.0f}" in page
    actions = response.context["actions"]
    assert actions and actions[0].lever == "retention_rate"
    assert actions[0].action in page


def test_without_an_active_model_the_page_says_why_there_is_no_plan(client, owner):
    scenario = forward_scenario(owner.studio, revenues=[46000.0, 47000.0])
    client.force_login(owner)

    response = client.get(f"/scenarios/{scenario.pk}/")

    assert response.status_code == 200
    assert "No action plan right now: no active model" in response.content.decode()


def test_someone_else_gets_404_like_for_a_missing_scenario(client, owner, other_studio):
    theirs = forward_scenario(other_studio, revenues=[1.0])
    client.force_login(owner)

    assert client.get(f"/scenarios/{theirs.pk}/").status_code == 404
    assert (
        client.get("/scenarios/0b9e3a0e-4c3e-4d8e-9d7e-000000000000/").status_code
        == 404
    )


def test_an_anonymous_visitor_is_sent_to_sign_in(client, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])
    url = reverse("scenarios:detail", kwargs={"scenario_id": scenario.pk})

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_the_page_is_read_only(client, owner):
    scenario = forward_scenario(owner.studio, revenues=[1.0])
    client.force_login(owner)

    assert client.post(f"/scenarios/{scenario.pk}/").status_code == 405
