"""Signals from pull: ``invoice_paid`` and ``estimate_accepted``, each once per document."""

from __future__ import annotations

import typing as t
from decimal import Decimal

import pytest

from flask_qbo import signals
from flask_qbo.models import Inbox
from flask_qbo.models import Notice
from flask_qbo.models import Transaction
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import milestones
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import linked_contact
from tests.sync.pull.pull_support import poll
from tests.sync.pull.pull_support import pull
from tests.sync.pull.pull_support import route_webhooks

R = TEST_REALM


@pytest.fixture
def heard() -> t.Iterator[dict[str, list[dict[str, t.Any]]]]:
    """Every once-only signal received, by name, with its sender checked to be the app."""
    got: dict[str, list[dict[str, t.Any]]] = {"paid": [], "accepted": []}

    def on(name: str) -> t.Callable[..., None]:
        def receiver(sender: t.Any, **kwargs: t.Any) -> None:
            assert sender.name == "tests.hostapp"
            got[name].append(kwargs)

        return receiver

    paid, accepted = on("paid"), on("accepted")
    signals.invoice_paid.connect(paid)
    signals.estimate_accepted.connect(accepted)
    yield got
    signals.invoice_paid.disconnect(paid)
    signals.estimate_accepted.disconnect(accepted)


def pay(emu: t.Any, customer_id: str, invoice: dict[str, t.Any], amount: float) -> dict[str, t.Any]:
    line = {"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    return emu.store.create(R, "Payment", {"CustomerRef": {"value": customer_id}, "TotalAmt": amount, "Line": [line]})


def replay_events(app: t.Any, entity: str, qbo_id: str) -> None:
    """The same change announced again (Intuit retries; a second subscription; a replayed body)."""
    with app.app_context():
        db.session.add(
            Inbox(
                event_id=f"replay-{entity}-{qbo_id}-{utcnow().timestamp()}",
                realm_id=R,
                entity=entity,
                entity_id=qbo_id,
                operation="Update",
                event_time=utcnow(),
            )
        )
        db.session.commit()


def reopen_mirror(app: t.Any, entity: str, qbo_id: str, **values: t.Any) -> None:
    """Put a mirror row back as a worker that read it before the change would still see it."""
    with app.app_context():
        row = db.session.query(Transaction).filter_by(realm_id=R, txn_type=entity, qbo_id=qbo_id).one()
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def test_invoice_paid_is_sent_once_after_the_commit_with_the_linked_contact(app, emulator, connected, heard):
    route_webhooks(app, emulator)
    contact_id, customer_id = linked_contact(app, emulator)
    invoice = add_invoice(emulator, customer_id, 120.0, DocNumber="1001")
    emulator.webhooks.flush()
    pull(app)
    pay(emulator, customer_id, invoice, 20.0)  # partly paid: not yet
    emulator.webhooks.flush()
    pull(app)
    assert heard["paid"] == []
    committed: list[int] = []

    def check_committed(sender: t.Any, **kwargs: t.Any) -> None:
        with app.app_context():  # another session: sees only what is committed
            committed.append(db.session.query(Notice).filter_by(qbo_id=kwargs["qbo_id"], kind="paid").count())

    signals.invoice_paid.connect(check_committed)
    try:
        pay(emulator, customer_id, invoice, 100.0)
        emulator.webhooks.flush()
        pull(app)
    finally:
        signals.invoice_paid.disconnect(check_committed)
    assert heard["paid"] == [
        {
            "realm_id": R,
            "tenant_key": "acme",
            "contact_key": str(contact_id),
            "qbo_id": invoice["Id"],
            "doc_number": "1001",
            "total": Decimal("120.00"),
        }
    ]
    assert committed == [1]
    # The same change again, by webhook and by CDC, even to a worker whose view is still unpaid: nothing more.
    replay_events(app, "Invoice", invoice["Id"])
    pull(app)
    reopen_mirror(app, "Invoice", invoice["Id"], balance=Decimal("100.00"), status="partially_paid")
    replay_events(app, "Invoice", invoice["Id"])
    pull(app)
    reopen_mirror(app, "Invoice", invoice["Id"], balance=Decimal("100.00"), status="partially_paid")
    poll(app)
    assert len(heard["paid"]) == 1


def test_no_paid_signal_for_an_invoice_first_seen_paid_voided_or_unlinked_twice(app, emulator, connected, heard):
    route_webhooks(app, emulator)
    customer = add_customer(emulator, GivenName="Una", FamilyName="Linked")
    already = add_invoice(emulator, customer["Id"], 50.0)
    pay(emulator, customer["Id"], already, 50.0)
    voided = add_invoice(emulator, customer["Id"], 70.0)
    emulator.webhooks.flush()
    pull(app)
    assert heard["paid"] == []  # first seen paid: the CRM did not see it being paid
    current = emulator.store.read(R, "Invoice", voided["Id"])
    emulator.store.void(R, "Invoice", voided["Id"], current["SyncToken"])
    emulator.webhooks.flush()
    pull(app)
    with app.app_context():
        row = db.session.query(Transaction).filter_by(qbo_id=voided["Id"], txn_type="Invoice").one()
        assert (row.status, row.balance) == ("void", Decimal("0.00"))
    assert heard["paid"] == []  # a void zeroes the balance but nobody paid
    paid_later = add_invoice(emulator, customer["Id"], 30.0)
    emulator.webhooks.flush()
    pull(app)
    pay(emulator, customer["Id"], paid_later, 30.0)
    emulator.webhooks.flush()
    pull(app)
    assert [kw["contact_key"] for kw in heard["paid"]] == [None]  # the customer is not linked to a contact


def test_estimate_accepted_once(app, emulator, connected, heard):
    route_webhooks(app, emulator)
    contact_id, customer_id = linked_contact(app, emulator)
    line = {"Amount": 400.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    estimate = emulator.store.create(R, "Estimate", {"CustomerRef": {"value": customer_id}, "Line": [line]})
    accepted_at_birth = emulator.store.create(
        R, "Estimate", {"CustomerRef": {"value": customer_id}, "Line": [line], "TxnStatus": "Accepted"}
    )
    emulator.webhooks.flush()
    pull(app)
    assert heard["accepted"] == []
    current = emulator.store.update(
        R, "Estimate", {"Id": estimate["Id"], "SyncToken": estimate["SyncToken"], "TxnStatus": "Accepted"}
    )
    emulator.webhooks.flush()
    pull(app)
    emulator.store.update(
        R, "Estimate", {"Id": estimate["Id"], "SyncToken": current["SyncToken"], "PrivateNote": "signed"}
    )
    emulator.webhooks.flush()
    pull(app)
    reopen_mirror(app, "Estimate", estimate["Id"], status="pending")
    poll(app)
    assert [(kw["qbo_id"], kw["contact_key"], kw["total"]) for kw in heard["accepted"]] == [
        (estimate["Id"], str(contact_id), Decimal("400.00"))
    ]
    assert accepted_at_birth["Id"] not in {kw["qbo_id"] for kw in heard["accepted"]}


def test_a_receiver_that_raises_does_not_undo_the_pull_or_silence_the_others(
    app, emulator, connected, heard, monkeypatch
):
    route_webhooks(app, emulator)
    _, customer_id = linked_contact(app, emulator)
    first, second = add_invoice(emulator, customer_id, 10.0), add_invoice(emulator, customer_id, 20.0)
    emulator.webhooks.flush()
    pull(app)

    def broken(sender: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("the host's mailer is down")

    signals.invoice_paid.connect(broken)
    # blinker keeps receivers in a set: put the broken one first, as its id may.
    in_set_order = signals.invoice_paid.receivers_for
    monkeypatch.setattr(
        signals.invoice_paid,
        "receivers_for",
        lambda sender: sorted(in_set_order(sender), key=lambda receiver: receiver is not broken),
    )
    try:
        pay(emulator, customer_id, first, 10.0)
        pay(emulator, customer_id, second, 20.0)
        emulator.webhooks.flush()
        pull(app)
    finally:
        signals.invoice_paid.disconnect(broken)
    assert sorted(kw["qbo_id"] for kw in heard["paid"]) == sorted([first["Id"], second["Id"]])
    with app.app_context():
        assert db.session.query(Inbox).filter(Inbox.status != "done").count() == 0


def test_a_rolled_back_claim_leaves_the_notice_to_claim_again(app, connected):
    with app.app_context():
        assert milestones.claim(db.session, R, "Invoice", "5", milestones.PAID) is True
        assert milestones.claim(db.session, R, "Invoice", "5", milestones.PAID) is False
        db.session.rollback()
        assert milestones.claim(db.session, R, "Invoice", "5", milestones.PAID) is True
        assert milestones.claim(db.session, R, "Invoice", "5", milestones.OVERDUE) is True  # another kind
        assert milestones.claim(db.session, "other-realm", "Invoice", "5", milestones.PAID) is True
        db.session.commit()
        assert db.session.query(Notice).count() == 3


def test_the_applier_keeps_signals_until_the_caller_committed(app, emulator, connected, heard):
    _, customer_id = linked_contact(app, emulator)
    invoice = add_invoice(emulator, customer_id, 10.0)
    poll(app)
    paid = {**emulator.store.read(R, "Invoice", invoice["Id"]), "Balance": 0}
    from flask_qbo.sync.pull.apply import Applier

    with app.app_context():
        qbo = get_qbo(app)
        applier = Applier(qbo, qbo.connection("acme"))
        applier.apply("Invoice", paid)
        assert heard["paid"] == []  # claimed, not sent
        db.session.rollback()  # the pull failed: nothing was recorded, nothing is said
    with app.app_context():
        assert db.session.query(Notice).count() == 0
        applier = Applier(qbo, qbo.connection("acme"))
        applier.apply("Invoice", paid)
        db.session.commit()
        assert applier.milestones.send() == 1 and applier.milestones.send() == 0
    assert len(heard["paid"]) == 1
