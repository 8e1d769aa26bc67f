"""The fault suite: real processes (gunicorn, Redis, a Celery worker, a TCP proxy,
a fake LLM) made to fail, and what the API does about it.

Every test here is marked ``faults`` (run them alone with ``pytest -m faults``)
and needs PostgreSQL: the servers are other processes, and the SQLite test
database lives in this one's memory. Each test records what it measured (how
long the user waits, how long recovery takes) with :func:`measured`; the table
is printed at the end of the run (and written as JSON to ``$FAULTS_REPORT`` when
that is set), which is where docs/faults.md's figures come from.
"""

import json
import os
from pathlib import Path

import pytest
from django.db import connection

from studios.services import api_token_create
from tests.factories import StaffUserFactory

_MEASURED: list[dict] = []


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _MEASURED:
        return
    terminalreporter.section("fault suite: measured")
    for row in _MEASURED:
        terminalreporter.write_line(
            f"{row['fault']:<34} {row['what']:<46} {row['seconds']:7.2f} s "
            f"(bound {row['bound']:g} s)"
        )
    path = os.environ.get("FAULTS_REPORT")
    if path:
        Path(path).write_text(json.dumps(_MEASURED, indent=2))


@pytest.fixture
def measured():
    """``measured(fault, what, seconds, bound)``: record a figure and hold it to
    its bound."""

    def record(fault: str, what: str, seconds: float, bound: float) -> None:
        _MEASURED.append(
            {"fault": fault, "what": what, "seconds": seconds, "bound": bound}
        )
        assert seconds <= bound, f"{fault}: {what} took {seconds:.2f} s > {bound} s"

    return record


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the fault suite runs servers in other processes, which cannot see "
            "the SQLite test database; CI runs it on PostgreSQL"
        )


@pytest.fixture
def served(postgres, loaded_studios, active_version):
    """Committed studios, an active model, and a staff token: what a server in
    another process needs to answer."""
    _, token = api_token_create(user=StaffUserFactory(), name="faults")
    return token, loaded_studios
