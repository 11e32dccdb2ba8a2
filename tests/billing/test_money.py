"""Money: half-up to the cent in Decimal, and strict reading of typed numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flask_qbo.billing.money import parse_decimal
from flask_qbo.billing.money import to_cents
from flask_qbo.billing.problems import DraftError


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("1861.075", "1861.08"),
        ("0.005", "0.01"),
        ("2.675", "2.68"),
        ("2.665", "2.67"),
        ("-2.675", "-2.68"),
        ("10", "10.00"),
        ("0.004999", "0.00"),
    ],
)
def test_to_cents_rounds_half_up(value: str, cents: str) -> None:
    assert to_cents(Decimal(value)) == Decimal(cents)
    assert str(to_cents(Decimal(value))) == cents


def test_the_float_trap_is_avoided() -> None:
    # 3 × 333.565 is exactly 1000.695, which rounds half-up to 1000.70 (what QBO expects);
    # in floats the product is 1000.6949999999999 and rounds to 1000.69 (refused with 6070).
    qty, price = Decimal("3"), Decimal("333.565")
    assert repr(3 * 333.565) == "1000.6949999999999"
    assert f"{3 * 333.565:.2f}" == "1000.69"
    assert to_cents(qty * price) == Decimal("1000.70")
    assert round(2.675, 2) == 2.67  # Python's float round goes the wrong way too
    assert to_cents(Decimal("2.675")) == Decimal("2.68")


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", "12"), (" 12.50 ", "12.50"), ("-3", "-3"), (".5", "0.5"), ("+7.", "7")],
)
def test_parse_decimal_reads_plain_numbers(text: str, value: str) -> None:
    assert parse_decimal(text, "line-0-qty") == Decimal(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a number."),
        ("   ", "Enter a number."),
        ("1,234.50", "without commas"),
        ("12,5", "without commas"),
        ("NaN", "is not a number"),
        ("inf", "is not a number"),
        ("-Infinity", "is not a number"),
        ("1e5", "is not a number"),
        ("12abc", "is not a number"),
        ("$12", "is not a number"),
    ],
)
def test_parse_decimal_refuses_with_the_field_named(text: str, message: str) -> None:
    with pytest.raises(DraftError) as info:
        parse_decimal(text, "line-3-unit_price")
    assert info.value.field == "line-3-unit_price"
    assert message in info.value.message
    assert info.value.problem.field == "line-3-unit_price"


def test_billing_and_sync_round_with_one_definition() -> None:
    """Sync may not import billing: both take half-up cents from the models layer."""
    from flask_qbo import models
    from flask_qbo.billing import money
    from flask_qbo.sync.push.doc_failure import money as qbo_amount

    assert money.to_cents is models.to_cents
    assert qbo_amount(2.675) == Decimal("2.68") and qbo_amount("0.005") == Decimal("0.01")
