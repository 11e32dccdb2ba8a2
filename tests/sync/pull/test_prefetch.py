"""An inbox batch reads its rows in bulk (flask_qbo.sync.pull.prefetch): SQL statements per applied change.

Issue 16: applying webhook events cost about nine statements per change (two
lookups of the mirror row, the contact, the unpushed edits, and a flush per
object), each a round trip on PostgreSQL.  Counted here with an engine
listener: a batch's statements no longer grow with its size, at most two per
applied change (on PostgreSQL, tests/integration and benchmarks/scale_compare
count well under one), and what is written is what the one-by-one path wrote.
"""

from __future__ import annotations

import typing as t
import uuid

import sqlalchemy as sa

from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import SyncLog
from flask_qbo.models import Transaction
from flask_qbo.sync.pull import pull
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import Contact
from tests.hostapp import db

from .pull_support import add_customer
from .pull_support import add_invoice


def _event(entity: str, entity_id: str) -> Inbox:
    return Inbox(event_id=uuid.uuid4().hex, realm_id=TEST_REALM, entity=entity, entity_id=entity_id, operation="Update")


def _linked_customers(app: t.Any, count: int) -> list[tuple[int, str]]:
    with app.app_context():
        for n in range(count):
            db.session.add(Contact(tenant="acme", first_name=f"Pre{n}", last_name="Fetch", email=f"p{n}@pre.test"))
        db.session.commit()
    push_now(app)
    with app.app_context():
        pairs = [
            (int(c.contact_key), c.qbo_id) for c in db.session.query(Customer).filter(Customer.contact_key.isnot(None))
        ]
        db.session.commit()
    return pairs


def _statements(app: t.Any) -> tuple[int, int]:
    """Apply the pending events; (statements executed, changes applied)."""
    counted = [0]

    def count(*args: t.Any) -> None:
        counted[0] += 1

    with app.app_context():
        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            applied = pull.process(limit=pull.BATCH)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    return counted[0], applied


def _edit_in_qbo(app: t.Any, emulator: t.Any, pairs: list[tuple[int, str]], note: str) -> None:
    with app.app_context():
        for contact_id, qbo_id in pairs:
            current = emulator.store.read(TEST_REALM, "Customer", qbo_id)
            emulator.store.update(
                TEST_REALM,
                "Customer",
                {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, "Notes": f"{note} {contact_id}"},
            )
            db.session.add(_event("Customer", qbo_id))
        db.session.commit()


def test_a_batch_costs_the_same_statements_whatever_its_size(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    pairs = _linked_customers(app, 40)
    _edit_in_qbo(app, emulator, pairs[:5], "small")
    small, applied_small = _statements(app)
    _edit_in_qbo(app, emulator, pairs, "large")
    large, applied_large = _statements(app)
    assert (applied_small, applied_large) == (5, 40)
    # Prefetched: no lookup per change, one flush per table.  Only the sync log's INSERT may
    # still be one statement per row (SQLite; PostgreSQL sends the rows in one).  A few
    # bookkeeping statements (the token and read counters) come and go with timing.
    assert large - small <= applied_large - applied_small + 3
    assert large / applied_large <= 2
    with app.app_context():
        notes = {c.id: c.notes for c in db.session.query(Contact)}
        logged = db.session.query(SyncLog).filter_by(direction="pull", action="updated").count()
        db.session.commit()
    assert notes == {contact_id: f"large {contact_id}" for contact_id, _ in pairs}
    assert logged == 45


def test_a_row_new_to_the_mirror_is_inserted_once_however_often_the_batch_names_it(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """A new customer and its invoices in one batch: the lookups after the insert find the added row."""
    customer = add_customer(emulator, GivenName="Nia", FamilyName="New")
    invoices = [add_invoice(emulator, customer["Id"], amount=10.0 * (n + 1)) for n in range(3)]
    with app.app_context():
        db.session.add(_event("Customer", customer["Id"]))
        db.session.add_all(_event("Invoice", inv["Id"]) for inv in invoices)
        db.session.commit()
    statements, applied = _statements(app)
    assert applied >= 4 and statements / applied <= 5  # a new contact costs its INSERT and key
    with app.app_context():
        rows = db.session.query(Customer).filter_by(qbo_id=customer["Id"]).all()
        documents = db.session.query(Transaction).filter_by(customer_qbo_id=customer["Id"]).count()
        db.session.commit()
    assert len(rows) == 1 and documents == 3


def test_a_queued_invoice_is_not_an_edit_of_the_contact_in_a_batch(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """CRM edit, then a newer QBO edit, then an invoice queued for the contact; then the batch pull.

    The batch's bulk read of unpushed edits (prefetch._unpushed) counted every
    outbox row of the contact, the invoice's too, so the queued invoice (newer
    than QBO's edit) made the older CRM edit win: the soak's p24, p31 and p61.
    The single-event path (capture.latest_unpushed_edit) always left document rows out.
    """
    import datetime as dt

    from flask_qbo.models import Outbox
    from flask_qbo.models import OutboxOp

    [(contact_id, qbo_id)] = _linked_customers(app, 1)
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        contact.notes = "crm edit"
        db.session.commit()
        row = db.session.query(Outbox).filter_by(status="pending").one()
        row.updated_at -= dt.timedelta(seconds=10)
        db.session.commit()
    _edit_in_qbo(app, emulator, [(contact_id, qbo_id)], "newer qbo edit")
    with app.app_context():
        db.session.add(
            Outbox(tenant_key="acme", contact_key=str(contact_id), op=OutboxOp.CREATE_DOC, target={"document_id": 1})
        )
        db.session.commit()
    assert _statements(app)[1] == 1
    with app.app_context():
        assert db.session.get(Contact, contact_id).notes == f"newer qbo edit {contact_id}"
        db.session.commit()
