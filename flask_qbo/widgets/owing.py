"""What a contact still owes, for the host's delete confirmation.

Deleting a contact only makes its QuickBooks customer inactive; the open
invoices stay in QuickBooks.  A user about to delete someone who owes money
should read so before confirming ("Dmitri Castellano owes $1,812.75,
$1,054.18 overdue"), so this reads the balances from the local mirror (no QBO
call, the same figures as the summary card) for the contact's own tenant.
When an unapplied credit makes the overdue invoices exceed the balance, both
figures stay the card's and the credit is named, so the sums agree.
"""

from __future__ import annotations

import dataclasses
import typing as t
from decimal import Decimal

from ..models import qbo_today
from ..state import get_qbo
from . import data
from .formatting import format_money
from .names import crm_name


@dataclasses.dataclass(frozen=True)
class DeleteWarning:
    """A contact's open balance in QuickBooks: what the delete confirmation should say.

    ``balance`` and ``overdue`` are the summary card's figures.  QuickBooks'
    balance is net of unapplied credits (credit memos, unapplied payments) while
    ``overdue`` counts the invoices past due, so ``overdue`` can exceed
    ``balance``; ``credit`` is then the unapplied credit that explains it (else 0).

    ``text`` is plain text (templates escape it): ``"Ann Lee owes $120.00, $20.00 overdue"``, or
    ``"Ann Lee owes $120.00 ($150.00 overdue, less $30.00 unapplied credit)"``.
    """

    name: str
    balance: Decimal
    overdue: Decimal
    currency: str | None
    credit: Decimal = Decimal("0")

    @property
    def balance_text(self) -> str:
        return format_money(self.balance, self.currency)

    @property
    def overdue_text(self) -> str:
        return format_money(self.overdue, self.currency)

    @property
    def credit_text(self) -> str:
        return format_money(self.credit, self.currency)

    @property
    def text(self) -> str:
        owes = f"{self.name} owes {self.balance_text}"
        if self.overdue <= 0:
            return owes
        if self.credit > 0:
            return f"{owes} ({self.overdue_text} overdue, less {self.credit_text} unapplied credit)"
        return f"{owes}, {self.overdue_text} overdue"


def delete_warning(contact: t.Any) -> DeleteWarning | None:
    """The warning for deleting ``contact``, or ``None`` when it owes nothing (or is not in QuickBooks).

    Read from the mirror of the contact's own tenant and its current company, so
    another tenant's customer with the same contact key is never consulted.
    """
    qbo = get_qbo()
    session = qbo.state().session
    ctx = data.load_context(session, contact, qbo._contact_key(contact), qbo._tenant_of(contact))
    customer = ctx.customer
    if customer is None:
        return None
    balance = data.open_balance(session, customer)
    if balance is None or balance <= 0:
        return None
    today = qbo_today()
    overdue = data.overdue_balance(session, customer, today)
    # Unapplied credits lower QuickBooks' balance but not the overdue invoices: name them when they explain the gap.
    credit = data.statement_for(session, customer, today).credits_total if overdue > balance else Decimal("0")
    return DeleteWarning(
        name=crm_name(contact), balance=balance, overdue=overdue, currency=customer.currency, credit=credit
    )


__all__ = ["DeleteWarning", "delete_warning"]
