"""Saving, listing, fetching and deleting scenarios, with tenancy and tag filters."""

import datetime as dt

import pytest
from django.db import connection

from forecasting.models import PredictionLog
from forecasting.services import forecast_predict
from optimization.services import inverse_predict
from scenarios.models import Scenario, ScenarioType
from scenarios.selectors import (
    MAX_TAGS,
    scenario_get,
    scenario_list,
    scenario_projection,
    scenario_shareable_url,
    scenarios_with_tags,
    tags_normalise,
)
from scenarios.services import NotAllowed, scenario_delete, scenario_save
from studios.models import StudioRole
from studiosim.errors import InvalidInput, NotFound
from tests.factories import (
    ScenarioFactory,
    StudioFactory,
    StudioMembershipFactory,
    UserFactory,
)
from tests.scenarios.builders import forward_log, forward_scenario

pytestmark = pytest.mark.django_db


def _member(studio, role=StudioRole.OWNER, username=None):
    kwargs = {"username": username} if username else {}
    return StudioMembershipFactory(
        studio=studio, role=role, user=UserFactory(**kwargs)
    ).user


def _save(user, studio, log, **kwargs):
    return scenario_save(
        user=user,
        studio=studio,
        prediction_id=log.pk,
        name=kwargs.pop("name", "Summer push"),
        **kwargs,
    )


# --- saving -------------------------------------------------------------------------


def test_an_owner_saves_a_prediction_with_the_log_figures_copied(owner):
    # given
    log = forward_log(owner.studio, user=owner, levers={"retention_rate": 0.95})

    # when
    scenario = _save(
        owner,
        owner.studio,
        log,
        description="  Retention drive  ",
        tags=[" Summer", "retention", "summer", ""],
    )

    # then
    scenario.refresh_from_db()
    assert scenario.scenario_type == ScenarioType.FORWARD
    assert scenario.base_month == log.base_month
    assert scenario.projection_months == 3
    assert scenario.predicted_outputs == log.outputs
    assert scenario.lever_inputs == log.inputs
    assert scenario.confidence_score == log.confidence
    assert scenario.prediction_log == log
    assert scenario.created_by == owner
    assert scenario.description == "Retention drive"
    assert scenario.tags == ["summer", "retention"]
    assert scenario_projection(scenario).levers["retention_rate"] == 0.95


def test_a_manager_may_save_and_a_viewer_may_not(db):
    studio = StudioFactory()
    manager = _member(studio, StudioRole.MANAGER)
    viewer = _member(studio, StudioRole.VIEWER)
    log = forward_log(studio)

    assert _save(manager, studio, log).studio == studio
    with pytest.raises(NotAllowed):
        _save(viewer, studio, log)
    assert Scenario.objects.count() == 1


def test_a_stranger_saving_to_a_studio_they_cannot_see_gets_not_found(
    owner, other_studio
):
    log = forward_log(other_studio)

    with pytest.raises(NotFound):
        _save(owner, other_studio, log)


def test_a_prediction_of_a_studio_the_user_cannot_see_is_not_found(owner, other_studio):
    log = forward_log(other_studio)

    with pytest.raises(NotFound) as error:
        _save(owner, owner.studio, log)

    assert error.value.field == "prediction_id"
    assert not Scenario.objects.exists()


def test_a_prediction_of_another_of_the_users_studios_is_refused(owner):
    second = StudioFactory()
    StudioMembershipFactory(user=owner, studio=second)
    log = forward_log(second)

    with pytest.raises(InvalidInput, match="another studio") as error:
        _save(owner, owner.studio, log)

    assert error.value.field == "prediction_id"


@pytest.mark.parametrize(
    "prediction_id", ["not-a-uuid", "0b9e3a0e-4c3e-4d8e-9d7e-000000000000"]
)
def test_an_unknown_prediction_is_not_found(owner, prediction_id):
    with pytest.raises(NotFound):
        scenario_save(
            user=owner, studio=owner.studio, prediction_id=prediction_id, name="x"
        )


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"description": "x" * 5001}, "description"),
        ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "tags"),
        ({"tags": ["x" * 41]}, "tags"),
        ({"tags": [7]}, "tags"),
        ({"tags": "summer"}, "tags"),
    ],
)
def test_bad_input_is_refused_naming_the_field(owner, kwargs, field):
    log = forward_log(owner.studio)

    with pytest.raises(InvalidInput) as error:
        _save(owner, owner.studio, log, **kwargs)

    assert error.value.field == field
    assert not Scenario.objects.exists()


def test_tags_are_trimmed_lowered_and_deduplicated_in_order():
    assert tags_normalise(["  Q3 ", "promo", "q3", "", "PROMO", "x" * 40]) == [
        "q3",
        "promo",
        "x" * 40,
    ]
    assert tags_normalise(None) == []


# --- reading ------------------------------------------------------------------------


