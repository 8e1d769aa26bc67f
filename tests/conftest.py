import pytest

from tests.factories import (
    StudioFactory,
    StudioMembershipFactory,
    SuperUserFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _no_ssl_redirect(settings):
    # The suite runs with production defaults (DEBUG off); the test client speaks
    # plain HTTP, so the HTTPS redirect is switched off here only.
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def superuser(db):
    return SuperUserFactory(username="root-admin")


@pytest.fixture
def owner(db):
    """A user who owns exactly one studio (``owner.studio``)."""
    membership = StudioMembershipFactory(user=UserFactory(username="owner"))
    user = membership.user
    user.studio = membership.studio
    return user


@pytest.fixture
def other_studio(db):
    return StudioFactory(name="Someone Else's Studio")
