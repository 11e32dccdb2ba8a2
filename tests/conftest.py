"""Shared fixtures: the host app on SQLite (or PostgreSQL), an in-process emulator,
and a tenant already connected to it.

Tests that need PostgreSQL, Redis, Celery or a browser skip with a visible
reason when the service is missing, unless QBO_REQUIRE_SERVICES=1 (CI), where
they fail instead.
"""

from __future__ import annotations

import os
import typing as t

import pytest

from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator

from .hostapp import make_app

REQUIRE_SERVICES = os.environ.get("QBO_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("QBO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("QBO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-long",
        action="store_true",
        default=False,
        help="run the convergence soak in its long mode (also QBO_SOAK_LONG=1)",
    )


def need_service(name: str, reason: str) -> None:
    """Skip (laptop) or fail (CI, QBO_REQUIRE_SERVICES=1) when a service is missing."""
    message = f"{name} unavailable: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (QBO_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture
def pg() -> t.Iterator[tuple[str, str]]:
    """``(url, schema)`` of a fresh schema on the test PostgreSQL server, dropped afterwards."""
    from .pg import postgres_schema

    try:
        schema = postgres_schema(POSTGRES_URL)
        value = schema.__enter__()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        need_service("PostgreSQL", f"{POSTGRES_URL.split('@')[-1]}: {str(exc).splitlines()[0]}")
    try:
        yield value
    finally:
        schema.__exit__(None, None, None)


@pytest.fixture
def emulator() -> t.Iterator[t.Any]:
    """A fresh in-process emulator with one company (TEST_REALM)."""
    emu = make_emulator()
    yield emu
    webhooks = getattr(emu, "webhooks", None)
    if webhooks is not None:
        webhooks.stop()


@pytest.fixture
def app(tmp_path: t.Any, emulator: t.Any) -> t.Any:
    """The host app on a file SQLite database (threads share it), wired to the emulator."""
    app = make_app(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    attach_emulator(app, emulator)
    return app


@pytest.fixture
def client(app: t.Any) -> t.Any:
    return app.test_client()


@pytest.fixture
def connected(app: t.Any, emulator: t.Any) -> t.Any:
    """Tenant "acme" connected to TEST_REALM; returns the detached Connection row."""
    return connect_tenant(app, emulator, "acme", TEST_REALM)


def journal_mode(app: t.Any, mode: str) -> None:
    """Set the journal mode of the host's SQLite file (the file keeps it): ``flask qbo doctor`` asks for WAL."""
    with app.app_context():
        with get_qbo(app).state(app).db.engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA journal_mode={mode}")


def login(client: t.Any, user_id: int) -> None:
    """Log a test client in as one of the host app's users."""
    assert client.get(f"/_test/login/{user_id}").status_code == 200
