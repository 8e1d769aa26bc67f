"""Every browser asset comes from the project's own static files."""

import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from web.vendor import VENDORED_FILES

TEMPLATE_ROOTS = [
    Path(settings.BASE_DIR) / app / "templates"
    for app in ("studiosim", "web", "scenarios", "studios", "forecasting")
]


@pytest.mark.parametrize("path", sorted(VENDORED_FILES))
def test_a_vendored_file_is_the_published_one(path):
    found = finders.find(path)

    assert found, f"{path} is not in the static files"
    assert hashlib.sha256(Path(found).read_bytes()).hexdigest() == VENDORED_FILES[path]


def test_every_vendored_package_carries_its_licence():
    directories = {Path(finders.find(path)).parent for path in VENDORED_FILES}

    for directory in directories:
        assert any(directory.glob("LICENSE*")), directory


def test_no_template_loads_a_script_style_or_font_from_another_host():
    templates = [p for root in TEMPLATE_ROOTS for p in root.rglob("*.html")]
    assert templates
    remote = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""", re.I)

    offenders = [
        f"{path}: {line.strip()}"
        for path in templates
        for line in path.read_text().splitlines()
        if remote.search(line)
    ]

    assert offenders == []


def test_graphiql_is_served_with_the_project_s_own_files(client, settings, owner):
    settings.GRAPHIQL_ENABLED = True
    client.force_login(owner)

    response = client.get("/graphql/", HTTP_ACCEPT="text/html")

    page = response.content.decode()
    assert response.status_code == 200
    assert "unpkg.com" not in page and "cdn" not in page.lower()
    for path in VENDORED_FILES:
        if "graphiql" in path or "react" in path:
            assert f"/static/{path}" in page
    assert 'name="csrf-token"' in page
