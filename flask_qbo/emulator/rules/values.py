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
#: A PhysicalAddress's parts and their lengths (Intuit's Customer reference).
ADDRESS_LIMITS = {
    "Line1": 500,
    "Line2": 500,
    "Line3": 500,
    "Line4": 500,
    "Line5": 500,
    "City": 255,
    "CountrySubDivisionCode": 255,
    "PostalCode": 30,
    "Country": 255,
}


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
        raise errors.not_found()
    return {"value": ref_id, "name": target.get(label, "")}


def addresses(
    company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None, names: tuple[str, ...]
) -> None:
    """Store each address named in ``names`` as QBO does: checked, emptied parts gone, an ``Id`` of its own.

    QBO numbers every address it stores; an address keeps its id when its
    record is updated (a client's ``Id`` is ignored), and one whose parts
    were all cleared is removed.
    """
    for name in names:
        value = obj.get(name)
        parts = {k: v for k, v in value.items() if k != "Id" and v not in ("", None)} if isinstance(value, dict) else {}
        if not parts:
            obj.pop(name, None)
            continue
        for part, limit in ADDRESS_LIMITS.items():
            check_length(parts.get(part), limit, f"{name}.{part}")
        previous = ((current or {}).get(name) or {}).get("Id")
        obj[name] = {"Id": previous or company.new_address_id(), **parts}
