"""Aging and running-balance arithmetic of the derived statement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from flask_qbo.widgets.statement import OpenItem
from flask_qbo.widgets.statement import bucket_for
from flask_qbo.widgets.statement import build_statement
from flask_qbo.widgets.statement import days_past_due
from flask_qbo.widgets.statement import is_open

TODAY = dt.date(2026, 3, 31)


def item(
    txn_type: str, qbo_id: str, amount: str, *, due_days: int | None = None, txn_days: int = 0, **extra: object
) -> OpenItem:
    """An item dated ``txn_days`` before TODAY, due ``due_days`` before TODAY (negative: in the future)."""
    due = TODAY - dt.timedelta(days=due_days) if due_days is not None else None
    return OpenItem(
        txn_type=txn_type,
        qbo_id=qbo_id,
        doc_number=f"D{qbo_id}",
        txn_date=TODAY - dt.timedelta(days=txn_days),
        due_date=due,
        open_amount=Decimal(amount),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (60, "31_60"),
        (61, "61_90"),
        (90, "61_90"),
        (91, "over_90"),
        (4000, "over_90"),
    ],
)
def test_bucket_boundaries(days: int, bucket: str) -> None:
    assert bucket_for(days) == bucket


def test_days_past_due() -> None:
    assert days_past_due(TODAY - dt.timedelta(days=10), None, TODAY) == 10
    assert days_past_due(TODAY + dt.timedelta(days=10), None, TODAY) == 0
    # No due date: due on the transaction date ("Due on receipt").
    assert days_past_due(None, TODAY - dt.timedelta(days=45), TODAY) == 45
    assert days_past_due(None, None, TODAY) == 0
    # Across a month and a leap day.
    assert days_past_due(dt.date(2024, 2, 28), None, dt.date(2024, 3, 1)) == 2


def test_is_open_filters_closed_items() -> None:
    assert is_open(item("Invoice", "1", "10"))
    assert not is_open(item("Invoice", "1", "0"))
    assert not is_open(item("Invoice", "1", "10", status="void"))
    assert not is_open(item("Invoice", "1", "10", deleted=True))
    assert not is_open(item("Estimate", "1", "10"))
    assert not is_open(item("SalesReceipt", "1", "10"))
    assert is_open(item("CreditMemo", "1", "5")) and is_open(item("Payment", "1", "5"))


def test_statement_running_balance_buckets_and_totals() -> None:
    items = [
        item("Payment", "9", "15.00", txn_days=1),  # unapplied payment: credit
        item("Invoice", "1", "100.00", due_days=95, txn_days=125),  # over 90
        item("Invoice", "2", "50.004", due_days=40, txn_days=70),  # 31-60, rounded to cents
        item("Invoice", "3", "30", due_days=-28, txn_days=2),  # not yet due: current
        item("Invoice", "4", "20", due_days=1, txn_days=31),  # 1-30
        item("Invoice", "5", "70", due_days=75, txn_days=105),  # 61-90
        item("CreditMemo", "6", "40", txn_days=10),  # remaining credit
        item("Invoice", "7", "999", due_days=200, txn_days=230, status="void"),
        item("Invoice", "8", "0", due_days=10, txn_days=40),  # paid
    ]
    stmt = build_statement(items, TODAY)
    assert [line.item.qbo_id for line in stmt.lines] == ["1", "5", "2", "4", "6", "3", "9"]
    assert [line.amount for line in stmt.lines] == [
        Decimal("100.00"),
        Decimal("70.00"),
        Decimal("50.00"),
        Decimal("20.00"),
        Decimal("-40.00"),
        Decimal("30.00"),
        Decimal("-15.00"),
    ]
    assert [line.running_balance for line in stmt.lines] == [
        Decimal("100.00"),
        Decimal("170.00"),
        Decimal("220.00"),
        Decimal("240.00"),
        Decimal("200.00"),
        Decimal("230.00"),
        Decimal("215.00"),
    ]
    assert [line.days_past_due for line in stmt.lines] == [95, 75, 40, 1, 0, 0, 0]
    assert stmt.buckets == {
        "current": Decimal("-25.00"),  # 30 not yet due - 40 credit memo - 15 unapplied payment
        "1_30": Decimal("20.00"),
        "31_60": Decimal("50.00"),
        "61_90": Decimal("70.00"),
        "over_90": Decimal("100.00"),
    }
    assert stmt.invoices_total == Decimal("270.00")
    assert stmt.credits_total == Decimal("55.00")
    assert stmt.balance_due == Decimal("215.00") == sum(stmt.buckets.values())
    assert [key for key, _label, _amount in stmt.bucket_rows()] == ["current", "1_30", "31_60", "61_90", "over_90"]


def test_same_day_items_order_by_numeric_id() -> None:
    stmt = build_statement([item("Invoice", "10", "1", due_days=0), item("Invoice", "9", "2", due_days=0)], TODAY)
    assert [line.item.qbo_id for line in stmt.lines] == ["9", "10"]


def test_an_id_of_non_ascii_digits_sorts_without_crashing() -> None:
    """A mirrored id is QBO data: ``"\u00b2".isdigit()`` is true but ``int("\u00b2")`` raises."""
    items = [item("Invoice", "10", "1", due_days=0), item("Invoice", "\u00b2", "2", due_days=0)]
    stmt = build_statement(items, TODAY)
    assert [line.item.qbo_id for line in stmt.lines] == ["\u00b2", "10"]


def test_empty_statement() -> None:
    stmt = build_statement([], TODAY)
    assert stmt.lines == [] and stmt.balance_due == Decimal("0.00")
    assert set(stmt.buckets.values()) == {Decimal("0.00")}


def test_amounts_round_half_up_to_cents() -> None:
    stmt = build_statement([item("Invoice", "1", "10.005", due_days=0)], TODAY)
    assert stmt.balance_due == Decimal("10.01")
