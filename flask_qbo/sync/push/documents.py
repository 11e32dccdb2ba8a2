"""Document rows of the outbox: the estimates and invoices the CRM asks QBO to make, and what it then does with them.

A salesperson's saved form is a :class:`~flask_qbo.models.Document` (state
``sending``) and an outbox row ``create_doc``; its actions (send, void,
delete) are rows of their own.  They share the outbox with the contact's
customer rows for one reason: the queue's per-contact order.  A document of a
brand-new contact is saved after the contact, so its row runs only once the
contact's create has finished, and the customer it names exists.  A contact
with nothing queued gets its create from the document's row, which then waits
behind it (:mod:`~flask_qbo.sync.push.doc_contact`).

Document rows always take the single-row path (:func:`flask_qbo.sync.push.rows.handle`,
which decides an error's fate as for any row); this module does the work and
leaves QBO's answer in the session for that path's one commit, so the
document's new state, the transaction mirror and the row's ``done`` are saved
together.  Signals are returned, not sent: they go out after that commit, so a
receiver never sees a document the database might still roll back.

Every write's ``requestid`` comes from the row's ``uuid``: the create uses the
uuid itself, so a retry after a lost answer gets QBO's first answer back and
never makes a second invoice.  The actions live in
:mod:`~flask_qbo.sync.push.doc_actions`; what a refusal leaves on the document
is :mod:`~flask_qbo.sync.push.doc_failure`'s.
"""

from __future__ import annotations

import logging
import typing as t

from ... import signals
from ...errors import QBOError
from ...errors import QBOStaleObjectError
from ...errors import QBOValidationError
from ...intuit import faults
from ...models import Document
from ...models import DocumentState
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ...models import utcnow
from .context import RowContext
from .context import push_log
from .context import request_id
from .doc_actions import Announcement
from .doc_actions import delete_document
from .doc_actions import send_document
from .doc_actions import void_document
from .doc_contact import customer_for
from .doc_failure import OTHER_COMPANY
from .doc_failure import document_of
from .doc_failure import money

log = logging.getLogger(__name__)

#: Estimate statuses that need no closing after a conversion.
_CLOSED = frozenset({"closed", "converted"})


def run_document(ctx: RowContext) -> list[Announcement]:
    """Carry out one document row; the signals to send once the caller committed.

    :raises QBOError: QBO refused (or did not answer); :func:`~flask_qbo.sync.push.rows.handle` decides.
    """
    op = ctx.row.op
    if op == OutboxOp.CREATE_DOC:
        return create_document(ctx)
    if op == OutboxOp.SEND_DOC:
        return send_document(ctx)
    if op == OutboxOp.VOID_DOC:
        void_document(ctx)
        return []
    if op == OutboxOp.DELETE_DOC:
        delete_document(ctx)
        return []
    raise ValueError(f"Outbox row {ctx.row.id} has op {op!r}, which is not a document op.")


def create_document(ctx: RowContext) -> list[Announcement]:
    """Make the row's estimate or invoice in QBO and record QBO's answer on the document.

    Nothing is sent for a document that is gone, discarded or already made
    (a row revived by mistake).  Every QBO call comes before the first write
    of the session (see :func:`flask_qbo.sync.locks.hold_connection`).

    :raises ContactPending: the contact is not in QBO yet; the row waits for it
        (:func:`~flask_qbo.sync.push.doc_contact.customer_for`).
    """
    document = _document(ctx)
    if document is None or document.state in (DocumentState.DISCARDED, DocumentState.CREATED):
        return []
    if document.realm_id != ctx.connection.realm_id:
        raise QBOValidationError(
            "This document was made for another QuickBooks company than the one connected now; "
            "discard it and make it again.",
            code=OTHER_COMPANY,
        )
    link = customer_for(ctx, document)
    body = {**document.body, "CustomerRef": {"value": link.qbo_id}}
    data = ctx.client.create(document.kind, body, request_id=request_id(ctx.row, "create"))
    estimate = _close_estimate(ctx, document) if document.kind == "Invoice" else []
    ctx.hold()
    ctx.mirror(document.kind, data)
    for version in estimate:  # as read (an acceptance the pull has not seen), then closed
        ctx.mirror("Estimate", version)
    ctx.reread_balance(document.kind, link.qbo_id)
    _record_created(document, data)
    ctx.session.add(
        push_log(
            ctx,
            None,
            "created",
            message=f"{document.kind} {document.doc_number or data['Id']} (id {data['Id']}) made in QuickBooks.",
        )
    )
    if document.draft.get("send_after"):
        ctx.session.add(_send_row(ctx.row, document))
        ctx.queued = True
    return [
        (
            signals.document_created,
            {
                "tenant_key": document.tenant_key,
                "contact_key": document.contact_key,
                "txn_type": document.kind,
                "qbo_id": document.qbo_id,
                "doc_number": document.doc_number,
                "total": document.total,
                "user": document.created_by,
            },
        )
    ]


