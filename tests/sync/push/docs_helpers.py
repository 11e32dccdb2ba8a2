"""Shared helpers of the document-row tests: documents and their rows written by hand, as billing writes them."""

from __future__ import annotations

import typing as t

from flask_qbo.models import Customer
from flask_qbo.models import Document
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import utcnow
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import Contact
from tests.hostapp import db

#: One service line: 2 × 75.00 of the emulator's default item "Services" (id 1).
LINES: list[dict[str, t.Any]] = [
    {
        "DetailType": "SalesItemLineDetail",
        "Amount": 150.0,
        "Description": "Garden design",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": 75},
    }
]


def new_contact(**kw: t.Any) -> Contact:
    kw.setdefault("first_name", "Ann")
    kw.setdefault("last_name", "Lee")
    kw.setdefault("email", "ann@example.com")
    contact = Contact(tenant="acme", **kw)
    db.session.add(contact)
    db.session.commit()
    return contact


def linked_contact(**kw: t.Any) -> Contact:
    """A contact whose customer QuickBooks already has."""
    contact = new_contact(**kw)
    push_now()
    assert link_of(contact).qbo_id
    return contact


def link_of(contact: Contact) -> Customer:
    return db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()


def add_document(
    contact: Contact,
    *,
    kind: str = "Invoice",
    body: dict[str, t.Any] | None = None,
    draft: dict[str, t.Any] | None = None,
    estimate_qbo_id: str | None = None,
    user: str | None = "sam@acme.test",
) -> tuple[Document, Outbox]:
    """A saved form: the document (``sending``) and its ``create_doc`` row, in one commit."""
    document = Document(
        tenant_key="acme",
        realm_id=TEST_REALM,
        contact_key=str(contact.id),
        kind=kind,
        draft=draft or {},
        body=body if body is not None else {"Line": LINES},
        estimate_qbo_id=estimate_qbo_id,
        created_by=user,
    )
    db.session.add(document)
    db.session.flush()
    row = Outbox(
        tenant_key="acme",
        contact_key=str(contact.id),
        op=OutboxOp.CREATE_DOC,
        target={"document_id": document.id},
    )
    db.session.add(row)
    db.session.commit()
    return document, row


def add_action(contact: Contact, op: OutboxOp, txn_type: str, qbo_id: str, send_to: str | None = None) -> Outbox:
    row = Outbox(
        tenant_key="acme",
        contact_key=str(contact.id),
        op=op,
        target={"txn_type": txn_type, "qbo_id": qbo_id, "send_to": send_to},
    )
    db.session.add(row)
    db.session.commit()
    return row


def retry_now() -> None:
    """Rows backing off are due now."""
    db.session.query(Outbox).filter(Outbox.status == "pending").update({"available_at": utcnow()})
    db.session.commit()


def invoices(emulator: t.Any) -> list[dict[str, t.Any]]:
    return t.cast(list, emulator.store.list(TEST_REALM, "Invoice"))
