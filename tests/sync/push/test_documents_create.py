"""Estimates and invoices made from document rows, against the emulator: the create and its failures."""

from __future__ import annotations

import typing as t
from decimal import Decimal

import pytest

from flask_qbo import get_qbo
from flask_qbo import signals
from flask_qbo.models import Customer
from flask_qbo.models import Document
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import SyncLog
from flask_qbo.models import Transaction
from flask_qbo.sync.push import push
from flask_qbo.sync.push import rows as push_rows
from flask_qbo.sync.push.doc_failure import NO_CUSTOMER
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import db

from .docs_helpers import LINES
from .docs_helpers import add_document
from .docs_helpers import invoices
from .docs_helpers import link_of
from .docs_helpers import linked_contact
from .docs_helpers import new_contact
from .docs_helpers import retry_now


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def test_an_invoice_is_made_in_quickbooks_and_recorded_in_one_go(ctx: t.Any, emulator: t.Any) -> None:
    seen: list[dict[str, t.Any]] = []
    signals.document_created.connect(lambda sender, **kw: seen.append(kw), ctx, weak=False)
    contact = linked_contact()
    customer_id = link_of(contact).qbo_id
    document, row = add_document(contact, body={"Line": LINES, "CustomerMemo": {"value": "Thanks!"}})
    assert push_now() == 1
    [invoice] = invoices(emulator)
    assert invoice["CustomerRef"]["value"] == customer_id
    [line] = [ln for ln in invoice["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    assert (line["Amount"], line["SalesItemLineDetail"]["Qty"], line["SalesItemLineDetail"]["UnitPrice"]) == (
        150.0,
        2,
        75,
    )
    assert line["SalesItemLineDetail"]["ItemRef"]["value"] == "1" and line["Description"] == "Garden design"
    db.session.expire_all()
    document = db.session.get(Document, document.id)
    assert (document.state, document.qbo_id, document.doc_number) == ("created", invoice["Id"], invoice["DocNumber"])
    assert (document.total, document.tax_total, document.subtotal) == (
        Decimal("150.00"),
        Decimal("0.00"),
        Decimal("150.00"),
    )
    assert document.error_message is None
    mirrored = db.session.query(Transaction).filter_by(txn_type="Invoice", qbo_id=invoice["Id"]).one()
    assert (mirrored.customer_qbo_id, mirrored.total, mirrored.doc_number, mirrored.status) == (
        customer_id,
        Decimal("150.00"),
        invoice["DocNumber"],
        "open",
    )
    assert mirrored.memo == "Thanks!"
    assert db.session.get(Outbox, row.id).status == "done"
    assert link_of(contact).sync_status == "synced"
    log = db.session.query(SyncLog).filter_by(action="created").order_by(SyncLog.id.desc()).first()
    assert log is not None and invoice["DocNumber"] in (log.message or "")
    assert seen == [
        {
            "tenant_key": "acme",
            "contact_key": str(contact.id),
            "txn_type": "Invoice",
            "qbo_id": invoice["Id"],
            "doc_number": invoice["DocNumber"],
            "total": Decimal("150.00"),
            "user": "sam@acme.test",
        }
    ]


def test_an_estimate_is_made_too(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    document, _ = add_document(contact, kind="Estimate")
    push_now()
    [estimate] = emulator.store.list(TEST_REALM, "Estimate")
    db.session.expire_all()
    assert db.session.get(Document, document.id).qbo_id == estimate["Id"]
    assert db.session.query(Transaction).filter_by(txn_type="Estimate").one().status == "pending"


def test_a_lost_answer_after_quickbooks_made_the_invoice_never_makes_a_second(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    document, row = add_document(contact)
    emulator.faults.timeout_next(after_execute=True, method="POST", path_contains="/invoice")
    push_now()
    db.session.expire_all()
    assert len(invoices(emulator)) == 1  # QBO made it; its answer never came
    assert db.session.get(Outbox, row.id).status == "pending"
    assert db.session.get(Document, document.id).state == "sending"
    retry_now()
    push_now()
    db.session.expire_all()
    [invoice] = invoices(emulator)
    document = db.session.get(Document, document.id)
    assert (document.state, document.qbo_id) == ("created", invoice["Id"])
    assert db.session.get(Outbox, row.id).status == "done"


def test_the_create_uses_the_rows_uuid_as_requestid(ctx: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    from flask_qbo.intuit.client import QBOClient

    sent: list[str | None] = []
    real = QBOClient.create

    def create(self: QBOClient, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> t.Any:
        sent.append(request_id)
        return real(self, entity, obj, request_id)

    contact = linked_contact()
    monkeypatch.setattr(QBOClient, "create", create)
    _, row = add_document(contact)
    push_now()
    assert sent == [row.uuid]


def test_a_refused_invoice_fails_the_document_not_the_contact(ctx: t.Any, emulator: t.Any) -> None:
    failed: list[dict[str, t.Any]] = []
    signals.sync_failed.connect(lambda sender, **kw: failed.append(kw), ctx, weak=False)
    contact = linked_contact()
    bad = [{**LINES[0], "SalesItemLineDetail": {"ItemRef": {"value": "999"}, "Qty": 2, "UnitPrice": 75}}]
    document, row = add_document(contact, body={"Line": bad})
    push_now()
    db.session.expire_all()
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_code) == ("failed", "2500")
    assert document.error_message.startswith("Invalid Reference Id : ")  # the detail repeats the message: said once
    assert "999" in document.error_message
    row = db.session.get(Outbox, row.id)
    assert row.status == "failed" and row.error_code == "2500"
    assert row.last_error == f"Invoice (draft {document.id}), create: {document.error_message}"
    assert invoices(emulator) == []
    link = link_of(contact)
    assert (link.sync_status, link.sync_error) == ("synced", None)
    assert [kw["contact_key"] for kw in failed] == [str(contact.id)]
    contact.phone = "555-0100"  # the contact's own sync carries on
    db.session.commit()
    push_now()
    assert emulator.store.read(TEST_REALM, "Customer", link.qbo_id)["PrimaryPhone"]["FreeFormNumber"] == "555-0100"
    assert link_of(contact).sync_status == "synced"


def test_retrying_a_refused_create_sends_it_again(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    bad = [{**LINES[0], "SalesItemLineDetail": {"ItemRef": {"value": "999"}, "Qty": 2, "UnitPrice": 75}}]
    document, row = add_document(contact, body={"Line": bad})
    push_now()
    document.body = {"Line": LINES}  # the salesperson fixed the line
    db.session.commit()
    assert push.retry(row.id, "acme")
    db.session.expire_all()
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_message) == ("sending", None)
    assert link_of(contact).sync_status == "synced"
    push_now()
    db.session.expire_all()
    assert db.session.get(Document, document.id).qbo_id == invoices(emulator)[0]["Id"]


def test_an_auth_failure_keeps_the_row_and_the_document_waiting(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    document, row = add_document(contact)
    emulator.revoke_tokens(TEST_REALM)
    emulator.expire_access_tokens(TEST_REALM)
    push_now()
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "pending"
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_message) == ("sending", None)
    assert get_qbo().connection("acme").status == "needs_reconnect"
    assert invoices(emulator) == []


def test_a_server_error_backs_off_and_the_document_stays_sending(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    document, row = add_document(contact)
    emulator.faults.fail_next(status=503, method="POST", path_contains="/invoice")
    push_now()
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "pending"
    assert db.session.get(Document, document.id).state == "sending"
    retry_now()
    push_now()
    db.session.expire_all()
    assert db.session.get(Document, document.id).state == "created"


def test_a_new_contacts_document_runs_after_the_contacts_create(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact()  # not pushed yet: its create row is older than the document's
    document, row = add_document(contact)
    assert push_now() == 2
    db.session.expire_all()
    [invoice] = invoices(emulator)
    assert invoice["CustomerRef"]["value"] == link_of(contact).qbo_id
    assert db.session.get(Document, document.id).state == "created"


def test_a_document_of_a_contact_whose_create_failed_says_so(ctx: t.Any, emulator: t.Any) -> None:
    emulator.faults.fail_next(status=400, code="6000", message="Nope", method="POST", path_contains="/customer")
    contact = new_contact()
    document, row = add_document(contact)
    push_now()
    db.session.expire_all()
    statuses = [o.status for o in db.session.query(Outbox).order_by(Outbox.id)]
    assert statuses == ["failed", "failed"]
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_code) == ("failed", NO_CUSTOMER)
    assert document.error_message.startswith("Not sent: the contact could not be added to QuickBooks ([6000] Nope)")
    assert invoices(emulator) == []
    assert db.session.query(Customer).count() == 0


def test_send_after_creation_queues_the_send_behind_the_create(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, t.Any]] = []
    signals.document_sent.connect(lambda sender, **kw: sent.append(kw), ctx, weak=False)
    contact = linked_contact()
    woken: list[str] = []
    monkeypatch.setattr(push_rows, "wake", lambda reason="": woken.append(reason))
    body = {"Line": LINES, "BillEmail": {"Address": "billing@ann.example"}}  # the form's billing email
    document, row = add_document(contact, body=body, draft={"send_after": True})
    assert push_now() == 2
    [invoice] = invoices(emulator)
    assert invoice["EmailStatus"] == "EmailSent" and invoice["BillEmail"]["Address"] == "billing@ann.example"
    rows = db.session.query(Outbox).filter(Outbox.id > row.id).all()
    assert [(r.op, r.status, r.target["qbo_id"]) for r in rows] == [(OutboxOp.SEND_DOC, "done", invoice["Id"])]
    assert [kw["sent_to"] for kw in sent] == ["billing@ann.example"]
    # A Celery runner looks for the send at once, not at its next round; and the pull reads the new balance.
    assert woken == ["outbox", "inbox"]


def test_a_document_without_send_after_is_not_sent(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    contact = linked_contact()
    woken: list[str] = []
    monkeypatch.setattr(push_rows, "wake", lambda reason="": woken.append(reason))
    add_document(contact, draft={"send_after": False})
    assert push_now() == 1
    assert woken == ["inbox"]  # only the pull, for the customer's balance: no send row
    assert invoices(emulator)[0]["EmailStatus"] == "NotSet"


def test_a_refused_document_is_not_an_unpushed_edit_of_the_contact(ctx: t.Any, emulator: t.Any) -> None:
    """Newest-wins dates the CRM side by the contact's unpushed rows: a document row is none of them."""
    from flask_qbo.sync.capture import latest_unpushed_edit

    contact = linked_contact()
    bad = [{**LINES[0], "SalesItemLineDetail": {"ItemRef": {"value": "999"}, "Qty": 2, "UnitPrice": 75}}]
    add_document(contact, body={"Line": bad})
    push_now()
    assert db.session.query(Outbox).filter_by(status="failed").count() == 1
    assert latest_unpushed_edit(db.session, "acme", str(contact.id)) is None


def test_retrying_a_dead_create_gets_the_invoice_quickbooks_already_made(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our own error after QBO made the invoice kills the row; the admin's Retry must not make a second one."""
    from flask_qbo.sync.push import documents

    ctx.config["QBO_OUTBOX_MAX_ATTEMPTS"] = 1
    contact = linked_contact()
    document, row = add_document(contact)
    real = documents._record_created

    def crash(*args: t.Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(documents, "_record_created", crash)
    push.process(get_qbo())  # as a runner does: the error is recorded, not raised
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "dead"
    assert db.session.get(Document, document.id).state == "failed"
    assert len(invoices(emulator)) == 1
    monkeypatch.setattr(documents, "_record_created", real)
    assert push.retry(row.id, "acme")
    push_now()
    db.session.expire_all()
    [invoice] = invoices(emulator)
    assert db.session.get(Document, document.id).qbo_id == invoice["Id"]
