"""Every validation rule: each case breaks one rule of an otherwise valid draft and names its field and message."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from flask_qbo.billing.catalog import Catalog
from flask_qbo.billing.draft import Draft
from flask_qbo.billing.problems import Problem
from flask_qbo.billing.validate import email_problem
from flask_qbo.billing.validate import validate

from .helpers import D
from .helpers import catalog
from .helpers import draft
from .helpers import line

TODAY = dt.date(2026, 11, 29)
PER_LINE = {"tax_model": "per_line", "country": "CA", "home_currency": "CAD"}
US = {"tax_model": "us_ast", "country": "US"}
MULTI = {"multi_currency": True, "home_currency": "USD"}


class Case(t.NamedTuple):
    draft: Draft
    prefs: dict[str, t.Any]
    expected: Problem
    customer_currency: str | None = None
    contact_email: str | None = None


CASES = {
    "no lines": Case(Draft(kind="Invoice", lines=()), {}, Problem("lines", "Add at least one line.")),
    "too many taxable lines": Case(
        draft(*[line(tax="8")] * 751),
        PER_LINE,
        Problem("lines", "QuickBooks takes at most 750 lines on a taxable document."),
    ),
    "item missing": Case(draft(line(item=None)), {}, Problem("line-0-item", "Choose a product or service.")),
    "item unknown": Case(
        draft(line(item="99")),
        {},
        Problem("line-0-item", "This product or service is not in QuickBooks; choose another."),
    ),
    "item inactive": Case(
        draft(line(), line(item="3")),
        {},
        Problem("line-1-item", "“Old hose” is inactive in QuickBooks; choose another."),
    ),
    "item is a category": Case(
        draft(line(item="4")), {}, Problem("line-0-item", "“Garden” is a category; choose a product or service in it.")
    ),
    "item is a bundle": Case(
        draft(line(item="5")),
        {},
        Problem("line-0-item", "“Patio kit” is a bundle, which cannot be invoiced from here yet; choose its items."),
    ),
    "amount is not qty × price": Case(
        draft(line(qty="3", price="333.565", amount="1000.69")),
        {},
        Problem("line-0-amount", "Quantity × unit price is 1000.70; the amount must match it."),
    ),
    "amount has fractions of a cent": Case(
        draft(line(qty=None, price=None, amount="10.005")),
        {},
        Problem("line-0-amount", "Amounts are in cents: use at most 2 decimals."),
    ),
    "amount negative": Case(
        draft(line(qty=None, price=None, amount="-5")),
        {},
        Problem("line-0-amount", "Enter an amount that is not negative."),
    ),
    "amount absurd": Case(
        draft(line(qty=None, price=None, amount="10000000000000")),
        {},
        Problem("line-0-amount", "QuickBooks accepts amounts up to 13 digits before the point."),
    ),
    "qty negative": Case(
        draft(line(qty="-1", price="5", amount="0")), {}, Problem("line-0-qty", "Enter a number that is not negative.")
    ),
    "qty absurd": Case(
        draft(line(qty="1000000000", price="0", amount="0")),
        {},
        Problem("line-0-qty", "QuickBooks accepts at most 999,999,999 here."),
    ),
    "unit price absurd": Case(
        draft(line(qty="0", price="100000000000", amount="0")),
        {},
        Problem("line-0-unit_price", "QuickBooks accepts at most 99,999,999,999 here."),
    ),
    "unit price too precise": Case(
        draft(line(qty="0", price="1.12345678", amount="0")),
        {},
        Problem("line-0-unit_price", "Use at most 7 decimals."),
    ),
    "unit price beyond a float's digits": Case(
        draft(line(qty="1", price="9999999999.9949999", amount="9999999999.99")),
        {},
        Problem("line-0-unit_price", "The unit price has more than 15 significant digits; round it."),
    ),
    "quantity beyond a float's digits": Case(
        draft(line(qty="123456789.1234567", price="0.5", amount="61728394.56")),
        {},
        Problem("line-0-qty", "The quantity has more than 15 significant digits; round it."),
    ),
    "per-line tax code missing": Case(
        draft(line(tax=None)),
        PER_LINE,
        Problem("line-0-tax_code", "Choose a tax code: this company's QuickBooks needs one on every line."),
    ),
    "per-line tax code inactive": Case(
        draft(line(tax="5")),
        PER_LINE,
        Problem("line-0-tax_code", "This tax code is not active in QuickBooks; choose another."),
    ),
    "US tax code not TAX/NON": Case(
        draft(line(tax="7")),
        US,
        Problem("line-0-tax_code", "Choose TAX or NON: QuickBooks computes US sales tax itself."),
    ),
    "description too long": Case(
        draft(line(description="x" * 4001)),
        {},
        Problem("line-0-description", "Keep the description within 4000 characters."),
    ),
    "discount percent and amount": Case(
        draft(discount_percent=D("5"), discount_amount=D("1")),
        {},
        Problem("discount_amount", "Give the discount as a percent or as an amount, not both."),
    ),
    "discount percent over 100": Case(
        draft(discount_percent=D("100.5")), {}, Problem("discount_percent", "Enter a percent from 0 to 100.")
    ),
    "discount percent negative": Case(
        draft(discount_percent=D("-1")), {}, Problem("discount_percent", "Enter a percent from 0 to 100.")
    ),
    "discount amount negative": Case(
        draft(discount_amount=D("-1")), {}, Problem("discount_amount", "Enter a discount that is not negative.")
    ),
    "discount amount over subtotal": Case(
        draft(discount_amount=D("150.01")),
        {},
        Problem("discount_amount", "The discount is more than the subtotal (150.00)."),
    ),
    "discount not allowed": Case(
        draft(discount_amount=D("1")),
        {"allow_discount": False},
        Problem("discount_amount", "Discounts are turned off in this company's QuickBooks."),
    ),
    "estimates not allowed": Case(
        draft(kind="Estimate"),
        {"allow_estimates": False},
        Problem("kind", "Estimates are turned off in this company's QuickBooks."),
    ),
    "estimate made from an estimate": Case(
        draft(kind="Estimate", estimate_qbo_id="41"),
        {},
        Problem("estimate", "Only an invoice can be made from an estimate."),
    ),
    "currency not the customer's": Case(
        draft(currency="USD"),
        MULTI,
        Problem("currency", "This customer is billed in EUR; use EUR."),
        customer_currency="EUR",
    ),
    "foreign currency on a one-currency company": Case(
        draft(currency="EUR"), {}, Problem("currency", "This company uses one currency, USD.")
    ),
    "exchange rate missing": Case(
        draft(currency="EUR"),
        MULTI,
        Problem("exchange_rate", "Enter the exchange rate: USD for one EUR."),
        customer_currency="EUR",
    ),
    "exchange rate zero": Case(
        draft(currency="EUR", exchange_rate=D("0")),
        MULTI,
        Problem("exchange_rate", "Enter the exchange rate: USD for one EUR."),
        customer_currency="EUR",
    ),
    "send without any email": Case(
        draft(send_after=True), {}, Problem("bill_email", "Enter an email address to send the document to.")
    ),
    "bill email malformed": Case(
        draft(bill_email="ada@example.com, grace-at-example.com"),
        {},
        Problem("bill_email", "“grace-at-example.com” is not an email address; separate several with commas."),
    ),
    "bill email too long": Case(
        draft(bill_email=("a" * 90) + "@example.com"),
        {},
        Problem("bill_email", "Keep the email addresses within 100 characters."),
    ),
    "memo too long": Case(
        draft(customer_memo="m" * 1001), {}, Problem("customer_memo", "Keep the message within 1000 characters.")
    ),
    "due before the date": Case(
        draft(txn_date=TODAY, due_date=TODAY - dt.timedelta(days=1)),
        {},
        Problem("due_date", "The due date is before the document's date."),
    ),
    "estimate expires before its date": Case(
        draft(kind="Estimate", txn_date=TODAY, expiration_date=TODAY - dt.timedelta(days=1)),
        {},
        Problem("expiration_date", "The expiration date is before the estimate's date."),
    ),
    "doc number while QBO numbers": Case(
        draft(doc_number="1001"),
        {},
        Problem("doc_number", "QuickBooks numbers documents in this company; leave the number blank."),
    ),
    "doc number too long": Case(
        draft(doc_number="N" * 22),
        {"custom_txn_numbers": True},
        Problem("doc_number", "Keep the number within 21 characters."),
    ),
    "unknown terms": Case(
        draft(terms_id="99"), {}, Problem("terms", "These terms are not in QuickBooks; choose others.")
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_rule_names_its_field(case: Case) -> None:
    problems = validate(case.draft, catalog(**case.prefs), case.customer_currency, case.contact_email)
    assert problems == [case.expected]


@pytest.mark.parametrize(
    ("prefs", "tax"),
    [({}, None), (PER_LINE, "7"), (US, "TAX"), (US, None)],
    ids=["no tax", "per line", "US with code", "US without code"],
)
def test_a_valid_draft_has_no_problem(prefs: dict[str, t.Any], tax: str | None) -> None:
    full = draft(
        line(tax=tax),
        line(item="2", qty="3", price="333.565", tax=tax),
        discount_percent=D("10"),
        txn_date=TODAY,
        due_date=TODAY,
        terms_id="3",
        bill_email="ada@example.com,grace@example.org",
        customer_memo="m" * 1000,
        send_after=True,
    )
    assert validate(full, catalog(**prefs), None, None) == []


def test_send_may_use_the_contacts_email() -> None:
    assert validate(draft(send_after=True), catalog(), None, "ada@example.com") == []


def test_the_customers_currency_with_its_rate_passes() -> None:
    good = draft(currency="EUR", exchange_rate=D("1.08"))
    assert validate(good, catalog(**MULTI), "EUR", None) == []
    # No currency typed means the home currency (complete() fills the customer's first).
    assert validate(draft(), catalog(**MULTI), "EUR", None) == [
        Problem("currency", "This customer is billed in EUR; use EUR.")
    ]


def test_custom_numbers_accept_a_doc_number() -> None:
    assert validate(draft(doc_number="INV-0001"), catalog(custom_txn_numbers=True), None, None) == []


def test_several_problems_come_back_together() -> None:
    bad = draft(line(item=None), line(item="3"), discount_percent=D("101"), doc_number="7")
    fields = [p.field for p in validate(bad, catalog(), None, None)]
    assert fields == ["line-0-item", "line-1-item", "discount_percent", "doc_number"]


def test_email_problem_accepts_a_list_and_refuses_blanks_between_commas() -> None:
    assert email_problem("f", "a@b.example, c@d.example") is None
    problem = email_problem("f", "a@b.example,,c@d.example")
    assert problem is not None and "(blank)" in problem.message


def test_catalog_defaults_are_the_companys_defaults() -> None:
    assert Catalog(realm_id="1").prefs.tax_model == "none"


def test_a_us_company_without_automated_sales_tax_takes_tax_or_non() -> None:
    prefs = {"tax_model": "us_manual", "country": "US", "default_tax_code_id": "7"}
    assert validate(draft(line(tax="TAX"), line(tax="NON")), catalog(**prefs), None, None) == []
    problems = validate(draft(line(tax="7")), catalog(**prefs), None, None)
    assert [problem.field for problem in problems] == ["line-0-tax_code"]
