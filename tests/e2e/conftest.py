"""Live servers and a browser for the end-to-end tests.

The demo CRM and the QBO emulator run as real HTTP servers on free loopback
ports in this process (threads), on a temporary SQLite database, exactly as
``python -m demo_app`` runs them.  Each test gets a freshly seeded demo of its
own, so it passes alone and in any order; one that needs QuickBooks connected
(or the customers imported) asks for the ``connected`` (``imported``)
fixture, which does it in the browser the way the first tests do.  Debian's
chromium is driven headless by Playwright; no browser is ever downloaded.

Screenshots go to a temporary folder.  ``make screenshots`` sets
``QBO_SCREENSHOTS=1`` to save them as docs/_static/screenshots/*.png, the
images the docs embed; no other run writes there.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shutil
import typing as t

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from flask_qbo.emulator.seed import DEMO_COMPANY_NAME
from flask_qbo.emulator.seed import DEMO_CUSTOMER_EMAILS
from flask_qbo.emulator.seed import DEMO_REALM

from ..conftest import need_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
#: Where ``make screenshots`` saves the docs' images (only when ``QBO_SCREENSHOTS=1``).
DOCS_SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "_static" / "screenshots"
#: The Acme contact the dashboard tests use: an exact email match in the import.
CONTACT_EMAIL = DEMO_CUSTOMER_EMAILS[1]
#: This customer's sub-customer (a job) shares its email, so the import cannot decide alone.
AMBIGUOUS_EMAIL = DEMO_CUSTOMER_EMAILS[0]
#: Takes a screenshot of a page under a name: ``shot(page, "login")``.
Shot = t.Callable[[t.Any, str], None]


@dataclasses.dataclass
class Live:
    """The running demo: the CRM app, its URL, and the emulator object and URL."""

    app: t.Any
    url: str
    emu: t.Any
    emu_url: str


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Live]:
    """A freshly seeded demo (CRM and emulator servers) for one test."""
    from demo_app import create_app
    from demo_app.models import db
    from demo_app.runtime import bind
    from demo_app.runtime import build_emulator
    from demo_app.runtime import emulator_settings
    from demo_app.runtime import serve
    from demo_app.runtime import url_of
    from demo_app.seed import seed
    from flask_qbo.runners import thread as runner

    folder = tmp_path_factory.mktemp("demo")
    crm_server = bind("127.0.0.1", 0)
    emu_server = bind("127.0.0.1", 0)
    crm_url = url_of(crm_server)
    emu = build_emulator(url_of(emu_server), crm_url + "/qbo/webhooks")
    serve(emu_server, emu.app, "e2e-emulator")
    emu.webhooks.start()
    config = emulator_settings(emu.config.base_url)
    config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'demo.sqlite'}",
        SECRET_KEY="e2e-secret",
        QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        QBO_RUNNER="thread",
    )
    app = create_app(config)
    with app.app_context():
        seed()
    serve(crm_server, app, "e2e-crm")
    yield Live(app=app, url=crm_url, emu=emu, emu_url=emu.config.base_url)
    emu.webhooks.stop()
    crm_server.shutdown()
    emu_server.shutdown()
    runner.stop(app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> t.Iterator[t.Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        need_service("chromium", "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


#: htmx's settle step, slowed from 20 ms to what a loaded machine can take, in every
#: page: a test that acts on new content before htmx has wired it fails every run
#: instead of one run in fifty (wait with ``htmx_settled``).
SLOW_SETTLE = """
document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) { window.htmx.config.defaultSettleDelay = %d; }
});
"""
SETTLE_MS = 250


def new_context(browser: t.Any) -> t.Any:
    """A fresh browser profile (its own cookies), 1280x800, with htmx's settle slowed."""
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(10_000)
    ctx.add_init_script(SLOW_SETTLE % SETTLE_MS)
    return ctx


