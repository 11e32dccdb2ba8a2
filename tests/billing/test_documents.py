"""Saving a document: Document and Outbox in one transaction; retry, discard and the pending list."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from flask_qbo.billing.documents import discard_document
from flask_qbo.billing.documents import pending_documents
from flask_qbo.billing.documents import queue_document
from flask_qbo.billing.documents import retry_document
from flask_qbo.billing.draft import draft_from_json
from flask_qbo.billing.problems import ActionRefused
from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import OutboxStatus
from flask_qbo.testing import TEST_REALM

from .helpers import D
from .helpers import catalog
from .helpers import draft
from .helpers import line


def save(session: Session, contact_key: str = "c1", **fields: object) -> Document:
    return queue_document(
        session,
        tenant_key="acme",
        realm_id=TEST_REALM,
        contact_key=contact_key,
        draft=draft(line(qty="3", price="333.565", tax="7"), discount_amount=D("0.70"), **fields),
        catalog=catalog(tax_model="per_line"),
        created_by="ada",
    )


def test_queue_document_writes_the_document_and_its_outbox_row(session: Session) -> None:
    doc = save(session, currency=None)
    session.commit()
    stored = session.get(Document, doc.id)
    assert stored is not None
    assert stored.state == DocumentState.SENDING and stored.kind == "Invoice"
    assert (stored.tenant_key, stored.realm_id, stored.contact_key) == ("acme", TEST_REALM, "c1")
    assert (stored.subtotal, stored.tax_total, stored.total) == (
        D("1000.70"),
        D("120.00"),
        D("1120.00"),
    )  # taxed on 1000.00, after the discount
    assert stored.currency == "USD" and stored.created_by == "ada"
    assert stored.body["Line"][0]["Amount"] == 1000.7
    assert draft_from_json(stored.draft).lines[0].unit_price == D("333.565")
    [row] = session.query(Outbox).all()
    assert row.op == OutboxOp.CREATE_DOC and row.status == OutboxStatus.PENDING
    assert row.target == {"document_id": doc.id}
    assert (row.tenant_key, row.contact_key) == ("acme", "c1")


def test_a_rollback_leaves_neither(session: Session) -> None:
    save(session)
    session.rollback()
    assert session.query(Document).count() == 0
    assert session.query(Outbox).count() == 0


def refused(session: Session) -> Document:
    doc = save(session)
    row = session.query(Outbox).one()
    row.status = OutboxStatus.FAILED
    doc.state = DocumentState.FAILED
    doc.error_code = "6000"
    doc.error_message = "Make sure all your transactions have a GST/HST rate"
    session.commit()
    return doc


def test_retry_sends_the_edited_draft_on_a_new_row(session: Session) -> None:
    doc = refused(session)
    old_uuid = session.query(Outbox).one().uuid
    edited = draft(line(qty="1", price="10", tax="8"))
    row = retry_document(session, doc, edited, catalog(tax_model="per_line"))
    session.commit()
    assert doc.state == DocumentState.SENDING and doc.error_message is None and doc.error_code is None
    assert (doc.subtotal, doc.tax_total, doc.total) == (D("10.00"), D("0.50"), D("10.50"))
    [only] = session.query(Outbox).all()  # the refused row is gone: nothing can run it again
    assert only.id == row.id and only.uuid != old_uuid
    assert only.status == OutboxStatus.PENDING and only.target == {"document_id": doc.id}


def test_only_a_refused_document_can_be_retried_or_discarded(session: Session) -> None:
    doc = save(session)
    with pytest.raises(ActionRefused):
        retry_document(session, doc, draft(), catalog())
    with pytest.raises(ActionRefused):
        discard_document(session, doc)
    assert doc.state == DocumentState.SENDING


def test_discard_drops_the_refused_row(session: Session) -> None:
    doc = refused(session)
    other = save(session, contact_key="c1")  # another document of the same contact keeps its row
    session.commit()
    discard_document(session, doc)
    session.commit()
    assert doc.state == DocumentState.DISCARDED
    assert [row.target for row in session.query(Outbox)] == [{"document_id": other.id}]


def test_pending_documents_newest_first_and_only_unmade(session: Session) -> None:
    first = refused(session)
    second = save(session)
    made = save(session)
    made.state = DocumentState.CREATED
    gone = save(session)
    gone.state = DocumentState.DISCARDED
    save(session, contact_key="someone else")
    session.commit()
    assert [doc.id for doc in pending_documents(session, "acme", "c1")] == [second.id, first.id]
    assert pending_documents(session, "globex", "c1") == []
