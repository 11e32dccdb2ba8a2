"""What the CRM does to a document QBO already made: email it, void it, delete it.

Each is an outbox row (``send_doc``, ``void_doc``, ``delete_doc``) whose
``target`` names the transaction (``txn_type``, ``qbo_id``, and ``send_to`` for
a send), so it has the outbox's guarantees: it survives a crash, waits for a
reconnect, and runs after the contact's earlier rows (the create of the very
document it acts on included).

Void and delete need the transaction's current SyncToken: the mirror's is
tried first (no read spent), and a 5010 means someone changed the document in
QuickBooks meanwhile, so it is read again and the write retried once; a
second 5010 goes back to the queue like any stale write.  A document that is
already gone (610, and a read confirms it) needs no void or delete: the row
is done and the mirror row is marked deleted.  Every write carries a ``requestid`` derived from the
row and the SyncToken it applies to, so a retry after a lost answer is
answered with QBO's first answer, while the retry after a 5010 is a new write.
"""

from __future__ import annotations

import typing as t

from blinker import NamedSignal

from ... import signals
from ...errors import QBOInactiveReferenceError
from ...errors import QBONotFoundError
from ...errors import QBOStaleObjectError
from ...models import Transaction
from ..pull import mirror
from .context import RowContext
from .context import push_log
from .context import request_id
from .doc_failure import document_of

#: A signal and its keyword arguments, sent once the row's commit is done.
Announcement = tuple[NamedSignal, dict[str, t.Any]]

#: ``write(token)``: one void or delete with the given SyncToken.
_Write = t.Callable[[str], dict[str, t.Any]]


def target_of(ctx: RowContext) -> tuple[str, str]:
    """The ``(txn_type, qbo_id)`` an action row names.

    :raises ValueError: the row's ``target`` is malformed (a bug of whoever wrote it).
    """
    target = ctx.row.target or {}
    txn_type, qbo_id = target.get("txn_type"), target.get("qbo_id")
    if txn_type not in mirror.TRANSACTION_TYPES or not qbo_id:
        raise ValueError(f"Outbox row {ctx.row.id} names no transaction: target={target!r}.")
    return str(txn_type), str(qbo_id)


def send_document(ctx: RowContext) -> list[Announcement]:
    """Email the document through QBO (``/send``) and mirror its answer (``EmailStatus``, ``BillEmail``)."""
    txn_type, qbo_id = target_of(ctx)
    send_to = (ctx.row.target or {}).get("send_to") or None
    data = ctx.client.send(txn_type, qbo_id, to=send_to, request_id=ctx.row.uuid)
    ctx.hold()
    ctx.mirror(txn_type, data)
    _settled(ctx)
    bill_email = data.get("BillEmail")
    sent_to = send_to or (bill_email.get("Address") if isinstance(bill_email, dict) else None)
    ctx.session.add(push_log(ctx, None, "sent", message=f"{txn_type} id {qbo_id} emailed to {sent_to or '?'}."))
    return [
        (
            signals.document_sent,
            {
                "tenant_key": ctx.row.tenant_key,
                "contact_key": ctx.row.contact_key,
                "txn_type": txn_type,
                "qbo_id": qbo_id,
                "doc_number": data.get("DocNumber"),
                "sent_to": sent_to,
            },
        )
    ]


def void_document(ctx: RowContext) -> None:
    """Void the transaction (amounts to zero, ``Voided`` note) and mirror QBO's answer."""
    txn_type, qbo_id = target_of(ctx)

    def write(token: str) -> dict[str, t.Any]:
        return ctx.client.void(txn_type, qbo_id, token, request_id=request_id(ctx.row, "void", token))

    data = _with_current_token(ctx, txn_type, qbo_id, write)
    ctx.hold()
    realm_id = str(ctx.connection.realm_id)
    ctx.reread_balance(txn_type, _customer_of(ctx, txn_type, qbo_id))
    if data is None:
        mirror.mark_transaction_deleted(ctx.session, realm_id, txn_type, qbo_id)
        action = "gone"
    else:
        ctx.mirror(txn_type, data)
        action = "voided"
    _settled(ctx)
    ctx.session.add(push_log(ctx, None, action, message=_said(txn_type, qbo_id, action)))


def delete_document(ctx: RowContext) -> None:
    """Delete the transaction in QBO and tombstone its mirror row."""
    txn_type, qbo_id = target_of(ctx)

    def write(token: str) -> dict[str, t.Any]:
        return ctx.client.delete(txn_type, qbo_id, token, request_id=request_id(ctx.row, "delete", token))

    data = _with_current_token(ctx, txn_type, qbo_id, write)
    ctx.hold()
    ctx.reread_balance(txn_type, _customer_of(ctx, txn_type, qbo_id))
    mirror.mark_transaction_deleted(ctx.session, str(ctx.connection.realm_id), txn_type, qbo_id)
    action = "gone" if data is None else "deleted"
    _settled(ctx)
    ctx.session.add(push_log(ctx, None, action, message=_said(txn_type, qbo_id, action)))


def _said(txn_type: str, qbo_id: str, action: str) -> str:
    if action == "gone":
        return f"{txn_type} id {qbo_id} was already deleted in QuickBooks."
    return f"{txn_type} id {qbo_id} {action} in QuickBooks."


def _with_current_token(ctx: RowContext, txn_type: str, qbo_id: str, write: _Write) -> dict[str, t.Any] | None:
    """Run ``write`` with the mirror's SyncToken, or QBO's after a 5010 (one retry); ``None`` when it is gone.

    :raises QBOStaleObjectError: the SyncToken was stale twice; the row is retried later.
    """
    try:
        token = _mirrored_token(ctx, txn_type, qbo_id)
        if token is None:
            token = _read_token(ctx, txn_type, qbo_id)
        try:
            return write(token)
        except QBOStaleObjectError:
            return write(_read_token(ctx, txn_type, qbo_id))
    except (QBONotFoundError, QBOInactiveReferenceError):
        if _exists(ctx, txn_type, qbo_id):
            raise
        return None


def _exists(ctx: RowContext, txn_type: str, qbo_id: str) -> bool:
    """Whether QBO still has the transaction, after a 610.

    Intuit answers a missing object and a reference to an inactive record with
    the same 610 (and the same detail), and a void of an invoice whose customer
    was made inactive could be the latter: only a read tells which.
    """
    try:
        ctx.client.read(txn_type, qbo_id)
    except (QBONotFoundError, QBOInactiveReferenceError):
        return False
    return True


def _mirrored_token(ctx: RowContext, txn_type: str, qbo_id: str) -> str | None:
    row: Transaction | None = mirror.get_transaction(ctx.session, str(ctx.connection.realm_id), txn_type, qbo_id)
    if row is None or row.deleted or not row.sync_token:
        return None
    return row.sync_token


def _customer_of(ctx: RowContext, txn_type: str, qbo_id: str) -> str | None:
    """The customer the mirror says the transaction is for (a delete's answer names none)."""
    row: Transaction | None = mirror.get_transaction(ctx.session, str(ctx.connection.realm_id), txn_type, qbo_id)
    return row.customer_qbo_id if row is not None else None


def _read_token(ctx: RowContext, txn_type: str, qbo_id: str) -> str:
    return str(ctx.client.read(txn_type, qbo_id).get("SyncToken") or "0")


def _settled(ctx: RowContext) -> None:
    """An action that went through clears an earlier refusal from the document. No commit."""
    document = document_of(ctx.session, ctx.row, ctx.connection.realm_id)
    if document is not None and document.error_message is not None:
        document.error_code = None
        document.error_message = None
