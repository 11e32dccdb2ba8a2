"""The status a mirrored document shows in the transactions folder, derived from QBO's fields.

QBO has no status field for most types, so it is computed here, from the
document as QBO sent it.  :mod:`.mirror` stores it as a column of every
transaction; the widgets and the statement read that column.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal

from .parsing import parse_date
from .parsing import to_decimal

#: An estimate's ``TxnStatus`` (casefolded) as the folder shows it; anything else is pending.
_ESTIMATE_STATUS = {
    "accepted": "accepted",
    "closed": "closed",
    "converted": "closed",
    "rejected": "rejected",
    "pending": "pending",
}


def _is_voided(data: t.Mapping[str, t.Any], total: Decimal | None) -> bool:
    note = data.get("PrivateNote") or ""
    return isinstance(note, str) and note.startswith("Voided") and (total is None or total == 0)


def transaction_status(entity: str, data: t.Mapping[str, t.Any], today: dt.date) -> str:
    """The status shown in the transactions folder, derived from QBO's fields.

    QBO has no status field for most types, so it is computed: a void keeps the
    record with zero amounts and a ``Voided`` note; an invoice is paid when its
    balance reaches zero, overdue when its due date has passed with a balance.
    """
    total = to_decimal(data.get("TotalAmt"))
    balance = to_decimal(data.get("Balance")) if entity == "Invoice" else None
    due = parse_date(data.get("DueDate")) if entity == "Invoice" else None
    return status_of(entity, data, total, balance, due, today)


def status_of(
    entity: str,
    data: t.Mapping[str, t.Any],
    amount: Decimal | None,
    left: Decimal | None,
    due: dt.date | None,
    today: dt.date,
) -> str:
    """:func:`transaction_status` from the document's total, an invoice's balance and due date, already read.

    The mirror's columns read them anyway; a page of a thousand rows reads them once.
    """
    zero = Decimal("0")
    total = amount or zero
    if entity == "Estimate":
        status = str(data.get("TxnStatus") or "Pending").casefold()
        return _ESTIMATE_STATUS.get(status, "pending")
    if _is_voided(data, amount):
        return "void"
    if entity == "Invoice":
        balance = total if left is None else left
        if balance == 0 and total > 0:
            return "paid"
        if 0 < balance < total:
            return "partially_paid"
        if due is not None and due < today and balance > 0:
            return "overdue"
        return "open"
    if entity == "Payment":
        unapplied = to_decimal(data.get("UnappliedAmt")) or zero
        return "unapplied" if unapplied > 0 else "applied"
    if entity == "SalesReceipt":
        return "paid"
    if entity == "CreditMemo":
        remaining = to_decimal(data.get("RemainingCredit")) or zero
        return "open" if remaining > 0 else "applied"
    if entity == "RefundReceipt":
        return "refunded"
    raise ValueError(f"{entity!r} is not a mirrored transaction type.")
