"""QBO's rules for Items (Products and Services) on create and update.

An item's ``Type`` decides what it needs: a Service or NonInventory item is
sold into an income account; an Inventory item also needs its cost and asset
accounts and a starting quantity, and stays tracked for good; a Category only
groups items (no price, no accounts, never inactive); a Group (bundle) is
made in QBO's own screens and cannot be written through the API. Names are
unique across all items, and a child's ``FullyQualifiedName`` is
``Parent:Child``. "Deleting" an item is making it inactive.
"""

from __future__ import annotations

import typing as t

from .. import errors
from ..errors import EmulatorFault
from .values import check_date
from .values import check_length
from .values import money
from .values import reference

if t.TYPE_CHECKING:
    from ..company import Company

ITEM_TYPES = ("Service", "NonInventory", "Inventory", "Category", "Group")
#: Accounts each sellable type must name (Intuit's Item reference).
REQUIRED_ACCOUNTS = {
    "Service": ("IncomeAccountRef",),
    "NonInventory": ("IncomeAccountRef",),
    "Inventory": ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"),
}
ACCOUNT_REFS = ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef")
#: What a Category may not carry: it has no price and posts to no account.
NOT_ON_CATEGORY = ACCOUNT_REFS + ("UnitPrice", "PurchaseCost", "Taxable", "SalesTaxCodeRef", "Sku")
#: Characters QBO refuses in an item's Name (it uses ':' to join parent and child).
FORBIDDEN_IN_NAME = ("\t", "\n", "\r", ":")
#: A top category plus three levels below it, then the item: FullyQualifiedName holds at most five names.
MAX_LEVEL = 4
MAX_UNIT_PRICE = 99_999_999_999


def _duplicate() -> EmulatorFault:
    return EmulatorFault(
        400,
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another product or service is already using this name. "
        "Please use a different name.",
        "Name",
    )


def _check_name(company: Company, obj: dict[str, t.Any], own_id: str | None) -> str:
    name = str(obj.get("Name") or "").strip()
    if not name:
        raise errors.required("Name")
    check_length(name, 100, "Name")
    if any(ch in name for ch in FORBIDDEN_IN_NAME):
        raise errors.business("Item names can't contain a colon (:), a tab or a line break.", "Name")
    for other in company.table("Item").values():
        if other["Id"] != own_id and str(other.get("Name", "")).lower() == name.lower():
            raise _duplicate()
    return name


