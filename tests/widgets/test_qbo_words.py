"""The CRM's transaction badges and the emulator's lists say the same thing, in QBO's words.

QBO's sales lists call a payment or credit memo that is fully used "Closed" and
one with money left to apply "Unapplied"; an invoice is "Open", "Overdue",
"Partially paid", "Paid" or "Voided" (Intuit's help article "Track the status of
invoices in the QuickBooks Online mobile app", and the QuickBooks community
answer "credit memo to cancel an invoice": an unlinked credit memo shows as
Unapplied).  The same QBO object must get the same word on both sides.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal

import pytest

from flask_qbo.emulator.ui_forms import txn_status
from flask_qbo.models import Transaction
from flask_qbo.sync.pull.docstatus import transaction_status
from flask_qbo.widgets.data import display_status
from flask_qbo.widgets.formatting import status_label

TODAY = dt.date(2026, 3, 31)
PAST, FUTURE = "2026-03-01", "2026-04-30"

CASES: list[tuple[str, dict[str, t.Any], str]] = [
    ("Invoice", {"TotalAmt": 100, "Balance": 100, "DueDate": FUTURE}, "Open"),
    ("Invoice", {"TotalAmt": 100, "Balance": 100, "DueDate": PAST}, "Overdue"),
    ("Invoice", {"TotalAmt": 100, "Balance": 40, "DueDate": FUTURE}, "Partially paid"),
    ("Invoice", {"TotalAmt": 100, "Balance": 40, "DueDate": PAST}, "Overdue"),
    ("Invoice", {"TotalAmt": 100, "Balance": 0, "DueDate": PAST}, "Paid"),
    ("Invoice", {"TotalAmt": 0, "Balance": 0, "PrivateNote": "Voided - was 100"}, "Voided"),
    ("Payment", {"TotalAmt": 50, "UnappliedAmt": 10}, "Unapplied"),
    ("Payment", {"TotalAmt": 50, "UnappliedAmt": 0}, "Closed"),
    ("CreditMemo", {"TotalAmt": 25, "RemainingCredit": 25}, "Unapplied"),
    ("CreditMemo", {"TotalAmt": 25, "RemainingCredit": 0}, "Closed"),
    ("SalesReceipt", {"TotalAmt": 80}, "Paid"),
    ("RefundReceipt", {"TotalAmt": 80}, "Paid"),
    ("Estimate", {"TotalAmt": 60, "TxnStatus": "Pending"}, "Pending"),
    ("Estimate", {"TotalAmt": 60, "TxnStatus": "Accepted"}, "Accepted"),
    ("Estimate", {"TotalAmt": 60, "TxnStatus": "Closed"}, "Closed"),
    ("Estimate", {"TotalAmt": 60, "TxnStatus": "Rejected"}, "Rejected"),
]


def crm_badge(entity: str, data: dict[str, t.Any]) -> str:
    """What the folder's badge says for a QBO object: mirrored status, then the row's display."""
    balance = data.get("Balance", data.get("UnappliedAmt", data.get("RemainingCredit")))
    row = Transaction(
        txn_type=entity,
        status=transaction_status(entity, data, TODAY),
        balance=Decimal(str(balance)) if balance is not None else None,
        due_date=dt.date.fromisoformat(data["DueDate"]) if "DueDate" in data else None,
    )
    return status_label(display_status(row, TODAY))


@pytest.mark.parametrize(("entity", "data", "word"), CASES, ids=[f"{e}-{w}" for e, _d, w in CASES])
def test_crm_and_emulator_use_qbos_word(entity: str, data: dict[str, t.Any], word: str) -> None:
    assert txn_status(entity, data, TODAY) == word
    assert crm_badge(entity, data) == word


@pytest.mark.parametrize(
    ("now", "word"),
    [
        # 16:45 in California on the 29th: the company's invoice due today is not late, though UTC is on the 30th.
        (dt.datetime(2026, 11, 30, 0, 45, tzinfo=dt.timezone.utc), "Open"),
        # The 29th has ended in every time zone: now it is.
        (dt.datetime(2026, 11, 30, 12, 1, tzinfo=dt.timezone.utc), "Overdue"),
    ],
    ids=["due-today-in-the-company", "due-date-over-everywhere"],
)
def test_an_invoice_is_not_overdue_on_its_due_date_in_the_companys_time_zone(
    monkeypatch: pytest.MonkeyPatch, now: dt.datetime, word: str
) -> None:
    from flask_qbo.models import base
    from flask_qbo.models import qbo_today

    monkeypatch.setattr(base, "utcnow", lambda: now)
    data = {"TotalAmt": 100, "Balance": 100, "DueDate": "2026-11-29"}
    row = Transaction(txn_type="Invoice", status="open", balance=Decimal(100), due_date=dt.date(2026, 11, 29))
    assert status_label(display_status(row, qbo_today())) == word
    assert status_label(transaction_status("Invoice", data, qbo_today())) == word