def test_get_answers_not_found_alike_for_missing_and_invisible(owner, other_studio):
    mine = forward_scenario(owner.studio, revenues=[1.0])
    theirs = forward_scenario(other_studio, revenues=[1.0])

    assert scenario_get(user=owner, scenario_id=mine.pk) == mine
    for scenario_id in (theirs.pk, "0b9e3a0e-4c3e-4d8e-9d7e-000000000000", "junk"):
        with pytest.raises(NotFound, match="No scenario"):
            scenario_get(user=owner, scenario_id=scenario_id)


def test_staff_see_every_studios_scenarios(superuser, other_studio):
    theirs = forward_scenario(other_studio, revenues=[1.0])

    assert scenario_get(user=superuser, scenario_id=theirs.pk) == theirs


def test_list_pages_newest_first(owner):
    made = [ScenarioFactory(studio=owner.studio, name=f"s{i:02d}") for i in range(25)]
    ScenarioFactory()  # another studio's

    pages = [
        scenario_list(user=owner, studio_id=owner.studio.pk, page=p, page_size=10)
        for p in (1, 2, 3, 4)
    ]

    assert [p.total for p in pages] == [25] * 4
    assert [len(p.items) for p in pages] == [10, 10, 5, 0]
    assert pages[0].pages == 3
    listed = [s.name for p in pages for s in p.items]
    assert listed == [s.name for s in reversed(made)]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"page": 0}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"scenario_type": "sideways"}, "scenario_type"),
        ({"tags": ["x" * 41]}, "tags"),
    ],
)
def test_list_refuses_bad_paging_and_filters(owner, kwargs, field):
    with pytest.raises(InvalidInput) as error:
        scenario_list(user=owner, studio_id=owner.studio.pk, **kwargs)

    assert error.value.field == field


def test_list_of_a_studio_the_user_cannot_see_is_not_found(owner, other_studio):
    with pytest.raises(NotFound):
        scenario_list(user=owner, studio_id=other_studio.pk)
    with pytest.raises(NotFound):
        scenario_list(user=owner, studio_id="junk")


def test_list_filters_by_every_tag_given_and_by_type(owner):
    studio = owner.studio
    both = ScenarioFactory(studio=studio, tags=["summer", "promo"])
    summer = ScenarioFactory(studio=studio, tags=["summer"])
    ScenarioFactory(studio=studio, tags=["promo"])
    # A tag that is a substring of another, or sits in another tag's text, is no match.
    ScenarioFactory(studio=studio, tags=["summers", "indian summer"])
    inverse = ScenarioFactory(
        studio=studio, tags=["summer"], scenario_type=ScenarioType.INVERSE
    )
    ScenarioFactory(tags=["summer"])  # another studio's

    def names(**kwargs):
        page = scenario_list(user=owner, studio_id=studio.pk, **kwargs)
        return {s.name for s in page.items}

    assert names(tags=["Summer "]) == {both.name, summer.name, inverse.name}
    assert names(tags=["summer", "promo"]) == {both.name}
    assert names(tags=["summer"], scenario_type="inverse") == {inverse.name}
    assert names(tags=["winter"]) == set()
    assert names(tags=[]) == names()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the GIN index exists on PostgreSQL only"
)
def test_the_tag_filter_can_use_the_gin_index_on_postgresql(owner):
    ScenarioFactory.create_batch(3, studio=owner.studio, tags=["summer"])
    query = scenarios_with_tags(Scenario.objects.all(), ["summer"])

    with connection.cursor() as cursor:
        # Three rows are cheaper to scan; with scans off the planner shows
        # whether it can use the index at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()

    assert "scenario_tags_gin_idx" in plan


# --- deleting -----------------------------------------------------------------------


def test_an_owner_deletes_and_a_viewer_or_stranger_cannot(owner, other_studio):
    scenario = ScenarioFactory(studio=owner.studio)
    viewer = _member(owner.studio, StudioRole.VIEWER)
    theirs = ScenarioFactory(studio=other_studio)

    with pytest.raises(NotAllowed):
        scenario_delete(user=viewer, scenario_id=scenario.pk)
    with pytest.raises(NotFound):
        scenario_delete(user=owner, scenario_id=theirs.pk)
    scenario_delete(user=owner, scenario_id=scenario.pk)

    assert list(Scenario.objects.all()) == [theirs]


# --- shareable URL ------------------------------------------------------------------


def test_the_shareable_url_follows_the_frontend_base_url(settings, rf):
    scenario = ScenarioFactory()

    settings.FRONTEND_BASE_URL = ""
    assert scenario_shareable_url(scenario) == f"/scenarios/{scenario.pk}/"
    assert (
        scenario_shareable_url(scenario, request=rf.get("/", secure=True))
        == f"https://testserver/scenarios/{scenario.pk}/"
    )
    settings.FRONTEND_BASE_URL = "https://app.example.com/"
    assert (
        scenario_shareable_url(scenario)
        == f"https://app.example.com/scenarios/{scenario.pk}/"
    )


