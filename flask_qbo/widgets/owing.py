"""What a contact still owes, for the host's delete confirmation.

Deleting a contact only makes its QuickBooks customer inactive; the open
invoices stay in QuickBooks.  A user about to delete someone who owes money
should read so before confirming ("Dmitri Castellano owes $1,812.75,
$1,054.18 overdue"), so this reads the balances from the local mirror (no QBO
call, the same figures as the summary card) for the contact's own tenant.
"""

from __future__ import annotations

import dataclasses
import typing as t
from decimal import Decimal

from ..models import utcnow
from ..state import get_qbo
from . import data
from .formatting import format_money
from .names import crm_name


@dataclasses.dataclass(frozen=True)
class DeleteWarning:
    """A contact's open balance in QuickBooks: what the delete confirmation should say.

    ``overdue`` is the open balance of invoices past their due date, at most
    ``balance`` (QuickBooks' balance is net of unapplied credits).

    ``text`` is plain text (templates escape it): ``"Ann Lee owes $120.00, $20.00 overdue"``.
    """

    name: str
    balance: Decimal
    overdue: Decimal
    currency: str | None

    @property
    def balance_text(self) -> str:
        return format_money(self.balance, self.currency)

    @property
    def overdue_text(self) -> str:
        return format_money(self.overdue, self.currency)

    @property
    def text(self) -> str:
        owes = f"{self.name} owes {self.balance_text}"
        return f"{owes}, {self.overdue_text} overdue" if self.overdue > 0 else owes


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
    # Unapplied credits lower QuickBooks' balance but not the overdue invoices: never say more is overdue than owed.
    overdue = min(data.overdue_balance(session, customer, utcnow().date()), balance)
    return DeleteWarning(name=crm_name(contact), balance=balance, overdue=overdue, currency=customer.currency)


__all__ = ["DeleteWarning", "delete_warning"]
