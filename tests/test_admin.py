"""Every registered admin page renders for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

FACTORY_FOR_MODEL = {
    "auth.user": factories.UserFactory,
    "studios.studio": factories.StudioFactory,
    "studios.apitoken": factories.ApiTokenFactory,
    "studios.studiomembership": factories.StudioMembershipFactory,
    "studios.monthlymetric": factories.MonthlyMetricFactory,
    "studios.classtype": factories.ClassTypeFactory,
    "studios.membercohort": factories.MemberCohortFactory,
    "forecasting.modelversion": factories.ModelVersionFactory,
    "forecasting.predictionlog": factories.PredictionLogFactory,
    "forecasting.retrainjob": factories.RetrainJobFactory,
    "forecasting.batchforecast": factories.BatchForecastFactory,
    "forecasting.batchforecastchunk": factories.BatchForecastChunkFactory,
    "forecasting.studioforecast": factories.StudioForecastFactory,
    "scenarios.scenario": factories.ScenarioFactory,
}

REGISTERED = sorted(
    model._meta.label_lower
    for model in admin.site._registry
    if model._meta.app_label not in {"auth"} or model._meta.model_name == "user"
)


def test_every_project_model_is_registered_and_has_a_factory():
    project_models = {
        m
        for m in REGISTERED
        if m.split(".")[0] in {"studios", "forecasting", "scenarios"}
    }
    assert project_models == {m for m in FACTORY_FOR_MODEL if not m.startswith("auth")}


@pytest.mark.parametrize("label", [m for m in REGISTERED if m in FACTORY_FOR_MODEL])
def test_changelist_and_change_form_render(client, superuser, label):
    obj = FACTORY_FOR_MODEL[label]()
    app_label, model_name = label.split(".")
    client.force_login(superuser)

    changelist = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    change = client.get(
        reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])
    )

    assert changelist.status_code == 200
    assert change.status_code == 200
    assert str(obj) in change.content.decode()


@pytest.mark.parametrize("label", [m for m in REGISTERED if m in FACTORY_FOR_MODEL])
def test_add_form_renders_where_adding_is_allowed(client, superuser, label):
    app_label, model_name = label.split(".")
    client.force_login(superuser)

    response = client.get(reverse(f"admin:{app_label}_{model_name}_add"))

    read_only_models = {
        "forecasting.modelversion",
        "forecasting.predictionlog",
        "forecasting.retrainjob",
        "forecasting.batchforecast",
        "forecasting.batchforecastchunk",
        "forecasting.studioforecast",
    }
    assert response.status_code == (403 if label in read_only_models else 200)


def test_changelist_filters_and_search_work(client, superuser):
    metric = factories.MonthlyMetricFactory(is_outlier=True, outlier_reason="closure")
    factories.MonthlyMetricFactory()
    client.force_login(superuser)
    url = reverse("admin:studios_monthlymetric_changelist")

    filtered = client.get(url, {"is_outlier__exact": "1", "q": metric.studio.name})

    assert filtered.status_code == 200
    assert filtered.context["cl"].result_count == 1


def test_a_model_version_page_lists_the_studios_left_out_and_why(client, superuser):
    """Staff see which studios training left out, each with every reason."""
    version = factories.ModelVersionFactory(
        excluded_studios=[
            {
                "studio_id": "7d0c6a4e-0000-0000-0000-000000000001",
                "studio": "New Corner <Studio>",
                "reasons": ["has 4 months of data", "no revenue recorded"],
            }
        ]
    )
    client.force_login(superuser)

    page = client.get(
        reverse("admin:forecasting_modelversion_change", args=[version.pk])
    ).content.decode()
    listing = client.get(reverse("admin:forecasting_modelversion_changelist"))

    assert "Studios left out of training" in page
    assert (
        "<strong>New Corner &lt;Studio&gt;</strong>: has 4 months of data; "
        "no revenue recorded" in page
    )
    assert "Left out" in listing.content.decode()
