"""The owner pages in a real browser: Debian's Chromium driven by Playwright.

A live server (pytest-django's, on a free port of 127.0.0.1) serves the pages,
their static files and the API from this process, with the session's trained
model active. No browser is ever downloaded: Chromium is the system's
(``apt-get install chromium``); without it these tests fail and say so.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from scenarios.models import Scenario
from studios.models import StudioRole
from tests.factories import StudioFactory, StudioMembershipFactory, UserFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery"  # noqa: S105 - a test user's
TIMEOUT_MS = 20_000
WIDTHS = {"laptop": 1366, "desktop": 1920, "phone": 390}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for this module (the system's, never a download).

    Playwright's sync API keeps an event loop running in this thread while it is
    open, which Django takes for an async context; the ORM calls of these tests
    are still synchronous and sequential, so they are allowed while it is open,
    and it is closed before any other module's tests run.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("Playwright is missing: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. "
            "Install it with: apt-get install -y chromium"
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture(scope="module")
def live_server():
    """pytest-django's live server on 127.0.0.1 and a free port, speaking plain
    HTTP: the suite runs with production defaults, whose HTTPS redirect and
    secure cookies the server's middleware reads when it starts."""
    from django.test.utils import override_settings
    from pytest_django.live_server_helper import LiveServer

    with override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        SECURE_HSTS_SECONDS=0,
    ):
        server = LiveServer("127.0.0.1")
        yield server
        server.stop()


