"""Saving a document: the CRM's :class:`~flask_qbo.models.Document` row and its outbox row, together.

Both are written in the caller's transaction (flushed, never committed here),
so a saved form always has both and a rolled-back one has neither: the folder
shows the document at once as *sending*, and the push makes it in QBO with the
outbox row's ``uuid`` as ``requestid``, so a retried send never makes a second
invoice.  The caller commits, then wakes the runner
(:func:`flask_qbo.state.wake`).  The outbox runs one contact's rows in order,
so a document for a brand-new contact runs after the contact's own create.

A document QBO refused keeps Intuit's message; the salesperson edits and
retries it (a new outbox row, so a fresh ``requestid``: QBO would replay its
refusal for the old one) or discards it.  A *dead* create is not a refusal: it
died of our own error, possibly after QBO made the invoice.  Its retry sends
the old body again under the old ``requestid``, so QBO's replay hands back the
invoice it made (adopted, never made twice); the edits wait until then.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import Document
from ..models import DocumentState
from ..models import Outbox
from ..models import OutboxOp
from ..models import OutboxStatus
from ..models import utcnow
from .body import build_body
from .catalog import Catalog
from .draft import Draft
from .draft import draft_to_json
from .problems import ActionRefused
from .totals import compute


def _fill(doc: Document, draft: Draft, catalog: Catalog) -> None:
    """Write the draft, its QBO body and its totals onto ``doc``."""
    totals = compute(draft, catalog)
    doc.kind = draft.kind
    doc.draft = draft_to_json(draft)
    doc.body = build_body(draft, catalog)
    doc.currency = draft.currency or catalog.prefs.home_currency
    doc.subtotal = totals.subtotal
    doc.tax_total = totals.tax
    doc.total = totals.total
    doc.estimate_qbo_id = draft.estimate_qbo_id
    doc.doc_number = draft.doc_number if catalog.prefs.custom_txn_numbers else None


def _enqueue(session: Session, doc: Document) -> Outbox:
    row = Outbox(
        tenant_key=doc.tenant_key,
        contact_key=doc.contact_key,
        op=OutboxOp.CREATE_DOC,
        status=OutboxStatus.PENDING,
        target={"document_id": doc.id},
    )
    session.add(row)
    session.flush()
    return row


def queue_document(
    session: Session,
    *,
    tenant_key: str,
    realm_id: str,
    contact_key: str,
    draft: Draft,
    catalog: Catalog,
    created_by: str | None,
) -> Document:
    """Write a *sending* document for ``draft`` and the outbox row that makes it in QBO (flushed, not committed).

    The draft must have passed :func:`flask_qbo.billing.validate.validate`.
    """
    doc = Document(
        tenant_key=tenant_key,
        realm_id=realm_id,
        contact_key=contact_key,
        state=DocumentState.SENDING,
        created_by=created_by,
    )
    _fill(doc, draft, catalog)
    session.add(doc)
    session.flush()  # the id the outbox row names
    _enqueue(session, doc)
    return doc


def _drop_refused_rows(session: Session, doc: Document) -> None:
    """Delete the document's settled-but-refused create rows, so nothing can run them again."""
    rows = session.query(Outbox).filter(
        Outbox.tenant_key == doc.tenant_key,
        Outbox.contact_key == doc.contact_key,
        Outbox.op == OutboxOp.CREATE_DOC,
        Outbox.status.in_((OutboxStatus.FAILED, OutboxStatus.DEAD)),
    )
    for row in rows:
        if (row.target or {}).get("document_id") == doc.id:
            session.delete(row)


def dead_create(session: Session, doc: Document) -> Outbox | None:
    """The document's ``dead`` create row: QBO may have made the document before our recording of it failed."""
    rows = session.query(Outbox).filter(
        Outbox.tenant_key == doc.tenant_key,
        Outbox.contact_key == doc.contact_key,
        Outbox.op == OutboxOp.CREATE_DOC,
        Outbox.status == OutboxStatus.DEAD,
    )
    return next((row for row in rows if (row.target or {}).get("document_id") == doc.id), None)


def _resend_unchanged(doc: Document, row: Outbox) -> Outbox:
    """Queue a dead create again as it was: same ``requestid``, same body, so QBO replays a create it made."""
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.available_at = utcnow()
    row.error_code = None
    row.last_error = None
    doc.state = DocumentState.SENDING
    doc.error_code = None
    doc.error_message = None
    return row


def _require_failed(doc: Document, doing: str) -> None:
    if doc.state != DocumentState.FAILED:
        raise ActionRefused(f"Only a document QuickBooks refused can be {doing}; this one is {doc.state}.")


def retry_document(session: Session, doc: Document, draft: Draft, catalog: Catalog) -> Outbox:
    """Send a refused document again with the edited ``draft``: *sending*, on a new outbox row (fresh ``requestid``).

    A document whose create is ``dead`` is first sent again unchanged on that
    row (:func:`dead_create`); ``draft`` is not applied, since QBO may already
    have made the document from the old body.
    """
    _require_failed(doc, "retried")
    dead = dead_create(session, doc)
    if dead is not None:
        row = _resend_unchanged(doc, dead)
        session.flush()
        return row
    _drop_refused_rows(session, doc)
    _fill(doc, draft, catalog)
    doc.state = DocumentState.SENDING
    doc.error_code = None
    doc.error_message = None
    session.flush()
    return _enqueue(session, doc)


def discard_document(session: Session, doc: Document) -> None:
    """Give up on a refused document: *discarded*, and its refused outbox rows removed."""
    _require_failed(doc, "discarded")
    _drop_refused_rows(session, doc)
    doc.state = DocumentState.DISCARDED
    session.flush()


def pending_documents(session: Session, tenant_key: str, contact_key: str) -> list[Document]:
    """The contact's documents QBO has not made yet (sending or refused), newest first, for the folder."""
    return (
        session.query(Document)
        .filter(
            Document.tenant_key == tenant_key,
            Document.contact_key == contact_key,
            Document.state.in_((DocumentState.SENDING, DocumentState.FAILED)),
        )
        .order_by(Document.created_at.desc(), Document.id.desc())
        .all()
    )
