"""A pull and a push writing the same customer rows at once on a real PostgreSQL never deadlock.

Push records a batch by updating ``qbo_customer`` rows in contact-key order.
Here every round gives the pull a reason to rewrite the very same rows at the
same moment: each customer gets a new invoice in QBO (the webhook events make
the pull re-read every customer for its balance, in QBO id order), while the
CRM edits every contact (one batch of 30 for push).  The contacts are linked
so that QBO id order is the reverse of contact-key order, the worst case; a
short pause on each customer UPDATE stretches both transactions so they
overlap.  A pull that locked rows in its own order would deadlock within a
few rounds; with the customer lock order (:mod:`flask_qbo.sync.pull.apply`) neither side
ever sees a deadlock error, and both sides converge.

Every scenario runs on each host shape (``host_kind``): the lock order, the
purge and the pull's writes must not care how the host stores a contact.
"""

from __future__ import annotations

import threading
import time
import typing as t
import uuid

import sqlalchemy as sa
from cryptography.fernet import Fernet

from flask_qbo import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.sync.payload import customer_hash
from flask_qbo.sync.payload import qbo_values
from flask_qbo.sync.pull import mirror
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.hostapp import in_app_thread
from tests.hosts.adapter import Host
from tests.hosts.adapter import build

CUSTOMERS = 30  # one full push batch
ROUNDS = 8
#: Seconds each customer UPDATE is held back, so the two transactions overlap.
STRETCH = 0.004


def _is_deadlock(exc: BaseException | None) -> bool:
    while exc is not None:
        if type(exc).__name__ == "DeadlockDetected" or "deadlock detected" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _link_customers(host: Host, emu: t.Any) -> list[int]:
    """Contacts linked to QBO customers created in reverse order: QBO id order opposes contact-key order."""
    qbo, db = get_qbo(host.app), host.db
    fields = qbo._registration().fields
    with qbo.suppress_capture():
        contacts = [host.contact(f"Lock{i} Order") for i in range(CUSTOMERS)]
        db.session.add_all(contacts)
    db.session.commit()
    connection = qbo.connection(host.tenant)
    for contact in sorted(contacts, key=lambda c: str(c.id), reverse=True):
        given = host.values(contact)["name"].split()[0]
        data = emu.store.create(
            TEST_REALM,
            "Customer",
            {"DisplayName": f"{given} Order", "GivenName": given, "FamilyName": "Order"},
        )
        link = mirror.upsert_customer(db.session, connection, data, contact_key=str(contact.id))
        link.synced_values = qbo_values(data, fields)
        link.last_pushed_hash = customer_hash(link.synced_values)
    db.session.commit()
    return [c.id for c in contacts]


def _invoice_everyone(db: t.Any, emu: t.Any, round_no: int) -> None:
    """A new invoice per customer in QBO, announced as webhook events (the pull re-reads every customer)."""
    line = [
        {
            "Amount": 10 + round_no,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
        }
    ]
    events = []
    for customer in emu.store.list(TEST_REALM, "Customer"):
        invoice = emu.store.create(TEST_REALM, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line})
        events.append(
            Inbox(
                event_id=uuid.uuid4().hex,
                realm_id=TEST_REALM,
                entity="Invoice",
                entity_id=invoice["Id"],
                operation="Create",
                event_time=utcnow(),
            )
        )
    db.session.add_all(events)
    db.session.commit()


