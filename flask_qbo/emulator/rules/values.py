"""Value checks every entity family shares: amounts, lengths, dates, references.

Each raises the fault QBO answers with (a 2020 request error, a 6000 business
error, a 2500 invalid reference ...), so the per-entity rules read as lists of
checks.
"""

from __future__ import annotations

import typing as t
from datetime import date
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation

from .. import errors

if t.TYPE_CHECKING:
    from ..company import Company

_CENT = Decimal("0.01")


def money(value: object, element: str = "Amount") -> float:
    """Parse an amount the way QBO accepts it (number or numeric string), to cents."""
    try:
        return float(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError) as exc:
        raise errors.request_error(f"Invalid amount: {value!r}", element) from exc


def check_length(value: object, limit: int, element: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise errors.too_long(element, limit)


def check_date(value: object, element: str) -> str:
    """An ISO date (a timestamp's date part is accepted), or a request error."""
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError as exc:
        raise errors.request_error(f"Invalid date {value!r}", element) from exc


def reference(company: Company, entity: str, ref: object, element: str, label: str = "Name") -> dict[str, str]:
    """Validate a ReferenceType and fill its ``name`` from the target."""
    if not isinstance(ref, dict) or not str(ref.get("value", "")).strip():
        raise errors.required(element)
    ref_id = str(ref["value"])
    target = company.table(entity).get(ref_id)
    if target is None:
        raise errors.invalid_reference(element, ref_id)
    if target.get("Active") is False:
        raise errors.not_found(entity, ref_id)
    return {"value": ref_id, "name": target.get(label, "")}
