import pytest

from studios.models import Studio
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


@pytest.fixture(autouse=True)
def _one_training_thread(settings):
    # Models trained by the suite use one thread (the default is every core):
    # the tolerances of the ML tests were set on single-threaded fits, and the
    # suite should not fight itself for the cores.
    settings.TRAIN_N_JOBS = 1


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    # Each process's in-memory copies of cached answers (on when REDIS_URL is
    # set, as in CI) must not carry one test's answers into the next.
    from studiosim.cache import local_cache_clear

    local_cache_clear()
    yield
    local_cache_clear()


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


# --- a trained forward model shared by the prediction tests --------------------

MODEL_STUDIOS = 16
MODEL_SEED = 3


@pytest.fixture(scope="session")
def generated_data():
    from studios.generator import generate

    return generate(n_studios=MODEL_STUDIOS, months=60, seed=MODEL_SEED)


@pytest.fixture(scope="session")
def trained_artifacts(generated_data, tmp_path_factory):
    """A model fitted once per session on generated data, saved like the registry does."""
    from forecasting.ml.frame import frame_from_generated
    from forecasting.ml.model import ForwardModel

    root = tmp_path_factory.mktemp("models")
    model = ForwardModel(random_state=0).fit(frame_from_generated(generated_data))
    checksums = model.save(root / "fm-test")
    return root, "fm-test", checksums


@pytest.fixture
def loaded_studios(db, generated_data):
    """The generated studios in the database."""
    from studios.services import generated_data_load

    generated_data_load(data=generated_data)
    return list(Studio.objects.order_by("name"))


@pytest.fixture
def active_version(db, settings, trained_artifacts, loaded_studios):
    """An active ModelVersion pointing at the session's trained artifacts."""
    import hashlib
    import json

    from forecasting.models import ModelVersion, ModelVersionStatus
    from forecasting.registry import clear_loaded_model
    from forecasting.services import clear_state_cache

    root, name, checksums = trained_artifacts
    settings.MODEL_ARTIFACT_DIR = root
    clear_loaded_model()
    clear_state_cache()
    version = ModelVersion.objects.create(
        version=name,
        status=ModelVersionStatus.ACTIVE,
        artifact_path=name,
        artifact_files=checksums,
        artifact_sha256=hashlib.sha256(
            json.dumps(checksums, sort_keys=True).encode()
        ).hexdigest(),
        metrics={"headline": {"test_mape_h1": 0.04}},
        checks={"all": {"passed": True, "detail": "test fixture"}},
    )
    yield version
    clear_loaded_model()
