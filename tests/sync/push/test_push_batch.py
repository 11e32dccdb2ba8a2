"""The batch push path: bulk claim, per-item outcomes, constant commits; and dead rows."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from sqlalchemy import event

from flask_qbo import get_qbo
from flask_qbo import signals
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.sync.push import push
from flask_qbo.sync.push import rows
from flask_qbo.sync.push.batch import claim_batch
from flask_qbo.sync.queue import LEASE
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def drain() -> int:
    total = 0
    while (n := push.process(get_qbo())) > 0:
        total += n
    return total


def linked_contacts(n: int) -> list[Contact]:
    contacts = [Contact(tenant="acme", first_name=f"P{i}", last_name="Lee") for i in range(n)]
    db.session.add_all(contacts)
    db.session.commit()
    drain()
    assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == n
    return contacts


def customer_of(emulator: t.Any, contact: Contact) -> dict[str, t.Any]:
    link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
    return t.cast(dict, emulator.store.read(TEST_REALM, "Customer", link.qbo_id))


def outbox_row(contact: Contact) -> Outbox:
    return db.session.query(Outbox).filter_by(contact_key=str(contact.id)).order_by(Outbox.id.desc()).first()


def test_per_item_outcomes_validation_stale_and_ok(ctx: t.Any, emulator: t.Any) -> None:
    contacts = linked_contacts(14)
    reactivated, stale, rest = contacts[0], contacts[1], contacts[2:]
    reactivated.archived = True
    db.session.commit()
    drain()
    assert customer_of(emulator, reactivated)["Active"] is False
    # Someone takes the freed name in QBO: reactivating our customer must now fault with 6240.
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "P0 Lee", "GivenName": "Other"})
    # Someone edits another customer in QBO: our SyncToken for it goes stale (5010 in the batch).
    current = customer_of(emulator, stale)
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "CompanyName": "Edited In QBO"},
    )
    pushed: list[dict[str, t.Any]] = []
    failures: list[dict[str, t.Any]] = []
    signals.pushed.connect(lambda sender, **kw: pushed.append(kw), ctx, weak=False)
    signals.sync_failed.connect(lambda sender, **kw: failures.append(kw), ctx, weak=False)
    emulator.reset_counters()
    reactivated.archived = False
    for i, contact in enumerate([stale, *rest]):
        contact.phone = f"555-{i:04d}"
    db.session.commit()
    drain()

    # One batch; only the stale item is retried alone (update 5010, read, merged update): 6240 is not resent.
    assert (emulator.counters[TEST_REALM]["batch"], emulator.counters[TEST_REALM]["requests"]) == (1, 4)
    row = outbox_row(reactivated)
    assert (row.status, row.error_code) == ("failed", "6240")
    link = db.session.query(Customer).filter_by(contact_key=str(reactivated.id)).one()
    assert link.sync_status == "failed" and link.sync_error
    assert [f["contact_key"] for f in failures] == [str(reactivated.id)]
    merged = customer_of(emulator, stale)  # merged through the single path: both edits kept
    assert (merged["CompanyName"], merged["PrimaryPhone"]["FreeFormNumber"]) == ("Edited In QBO", "555-0000")
    assert outbox_row(stale).status == "done"
    for i, contact in enumerate(rest, start=1):
        assert customer_of(emulator, contact)["PrimaryPhone"]["FreeFormNumber"] == f"555-{i:04d}"
        assert outbox_row(contact).status == "done"
        link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
        assert link.sync_status == "synced" and link.synced_values["PrimaryPhone.FreeFormNumber"] == f"555-{i:04d}"
    assert {p["contact_key"] for p in pushed} == {str(c.id) for c in [stale, *rest]}
    logged = db.session.query(SyncLog).filter_by(action="updated").count()
    assert logged >= len(rest) + 1


def test_a_batch_costs_a_constant_number_of_commits(ctx: t.Any, emulator: t.Any) -> None:
    contacts = linked_contacts(30)
    for i, contact in enumerate(contacts):
        contact.phone = f"555-{i:04d}"
    db.session.commit()
    commits: list[int] = []

    def count(conn: t.Any) -> None:
        commits.append(1)

    event.listen(db.engine, "commit", count)
    try:
        assert push.process(get_qbo()) == 30
    finally:
        event.remove(db.engine, "commit", count)
    assert len(commits) <= 8  # per-row claims and completions used 60+
    assert {o.status for o in db.session.query(Outbox)} == {"done"}


def test_unchanged_rows_in_a_batch_are_done_without_a_request(ctx: t.Any, emulator: t.Any) -> None:
    contacts = linked_contacts(12)
    for contact in contacts:
        push.request_sync(contact)
    emulator.reset_counters()
    assert drain() == 12
    assert emulator.counters[TEST_REALM]["requests"] == 0
    assert {o.status for o in db.session.query(Outbox)} == {"done"}


def test_claim_batch_keeps_contact_order_and_reclaims_expired_leases(ctx: t.Any) -> None:
    now = utcnow()
    for key in ("1", "1", "2"):
        db.session.add(Outbox(tenant_key="acme", contact_key=key, op="upsert", status="pending", available_at=now))
    db.session.commit()
    first, second, other = [o.id for o in db.session.query(Outbox).order_by(Outbox.id)]
    assert claim_batch(db.session, "acme", 30, utcnow(), "w1") == [first, other]
    assert claim_batch(db.session, "acme", 30, utcnow(), "w2") == []  # row 2 waits behind row 1
    db.session.query(Outbox).filter(Outbox.id == first).update(
        {"claimed_at": utcnow() - LEASE - dt.timedelta(seconds=1)}
    )
    db.session.commit()
    assert claim_batch(db.session, "acme", 30, utcnow(), "w3") == [first]
    row = db.session.get(Outbox, first)
    assert (row.attempts, row.claimed_by) == (2, "w3")
    assert db.session.get(Outbox, second).status == "pending"


def test_unexpected_error_backs_off_then_goes_dead(ctx: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    ctx.config["QBO_OUTBOX_MAX_ATTEMPTS"] = 2
    failures: list[dict[str, t.Any]] = []
    signals.sync_failed.connect(lambda sender, **kw: failures.append(kw), ctx, weak=False)

    def broken(row_ctx: t.Any) -> None:
        raise RuntimeError("host hook exploded")

    monkeypatch.setattr(rows, "upsert_row", broken)
    db.session.add(Contact(tenant="acme", first_name="Bug", last_name="Gy"))
    db.session.commit()
    drain()
    row = db.session.query(Outbox).one()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "host hook exploded" in row.last_error and row.available_at > utcnow()
    assert failures == []
    row.available_at = utcnow()
    db.session.commit()
    drain()
    db.session.refresh(row)
    assert row.status == "dead" and "RuntimeError" in row.last_error
    assert failures and isinstance(failures[0]["error"], RuntimeError)
    assert db.session.query(SyncLog).filter_by(action="failed").count() == 1
    monkeypatch.undo()
    assert push.retry_all("acme") == 1
    drain()
    assert db.session.query(Outbox).one().status == "done"
    assert len(emulator.store.list(TEST_REALM, "Customer")) == 1


def test_a_database_outage_spends_no_attempt(ctx: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    import sqlalchemy.exc

    ctx.config["QBO_OUTBOX_MAX_ATTEMPTS"] = 2

    def dropped(row_ctx: t.Any) -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(rows, "upsert_row", dropped)
    db.session.add(Contact(tenant="acme", first_name="Out", last_name="Age"))
    db.session.commit()
    for _ in range(4):  # twice the attempts a failing row gets
        drain()
        row = db.session.query(Outbox).one()
        assert (row.status, row.attempts) == ("pending", 0)
        assert "server closed the connection" in row.last_error
        row.available_at = utcnow()
        db.session.commit()
    monkeypatch.undo()
    drain()
    assert db.session.query(Outbox).one().status == "done"


def test_edit_racing_a_claim_is_not_coalesced_into_the_claimed_row(ctx: t.Any) -> None:
    """A worker claims the pending row between capture's SELECT and its UPDATE: a new row must follow."""
    from sqlalchemy.sql.dml import Update

    contact = Contact(tenant="acme", first_name="Race", last_name="Y")
    db.session.add(contact)
    db.session.commit()
    fired: list[int] = []

    def claim_in_between(conn: t.Any, clause: t.Any, *args: t.Any) -> None:
        if isinstance(clause, Update) and clause.table.name == "qbo_outbox" and not fired:
            fired.append(1)
            conn.exec_driver_sql("UPDATE qbo_outbox SET status = 'in_progress'")

    event.listen(db.engine, "before_execute", claim_in_between)
    try:
        contact.phone = "555-0101"
        db.session.commit()
    finally:
        event.remove(db.engine, "before_execute", claim_in_between)
    assert fired
    assert [o.status for o in db.session.query(Outbox).order_by(Outbox.id)] == ["in_progress", "pending"]
