"""Live servers and a browser for the end-to-end tests.

The demo CRM and the QBO emulator run as real HTTP servers on free loopback
ports in this process (threads), on a temporary SQLite database, exactly as
``python -m demo_app`` runs them.  Debian's chromium is driven headless by
Playwright; no browser is ever downloaded.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import typing as t

import pytest
from cryptography.fernet import Fernet

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
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "_static" / "screenshots"


@dataclasses.dataclass
class Live:
    """The running demo: the CRM app, its URL, and the emulator object and URL."""

    app: t.Any
    url: str
    emu: t.Any
    emu_url: str


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Live]:
    from demo_app import create_app
    from demo_app.models import db
    from demo_app.runtime import bind
    from demo_app.runtime import build_emulator
    from demo_app.runtime import emulator_settings
    from demo_app.runtime import serve
    from demo_app.runtime import url_of
    from demo_app.seed import seed
    from flask_qbo import runner

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


@pytest.fixture
def context(browser: t.Any) -> t.Iterator[t.Any]:
    """A fresh browser profile per test (its own cookies), 1280x800."""
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: t.Any) -> t.Any:
    return context.new_page()


def shot(page: t.Any, name: str) -> None:
    """Save the viewport as docs/_static/screenshots/<name>.png (the docs embed them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def sign_in(page: t.Any, live: Live, email: str, password: str = "demo") -> None:
    page.goto(live.url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/contacts/")
