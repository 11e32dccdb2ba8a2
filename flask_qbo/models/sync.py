"""The sync tables: the connection, the customer and transaction mirrors, the outbox, the inbox and the log."""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

if t.TYPE_CHECKING:
    pass


from .base import Base
from .base import Money
from .base import UTCDateTime
from .base import status_column
from .base import utcnow
from .statuses import ConnectionStatus
from .statuses import InboxStatus
from .statuses import OutboxOp
from .statuses import OutboxStatus
from .statuses import SyncStatus


class Connection(Base):
    """One tenant's link to one QBO company, with its encrypted tokens and cursors."""

    __tablename__ = "qbo_connection"
    __table_args__ = (
        # A company syncs with one tenant at a time: two admins connecting it at the
        # same instant cannot both win.  Disconnected rows (kept data) don't count.
        Index(
            "uq_qbo_connection_live_realm",
            "realm_id",
            unique=True,
            sqlite_where=sa.text("status != 'disconnected'"),
            postgresql_where=sa.text("status != 'disconnected'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_key: Mapped[str] = mapped_column(String(64), unique=True)
    realm_id: Mapped[str | None] = mapped_column(String(32))
    company_name: Mapped[str | None] = mapped_column(String(1024))
    environment: Mapped[str] = mapped_column(String(16), default="sandbox")
    status: Mapped[ConnectionStatus] = mapped_column(
        status_column(ConnectionStatus), default=ConnectionStatus.DISCONNECTED
    )
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refresh_hard_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    connected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    connected_by: Mapped[str | None] = mapped_column(String(255))
    disconnected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Why the connection needs a reconnect (never a token).
    status_reason: Mapped[str | None] = mapped_column(Text)
    #: CDC cursor: changes up to this QBO time have been applied.
    cdc_cursor: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_cdc_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_webhook_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Metered reads (CorePlus) used this month, as ``YYYY-MM`` and a count.
    reads_month: Mapped[str | None] = mapped_column(String(7))
    reads_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Which expiry warnings (days before) were already sent, e.g. ``[30]``.
    warnings_sent: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        """True while sync may run (connected, tokens believed good)."""
        return self.status == ConnectionStatus.CONNECTED

    def __repr__(self) -> str:
        # Tokens are deliberately left out.
        return f"<Connection tenant={self.tenant_key!r} realm={self.realm_id!r} status={self.status!s}>"


class Customer(Base):
    """Local mirror of a QBO customer and its link to a host contact."""

    __tablename__ = "qbo_customer"
    __table_args__ = (
        UniqueConstraint("realm_id", "qbo_id", name="uq_qbo_customer_realm_qbo_id"),
        UniqueConstraint("tenant_key", "contact_key", name="uq_qbo_customer_tenant_contact"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_key: Mapped[str] = mapped_column(String(64), index=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    qbo_id: Mapped[str] = mapped_column(String(32))
    contact_key: Mapped[str | None] = mapped_column(String(64))
    sync_token: Mapped[str | None] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(500))
    company_name: Mapped[str | None] = mapped_column(String(100))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(100), index=True)
    phone: Mapped[str | None] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Set when QBO merged this customer away: the surviving customer's id.
    merged_into: Mapped[str | None] = mapped_column(String(32))
    is_job: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_qbo_id: Mapped[str | None] = mapped_column(String(32))
    parent_name: Mapped[str | None] = mapped_column(String(500))
    terms_id: Mapped[str | None] = mapped_column(String(32))
    terms_name: Mapped[str | None] = mapped_column(String(100))
    payment_method_id: Mapped[str | None] = mapped_column(String(32))
    payment_method_name: Mapped[str | None] = mapped_column(String(100))
    delivery_method: Mapped[str | None] = mapped_column(String(20))
    balance: Mapped[Decimal | None] = mapped_column(Money)
    balance_with_jobs: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    taxable: Mapped[bool | None] = mapped_column(Boolean)
    resale_num: Mapped[str | None] = mapped_column(String(16))
    qbo_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    qbo_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: Field hash of what we last wrote to QBO and what we last read from it (echo detection).
    last_pushed_hash: Mapped[str | None] = mapped_column(String(64))
    last_pulled_hash: Mapped[str | None] = mapped_column(String(64))
    #: QBO path -> value as both sides last agreed: the base of the three-way merge.
    synced_values: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    sync_status: Mapped[SyncStatus | None] = mapped_column(status_column(SyncStatus))
    sync_error: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Customer realm={self.realm_id!r} qbo_id={self.qbo_id!r} contact={self.contact_key!r}>"


class Transaction(Base):
    """Local mirror of one QBO sales transaction that references a customer."""

    __tablename__ = "qbo_transaction"
    __table_args__ = (
        UniqueConstraint("realm_id", "txn_type", "qbo_id", name="uq_qbo_transaction_realm_type_id"),
        Index("ix_qbo_transaction_customer_date", "realm_id", "customer_qbo_id", "txn_date", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    #: QBO entity name: Invoice, Payment, Estimate, SalesReceipt, CreditMemo, RefundReceipt.
    txn_type: Mapped[str] = mapped_column(String(20))
    qbo_id: Mapped[str] = mapped_column(String(32))
    customer_qbo_id: Mapped[str | None] = mapped_column(String(32))
    sync_token: Mapped[str | None] = mapped_column(String(32))
    doc_number: Mapped[str | None] = mapped_column(String(21))
    txn_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    due_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    total: Mapped[Decimal | None] = mapped_column(Money)
    balance: Mapped[Decimal | None] = mapped_column(Money)
    #: open, overdue, partially_paid, paid, void, pending, accepted, closed, rejected, unapplied, applied ...
    status: Mapped[str | None] = mapped_column(String(20))
    currency: Mapped[str | None] = mapped_column(String(3))
    email_status: Mapped[str | None] = mapped_column(String(20))
    memo: Mapped[str | None] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    qbo_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Outbox(Base):
    """A pending CRM → QBO change for one contact, written in the contact's transaction."""

    __tablename__ = "qbo_outbox"
    __table_args__ = (
        Index("ix_qbo_outbox_claim", "status", "available_at", "id"),
        Index("ix_qbo_outbox_contact", "tenant_key", "contact_key", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Sent to QBO as ``requestid`` so a retried create never duplicates a customer.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    tenant_key: Mapped[str] = mapped_column(String(64))
    contact_key: Mapped[str] = mapped_column(String(64))
    op: Mapped[OutboxOp] = mapped_column(status_column(OutboxOp), default=OutboxOp.UPSERT)
    status: Mapped[OutboxStatus] = mapped_column(status_column(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    #: A create sent for this row, committed before sending: {"DisplayName": ..., "values": {path: value}}.
    #: When its answer was lost (timeout, crash), the retry recognises the customer as its own create
    #: by that unique DisplayName.  Key "update": a lost update's note (flask_qbo.sync.dating).
    create_sent: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    #: For document ops (not ``upsert``/``inactivate``): what the op acts on, e.g.
    #: ``{"document_id": 7}`` or ``{"txn_type": "Invoice", "qbo_id": "130", "send_to": "a@b.example"}``.
    target: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the CRM last changed what this row sends: newest-wins dates the CRM side of a
    #: conflict by it.  Only a new edit moves it (:func:`flask_qbo.sync.capture.write_row`);
    #: claims, put-backs, failures and retries are bookkeeping, so there is no ``onupdate``.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Inbox(Base):
    """A change notification from QBO (webhook or CDC), stored before it is processed."""

    __tablename__ = "qbo_inbox"
    __table_args__ = (Index("ix_qbo_inbox_claim", "status", "realm_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: CloudEvents ``id`` or, for legacy bodies, realm+entity+id+operation+time.
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(20))
    deleted_id: Mapped[str | None] = mapped_column(String(32))
    event_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[InboxStatus] = mapped_column(status_column(InboxStatus), default=InboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Not claimed before this time (a failed batch's events wait out their backoff).
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The claim: when and by which worker; a claim older than the lease is taken over.
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the event was settled (done, ignored, failed); never a claim stamp.
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The notification body, kept briefly for replay and debugging.
    raw: Mapped[str | None] = mapped_column(Text)


class SyncLog(Base):
    """What happened to a contact/customer: feeds the health page and the contact card."""

    __tablename__ = "qbo_sync_log"
    __table_args__ = (Index("ix_qbo_sync_log_contact", "tenant_key", "contact_key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_key: Mapped[str | None] = mapped_column(String(64))
    realm_id: Mapped[str | None] = mapped_column(String(32))
    contact_key: Mapped[str | None] = mapped_column(String(64))
    qbo_id: Mapped[str | None] = mapped_column(String(32))
    #: ``push`` / ``pull`` / ``connect`` / ``import`` / ``webhook`` (a malformed part of a notification).
    direction: Mapped[str] = mapped_column(String(10))
    #: e.g. created, updated, matched, conflict, failed, echo, merged, inactivated, malformed.
    action: Mapped[str] = mapped_column(String(20))
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    #: For conflicts: {field: {"crm": ..., "qbo": ..., "winner": ...}}.
    conflict: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RefItem(Base):
    """Per-realm cache of reference lists (Term, PaymentMethod) for display names."""

    __tablename__ = "qbo_ref_item"
    __table_args__ = (UniqueConstraint("realm_id", "kind", "qbo_id", name="uq_qbo_ref_item_realm_kind_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    #: ``Term`` or ``PaymentMethod``.
    kind: Mapped[str] = mapped_column(String(20))
    qbo_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
