"""The products and services a seeded company sells, and which item each seeded line uses.

Every catalogue (``landscaping``, ``trading``) has a top Category with its
items under it, services and non-inventory goods with prices, one tracked
inventory item, one bundle (a Group, which only QBO's own screens can make,
so it is installed rather than created) and one item made inactive. The
seeded documents' lines name these items (:data:`LINE_ITEMS`), so a line's
description, item and tax code agree.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from .data import ref

if t.TYPE_CHECKING:
    from ..app import Emulator

#: The default accounts of every company (flask_qbo/emulator/defaults.py).
SERVICE_INCOME = {"value": "1"}
PRODUCT_INCOME = {"value": "79"}
COST_OF_GOODS = {"value": "80"}
INVENTORY_ASSET = {"value": "81"}
#: A non-US company's goods are sold at its default rate (HST ON in the seeded Canadian company).
NON_US_CODE = {"value": "5"}


@dataclass(frozen=True)
class Product:
    """One item to create: its name, type, price, and whether it is sold with tax."""

    name: str
    kind: str
    price: str = "0"
    taxable: bool = False
    sku: str = ""
    description: str = ""
    active: bool = True


CATEGORY = {"landscaping": "Landscaping", "trading": "Chandlery"}
PRODUCTS: dict[str, tuple[Product, ...]] = {
    "landscaping": (
        Product("Weekly garden maintenance", "Service", "85", description="Mowing, weeding and edging"),
        Product("Landscape design consultation", "Service", "150", description="Two hours on site"),
        Product("Sprinkler system installation", "Service", "1200"),
        Product("Tree and hedge trimming", "Service", "95"),
        Product("Pest control treatment", "Service", "70"),
        Product("Garden soil and mulch", "NonInventory", "45", True, "SOIL-40L", "Per 40 litre bag"),
        Product("Patio pavers", "NonInventory", "8.5", True, "PAV-300", "Per paver, 300 mm"),
        Product("Outdoor lighting fixtures", "Inventory", "120", True, "LGT-LED-01", "LED path light"),
        Product("Snow removal", "Service", "60", active=False),
    ),
    "trading": (
        Product("Freight and handling", "Service", "25"),
        Product("Teak deck chairs", "NonInventory", "240", True, "TEAK-CH", "Folding, oiled teak"),
        Product("Brass harbour lanterns", "NonInventory", "65", True, "BRS-LNT"),
        Product("Heavy canvas covers", "NonInventory", "180", True, "CNV-HVY"),
        Product("Braided marine rope", "Inventory", "35", True, "ROPE-12", "12 mm, 30 m spool"),
        Product("Rigging inspection", "Service", "90", active=False),
    ),
}
#: Each catalogue's bundle: (name, [(component name, quantity)]).
BUNDLES = {
    "landscaping": ("Spring clean-up bundle", (("Weekly garden maintenance", 2), ("Garden soil and mulch", 4))),
    "trading": ("Deck starter kit", (("Teak deck chairs", 2), ("Heavy canvas covers", 1))),
}
#: Which item each seeded line description (seed/data.py CATALOGUES) is sold as.
LINE_ITEMS = {
    "Weekly garden maintenance": "Weekly garden maintenance",
    "Landscape design consultation": "Landscape design consultation",
    "Sprinkler system installation": "Sprinkler system installation",
    "Tree and hedge trimming": "Tree and hedge trimming",
    "Outdoor lighting fixtures": "Outdoor lighting fixtures",
    "Pest control treatment": "Pest control treatment",
    "Garden soil and mulch, delivered": "Garden soil and mulch",
    "Hardscape: patio pavers laid": "Patio pavers",
    "Teak deck chairs": "Teak deck chairs",
    "Braided marine rope, per spool": "Braided marine rope",
    "Brass harbour lanterns": "Brass harbour lanterns",
    "Heavy canvas covers": "Heavy canvas covers",
    "Freight and handling": "Freight and handling",
}


def _body(product: Product, category: dict[str, str], us: bool, start: str) -> dict[str, t.Any]:
    body: dict[str, t.Any] = {
        "Name": product.name,
        "Type": product.kind,
        "UnitPrice": float(product.price),
        "ParentRef": category,
        "IncomeAccountRef": SERVICE_INCOME if product.kind == "Service" else PRODUCT_INCOME,
    }
    if product.sku:
        body["Sku"] = product.sku
    if product.description:
        body["Description"] = product.description
    if us:
        body["Taxable"] = product.taxable
    else:
        body["SalesTaxCodeRef"] = NON_US_CODE
    if product.kind == "Inventory":
        body.update(
            ExpenseAccountRef=COST_OF_GOODS,
            AssetAccountRef=INVENTORY_ASSET,
            TrackQtyOnHand=True,
            QtyOnHand=25,
            InvStartDate=start,
        )
    return body


def seed_items(emu: Emulator, realm: str, catalogue: str) -> None:
    """Create the catalogue's items in ``realm`` (those whose names exist already are left alone)."""
    store = emu.store
    existing = {row["Name"]: row for row in store.list(realm, "Item", include_inactive=True)}
    us = store.company(realm).country() == "US"
    start = emu.clock.today()
    name = CATEGORY[catalogue]
    category = existing.get(name) or store.create(realm, "Item", {"Name": name, "Type": "Category"})
    for product in PRODUCTS[catalogue]:
        if product.name in existing:
            continue
        item = store.create(realm, "Item", _body(product, ref(category), us, start))
        existing[item["Name"]] = item
        if not product.active:
            store.update(realm, "Item", {"Id": item["Id"], "SyncToken": item["SyncToken"], "Active": False})
    bundle, parts = BUNDLES[catalogue]
    if bundle not in existing:
        lines = [
            {"Qty": qty, "ItemRef": {**ref(existing[part]), "type": existing[part]["Type"]}} for part, qty in parts
        ]
        store.install(
            realm,
            "Item",
            {
                "Name": bundle,
                "FullyQualifiedName": bundle,
                "Type": "Group",
                "Active": True,
                "SubItem": False,
                "Level": 0,
                "Description": "Bundle: " + ", ".join(f"{qty} × {part}" for part, qty in parts),
                "PrintGroupedItems": False,
                "ItemGroupDetail": {"ItemGroupLine": lines},
            },
        )


def line_item(items: dict[str, dict[str, t.Any]], description: str, us: bool) -> dict[str, t.Any]:
    """The ``SalesItemLineDetail`` of a seeded line: its item and the tax code that item sells with."""
    item = items[LINE_ITEMS[description]]
    if us:
        code = {"value": "TAX" if item.get("Taxable") else "NON"}
    else:
        code = dict(item.get("SalesTaxCodeRef") or NON_US_CODE)
    return {"ItemRef": ref(item), "TaxCodeRef": code}
