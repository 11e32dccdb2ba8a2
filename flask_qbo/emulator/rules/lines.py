"""The lines of a sales document: QBO's arithmetic, discounts, subtotals and line ids.

Line handling is where CRM integrations most often trip (facts §2.2, §2.3,
§2.7), so the emulator is strict the way QBO is:

* a sales line with both ``Qty`` and ``UnitPrice`` must carry the ``Amount``
  their product rounds to, half-up to the cent in decimal arithmetic (a float
  product such as 1861.0749999 is exactly the mistake QBO rejects), else 6070;
* a ``SalesItemLineDetail`` line may not name a Group (bundle) item: QBO
  sells a bundle only through a ``GroupLineDetail`` line, which the emulator
  does not model, so such a line is a 6000;
* a ``DiscountLineDetail`` line takes a percentage of the subtotal (or a fixed
  ``Amount``) off the total, and only where the company allows discounts;
* a ``DescriptionOnly`` line has no amount, unless its description is
  ``Subtotal:``, which makes it an inline subtotal of the lines above it;
* the ``SubTotalLineDetail`` line is QBO's own: computed and returned even
  when a client never sent one.

The ``Line`` array of a write is the whole line set: a line whose ``Id`` the
document already has keeps it, any other line is new and gets the next id.
"""

from __future__ import annotations

import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation

from .. import errors
from ..errors import EmulatorFault
from .flags import sales_form_flag
from .values import reference

if t.TYPE_CHECKING:
    from ..company import Company

Line = dict[str, t.Any]
CENT = Decimal("0.01")
HUNDRED = Decimal("100")
#: The item sales lines default to (defaults.py: "Services").
SERVICES_ITEM_ID = "1"
#: Each line DetailType and the name of its detail block.
DETAIL_BLOCKS = {
    "SalesItemLineDetail": "SalesItemLineDetail",
    "DiscountLineDetail": "DiscountLineDetail",
    "DescriptionOnly": "DescriptionLineDetail",
}
#: A DescriptionOnly line with this exact description is an inline subtotal (case-sensitive).
INLINE_SUBTOTAL = "Subtotal:"


def cents(value: Decimal) -> Decimal:
    """Round to the cent, half-up, as QBO does."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def decimal(value: object, element: str) -> Decimal:
    """A number (or numeric string) as a Decimal, or QBO's request error."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise errors.request_error(f"Invalid number: {value!r}", element) from None
    if not number.is_finite():
        raise errors.request_error(f"Invalid number: {value!r}", element)
    return number


def amount_mismatch(supplied: object) -> EmulatorFault:
    """6070: the Amount sent is not ``Qty × UnitPrice`` rounded to the cent."""
    return EmulatorFault(
        400,
        "6070",
        "Amount calculation incorrect in the request",
        f"Amount is not equal to UnitPrice * Qty. Supplied value:{supplied}",
        "Line.Amount",
    )


def discount_missing() -> EmulatorFault:
    """6090: a discount line with neither a percentage nor an amount (wording not Intuit's)."""
    return EmulatorFault(
        400,
        "6090",
        "Discount amount or percent is missing",
        "A DiscountLineDetail line needs DiscountPercent (with PercentBased true) or an Amount.",
        "Line.DiscountLineDetail",
    )


def group_on_sales_line(name: object) -> EmulatorFault:
    """6000: a bundle named on a plain sales line (QBO needs a ``GroupLineDetail`` for it)."""
    return errors.business(
        f"The bundle {name} cannot be sold on a SalesItemLineDetail line; use a GroupLineDetail line.",
        "Line.SalesItemLineDetail.ItemRef",
    )


class LineSet(t.NamedTuple):
    """The priced lines (SubTotalLine last), their subtotal and the document total before tax."""

    lines: list[Line]
    subtotal: Decimal
    total: Decimal


