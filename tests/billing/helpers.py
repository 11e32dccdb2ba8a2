"""Catalogs, drafts and mirrored transactions built by hand for the billing tests."""

from __future__ import annotations

import dataclasses
import typing as t
from decimal import Decimal

from flask_qbo.billing.catalog import Catalog
from flask_qbo.billing.catalog import CatalogItem
from flask_qbo.billing.catalog import CatalogTaxCode
from flask_qbo.billing.catalog import Prefs
from flask_qbo.billing.catalog import Rate
from flask_qbo.billing.catalog import Term
from flask_qbo.billing.draft import Draft
from flask_qbo.billing.draft import DraftLine
from flask_qbo.models import Transaction
from flask_qbo.testing import TEST_REALM

D = Decimal

ITEMS = {
    "1": CatalogItem("1", "Design", type="Service", unit_price=D("75"), taxable=True),
    "2": CatalogItem("2", "Gravel", type="NonInventory", unit_price=D("1.5"), taxable=False),
    "3": CatalogItem("3", "Old hose", active=False),
    "4": CatalogItem("4", "Garden", type="Category"),
    "5": CatalogItem("5", "Patio kit", type="Group", unit_price=D("300")),
}
GST = Rate("10", "GST", D("5"))
PST = Rate("11", "PST", D("7"))
QST = Rate("12", "QST", D("9.975"), applies_to="TaxOnAmountPlusTax")
TAX_CODES = {
    "7": CatalogTaxCode("7", "GST/PST", rates=(GST, PST)),
    "8": CatalogTaxCode("8", "GST", rates=(GST,)),
    "9": CatalogTaxCode("9", "Exempt", taxable=False),
    "6": CatalogTaxCode("6", "GST/QST compound", rates=(GST, QST)),
    "5": CatalogTaxCode("5", "Retired", active=False, rates=(GST,)),
    "TAX": CatalogTaxCode("TAX", "TAX"),
    "NON": CatalogTaxCode("NON", "NON", taxable=False),
}


def catalog(**prefs: t.Any) -> Catalog:
    """A catalog of :data:`ITEMS` and :data:`TAX_CODES` with the given preferences."""
    return Catalog(
        realm_id=TEST_REALM,
        items=ITEMS,
        tax_codes=TAX_CODES,
        prefs=Prefs(**{"home_currency": "USD", **prefs}),
        terms=(Term("3", "Net 30"),),
    )


def line(
    item: str | None = "1",
    qty: str | None = "2",
    price: str | None = "75",
    amount: str | None = None,
    tax: str | None = None,
    description: str = "",
) -> DraftLine:
    """A draft line; the amount defaults to qty × price (as the form computes it)."""
    if amount is None:
        value = D(qty) * D(price) if qty is not None and price is not None else D(0)
        amount = str(value.quantize(D("0.01")))
    return DraftLine(
        item_id=item,
        description=description,
        qty=None if qty is None else D(qty),
        unit_price=None if price is None else D(price),
        amount=D(amount),
        tax_code_id=tax,
    )


def draft(*lines: DraftLine, **fields: t.Any) -> Draft:
    """An invoice draft (one default line when none is given)."""
    return Draft(kind=fields.pop("kind", "Invoice"), lines=lines or (line(),), **fields)


def replace(value: t.Any, **changes: t.Any) -> t.Any:
    return dataclasses.replace(value, **changes)


def txn(
    txn_type: str = "Invoice",
    *,
    qbo_id: str = "130",
    status: str = "open",
    total: str = "100.00",
    balance: str | None = None,
    raw: dict[str, t.Any] | None = None,
    deleted: bool = False,
) -> Transaction:
    """A mirrored transaction (not added to any session)."""
    return Transaction(
        realm_id=TEST_REALM,
        txn_type=txn_type,
        qbo_id=qbo_id,
        customer_qbo_id="58",
        status=status,
        total=D(total),
        balance=D(total if balance is None else balance),
        raw=raw if raw is not None else {"BillEmail": {"Address": "ada@example.com"}},
        deleted=deleted,
    )
