"""Send, void and delete rows of documents QBO made; conversion closing the estimate; no document in a batch."""

from __future__ import annotations

import typing as t
from decimal import Decimal

import pytest

from flask_qbo import signals
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Document
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import Transaction
from flask_qbo.sync.push import batch
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import db

from .docs_helpers import LINES
from .docs_helpers import add_action
from .docs_helpers import add_document
from .docs_helpers import invoices
from .docs_helpers import linked_contact
from .docs_helpers import new_contact
from .docs_helpers import retry_now


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The client's reads and writes of transactions, in order: ``read Invoice``, ``void Invoice`` ..."""
    seen: list[str] = []
    for name in ("read", "void", "delete", "sparse_update"):
        real = getattr(QBOClient, name)

        def spy(
            self: QBOClient, entity: str, *args: t.Any, _real: t.Any = real, _name: str = name, **kw: t.Any
        ) -> t.Any:
            seen.append(f"{_name} {entity}")
            return _real(self, entity, *args, **kw)

        monkeypatch.setattr(QBOClient, name, spy)
    return seen


def made_invoice(emulator: t.Any, **kw: t.Any) -> tuple[t.Any, Document]:
    contact = linked_contact()
    document, _ = add_document(contact, **kw)
    push_now()
    db.session.expire_all()
    return contact, db.session.get(Document, document.id)


def mirrored(qbo_id: str, txn_type: str = "Invoice") -> Transaction:
    db.session.expire_all()
    return db.session.query(Transaction).filter_by(txn_type=txn_type, qbo_id=qbo_id).one()


def bump(emulator: t.Any, qbo_id: str, note: str, entity: str = "Invoice") -> None:
    """Someone edits the document in QuickBooks: its SyncToken moves past the mirror's."""
    current = emulator.store.read(TEST_REALM, entity, qbo_id)
    emulator.store.update(TEST_REALM, entity, {"Id": qbo_id, "SyncToken": current["SyncToken"], "PrivateNote": note})


def test_send_emails_the_invoice_and_mirrors_the_answer(ctx: t.Any, emulator: t.Any) -> None:
    sent: list[dict[str, t.Any]] = []
    signals.document_sent.connect(lambda sender, **kw: sent.append(kw), ctx, weak=False)
    contact, document = made_invoice(emulator)
    row = add_action(contact, OutboxOp.SEND_DOC, "Invoice", document.qbo_id, send_to="ap@ann.example")
    assert push_now() == 1
    invoice = emulator.store.read(TEST_REALM, "Invoice", document.qbo_id)
    assert (invoice["EmailStatus"], invoice["BillEmail"]["Address"]) == ("EmailSent", "ap@ann.example")
    assert mirrored(document.qbo_id).email_status == "EmailSent"
    assert mirrored(document.qbo_id).raw["BillEmail"]["Address"] == "ap@ann.example"
    assert db.session.get(Outbox, row.id).status == "done"
    assert sent == [
        {
            "tenant_key": "acme",
            "contact_key": str(contact.id),
            "txn_type": "Invoice",
            "qbo_id": document.qbo_id,
            "doc_number": document.doc_number,
            "sent_to": "ap@ann.example",
        }
    ]


def test_a_refused_send_keeps_the_document_created_with_the_error(ctx: t.Any, emulator: t.Any) -> None:
    contact, document = made_invoice(emulator)
    emulator.faults.fail_next(status=400, code="6000", message="No email", path_contains="/send")
    row = add_action(contact, OutboxOp.SEND_DOC, "Invoice", document.qbo_id)
    push_now()
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "failed"
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_code) == ("created", "6000")
    assert document.error_message.startswith("No email")
    assert db.session.get(Outbox, row.id).last_error.startswith(f"Invoice {document.doc_number}, send: No email")


def test_void_zeroes_the_invoice_and_the_mirror_shows_void(ctx: t.Any, emulator: t.Any, calls: list[str]) -> None:
    contact, document = made_invoice(emulator)
    calls.clear()
    add_action(contact, OutboxOp.VOID_DOC, "Invoice", document.qbo_id)
    push_now()
    invoice = emulator.store.read(TEST_REALM, "Invoice", document.qbo_id)
    assert invoice["TotalAmt"] == 0 and invoice["PrivateNote"].startswith("Voided")
    row = mirrored(document.qbo_id)
    assert (row.status, row.total) == ("void", Decimal("0.00"))
    assert calls == ["void Invoice"]  # the mirror's SyncToken was current: no read