def _check_type(obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> str:
    kind = obj.get("Type")
    if not kind:
        raise errors.required("Type")
    if kind not in ITEM_TYPES:
        raise EmulatorFault(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {kind}", "Type")
    if kind == "Group" or (current or {}).get("Type") == "Group":
        raise errors.business(
            "Bundles (items of Type Group) can only be created and changed in QuickBooks Online.", "Type"
        )
    if current is not None and current.get("Type") != kind:
        if current.get("Type") in ("Inventory", "Category") or kind in ("Inventory", "Category"):
            raise errors.business(f"An item of type {current.get('Type')} can't be changed to {kind}.", "Type")
    return str(kind)


def _check_inventory(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    if not company.prefs.track_quantity_on_hand:
        raise errors.business(
            "If Track quantity on hand is turned off, the item cannot be of type Inventory.", "TrackQtyOnHand"
        )
    if obj.get("TrackQtyOnHand") is not True:
        if (current or {}).get("TrackQtyOnHand") is True:
            raise errors.business("Track quantity on hand can't be turned off once it is on.", "TrackQtyOnHand")
        raise errors.required("TrackQtyOnHand")
    for name in ("InvStartDate", "QtyOnHand"):
        if obj.get(name) in (None, ""):
            raise errors.required(name)
    obj["InvStartDate"] = check_date(obj["InvStartDate"], "InvStartDate")
    try:
        obj["QtyOnHand"] = float(obj["QtyOnHand"])
    except (TypeError, ValueError) as exc:
        raise errors.request_error(f"Invalid quantity: {obj['QtyOnHand']!r}", "QtyOnHand") from exc


def _place(company: Company, obj: dict[str, t.Any], name: str, own_id: str | None) -> None:
    """Fill ``FullyQualifiedName``, ``Level`` and ``SubItem`` from ``ParentRef``."""
    parent_ref = obj.get("ParentRef")
    if not parent_ref:
        obj.pop("ParentRef", None)
        obj.update(SubItem=False, Level=0, FullyQualifiedName=name)
        return
    obj["ParentRef"] = reference(company, "Item", parent_ref, "ParentRef")
    parent = company.table("Item")[obj["ParentRef"]["value"]]
    if obj["Type"] == "Category" and parent.get("Type") != "Category":
        raise errors.business("A category can only be placed under another category.", "ParentRef")
    ancestor: dict[str, t.Any] | None = parent
    while ancestor is not None:
        if own_id is not None and ancestor["Id"] == own_id:
            raise errors.business("An item can't be placed under itself or one of its sub-items.", "ParentRef")
        up = (ancestor.get("ParentRef") or {}).get("value")
        ancestor = company.table("Item").get(up) if up else None
    level = int(parent.get("Level", 0)) + 1
    if level > MAX_LEVEL:
        raise errors.business("Items and categories can be nested at most four levels deep.", "ParentRef")
    obj.update(SubItem=True, Level=level, FullyQualifiedName=f"{parent['FullyQualifiedName']}:{name}")


def prepare_item(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """Validate an Item body and fill what QBO derives (names, level, defaults)."""
    own_id = current["Id"] if current else None
    kind = _check_type(obj, current)
    name = _check_name(company, obj, own_id)
    obj["Name"] = name
    check_length(obj.get("Description"), 4000, "Description")
    check_length(obj.get("PurchaseDesc"), 4000, "PurchaseDesc")
    check_length(obj.get("Sku"), 100, "Sku")
    if kind == "Category":
        for field in NOT_ON_CATEGORY:
            obj.pop(field, None)
        if obj.get("Active") is False:
            raise errors.business("A category can't be made inactive.", "Active")
    else:
        for field in REQUIRED_ACCOUNTS.get(kind, ()):
            if not obj.get(field):
                raise errors.required(field)
        for field in ACCOUNT_REFS:
            if obj.get(field):
                obj[field] = reference(company, "Account", obj[field], field)
        price = money(obj.get("UnitPrice") or 0, "UnitPrice")
        if not 0 <= price <= MAX_UNIT_PRICE:
            raise errors.business(f"UnitPrice must be between 0 and {MAX_UNIT_PRICE}.", "UnitPrice")
        obj["UnitPrice"] = price
        if kind == "Inventory":
            _check_inventory(company, obj, current)
        else:
            obj.setdefault("TrackQtyOnHand", False)
        _tax_fields(company, obj)
    obj["Type"] = kind
    obj["Active"] = obj.get("Active", True) is not False
    _place(company, obj, name, own_id)
    return obj


def _tax_fields(company: Company, obj: dict[str, t.Any]) -> None:
    """``Taxable`` is a US field; a non-US item names its default tax codes instead."""
    if company.country() == "US":
        obj["Taxable"] = obj.get("Taxable") is True
        obj.pop("SalesTaxCodeRef", None)
        return
    obj.pop("Taxable", None)
    for field in ("SalesTaxCodeRef", "PurchaseTaxCodeRef"):
        if obj.get(field):
            obj[field] = reference(company, "TaxCode", obj[field], field)


def refresh_item_names(company: Company, item_id: str) -> None:
    """Keep the ``FullyQualifiedName``/``Level`` of an item's descendants in step after it changed."""
    items = company.table("Item")
    frontier = [item_id]
    while frontier:
        parent = items[frontier.pop()]
        for child in items.values():
            if (child.get("ParentRef") or {}).get("value") == parent["Id"]:
                child["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{child['Name']}"
                child["Level"] = int(parent.get("Level", 0)) + 1
                child["ParentRef"] = {"value": parent["Id"], "name": parent["Name"]}
                frontier.append(child["Id"])
