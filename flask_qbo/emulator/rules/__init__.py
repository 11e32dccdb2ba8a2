"""Per-entity rules: what QBO validates and derives on every create and update.

The store stays generic (ids, SyncTokens, change log); everything that differs
between a Customer and an Invoice lives in this package, one module per entity
family (:mod:`.customer`, :mod:`.transactions`, :mod:`.lists`, :mod:`.items`,
:mod:`.tax`, sharing the checks in :mod:`.values`), so the HTTP API, the
Python API and the web UI all enforce the same rules. This module owns the two
steps every write takes: merging a client body into the stored object, and
dispatching to the family.
"""

from __future__ import annotations

import typing as t

from ..entities import TRANSACTIONS
from .customer import prepare_customer
from .items import prepare_item
from .lists import prepare_payment_method
from .lists import prepare_term
from .transactions import prepare_transaction

if t.TYPE_CHECKING:
    from ..company import Company

#: Fields the server owns; values sent by a client are ignored (as QBO does).
READ_ONLY = frozenset(
    {
        "Id",
        "SyncToken",
        "MetaData",
        "domain",
        "sparse",
        "FullyQualifiedName",
        "Level",
        "BalanceWithJobs",
        "TotalAmt",
        "RemainingCredit",
        "UnappliedAmt",
        "DeliveryInfo",
        "HomeBalance",
        "HomeTotalAmt",
        "InvoiceLink",
    }
)


def merge_for_write(
    entity: str, current: dict[str, t.Any] | None, incoming: dict[str, t.Any], sparse: bool
) -> dict[str, t.Any]:
    """Combine a stored object and a client body per QBO's full/sparse rules.

    A full update nulls every writable field the client left out; a sparse
    update changes only what was sent. Read-only fields always come from the
    stored copy.
    """
    read_only = READ_ONLY - {"TotalAmt"} if entity == "Payment" else READ_ONLY
    writable = {k: v for k, v in incoming.items() if k not in read_only and not k.startswith("_")}
    if current is None:
        return writable
    if sparse:
        merged = {k: v for k, v in current.items()}
        merged.update(writable)
        return merged
    kept = {k: v for k, v in current.items() if k in read_only or k.startswith("_")}
    kept.update(writable)
    return kept


def prepare(
    company: Company,
    entity: str,
    obj: dict[str, t.Any],
    current: dict[str, t.Any] | None,
    currency: dict[str, str],
    today: str,
) -> dict[str, t.Any]:
    """Dispatch to the entity's rules; CompanyInfo and Account pass through."""
    if entity == "Customer":
        return prepare_customer(company, obj, current, currency)
    if entity in TRANSACTIONS:
        return prepare_transaction(company, entity, obj, current, currency, today)
    if entity == "Term":
        return prepare_term(company, obj, current)
    if entity == "PaymentMethod":
        return prepare_payment_method(company, obj, current)
    if entity == "Item":
        return prepare_item(company, obj, current)
    return obj
