"""Test helpers for hosts (and for Flask-QBO's own suite): the emulator, in-process.

Installed as a pytest plugin (``pytest11`` entry point), so a host's tests get
the ``qbo_emulator`` fixture with no configuration.  Nothing here opens a
socket: every QBO call is routed to the emulator's WSGI app through a requests
transport adapter.
"""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask

from .emulator import Emulator
from .emulator import EmulatorConfig
from .emulator import WSGIAdapter
from .intuit.oauth import apply_token
from .models import Connection
from .models import ConnectionStatus
from .models import utcnow
from .state import DEFAULT_TENANT
from .state import get_qbo

#: Realm of the company the ``qbo_emulator`` fixture creates.
TEST_REALM = "9130000000000001"
#: Base URL the in-process emulator answers on (never resolved: no socket is opened).
EMULATOR_BASE_URL = "http://qbo.emulator.test"


def make_emulator(**config: t.Any) -> Emulator:
    """An empty in-process emulator with one company, :data:`TEST_REALM`."""
    config.setdefault("base_url", EMULATOR_BASE_URL)
    emu = Emulator(EmulatorConfig(**config))
    emu.add_company(TEST_REALM, "Test Company")
    return emu


def attach_emulator(app: Flask, emu: Emulator) -> None:
    """Point the app's QBO calls at ``emu`` (environment "emulator", in-process transport)."""
    base = emu.config.base_url.rstrip("/")
    app.config.update(
        QBO_ENVIRONMENT="emulator",
        QBO_EMULATOR_URL=base,
        QBO_CLIENT_ID=emu.config.client_id,
        QBO_CLIENT_SECRET=emu.config.client_secret,
        QBO_WEBHOOK_VERIFIER_TOKEN=emu.config.webhook_verifier_token,
    )
    get_qbo(app).mount_transport(base, WSGIAdapter(emu.app), app)


def connect_tenant(
    app: Flask,
    emu: Emulator,
    tenant_key: str = DEFAULT_TENANT,
    realm_id: str = TEST_REALM,
    *,
    connected_by: str = "tests",
) -> Connection:
    """Store a live connection for ``tenant_key`` to ``realm_id`` without the browser dance.

    Tokens come from the emulator's token issuer and are encrypted exactly as
    the connect flow stores them.
    """
    qbo = get_qbo(app)
    with app.app_context():
        state = qbo.state(app)
        session = state.session
        token = emu.issue_tokens(realm_id, client_id=app.config["QBO_CLIENT_ID"])
        now = utcnow()
        conn = session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()
        if conn is None:
            conn = Connection(tenant_key=tenant_key)
            session.add(conn)
        company = dict(emu.store.companies()).get(realm_id, realm_id)
        conn.realm_id = realm_id
        conn.company_name = company
        conn.environment = app.config["QBO_ENVIRONMENT"]
        conn.status = ConnectionStatus.CONNECTED
        conn.status_reason = None
        apply_token(conn, token, state.cipher, now=now)
        conn.connected_at = now
        conn.connected_by = connected_by
        session.commit()
        session.refresh(conn)
        session.expunge(conn)
        return conn


@pytest.fixture
def qbo_emulator() -> t.Iterator[Emulator]:
    """An in-process emulator with one empty company (:data:`TEST_REALM`)."""
    emu = make_emulator()
    yield emu
    webhooks = getattr(emu, "webhooks", None)
    if webhooks is not None:
        webhooks.stop()
