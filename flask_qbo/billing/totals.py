"""The totals a form shows before QBO answers, computed as QBO rounds: Decimal, half-up, per cent.

Rules (each rounding is half-up to the cent):

* subtotal = the sum of the line amounts;
* discount = ``percent`` % of the subtotal, or the amount typed;
* tax, ``per_line`` companies: as QBO builds its ``TaxLine`` list, one figure
  per tax rate.  Each line is first reduced by the document's discount in
  proportion (``amount × (subtotal − discount) / subtotal``); every rate of the
  line's code then taxes it in the code's order (``TaxOnAmountPlusTax`` also
  taxes the tax of the earlier rates, ``TaxOnTax`` only that tax).  The
  unrounded taxes are summed per rate over all lines and each rate's sum is
  rounded once; the tax is the sum of those.  This is what the emulator
  computes; QBO's own figure replaces it when it answers;
* tax, ``us_ast`` companies: unknown until QBO's automated sales tax runs, so 0
  with :attr:`Totals.tax_estimated` set and the page saying "Sales tax is
  calculated by QuickBooks"; ``us_manual`` companies likewise (QBO applies the
  company's default sales tax rate, ``TxnTaxCodeRef``, to the TAX lines);
* tax, ``none``: 0;
* total = subtotal − discount + tax.
"""

from __future__ import annotations

import collections
import dataclasses
from decimal import Decimal

from .catalog import PER_LINE
from .catalog import US_MODELS
from .catalog import Catalog
from .draft import Draft
from .money import ZERO
from .money import to_cents

HUNDRED = Decimal(100)
ONE = Decimal(1)
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


def tax_by_rate(draft: Draft, catalog: Catalog, subtotal: Decimal, discount: Decimal) -> dict[str, Decimal]:
    """Rate id → that rate's tax on the whole draft, rounded once (a ``per_line`` company's ``TaxLine`` amounts)."""
    share = (subtotal - discount) / subtotal if subtotal and discount else ONE
    taxed: dict[str, Decimal] = collections.defaultdict(lambda: ZERO)
    for line in draft.lines:
        code = catalog.tax_codes.get(line.tax_code_id or "")
        if code is None:
            continue
        amount = line.amount * share
        earlier = ZERO
        for rate in code.rates:
            base = {"TaxOnAmountPlusTax": amount + earlier, "TaxOnTax": earlier}.get(rate.applies_to, amount)
            tax = base * rate.percent / HUNDRED
            taxed[rate.qbo_id] += tax
            earlier += tax
    return {rate_id: to_cents(tax) for rate_id, tax in taxed.items()}


def compute(draft: Draft, catalog: Catalog) -> Totals:
    """The subtotal, discount, tax and total of ``draft`` under the company's tax model."""
    amounts = tuple(to_cents(line.amount) for line in draft.lines)
    subtotal = sum(amounts, ZERO)
    discount = discount_of(draft, subtotal)
    model = catalog.prefs.tax_model
    tax = ZERO
    if model == PER_LINE:
        tax = sum(tax_by_rate(draft, catalog, subtotal, discount).values(), ZERO)
    return Totals(
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=subtotal - discount + tax,
        tax_estimated=model in US_MODELS,
        lines=amounts,
    )
