"""The totals a form shows before QBO answers, computed as QBO rounds: Decimal, half-up, per cent.

Rules (each rounding is half-up to the cent):

* subtotal = the sum of the line amounts;
* discount = ``percent`` % of the subtotal, or the amount typed;
* tax, ``per_line`` companies: for every line and every sales rate of the line's
  tax code, ``line amount × rate / 100`` rounded on its own, then summed.  The
  tax is taken on the line amounts before the discount, as the emulator does;
  QBO's own figure replaces this one when it answers;
* tax, ``us_ast`` companies: unknown until QBO's automated sales tax runs, so 0
  with :attr:`Totals.tax_estimated` set and the page saying "Sales tax is
  calculated by QuickBooks";
* tax, ``none``: 0;
* total = subtotal − discount + tax.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from .catalog import PER_LINE
from .catalog import US_AST
from .catalog import Catalog
from .draft import Draft
from .draft import DraftLine
from .money import ZERO
from .money import to_cents

HUNDRED = Decimal(100)
#: What the page says instead of a tax figure for a US automated-sales-tax company.
AST_NOTE = "Sales tax is calculated by QuickBooks"


@dataclasses.dataclass(frozen=True)
class Totals:
    """A draft's money, each figure in cents."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    #: True when QBO computes the tax (US AST): ``tax`` is then 0 and not the real figure.
    tax_estimated: bool
    #: Each line's amount, in the draft's order.
    lines: tuple[Decimal, ...]


def discount_of(draft: Draft, subtotal: Decimal) -> Decimal:
    """The draft's discount in cents: ``percent`` % of ``subtotal``, else the amount, else 0."""
    if draft.discount_percent is not None:
        return to_cents(subtotal * draft.discount_percent / HUNDRED)
    if draft.discount_amount is not None:
        return to_cents(draft.discount_amount)
    return ZERO


def line_tax(line: DraftLine, catalog: Catalog) -> Decimal:
    """The tax of one line on a ``per_line`` company: one rounding per rate of its code."""
    code = catalog.tax_codes.get(line.tax_code_id or "")
    if code is None or not code.taxable:
        return ZERO
    return sum((to_cents(line.amount * rate.percent / HUNDRED) for rate in code.rates), ZERO)


def compute(draft: Draft, catalog: Catalog) -> Totals:
    """The subtotal, discount, tax and total of ``draft`` under the company's tax model."""
    amounts = tuple(to_cents(line.amount) for line in draft.lines)
    subtotal = sum(amounts, ZERO)
    discount = discount_of(draft, subtotal)
    model = catalog.prefs.tax_model
    tax = sum((line_tax(line, catalog) for line in draft.lines), ZERO) if model == PER_LINE else ZERO
    return Totals(
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=subtotal - discount + tax,
        tax_estimated=model == US_AST,
        lines=amounts,
    )
