"""Merges are never lost: the documented ``deletedid`` spelling, and merges repaired without their event.

QBO reports a merged-away customer to every path but the Merge webhook only as
gone (CDC ``status: Deleted``, 610 on a read, absent from a query).  Each test
loses the Merge event one way and checks that the contact link and the
transactions still end up on the survivor, or, with nothing to follow, that the
customer is only inactivated and the sync log says why.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import typing as t
from functools import partial

import pytest

from flask_qbo.emulator.errors import EmulatorFault
from flask_qbo.intuit.notifications import compute_signature
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxStatus
from flask_qbo.models import SyncLog
from flask_qbo.models import SyncStatus
from flask_qbo.models import Transaction
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import merges
from flask_qbo.sync.pull.apply import Applier
from flask_qbo.sync.pull.reads import read_many
from flask_qbo.sync.pull.reconcile import reconcile
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import make_contact
from tests.sync.pull.pull_support import poll
from tests.sync.pull.pull_support import pull
from tests.sync.pull.pull_support import route_webhooks
from tests.sync.pull.test_pull import link

R = TEST_REALM


class Merge(t.NamedTuple):
    gone: str
    keep: str
    contact: int
    invoices: list[str]


def mirrored_merge_setup(app: t.Any, emulator: t.Any, invoices: int = 2) -> Merge:
    """A contact linked to a customer with ``invoices`` invoices, all mirrored; a second customer to merge into."""
    gone = add_customer(emulator, GivenName="Old", FamilyName="Dup")
    keep = add_customer(emulator, GivenName="Kept", FamilyName="One")
    cid = make_contact(app, first_name="Old", last_name="Dup")
    link(app, emulator, gone, cid)
    made = [add_invoice(emulator, gone["Id"], 40 + i)["Id"] for i in range(invoices)]
    poll(app)
    with app.app_context():
        mirrored = db.session.query(Transaction).filter_by(customer_qbo_id=gone["Id"]).count()
    assert mirrored == invoices
    return Merge(gone["Id"], keep["Id"], cid, made)


def next_cdc_window(app: t.Any, emulator: t.Any) -> None:
    """What happened so far lies before the next CDC window (its overlap included)."""
    emulator.clock.advance(3600)
    with app.app_context():
        db.session.query(Connection).filter_by(tenant_key="acme").update({"cdc_cursor": emulator.clock.now()})
        db.session.commit()


def assert_merged(app: t.Any, merge: Merge) -> None:
    """The link and every transaction moved to the survivor; the merged-away row remembers where it went."""
    with app.app_context():
        old = db.session.query(Customer).filter_by(qbo_id=merge.gone).one()
        new = db.session.query(Customer).filter_by(qbo_id=merge.keep).one()
        assert (old.active, old.merged_into, old.contact_key) == (False, merge.keep, None)
        assert new.contact_key == str(merge.contact)
        moved = {r.qbo_id for r in db.session.query(Transaction).filter_by(customer_qbo_id=merge.keep)}
        assert moved == set(merge.invoices)
        assert db.session.query(Transaction).filter_by(customer_qbo_id=merge.gone).count() == 0


def queue_merge_event(app: t.Any, event_id: str, *, keep: str, gone: str) -> None:
    """Store a Merge webhook event (``gone`` merged into ``keep``) as if it had just arrived."""
    with app.app_context():
        db.session.add(
            Inbox(
                event_id=event_id,
                realm_id=R,
                entity="Customer",
                entity_id=keep,
                operation="Merge",
                deleted_id=gone,
                event_time=utcnow(),
            )
        )
        db.session.commit()


def pull_log(app: t.Any, action: str) -> list[tuple[str | None, str | None]]:
    with app.app_context():
        rows = db.session.query(SyncLog).filter_by(direction="pull", action=action).order_by(SyncLog.id)
        return [(row.qbo_id, row.message) for row in rows]


def test_documented_lowercase_deletedid_merge_moves_link_and_invoices(app, client, emulator, connected):
    """Intuit's reference spells the merged-away id ``data.deletedid``; it is a merge, not an update of 123."""
    merge = mirrored_merge_setup(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    # Shape as in Intuit's webhook data-object reference ("Customer merged"):
    # https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/data-objects
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "id": f"00000000-0000-0000-0000-000000000000-Customer-{merge.keep}",
                "source": "intuit.test",
                "type": "qbo.customer.merged.v1",
                "datacontenttype": "application/json",
                "time": "2025-12-04T15:25:05Z",
                "intuitentityid": merge.keep,
                "intuitaccountid": R,
                "data": {"deletedid": merge.gone},
            }
        ]
    ).encode()
    signature = compute_signature(body, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"])
    answer = client.post(
        "/qbo/webhooks",
        data=body,
        headers={"intuit-signature": signature, "Content-Type": "application/cloudevents+json"},
    )
    assert answer.status_code == 200 and answer.get_json()["stored"] == 1
    pull(app)
    assert_merged(app, merge)
    assert pull_log(app, "merged") == [(merge.keep, f"Customer {merge.gone} merged in.")]


def test_a_lost_merge_event_is_repaired_by_the_next_cdc(app, emulator, connected):
    """No webhook at all: CDC reports the customer Deleted and its invoices on the survivor; the link follows."""
    merge = mirrored_merge_setup(app, emulator)
    next_cdc_window(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    emulator.clock.advance(5)
    # The emulator answers as QBO does: the merged-away customer is a Deleted stub, the invoices moved.
    answer = emulator.store.cdc(R, ["Customer", "Invoice"], emulator.clock.now() - dt.timedelta(minutes=1))
    groups = {key: rows for group in answer["CDCResponse"][0]["QueryResponse"] for key, rows in group.items()}
    stub = next(row for row in groups["Customer"] if row["Id"] == merge.gone)
    assert stub["status"] == "Deleted" and stub["MetaData"]["LastUpdatedTime"]
    assert {row["CustomerRef"]["value"] for row in groups["Invoice"]} == {merge.keep}
    poll(app)
    assert_merged(app, merge)
    [(qbo_id, message)] = pull_log(app, "merged")
    assert qbo_id == merge.keep and "found without a Merge event" in str(message)
    assert pull_log(app, "inactivated") == []
    # The Merge event arriving late changes nothing more.
    queue_merge_event(app, "late-merge", keep=merge.keep, gone=merge.gone)
    pull(app)
    assert len(pull_log(app, "merged")) == 1
    assert_merged(app, merge)


def test_a_read_that_finds_the_customer_gone_repairs_the_merge(app, emulator, connected):
    """An event names the merged-away customer; reading it finds nothing (610): its invoices show the survivor."""
    merge = mirrored_merge_setup(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    with pytest.raises(EmulatorFault) as read:
        emulator.store.read(R, "Customer", merge.gone)
    assert read.value.code == "610"
    with app.app_context():
        db.session.add(
            Inbox(
                event_id="update-of-the-gone-one",
                realm_id=R,
                entity="Customer",
                entity_id=merge.gone,
                operation="Update",
                event_time=utcnow(),
            )
        )
        db.session.commit()
    pull(app)
    assert_merged(app, merge)
    assert pull_log(app, "inactivated") == []


def test_invoices_that_left_a_vanished_customer_reveal_the_merge(app, emulator, connected):
    """The Merge event is lost but the invoices' updates arrive: the customer they left is read, found gone."""
    merge = mirrored_merge_setup(app, emulator)
    route_webhooks(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    emulator.webhooks.flush()
    with app.app_context():
        assert db.session.query(Inbox).filter_by(operation="Merge").delete() == 1  # lost on the way
        db.session.commit()
    pull(app)
    assert_merged(app, merge)


@pytest.mark.parametrize("inactivated_before", [False, True], ids=["live", "inactivated-by-an-older-pull"])
def test_reconcile_repairs_a_lost_merge(app, emulator, connected, inactivated_before):
    """Reconcile reads everything: a linked customer gone from QBO with its invoices elsewhere was merged.

    An older pull may already have inactivated it without moving anything (the
    bug this repairs): reconcile still finds the merge.
    """
    merge = mirrored_merge_setup(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    if inactivated_before:
        with app.app_context():
            db.session.query(Customer).filter_by(qbo_id=merge.gone).update({"active": False})
            db.session.commit()
    with app.app_context():
        qbo = get_qbo(app)
        report = [str(d) for d in reconcile(qbo, qbo.connection("acme"))]
        assert f"merged   Customer {merge.gone}: merged into customer {merge.keep}" in report
        reconcile(qbo, qbo.connection("acme"), apply=True)
    assert_merged(app, merge)


def test_no_transactions_to_follow_inactivates_and_says_why(app, emulator, connected):
    """Nothing shows where the customer went: it is inactivated as before, the contact kept, the log explains."""
    merge = mirrored_merge_setup(app, emulator, invoices=0)
    next_cdc_window(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    emulator.clock.advance(5)
    poll(app)
    with app.app_context():
        old = db.session.query(Customer).filter_by(qbo_id=merge.gone).one()
        assert (old.active, old.merged_into, old.contact_key) == (False, None, str(merge.contact))
    [(qbo_id, message)] = pull_log(app, "inactivated")
    assert qbo_id == merge.gone
    assert message == (
        "Gone from QuickBooks (merged away), but no transaction of it is left to show "
        "which customer it was merged into."
    )
    assert pull_log(app, "merged") == []


def test_transactions_on_several_customers_name_no_survivor(app, emulator, connected):
    """One invoice was moved again after the merge: no survivor is guessed."""
    merge = mirrored_merge_setup(app, emulator)
    other = add_customer(emulator, GivenName="Third", FamilyName="Party")
    next_cdc_window(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    moved = emulator.store.read(R, "Invoice", merge.invoices[0])
    emulator.store.update(
        R,
        "Invoice",
        {"Id": moved["Id"], "SyncToken": moved["SyncToken"], "CustomerRef": {"value": other["Id"]}},
        sparse=True,
    )
    emulator.clock.advance(5)
    poll(app)
    with app.app_context():
        old = db.session.query(Customer).filter_by(qbo_id=merge.gone).one()
        assert (old.active, old.merged_into, old.contact_key) == (False, None, str(merge.contact))
    [(_, message)] = pull_log(app, "inactivated")
    assert "several customers" in str(message)


def test_a_customer_qbo_still_files_transactions_under_is_not_gone(app, emulator, connected, caplog):
    """Reported gone, yet four of its five invoices still name it in QBO: no merge, no inactivation, a warning.

    A real merge moves every transaction, so the one invoice moved to another
    customer is not a merge (before the fix, the survivor was that customer).
    """
    merge = mirrored_merge_setup(app, emulator, invoices=5)
    moved = emulator.store.read(R, "Invoice", merge.invoices[0])
    emulator.store.update(
        R,
        "Invoice",
        {"Id": moved["Id"], "SyncToken": moved["SyncToken"], "CustomerRef": {"value": merge.keep}},
        sparse=True,
    )
    stub = {"Id": merge.gone, "status": "Deleted", "domain": "QBO"}
    with app.app_context(), caplog.at_level(logging.WARNING, logger="flask_qbo.sync.pull.merges"):
        qbo = get_qbo(app)
        connection = qbo.connection("acme")
        survivors = merges.find(
            db.session, R, [merge.gone], {("Customer", merge.gone): stub}, partial(read_many, qbo.client(connection))
        )
        assert (dict(survivors.into), survivors.unknown) == ({}, {})  # was into={gone: keep}
        assert survivors.alive == {merge.gone}
        assert survivors.covers(merge.gone)  # a CDC pass must not apply the Deleted stub either
        survivors.apply(Applier(qbo, connection))
        db.session.commit()
    with app.app_context():
        old = db.session.query(Customer).filter_by(qbo_id=merge.gone).one()
        assert (old.active, old.merged_into, old.contact_key) == (True, None, str(merge.contact))
    assert pull_log(app, "merged") == [] and pull_log(app, "inactivated") == []
    [warning] = [r for r in caplog.records if r.name == "flask_qbo.sync.pull.merges"]
    assert warning.levelno == logging.WARNING
    assert merge.gone in warning.getMessage() and R in warning.getMessage()


def test_a_merge_event_whose_survivor_was_merged_on_is_followed_to_the_end(app, emulator, connected):
    """A merged into B, then B into C; only the first Merge event arrives and B cannot be read: A ends on C."""
    merge = mirrored_merge_setup(app, emulator)
    last = add_customer(emulator, GivenName="Final", FamilyName="Home")
    poll(app)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    emulator.store.merge_customers(R, merge.keep, last["Id"])
    queue_merge_event(app, "first-merge-only", keep=merge.keep, gone=merge.gone)
    pull(app)
    assert_merged(app, merge._replace(keep=last["Id"]))
    [(qbo_id, message)] = pull_log(app, "merged")
    assert qbo_id == last["Id"] and f"Customer {merge.gone} merged in" in str(message)


def test_a_push_that_failed_on_the_merged_away_customer_is_sent_to_the_survivor(app, emulator, connected):
    """The CRM edit failed (610: QBO merged the customer away); once the merge is repaired it is sent again."""
    app.config["QBO_MAX_RETRIES"] = 0
    merge = mirrored_merge_setup(app, emulator)
    emulator.store.merge_customers(R, merge.gone, merge.keep)
    with app.app_context():
        db.session.get(Contact, merge.contact).phone = "555-0177"
        db.session.commit()
        while push.process(get_qbo(app)) > 0:
            pass
        [row] = db.session.query(Outbox).all()
        assert (row.status, row.error_code) == (OutboxStatus.FAILED, "610")
        db.session.add(
            Inbox(
                event_id="merge-after-the-failure",
                realm_id=R,
                entity="Customer",
                entity_id=merge.keep,
                operation="Merge",
                deleted_id=merge.gone,
                event_time=utcnow(),
            )
        )
        db.session.commit()
    pull(app)
    assert_merged(app, merge)
    with app.app_context():
        [row] = db.session.query(Outbox).all()
        assert (row.status, row.attempts, row.error_code) == (OutboxStatus.PENDING, 0, None)
        assert row.available_at <= utcnow()
        [note] = db.session.query(SyncLog).filter_by(action="requeued").all()
        assert (note.contact_key, note.qbo_id) == (str(merge.contact), merge.keep)
        assert f"re-queued after the customer was merged into {merge.keep}" in str(note.message)
        assert db.session.query(Customer).filter_by(qbo_id=merge.keep).one().sync_status == SyncStatus.PENDING
        while push.process(get_qbo(app)) > 0:
            pass
        assert db.session.query(Outbox).one().status == OutboxStatus.DONE
    survivor = emulator.store.read(R, "Customer", merge.keep)
    assert survivor["PrimaryPhone"]["FreeFormNumber"] == "555-0177"


def test_evidence_is_bounded_by_the_database(app, emulator, connected, monkeypatch):
    """Only the newest :data:`merges.EVIDENCE` transactions of a customer leave the database, not all of them."""
    merge = mirrored_merge_setup(app, emulator, invoices=5)
    monkeypatch.setattr(merges, "EVIDENCE", 3)
    with app.app_context():
        real, fetched = db.session.execute, []

        def counting(*args, **kwargs):
            rows = real(*args, **kwargs).all()
            fetched.append(len(rows))
            return rows

        monkeypatch.setattr(db.session, "execute", counting)
        evidence = merges._evidence(db.session, R, {merge.gone, merge.keep})
    assert evidence == {merge.gone: [("Invoice", qbo_id) for qbo_id in reversed(merge.invoices)][:3]}
    assert fetched == [3]
