"""Blank currency and e-mail filled from the customer and the contact before validation."""

from __future__ import annotations

from flask_qbo.billing.body import build_body
from flask_qbo.billing.defaults import complete
from flask_qbo.billing.validate import validate

from .helpers import D
from .helpers import catalog
from .helpers import draft

MULTI = {"multi_currency": True}


def test_blank_currency_becomes_the_customers() -> None:
    got = complete(draft(exchange_rate=D("1.08")), catalog(**MULTI), "EUR", None)
    assert got.currency == "EUR"
    assert validate(got, catalog(**MULTI), "EUR", None) == []
    assert build_body(got, catalog(**MULTI))["CurrencyRef"] == {"value": "EUR"}


def test_blank_currency_without_a_customer_is_home() -> None:
    assert complete(draft(), catalog(**MULTI), None, None).currency == "USD"


def test_one_currency_company_sends_none() -> None:
    assert complete(draft(), catalog(), "USD", None).currency is None


def test_a_typed_currency_is_kept() -> None:
    assert complete(draft(currency="GBP"), catalog(**MULTI), "EUR", None).currency == "GBP"


def test_sending_uses_the_contacts_email_when_the_form_has_none() -> None:
    got = complete(draft(send_after=True), catalog(), None, " ada@example.com ")
    assert got.bill_email == "ada@example.com"
    assert build_body(got, catalog())["BillEmail"] == {"Address": "ada@example.com"}
    assert complete(draft(send_after=False), catalog(), None, "ada@example.com").bill_email == ""
    assert complete(draft(send_after=True, bill_email="b@c.example"), catalog(), None, "a@b.example").bill_email == (
        "b@c.example"
    )