def price_lines(company: Company, sent: list[t.Any], previous: list[t.Any] | None) -> LineSet:
    """Validate and price a document's ``Line`` array against the lines it had (``previous``)."""
    known = {str(ln.get("Id")): ln for ln in previous or [] if isinstance(ln, dict) and ln.get("Id") is not None}
    next_id = max((int(i) for i in known if i.isdigit()), default=0) + 1
    lines: list[Line] = []
    subtotal = Decimal("0")
    since_subtotal = Decimal("0")
    discounts: list[Line] = []
    for raw in sent:
        if not isinstance(raw, dict):
            raise errors.request_error("Each Line must be an object", "Line")
        if raw.get("DetailType") == "SubTotalLineDetail":
            continue
        line = dict(raw)
        declared = bool(line.get("DetailType"))
        detail_type = str(line.get("DetailType") or "SalesItemLineDetail")
        block = DETAIL_BLOCKS.get(detail_type)
        if block is None:
            raise errors.request_error(f"Line DetailType {detail_type} is not supported", "Line.DetailType")
        line["DetailType"] = detail_type
        before = known.get(str(line.get("Id")))
        if before is None:
            line["Id"] = str(next_id)
            next_id += 1
        else:
            line["Id"] = str(before["Id"])
        if detail_type == "SalesItemLineDetail":
            amount = _sales_line(company, line, before, declared)
            subtotal += amount
            since_subtotal += amount
        elif detail_type == "DescriptionOnly":
            detail = line.get(block)
            line[block] = dict(detail) if isinstance(detail, dict) else {}
            inline = line.get("Description") == INLINE_SUBTOTAL
            line["Amount"] = float(cents(since_subtotal)) if inline else 0
            since_subtotal = Decimal("0") if inline else since_subtotal
        else:
            discounts.append(line)
        lines.append(line)
    discount_total = sum((_discount_line(company, line, subtotal) for line in discounts), Decimal("0"))
    for number, line in enumerate(lines, start=1):
        line["LineNum"] = number
    subtotal = cents(subtotal)
    lines.append({"Amount": float(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return LineSet(lines, subtotal, cents(subtotal - discount_total))


def _sales_line(company: Company, line: Line, before: Line | None, declared: bool) -> Decimal:
    """Resolve the item, check ``Qty × UnitPrice`` against ``Amount``; the line's amount."""
    element = "Line.SalesItemLineDetail"
    detail = line.get("SalesItemLineDetail")
    if detail is None and not declared:
        detail = {}  # an untyped line (``{"Amount": 5}``) is taken as a plain sales line of the default item
    if not isinstance(detail, dict):
        raise errors.required(element, f"Required parameter {element} is missing in the request")
    detail = dict(detail)
    item = detail.get("ItemRef") or {"value": SERVICES_ITEM_ID}
    kept = str(((before.get("SalesItemLineDetail") or {}).get("ItemRef") or {}).get("value")) if before else None
    if kept is not None and isinstance(item, dict) and str(item.get("value")) == kept and kept in company.table("Item"):
        # a line the document already had keeps its item even if the item was made inactive since
        detail["ItemRef"] = {"value": kept, "name": company.table("Item")[kept].get("Name", "")}
    else:
        detail["ItemRef"] = reference(company, "Item", item, f"{element}.ItemRef")
    chosen = company.table("Item").get(str(detail["ItemRef"].get("value")), {})
    if chosen.get("Type") == "Group":
        raise group_on_sales_line(chosen.get("Name"))
    product: Decimal | None = None
    if detail.get("Qty") is not None and detail.get("UnitPrice") is not None:
        product = decimal(detail["Qty"], f"{element}.Qty") * decimal(detail["UnitPrice"], f"{element}.UnitPrice")
        if product == 0 and line.get("Amount") is not None:
            # python-quickbooks sends Qty 0 and UnitPrice 0 on every line it builds, with
            # the real Amount beside them, and QBO accepts that: zeros count as "not sent".
            product = None
    if line.get("Amount") is None:
        if product is None:
            raise errors.required("Line.Amount", "Required parameter Line.Amount is missing in the request")
        amount = cents(product)
    else:
        amount = decimal(line["Amount"], "Line.Amount")
        if product is not None and cents(amount) != cents(product):
            raise amount_mismatch(line["Amount"])
        amount = cents(amount)
    line["Amount"] = float(amount)
    line["SalesItemLineDetail"] = detail
    return amount


def _discount_line(company: Company, line: Line, subtotal: Decimal) -> Decimal:
    """Price a whole-document discount line; refused where the company has discounts off."""
    if not sales_form_flag(company, "AllowDiscount", default=True):
        raise errors.business(
            "Discounts are turned off for this company (Preferences.SalesFormsPrefs.AllowDiscount).",
            "Line.DiscountLineDetail",
        )
    detail = line.get("DiscountLineDetail")
    if not isinstance(detail, dict):
        element = "Line.DiscountLineDetail"
        raise errors.required(element, f"Required parameter {element} is missing in the request")
    detail = dict(detail)
    percent_based = detail.get("PercentBased") in (True, "true", "True")
    if percent_based:
        if detail.get("DiscountPercent") is None:
            raise discount_missing()
        percent = decimal(detail["DiscountPercent"], "Line.DiscountLineDetail.DiscountPercent")
        if not Decimal("0") <= percent <= HUNDRED:
            raise errors.business("DiscountPercent must be between 0 and 100.", "Line.DiscountLineDetail")
        amount = cents(subtotal * percent / HUNDRED)
        detail["DiscountPercent"] = float(percent)
    else:
        if line.get("Amount") is None:
            raise discount_missing()
        amount = cents(decimal(line["Amount"], "Line.Amount"))
        if amount < 0:
            raise errors.business("A discount amount cannot be negative.", "Line.Amount")
    detail["PercentBased"] = percent_based
    if detail.get("DiscountAccountRef"):
        detail["DiscountAccountRef"] = reference(
            company, "Account", detail["DiscountAccountRef"], "Line.DiscountLineDetail.DiscountAccountRef"
        )
    line["DiscountLineDetail"] = detail
    line["Amount"] = float(amount)
    return amount
