"""The exact QBO request body of a validated draft (without ``CustomerRef``).

It is built when the form is saved and stored on the document, so what QBO
receives is what was checked and shown, whenever the outbox row runs; the
push only adds ``CustomerRef`` (a brand-new contact's customer may not exist
yet).  Arithmetic stays in ``Decimal``; numbers become JSON floats only here,
at the very end, because the HTTP client and the JSON column serialise with
:mod:`json`.  A float keeps 15 significant digits: a number with at most 15
survives the round trip exactly (Python writes the shortest repr that reads
back), so validation refuses a quantity or unit price with more
(:data:`~flask_qbo.billing.validate.MAX_DIGITS`); seven decimals alone do not
guarantee it (12345678901.1234567 has 18 digits).

Rules from QBO: ``Amount`` equals ``Qty × UnitPrice`` rounded half-up (6070
otherwise); ``DocNumber`` only when the company numbers its own documents;
``GlobalTaxCalculation`` for non-US tax; no ``TxnTaxDetail`` (QBO computes
it), except that a US company without automated sales tax names the rate to
apply (``TxnTaxCodeRef``: its default, ``TaxPrefs.TaxGroupCodeRef``), since
QBO applies none otherwise;
a converted estimate is linked with ``LinkedTxn``.
"""

from __future__ import annotations

import typing as t
from decimal import Decimal

from .catalog import PER_LINE
from .catalog import US_MANUAL
from .catalog import US_MODELS
from .catalog import Catalog
from .draft import Draft
from .draft import DraftLine
from .money import to_cents
from .totals import compute

Body = dict[str, t.Any]


def number(value: Decimal) -> float | int:
    """A Decimal as the JSON number QBO reads: an int when whole, else a float of the same digits."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def line_tax_code(line: DraftLine, catalog: Catalog) -> str | None:
    """The ``TaxCodeRef`` a line sends: its own code, else the item's default for the tax model."""
    model = catalog.prefs.tax_model
    if model in US_MODELS:
        if line.tax_code_id:
            return line.tax_code_id
        item = catalog.items.get(line.item_id or "")
        return "TAX" if item is not None and item.taxable else "NON"
    if model == PER_LINE:
        return line.tax_code_id
    return None


def sales_line(line: DraftLine, catalog: Catalog) -> Body:
    """One ``SalesItemLineDetail`` line."""
    detail: Body = {}
    if line.item_id:
        item = catalog.items.get(line.item_id)
        detail["ItemRef"] = {"value": line.item_id, "name": item.name} if item else {"value": line.item_id}
    if line.qty is not None:
        detail["Qty"] = number(line.qty)
    if line.unit_price is not None:
        detail["UnitPrice"] = number(line.unit_price)
    code = line_tax_code(line, catalog)
    if code:
        detail["TaxCodeRef"] = {"value": code}
    body: Body = {"DetailType": "SalesItemLineDetail", "Amount": float(to_cents(line.amount))}
    if line.description:
        body["Description"] = line.description
    body["SalesItemLineDetail"] = detail
    return body


def discount_line(draft: Draft, discount: Decimal) -> Body | None:
    """The whole-document ``DiscountLineDetail`` line, or None without a discount."""
    if draft.discount_percent is not None:
        detail: Body = {"PercentBased": True, "DiscountPercent": number(draft.discount_percent)}
    elif draft.discount_amount is not None:
        detail = {"PercentBased": False}
    else:
        return None
    return {"DetailType": "DiscountLineDetail", "Amount": float(discount), "DiscountLineDetail": detail}


def build_body(draft: Draft, catalog: Catalog) -> Body:
    """The QBO ``Invoice``/``Estimate`` body for ``draft`` (push adds ``CustomerRef``)."""
    prefs = catalog.prefs
    totals = compute(draft, catalog)
    lines = [sales_line(line, catalog) for line in draft.lines]
    discount = discount_line(draft, totals.discount)
    if discount is not None:
        lines.append(discount)
    body: Body = {"Line": lines}
    if draft.terms_id:
        body["SalesTermRef"] = {"value": draft.terms_id}
    if draft.txn_date:
        body["TxnDate"] = draft.txn_date.isoformat()
    if draft.due_date:
        body["DueDate"] = draft.due_date.isoformat()
    if draft.kind == "Estimate" and draft.expiration_date:
        body["ExpirationDate"] = draft.expiration_date.isoformat()
    if draft.customer_memo:
        body["CustomerMemo"] = {"value": draft.customer_memo}
    if draft.bill_email:
        body["BillEmail"] = {"Address": draft.bill_email}
    currency = draft.currency or (prefs.home_currency if prefs.multi_currency else None)
    if currency:
        body["CurrencyRef"] = {"value": currency}  # required once multi-currency is on
    if draft.exchange_rate is not None and currency and currency != prefs.home_currency:
        body["ExchangeRate"] = number(draft.exchange_rate)
    if draft.doc_number and prefs.custom_txn_numbers:
        body["DocNumber"] = draft.doc_number
    if draft.kind == "Invoice" and draft.estimate_qbo_id:
        body["LinkedTxn"] = [{"TxnId": draft.estimate_qbo_id, "TxnType": "Estimate"}]
    if prefs.tax_model == PER_LINE:
        body["GlobalTaxCalculation"] = "TaxExcluded"
    if prefs.tax_model == US_MANUAL and prefs.default_tax_code_id:
        body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": prefs.default_tax_code_id}}
    return body