@pytest.fixture
def context(browser: t.Any) -> t.Iterator[t.Any]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: t.Any) -> t.Any:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """docs/_static/screenshots under ``make screenshots`` (``QBO_SCREENSHOTS=1``), else a temporary folder."""
    if os.environ.get("QBO_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shot(screenshots: pathlib.Path) -> Shot:
    """Save a page's viewport as ``<screenshots>/<name>.png``."""

    def save(page: t.Any, name: str) -> None:
        page.screenshot(path=str(screenshots / f"{name}.png"))

    return save


@pytest.fixture
def connected(live: Live, browser: t.Any) -> None:
    """Acme's admin has connected the demo company (done in a browser profile of its own)."""
    ctx = new_context(browser)
    try:
        connect_quickbooks(ctx.new_page(), live)
    finally:
        ctx.close()


@pytest.fixture
def imported(live: Live, connected: None, browser: t.Any) -> None:
    """QuickBooks' customers are imported and linked to Acme's contacts."""
    ctx = new_context(browser)
    try:
        import_customers(ctx.new_page(), live)
    finally:
        ctx.close()


#: Any element htmx is still swapping in: until its settle step has run, htmx has not
#: attached its listeners to the new content (20 ms by default, longer on a loaded
#: machine), so a change made to it then is never sent.
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"


def htmx_settled(page: t.Any) -> None:
    """Wait until htmx has finished every swap, so the new content reacts like a person expects."""
    page.wait_for_function(f"() => !document.querySelector({HTMX_BUSY!r})")


def sign_in(page: t.Any, live: Live, email: str, password: str = "demo") -> None:
    page.goto(live.url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/contacts/")


def connect_quickbooks(page: t.Any, live: Live, shot: Shot | None = None) -> None:
    """Acme's admin connects QuickBooks: Add-ons & API, the emulator's sign-in, the company choice.

    With ``shot``, the steps the quickstart shows are photographed on the way.
    """
    page.goto(live.url + "/login")
    if shot:
        shot(page, "login")
    sign_in(page, live, "admin@acme.test")
    expect(page.locator("[data-testid=contacts-table] tbody tr")).to_have_count(20)
    if shot:
        shot(page, "contacts")

    page.get_by_role("link", name="Admin", exact=True).click()
    page.locator("nav.sidebar").get_by_role("link", name="Add-ons & API").click()
    connect = page.get_by_role("button", name="Connect QuickBooks Account")
    expect(connect).to_be_visible()
    if shot:
        shot(page, "addons")

    connect.click()
    page.wait_for_url(live.emu_url + "/connect/oauth2**")
    page.fill("#email", live.emu.config.default_user[0])
    page.fill("#password", live.emu.config.default_user[1])
    if shot:
        shot(page, "emulator-sign-in")
    page.get_by_role("button", name="Sign in").click()
    page.select_option("#realm", DEMO_REALM)
    if shot:
        shot(page, "emulator-choose-company")
    page.get_by_role("button", name="Connect").click()

    page.wait_for_url(live.url + "/**")
    expect(page.locator(".qbo-status--connected")).to_contain_text(f"Connected to {DEMO_COMPANY_NAME}")
    if shot:
        # The connected page reads the company first; photograph what the first sync found.
        expect(page.locator("[data-qbo-tally]")).to_be_visible(timeout=60_000)
        shot(page, "connected")


def import_customers(page: t.Any, live: Live, shot: Shot | None = None) -> None:
    """Acme's admin imports QuickBooks' customers: exact matches accepted, the ambiguous one linked by hand."""
    sign_in(page, live, "admin@acme.test")
    page.goto(live.url + "/admin/addons")
    page.get_by_role("link", name="Import customers and transactions").first.click()
    # Connecting started the first sync: this page polls it until it is fetched (generous on a loaded machine).
    review = page.get_by_role("link", name="Review the matches")
    expect(review).to_be_visible(timeout=60_000)
    review.click()
    expect(page.get_by_text(CONTACT_EMAIL).first).to_be_visible()
    if shot:
        shot(page, "import-review")

    page.get_by_role("button", name="Accept all exact matches").click()
    expect(page.get_by_text(re.compile(r"Accepted [1-9]\d* exact e-mail matches"))).to_be_visible()
    # The parent customer and its job share an email: the admin links the parent by hand.
    parent = page.locator("tr[data-qbo-match]", has_text=AMBIGUOUS_EMAIL).filter(has_not_text="backyard").first
    expect(parent).to_contain_text("Ambiguous")
    parent.get_by_role("radio", name=re.compile(r"^Link to ")).first.check()  # its one candidate
    parent.get_by_role("button", name="Save").click()
    parent = page.locator("tr[data-qbo-match]", has_text=AMBIGUOUS_EMAIL).filter(has_not_text="backyard").first
    expect(parent).to_have_attribute("data-qbo-decision", "link")
    page.get_by_role("button", name="Apply decisions").click()
    expect(page.get_by_text(re.compile(r"[1-9]\d* customers linked or created")).first).to_be_visible(timeout=30_000)
    if shot:
        shot(page, "import-done")
