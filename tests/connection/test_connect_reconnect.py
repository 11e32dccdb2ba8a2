"""A revoked refresh token → needs_reconnect → the admin reconnects, keeping links and queued changes."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from flask import render_template_string
from flask_login import login_user

from flask_qbo import signals
from flask_qbo.errors import QBOAuthError
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.connection.test_connect_support import ADDONS
from tests.connection.test_connect_support import connect_via_ui
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import text
from tests.connection.test_connect_support import update_connection
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import Contact
from tests.hostapp import User
from tests.hostapp import db

OTHER_REALM = "9130000000000002"


def _seed_link_and_queue(app: t.Any) -> tuple[str, list[str]]:
    """A contact linked to QBO customer 58 plus a failed and a pending change for it."""
    with app.app_context():
        qbo = get_qbo(app)
        session = qbo.state().db.session
        contact = Contact(tenant="acme", first_name="Ada", last_name="Lovelace", email="ada@example.com")
        session.add(contact)
        session.commit()
        key = str(contact.id)
        session.add(
            Customer(
                tenant_key="acme",
                realm_id=TEST_REALM,
                qbo_id="58",
                contact_key=key,
                display_name="Ada Lovelace",
                sync_token="0",
            )
        )
        session.add(
            Outbox(tenant_key="acme", contact_key=key, status="failed", error_code="3200", last_error="Token revoked")
        )
        session.commit()
        uuids = sorted(row.uuid for row in session.query(Outbox).filter_by(tenant_key="acme"))
        return key, uuids


def _break_connection(app: t.Any, emulator: t.Any) -> None:
    """Revoke the grant at Intuit, then make a call: the 401 that refresh cannot cure."""
    emulator.revoke_tokens(TEST_REALM)
    with app.app_context():
        qbo = get_qbo(app)
        with pytest.raises(QBOAuthError):
            qbo.client(qbo.connection("acme")).company_info()


def test_revoked_token_needs_reconnect_then_reconnect_keeps_links(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    assert connect_via_ui(client, emulator).status_code == 302
    contact_key, uuids = _seed_link_and_queue(app)
    alerts: list[dict[str, t.Any]] = []
    signals.needs_reconnect.connect(lambda sender, **kw: alerts.append(kw), app, weak=False)

    _break_connection(app, emulator)
    assert connection_row(app, "acme").status == "needs_reconnect"
    assert len(alerts) == 1

    page = text(client.get(ADDONS))
    assert 'data-qbo-banner="needs_reconnect"' in page
    assert "Reconnect QuickBooks Account" in page

    assert connect_via_ui(client, emulator).status_code == 302
    conn = connection_row(app, "acme")
    assert conn.status == "connected" and conn.status_reason is None and conn.realm_id == TEST_REALM
    with app.app_context():
        qbo = get_qbo(app)
        session = qbo.state().db.session
        link = session.query(Customer).filter_by(tenant_key="acme", contact_key=contact_key).one()
        assert link.qbo_id == "58"
        assert sorted(row.uuid for row in session.query(Outbox).filter_by(tenant_key="acme")) == uuids
        actions = [row.action for row in session.query(SyncLog).filter_by(tenant_key="acme").order_by(SyncLog.id)]
        assert actions[0] == "connected" and actions[-1] == "reconnected"
        assert qbo.client(qbo.connection("acme")).company_info()["CompanyName"] == "Test Company"
    assert "data-qbo-banner" not in text(client.get(ADDONS))


def test_banner_reaches_contact_pages_for_admins_and_users(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    connect_via_ui(client, emulator)
    _break_connection(app, emulator)
    template = "<div>{{ qbo_connection_banner() }}</div>"
    with app.test_request_context():
        login_user(db.session.get(User, ACME_USER))
        user_banner = render_template_string(template)
        assert "needs to be reconnected" in user_banner and "Ask an administrator" in user_banner
        assert 'href="/qbo/admin/"' not in user_banner
        login_user(db.session.get(User, ACME_ADMIN))
        admin_banner = render_template_string(template)
        assert 'href="/qbo/admin/"' in admin_banner
        included = render_template_string('{% include "qbo/admin/_banner.html" %}')
        assert 'data-qbo-banner="needs_reconnect"' in included


def test_reconnecting_a_different_company_is_refused_until_data_is_purged(
    app: t.Any, client: t.Any, emulator: t.Any
) -> None:
    emulator.add_company(OTHER_REALM, "Second Books LLC")
    login(client, ACME_ADMIN)
    connect_via_ui(client, emulator, realm=TEST_REALM)
    _seed_link_and_queue(app)
    _break_connection(app, emulator)

    refused = connect_via_ui(client, emulator, realm=OTHER_REALM)
    assert refused.status_code == 409
    assert "still holds the synced data of Test Company" in text(refused)
    assert connection_row(app, "acme").status == "needs_reconnect"
    assert not any(g.realm == OTHER_REALM and not g.revoked for g in emulator.tokens.grants.values())

    token = csrf(client, "/qbo/admin/disconnect")
    purge = client.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": "purge"})
    assert purge.status_code == 302
    assert connection_row(app, "acme") is None
    assert connect_via_ui(client, emulator, realm=OTHER_REALM).status_code == 302
    conn = connection_row(app, "acme")
    assert conn.realm_id == OTHER_REALM and conn.company_name == "Second Books LLC"


def test_reconnect_clears_sent_expiry_warnings(app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any) -> None:
    soon = utcnow() + dt.timedelta(days=5)
    update_connection(app, "acme", warnings_sent=[30, 7], refresh_hard_expires_at=soon)
    login(client, ACME_ADMIN)
    assert "Reconnect QuickBooks Account" in text(client.get(ADDONS))
    assert connect_via_ui(client, emulator).status_code == 302
    conn = connection_row(app, "acme")
    assert conn.warnings_sent == [] and conn.refresh_hard_expires_at > utcnow() + dt.timedelta(days=1000)
