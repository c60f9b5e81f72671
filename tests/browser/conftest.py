"""Chromium (Debian's, through Playwright) against idp and the demo benefits portal served live
on 127.0.0.1, plus what the browser tests check on every page they visit: axe-core (no serious
or critical violation), no horizontal scrolling at 360 px and at 1280 px, and the page's own
conventions (show-password buttons off the submit line, styled links, buttons in the body font).

Screenshots go to each test's pytest tmp dir (``shots``), never into the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, sync_playwright

from idp import create_app
from idp.db import get_engine
from idp.runtime import runtime
from idp.services.outbound import drain
from tests.conftest import stop_worker
from tests.helpers.live import free_port, serve_in_thread
from tests.helpers.outbox import ReceivedMail, read_outbox
from tests.helpers.portal import portal_for, register_portal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# Browser locale per page language: Chromium sends it as Accept-Language.
BROWSER_LOCALE = {"id": "id-ID", "en": "en-US"}
AXE = Axe()
REPORTED_IMPACTS = {"serious", "critical"}


@dataclass
class LiveSites:
    idp_url: str
    portal_url: str
    outbox_dir: Path
    idp_app: object

    def mail(self) -> list[ReceivedMail]:
        drain(self.idp_app)  # what was queued goes out first
        return read_outbox(self.outbox_dir)

    def link_in_last_mail(self, to: str, path: str) -> str:
        """The link to ``path…`` in the newest mail to ``to``, as the member would click it."""
        mails = [mail for mail in self.mail() if to in mail.to]
        assert mails, f"no mail to {to}: {[mail.to for mail in self.mail()]}"
        match = re.search(rf"{re.escape(self.idp_url)}{re.escape(path)}\S+", mails[-1].text)
        assert match, mails[-1].text
        return match.group(0)

    def code_in_last_mail(self, to: str) -> str:
        mails = [mail for mail in self.mail() if to in mail.to]
        assert mails, f"no mail to {to}"
        match = re.search(r"\b(\d{6})\b", mails[-1].text)
        assert match, mails[-1].text
        return match.group(1)


@pytest.fixture
def live_sites(app_config):
    """idp and the portal, each on its own port of 127.0.0.1, the portal registered as a
    third-party client (so consent is asked). Members come from ``make_member``."""
    idp_port, portal_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    portal_url = f"http://127.0.0.1:{portal_port}"
    idp_app = create_app(
        {
            **app_config,
            "server": {**app_config["server"], "issuer": issuer},
            "logging": {"level": "WARNING"},
            # Mail goes out as in production: the worker thread sends what is queued.
            "outbound": {"worker": True, "poll_seconds": 1},
        }
    )
    portal_app = portal_for(issuer, portal_url, register_portal(idp_app, portal_url, logout=True))
    outbox_dir = Path(runtime(idp_app).settings.server.instance_path) / "outbox"
    try:
        with serve_in_thread(idp_app, idp_port), serve_in_thread(portal_app, portal_port):
            yield LiveSites(issuer, portal_url, outbox_dir, idp_app)
    finally:
        stop_worker(idp_app)
        get_engine(idp_app).dispose()


@pytest.fixture(scope="session")
def browser():
    """One Chromium per test process; every test opens its own contexts (cookies, storage)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser):
    """``open_page(language, viewport=PHONE)``: a page in a fresh browser context whose
    Accept-Language asks for ``language`` ("id" or "en")."""
    contexts = []

    def factory(language: str = "id", viewport: dict = PHONE, **options) -> Page:
        context = browser.new_context(locale=BROWSER_LOCALE[language], viewport=viewport, **options)
        context.set_default_timeout(15_000)
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def shots(tmp_path):
    """``shots(page, name)`` saves a full-page screenshot in this test's tmp dir, or in the
    folder named by IDP_TEST_SCREENSHOTS (to look at them: keep it outside the checkout, or
    under the git-ignored artifacts/); returns its path."""
    folder = Path(os.environ.get("IDP_TEST_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000, path
        return path

    return take


# --- what every page visited is checked for -------------------------------------------------

# Runs in every document before its own scripts: remembers what the CSP blocked.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`);
});
"""

# Run in the page: the problems of its layout that a member would notice, as strings.
LAYOUT_PROBLEMS = """
() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    const wide = [...document.querySelectorAll("body *")]
      .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
      .slice(0, 3).map(el => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
    problems.push(`scrolls sideways: ${root.scrollWidth}px content in ${window.innerWidth}px (${wide.join(", ")})`);
  }
  for (const form of document.querySelectorAll("form")) {
    const submit = form.querySelector("button[type=submit], input[type=submit]");
    if (!submit) continue;
    const top = submit.getBoundingClientRect().top;
    for (const reveal of form.querySelectorAll("button.reveal")) {
      if (reveal.getBoundingClientRect().bottom > top) problems.push("a show-password button is on the submit button's line");
    }
  }
  const bodyFont = getComputedStyle(document.body).fontFamily;
  for (const control of document.querySelectorAll("button, input[type=submit]")) {
    if (getComputedStyle(control).fontFamily !== bodyFont) problems.push(`a button not in the body font: ${control.outerHTML.slice(0, 80)}`);
  }
  for (const link of document.querySelectorAll("a[href]")) {
    const colour = getComputedStyle(link).color;
    if (colour === "rgb(0, 0, 238)" || colour === "rgb(85, 26, 139)") problems.push(`an unstyled link: ${link.outerHTML.slice(0, 80)}`);
  }
  return problems;
}
"""


@dataclass
class PageChecks:
    """Collects, page by page, what the CSP refused, what axe-core and the layout checks find; ``assert_clean`` at
    the end names every page with a problem (one run shows them all)."""

    pages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def check(self, page: Page, name: str) -> None:
        page.wait_for_load_state("load")  # the stylesheet and script, not only the markup
        self.pages.append(name)
        for violation in page.evaluate("window.__cspViolations || []"):
            self.problems.append(f"{name}: the CSP refused something: {violation}")
        viewport = page.viewport_size
        for size in (viewport, DESKTOP if viewport != DESKTOP else PHONE):
            page.set_viewport_size(size)
            for problem in page.evaluate(LAYOUT_PROBLEMS):
                self.problems.append(f"{name} at {size['width']}px: {problem}")
        page.set_viewport_size(viewport)
        if os.environ.get("IDP_TEST_SCREENSHOTS_ALL"):
            folder = Path(os.environ["IDP_TEST_SCREENSHOTS_ALL"])
            folder.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", f"{name} {page.evaluate('document.documentElement.lang')}".lower())
            page.screenshot(path=str(folder / f"{slug}.png"), full_page=True)
        results = AXE.run(page).response
        for violation in results["violations"]:
            if violation["impact"] in REPORTED_IMPACTS:
                targets = [" ".join(node["target"]) for node in violation["nodes"]][:3]
                self.problems.append(
                    f"{name}: axe {violation['id']} ({violation['impact']}): {violation['help']} at {targets}"
                )

    def assert_clean(self, expected_pages: int | None = None) -> None:
        assert not self.problems, "\n".join(self.problems)
        if expected_pages is not None:
            assert len(self.pages) == expected_pages, self.pages


@pytest.fixture
def page_checks() -> PageChecks:
    return PageChecks()


# Run in the page on a secret: whether each group (of the TOTP key, separated by spaces; a
# recovery code is one group) lies on one line, i.e. no line break inside a group.
GROUPS_BROKEN_ACROSS_LINES = """
(element) => {
  const text = element.firstChild;
  const broken = [];
  let start = 0;
  for (const group of text.data.split(" ")) {
    const range = document.createRange();
    range.setStart(text, start);
    range.setEnd(text, start + group.length);
    const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
    if (lines.size > 1) broken.push(group);
    start += group.length + 1;
  }
  return broken;
}
"""


def sign_in_from_portal(page: Page, sites: LiveSites, identifier: str, password: str) -> None:
    """Portal → Sign in → the hosted login, filled in and sent."""
    page.goto(sites.portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    page.fill("#identifier", identifier)
    page.fill("#password", password)
    page.click("[data-testid=login-submit]")


def allow_and_return(page: Page, sites: LiveSites) -> None:
    page.wait_for_selector("[data-testid=consent-form]")
    page.click("[data-testid=consent-allow]")
    page.wait_for_url(f"{sites.portal_url}/")
