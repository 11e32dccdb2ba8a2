"""What a refused document row leaves on its :class:`~flask_qbo.models.Document`, and on nothing else.

A refused invoice is the salesperson's to fix (an inactive product, a line
QBO's arithmetic rejects), not a fault of the contact's sync: the contact's
customer link keeps its sync status, and later edits of the contact still
push.  The refusal is kept where the documents folder shows it, in Intuit's
own words (its message and detail), next to the failed outbox row the admin
page lists with Retry.

Only a refused *create* makes the document ``failed`` (edit and retry, or
discard).  A refused send, void or delete acts on a document QBO already
made, so the document stays ``created`` and only carries the error.

A create the CRM stopped before asking QBO (another company is connected now,
the contact is not in QBO) fails the document the same way, under one of the
:data:`NOT_SENT` codes, so the folder says it was not sent rather than refused.
"""

from __future__ import annotations

import typing as t
from decimal import Decimal
from decimal import InvalidOperation

from ...errors import QBOAPIError
from ...errors import QBOError
from ...errors import QBOInactiveReferenceError
from ...intuit.faults import referenced_field
from ...models import Document
from ...models import DocumentState
from ...models import Outbox
from ...models import OutboxOp
from ...models import to_cents
from .explain import FIELD_LABELS

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Error code of a document made for another company than the one connected now.
OTHER_COMPANY = "other_company"
#: Error code of a document whose contact is not in QBO and cannot get there now.
NO_CUSTOMER = "no_customer"
#: Error codes of a document the CRM never sent: QBO was not asked, so it refused nothing.
NOT_SENT = frozenset({OTHER_COMPANY, NO_CUSTOMER})


def money(value: object) -> Decimal | None:
    """A QBO amount as Decimal cents, rounded half-up; ``None`` when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return to_cents(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def document_of(session: Session, row: Outbox, realm_id: str | None) -> Document | None:
    """The tenant's document a row acts on: ``target["document_id"]``, else the one QBO knows as ``target``'s id.

    ``realm_id`` narrows the latter to one company (``None``: any of the tenant's).
    """
    target = row.target or {}
    if row.op == OutboxOp.CREATE_DOC:
        document_id = target.get("document_id")
        document = session.get(Document, document_id) if isinstance(document_id, int) else None
        return document if document is not None and document.tenant_key == row.tenant_key else None
    if not target.get("qbo_id") or not target.get("txn_type"):
        return None
    query = session.query(Document).filter_by(
        tenant_key=row.tenant_key, kind=str(target["txn_type"]), qbo_id=str(target["qbo_id"])
    )
    if realm_id is not None:
        query = query.filter_by(realm_id=realm_id)
    return query.order_by(Document.id.desc()).first()


def document_message(exc: BaseException) -> str:
    """The refusal as the documents folder shows it: Intuit's message and detail, readable."""
    if isinstance(exc, QBOInactiveReferenceError):
        field = referenced_field(exc)
        label = FIELD_LABELS.get(field.rsplit(".", 1)[-1], field) if field else None
        what = f"The {label} ({field})" if label else "Something this document refers to"
        return (
            f"{what} is inactive in QuickBooks: make it active again there, or choose another, then retry. "
            f"(QuickBooks error {exc.code}: {exc.detail or exc.message})"
        )
    if isinstance(exc, QBOAPIError):
        detail = exc.detail or ""
        if detail.startswith(exc.message):  # Intuit's detail often repeats the message first
            text = detail
        else:
            text = f"{exc.message}: {detail}" if detail else exc.message
        return f"{text} (field {exc.element})" if exc.element and exc.element not in text else text
    if isinstance(exc, QBOError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def record_failure(session: Session, row: Outbox, realm_id: str | None, exc: BaseException) -> str:
    """Keep the refusal on the row's document (``failed`` for a refused create). No commit.

    Returns the row's message: the document's, led by what the row tried
    (``Invoice 1042, send: …``), since the admin page lists the row among the
    contact's and needs to say which document it was.
    """
    message = document_message(exc)[:2000]
    document = document_of(session, row, realm_id)
    if document is not None:
        code = getattr(exc, "code", None)
        document.error_code = str(code)[:20] if code else None
        document.error_message = message
        if row.op == OutboxOp.CREATE_DOC and document.state == DocumentState.SENDING:
            document.state = DocumentState.FAILED
    return f"{_what(row, document)}: {message}"[:2000]


def _what(row: Outbox, document: Document | None) -> str:
    """``Invoice 1042, void`` / ``Estimate (draft 7), create``: the document and the action of a row."""
    target = row.target or {}
    kind = document.kind if document is not None else str(target.get("txn_type") or "Document")
    if document is not None and document.doc_number:
        name = f"{kind} {document.doc_number}"
    elif document is not None and document.qbo_id is None:
        name = f"{kind} (draft {document.id})"
    else:
        name = f"{kind} id {target.get('qbo_id')}" if target.get("qbo_id") else kind
    action = OutboxOp(row.op).value.removesuffix("_doc")
    return f"{name}, {action}"


def reopen(session: Session, row: Outbox) -> None:
    """A failed document row sent again (the admin's Retry): a refused create is ``sending`` again. No commit."""
    document = document_of(session, row, None)
    if document is None:
        return
    document.error_code = None
    document.error_message = None
    if row.op == OutboxOp.CREATE_DOC and document.state == DocumentState.FAILED:
        document.state = DocumentState.SENDING