# --- with the forward model ---------------------------------------------------------

BASE = "2026-04"


def test_a_forward_prediction_served_by_the_model_saves_as_forecast(
    active_version, loaded_studios, superuser
):
    studio = loaded_studios[0]
    out = forecast_predict(
        studio=studio, base_month=BASE, levers={"upsell_rate": 0.3}, user=superuser
    )

    scenario = scenario_save(
        user=superuser, studio=studio, prediction_id=out.prediction_id, name="Upsell"
    )

    projection = scenario_projection(scenario)
    assert [m.revenue for m in projection.months] == [
        p.revenue for p in out.predictions
    ]
    assert projection.levers == out.levers
    assert projection.base_levers == out.base_levers
    assert projection.predicted_revenue == out.predictions[-1].revenue


def test_an_inverse_prediction_saves_with_the_forecast_of_its_plan(
    active_version, loaded_studios, superuser
):
    studio = loaded_studios[1]
    target = forecast_predict(studio=studio, base_month=BASE, log=False).predictions[-1]
    out = inverse_predict(
        studio=studio,
        base_month=BASE,
        target_revenue=target.revenue * 1.05,
        user=superuser,
    )

    scenario = scenario_save(
        user=superuser, studio=studio, prediction_id=out.prediction_id, name="Target"
    )

    projection = scenario_projection(scenario)
    assert scenario.scenario_type == ScenarioType.INVERSE
    assert [m.revenue for m in projection.months] == out.monthly_revenue
    assert all(
        m.member_count > 0 and m.lower < m.revenue < m.upper for m in projection.months
    )
    assert projection.levers == out.recommended_levers
    assert projection.base_levers == {c.lever: c.current for c in out.lever_changes}
    assert projection.target_revenue == pytest.approx(target.revenue * 1.05)
    assert projection.predicted_revenue == out.projected_revenue
    assert scenario.base_month == dt.date(2026, 4, 1)


def test_an_inverse_prediction_the_model_no_longer_reproduces_is_refused(
    active_version, loaded_studios, superuser
):
    studio = loaded_studios[1]
    out = inverse_predict(
        studio=studio, base_month=BASE, target_revenue=60000.0, user=superuser
    )
    log = PredictionLog.objects.get(pk=out.prediction_id)
    log.outputs["monthly_revenue"] = [r * 1.02 for r in log.outputs["monthly_revenue"]]
    log.save()

    with pytest.raises(InvalidInput, match="changed since"):
        scenario_save(user=superuser, studio=studio, prediction_id=log.pk, name="Stale")


# --- idempotent saves -----------------------------------------------------------------


def test_a_save_repeated_with_its_idempotency_key_returns_the_first_scenario(owner):
    log = forward_log(owner.studio, user=owner)

    first = _save(owner, owner.studio, log, idempotency_key="save-1", tags=["a"])
    again = _save(owner, owner.studio, log, idempotency_key="save-1", tags=["a"])

    assert again.pk == first.pk
    assert Scenario.objects.count() == 1


def test_without_a_key_each_save_is_a_new_scenario(owner):
    log = forward_log(owner.studio, user=owner)

    _save(owner, owner.studio, log)
    _save(owner, owner.studio, log)

    assert Scenario.objects.count() == 2


def test_a_key_reused_for_another_save_is_refused_and_writes_nothing(owner):
    log = forward_log(owner.studio, user=owner)
    _save(owner, owner.studio, log, idempotency_key="save-2")

    with pytest.raises(InvalidInput, match="different request") as refused:
        _save(owner, owner.studio, log, idempotency_key="save-2", name="Other name")

    assert refused.value.field == "idempotency_key"
    assert Scenario.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 101, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_refused(owner, key):
    log = forward_log(owner.studio, user=owner)

    with pytest.raises(InvalidInput) as refused:
        _save(owner, owner.studio, log, idempotency_key=key)

    assert refused.value.field == "idempotency_key"
    assert not Scenario.objects.exists()


def test_keys_are_each_users_own(owner):
    manager = _member(owner.studio, StudioRole.MANAGER, username="manager")
    log = forward_log(owner.studio, user=owner)
    mine = _save(owner, owner.studio, log, idempotency_key="shared-key")

    theirs = _save(manager, owner.studio, log, idempotency_key="shared-key")

    assert theirs.pk != mine.pk
    assert theirs.created_by == manager


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_save_one_scenario():
    """Real concurrency: twenty threads, twenty connections, one key."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's in-memory test database is not shared between threads")
    import threading

    studio = StudioFactory()
    owner = _member(studio)
    log = forward_log(studio, user=owner)
    start = threading.Barrier(20, timeout=30)
    ids, errors = [], []

    def save():
        try:
            start.wait()
            ids.append(_save(owner, studio, log, idempotency_key="retry").pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(ids) == 20 and len(set(ids)) == 1
    assert Scenario.objects.filter(created_by=owner).count() == 1
