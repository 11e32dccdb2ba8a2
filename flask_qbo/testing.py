"""Test helpers for hosts (and for Flask-QBO's own suite): the emulator, in-process, and sync on demand.

Installed as a pytest plugin (``pytest11`` entry point), so a host's tests get
the ``qbo_emulator`` fixture with no configuration.  Nothing here opens a
socket: every QBO call is routed to the emulator's WSGI app through a requests
transport adapter.  An app under test runs no background runner (see
:mod:`flask_qbo.runners.thread`), so :func:`push_now` and :func:`pull_now` run
the queued work in the test's own thread, where its outcome can be asserted
at once and its errors fail the test.
"""

from __future__ import annotations

import contextlib
import typing as t

import pytest
from flask import Flask
from flask import current_app
from flask import has_app_context

from .emulator import Emulator
from .emulator import EmulatorConfig
from .emulator import WSGIAdapter
from .intuit.oauth import apply_token
from .models import Connection
from .models import ConnectionStatus
from .models import utcnow
from .state import DEFAULT_TENANT
from .state import get_qbo
from .sync.pull import pull
from .sync.push import push
from .sync.queue import raise_errors

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


#: Rounds :func:`push_now` runs before it decides rows keep coming back.
PUSH_ROUNDS = 50


def push_now(app: Flask | None = None) -> int:
    """Push every due outbox row to QuickBooks now, in this thread; returns how many rows were handled.

    Call it after committing contact edits, then assert on QuickBooks' side
    (``qbo_emulator.store``).  Inside the app's context (default: the current
    app) it uses the test's own database session, so the test's objects see
    what the push wrote.  Rows of a tenant that is not connected stay pending.
    An unexpected error (a converter of the field map raising, say) is raised
    once the row is recorded as failed; a QuickBooks refusal is not an error
    here, it leaves the row failed as in production.

    :raises RuntimeError: rows were still due after :data:`PUSH_ROUNDS` rounds
        (something queues the contact again on every push).
    """
    with _app_context(app) as qbo_app, raise_errors():
        qbo = get_qbo(qbo_app)
        total = 0
        for _ in range(PUSH_ROUNDS):
            handled = push.process(qbo)
            if not handled:
                return total
            total += handled
        raise RuntimeError(
            f"push_now: rows were still due after {PUSH_ROUNDS} rounds ({total} handled); "
            "something queues the contact again on every push (a listener or converter editing it?)."
        )


def pull_now(app: Flask | None = None, tenant_key: str | None = None) -> int:
    """Bring QuickBooks' changes into the CRM now: pending webhook events, then a CDC poll; returns changes applied.

    The CDC poll runs for every connected tenant (or only ``tenant_key``)
    whether or not its ``QBO_CDC_INTERVAL`` has passed, so a change made in the
    emulator just before is applied.  Errors are raised, not only logged (the
    events stay queued for a retry, as in production).
    """
    with _app_context(app) as qbo_app, raise_errors():
        qbo = get_qbo(qbo_app)
        applied = pull.process(qbo)
        session = qbo.state(qbo_app).session
        query = session.query(Connection.id).filter(Connection.status == ConnectionStatus.CONNECTED)
        if tenant_key is not None:
            query = query.filter(Connection.tenant_key == tenant_key)
        for (conn_id,) in query.order_by(Connection.id).all():
            conn = session.get(Connection, conn_id)
            if conn is not None:
                applied += pull.poll_cdc(qbo, conn)
        return applied


@contextlib.contextmanager
def _app_context(app: Flask | None) -> t.Iterator[Flask]:
    """The app's context: the current one when it is ``app``'s (same session), else a new one."""
    current = t.cast(Flask, current_app._get_current_object()) if has_app_context() else None  # type: ignore[attr-defined]
    if app is None or app is current:
        if current is None:
            raise RuntimeError("push_now() and pull_now() need an app: pass it, or call them inside app.app_context().")
        yield current
        return
    with app.app_context():
        yield app


@pytest.fixture
def qbo_emulator() -> t.Iterator[Emulator]:
    """An in-process emulator with one empty company (:data:`TEST_REALM`)."""
    emu = make_emulator()
    yield emu
    webhooks = getattr(emu, "webhooks", None)
    if webhooks is not None:
        webhooks.stop()
