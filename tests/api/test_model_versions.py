"""modelVersions and activateModelVersion: the model registry, staff only."""

import datetime as dt

import pytest
from django.utils import timezone

from forecasting.models import ModelVersion, ModelVersionStatus
from tests.api.conftest import covers, error_codes
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db

MODEL_VERSIONS_QUERY = """
query ModelVersions($pagination: OffsetPaginationInput) {
  modelVersions(pagination: $pagination) {
    totalCount
    results {
      id version status trainedAt deployedAt metrics activationForcedReason
      checks { name passed detail }
    }
  }
}
"""

ACTIVATE_MODEL_VERSION_MUTATION = """
mutation ActivateModelVersion($id: ID!, $forceReason: String! = "") {
  activateModelVersion(id: $id, forceReason: $forceReason) {
    id version status deployedAt activationForcedReason
  }
}
"""

FAILING_CHECKS = {
    "lever_monotonicity": {"passed": True, "detail": "ok"},
    "beats_baselines": {"passed": False, "detail": "naive wins at h=3"},
}


@covers("allowed", "modelVersions")
def test_staff_list_the_registry_newest_first(gql, staff):
    # given
    trained = timezone.now() - dt.timedelta(days=1)
    old = ModelVersionFactory(version="fm-old", status=ModelVersionStatus.ARCHIVED)
    new = ModelVersionFactory(
        version="fm-new",
        trained_at=trained,
        metrics={"headline": {"test_mape_h1": 0.041}},
        checks=FAILING_CHECKS,
    )
    ModelVersion.objects.filter(pk=old.pk).update(created_at=trained)

    # when
    body = gql(staff).execute(MODEL_VERSIONS_QUERY)

    # then
    versions = body["data"]["modelVersions"]
    assert versions["totalCount"] == 2
    assert versions["results"][0] == {
        "id": str(new.pk),
        "version": "fm-new",
        "status": "READY",
        "trainedAt": trained.isoformat(),
        "deployedAt": None,
        "metrics": {"headline": {"test_mape_h1": 0.041}},
        "activationForcedReason": "",
        "checks": [
            {"name": "beats_baselines", "passed": False, "detail": "naive wins at h=3"},
            {"name": "lever_monotonicity", "passed": True, "detail": "ok"},
        ],
    }
    assert versions["results"][1]["status"] == "ARCHIVED"


@covers("denied", "modelVersions")
def test_model_versions_are_forbidden_to_studio_users(gql, owner):
    # given
    ModelVersionFactory()

    # when
    body = gql(owner).execute(MODEL_VERSIONS_QUERY)

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert error["message"] == "Only staff may do this."


@covers("bad input", "modelVersions")
def test_model_versions_refuse_a_page_over_100(gql, staff):
    body = gql(staff).execute(MODEL_VERSIONS_QUERY, {"pagination": {"limit": 500}})

    assert body["errors"][0]["extensions"]["field"] == "pagination.limit"


@covers("allowed", "activateModelVersion")
def test_staff_activate_a_ready_version_and_archive_the_active_one(gql, staff):
    # given
    previous = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    ready = ModelVersionFactory()

    # when
    body = gql(staff).execute(ACTIVATE_MODEL_VERSION_MUTATION, {"id": str(ready.pk)})

    # then
    activated = body["data"]["activateModelVersion"]
    assert (activated["version"], activated["status"]) == (ready.version, "ACTIVE")
    assert activated["deployedAt"] is not None
    previous.refresh_from_db()
    assert previous.status == ModelVersionStatus.ARCHIVED


@covers("denied", "activateModelVersion")
def test_studio_users_may_not_activate_a_version(gql, owner):
    # given
    ready = ModelVersionFactory()

    # when
    body = gql(owner).execute(ACTIVATE_MODEL_VERSION_MUTATION, {"id": str(ready.pk)})

    # then
    assert error_codes(body) == ["FORBIDDEN"]
    ready.refresh_from_db()
    assert ready.status == ModelVersionStatus.READY


@covers("bad input", "activateModelVersion")
def test_a_version_failing_its_checks_is_refused_with_the_failing_checks(gql, staff):
    # given
    version = ModelVersionFactory(checks=FAILING_CHECKS)

    # when
    body = gql(staff).execute(ACTIVATE_MODEL_VERSION_MUTATION, {"id": str(version.pk)})

    # then
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "forceReason",
        "reason": (
            f"Version {version.version} failed its activation checks: "
            "beats_baselines. Activate with a recorded reason to force it."
        ),
        "failingChecks": ["beats_baselines"],
    }
    assert not ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).exists()


def test_a_forced_activation_records_the_reason(gql, staff):
    # given
    version = ModelVersionFactory(checks=FAILING_CHECKS)

    # when
    body = gql(staff).execute(
        ACTIVATE_MODEL_VERSION_MUTATION,
        {"id": str(version.pk), "forceReason": "demo tomorrow; retrain after"},
    )

    # then
    activated = body["data"]["activateModelVersion"]
    assert activated["status"] == "ACTIVE"
    assert activated["activationForcedReason"] == "demo tomorrow; retrain after"


@pytest.mark.parametrize(
    ("version_id", "code", "field"),
    [
        ("abc", "BAD_USER_INPUT", "id"),
        ("999999", "NOT_FOUND", None),
        ("99999999999999999999", "NOT_FOUND", None),
    ],
    ids=["malformed", "unknown", "beyond-bigint"],
)
def test_activation_names_a_bad_or_unknown_id(gql, staff, version_id, code, field):
    body = gql(staff).execute(ACTIVATE_MODEL_VERSION_MUTATION, {"id": version_id})

    [error] = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"].get("field") == field


def test_a_version_still_training_cannot_be_activated(gql, staff):
    version = ModelVersionFactory(status=ModelVersionStatus.TRAINING)

    body = gql(staff).execute(ACTIVATE_MODEL_VERSION_MUTATION, {"id": str(version.pk)})

    [error] = body["errors"]
    assert error["extensions"]["field"] == "id"
    assert "only ready or archived versions" in error["extensions"]["reason"]