def _document(ctx: RowContext) -> Document | None:
    """The document a ``create_doc`` row names (``target["document_id"]``), if it is still the tenant's."""
    target = ctx.row.target or {}
    document_id = target.get("document_id")
    if not isinstance(document_id, int) or isinstance(document_id, bool):
        raise ValueError(f"Outbox row {ctx.row.id} names no document: target={target!r}.")
    return document_of(ctx.session, ctx.row, ctx.connection.realm_id)


def _record_created(document: Document, data: t.Mapping[str, t.Any]) -> None:
    """QBO's answer replaces what the CRM computed: its id, number and totals; the last refusal is cleared."""
    document.state = DocumentState.CREATED
    document.qbo_id = str(data["Id"])
    document.doc_number = (str(data["DocNumber"])[:21] or None) if data.get("DocNumber") else None
    document.total = money(data.get("TotalAmt"))
    tax = data.get("TxnTaxDetail")
    document.tax_total = money(tax.get("TotalTax")) if isinstance(tax, dict) else None
    subtotal = next(
        (
            line.get("Amount")
            for line in data.get("Line") or []
            if isinstance(line, dict) and line.get("DetailType") == "SubTotalLineDetail"
        ),
        None,
    )
    document.subtotal = money(subtotal) if subtotal is not None else document.subtotal
    currency = data.get("CurrencyRef")
    if isinstance(currency, dict) and currency.get("value"):
        document.currency = str(currency["value"])[:3]
    document.error_code = None
    document.error_message = None  # a refusal, or the note of a wait for the first sync's review


def _send_row(row: Outbox, document: Document) -> Outbox:
    """The ``send_doc`` row a form that asked to email the document on creation queues behind its create."""
    return Outbox(
        tenant_key=row.tenant_key,
        contact_key=row.contact_key,
        op=OutboxOp.SEND_DOC,
        status=OutboxStatus.PENDING,
        attempts=0,
        available_at=utcnow(),
        target={
            "txn_type": document.kind,
            "qbo_id": document.qbo_id,
            "send_to": None,  # the document's billing email
        },
    )


def _close_estimate(ctx: RowContext, document: Document) -> list[dict[str, t.Any]]:
    """After a conversion, make sure the estimate reads ``Closed``; the versions of it QBO showed, oldest first.

    The version read before closing is kept too: it may show an acceptance the
    pull has not mirrored yet, which ``estimate_accepted`` must not miss.

    QBO's screens close an estimate when an invoice is made from it; for an
    invoice made through the API nothing says it does, so it is read back and
    closed with a sparse update when needed (one retry after a 5010).  The
    invoice exists by now, so a failure here must not fail the document: it is
    logged and the estimate is left as it is (the next pull shows its status).
    """
    estimate_id = document.estimate_qbo_id  # billing writes it with the body's ``LinkedTxn``
    if not estimate_id:
        return []
    seen: list[dict[str, t.Any]] = []
    try:
        seen.append(ctx.client.read("Estimate", estimate_id))
        for attempt in range(2):
            if str(seen[-1].get("TxnStatus") or "").casefold() in _CLOSED:
                return seen
            token = seen[-1].get("SyncToken")
            try:
                closed = ctx.client.sparse_update(
                    "Estimate",
                    {"Id": estimate_id, "SyncToken": token, "TxnStatus": "Closed"},
                    request_id=request_id(ctx.row, "close-estimate", token),
                )
                return [*seen, closed]
            except QBOStaleObjectError:
                if attempt:
                    raise
                seen.append(ctx.client.read("Estimate", estimate_id))
    except QBOError as exc:
        log.warning(
            "Invoice of outbox row %s was made, but estimate %s could not be closed (%s).",
            ctx.row.id,
            estimate_id,
            faults.brief(exc),
            extra={
                "qbo_outbox_id": ctx.row.id,
                "qbo_tenant": ctx.row.tenant_key,
                "qbo_realm": ctx.connection.realm_id,
                "intuit_tid": getattr(exc, "intuit_tid", None),
            },
        )
    return seen
