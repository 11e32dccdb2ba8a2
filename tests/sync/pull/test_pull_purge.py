"""Disconnect with "delete synced data" while sync works on the same connection.

Each test forces the interleaving: the sync job is stopped at a hook (an
``Event`` pair) right where it has loaded the connection or read QBO, the
purge runs and commits in the main thread, then the job goes on.  It must stop
cleanly: no exception, no error log, and no row written for the purged tenant.
"""

from __future__ import annotations

import logging
import threading
import typing as t

import pytest

from flask_qbo.connection import upkeep
from flask_qbo.extension import QBO
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.connection.test_connect_support import csrf
from tests.hostapp import ACME_ADMIN
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import route_webhooks

#: Seconds a side waits for the other at a hook before the test fails (never reached when it works).
WAIT = 10


class Pause:
    """Stops a sync thread at a hook until the main thread has purged."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.resume = threading.Event()
        self.hit = False  # the job really stopped at the hook (``reached`` is also set when it ends)

    def __call__(self) -> None:
        if not self.reached.is_set():
            self.hit = True
            self.reached.set()
            assert self.resume.wait(WAIT), "the purge never finished"


def _purge(app: t.Any) -> None:
    """The admin's "Disconnect" with "Delete synced data", through the admin page."""
    client = app.test_client()
    login(client, ACME_ADMIN)
    token = csrf(client, "/qbo/admin/disconnect")
    assert client.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": "purge"}).status_code == 302


def _interleave(app: t.Any, job: t.Callable[[QBO], t.Any], pause: Pause) -> list[BaseException]:
    """Run ``job`` in a thread, purge when it reaches the hook, let it finish; returns what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                job(get_qbo(app))
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                raised.append(exc)
            finally:
                pause.reached.set()  # never leave the main thread waiting

    thread = threading.Thread(target=run, name="sync")
    thread.start()
    assert pause.reached.wait(WAIT), "the job never reached the hook"
    _purge(app)
    pause.resume.set()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert pause.hit, "the job finished without reaching the hook: nothing was interleaved"
    return raised


def _rows_left(app: t.Any) -> dict[str, int]:
    with app.app_context():
        return {
            "customers": db.session.query(Customer).filter_by(tenant_key="acme").count(),
            "transactions": db.session.query(Transaction).filter_by(realm_id=TEST_REALM).count(),
            "inbox": db.session.query(Inbox).filter_by(realm_id=TEST_REALM).count(),
            "outbox": db.session.query(Outbox).filter_by(tenant_key="acme").count(),
            "connections": db.session.query(Connection).filter_by(tenant_key="acme").count(),
        }


NOTHING = {"customers": 0, "transactions": 0, "inbox": 0, "outbox": 0, "connections": 0}


@pytest.fixture
def events(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """Pending webhook events for two customers and an invoice of acme's company."""
    route_webhooks(app, emulator)
    first = add_customer(emulator, GivenName="Pia", FamilyName="Purge")
    add_customer(emulator, GivenName="Ole", FamilyName="Purge")
    add_invoice(emulator, first["Id"], 40)
    emulator.webhooks.flush()
    with app.app_context():
        assert db.session.query(Inbox).filter_by(status="pending").count() == 3


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_purge_after_the_inbox_loaded_the_connection(
    app: t.Any, events: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pause = Pause()
    real = QBO._connection_for_realm

    def loaded(self: QBO, realm_id: str) -> Connection | None:
        conn = real(self, realm_id)
        pause()
        return conn

    monkeypatch.setattr(QBO, "_connection_for_realm", loaded)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, pull.process, pause)
    assert raised == []
    assert _errors(caplog) == []
    assert _rows_left(app) == NOTHING


def test_purge_after_the_events_were_claimed(
    app: t.Any, events: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim commits (the connection expires), the purge deletes it and the claimed rows."""
    pause = Pause()
    real = pull._claim

    def claimed(*args: t.Any, **kwargs: t.Any) -> list[Inbox]:
        rows = real(*args, **kwargs)
        pause()
        return rows

    monkeypatch.setattr(pull, "_claim", claimed)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, pull.process, pause)
    assert raised == []
    assert _errors(caplog) == []
    assert _rows_left(app) == NOTHING


def test_purge_while_the_inbox_reads_qbo(
    app: t.Any, events: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The purge lands between the reads and the writes: nothing read may be written for the purged tenant."""
    pause = Pause()
    real = pull._fetch

    def fetched(*args: t.Any, **kwargs: t.Any) -> t.Any:
        found = real(*args, **kwargs)
        pause()
        return found

    monkeypatch.setattr(pull, "_fetch", fetched)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, pull.process, pause)
    assert raised == []
    assert _errors(caplog) == []
    assert _rows_left(app) == NOTHING


# -- the same race on the other sync paths -------------------------------------------


