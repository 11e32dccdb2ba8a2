"""Quote-to-cash tables: the company's products and tax codes, its sales preferences, and the
estimates and invoices a salesperson makes from the CRM until QBO has them.

Items, tax codes and preferences are a per-realm mirror, read on connect and kept fresh by
webhooks, CDC and a periodic read (tax codes are not in CDC).  A :class:`Document` is the
CRM's own record of a document it asked QBO to make: it exists from the moment the form is
saved (state ``sending``), so the folder shows it at once, and keeps QBO's refusal when QBO
says no, so the salesperson can edit and retry.  Once QBO made it, the
:class:`~flask_qbo.models.Transaction` mirror row is the truth and the document only links to it.
"""

from __future__ import annotations

import datetime as dt
import typing as t
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

from .base import Base
from .base import Money
from .base import UTCDateTime
from .base import status_column
from .base import utcnow
from .statuses import DocumentState

#: Unit prices and quantities keep QBO's precision (UnitPrice may carry 7 decimals on bundles).
Precise = sa.Numeric(20, 7)


class Item(Base):
    """A QBO product or service (``Item``): what a line on an estimate or invoice sells."""

    __tablename__ = "qbo_item"
    __table_args__ = (
        UniqueConstraint("realm_id", "qbo_id", name="uq_qbo_item_realm_id"),
        Index("ix_qbo_item_realm_name", "realm_id", "active", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    qbo_id: Mapped[str] = mapped_column(String(32))
    sync_token: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    #: ``Parent:Child`` path (categories and sub-items), up to 5 levels.
    fully_qualified_name: Mapped[str | None] = mapped_column(String(500))
    sku: Mapped[str | None] = mapped_column(String(100))
    #: ``Service``, ``NonInventory``, ``Inventory``, ``Category`` or ``Group``; other values kept as sent.
    type: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    unit_price: Mapped[Decimal | None] = mapped_column(Precise)
    #: US companies only: whether the item is taxable by default.
    taxable: Mapped[bool | None] = mapped_column(Boolean)
    #: Non-US companies: the default sales tax code.
    sales_tax_code_id: Mapped[str | None] = mapped_column(String(32))
    income_account_id: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    qbo_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def sellable(self) -> bool:
        """Active and of a type a sales line may name (a Category is a folder, not a product)."""
        return self.active and self.type != "Category"


class TaxCode(Base):
    """A QBO ``TaxCode`` (read-only in QBO) with its sales rates flattened for totals."""

    __tablename__ = "qbo_tax_code"
    __table_args__ = (UniqueConstraint("realm_id", "qbo_id", name="uq_qbo_tax_code_realm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    #: A numeric id, or the US pseudo codes ``TAX`` / ``NON``.
    qbo_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    taxable: Mapped[bool] = mapped_column(Boolean, default=True)
    tax_group: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``SalesTaxRateList``: ``[{"rate_id": "3", "order": 0, "applies_to": "TaxOnAmount"}, ...]``.
    sales_rates: Mapped[list[dict[str, t.Any]] | None] = mapped_column(JSON)
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TaxRate(Base):
    """A QBO ``TaxRate`` (read-only in QBO): a percentage an agency charges."""

    __tablename__ = "qbo_tax_rate"
    __table_args__ = (UniqueConstraint("realm_id", "qbo_id", name="uq_qbo_tax_rate_realm_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    qbo_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    #: Percent, e.g. ``8.25`` for 8.25 %.
    rate_value: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 4))
    agency_id: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CompanyPrefs(Base):
    """What the company's ``Preferences`` (and ``CompanyInfo.Country``) say about sales forms and tax."""

    __tablename__ = "qbo_company_prefs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: ISO country code from ``CompanyInfo.Country`` (``US``, ``CA``, ``GB`` ...).
    country: Mapped[str | None] = mapped_column(String(2))
    home_currency: Mapped[str | None] = mapped_column(String(3))
    multi_currency: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``SalesFormsPrefs.CustomTxnNumbers``: send a DocNumber (on) or let QBO number (off).
    custom_txn_numbers: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_estimates: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_discount: Mapped[bool] = mapped_column(Boolean, default=True)
    #: ``SalesFormsPrefs.ETransactionPaymentEnabled``: invoices may carry a payment link.
    online_payments: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``us_ast`` (US automated sales tax: lines say TAX/NON, QBO computes), ``us_manual`` (US sales
    #: tax set up before automated sales tax: TAX/NON lines, the document names the rate), ``per_line``
    #: (non-US: every line needs a TaxCode id) or ``none`` (sales tax not used).
    tax_model: Mapped[str] = mapped_column(String(10), default="none")
    default_tax_code_id: Mapped[str | None] = mapped_column(String(32))
    default_terms_id: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When tax codes, rates and items were last read whole (tax codes are not in CDC).
    reference_read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Document(Base):
    """An estimate or invoice made in the CRM: from the saved form until QBO has made it, and after.

    ``outbox`` rows with op ``create_doc`` carry ``target={"document_id": id}``; the row's
    ``uuid`` is the create's ``requestid``.  ``body`` is the exact QBO request body built and
    validated when the form was saved, in ``Decimal`` arithmetic; only ``CustomerRef`` is filled
    when the row runs (a new contact's customer may not exist yet).
    """

    __tablename__ = "qbo_document"
    __table_args__ = (Index("ix_qbo_document_contact", "tenant_key", "contact_key", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_key: Mapped[str] = mapped_column(String(64))
    realm_id: Mapped[str] = mapped_column(String(32))
    contact_key: Mapped[str] = mapped_column(String(64))
    #: ``Invoice`` or ``Estimate``.
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[DocumentState] = mapped_column(status_column(DocumentState), default=DocumentState.SENDING)
    #: The form as the salesperson filled it (lines, discount, terms, dates, memo, email, currency ...).
    draft: Mapped[dict[str, t.Any]] = mapped_column(JSON)
    #: The QBO request body derived from ``draft`` (without ``CustomerRef``).
    body: Mapped[dict[str, t.Any]] = mapped_column(JSON)
    currency: Mapped[str | None] = mapped_column(String(3))
    subtotal: Mapped[Decimal | None] = mapped_column(Money)
    tax_total: Mapped[Decimal | None] = mapped_column(Money)
    total: Mapped[Decimal | None] = mapped_column(Money)
    #: For an invoice converted from an estimate: the estimate's QBO id.
    estimate_qbo_id: Mapped[str | None] = mapped_column(String(32))
    #: Set once QBO made it; the mirror row ``(realm_id, kind, qbo_id)`` then describes it.
    qbo_id: Mapped[str | None] = mapped_column(String(32))
    doc_number: Mapped[str | None] = mapped_column(String(21))
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Notice(Base):
    """A once-only notice already given about a document (``invoice_overdue`` is sent once per invoice)."""

    __tablename__ = "qbo_notice"
    __table_args__ = (UniqueConstraint("realm_id", "txn_type", "qbo_id", "kind", name="uq_qbo_notice_realm_txn_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    txn_type: Mapped[str] = mapped_column(String(20))
    qbo_id: Mapped[str] = mapped_column(String(32))
    #: ``overdue``, ``paid``, ``accepted``.
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