@pytest.fixture
def browser_page(chromium, live_server):
    """A fresh browser context on the live server; fails the test on any
    JavaScript error or request to another host."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": WIDTHS["laptop"], "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    own_host = urlsplit(live_server.url).netloc

    def check_request(route):
        if urlsplit(route.request.url).netloc != own_host:
            problems.append(f"request to another host: {route.request.url}")
            return route.abort()
        return route.continue_()

    context.route("**/*", check_request)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    yield page
    context.close()
    assert problems == []


def sign_in(page, user) -> None:
    """Through the sign-in form, as a person does."""
    page.goto("/accounts/login/?next=/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def screenshot(page, name: str) -> None:
    """Kept under SCREENSHOTS_DIR when set (docs/screens/take.py sets it)."""
    directory = os.environ.get("SCREENSHOTS_DIR")
    if directory:
        page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


def money(text: str) -> float:
    return float(re.sub(r"[^\d.\-]", "", text))


def member(studio, role=StudioRole.OWNER):
    user = UserFactory(username=f"{role}-{studio.pk.hex[:6]}")
    user.set_password(PASSWORD)
    user.save()
    StudioMembershipFactory(user=user, studio=studio, role=role)
    return user


def wait_for_chart(page, name: str) -> None:
    page.wait_for_function(
        f"() => window.Studiosim && window.Studiosim.charts['chart-{name}']"
    )


# --- an owner's journey --------------------------------------------------------------------


def test_an_owner_forecasts_plans_saves_compares_and_shares(
    browser_page, loaded_studios, active_version
):
    page = browser_page
    studio = loaded_studios[0]
    owner = member(studio)

    # sign in: the studio list
    sign_in(page, owner)
    page.get_by_role("link", name=studio.name).click()

    # the dashboard: KPIs and the revenue chart with its forecast
    page.wait_for_url(f"**{reverse('web:dashboard', args=[studio.pk])}")
    wait_for_chart(page, "revenue")
    assert page.locator(".kpi-label").first.inner_text() == "Revenue"
    assert re.fullmatch(r"\$[\d,]+", page.locator(".kpi-value").first.inner_text())

    # what-if: raising retention with the keyboard raises the forecast
    page.get_by_role("link", name="What-if", exact=True).click()
    wait_for_chart(page, "simulation")
    before = money(page.locator("#total-revenue").inner_text())
    slider = page.get_by_role("slider", name="Retention")
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('1 lever changed')"
    )
    after = money(page.locator("#total-revenue").inner_text())
    assert after > before
    assert "against today's plan" in page.locator("#total-vs").inner_text()

    # save it
    page.get_by_label("Name").fill("Retention push")
    page.get_by_label("Tags").fill("retention, summer")
    page.get_by_role("button", name="Save scenario").click()
    page.get_by_role("link", name="Open “Retention push”").wait_for()

    # a price far beyond what studios like it charge is warned about on the spot
    ticket = page.get_by_role("slider", name="Average ticket")
    ticket.focus()
    page.keyboard.press("End")
    levers = page.evaluate(
        "() => JSON.parse(document.getElementById('page-data').textContent).levers"
    )
    peer_high = next(lv for lv in levers if lv["lever"] == "avg_ticket_price")[
        "peerHigh"
    ]
    warning = page.locator("#warn-avg_ticket_price")
    assert (
        float(ticket.get_attribute("max")) > peer_high + 0.5
    )  # the slider goes past it
    warning.wait_for(state="visible")
    assert "Above what studios like yours run" in warning.inner_text()

    # the target planner: a reachable target gets a plan and an action plan
    page.get_by_role("link", name="Target planner", exact=True).click()
    page.get_by_role("button", name="Find a plan").click()
    page.locator("#plan-details").wait_for(state="visible")
    assert "is reachable" in page.locator("#plan-message").inner_text()
    assert page.locator("#lever-changes tr.changed").count() >= 1
    assert page.locator("#action-plan tr").count() >= 1
    page.get_by_label("Name").fill("Reach the target")
    page.get_by_role("button", name="Save scenario").click()
    page.get_by_role("link", name="Open “Reach the target”").wait_for()

    # compare the two: the earlier one is the baseline
    page.get_by_role("link", name="Scenarios", exact=True).click()
    page.get_by_label("Compare Retention push").check()
    page.get_by_label("Compare Reach the target").check()
    page.get_by_role("button", name="Compare selected").click()
    page.get_by_role("heading", name="Comparison").wait_for()
    wait_for_chart(page, "comparison")
    rows = page.locator("section[aria-labelledby='comparison-heading'] tbody tr")
    assert "(baseline)" in rows.nth(0).inner_text()
    assert "Retention push" in rows.nth(0).inner_text()
    assert re.search(r"\d+%", rows.nth(1).locator("td").last.inner_text())

    # the share page of the plan: the chart and the action plan it was saved with
    page.get_by_role("link", name="Reach the target").first.click()
    wait_for_chart(page, "scenario")
    page.get_by_role("heading", name="Action plan").wait_for()
    assert page.locator("table").last.locator("tbody tr").count() >= 1

    saved = Scenario.objects.filter(studio=studio).order_by("created_at")
    assert [(s.name, s.scenario_type, s.created_by) for s in saved] == [
        ("Retention push", "forward", owner),
        ("Reach the target", "inverse", owner),
    ]
    assert saved[0].tags == ["retention", "summer"]


# --- who may do what ---------------------------------------------------------------------


def test_a_viewer_can_explore_but_not_save(
    browser_page, loaded_studios, active_version
):
    page = browser_page
    studio = loaded_studios[0]
    viewer = member(studio, StudioRole.VIEWER)
    sign_in(page, viewer)

    page.goto(reverse("web:simulate", args=[studio.pk]))
    wait_for_chart(page, "simulation")

    assert page.get_by_role("button", name="Save scenario").count() == 0
    assert "saving scenarios is for" in page.locator("#save-not-allowed").inner_text()
    # The API refuses it too, whatever the page shows.
    code = page.evaluate(
        """async (studioId) => {
          const data = JSON.parse(document.getElementById('page-data').textContent);
          try {
            await Studiosim.gql(
              'mutation($i: ScenarioSaveInput!) { saveScenario(input: $i) { scenarioId } }',
              {i: {studioId, predictionId: data.predictionId, scenarioName: 'x'}});
            return 'saved';
          } catch (error) { return error.code; }
        }""",
        str(studio.pk),
    )
    assert code == "FORBIDDEN"
    assert not Scenario.objects.exists()


def test_the_planners_buttons_wait_for_its_script(
    browser_page, loaded_studios, active_version
):
    """Pressed before the page's script had bound it, "Find a plan" sent the form
    as a plain GET and reloaded the page with the default target (seen once in
    CI as a plan that never came): the buttons are enabled only by the script."""
    page = browser_page
    studio = loaded_studios[0]
    sign_in(page, member(studio))
    url = reverse("web:plan", args=[studio.pk])

    page.route("**/planner*.js", lambda route: route.abort())
    page.goto(url)
    assert page.get_by_role("button", name="Find a plan").is_disabled()
    assert page.locator("#save-button").is_disabled()  # in the hidden plan details

    page.unroute("**/planner*.js")
    page.goto(url)
    page.get_by_role("button", name="Find a plan").click()
    page.locator("#plan-details").wait_for(state="visible")
    assert page.get_by_role("button", name="Save scenario").is_enabled()
    assert urlsplit(page.url).query == ""


def test_another_owners_studio_is_not_found(browser_page, loaded_studios):
    page = browser_page
    owner = member(loaded_studios[0])
    theirs = loaded_studios[1]
    sign_in(page, owner)

    for name in ("web:dashboard", "web:simulate", "web:plan", "web:scenarios"):
        response = page.goto(reverse(name, args=[theirs.pk]))
        assert response.status == 404
    assert theirs.name not in page.goto("/").text()


# --- keyboard and labels -------------------------------------------------------------------

CONTROLS = "input:not([type=hidden]), select, textarea, button, a[href]"


def assert_every_control_is_named(page) -> None:
    """Every visible control has an accessible name (Chromium's own
    computation: labels, aria-label, text)."""
    from playwright.sync_api import expect

    controls = page.locator(CONTROLS)
    named = 0
    for i in range(controls.count()):
        control = controls.nth(i)
        if control.is_visible():
            expect(control).to_have_accessible_name(re.compile(r"\S"))
            named += 1
    assert named > 5


def test_every_control_is_labelled_and_the_pages_work_from_the_keyboard(
    browser_page, loaded_studios, active_version
):
    page = browser_page
    studio = loaded_studios[0]
    owner = member(studio)
    sign_in(page, owner)

    for name in ("web:dashboard", "web:simulate", "web:plan", "web:scenarios"):
        page.goto(reverse(name, args=[studio.pk]))
        assert_every_control_is_named(page)

    # The skip link is the first stop and leads to the content.
    page.goto(reverse("web:simulate", args=[studio.pk]))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Tabbing on reaches the first slider, and an arrow key moves it.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "range":
            break
    slider_id = page.evaluate("document.activeElement.id")
    assert slider_id == "lever-retention_rate"
    before = page.evaluate("document.activeElement.value")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.value") != before
    assert page.locator("#out-retention_rate").get_attribute("class") == "moved"

    # The planner runs with Enter in its target field; a target out of reach
    # says so and names the limits that bind.
    page.goto(reverse("web:plan", args=[studio.pk]))
    target = page.get_by_label(re.compile("Revenue target"))
    target.press("Enter")
    page.locator("#plan-details").wait_for(state="visible")
    target.fill(str(int(float(target.input_value()) * 3)))
    target.press("Enter")
    page.locator("#binding").wait_for(state="visible")
    assert "cannot be reached" in page.locator("#plan-message").inner_text()
    assert page.locator("#binding-list li").count() >= 1


# --- sizes people use ----------------------------------------------------------------------


def test_owner_pages_fit_laptop_desktop_and_phone_widths(
    browser_page, loaded_studios, active_version
):
    page = browser_page
    studio = loaded_studios[0]
    sign_in(page, member(studio))

    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        for name in ("web:dashboard", "web:simulate", "web:plan"):
            page.goto(reverse(name, args=[studio.pk]))
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{name} at {label} ({width} px) scrolls sideways"
            hidden = page.evaluate(
                "() => Math.max(0, ...[...document.querySelectorAll("
                "'.limits-wrap, .controls')].map(e => e.scrollWidth - e.clientWidth))"
            )
            assert hidden <= 0, f"{name} at {label} hides {hidden} px of its controls"


def test_admin_lists_fit_1366_px_without_scrolling(
    browser_page, loaded_studios, active_version
):
    page = browser_page
    staff = UserFactory(username="staff-admin", is_staff=True, is_superuser=True)
    staff.set_password(PASSWORD)
    staff.save()
    sign_in(page, staff)

    for changelist in (
        "admin:studios_studio_changelist",
        "admin:studios_monthlymetric_changelist",
        "admin:studios_membercohort_changelist",
        "admin:forecasting_modelversion_changelist",
        "admin:forecasting_predictionlog_changelist",
        "admin:scenarios_scenario_changelist",
    ):
        page.goto(reverse(changelist))
        screenshot(page, changelist.replace("admin:", "admin-").replace("_", "-"))
        hidden = page.evaluate(
            "() => { const r = document.querySelector('#changelist .results');"
            " return r ? r.scrollWidth - r.clientWidth : 0; }"
        )
        assert hidden <= 0, f"{changelist} hides {hidden} px behind a scroll"


# --- GraphiQL offline -----------------------------------------------------------------------


def test_graphiql_loads_with_no_other_host(browser_page, settings, loaded_studios):
    page = browser_page
    settings.GRAPHIQL_ENABLED = True
    sign_in(page, member(loaded_studios[0]))

    page.goto("/graphql/")

    # The editor is drawn from the project's own files (the fixture fails the
    # test on any request to another host).
    page.locator(".graphiql-container .graphiql-editors").wait_for()
    assert page.title() == "GraphiQL · studiosim"


def test_an_anonymous_visitor_signs_in_and_lands_on_the_page_asked_for(
    browser_page,
):
    """An anonymous visitor to a studio page signs in and lands back on it."""
    page = browser_page
    studio = StudioFactory()
    owner = member(studio)

    page.goto(reverse("web:scenarios", args=[studio.pk]))
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"**{reverse('web:scenarios', args=[studio.pk])}")
    assert "No scenarios saved" in page.locator("main").inner_text()
