"""Foreign-currency customers on the card and in the folder: their amounts in the home currency too.

A customer in EUR owes euros, but the company keeps its books in its home
currency, so the salesperson sees both: QBO's own figures in the customer's
currency, and beside them "≈ USD 1,234.00".  Nothing here asks QBO: the home
figures come from what the mirror holds, each transaction's ``HomeBalance`` /
``HomeTotalAmt``, else its amount times its ``ExchangeRate`` (home units per
foreign unit), and the home currency from the company's cached preferences.

A contact whose currency changed after its customer was created is not an
error either: QBO keeps the currency a customer was created with, and the card
says so (:func:`currency_note`).
"""

from __future__ import annotations

import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation

from sqlalchemy.orm import Session

from ..fieldmap import ON_CREATE
from ..models import CompanyPrefs
from ..models import Customer
from ..models import Transaction
from ..state import get_qbo
from ..sync.currency import CURRENCY_PATH
from ..sync.payload import field_values

if t.TYPE_CHECKING:
    from .data import WidgetContext

CENT = Decimal("0.01")
#: Transactions whose open balance is money the customer owes (the others are credit it holds).
_OWED = ("Invoice",)
_CREDIT = ("CreditMemo", "Payment")


def home_currency(session: Session, realm_id: object) -> str | None:
    """The company's home currency from its cached preferences (``None`` until they have been read)."""
    code = session.query(CompanyPrefs.home_currency).filter_by(realm_id=str(realm_id)).scalar()
    return str(code).upper() if code else None


def is_foreign(currency: str | None, home: str | None) -> bool:
    """True when both are known and differ: only then is a home amount worth showing."""
    return bool(currency and home and currency.upper() != home.upper())


def approx(amount: Decimal | None, code: str | None) -> str | None:
    """``"≈ USD 1,234.00"`` (half-up to the cent), or ``None`` when either part is unknown."""
    if amount is None or not code:
        return None
    return f"≈ {code} {amount.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def home_amount(txn: Transaction, which: str) -> Decimal | None:
    """A transaction's ``"total"`` or ``"balance"`` in the home currency, as far as its raw data tells.

    QBO's own ``HomeTotalAmt`` / ``HomeBalance`` first; else the amount times the
    transaction's ``ExchangeRate``; ``None`` when neither is there.
    """
    raw = txn.raw or {}
    own = _decimal(raw.get("HomeTotalAmt" if which == "total" else "HomeBalance"))
    if own is not None:
        return own
    amount, rate = (txn.total if which == "total" else txn.balance), _decimal(raw.get("ExchangeRate"))
    if amount is None or rate is None:
        return None
    return (Decimal(amount) * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def row_home(txn: Transaction, currency: str | None, home: str | None) -> dict[str, str | None]:
    """A folder row's home amounts as text, when the row is in a foreign currency and they differ."""
    if not is_foreign(currency, home):
        return {"home_total": None, "home_balance": None}
    total, balance = home_amount(txn, "total"), home_amount(txn, "balance")
    return {
        "home_total": approx(total, home) if total is not None and total != txn.total else None,
        "home_balance": approx(balance, home) if balance is not None and balance != txn.balance else None,
    }


def home_balance(session: Session, customer: Customer, balance: Decimal | None, home: str | None) -> Decimal | None:
    """The open ``balance`` (in the customer's currency) in the home currency, approximately.

    The rate is the one of the customer's open items in the mirror (what they
    owe, less the credit they hold, each at its own rate), else of its latest
    transaction with a rate; ``None`` when no mirrored transaction gives one.
    """
    if balance is None or not is_foreign(customer.currency, home):
        return None
    rows = (
        session.query(Transaction)
        .filter(
            Transaction.realm_id == customer.realm_id,
            Transaction.customer_qbo_id == customer.qbo_id,
            Transaction.deleted.is_(False),
        )
        .order_by(Transaction.txn_date.desc(), Transaction.id.desc())
        .all()
    )
    foreign = converted = Decimal(0)
    for txn in rows:
        sign = 1 if txn.txn_type in _OWED else -1 if txn.txn_type in _CREDIT else 0
        value = home_amount(txn, "balance")
        if sign and txn.balance and txn.balance > 0 and value is not None and txn.status != "void":
            foreign += sign * Decimal(txn.balance)
            converted += sign * value
    rate: Decimal | None = converted / foreign if foreign else None
    if rate is None:  # nothing open with a rate: the latest rate the customer was billed at
        rate = next((r for r in (_decimal((txn.raw or {}).get("ExchangeRate")) for txn in rows) if r), None)
    if rate is None:
        return None
    return (Decimal(balance) * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def currency_note(contact: object, customer: Customer | None) -> str | None:
    """Why the card's currency is not the one the contact now asks for (``None`` when they agree).

    The host maps its contact's currency with direction ``on_create``; QBO keeps
    the currency the customer was created with, so a later change never syncs.
    """
    if customer is None or not customer.currency:
        return None
    field = get_qbo()._registration().fields.by_path(CURRENCY_PATH)
    if field is None or field.direction != ON_CREATE:
        return None
    asked = field_values(field, contact).get(CURRENCY_PATH)
    if not asked or str(asked).strip().upper() == customer.currency.upper():
        return None
    return (
        f"Currency is fixed in QuickBooks once the customer exists ({customer.currency}); "
        f"this contact now says {str(asked).strip().upper()}, which is not sent."
    )


def card(session: Session, ctx: WidgetContext, balance: Decimal | None) -> dict[str, t.Any]:
    """What the summary card adds for currencies: the home balance text and the fixed-currency note."""
    customer = ctx.customer
    if customer is None:
        return {"home_balance": None, "currency_note": None}
    home = home_currency(session, customer.realm_id)
    return {
        "home_balance": approx(home_balance(session, customer, balance, home), home),
        "currency_note": currency_note(ctx.contact, customer),
    }
