"""Totals in Decimal, half-up per cent: discounts, per-line multi-rate tax, US automated tax."""

from __future__ import annotations

from flask_qbo.billing.totals import compute
from flask_qbo.billing.totals import tax_by_rate

from .helpers import D
from .helpers import catalog
from .helpers import draft
from .helpers import line

PER_LINE = {"tax_model": "per_line"}


def test_no_tax_company() -> None:
    totals = compute(draft(line(), line(item="2", qty="3", price="333.565")), catalog())
    assert totals.lines == (D("150.00"), D("1000.70"))
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (D("1150.70"), 0, 0, D("1150.70"))
    assert totals.tax_estimated is False


def test_discount_percent_rounds_once_half_up() -> None:
    # 12.5 % of 10.04 is 1.255 → 1.26
    totals = compute(draft(line(qty="1", price="10.04"), discount_percent=D("12.5")), catalog())
    assert totals.discount == D("1.26")
    assert totals.total == D("8.78")


def test_discount_amount() -> None:
    totals = compute(draft(line(), discount_amount=D("20")), catalog())
    assert (totals.discount, totals.total) == (D("20.00"), D("130.00"))


def test_per_line_tax_rounds_once_per_rate_over_all_lines() -> None:
    # GST 5 %: 10.10 → 0.505 and 0.30 → 0.015, together 0.520 → 0.52 (rounding each line would give 0.53);
    # PST 7 %: 10.10 → 0.707 → 0.71.  The exempt line has no rate.
    lines = (
        line(qty="1", price="10.10", tax="7"),
        line(qty="1", price="0.30", tax="8"),
        line(qty="1", price="99", tax="9"),
    )
    totals = compute(draft(*lines), catalog(**PER_LINE))
    assert tax_by_rate(draft(*lines), catalog(**PER_LINE), totals.subtotal, totals.discount) == {
        "10": D("0.52"),
        "11": D("0.71"),
    }
    assert totals.tax == D("1.23")
    assert totals.subtotal == D("109.40")
    assert totals.total == D("110.63")
    assert totals.tax_estimated is False


def test_per_line_tax_is_on_the_amounts_after_the_discount() -> None:
    totals = compute(draft(line(qty="1", price="100", tax="8"), discount_percent=D("10")), catalog(**PER_LINE))
    assert (totals.discount, totals.tax, totals.total) == (D("10.00"), D("4.50"), D("94.50"))


def test_a_discount_is_shared_over_the_lines_in_proportion() -> None:
    # 3 off 30: each line keeps 90 %; GST on 18 + 9 = 1.35, PST on 18 = 1.26.
    lines = (line(qty="1", price="20", tax="7"), line(qty="1", price="10", tax="8"))
    totals = compute(draft(*lines, discount_amount=D("3")), catalog(**PER_LINE))
    assert totals.tax == D("2.61") and totals.total == D("29.61")


def test_compound_rate_taxes_the_earlier_tax() -> None:
    # GST 5 % of 100 = 5.00; QST 9.975 % of 105 = 10.47375 → 10.47.
    totals = compute(draft(line(qty="1", price="100", tax="6")), catalog(**PER_LINE))
    assert totals.tax == D("15.47")


def test_us_automated_tax_is_left_to_quickbooks() -> None:
    totals = compute(draft(line(tax="TAX")), catalog(tax_model="us_ast"))
    assert totals.tax_estimated is True
    assert totals.tax == 0 and totals.total == D("150.00")


def test_tax_codes_are_ignored_without_sales_tax() -> None:
    assert compute(draft(line(tax="7")), catalog()).tax == 0