def test_a_stale_synctoken_is_read_again_and_the_void_retried_once(
    ctx: t.Any, emulator: t.Any, calls: list[str]
) -> None:
    contact, document = made_invoice(emulator)
    bump(emulator, document.qbo_id, "changed in QuickBooks")
    calls.clear()
    row = add_action(contact, OutboxOp.VOID_DOC, "Invoice", document.qbo_id)
    push_now()
    assert calls == ["void Invoice", "read Invoice", "void Invoice"]
    assert db.session.get(Outbox, row.id).status == "done"
    assert mirrored(document.qbo_id).status == "void"


def test_stale_twice_goes_back_to_the_queue(ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    contact, document = made_invoice(emulator)
    bump(emulator, document.qbo_id, "one")
    real_read = QBOClient.read

    def read_then_change(self: QBOClient, entity: str, qbo_id: str) -> t.Any:
        data = real_read(self, entity, qbo_id)
        bump(emulator, qbo_id, "two")  # changed again between our read and our retry
        return data

    monkeypatch.setattr(QBOClient, "read", read_then_change)
    row = add_action(contact, OutboxOp.VOID_DOC, "Invoice", document.qbo_id)
    push_now()
    db.session.expire_all()
    assert (db.session.get(Outbox, row.id).status, db.session.get(Outbox, row.id).error_code) == ("pending", "5010")
    monkeypatch.setattr(QBOClient, "read", real_read)
    retry_now()
    push_now()
    assert mirrored(document.qbo_id).status == "void"


def test_delete_removes_the_invoice_and_tombstones_the_mirror(ctx: t.Any, emulator: t.Any, calls: list[str]) -> None:
    contact, document = made_invoice(emulator)
    bump(emulator, document.qbo_id, "changed")
    calls.clear()
    row = add_action(contact, OutboxOp.DELETE_DOC, "Invoice", document.qbo_id)
    push_now()
    assert invoices(emulator) == []
    assert mirrored(document.qbo_id).deleted is True
    assert db.session.get(Outbox, row.id).status == "done"
    assert calls == ["delete Invoice", "read Invoice", "delete Invoice"]


@pytest.mark.parametrize("op", [OutboxOp.DELETE_DOC, OutboxOp.VOID_DOC])
def test_a_document_already_deleted_in_quickbooks_is_done(ctx: t.Any, emulator: t.Any, op: OutboxOp) -> None:
    contact, document = made_invoice(emulator)
    emulator.store.delete(TEST_REALM, "Invoice", document.qbo_id, "0")
    row = add_action(contact, op, "Invoice", document.qbo_id)
    push_now()
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "done"
    assert mirrored(document.qbo_id).deleted is True


def test_an_estimate_is_deleted_too(ctx: t.Any, emulator: t.Any) -> None:
    contact, document = made_invoice(emulator, kind="Estimate")
    add_action(contact, OutboxOp.DELETE_DOC, "Estimate", document.qbo_id)
    push_now()
    assert emulator.store.list(TEST_REALM, "Estimate") == []
    assert mirrored(document.qbo_id, "Estimate").deleted is True


def _convert(emulator: t.Any, status: str | None = None) -> tuple[str, Document]:
    contact, estimate = made_invoice(emulator, kind="Estimate")
    if status:
        current = emulator.store.read(TEST_REALM, "Estimate", estimate.qbo_id)
        emulator.store.update(
            TEST_REALM, "Estimate", {"Id": estimate.qbo_id, "SyncToken": current["SyncToken"], "TxnStatus": status}
        )
    body = {"Line": LINES, "LinkedTxn": [{"TxnId": estimate.qbo_id, "TxnType": "Estimate"}]}
    invoice, _ = add_document(contact, body=body, estimate_qbo_id=estimate.qbo_id)
    return str(estimate.qbo_id), invoice


@pytest.fixture
def links_without_closing(emulator: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A QuickBooks that links the estimate to the invoice but leaves its status alone.

    Intuit documents the closing only for the UI's flow; for a link made through the API it
    is unverified, so the push closes the estimate itself when QuickBooks did not.
    """
    from flask_qbo.emulator.rules.documents import estimate_link

    def link_only(company: t.Any, invoice: dict[str, t.Any], before: str | None) -> None:
        estimate = company.table("Estimate").get(estimate_link(invoice) or "")
        if estimate is not None:
            estimate["LinkedTxn"] = [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
            emulator.store._commit(company, "Estimate", estimate, "Update")

    monkeypatch.setattr(emulator.store, "_sync_estimate", link_only)


@pytest.mark.usefixtures("links_without_closing")
def test_converting_an_estimate_closes_it(ctx: t.Any, emulator: t.Any, calls: list[str]) -> None:
    estimate_id, invoice = _convert(emulator, "Accepted")
    calls.clear()
    push_now()
    db.session.expire_all()
    made = emulator.store.read(TEST_REALM, "Invoice", db.session.get(Document, invoice.id).qbo_id)
    assert {"TxnId": estimate_id, "TxnType": "Estimate"} in made["LinkedTxn"]
    assert emulator.store.read(TEST_REALM, "Estimate", estimate_id)["TxnStatus"] == "Closed"
    assert mirrored(estimate_id, "Estimate").status == "closed"
    assert calls == ["read Estimate", "sparse_update Estimate"]


def test_an_estimate_quickbooks_closed_itself_is_left_alone(ctx: t.Any, emulator: t.Any, calls: list[str]) -> None:
    estimate_id, invoice = _convert(emulator, "Accepted")  # the emulator closes a linked estimate, as QBO's UI does
    calls.clear()
    push_now()
    assert calls == ["read Estimate"]
    db.session.expire_all()
    assert db.session.get(Document, invoice.id).state == "created"
    assert mirrored(estimate_id, "Estimate").status == "closed"


@pytest.mark.usefixtures("links_without_closing")
def test_a_failed_close_never_fails_the_invoice(ctx: t.Any, emulator: t.Any) -> None:
    estimate_id, invoice = _convert(emulator)
    emulator.faults.fail_next(status=400, code="6000", message="No", method="POST", path_contains="/estimate")
    push_now()
    db.session.expire_all()
    document = db.session.get(Document, invoice.id)
    assert (document.state, document.error_message) == ("created", None)
    assert len(invoices(emulator)) == 1
    assert emulator.store.read(TEST_REALM, "Estimate", estimate_id)["TxnStatus"] == "Pending"


def test_document_rows_never_make_a_backlog(ctx: t.Any, emulator: t.Any) -> None:
    """Ten contact edits (the threshold) and two documents: the batch endpoint stays unused."""
    contacts = [linked_contact(first_name=f"P{i}", email=f"p{i}@example.com") for i in range(10)]
    add_document(contacts[0])
    add_document(contacts[1])
    for i, contact in enumerate(contacts):
        contact.phone = f"555-{i:04d}"
    db.session.commit()
    emulator.reset_counters()
    push_now()
    assert emulator.counters[TEST_REALM]["batch"] == 0
    assert len(invoices(emulator)) == 2


def test_a_backlog_batch_never_claims_document_rows(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = [new_contact(first_name=f"P{i}", email=f"p{i}@example.com") for i in range(15)]
    push_now()
    documents = [add_document(contact)[1].id for contact in contacts[:3]]
    for i, contact in enumerate(contacts):
        contact.phone = f"555-{i:04d}"
    db.session.commit()
    claimed: list[int] = []
    real = batch.claim_batch

    def spy(*args: t.Any, **kw: t.Any) -> list[int]:
        ids = real(*args, **kw)
        claimed.extend(ids)
        return ids

    monkeypatch.setattr(batch, "claim_batch", spy)
    emulator.reset_counters()
    push_now()
    assert emulator.counters[TEST_REALM]["batch"] >= 1 and claimed
    assert not set(claimed) & set(documents)
    assert len(invoices(emulator)) == 3
    assert {o.status for o in db.session.query(Outbox)} == {"done"}
    phones = sorted(c["PrimaryPhone"]["FreeFormNumber"] for c in emulator.store.list(TEST_REALM, "Customer"))
    assert phones == sorted(f"555-{i:04d}" for i in range(15))


def test_a_610_about_something_else_is_not_taken_for_a_deleted_invoice(ctx: t.Any, emulator: t.Any) -> None:
    contact, document = made_invoice(emulator)
    detail = "Object Not Found : Something you're trying to use has been made inactive."
    emulator.faults.fail_next(status=400, code="610", message="Object Not Found", detail=detail, method="POST")
    row = add_action(contact, OutboxOp.VOID_DOC, "Invoice", document.qbo_id)
    push_now()
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "failed"
    assert mirrored(document.qbo_id).deleted is False
    assert db.session.get(Document, document.id).error_code == "610"
