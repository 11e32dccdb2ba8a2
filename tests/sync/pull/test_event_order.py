"""An inbox event without Intuit's time is ordered by its arrival against QBO's own times."""

from __future__ import annotations

import datetime as dt

from flask_qbo.models import Inbox
from flask_qbo.models import Transaction
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import mirror
from flask_qbo.sync.pull.apply import Applier
from flask_qbo.sync.pull.ordering import happened_by
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db
from tests.sync.pull.pull_support import pull

R = TEST_REALM


def invoice(version: int, updated: dt.datetime) -> dict:
    """Invoice 5 as QBO wrote it at ``updated`` (no customer, so no balance to refresh)."""
    return {
        "Id": "5",
        "SyncToken": str(version),
        "DocNumber": "1005",
        "TotalAmt": 10.0 * (version + 1),
        "Balance": 10.0 * (version + 1),
        "MetaData": {"CreateTime": updated.isoformat(), "LastUpdatedTime": updated.isoformat()},
    }


def inbox(event_id: str, *, event_time: dt.datetime | None, received_at: dt.datetime) -> Inbox:
    return Inbox(
        event_id=event_id,
        realm_id=R,
        entity="Invoice",
        entity_id="5",
        operation="Delete",
        event_time=event_time,
        received_at=received_at,
    )


def test_happened_by_is_intuits_time_else_the_arrival() -> None:
    now = utcnow()
    timed = inbox("t", event_time=now - dt.timedelta(hours=3), received_at=now)
    timeless = inbox("n", event_time=None, received_at=now - dt.timedelta(minutes=1))
    assert happened_by(timed) == now - dt.timedelta(hours=3)
    assert happened_by(timeless) == now - dt.timedelta(minutes=1)
    # Sorted together, the timeless event sits where it arrived, after the older timed change.
    assert sorted([timeless, timed], key=happened_by) == [timed, timeless]


def test_a_timeless_delete_is_not_undone_by_a_version_written_before_it_arrived(app, emulator, connected) -> None:
    """The mirror holds the version of 09:00; QBO edits it at 10:00, deletes it, and the Delete arrives
    without a time at 10:50.  The 10:00 version, read before the delete and applied after it (a CDC
    page or an Update event's read racing the Delete), must not bring the invoice back."""
    now = utcnow()
    nine, ten, arrival = now - dt.timedelta(hours=2), now - dt.timedelta(hours=1), now - dt.timedelta(minutes=10)
    with app.app_context():
        mirror.upsert_transaction(db.session, R, "Invoice", invoice(0, nine))
        db.session.add(inbox("ce-delete-5", event_time=None, received_at=arrival))
        db.session.commit()
    pull(app)
    with app.app_context():
        row = db.session.query(Transaction).filter_by(realm_id=R, qbo_id="5").one()
        assert row.deleted and row.qbo_updated_at == arrival
        qbo = get_qbo(app)
        Applier(qbo, qbo.connection("acme")).transaction("Invoice", invoice(1, ten))
        db.session.commit()
        assert db.session.query(Transaction).filter_by(realm_id=R, qbo_id="5").one().deleted


def test_a_timed_delete_keeps_intuits_time(app, emulator, connected) -> None:
    now = utcnow()
    deleted_at = now - dt.timedelta(minutes=30)
    with app.app_context():
        mirror.upsert_transaction(db.session, R, "Invoice", invoice(0, now - dt.timedelta(hours=2)))
        db.session.add(inbox("ce-delete-5", event_time=deleted_at, received_at=now))
        db.session.commit()
    pull(app)
    with app.app_context():
        row = db.session.query(Transaction).filter_by(realm_id=R, qbo_id="5").one()
        assert row.deleted and row.qbo_updated_at == deleted_at