def test_concurrent_pull_and_push_batches_never_deadlock_and_converge(pg: tuple[str, str], host_kind: str) -> None:
    emu = make_emulator()
    host = build(host_kind, pg[0], QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(), QBO_MAX_RETRIES=0)
    app, db, model = host.app, host.db, host.contact_model
    try:
        attach_emulator(app, emu)
        connect_tenant(app, emu, host.tenant, TEST_REALM)
        deadlocks: list[str] = []
        writers: set[str] = set()  # the sides that updated customer rows in the current round
        # Which side locks the customer rows first is forced, not left to luck: in even rounds
        # push waits for pull's first write before taking its locks, in odd rounds the reverse.
        wrote = {"push": threading.Event(), "pull": threading.Event()}
        first = ["pull"]
        with app.app_context():
            engine = db.engine
            ids = _link_customers(host, emu)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def stretch(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
            side = threading.current_thread().name
            if side in wrote and side != first[0] and "FROM qbo_customer" in statement and "FOR UPDATE" in statement:
                wrote[first[0]].wait(10)  # the other side holds its locks and is writing
            if statement.startswith("UPDATE qbo_customer"):
                writers.add(side)
                if side in wrote:
                    wrote[side].set()
                time.sleep(STRETCH)

        @sa.event.listens_for(engine, "handle_error")
        def record(context: t.Any) -> None:  # seen even where the library catches and logs the error
            if _is_deadlock(context.original_exception):
                deadlocks.append(str(context.original_exception).splitlines()[0])

        def run(side: t.Callable[[t.Any], int], start: threading.Barrier, errors: list[BaseException]) -> None:
            try:
                with app.app_context():
                    qbo = get_qbo(app)
                    start.wait()
                    side(qbo)
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assertions below
                errors.append(exc)

        errors: list[BaseException] = []
        contended = 0  # rounds in which both sides really rewrote customer rows
        for round_no in range(ROUNDS):
            with app.app_context():
                _invoice_everyone(db, emu, round_no)
                for contact in db.session.query(model).filter(model.id.in_(ids)):
                    contact.phone = f"555-{round_no:02d}-{contact.id:04d}"
                db.session.commit()
            start = threading.Barrier(2)
            writers.clear()
            first[0] = ("pull", "push")[round_no % 2]
            for event in wrote.values():
                event.clear()
            threads = [
                threading.Thread(
                    target=run, name="push", args=(lambda qbo: push.process(qbo, limit=CUSTOMERS), start, errors)
                ),
                threading.Thread(target=run, name="pull", args=(pull.process, start, errors)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert not errors, errors
            assert deadlocks == []
            # When push goes first, it records QBO's answer with the new balances and the pull
            # may find nothing left to write; when pull goes first, both sides write.
            contended += writers == {"push", "pull"}
            with app.app_context():
                pending = db.session.query(Inbox).filter(Inbox.status != "done").count()
                assert pending == 0, f"round {round_no}: {pending} events not applied"
        assert contended >= ROUNDS // 2, f"only {contended} of {ROUNDS} rounds had both sides writing"

        with app.app_context():
            qbo = get_qbo(app)
            while push.process(qbo, limit=CUSTOMERS):
                pass
            assert {row.status for row in db.session.query(Outbox)} == {"done"}
            remote = {c["Id"]: c for c in emu.store.list(TEST_REALM, "Customer")}
            mirrored = {row.qbo_id: row for row in db.session.query(Customer).filter_by(realm_id=TEST_REALM)}
            assert set(mirrored) == set(remote)
            for qbo_id, data in remote.items():
                row = mirrored[qbo_id]
                assert (row.sync_token, row.phone) == (data["SyncToken"], data["PrimaryPhone"]["FreeFormNumber"])
                assert float(row.balance) == data["Balance"] == sum(10 + r for r in range(ROUNDS))
            phones = {str(c.id): c.phone for c in db.session.query(model).filter(model.id.in_(ids))}
            assert {row.contact_key: row.phone for row in mirrored.values()} == phones
            assert set(phones.values()) == {f"555-{ROUNDS - 1:02d}-{cid:04d}" for cid in ids}
        # Neither side rewrote a name: the pull brought back what push sent, in the host's own shape.
        assert sorted(c["name"] for c in host.read_all()) == sorted(f"Lock{i} Order" for i in range(CUSTOMERS))
    finally:
        host.dispose()  # the schema is dropped next: no pooled connection may hold it


# -- a purge racing a pull ---------------------------------------------------------------
#
# Disconnecting with "delete synced data" while the pull applies events: the
# purge takes the connection row FOR UPDATE before deleting anything, and the
# pull holds it (FOR KEY SHARE) before its first write.  Whichever gets the row
# first finishes first; neither leaves a row behind for the purged tenant.

#: Seconds either side may wait for the other before the test fails (never reached when it works).
WAIT = 20


def _purge_host(pg_url: str, kind: str) -> Host:
    emu = make_emulator()
    host = build(kind, pg_url, QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(), QBO_MAX_RETRIES=0)
    app, db = host.app, host.db
    attach_emulator(app, emu)
    connect_tenant(app, emu, host.tenant, TEST_REALM)
    with app.app_context():
        events = []
        for i in range(5):
            data = emu.store.create(TEST_REALM, "Customer", {"DisplayName": f"Purge {i}"})
            events.append(
                Inbox(
                    event_id=uuid.uuid4().hex,
                    realm_id=TEST_REALM,
                    entity="Customer",
                    entity_id=data["Id"],
                    operation="Create",
                    event_time=utcnow(),
                )
            )
        db.session.add_all(events)
        db.session.commit()
    return host


def _purge_through_the_admin_page(host: Host) -> None:
    """The admin disconnects with "delete synced data" (under crm2's CSRFProtect too)."""
    from tests.connection.test_connect_support import csrf

    client = host.app.test_client()
    host.login(client)
    token = csrf(client, "/qbo/admin/disconnect")
    response = client.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": "purge"})
    assert response.status_code == 302, response.status_code


def _wait_for_a_lock_wait(engine: sa.Engine) -> None:
    """Block until some session of this database waits on a row lock (the other side is stuck behind us)."""
    deadline = time.monotonic() + WAIT
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the other side never waited for the lock")


def _left_for_the_tenant(host: Host) -> dict[str, int]:
    from flask_qbo.models import Connection

    db = host.db
    with host.app.app_context():
        counts = {
            "customers": db.session.query(Customer).filter_by(tenant_key=host.tenant).count(),
            "inbox": db.session.query(Inbox).filter_by(realm_id=TEST_REALM).count(),
            "connections": db.session.query(Connection).filter_by(tenant_key=host.tenant).count(),
        }
        db.session.remove()
        return counts


def test_a_purge_waits_for_the_pull_holding_the_connection_then_deletes_its_rows(
    pg: tuple[str, str], monkeypatch: t.Any, caplog: t.Any, host_kind: str
) -> None:
    import logging

    host = _purge_host(pg[0], host_kind)
    app = host.app
    try:
        held, resume = threading.Event(), threading.Event()
        real = pull.lock_customers

        def lock_then_pause(*args: t.Any, **kwargs: t.Any) -> None:
            real(*args, **kwargs)  # the connection is held already: the purge must wait for this commit
            held.set()
            assert resume.wait(WAIT)

        monkeypatch.setattr(pull, "lock_customers", lock_then_pause)
        out: dict[str, t.Any] = {}
        with caplog.at_level(logging.WARNING):
            puller = in_app_thread(app, "pull", lambda: pull.process(get_qbo(app)), out)
            assert held.wait(WAIT)
            purger = in_app_thread(app, "purge", lambda: _purge_through_the_admin_page(host), out)
            with app.app_context():
                _wait_for_a_lock_wait(host.db.engine)
            resume.set()
            puller.join(WAIT)
            purger.join(WAIT)
        assert not puller.is_alive() and not purger.is_alive()
        assert not any(isinstance(value, BaseException) for value in out.values()), out
        assert out["pull"] == 5  # the pull committed first...
        assert _left_for_the_tenant(host) == {"customers": 0, "inbox": 0, "connections": 0}  # ...the purge took it all
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        host.dispose()  # the schema is dropped next: no pooled connection may hold it


def test_a_pull_that_finds_the_purge_holding_the_connection_writes_nothing(
    pg: tuple[str, str], monkeypatch: t.Any, caplog: t.Any, host_kind: str
) -> None:
    """The pull has read QBO; the purge takes the connection before the pull's first write."""
    import logging

    host = _purge_host(pg[0], host_kind)
    app = host.app
    try:
        read, go_on = threading.Event(), threading.Event()
        locked, resume = threading.Event(), threading.Event()
        real = pull._balance_customers

        def read_then_pause(*args: t.Any, **kwargs: t.Any) -> t.Any:
            found = real(*args, **kwargs)  # after the pull's reads (no balance to re-read); its hold comes next
            read.set()
            assert go_on.wait(WAIT)
            return found

        def pause_the_purge(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
            if threading.current_thread().name == "purge" and "FOR UPDATE" in statement and not locked.is_set():
                locked.set()
                assert resume.wait(WAIT)

        monkeypatch.setattr(pull, "_balance_customers", read_then_pause)
        with app.app_context():
            engine = host.db.engine
        sa.event.listen(engine, "after_cursor_execute", pause_the_purge)
        out: dict[str, t.Any] = {}
        try:
            with caplog.at_level(logging.WARNING):
                puller = in_app_thread(app, "pull", lambda: pull.process(get_qbo(app)), out)
                assert read.wait(WAIT)
                purger = in_app_thread(app, "purge", lambda: _purge_through_the_admin_page(host), out)
                assert locked.wait(WAIT)
                go_on.set()
                _wait_for_a_lock_wait(engine)  # the pull, at its hold on the connection
                resume.set()
                purger.join(WAIT)
                puller.join(WAIT)
        finally:
            sa.event.remove(engine, "after_cursor_execute", pause_the_purge)
        assert not puller.is_alive() and not purger.is_alive()
        assert not any(isinstance(value, BaseException) for value in out.values()), out
        assert out["pull"] == 0
        assert _left_for_the_tenant(host) == {"customers": 0, "inbox": 0, "connections": 0}
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        host.dispose()  # the schema is dropped next: no pooled connection may hold it
