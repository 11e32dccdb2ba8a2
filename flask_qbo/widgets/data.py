"""What the dashboard widgets show, read only from the local mirror.

The widgets must be instant and must cost no QBO reads, so nothing here calls
QBO: every value comes from ``qbo_customer``, ``qbo_transaction``,
``qbo_outbox`` and ``qbo_connection``.  The view module turns these values
into responses; the formatting helpers double as Jinja filters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import typing as t
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.orm import Query
from sqlalchemy.orm import Session

from ..models import CUSTOMER_OPS
from ..models import Connection
from ..models import ConnectionStatus
from ..models import Customer
from ..models import Outbox
from ..models import OutboxStatus
from ..models import SyncStatus
from ..models import Transaction
from ..sync.pull import mirror
from . import deeplinks
from .formatting import format_date
from .formatting import format_datetime
from .formatting import format_money
from .formatting import status_label
from .formatting import without_code_prefix
from .statement import OpenItem
from .statement import Statement
from .statement import build_statement

#: Transaction types in the folder, in tab order, with their plural tab label.
TRANSACTION_TYPES: tuple[tuple[str, str, str], ...] = (
    ("Invoice", "Invoice", "Invoices"),
    ("Payment", "Payment", "Payments"),
    ("Estimate", "Estimate", "Estimates"),
    ("SalesReceipt", "Sales receipt", "Sales receipts"),
    ("CreditMemo", "Credit memo", "Credit memos"),
    ("RefundReceipt", "Refund receipt", "Refund receipts"),
)
TYPE_LABELS = {key: label for key, label, _plural in TRANSACTION_TYPES}

_OUTBOX_PENDING = (OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS)
_OUTBOX_FAILED = (OutboxStatus.FAILED, OutboxStatus.DEAD)


#: The mirror's status of a type where QBO's own lists use another word: a payment or
#: credit memo with nothing left to apply is "Closed", a credit memo with credit left
#: is "Unapplied" (like a payment's unapplied money), a refund receipt is "Paid".
#: The emulator's lists (flask_qbo/emulator/ui_forms.py ``txn_status``) say the same.
QBO_WORDS: dict[tuple[str, str], str] = {
    ("Payment", "applied"): "closed",
    ("CreditMemo", "applied"): "closed",
    ("CreditMemo", "open"): "unapplied",
    ("RefundReceipt", "refunded"): "paid",
}


def display_status(txn: Transaction, today: dt.date) -> str | None:
    """The badge for a row in QBO's words, ageing open invoices into ``overdue`` as days pass.

    The mirror computes the status when QBO last changed the document; an
    unpaid invoice becomes overdue later without any QBO change.  The stored
    value stays as it is (rows mirrored earlier need no rewrite); only the
    badge follows :data:`QBO_WORDS`.
    """
    status = txn.status
    if status is not None:
        status = QBO_WORDS.get((txn.txn_type, status), status)
    if (
        txn.txn_type == "Invoice"
        and status in ("open", "partially_paid")
        and txn.due_date is not None
        and txn.due_date < today
        and (txn.balance or 0) > 0
    ):
        return "overdue"
    return status


# -- the contact's QBO state ------------------------------------------------------


@dataclasses.dataclass
class WidgetContext:
    """Everything the widgets know about one contact, loaded in a few indexed queries."""

    contact: t.Any
    contact_key: str
    tenant_key: str
    connection: Connection | None
    customer: Customer | None
    outbox: Outbox | None

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.is_active

    @property
    def needs_reconnect(self) -> bool:
        return self.connection is not None and self.connection.status == ConnectionStatus.NEEDS_RECONNECT

    @property
    def currency(self) -> str | None:
        return self.customer.currency if self.customer else None

    def sync_state(self) -> tuple[str, str | None]:
        """``(state, reason)``: ``not_connected``, ``failed``, ``pending`` or ``linked``."""
        if not self.connected:
            if self.needs_reconnect:
                return "not_connected", "QuickBooks needs to be reconnected by an admin."
            return "not_connected", None
        if self.customer is not None:
            if self.customer.sync_status == SyncStatus.FAILED:
                return "failed", self._error_text(self.customer.sync_error)
            if self.outbox is not None and self.outbox.status in _OUTBOX_PENDING:
                return "pending", None
            return "linked", None
        if self.outbox is not None and self.outbox.status in _OUTBOX_FAILED:
            return "failed", self._error_text(self.outbox.last_error)
        return "pending", None

    def _error_text(self, message: str | None) -> str:
        """The stored error without the ``[code]`` prefix a salesperson cannot use."""
        code = self.outbox.error_code if self.outbox is not None else None
        return without_code_prefix(code, message) or "The last sync failed."

    def customer_url(self) -> str | None:
        """Deep link to the customer in QBO (``None`` unless linked with a valid id)."""
        if self.customer is None:
            return None
        return deeplinks.customer_url(self.customer.qbo_id, self.customer.realm_id)


def load_context(session: Session, contact: t.Any, contact_key: str, tenant_key: str) -> WidgetContext:
    """Load the connection, the linked mirror customer and the latest outbox row that writes the customer.

    Document rows (estimates, invoices, sends) are not the contact's sync
    state: a refused invoice must not mark the contact "Sync failed".

    A customer mirrored from a company the tenant is no longer connected to is
    ignored, so a reconnect to another company never shows the old one's data.
    """
    connection = session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()
    customer = session.query(Customer).filter_by(tenant_key=tenant_key, contact_key=contact_key).one_or_none()
    if customer is not None and connection is not None and connection.realm_id not in (None, customer.realm_id):
        customer = None
    outbox = (
        session.query(Outbox)
        .filter_by(tenant_key=tenant_key, contact_key=contact_key)
        .filter(Outbox.op.in_(CUSTOMER_OPS))
        .order_by(Outbox.id.desc())
        .first()
    )
    return WidgetContext(contact, contact_key, tenant_key, connection, customer, outbox)


# -- queries on the transaction mirror -------------------------------------------------


def _customer_rows(session: Session, customer: Customer) -> Query[Transaction]:
    return session.query(Transaction).filter(
        Transaction.realm_id == customer.realm_id,
        Transaction.customer_qbo_id == customer.qbo_id,
        Transaction.deleted.is_(False),
    )


@dataclasses.dataclass
class Page:
    """One page of the transactions folder."""

    rows: list[Transaction]
    page: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def transactions_page(session: Session, customer: Customer, *, txn_type: str | None, page: int, per_page: int) -> Page:
    """A page of the customer's transactions, newest first (date, then id).

    One extra row is fetched to know whether a next page exists, which avoids a
    COUNT over a large history on every render.
    """
    page = max(1, page)
    query = _customer_rows(session, customer)
    if txn_type:
        query = query.filter(Transaction.txn_type == txn_type)
    rows = (
        query.order_by(Transaction.txn_date.desc(), Transaction.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
        .all()
    )
    return Page(rows=rows[:per_page], page=page, per_page=per_page, has_next=len(rows) > per_page)


def find_transaction(session: Session, customer: Customer, txn_type: str, qbo_id: str) -> Transaction | None:
    """The mirrored transaction only if it belongs to this customer in this realm."""
    return (
        _customer_rows(session, customer)
        .filter(Transaction.txn_type == txn_type, Transaction.qbo_id == qbo_id)
        .one_or_none()
    )


def last_payment(session: Session, customer: Customer) -> Transaction | None:
    """The newest live payment received from the customer."""
    return (
        _customer_rows(session, customer)
        .filter(Transaction.txn_type == "Payment", Transaction.status != "void")
        .order_by(Transaction.txn_date.desc(), Transaction.id.desc())
        .first()
    )


def overdue_balance(session: Session, customer: Customer, today: dt.date) -> Decimal:
    """Past-due open balance from the mirror's invoices (computed by the pull side's helper)."""
    return mirror.overdue_balance(session, customer.realm_id, customer.qbo_id, today)


def open_balance(session: Session, customer: Customer) -> Decimal | None:
    """QBO's own open balance for the customer, or the mirror's open invoices when QBO gave none."""
    if customer.balance is not None:
        return customer.balance
    total = (
        _customer_rows(session, customer)
        .filter(Transaction.txn_type == "Invoice", Transaction.status != "void", Transaction.balance > 0)
        .with_entities(func.coalesce(func.sum(Transaction.balance), 0))
        .scalar()
    )
    return Decimal(str(total)).quantize(Decimal("0.01"))


def statement_for(session: Session, customer: Customer, today: dt.date) -> Statement:
    """The derived statement: open invoices and unapplied credits from the mirror."""
    rows = (
        _customer_rows(session, customer)
        .filter(Transaction.txn_type.in_(("Invoice", "CreditMemo", "Payment")), Transaction.balance > 0)
        .all()
    )
    items = [
        OpenItem(
            txn_type=row.txn_type,
            qbo_id=row.qbo_id,
            doc_number=row.doc_number,
            txn_date=row.txn_date,
            due_date=row.due_date,
            open_amount=row.balance or Decimal("0"),
            status=row.status,
            deleted=row.deleted,
        )
        for row in rows
    ]
    return build_statement(items, today)


# -- ETag for live updates --------------------------------------------------------------


def fingerprint(session: Session, ctx: WidgetContext, *parts: object) -> str:
    """A strong ETag value (unquoted) over everything a widget shows, so unchanged polls answer 304.

    It covers the mirror customer, the newest transaction change, the latest
    outbox row, the connection, and the caller's own parts (widget name, page,
    filter, today's date so overdue badges age, full page or partial).
    """
    latest_txn = None
    if ctx.customer is not None:
        latest_txn = (
            session.query(func.max(Transaction.updated_at), func.count(Transaction.id))
            .filter(
                Transaction.realm_id == ctx.customer.realm_id,
                Transaction.customer_qbo_id == ctx.customer.qbo_id,
            )
            .one()
        )
    values = [
        ctx.contact_key,
        ctx.customer.id if ctx.customer else None,
        ctx.customer.updated_at.isoformat() if ctx.customer and ctx.customer.updated_at else None,
        tuple(str(v) for v in latest_txn) if latest_txn else None,
        (ctx.outbox.id, ctx.outbox.status, str(ctx.outbox.updated_at)) if ctx.outbox else None,
        (ctx.connection.status, ctx.connection.realm_id, str(ctx.connection.updated_at)) if ctx.connection else None,
        *parts,
    ]
    return hashlib.sha256(repr(values).encode("utf-8")).hexdigest()[:32]


__all__ = [
    "TRANSACTION_TYPES",
    "QBO_WORDS",
    "TYPE_LABELS",
    "Page",
    "WidgetContext",
    "display_status",
    "find_transaction",
    "fingerprint",
    "format_date",
    "format_datetime",
    "format_money",
    "last_payment",
    "load_context",
    "open_balance",
    "overdue_balance",
    "statement_for",
    "status_label",
    "transactions_page",
]
