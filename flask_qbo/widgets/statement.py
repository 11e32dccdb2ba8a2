"""The customer statement: open items, running balance and aging buckets.

QBO's API has no Statement entity, so the "Statement" tab is derived from the
local mirror: open invoices add to what the customer owes, unapplied credits
(credit memos' remaining credit and payments' unapplied amount) reduce it.
Everything here is a pure function of plain values so the arithmetic is easy
to test and never touches the database or QBO.

Aging follows the usual accounts-receivable convention: an invoice ages by
days past its due date (its transaction date when it has none).  Credits are
not "past due", so they sit in the ``current`` bucket as negative amounts; the
buckets therefore always add up to the statement's balance due.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

#: Bucket keys in display order, with their labels.
BUCKETS: tuple[tuple[str, str], ...] = (
    ("current", "Current"),
    ("1_30", "1–30 days"),
    ("31_60", "31–60 days"),
    ("61_90", "61–90 days"),
    ("over_90", "Over 90 days"),
)

#: Transaction types that owe money (debits) and that hold money back (credits).
DEBIT_TYPES = frozenset({"Invoice"})
CREDIT_TYPES = frozenset({"CreditMemo", "Payment"})


@dataclasses.dataclass(frozen=True)
class OpenItem:
    """One mirrored document as the statement needs it (``open_amount`` ≥ 0 as QBO reports it)."""

    txn_type: str
    qbo_id: str
    doc_number: str | None
    txn_date: dt.date | None
    due_date: dt.date | None
    open_amount: Decimal
    status: str | None = None
    deleted: bool = False


@dataclasses.dataclass(frozen=True)
class StatementLine:
    """A statement row: signed amount (credits negative) and the balance after it."""

    item: OpenItem
    amount: Decimal
    running_balance: Decimal
    days_past_due: int
    bucket: str


@dataclasses.dataclass(frozen=True)
class Statement:
    """The whole statement: rows oldest first, per-bucket totals and the balance due."""

    as_of: dt.date
    lines: list[StatementLine]
    buckets: dict[str, Decimal]
    invoices_total: Decimal
    credits_total: Decimal
    balance_due: Decimal

    def bucket_rows(self) -> list[tuple[str, str, Decimal]]:
        """``(key, label, amount)`` for every bucket in display order (for templates)."""
        return [(key, label, self.buckets[key]) for key, label in BUCKETS]


def days_past_due(due_date: dt.date | None, txn_date: dt.date | None, today: dt.date) -> int:
    """Whole days an item is past due; 0 when not yet due or undated.

    An invoice without a due date is due on its transaction date, as QBO does
    for "Due on receipt" terms.
    """
    due = due_date or txn_date
    if due is None:
        return 0
    return max(0, (today - due).days)


def bucket_for(days: int) -> str:
    """The aging bucket key for a number of days past due."""
    if days <= 0:
        return "current"
    if days <= 30:
        return "1_30"
    if days <= 60:
        return "31_60"
    if days <= 90:
        return "61_90"
    return "over_90"


def is_open(item: OpenItem) -> bool:
    """Whether an item belongs on the statement: a live debit or credit with money left open."""
    if item.deleted or item.status == "void":
        return False
    if item.txn_type not in DEBIT_TYPES and item.txn_type not in CREDIT_TYPES:
        return False
    return item.open_amount > 0


def _sort_key(item: OpenItem) -> tuple[dt.date, int, str]:
    date = item.txn_date or dt.date.min
    # QBO ids are ASCII digits; anything else (even str.isdigit's superscripts) sorts as 0.
    numeric = int(item.qbo_id) if item.qbo_id.isascii() and item.qbo_id.isdigit() else 0
    return (date, numeric, item.qbo_id)


def build_statement(items: t.Iterable[OpenItem], today: dt.date) -> Statement:
    """Build the statement from mirrored items as of ``today``.

    Items that are not open (paid, void, deleted, other types) are dropped.  Lines
    are ordered oldest first so the running balance reads like a bank statement.
    """
    buckets = {key: ZERO for key, _label in BUCKETS}
    lines: list[StatementLine] = []
    running = ZERO
    invoices_total = ZERO
    credits_total = ZERO
    for item in sorted((i for i in items if is_open(i)), key=_sort_key):
        open_amount = Decimal(item.open_amount).quantize(CENT, rounding=ROUND_HALF_UP)
        if item.txn_type in CREDIT_TYPES:
            amount = -open_amount
            days = 0
            credits_total += open_amount
        else:
            amount = open_amount
            days = days_past_due(item.due_date, item.txn_date, today)
            invoices_total += open_amount
        bucket = bucket_for(days)
        buckets[bucket] += amount
        running += amount
        lines.append(
            StatementLine(item=item, amount=amount, running_balance=running, days_past_due=days, bucket=bucket)
        )
    return Statement(
        as_of=today,
        lines=lines,
        buckets=buckets,
        invoices_total=invoices_total,
        credits_total=credits_total,
        balance_due=running,
    )


__all__ = [
    "BUCKETS",
    "CREDIT_TYPES",
    "DEBIT_TYPES",
    "OpenItem",
    "Statement",
    "StatementLine",
    "bucket_for",
    "build_statement",
    "days_past_due",
    "is_open",
]
