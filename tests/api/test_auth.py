"""Who may call /graphql/: bearer tokens, sessions with CSRF, and nobody else."""

import datetime as dt
import hashlib
import io
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studios.models import ApiToken
from studios.services import api_token_create, api_token_revoke
from tests.api.conftest import GRAPHQL_URL, covers, error_codes
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.smoke]

STUDIO_NAMES_QUERY = """
query StudioNames {
  studios { results { name } }
}
"""

#: A minimal document per root field; the gate refuses them all before parsing.
ANONYMOUS_DOCUMENTS = {
    "studios": "{ studios { totalCount } }",
    "studio": '{ studio(id: "00000000-0000-0000-0000-000000000000") { name } }',
    "studioBaseline": (
        '{ studioBaseline(studioId: "00000000-0000-0000-0000-000000000000") '
        "{ baselinePeriod { endMonth } } }"
    ),
    "modelVersions": "{ modelVersions { totalCount } }",
    "activateModelVersion": 'mutation { activateModelVersion(id: "1") { status } }',
}


def test_a_bearer_token_acts_as_its_user(gql, owner, other_studio):
    # given
    client = gql(owner)

    # when
    body = client.execute(STUDIO_NAMES_QUERY)

    # then
    assert body == {"data": {"studios": {"results": [{"name": owner.studio.name}]}}}


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda token: api_token_revoke(token=token), id="revoked"),
        pytest.param(
            lambda token: ApiToken.objects.filter(pk=token.pk).update(
                expires_at=timezone.now() - dt.timedelta(seconds=1)
            ),
            id="expired",
        ),
        pytest.param(
            lambda token: (
                get_user_model()
                .objects.filter(pk=token.user_id)
                .update(is_active=False)
            ),
            id="inactive-user",
        ),
    ],
)
def test_an_unusable_token_is_refused_not_treated_as_anonymous(gql, owner, spoil):
    # given
    token, key = api_token_create(user=owner, name="frontend")
    spoil(token)

    # when
    response = gql(token=key).post(STUDIO_NAMES_QUERY)

    # then
    assert response.status_code == 401
    assert (
        response["WWW-Authenticate"]
        == 'Bearer realm="studiosim", error="invalid_token"'
    )
    assert response.json() == {
        "errors": [
            {
                "message": "The API token is unknown, revoked or expired.",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }


@pytest.mark.parametrize("key", ["not-a-token", "", "Bearer"])
def test_an_unknown_token_is_refused(gql, owner, key):
    # given
    api_token_create(user=owner, name="frontend")

    # when
    response = gql(token=key).post(STUDIO_NAMES_QUERY)

    # then
    assert response.status_code == 401
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


def test_a_token_that_has_not_expired_yet_works(gql, owner):
    # given
    _, key = api_token_create(
        user=owner, name="frontend", expires_at=timezone.now() + dt.timedelta(days=1)
    )

    # when
    body = gql(token=key).execute(STUDIO_NAMES_QUERY)

    # then
    assert "errors" not in body


@covers("anonymous", *ANONYMOUS_DOCUMENTS)
@pytest.mark.parametrize(
    "document", ANONYMOUS_DOCUMENTS.values(), ids=list(ANONYMOUS_DOCUMENTS)
)
def test_anonymous_requests_get_only_an_authentication_error(gql, owner, document):
    # when
    response = gql().post(document)

    # then
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="studiosim"'
    body = response.json()
    assert "data" not in body
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert "sign in" in body["errors"][0]["message"]


def test_other_authorization_schemes_are_ignored_not_trusted(owner):
    # given: a browser may add Basic credentials by itself, so they must not
    # count as a bearer token (nor skip the CSRF check)
    client = Client(enforce_csrf_checks=True)

    # when
    response = client.post(
        GRAPHQL_URL,
        {"query": STUDIO_NAMES_QUERY},
        content_type="application/json",
        headers={"Authorization": "Basic b3duZXI6cGFzc3dvcmQ="},
    )

    # then
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="studiosim"'


def test_a_signed_in_session_with_the_csrf_token_is_served(gql, owner):
    # when
    body = gql(owner, session=True).execute(STUDIO_NAMES_QUERY)

    # then
    assert body == {"data": {"studios": {"results": [{"name": owner.studio.name}]}}}


def test_a_session_post_without_the_csrf_token_is_refused(owner):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    # when
    response = client.post(
        GRAPHQL_URL, {"query": STUDIO_NAMES_QUERY}, content_type="application/json"
    )

    # then
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_a_bearer_post_needs_no_csrf_token(gql, owner):
    # given: the client enforces CSRF checks and has no CSRF cookie
    client = gql(owner)

    # when
    response = client.post(STUDIO_NAMES_QUERY)

    # then
    assert response.status_code == 200


def test_last_use_is_recorded_at_most_once_a_minute(gql, owner):
    # given
    token, key = api_token_create(user=owner, name="frontend")
    client = gql(token=key)

    # when
    with CaptureQueriesContext(connection) as queries:
        client.execute(STUDIO_NAMES_QUERY)
        client.execute(STUDIO_NAMES_QUERY)

    # then
    updates = [q for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None

    # given: more than a minute later
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=first_use - dt.timedelta(minutes=2)
    )

    # when
    client.execute(STUDIO_NAMES_QUERY)

    # then
    token.refresh_from_db()
    assert token.last_used_at > first_use - dt.timedelta(minutes=2)


def test_only_the_hash_and_a_prefix_of_a_token_are_stored(owner):
    # when
    token, key = api_token_create(user=owner, name="frontend")

    # then
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert token.key_prefix == key[:8]
    assert key not in {str(v) for v in ApiToken.objects.values().get().values()}
    assert len(key) >= 43


def test_create_api_token_prints_a_working_token_once(gql, owner):
    # given
    stdout, stderr = io.StringIO(), io.StringIO()

    # when
    call_command(
        "create_api_token",
        owner.username,
        name="mobile app",
        stdout=stdout,
        stderr=stderr,
    )

    # then
    key = stdout.getvalue().strip()
    token = ApiToken.objects.get()
    assert (token.name, token.user) == ("mobile app", owner)
    assert token.key_prefix in stderr.getvalue()
    assert key not in stderr.getvalue()
    assert "errors" not in gql(token=key).execute(STUDIO_NAMES_QUERY)


def test_create_api_token_says_how_to_fix_an_unknown_user(db):
    with pytest.raises(CommandError, match="createsuperuser"):
        call_command("create_api_token", "nobody")


def test_create_api_token_refuses_an_inactive_user(db):
    UserFactory(username="gone", is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", "gone")


def test_the_admin_shows_a_new_token_once_and_revokes_it(gql, superuser, owner):
    # given
    client = Client()
    client.force_login(superuser)

    # when
    response = client.post(
        reverse("admin:studios_apitoken_add"),
        {"user": owner.pk, "name": "dashboard"},
        follow=True,
    )

    # then
    token = ApiToken.objects.get()
    key = re.search(r"<code>([\w-]+)</code>", response.content.decode()).group(1)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert "errors" not in gql(token=key).execute(STUDIO_NAMES_QUERY)
    for page in ("changelist", "change"):
        args = [token.pk] if page == "change" else []
        again = client.get(reverse(f"admin:studios_apitoken_{page}", args=args))
        assert key not in again.content.decode()

    # when
    client.post(
        reverse("admin:studios_apitoken_changelist"),
        {"action": "revoke", admin.helpers.ACTION_CHECKBOX_NAME: [token.pk]},
    )

    # then
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert gql(token=key).post(STUDIO_NAMES_QUERY).status_code == 401
