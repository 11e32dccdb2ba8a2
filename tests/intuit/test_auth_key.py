"""A wrong QBO_TOKEN_ENCRYPTION_KEY is a configuration error, not a dead grant.

The CRM is "restarted" by building a second app on the same database and
emulator with another key: its tokens cannot be decrypted.  The connection must
stay connected, queued work must stay queued (with a backoff, not a spin), the
admin pages and ``flask qbo status`` must name the key, and the right key back
must resume sync with no reconnect.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from cryptography.fernet import Fernet
from flask_login import login_user

from flask_qbo import signals
from flask_qbo.connection.upkeep import upkeep
from flask_qbo.models import Connection
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.views.admin import connection_banner
from tests.conftest import login
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import text
from tests.connection.test_connect_support import update_connection
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import Contact
from tests.hostapp import User
from tests.hostapp import db
from tests.hostapp import make_app
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import link_customer

#: What every key message starts with (health page, CLI, outbox rows).
KEY_MESSAGE = "QBO_TOKEN_ENCRYPTION_KEY does not decrypt the stored tokens of the connection to Test Company"


def restart(app: t.Any, emulator: t.Any, key: str) -> t.Any:
    """The same CRM (database, emulator) started again with ``key`` as its encryption key."""
    again = make_app(app.config["SQLALCHEMY_DATABASE_URI"], QBO_TOKEN_ENCRYPTION_KEY=key)
    attach_emulator(again, emulator)
    return again


@pytest.fixture
def wrong(app: t.Any, emulator: t.Any, connected: Connection) -> t.Any:
    """The CRM restarted with a key that did not encrypt the stored tokens."""
    return restart(app, emulator, Fernet.generate_key().decode())


@pytest.fixture
def reconnects(app: t.Any) -> t.Iterator[list[dict[str, t.Any]]]:
    seen: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **kwargs: t.Any) -> None:
        seen.append(kwargs)

    signals.needs_reconnect.connect(receiver)
    yield seen
    signals.needs_reconnect.disconnect(receiver)


def add_contacts(app: t.Any, count: int = 1) -> list[int]:
    with app.app_context():
        contacts = [
            Contact(tenant="acme", first_name="Kim", last_name=f"Key{n}", email=f"kim{n}@example.com")
            for n in range(count)
        ]
        db.session.add_all(contacts)
        db.session.commit()
        return [c.id for c in contacts]


def outbox(app: t.Any) -> list[Outbox]:
    with app.app_context():
        rows = db.session.query(Outbox).order_by(Outbox.id).all()
        db.session.expunge_all()
        return rows


def customers(emulator: t.Any) -> set[str]:
    return {c["DisplayName"] for c in emulator.store.list(TEST_REALM, "Customer")}


def run_push(app: t.Any) -> int:
    with app.app_context():
        return push.process(get_qbo(app))


def assert_untouched(app: t.Any, before: Connection, reconnects: list[dict[str, t.Any]]) -> None:
    """Still connected, same grant, nobody told to reconnect."""
    after = connection_row(app, "acme")
    assert (after.status, after.status_reason) == ("connected", None)
    assert after.refresh_token_enc == before.refresh_token_enc and after.connected_at == before.connected_at
    assert reconnects == []


def test_wrong_key_keeps_the_connection_and_the_queued_change(
    app: t.Any, emulator: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    before = connection_row(app, "acme")
    add_contacts(wrong, 3)
    assert run_push(wrong) == 1
    assert run_push(wrong) == 0, "the tenant's other rows were claimed one by one: workers would spin"
    assert_untouched(app, before, reconnects)
    rows = outbox(app)
    assert [(row.status, row.attempts) for row in rows] == [("pending", 0)] * 3
    assert rows[0].last_error.startswith(KEY_MESSAGE)
    assert all(row.available_at > utcnow() + dt.timedelta(seconds=30) for row in rows)
    assert customers(emulator) == set()


def test_right_key_back_resumes_the_push_without_a_reconnect(
    app: t.Any, emulator: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    before = connection_row(app, "acme")
    add_contacts(wrong)
    run_push(wrong)
    right = restart(app, emulator, app.config["QBO_TOKEN_ENCRYPTION_KEY"])
    with right.app_context():  # the backoff has passed
        db.session.query(Outbox).update({"available_at": utcnow()})
        db.session.commit()
    assert run_push(right) == 1
    assert [(r.status, r.last_error) for r in outbox(app)] == [("done", None)]
    assert customers(emulator) == {"Kim Key0"}
    assert_untouched(app, before, reconnects)


def test_the_old_key_kept_for_rotation_also_resumes(app: t.Any, emulator: t.Any, wrong: t.Any) -> None:
    add_contacts(wrong)
    run_push(wrong)
    new_key = Fernet.generate_key().decode()
    rotated = restart(app, emulator, f"{new_key}, {app.config['QBO_TOKEN_ENCRYPTION_KEY']}")
    with rotated.app_context():
        db.session.query(Outbox).update({"available_at": utcnow()})
        db.session.commit()
        emulator.expire_access_tokens()  # the rotation is stored with the new key
        assert push.process(get_qbo(rotated)) == 1
    assert customers(emulator) == {"Kim Key0"}
    only_new = restart(app, emulator, new_key)  # every token is now under the new key: the old one can go
    with only_new.app_context():
        qbo = get_qbo(only_new)
        assert qbo.client(qbo.connection("acme")).company_info()["CompanyName"] == "Test Company"


def test_an_expired_access_token_with_the_wrong_key_is_not_a_dead_grant(
    app: t.Any, emulator: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    """The refresh path reads the refresh token: unreadable is not invalid_grant."""
    update_connection(app, "acme", access_expires_at=utcnow() - dt.timedelta(minutes=1))
    before = connection_row(app, "acme")
    add_contacts(wrong)
    run_push(wrong)
    assert_untouched(app, before, reconnects)
    assert outbox(app)[0].status == "pending"


def test_a_backlog_through_the_batch_path_waits_and_does_not_spin(
    app: t.Any, emulator: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    """Unlinked contacts go one by one, linked ones in a batch: neither may come back due at once."""
    ids = add_contacts(app, 12)
    assert run_push(app) == 12  # linked with the right key
    before = connection_row(app, "acme")
    with wrong.app_context():
        for contact in db.session.query(Contact).filter(Contact.id.in_(ids)):
            contact.phone = "555-0100"
        db.session.add_all([Contact(tenant="acme", first_name="New", last_name=f"One{n}") for n in range(2)])
        db.session.commit()
        qbo = get_qbo(wrong)
        assert push.due_count(qbo) == 14
        # The batch's 12 updates go out first as one request, which cannot be signed: those 12 rows are
        # handled by that one failure and the 2 creates behind them are released untried.
        assert push.process(qbo) == 12, "rows released after the first failure were claimed again"
        assert push.due_count(qbo) == 0
        assert push.process(qbo) == 0
        assert push.next_due_in(qbo) > 30
    assert_untouched(app, before, reconnects)
    waiting = [r for r in outbox(app) if r.status != "done"]
    assert len(waiting) == 14 and {r.status for r in waiting} == {"pending"}
    assert {r.attempts for r in waiting} == {0}


def test_pull_and_cdc_wait_for_the_key(
    app: t.Any, emulator: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    before = connection_row(app, "acme")
    with wrong.app_context():
        db.session.add(
            Inbox(
                event_id="e1",
                realm_id=TEST_REALM,
                entity="Customer",
                entity_id="1",
                operation="Update",
                event_time=utcnow(),
            )
        )
        db.session.commit()
        qbo = get_qbo(wrong)
        for _ in range(wrong.config["QBO_INBOX_MAX_ATTEMPTS"] + 1):
            assert pull.process(qbo) == 0
        assert pull.poll_due(qbo) == 0
        event = db.session.query(Inbox).one()
        assert (event.status, event.attempts) == ("pending", 0)
        assert event.last_error.startswith(KEY_MESSAGE)
        db.session.commit()
    assert_untouched(app, before, reconnects)
    assert connection_row(app, "acme").last_cdc_at is None


def test_upkeep_does_not_turn_a_wrong_key_into_a_reconnect(
    app: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    update_connection(app, "acme", access_expires_at=utcnow() + dt.timedelta(seconds=30))
    before = connection_row(app, "acme")
    with wrong.app_context():
        result = upkeep(get_qbo(wrong))
    assert result["failed"] == 1 and result["needs_reconnect"] == 0
    assert_untouched(app, before, reconnects)


def test_health_page_and_banner_name_the_key(app: t.Any, wrong: t.Any) -> None:
    client = wrong.test_client()
    login(client, ACME_ADMIN)
    health = text(client.get("/qbo/admin/health"))
    assert KEY_MESSAGE in health and f"realm {TEST_REALM}" in health
    assert 'data-qbo-status="connected"' in health
    assert 'data-qbo-banner="key_problem"' in health
    assert wrong.config["QBO_TOKEN_ENCRYPTION_KEY"] not in health
    assert app.config["QBO_TOKEN_ENCRYPTION_KEY"] not in health
    with wrong.test_request_context():  # a plain user is told to ask an admin, not shown the config
        login_user(db.session.get(User, ACME_USER))
        banner = str(connection_banner())
    assert 'data-qbo-banner="key_problem"' in banner and "Ask an administrator" in banner
    assert "QBO_TOKEN_ENCRYPTION_KEY" not in banner
    right = app.test_client()
    login(right, ACME_ADMIN)
    assert "QBO_TOKEN_ENCRYPTION_KEY" not in text(right.get("/qbo/admin/health"))


def test_health_page_shows_a_workers_key_problem(app: t.Any, wrong: t.Any) -> None:
    """The web process has the right key, a worker the wrong one: the page still says why sync waits."""
    add_contacts(app)
    run_push(wrong)
    client = app.test_client()
    login(client, ACME_ADMIN)
    health = text(client.get("/qbo/admin/health"))
    assert "A sync worker reported" in health and KEY_MESSAGE in health


def test_cli_status_names_the_key(app: t.Any, wrong: t.Any) -> None:
    result = wrong.test_cli_runner().invoke(args=["qbo", "status"])
    assert result.exit_code == 0, result.output
    assert "tenant acme: connected" in result.output
    assert KEY_MESSAGE in result.output and f"realm {TEST_REALM}" in result.output
    assert wrong.config["QBO_TOKEN_ENCRYPTION_KEY"] not in result.output
    fine = app.test_cli_runner().invoke(args=["qbo", "status"])
    assert "QBO_TOKEN_ENCRYPTION_KEY" not in fine.output


def test_disconnect_with_the_wrong_key_works_locally(app: t.Any, emulator: t.Any, wrong: t.Any) -> None:
    client = wrong.test_client()
    login(client, ACME_ADMIN)
    token = csrf(client, "/qbo/admin/disconnect")
    response = client.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": "keep"}, follow_redirects=True)
    assert response.status_code == 200
    page = text(response)
    assert "Disconnected from Test Company" in page
    assert "could not be revoked at Intuit" in page and "QBO_TOKEN_ENCRYPTION_KEY" in page
    after = connection_row(app, "acme")
    assert after.status == "disconnected" and after.refresh_token_enc is None
    assert any(g.realm == TEST_REALM and not g.revoked for g in emulator.tokens.grants.values())


def test_pdf_download_with_the_wrong_key_says_sync_waits(
    app: t.Any, wrong: t.Any, reconnects: list[dict[str, t.Any]]
) -> None:
    contact_id = add_contact(wrong)
    link_customer(wrong, contact_id)
    add_txn(wrong, "Invoice", "7")
    before = connection_row(app, "acme")
    client = wrong.test_client()
    login(client, ACME_USER)
    response = client.get(f"/qbo/w/{contact_id}/pdf/Invoice/7")
    assert response.status_code == 503
    assert "waiting for a configuration fix" in text(response)
    assert "QBO_TOKEN_ENCRYPTION_KEY" not in text(response)
    assert_untouched(app, before, reconnects)
