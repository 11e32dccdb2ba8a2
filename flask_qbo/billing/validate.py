"""Every rule QBO would refuse a document for, checked before it leaves the CRM.

A refusal from QBO arrives minutes later, on a row the salesperson has left;
the same rule checked here puts the message beside the field while the form is
still open.  Each :class:`Problem` names the form field (``line-2-item``,
``currency``; ``lines`` for the line list as a whole).  Line numbers count the
draft's lines from 0, blank form rows skipped, which is how
:func:`flask_qbo.billing.draft.draft_to_form` renders them back.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from decimal import Decimal

from .catalog import NO_TAX
from .catalog import PER_LINE
from .catalog import US_CODES
from .catalog import US_MODELS
from .catalog import Catalog
from .draft import Draft
from .draft import DraftLine
from .money import ZERO
from .money import to_cents
from .problems import Problem
from .totals import HUNDRED

__all__ = ["Problem", "validate"]

#: QBO's lengths: ``CustomerMemo`` 1000, line ``Description`` 4000, ``BillEmail`` 100, ``DocNumber`` 21.
MAX_MEMO = 1000
MAX_DESCRIPTION = 4000
MAX_EMAIL = 100
MAX_DOC_NUMBER = 21
#: A taxable transaction may carry at most 750 lines.
MAX_TAXABLE_LINES = 750
#: Bounds QBO puts on numbers (``UnitPrice`` ≤ 99,999,999,999; ``Amount`` 15 digits with 2 decimals).
MAX_UNIT_PRICE = Decimal("99999999999")
MAX_AMOUNT = Decimal("9999999999999.99")
MAX_QTY = Decimal("999999999")
#: Decimals QBO keeps on ``Qty`` and ``UnitPrice``.
MAX_PLACES = 7
#: Significant digits a JSON number keeps through a float: more, and the value QBO reads is not
#: the one checked here (its ``Qty × UnitPrice`` then differs from the line's ``Amount``: 6070).
MAX_DIGITS = 15
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+$")


def email_problem(field: str, text: str) -> Problem | None:
    """What is wrong with a ``BillEmail`` (several addresses may be comma-separated), or None."""
    if len(text) > MAX_EMAIL:
        return Problem(field, f"Keep the email addresses within {MAX_EMAIL} characters.")
    addresses = [part.strip() for part in text.split(",")]
    bad = next((address for address in addresses if not _EMAIL.match(address)), None)
    if bad is not None:
        shown = bad[:40] or "(blank)"
        return Problem(field, f"“{shown}” is not an email address; separate several with commas.")
    return None


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _digits(value: Decimal) -> int:
    """Significant digits of ``value`` (trailing zeros do not count)."""
    return len(value.normalize().as_tuple().digits) if value else 0


def _factor_problem(field: str, label: str, value: Decimal | None, ceiling: Decimal) -> Problem | None:
    if value is None:
        return None
    if value < 0:
        return Problem(field, "Enter a number that is not negative.")
    if value > ceiling:
        return Problem(field, f"QuickBooks accepts at most {ceiling:,} here.")
    if _places(value) > MAX_PLACES:
        return Problem(field, f"Use at most {MAX_PLACES} decimals.")
    if _digits(value) > MAX_DIGITS:
        return Problem(field, f"The {label} has more than {MAX_DIGITS} significant digits; round it.")
    return None


def _number_problems(prefix: str, line: DraftLine) -> t.Iterator[Problem]:
    factors = [
        problem
        for problem in (
            _factor_problem(prefix + "qty", "quantity", line.qty, MAX_QTY),
            _factor_problem(prefix + "unit_price", "unit price", line.unit_price, MAX_UNIT_PRICE),
        )
        if problem is not None
    ]
    yield from factors
    amount = line.amount
    if factors:
        return  # the product of a refused number says nothing more
    if amount < 0:
        yield Problem(prefix + "amount", "Enter an amount that is not negative.")
    elif amount > MAX_AMOUNT:
        yield Problem(prefix + "amount", "QuickBooks accepts amounts up to 13 digits before the point.")
    elif amount != to_cents(amount):
        yield Problem(prefix + "amount", "Amounts are in cents: use at most 2 decimals.")
    elif line.qty is not None and line.unit_price is not None:
        expected = to_cents(line.qty * line.unit_price)
        if expected != amount:
            yield Problem(prefix + "amount", f"Quantity × unit price is {expected}; the amount must match it.")


def _item_problems(prefix: str, line: DraftLine, catalog: Catalog) -> t.Iterator[Problem]:
    if not line.item_id:
        yield Problem(prefix + "item", "Choose a product or service.")
        return
    item = catalog.items.get(line.item_id)
    if item is None:
        yield Problem(prefix + "item", "This product or service is not in QuickBooks; choose another.")
    elif not item.active:
        yield Problem(prefix + "item", f"“{item.name}” is inactive in QuickBooks; choose another.")
    elif item.type == "Group":
        yield Problem(
            prefix + "item", f"“{item.name}” is a bundle, which cannot be invoiced from here yet; choose its items."
        )
    elif not item.sellable:
        yield Problem(prefix + "item", f"“{item.name}” is a category; choose a product or service in it.")


def _tax_problems(prefix: str, line: DraftLine, catalog: Catalog) -> t.Iterator[Problem]:
    model = catalog.prefs.tax_model
    field = prefix + "tax_code"
    if model in US_MODELS:
        if line.tax_code_id and line.tax_code_id not in US_CODES:
            yield Problem(field, "Choose TAX or NON: QuickBooks computes US sales tax itself.")
    elif model == PER_LINE:
        if not line.tax_code_id:
            yield Problem(field, "Choose a tax code: this company's QuickBooks needs one on every line.")
            return
        code = catalog.tax_codes.get(line.tax_code_id)
        if code is None or not code.active:
            yield Problem(field, "This tax code is not active in QuickBooks; choose another.")


def _line_problems(draft: Draft, catalog: Catalog) -> t.Iterator[Problem]:
    if not draft.lines:
        yield Problem("lines", "Add at least one line.")
    if catalog.prefs.tax_model != NO_TAX and len(draft.lines) > MAX_TAXABLE_LINES:
        yield Problem("lines", f"QuickBooks takes at most {MAX_TAXABLE_LINES} lines on a taxable document.")
    for n, line in enumerate(draft.lines):
        prefix = f"line-{n}-"
        yield from _item_problems(prefix, line, catalog)
        yield from _number_problems(prefix, line)
        yield from _tax_problems(prefix, line, catalog)
        if len(line.description) > MAX_DESCRIPTION:
            yield Problem(prefix + "description", f"Keep the description within {MAX_DESCRIPTION} characters.")


def _discount_problems(draft: Draft, catalog: Catalog) -> t.Iterator[Problem]:
    percent, amount = draft.discount_percent, draft.discount_amount
    if percent is None and amount is None:
        return
    field = "discount_percent" if percent is not None else "discount_amount"
    if not catalog.prefs.allow_discount:
        yield Problem(field, "Discounts are turned off in this company's QuickBooks.")
    elif percent is not None and amount is not None:
        yield Problem("discount_amount", "Give the discount as a percent or as an amount, not both.")
    elif percent is not None and not ZERO <= percent <= HUNDRED:
        yield Problem("discount_percent", "Enter a percent from 0 to 100.")
    elif amount is not None:
        subtotal = sum((line.amount for line in draft.lines), ZERO)
        if amount < 0:
            yield Problem("discount_amount", "Enter a discount that is not negative.")
        elif amount != to_cents(amount):
            yield Problem("discount_amount", "Amounts are in cents: use at most 2 decimals.")
        elif amount > subtotal:
            yield Problem("discount_amount", f"The discount is more than the subtotal ({to_cents(subtotal)}).")


def _currency_problems(draft: Draft, catalog: Catalog, customer_currency: str | None) -> t.Iterator[Problem]:
    prefs = catalog.prefs
    home = prefs.home_currency
    currency = draft.currency or home  # what the body sends (see flask_qbo.billing.defaults.complete)
    if not prefs.multi_currency:
        if draft.currency and home and draft.currency != home:
            yield Problem("currency", f"This company uses one currency, {home}.")
        return
    if customer_currency and currency != customer_currency:
        yield Problem("currency", f"This customer is billed in {customer_currency}; use {customer_currency}.")
        return
    if currency and home and currency != home:
        rate = draft.exchange_rate
        if rate is None or rate <= 0:
            yield Problem("exchange_rate", f"Enter the exchange rate: {home} for one {currency}.")


def _form_problems(draft: Draft, catalog: Catalog, contact_email: str | None) -> t.Iterator[Problem]:
    prefs = catalog.prefs
    if draft.kind == "Estimate" and not prefs.allow_estimates:
        yield Problem("kind", "Estimates are turned off in this company's QuickBooks.")
    if draft.kind != "Invoice" and draft.estimate_qbo_id:
        yield Problem("estimate", "Only an invoice can be made from an estimate.")
    if draft.bill_email:
        problem = email_problem("bill_email", draft.bill_email)
        if problem is not None:
            yield problem
    elif draft.send_after and not contact_email:
        yield Problem("bill_email", "Enter an email address to send the document to.")
    if len(draft.customer_memo) > MAX_MEMO:
        yield Problem("customer_memo", f"Keep the message within {MAX_MEMO} characters.")
    yield from _date_problems(draft)
    if draft.doc_number:
        if not prefs.custom_txn_numbers:
            yield Problem("doc_number", "QuickBooks numbers documents in this company; leave the number blank.")
        elif len(draft.doc_number) > MAX_DOC_NUMBER:
            yield Problem("doc_number", f"Keep the number within {MAX_DOC_NUMBER} characters.")
    if draft.terms_id and catalog.terms and catalog.term_name(draft.terms_id) is None:
        yield Problem("terms", "These terms are not in QuickBooks; choose others.")


def _date_problems(draft: Draft) -> t.Iterator[Problem]:
    start: dt.date | None = draft.txn_date
    if start is None:
        return
    if draft.due_date is not None and draft.due_date < start:
        yield Problem("due_date", "The due date is before the document's date.")
    if draft.kind == "Estimate" and draft.expiration_date is not None and draft.expiration_date < start:
        yield Problem("expiration_date", "The expiration date is before the estimate's date.")


def validate(
    draft: Draft,
    catalog: Catalog,
    customer_currency: str | None,
    contact_email: str | None,
) -> list[Problem]:
    """Everything wrong with ``draft`` for this company and customer (empty: QBO should accept it).

    ``customer_currency`` is the QBO customer's currency when it is known (a new
    contact's customer takes the draft's); ``contact_email`` is where "send" goes
    when the form gives no address.
    """
    problems = list(_line_problems(draft, catalog))
    problems.extend(_discount_problems(draft, catalog))
    problems.extend(_currency_problems(draft, catalog, customer_currency))
    problems.extend(_form_problems(draft, catalog, contact_email))
    return problems