def _contacts(app: t.Any, emulator: t.Any, count: int, *, linked: bool) -> None:
    """``count`` contacts with a pending outbox row each (linked ones: an edit of a mirrored customer)."""
    from flask_qbo.sync.pull import mirror

    with app.app_context():
        qbo = get_qbo(app)
        with qbo.suppress_capture():
            contacts = [Contact(tenant="acme", first_name=f"Pu{i}", last_name="Rge") for i in range(count)]
            db.session.add_all(contacts)
        db.session.commit()
        if linked:
            for contact in contacts:
                data = add_customer(emulator, GivenName=contact.first_name, FamilyName="Rge")
                mirror.upsert_customer(db.session, qbo.connection("acme"), data, contact_key=str(contact.id))
            db.session.commit()
        for contact in contacts:
            contact.phone = "555-0100"  # captured: one outbox row per contact
        db.session.commit()
        assert db.session.query(Outbox).filter_by(status="pending").count() == count


def _pause_after(monkeypatch: pytest.MonkeyPatch, owner: t.Any, name: str, pause: Pause) -> None:
    """Make ``owner.name`` pause right after it returned (the call itself is real)."""
    real = getattr(owner, name)

    def paused(*args: t.Any, **kwargs: t.Any) -> t.Any:
        result = real(*args, **kwargs)
        pause()
        return result

    monkeypatch.setattr(owner, name, paused)


@pytest.mark.parametrize(("linked", "method"), [(True, "sparse_update"), (False, "create")])
def test_purge_while_a_push_is_in_flight(
    app: t.Any,
    emulator: t.Any,
    connected: t.Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    linked: bool,
    method: str,
) -> None:
    """QBO answered the push; the purge lands before the answer is recorded."""
    from flask_qbo.intuit.client import QBOClient

    _contacts(app, emulator, 1, linked=linked)
    pause = Pause()
    _pause_after(monkeypatch, QBOClient, method, pause)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, push.process, pause)
    assert raised == []
    assert _errors(caplog) == []
    assert _rows_left(app) == NOTHING


def test_purge_while_a_push_batch_is_in_flight(
    app: t.Any,
    emulator: t.Any,
    connected: t.Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flask_qbo.intuit.client import QBOClient

    _contacts(app, emulator, int(app.config["QBO_BATCH_THRESHOLD"]) + 2, linked=True)
    pause = Pause()
    _pause_after(monkeypatch, QBOClient, "batch", pause)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, push.process, pause)
    assert raised == []
    assert _errors(caplog) == []
    assert _rows_left(app) == NOTHING


def test_purge_while_the_cdc_poll_reads_qbo(
    app: t.Any,
    emulator: t.Any,
    connected: t.Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    customer = add_customer(emulator, GivenName="Cdc", FamilyName="Purge")
    add_invoice(emulator, customer["Id"], 25)
    pause = Pause()
    _pause_after(monkeypatch, pull, "read_many", pause)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, pull.poll_due, pause)
    assert raised == []
    assert _errors(caplog) == []
    assert _rows_left(app) == NOTHING


def test_purge_while_upkeep_refreshes_the_tokens(
    app: t.Any,
    connected: t.Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.config["QBO_TOKEN_REFRESH_LEEWAY"] = 10 * 24 * 3600  # every access token is due for a refresh
    pause = Pause()
    real = upkeep._upkeep_one

    def loaded(qbo: t.Any, conn: Connection, now: t.Any) -> list[str]:
        pause()
        return real(qbo, conn, now)

    monkeypatch.setattr(upkeep, "_upkeep_one", loaded)
    with caplog.at_level(logging.WARNING):
        raised = _interleave(app, upkeep.upkeep, pause)
    assert raised == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert _rows_left(app) == NOTHING


def test_purge_while_upkeep_is_about_to_warn_sends_no_warning(
    app: t.Any,
    connected: t.Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The expiry warning is due, and a purge lands before upkeep holds the connection: nobody is warned."""
    import datetime as dt

    from flask_qbo import signals
    from flask_qbo.models import utcnow

    with app.app_context():
        db.session.query(Connection).filter_by(tenant_key="acme").update(
            {"refresh_expires_at": utcnow() + dt.timedelta(days=3), "warnings_sent": []}
        )
        db.session.commit()
    warned: list[int] = []
    pause = Pause()
    real = upkeep.hold_connection

    def held(session: t.Any, conn: Connection) -> None:
        pause()
        real(session, conn)

    monkeypatch.setattr(upkeep, "hold_connection", held)
    with signals.expiry_warning.connected_to(lambda sender, **kw: warned.append(kw["days"]), app):
        with caplog.at_level(logging.WARNING):
            raised = _interleave(app, upkeep.upkeep, pause)
    assert raised == []
    assert warned == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert _rows_left(app) == NOTHING
