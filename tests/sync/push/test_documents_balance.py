"""The summary card's open balance after the CRM makes, voids or deletes an invoice, and after a payment in QBO.

QBO moves the customer's ``Balance`` and sends no Customer event for it; the
push queues a re-read of the customer (a ``Balance`` inbox event) in its own
commit, and the next inbox pass reads it.  No webhook and no CDC poll here:
only the inbox, as when Intuit's echo of our own create is skipped unread.
"""

from __future__ import annotations

import re
import typing as t
from decimal import Decimal

import pytest

from flask_qbo.models import Document
from flask_qbo.models import Inbox
from flask_qbo.models import OutboxOp
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.pull.balances import BALANCE
from flask_qbo.sync.push import rows
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import pull_now
from flask_qbo.testing import push_now
from tests.conftest import login
from tests.hostapp import ACME_USER
from tests.hostapp import Contact
from tests.hostapp import db
from tests.widgets.widget_factories import HX

from .docs_helpers import add_action
from .docs_helpers import add_document
from .docs_helpers import link_of
from .docs_helpers import linked_contact


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    with app.app_context():
        yield app


def _invoice_for(contact: Contact, amount: float) -> Document:
    line = {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": amount},
    }
    document, _ = add_document(contact, body={"Line": [line]})
    assert push_now() == 1
    db.session.expire_all()
    return t.cast(Document, db.session.get(Document, document.id))


def _mirrored_balance(contact: Contact) -> Decimal | None:
    db.session.expire_all()
    return link_of(contact).balance


def _inbox_only(app: t.Any) -> None:
    """The pull's inbox pass alone: no CDC poll, which would re-read every changed invoice's customer anyway."""
    pull.process(get_qbo(app))


def _card_balance(client: t.Any, contact: Contact) -> str:
    html = client.get(f"/qbo/w/{contact.id}/summary", headers=HX).get_data(as_text=True)
    found = re.search(r'<dt>Open balance</dt><dd class="qbo-amount">([^<]*)</dd>', html)
    assert found, html
    return found.group(1)


def test_the_card_shows_quickbookss_balance_once_the_crm_made_an_invoice(
    ctx: t.Any, client: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    contact = linked_contact()
    assert _mirrored_balance(contact) == Decimal("0")
    woken: list[str] = []
    monkeypatch.setattr(rows, "wake", lambda reason: woken.append(reason))
    _invoice_for(contact, 150.0)
    assert woken == ["inbox"]  # a Celery deployment runs the pull now, not at its next sweep
    qbo_id = link_of(contact).qbo_id
    assert emulator.store.read(TEST_REALM, "Customer", qbo_id)["Balance"] == 150.0
    [event] = db.session.query(Inbox).filter_by(operation=BALANCE).all()
    assert (event.entity, event.entity_id, event.event_time) == ("Customer", qbo_id, None)

    _inbox_only(ctx)
    assert _mirrored_balance(contact) == Decimal("150.00")
    login(client, ACME_USER)
    assert "150.00" in _card_balance(client, contact)


@pytest.mark.parametrize("op", [OutboxOp.VOID_DOC, OutboxOp.DELETE_DOC])
def test_the_card_shows_quickbookss_balance_once_the_crm_voided_or_deleted_an_invoice(
    ctx: t.Any, emulator: t.Any, op: OutboxOp
) -> None:
    contact = linked_contact()
    kept, dropped = _invoice_for(contact, 100.0), _invoice_for(contact, 40.0)
    _inbox_only(ctx)
    assert _mirrored_balance(contact) == Decimal("140.00")
    assert kept.qbo_id and dropped.qbo_id

    add_action(contact, op, "Invoice", dropped.qbo_id)
    assert push_now() == 1
    assert _mirrored_balance(contact) == Decimal("140.00")  # QBO's figure from before, until the pull reads it
    _inbox_only(ctx)
    assert _mirrored_balance(contact) == Decimal("100.00")


def test_a_send_or_an_estimate_queues_no_read(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    add_document(contact, kind="Estimate")
    assert push_now() == 1
    invoice = _invoice_for(contact, 150.0)
    db.session.query(Inbox).delete()
    db.session.commit()
    add_action(contact, OutboxOp.SEND_DOC, "Invoice", invoice.qbo_id or "", send_to="ap@ann.example")
    assert push_now() == 1
    assert db.session.query(Inbox).count() == 0  # a send moves no balance


def test_a_batch_of_invoices_reads_each_customer_once(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = linked_contact(), linked_contact(first_name="Bo", email="bo@example.com")
    for contact in (first, second, first):
        _invoice_for(contact, 10.0)
    reads: list[tuple[str, frozenset[str]]] = []
    real = pull.read_many

    def spy(client: t.Any, entity: str, ids: t.Iterable[str]) -> t.Any:
        ids = frozenset(ids)
        reads.append((entity, ids))
        return real(client, entity, ids)

    monkeypatch.setattr(pull, "read_many", spy)
    _inbox_only(ctx)
    customer_reads = [ids for entity, ids in reads if entity == "Customer" and ids]
    assert customer_reads == [frozenset({link_of(first).qbo_id, link_of(second).qbo_id})]
    assert (_mirrored_balance(first), _mirrored_balance(second)) == (Decimal("20.00"), Decimal("10.00"))


def test_a_payment_made_in_quickbooks_moves_the_card_balance(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    invoice = _invoice_for(contact, 150.0)
    _inbox_only(ctx)
    emulator.store.pay_invoice(TEST_REALM, invoice.qbo_id, note="Paid online")
    pull_now()
    assert _mirrored_balance(contact) == Decimal("0.00")
