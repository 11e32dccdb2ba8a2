"""What the "QuickBooks Transactions" folder adds for quote-to-cash: buttons, documents on their way, row actions.

The folder (:func:`flask_qbo.views.widgets.transactions_response`) shows it to
every viewer of the contact: the estimates and invoices still *sending* (so a
saved document appears at once) or *refused* (with Intuit's message), and an
action queued on a row ("Voiding…") instead of its button.  The buttons that
change anything (New estimate / New invoice, Edit and retry, Discard, Send,
Void ...) only appear when the host's ``@qbo.can_bill`` allows the user; the
endpoints check the same hook again.

While anything is on its way the folder polls quickly so the salesperson sees
QuickBooks' answer without reloading.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import url_for
from sqlalchemy.orm import Session

from ..billing.actions import QUEUED
from ..billing.actions import allowed_actions
from ..billing.actions import converted_estimates
from ..billing.actions import pending_actions
from ..billing.catalog import Prefs
from ..billing.documents import pending_documents
from ..models import Document
from ..models import DocumentState
from ..models import Outbox
from ..models import OutboxOp
from ..models import OutboxStatus
from ..models import Transaction
from ..state import get_qbo
from ..sync.push.doc_failure import NOT_SENT
from ..widgets import data
from ..widgets.formatting import without_code_prefix

#: The label a row shows instead of its buttons while an op is queued, in the order they win.
PENDING_LABELS: tuple[tuple[OutboxOp, str], ...] = (
    (OutboxOp.DELETE_DOC, "Deleting…"),
    (OutboxOp.VOID_DOC, "Voiding…"),
    (OutboxOp.CREATE_DOC, "Converting…"),
    (OutboxOp.SEND_DOC, "Sending…"),
)
#: Button labels of the row actions (the PDF link is the folder's own).
ACTION_LABELS = {
    "send": "Send",
    "payment_link": "Copy payment link",
    "convert": "Convert to invoice",
    "void": "Void",
    "delete": "Delete",
}
#: What a row says when QuickBooks refused its queued action (Intuit's message follows).
FAILED_LABELS = {
    OutboxOp.SEND_DOC: "Send failed",
    OutboxOp.VOID_DOC: "Void failed",
    OutboxOp.DELETE_DOC: "Delete failed",
}
#: What an estimate's row says when QuickBooks refused the invoice converted from it
#: (the refused invoice above the table offers *Edit and retry* and *Discard*).
CONVERSION_FAILED = "Conversion failed"
#: How often (seconds) the folder polls while a document or action is on its way.
BUSY_POLL_SECONDS = 2


@dataclasses.dataclass(frozen=True)
class RowAction:
    """One button on a row: it opens a small panel (send address, payment link, confirmation)."""

    name: str
    label: str
    url: str


@dataclasses.dataclass
class FolderBilling:
    """The quote-to-cash part of one rendering of the folder."""

    ctx: data.WidgetContext
    may_bill: bool
    prefs: Prefs
    documents: list[Document]
    #: ``(txn_type, qbo_id) → ops`` on their way to QuickBooks: they badge the row and make the folder poll quickly.
    pending: dict[tuple[str, str], set[OutboxOp]]
    #: QBO ids of estimates converted (or being, or refused): no Convert or Delete, though the mirror may lag.
    converted: set[str]
    #: ``(txn_type, qbo_id) → (label, message)`` for actions QuickBooks refused.
    refused: dict[tuple[str, str], tuple[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def allow_estimates(self) -> bool:
        return self.prefs.allow_estimates

    @property
    def busy(self) -> bool:
        """A document is being sent or an action waits for QuickBooks: poll quickly.

        Only what is on its way counts: a conversion QuickBooks made (or refused)
        is settled, and the folder goes back to its normal poll.
        """
        return any(doc.state == DocumentState.SENDING for doc in self.documents) or bool(self.pending)

    def new_url(self, slug: str) -> str:
        return url_for("qbo_billing.new", contact_key=self.ctx.contact_key, slug=slug)

    def document_url(self, document: Document, what: str) -> str:
        return url_for(f"qbo_billing.{what}", contact_key=self.ctx.contact_key, document_id=document.id)

    @staticmethod
    def not_sent(document: Document) -> bool:
        """The failed document was stopped in the CRM (its contact is not in QuickBooks ...): QuickBooks refused nothing."""
        return document.error_code in NOT_SENT

    def failure(self, txn: Transaction) -> tuple[str, str] | None:
        """``("Send failed", Intuit's message)`` when QuickBooks refused the row's last action."""
        return self.refused.get((txn.txn_type, txn.qbo_id))

    def pending_label(self, txn: Transaction) -> str | None:
        """ "Sending…", "Voiding…" ... while an op for this row is queued."""
        ops = self.pending.get((txn.txn_type, txn.qbo_id), set())
        return next((label for op, label in PENDING_LABELS if op in ops), None)

    def actions(self, txn: Transaction) -> list[RowAction]:
        """The row's buttons: what QBO would accept now, for a user who may bill."""
        if not self.may_bill:
            return []
        ops = self.pending.get((txn.txn_type, txn.qbo_id), set())
        return [
            RowAction(
                name,
                ACTION_LABELS[name],
                url_for(
                    "qbo_billing_actions.panel",
                    contact_key=self.ctx.contact_key,
                    txn_type=txn.txn_type,
                    qbo_id=txn.qbo_id,
                    action=name,
                ),
            )
            for name in allowed_actions(txn, self.prefs, ops, converted=self._converted(txn))
            if name in ACTION_LABELS
        ]

    def _converted(self, txn: Transaction) -> bool:
        return txn.txn_type == "Estimate" and txn.qbo_id in self.converted

    def fingerprint(self) -> tuple[t.Any, ...]:
        """What the folder's ETag must cover beyond the mirror: documents, queued actions, the permission."""
        docs = tuple((doc.id, str(doc.state), str(doc.updated_at)) for doc in self.documents)
        pending = tuple(sorted((key, tuple(sorted(str(op) for op in ops))) for key, ops in self.pending.items()))
        refused = tuple(sorted(self.refused.items()))
        return (self.may_bill, self.prefs.allow_estimates, docs, pending, tuple(sorted(self.converted)), refused)


def folder_billing(session: Session, ctx: data.WidgetContext) -> FolderBilling:
    """The folder's quote-to-cash state for this contact and user (nothing to offer when not connected)."""
    qbo = get_qbo()
    realm_id = ctx.connection.realm_id if ctx.connection is not None else None
    prefs = Prefs.load(session, realm_id) if realm_id else Prefs()
    documents = pending_documents(session, ctx.tenant_key, ctx.contact_key)
    return FolderBilling(
        ctx=ctx,
        may_bill=bool(ctx.connected and realm_id and qbo.may_bill(ctx.contact)),
        prefs=prefs,
        documents=documents,
        pending=pending_actions(session, ctx.tenant_key, ctx.contact_key),
        converted=converted_estimates(session, ctx.tenant_key, ctx.contact_key),
        refused={**refused_actions(session, ctx.tenant_key, ctx.contact_key), **refused_conversions(documents)},
    )


def refused_conversions(documents: t.Iterable[Document]) -> dict[tuple[str, str], tuple[str, str]]:
    """``("Conversion failed", Intuit's message)`` on each estimate whose converted invoice QuickBooks refused.

    Nothing is on its way any more, so the row must not say "Converting…";
    it names the failure where the salesperson looks for the estimate.
    """
    return {
        ("Estimate", str(doc.estimate_qbo_id)): (
            CONVERSION_FAILED,
            doc.error_message or "QuickBooks refused the invoice.",
        )
        for doc in documents
        if doc.state == DocumentState.FAILED and doc.estimate_qbo_id
    }


def refused_actions(session: Session, tenant_key: str, contact_key: str) -> dict[tuple[str, str], tuple[str, str]]:
    """The contact's send/void/delete rows QuickBooks refused, the newest per document.

    The row keeps its buttons: trying again (another address, after a refund)
    queues a new row, which replaces the refused one.
    """
    rows = (
        session.query(Outbox)
        .filter(
            Outbox.tenant_key == tenant_key,
            Outbox.contact_key == contact_key,
            Outbox.op.in_(tuple(QUEUED.values())),
            Outbox.status.in_((OutboxStatus.FAILED, OutboxStatus.DEAD)),
        )
        .order_by(Outbox.id)
    )
    refused: dict[tuple[str, str], tuple[str, str]] = {}
    for row in rows:
        target = row.target or {}
        if target.get("txn_type") and target.get("qbo_id"):
            message = without_code_prefix(row.error_code, row.last_error) or "QuickBooks refused it."
            refused[(str(target["txn_type"]), str(target["qbo_id"]))] = (FAILED_LABELS[row.op], message)
    return refused
