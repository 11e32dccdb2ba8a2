"""Disconnect: revoke at Intuit, stop sync, then keep or purge the synced data."""

from __future__ import annotations

import typing as t

from flask_qbo import signals
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import RefItem
from flask_qbo.models import SyncLog
from flask_qbo.models import Transaction
from flask_qbo.state import get_qbo
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from tests.conftest import login
from tests.connection.test_connect_support import ADDONS
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import text
from tests.hostapp import ACME_ADMIN

GLOBEX_REALM = "9130000000000003"
MODELS = (Customer, Transaction, RefItem, Outbox, Inbox)


def _seed(app: t.Any, emulator: t.Any) -> None:
    """Mirror rows for acme (TEST_REALM) and for globex (its own company)."""
    emulator.add_company(GLOBEX_REALM, "Globex Books")
    connect_tenant(app, emulator, "globex", GLOBEX_REALM)
    with app.app_context():
        session = get_qbo(app).state().db.session
        for tenant, realm in (("acme", TEST_REALM), ("globex", GLOBEX_REALM)):
            session.add_all(
                [
                    Customer(tenant_key=tenant, realm_id=realm, qbo_id="1", contact_key="1", display_name="Ada"),
                    Transaction(realm_id=realm, txn_type="Invoice", qbo_id="130", customer_qbo_id="1"),
                    RefItem(realm_id=realm, kind="Term", qbo_id="3", name="Net 30"),
                    Outbox(tenant_key=tenant, contact_key="1", status="pending"),
                    Inbox(
                        event_id=f"evt-{tenant}", realm_id=realm, entity="Customer", entity_id="1", operation="Update"
                    ),
                ]
            )
        session.commit()


def _counts(app: t.Any, tenant: str, realm: str) -> dict[str, int]:
    """Rows per table for a tenant (tenant-scoped tables) or its realm (realm-wide ones)."""
    with app.app_context():
        session = get_qbo(app).state().db.session
        counts = {}
        for model in MODELS:
            column, value = (model.tenant_key, tenant) if model in (Customer, Outbox) else (model.realm_id, realm)
            counts[model.__name__] = session.query(model).filter(column == value).count()
        return counts


def _active_grants(emulator: t.Any, realm: str) -> int:
    return sum(1 for g in emulator.tokens.grants.values() if g.realm == realm and not g.revoked)


def _disconnect(client: t.Any, choice: str) -> t.Any:
    token = csrf(client, "/qbo/admin/disconnect")
    return client.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": choice})


def test_confirmation_page_offers_keep_or_purge(client: t.Any, connected: t.Any) -> None:
    login(client, ACME_ADMIN)
    page = text(client.get("/qbo/admin/disconnect"))
    assert 'value="keep" checked' in page and 'value="purge"' in page and "Test Company" in page


def test_disconnect_keeping_data(app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any) -> None:
    _seed(app, emulator)
    events: list[dict[str, t.Any]] = []
    signals.disconnected.connect(lambda sender, **kw: events.append(kw), app, weak=False)
    login(client, ACME_ADMIN)
    response = _disconnect(client, "keep")
    assert response.status_code == 302

    conn = connection_row(app, "acme")
    assert conn.status == "disconnected" and conn.refresh_token_enc is None and conn.access_token_enc is None
    assert _active_grants(emulator, TEST_REALM) == 0, "the grant was revoked at Intuit"
    assert events and events[0]["purged"] is False
    assert _counts(app, "acme", TEST_REALM) == dict.fromkeys((m.__name__ for m in MODELS), 1)

    with app.app_context():
        push.process(get_qbo(app))  # sync has stopped: acme's queued change is not sent
        session = get_qbo(app).state().db.session
        assert session.query(Outbox).filter_by(tenant_key="acme").one().status == "pending"
        assert session.query(SyncLog).filter_by(tenant_key="acme", action="disconnected").count() == 1

    page = text(client.get(ADDONS))
    assert "Disconnected from <strong>Test Company</strong>" in page
    assert "Synced data is kept" in page and 'data-qbo-banner="disconnected"' in page
    assert "Reconnect QuickBooks Account" in page


def test_disconnect_purging_data(app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any) -> None:
    _seed(app, emulator)
    events: list[dict[str, t.Any]] = []
    signals.disconnected.connect(lambda sender, **kw: events.append(kw), app, weak=False)
    login(client, ACME_ADMIN)
    assert _disconnect(client, "purge").status_code == 302

    assert connection_row(app, "acme") is None
    assert _active_grants(emulator, TEST_REALM) == 0
    assert _counts(app, "acme", TEST_REALM) == dict.fromkeys((m.__name__ for m in MODELS), 0)
    assert _counts(app, "globex", GLOBEX_REALM) == dict.fromkeys((m.__name__ for m in MODELS), 1)
    assert connection_row(app, "globex").status == "connected"
    assert events and events[0]["purged"] is True and events[0]["connection"].tenant_key == "acme"
    page = text(client.get(ADDONS))
    assert "Synced data was deleted" in page and "Connect QuickBooks Account" in page


def test_kept_data_can_be_purged_later(app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any) -> None:
    _seed(app, emulator)
    login(client, ACME_ADMIN)
    _disconnect(client, "keep")
    page = text(client.get("/qbo/admin/disconnect"))
    assert 'value="keep"' not in page and 'value="purge"' in page
    assert _disconnect(client, "purge").status_code == 302
    assert connection_row(app, "acme") is None
    assert _counts(app, "acme", TEST_REALM)["Customer"] == 0
    page = text(client.get(ADDONS))
    assert "The data synced from Test Company, disconnected earlier, was deleted." in page
    assert "revocation" not in page, "the grant was revoked at the first disconnect; nothing failed now"


def test_a_choice_is_required(app: t.Any, client: t.Any, connected: t.Any) -> None:
    login(client, ACME_ADMIN)
    response = client.post("/qbo/admin/disconnect", data={"csrf_token": csrf(client, "/qbo/admin/disconnect")})
    assert response.status_code == 400 and "Choose whether" in text(response)
    assert connection_row(app, "acme").status == "connected"


def test_disconnect_without_connection_goes_back_to_the_panel(client: t.Any) -> None:
    login(client, ACME_ADMIN)
    response = client.get("/qbo/admin/disconnect")
    assert response.status_code == 302
    assert "QuickBooks is not connected" in text(client.get(ADDONS))
