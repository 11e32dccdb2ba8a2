"""QBO's rules for the reference lists a client may create: Terms and PaymentMethods.

Both are named lists (a unique Name of at most 31 characters, an Active flag);
a Term is either STANDARD (due after DueDays) or DATE_DRIVEN (due on a day of
the month).
"""

from __future__ import annotations

import typing as t

from .. import errors
from ..errors import EmulatorFault
from .values import check_length

if t.TYPE_CHECKING:
    from ..company import Company


def prepare_term(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """Terms: a Name (≤ 31, unique) and either DueDays (STANDARD) or a day of month."""
    _named(company, "Term", obj, current)
    for name, low, high in (
        ("DueDays", 0, 999),
        ("DiscountPercent", 0, 100),
        ("DiscountDays", 0, 999),
        ("DayOfMonthDue", 1, 31),
        ("DueNextMonthDays", 0, 999),
        ("DiscountDayOfMonth", 0, 31),
    ):
        if obj.get(name) is not None and not low <= float(obj[name]) <= high:
            raise errors.business(f"{name} must be between {low} and {high}.", name)
    obj["Type"] = "DATE_DRIVEN" if obj.get("DueDays") is None and obj.get("DayOfMonthDue") else "STANDARD"
    if obj["Type"] == "STANDARD":
        obj.setdefault("DueDays", 0)
    return obj


def prepare_payment_method(
    company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None
) -> dict[str, t.Any]:
    _named(company, "PaymentMethod", obj, current)
    kind = obj.get("Type") or "NON_CREDIT_CARD"
    if kind not in ("CREDIT_CARD", "NON_CREDIT_CARD"):
        raise EmulatorFault(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {kind}", "Type")
    obj["Type"] = kind
    return obj


def _named(company: Company, entity: str, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    name = str(obj.get("Name") or "").strip()
    if not name:
        raise errors.required("Name")
    check_length(name, 31, "Name")
    own_id = current["Id"] if current else None
    for other in company.table(entity).values():
        if other["Id"] != own_id and other.get("Name", "").lower() == name.lower():
            raise EmulatorFault(
                400,
                "6240",
                "Duplicate Name Exists Error",
                f"The name supplied already exists. : Another {entity} is already using this name.",
                "Name",
            )
    obj["Name"] = name
    obj["Active"] = obj.get("Active", True) is not False
