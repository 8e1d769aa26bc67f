"""Screenshots of every screen, for the README: ``make screens``.

Drives Debian's Chromium (``/usr/bin/chromium``; ``apt-get install chromium``)
with Playwright against a running demo (``make demo`` in another terminal, or
``--base-url``), signed in as the demo's superuser, and writes PNGs beside this
file. The what-if, the plan and the comparison are made through the pages
themselves; when the first studio has fewer than two scenarios, the script saves
two (a what-if and a plan) the way an owner would.

    .venv/bin/python docs/screens/take.py [--base-url http://127.0.0.1:8000]
"""

import argparse
import re
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
LAPTOP, DESKTOP, PHONE = 1366, 1920, 390


def shoot(page: Page, name: str, *, full: bool = True) -> None:
    page.wait_for_timeout(300)  # charts draw without animation; let fonts settle
    path = HERE / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    print(f"  {path.relative_to(HERE.parent.parent)}")


def wait_for_chart(page: Page, name: str) -> None:
    page.wait_for_function(
        f"() => window.Studiosim && window.Studiosim.charts['chart-{name}']"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="admin")
    options = parser.parse_args()
    base = options.base_url.rstrip("/")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(
            base_url=base, viewport={"width": LAPTOP, "height": 900}
        )
        context.set_default_timeout(30_000)
        page = context.new_page()

        page.goto("/accounts/login/?next=/")
        page.get_by_label("Username").fill(options.username)
        page.get_by_label("Password").fill(options.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/$"))
        shoot(page, "studio-list")

        page.locator(".studio-cards a").first.click()
        wait_for_chart(page, "revenue")
        studio_url = page.url.split("?")[0]
        shoot(page, "dashboard")
        page.set_viewport_size({"width": DESKTOP, "height": 1080})
        page.reload()
        wait_for_chart(page, "revenue")
        shoot(page, "dashboard-1920")
        page.set_viewport_size({"width": PHONE, "height": 844})
        page.reload()
        wait_for_chart(page, "revenue")
        shoot(page, "dashboard-phone")
        page.set_viewport_size({"width": LAPTOP, "height": 900})

        # What-if: retention up three points with the keyboard.
        page.goto(studio_url + "what-if/")
        wait_for_chart(page, "simulation")
        page.get_by_role("slider", name="Retention").focus()
        for _ in range(30):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('changed')"
        )
        shoot(page, "what-if")
        page.goto(studio_url + "scenarios/")
        saved = page.locator("input[name=compare]").count()
        if saved < 2:
            page.goto(studio_url + "what-if/")
            page.get_by_role("slider", name="Retention").focus()
            for _ in range(30):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "() => document.querySelector('#status').textContent"
                ".includes('changed')"
            )
            page.get_by_label("Name").fill("Retention push")
            page.get_by_label("Tags").fill("retention")
            page.get_by_role("button", name="Save scenario").click()
            page.get_by_text("Saved.").wait_for()

        # The planner: the default target (5% above today's plan).
        page.goto(studio_url + "plan/")
        page.get_by_role("button", name="Find a plan").click()
        page.locator("#plan-details").wait_for(state="visible")
        shoot(page, "planner")
        if saved < 2:
            page.get_by_label("Name").fill("Reach the target")
            page.get_by_role("button", name="Save scenario").click()
            page.get_by_text("Saved.").wait_for()

        # Scenarios: the two newest compared.
        page.goto(studio_url + "scenarios/")
        boxes = page.locator("input[name=compare]")
        boxes.nth(0).check()
        boxes.nth(1).check()
        page.get_by_role("button", name="Compare selected").click()
        wait_for_chart(page, "comparison")
        shoot(page, "comparison")

        # The share page of a plan (inverse scenario) if there is one.
        inverse = page.locator(".scenario-list tr", has_text="Inverse").first
        target = inverse if inverse.count() else page.locator(".scenario-list tr").first
        target.locator("th a").click()
        wait_for_chart(page, "scenario")
        shoot(page, "share")

        # The admin.
        studio_id = studio_url.rstrip("/").rsplit("/", 1)[1]
        page.goto(f"/admin/studios/studio/{studio_id}/change/")
        wait_for_chart(page, "revenue")
        shoot(page, "admin-studio")
        page.goto("/admin/studios/studio/")
        shoot(page, "admin-studios")
        page.goto("/admin/studios/monthlymetric/?o=-2")
        shoot(page, "admin-monthly-metrics", full=False)
        page.goto("/admin/forecasting/modelversion/?status__exact=active")
        page.locator("#result_list tbody th a").first.click()
        wait_for_chart(page, "mape")
        shoot(page, "admin-model-version")

        page.goto("/graphql/")
        page.locator(".graphiql-container .graphiql-editors").wait_for()
        shoot(page, "graphiql", full=False)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
