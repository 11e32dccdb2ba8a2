"""Reading the posted form into a Draft, and the Draft's JSON and form round trips."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from werkzeug.datastructures import MultiDict

from flask_qbo.billing.draft import Draft
from flask_qbo.billing.draft import draft_from_form
from flask_qbo.billing.draft import draft_from_json
from flask_qbo.billing.draft import draft_to_form
from flask_qbo.billing.draft import draft_to_json
from flask_qbo.billing.problems import Problem

from .helpers import draft
from .helpers import line

FULL = {
    "kind": "Estimate",
    "line-0-item": "1",
    "line-0-description": "Two days of design",
    "line-0-qty": "2",
    "line-0-unit_price": "75.125",
    "line-0-tax_code": "7",
    "line-1-item": "2",
    "line-1-amount": "19.99",
    "discount_percent": "10",
    "terms": "3",
    "txn_date": "2026-11-29",
    "due_date": "2026-12-29",
    "expiration_date": "2026-12-15",
    "customer_memo": "Thanks",
    "bill_email": " ada@example.com ",
    "currency": "eur",
    "exchange_rate": "1.08",
    "doc_number": "Q-17",
    "send": "1",
    "estimate": "",
}


def test_a_full_form_reads_into_a_draft() -> None:
    got, problems = draft_from_form(FULL)
    assert problems == []
    assert got.kind == "Estimate"
    first, second = got.lines
    assert first.item_id == "1" and first.description == "Two days of design" and first.tax_code_id == "7"
    assert first.qty == Decimal("2") and first.unit_price == Decimal("75.125")
    assert first.amount == Decimal("150.25")  # 150.250 half-up, computed because the amount was blank
    assert second.amount == Decimal("19.99") and second.qty is None and second.unit_price is None
    assert got.discount_percent == Decimal("10") and got.discount_amount is None
    assert got.terms_id == "3"
    assert (got.txn_date, got.due_date, got.expiration_date) == (
        dt.date(2026, 11, 29),
        dt.date(2026, 12, 29),
        dt.date(2026, 12, 15),
    )
    assert got.customer_memo == "Thanks" and got.bill_email == "ada@example.com"
    assert got.currency == "EUR" and got.exchange_rate == Decimal("1.08")
    assert got.doc_number == "Q-17" and got.send_after is True and got.estimate_qbo_id is None


def test_the_computed_amount_rounds_half_up() -> None:
    got, _ = draft_from_form({"line-0-item": "1", "line-0-qty": "3", "line-0-unit_price": "333.565"})
    assert got.lines[0].amount == Decimal("1000.70")


def test_blank_lines_are_skipped_and_problems_name_the_lines_position() -> None:
    form = MultiDict(
        [
            ("line-0-item", ""),
            ("line-0-tax_code", "7"),  # a tax code alone does not make a line
            ("line-2-item", "1"),
            ("line-2-qty", "1"),
            ("line-2-unit_price", "5"),
            ("line-10-item", "2"),
            ("line-10-qty", "1,5"),
            ("line-10-unit_price", "4"),
            ("line-10-unit_price", "ignored second value"),
        ]
    )
    got, problems = draft_from_form(form)
    assert [ln.item_id for ln in got.lines] == ["1", "2"]  # line-10 sorts after line-2
    assert problems == [Problem("line-1-qty", "Enter the number without commas, with a point for decimals (1234.50).")]


def test_a_line_without_amount_or_price_is_a_problem() -> None:
    _, problems = draft_from_form({"line-0-item": "1", "line-0-qty": "2"})
    assert problems == [Problem("line-0-amount", "Enter an amount, or a quantity and a unit price.")]


def test_bad_kind_and_dates_are_problems() -> None:
    got, problems = draft_from_form({"kind": "Bill", "txn_date": "29/11/2026", "line-0-amount": "5"})
    assert got.kind == "Invoice"
    assert Problem("kind", "Choose an invoice or an estimate.") in problems
    assert Problem("txn_date", "Enter a date as YYYY-MM-DD.") in problems


def test_defaults_when_fields_are_missing() -> None:
    got, problems = draft_from_form({})
    assert problems == []
    assert got == Draft(kind="Invoice", lines=())


def test_json_round_trip_keeps_every_decimal_exactly() -> None:
    original, _ = draft_from_form({**FULL, "estimate": "41", "discount_percent": "", "discount_amount": "0.10"})
    data = draft_to_json(original)
    assert data["lines"][0]["unit_price"] == "75.125"
    assert data["discount_amount"] == "0.10"
    assert draft_from_json(data) == original


def test_form_round_trip_reproduces_the_draft() -> None:
    original = draft(
        line("1", "2", "75", tax="7", description="a"), line("2", None, None, amount="9.99"), send_after=True
    )
    assert draft_from_form(draft_to_form(original)) == (original, [])
