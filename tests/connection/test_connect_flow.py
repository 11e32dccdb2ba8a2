"""The Connect QuickBooks Account flow, end to end against the in-process emulator."""

from __future__ import annotations

import typing as t

from flask_qbo import signals
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.widgets.formatting import format_date
from tests.conftest import login
from tests.connection.test_connect_support import ADDONS
from tests.connection.test_connect_support import callback
from tests.connection.test_connect_support import connect_via_ui
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import intuit_sign_in
from tests.connection.test_connect_support import query_of
from tests.connection.test_connect_support import start_connect
from tests.connection.test_connect_support import text
from tests.hostapp import ACME_ADMIN
from tests.hostapp import GLOBEX_ADMIN

OTHER_REALM = "9130000000000002"


def _active_grants(emulator: t.Any, realm: str) -> int:
    return sum(1 for g in emulator.tokens.grants.values() if g.realm == realm and not g.revoked)


def test_connect_signs_in_at_intuit_and_shows_the_company(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    page = text(client.get(ADDONS))
    assert "Connect QuickBooks Account" in page and "Not connected" in page
    received: list[dict[str, t.Any]] = []
    signals.connected.connect(lambda sender, **kw: received.append(kw), app, weak=False)

    authorize = start_connect(client)
    assert authorize.startswith("http://qbo.emulator.test/connect/oauth2?")
    params = query_of(authorize)
    assert params["client_id"] == "emulator-client-id"
    assert params["redirect_uri"] == "http://localhost/qbo/callback"
    assert "com.intuit.quickbooks.accounting" in params["scope"].split()
    with client.session_transaction() as session:
        # Only a hash of the state is kept in the (readable) session cookie.
        assert params["state"] not in repr(dict(session))

    back = intuit_sign_in(emulator, authorize)
    assert query_of(back)["realmId"] == TEST_REALM and query_of(back)["state"] == params["state"]
    response = callback(client, back)
    assert response.status_code == 302 and response.headers["Location"].endswith("/qbo/admin/connected")

    page = text(client.get(ADDONS))
    with app.app_context():
        today = format_date(utcnow())  # the panel's dates read "Nov 29, 2026" (issue 18 §8)
    assert f"Connected to <strong>Test Company</strong> (Emulator) since {today} by admin@acme.test" in page
    conn = connection_row(app, "acme")
    assert conn is not None and conn.status == "connected" and conn.realm_id == TEST_REALM
    assert conn.refresh_hard_expires_at is not None and conn.refresh_expires_at is not None
    assert received and received[0]["user"] == "admin@acme.test"
    with app.app_context():
        qbo = get_qbo(app)
        stored = qbo.connection("acme")
        assert qbo.state().cipher.decrypt(stored.access_token_enc).startswith("ey")
        assert qbo.client(stored).company_info()["CompanyName"] == "Test Company"
        actions = [row.action for row in qbo.state().db.session.query(SyncLog).filter_by(tenant_key="acme")]
        assert actions == ["connected"]


def test_company_picker_connects_the_chosen_company(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    emulator.add_company(OTHER_REALM, "Second Books LLC")
    login(client, ACME_ADMIN)
    response = connect_via_ui(client, emulator, realm=OTHER_REALM)
    assert response.status_code == 302
    conn = connection_row(app, "acme")
    assert conn is not None and conn.realm_id == OTHER_REALM and conn.company_name == "Second Books LLC"


def test_auto_approve_mode_skips_the_sign_in_pages(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    emulator.config.auto_approve = True
    login(client, ACME_ADMIN)
    back = emulator.http_session().get(start_connect(client), allow_redirects=False).headers["Location"]
    assert callback(client, back).status_code == 302
    assert connection_row(app, "acme").status == "connected"


def test_cancel_at_intuit_shows_a_friendly_message(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client), cancel=True)
    assert query_of(back)["error"] == "access_denied"
    response = callback(client, back)
    assert response.status_code == 302
    page = text(client.get(ADDONS))
    assert "You cancelled the QuickBooks sign-in" in page
    assert connection_row(app, "acme") is None


def test_callback_error_text_cannot_be_written_by_a_link(client: t.Any) -> None:
    """``error`` is whatever a crafted link says: only an error-code-shaped value is echoed to the admin."""
    login(client, ACME_ADMIN)
    client.get("/qbo/callback?error=Your+account+is+locked.+Call+555-0100+now")
    page = text(client.get(ADDONS))
    assert "555-0100" not in page and "QuickBooks did not connect" in page
    client.get("/qbo/callback?error=server_error")
    assert "Intuit said: server_error" in text(client.get(ADDONS))


def test_state_mismatch_is_refused(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    forged = back.replace(f"state={query_of(back)['state']}", "state=forged-state-value")
    response = callback(client, forged)
    assert response.status_code == 400
    assert "state mismatch" in text(response)
    assert connection_row(app, "acme") is None


def test_callback_from_another_browser_session_is_refused(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    other_browser = app.test_client()
    login(other_browser, ACME_ADMIN)
    response = callback(other_browser, back)
    assert response.status_code == 400 and "state mismatch" in text(response)
    assert connection_row(app, "acme") is None


def test_state_is_bound_to_the_user_who_started(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    login(client, GLOBEX_ADMIN)  # same browser, another account's admin
    response = callback(client, back)
    assert response.status_code == 400 and "started by another user" in text(response)
    assert connection_row(app, "acme") is None and connection_row(app, "globex") is None


def test_replayed_callback_is_refused(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    assert callback(client, back).status_code == 302
    first = connection_row(app, "acme")
    replay = callback(client, back)
    assert replay.status_code == 400
    assert "already used" in text(replay)
    assert connection_row(app, "acme").access_token_enc == first.access_token_enc


def test_missing_code_is_a_clear_error(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    state = query_of(start_connect(client))["state"]
    response = client.get(f"/qbo/callback?state={state}&realmId={TEST_REALM}")
    assert response.status_code == 400
    assert "no authorization code" in text(response)
    assert connection_row(app, "acme") is None


def test_callback_without_any_state_is_refused(client: t.Any) -> None:
    login(client, ACME_ADMIN)
    response = client.get(f"/qbo/callback?code=abc&realmId={TEST_REALM}")
    assert response.status_code == 400 and "no state parameter" in text(response)


def test_company_connected_to_another_tenant_is_refused(
    app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    assert _active_grants(emulator, TEST_REALM) == 1
    login(client, GLOBEX_ADMIN)
    response = connect_via_ui(client, emulator)
    assert response.status_code == 409
    assert "already connected to another account" in text(response)
    assert connection_row(app, "globex") is None
    assert connection_row(app, "acme").status == "connected"
    # The tokens globex's admin just obtained were revoked at Intuit, not left dangling.
    assert _active_grants(emulator, TEST_REALM) == 1


def test_initial_import_is_offered_right_after_connecting(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    assert "Import customers and transactions" not in text(client.get(ADDONS)), "not before connecting"
    connect_via_ui(client, emulator)
    assert ">Import customers and transactions</a>" in text(client.get(ADDONS))


def test_no_import_offered_when_initial_sync_is_on_change(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    app.config["QBO_INITIAL_SYNC"] = "on_change"
    login(client, ACME_ADMIN)
    connect_via_ui(client, emulator)
    page = text(client.get(ADDONS))
    assert "Connected to" in page
    assert "Import customers and transactions" not in page


def test_simultaneous_connects_of_one_company_cannot_both_win(
    app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any, monkeypatch: t.Any
) -> None:
    """The pre-check can be raced; the unique index on live realms still refuses the second."""
    from flask_qbo.connection import connect as connect_module

    monkeypatch.setattr(connect_module, "conflict_for", lambda *args: None)
    login(client, GLOBEX_ADMIN)
    response = connect_via_ui(client, emulator)
    assert response.status_code == 409
    assert "already connected" in text(response)
    assert connection_row(app, "globex") is None
    assert connection_row(app, "acme").status == "connected"
    assert _active_grants(emulator, TEST_REALM) == 1


def test_a_disconnected_row_does_not_hold_the_company(app: t.Any) -> None:
    """Kept data of a disconnected tenant never blocks the unique index."""
    import sqlalchemy as sa

    from flask_qbo.models import Connection
    from tests.hostapp import db

    with app.app_context():
        db.session.add_all(
            [
                Connection(tenant_key="old", realm_id="42", status="disconnected"),
                Connection(tenant_key="new", realm_id="42", status="connected"),
            ]
        )
        db.session.commit()
        db.session.add(Connection(tenant_key="third", realm_id="42", status="needs_reconnect"))
        try:
            db.session.commit()
            raise AssertionError("a second live connection of realm 42 was stored")
        except sa.exc.IntegrityError:
            db.session.rollback()


def test_connecting_caches_terms_and_payment_methods(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    """Cards name a customer's terms at once, even when the tenant never runs the import."""
    from flask_qbo.models import RefItem
    from tests.hostapp import db

    login(client, ACME_ADMIN)
    connect_via_ui(client, emulator)
    with app.app_context():
        names = {(r.kind, r.name) for r in db.session.query(RefItem).filter_by(realm_id=TEST_REALM)}
    assert ("Term", "Net 30") in names and ("PaymentMethod", "Visa") in names
