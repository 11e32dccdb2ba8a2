"""``invoice_paid`` / ``estimate_accepted`` when a push or a re-import, not the pull, is first to mirror the change.

A send, a void, a conversion's estimate close and the admin's re-import all
write QBO's latest version into the mirror; the pull that follows then sees no
change.  Each path checks the moment itself, and the notice still comes once.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo import signals
from flask_qbo.importing import fetch
from flask_qbo.models import OutboxOp
from flask_qbo.models import Transaction
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import linked_contact
from tests.sync.pull.pull_support import poll
from tests.sync.pull.pull_support import pull
from tests.sync.pull.pull_support import route_webhooks

from .docs_helpers import add_action
from .docs_helpers import add_document

LINE = {"Amount": 50.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}


@pytest.fixture
def heard(app: t.Any, emulator: t.Any, connected: t.Any) -> t.Iterator[dict[str, list[dict[str, t.Any]]]]:
    got: dict[str, list[dict[str, t.Any]]] = {"paid": [], "accepted": []}

    def paid(sender: t.Any, **kw: t.Any) -> None:
        got["paid"].append(kw)

    def accepted(sender: t.Any, **kw: t.Any) -> None:
        got["accepted"].append(kw)

    signals.invoice_paid.connect(paid, app)
    signals.estimate_accepted.connect(accepted, app)
    route_webhooks(app, emulator)
    yield got
    signals.invoice_paid.disconnect(paid, app)
    signals.estimate_accepted.disconnect(accepted, app)


def _mirrored_open_invoice(app: t.Any, emulator: t.Any) -> tuple[int, str]:
    contact_id, customer_id = linked_contact(app, emulator)
    invoice = add_invoice(emulator, customer_id, 120.0, DocNumber="1001")
    emulator.webhooks.flush()
    pull(app)
    with app.app_context():
        assert _status(invoice["Id"], "Invoice") == "open"
    line = {"Amount": 120.0, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
    payment = {"CustomerRef": {"value": customer_id}, "TotalAmt": 120.0, "Line": [line]}
    emulator.store.create(TEST_REALM, "Payment", payment)  # paid online; no pull yet
    return contact_id, str(invoice["Id"])


def _mirrored_accepted_estimate(app: t.Any, emulator: t.Any) -> tuple[int, str]:
    contact_id, customer_id = linked_contact(app, emulator)
    estimate = emulator.store.create(TEST_REALM, "Estimate", {"CustomerRef": {"value": customer_id}, "Line": [LINE]})
    emulator.webhooks.flush()
    pull(app)
    current = emulator.store.read(TEST_REALM, "Estimate", estimate["Id"])
    accept = {"Id": estimate["Id"], "SyncToken": current["SyncToken"], "sparse": True, "TxnStatus": "Accepted"}
    emulator.store.update(TEST_REALM, "Estimate", accept)  # the customer accepted; no pull yet
    return contact_id, str(estimate["Id"])


def _status(qbo_id: str, txn_type: str) -> str | None:
    return db.session.query(Transaction).filter_by(qbo_id=qbo_id, txn_type=txn_type).one().status


def _pull_everything(app: t.Any, emulator: t.Any) -> None:
    emulator.webhooks.flush()
    pull(app)
    poll(app)


def test_a_send_first_to_see_a_payment_announces_invoice_paid_once(
    app: t.Any, emulator: t.Any, heard: dict[str, list[dict[str, t.Any]]]
) -> None:
    contact_id, invoice_id = _mirrored_open_invoice(app, emulator)
    with app.app_context():
        add_action(db.session.get(Contact, contact_id), OutboxOp.SEND_DOC, "Invoice", invoice_id, send_to="a@b.co")
        push_now()
        assert _status(invoice_id, "Invoice") == "paid"
    assert [kw["qbo_id"] for kw in heard["paid"]] == [invoice_id]
    assert heard["paid"][0]["contact_key"] == str(contact_id)
    _pull_everything(app, emulator)
    assert len(heard["paid"]) == 1


def test_a_send_first_to_see_an_acceptance_announces_estimate_accepted_once(
    app: t.Any, emulator: t.Any, heard: dict[str, list[dict[str, t.Any]]]
) -> None:
    contact_id, estimate_id = _mirrored_accepted_estimate(app, emulator)
    with app.app_context():
        add_action(db.session.get(Contact, contact_id), OutboxOp.SEND_DOC, "Estimate", estimate_id, send_to="a@b.co")
        push_now()
    _pull_everything(app, emulator)
    assert [kw["qbo_id"] for kw in heard["accepted"]] == [estimate_id]


def test_converting_an_estimate_accepted_unseen_announces_estimate_accepted_once(
    app: t.Any, emulator: t.Any, heard: dict[str, list[dict[str, t.Any]]]
) -> None:
    """The conversion closes the estimate: its accepted version is mirrored before the closed one."""
    app.config["QBO_MAX_RETRIES"] = 0
    contact_id, estimate_id = _mirrored_accepted_estimate(app, emulator)
    with app.app_context():
        add_document(db.session.get(Contact, contact_id), estimate_qbo_id=estimate_id)
        push_now()
        assert _status(estimate_id, "Estimate") == "closed"
    _pull_everything(app, emulator)
    assert [kw["qbo_id"] for kw in heard["accepted"]] == [estimate_id]


def test_a_re_import_first_to_see_a_payment_announces_invoice_paid_once(
    app: t.Any, emulator: t.Any, heard: dict[str, list[dict[str, t.Any]]]
) -> None:
    _, invoice_id = _mirrored_open_invoice(app, emulator)
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id)
        assert _status(invoice_id, "Invoice") == "paid"
    assert [kw["qbo_id"] for kw in heard["paid"]] == [invoice_id]
    _pull_everything(app, emulator)
    assert len(heard["paid"]) == 1
