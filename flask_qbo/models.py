"""The extension's own tables.

They sit on their own :class:`~sqlalchemy.MetaData` with a ``qbo_`` prefix, so a host never
subclasses them and can hand :data:`metadata` (with :func:`render_item`) to its Alembic env.
They live on the host's engine and are used through the host's session, which is what lets
an outbox row commit in the same transaction as the contact edit.
"""

from __future__ import annotations

import datetime as dt
import enum
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
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

if t.TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext

#: Constraint names are fixed so Alembic autogenerate produces stable migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The metadata holding every ``qbo_*`` table; give it to Alembic's ``target_metadata``.
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC; every stored time is UTC."""
    return dt.datetime.now(dt.timezone.utc)


class Status(str, enum.Enum):
    """A status stored as its plain value (``"pending"``), compared and shown as that value."""

    def __str__(self) -> str:
        return str(self.value)


class ConnectionStatus(Status):
    """Where a tenant's link to its QuickBooks company stands."""

    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class SyncStatus(Status):
    """What the contact card says about a linked customer."""

    SYNCED = "synced"
    PENDING = "pending"
    FAILED = "failed"


class OutboxStatus(Status):
    """An outbox row's place in the push queue."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    #: Refused by QBO (validation): waits for a person to fix the contact.
    FAILED = "failed"
    #: Out of attempts: kept for the health page, never retried on its own.
    DEAD = "dead"


class OutboxOp(Status):
    """What an outbox row asks of QBO."""

    UPSERT = "upsert"
    INACTIVATE = "inactivate"


class InboxStatus(Status):
    """An inbox event's place in the pull queue."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    #: Nothing to apply (an entity we do not mirror, a disconnected realm).
    IGNORED = "ignored"


class ImportStatus(Status):
    """Where an import run stands."""

    FETCHING = "fetching"
    REVIEW = "review"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ImportDecision(Status):
    """The admin's choice for one imported QBO customer."""

    PENDING = "pending"
    LINK = "link"
    CREATE = "create"
    SKIP = "skip"


def status_column(kind: type[Status]) -> sa.Enum:
    """A VARCHAR(20) of ``kind``'s values, loaded as members: no database enum type and no CHECK,
    so existing tables and hosts' migrations stay valid when a value is added."""
    return sa.Enum(
        kind, native_enum=False, length=20, create_constraint=False, values_callable=lambda e: [m.value for m in e]
    )


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A DateTime that always comes back timezone-aware in UTC.

    SQLite drops the offset; PostgreSQL keeps it.  Normalising here means sync
    code can compare times without caring which database it runs on.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        """``value`` in UTC; a naive time is taken as UTC already."""
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)

    process_result_value = process_bind_param


def render_item(kind: str, obj: object, autogen_context: AutogenContext) -> str | t.Literal[False]:
    """Alembic's ``render_item`` hook: a :class:`UTCDateTime` column is written ``sa.DateTime(timezone=True)``.

    Alembic writes a type from outside SQLAlchemy as ``<module>.<repr>`` without importing the module
    (a ``NameError``).  The database holds a plain timestamp: migrations say so, free of our internals."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return f"{autogen_context.opts['sqlalchemy_module_prefix'] or ''}DateTime(timezone=True)"
    return False


class Base(DeclarativeBase):
    """Declarative base bound to :data:`metadata` (not the host's)."""

    metadata = metadata


Money = sa.Numeric(14, 2)


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
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


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


class ImportRun(Base):
    """One run of the initial import: progress and a resumable cursor."""

    __tablename__ = "qbo_import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_key: Mapped[str] = mapped_column(String(64), index=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[ImportStatus] = mapped_column(status_column(ImportStatus), default=ImportStatus.FETCHING)
    #: Only transactions this many months back (None: all history).
    months: Mapped[int | None] = mapped_column(Integer)
    #: Where fetching resumes: {"entity": "Invoice", "start": 1001}.
    cursor: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    customers_total: Mapped[int] = mapped_column(Integer, default=0)
    customers_done: Mapped[int] = mapped_column(Integer, default=0)
    transactions_done: Mapped[int] = mapped_column(Integer, default=0)
    requests_made: Mapped[int] = mapped_column(Integer, default=0)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ImportMatch(Base):
    """A proposed pairing of a QBO customer with a CRM contact, awaiting the admin's choice."""

    __tablename__ = "qbo_import_match"
    __table_args__ = (UniqueConstraint("run_id", "qbo_id", name="uq_qbo_import_match_run_qbo_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    qbo_id: Mapped[str] = mapped_column(String(32))
    contact_key: Mapped[str | None] = mapped_column(String(64))
    #: ``email`` / ``phone`` / ``name`` / ``ambiguous`` / ``none``.
    match_kind: Mapped[str] = mapped_column(String(20))
    #: Other plausible contacts when ambiguous: [contact_key, ...].
    candidates: Mapped[list[str] | None] = mapped_column(JSON)
    decision: Mapped[ImportDecision] = mapped_column(status_column(ImportDecision), default=ImportDecision.PENDING)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
