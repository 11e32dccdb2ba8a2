"""Items (Products and Services) through ``/item``: types, rules, names, queries, change tracking.

Facts: qbo-quote-to-cash-facts §1 (Intuit's Item reference).
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from flask_qbo.emulator import CompanySettings
from flask_qbo.emulator import Emulator
from flask_qbo.emulator import WSGIAdapter
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import seed_company

from .conftest import Api
from .test_webhooks import HOOK_URL
from .test_webhooks import Receiver

SERVICE = {"Name": "Garden Design", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
INVENTORY = {
    "Name": "Pump",
    "Type": "Inventory",
    "UnitPrice": 12.75,
    "IncomeAccountRef": {"value": "79"},
    "ExpenseAccountRef": {"value": "80"},
    "AssetAccountRef": {"value": "81"},
    "TrackQtyOnHand": True,
    "QtyOnHand": 10,
    "InvStartDate": "2026-01-01",
}


def _item(api: Api, **fields: t.Any) -> dict[str, t.Any]:
    return api.create("Item", {**SERVICE, **fields})


def _update(api: Api, item: dict[str, t.Any], sparse: bool = True, **fields: t.Any) -> t.Any:
    body = {"Id": item["Id"], "SyncToken": item["SyncToken"], "sparse": sparse, **fields}
    return api.post("item", body)


def test_minimal_service_reads_back_in_qbo_shape(api: Api) -> None:
    created = _item(api)
    assert created["Id"] and created["SyncToken"] == "0"
    assert (created["Name"], created["FullyQualifiedName"], created["Type"]) == ("Garden Design",) * 2 + ("Service",)
    assert created["Active"] is True and created["Taxable"] is False and created["TrackQtyOnHand"] is False
    assert created["UnitPrice"] == 0 and created["SubItem"] is False and created["Level"] == 0
    assert created["IncomeAccountRef"] == {"value": "1", "name": "Services"}
    assert (created["domain"], created["sparse"]) == ("QBO", False)
    assert set(created["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    assert api.get(f"item/{created['Id']}").json()["Item"] == created


def test_us_item_fields_and_sparse_and_full_update(api: Api) -> None:
    item = _item(api, UnitPrice="75.505", Sku="GD-1", Description="Two hours", Taxable=True)
    assert (item["UnitPrice"], item["Sku"], item["Taxable"]) == (75.51, "GD-1", True)  # half-up to the cent
    sparse = _update(api, item, UnitPrice=80).json()["Item"]
    assert (sparse["UnitPrice"], sparse["Sku"], sparse["SyncToken"]) == (80, "GD-1", "1")
    full = _update(api, sparse, sparse=False, Name="Garden Design", Type="Service", IncomeAccountRef={"value": "1"})
    assert full.status_code == 200, full.text
    assert "Sku" not in full.json()["Item"] and full.json()["Item"]["UnitPrice"] == 0


@pytest.mark.parametrize(
    ("body", "code", "element"),
    [
        ({"Type": "Service", "IncomeAccountRef": {"value": "1"}}, "2020", "Name"),
        ({"Name": "No type", "IncomeAccountRef": {"value": "1"}}, "2020", "Type"),
        ({"Name": "Odd", "Type": "Assembly", "IncomeAccountRef": {"value": "1"}}, "2170", "Type"),
        ({"Name": "No account", "Type": "Service"}, "2020", "IncomeAccountRef"),
        ({"Name": "No account", "Type": "NonInventory"}, "2020", "IncomeAccountRef"),
        ({"Name": "Bad account", "Type": "Service", "IncomeAccountRef": {"value": "999"}}, "2500", "IncomeAccountRef"),
        ({**SERVICE, "Name": "x" * 101}, "2050", "Name"),
        ({**SERVICE, "Name": "Parent:Child"}, "6000", "Name"),
        ({**SERVICE, "Name": "Tab\there"}, "6000", "Name"),
        ({**SERVICE, "Name": "Two\nlines"}, "6000", "Name"),
        ({**SERVICE, "Name": "Bundle", "Type": "Group"}, "6000", "Type"),
    ],
)
def test_create_faults(api: Api, body: dict[str, t.Any], code: str, element: str) -> None:
    response = api.post("item", body)
    assert response.status_code == 400
    error = api.error(response)
    assert (error["code"], error["element"]) == (code, element)
    if code == "2020":
        assert error["Detail"] == f"Required parameter {element} is missing in the request"


def test_names_are_unique_ignoring_case(api: Api) -> None:
    first = _item(api)
    response = api.post("item", {**SERVICE, "Name": "garden design"})
    assert response.status_code == 400
    error = api.error(response)
    assert error["code"] == "6240" and error["Message"] == "Duplicate Name Exists Error"
    assert _update(api, first, Name="Garden Design").status_code == 200  # its own name is no clash


def test_inventory_needs_its_accounts_start_date_and_quantity(api: Api) -> None:
    for missing in ("ExpenseAccountRef", "AssetAccountRef", "InvStartDate", "QtyOnHand", "TrackQtyOnHand"):
        body = {k: v for k, v in INVENTORY.items() if k != missing}
        error = api.error(api.post("item", body))
        assert (error["code"], error["element"]) == ("2020", missing), missing
    item = api.create("Item", INVENTORY)
    assert (item["QtyOnHand"], item["InvStartDate"], item["TrackQtyOnHand"]) == (10, "2026-01-01", True)
    assert item["AssetAccountRef"] == {"value": "81", "name": "Inventory Asset"}
    assert api.error(_update(api, item, TrackQtyOnHand=False))["code"] == "6000"
    assert api.error(_update(api, item, Type="NonInventory"))["code"] == "6000"


def test_inventory_needs_quantity_tracking_switched_on(emulator: Emulator) -> None:
    emulator.add_company("9130350000000031", "No Stock", CompanySettings(track_quantity_on_hand=False))
    api = Api(emulator, "9130350000000031")
    assert api.get("preferences").json()["Preferences"]["ProductAndServicesPrefs"]["QuantityOnHand"] is False
    error = api.error(api.post("item", INVENTORY))
    assert error["code"] == "6000" and "Track quantity on hand is turned off" in error["Detail"]


def test_categories_hold_items_and_have_no_price_or_accounts(api: Api) -> None:
    top = api.create("Item", {"Name": "Garden", "Type": "Category", "UnitPrice": 5, "IncomeAccountRef": {"value": "1"}})
    assert "UnitPrice" not in top and "IncomeAccountRef" not in top and top["Active"] is True
    sub = api.create("Item", {"Name": "Lighting", "Type": "Category", "ParentRef": {"value": top["Id"]}})
    lamp = _item(api, Name="Lamp", ParentRef={"value": sub["Id"]})
    assert (lamp["FullyQualifiedName"], lamp["Level"], lamp["SubItem"]) == ("Garden:Lighting:Lamp", 2, True)
    assert lamp["ParentRef"] == {"value": sub["Id"], "name": "Lighting"}
    refused = _update(api, top, Active=False)
    assert refused.status_code == 400 and api.error(refused)["code"] == "6000"
    under_item = api.post("item", {"Name": "Nested", "Type": "Category", "ParentRef": {"value": lamp["Id"]}})
    assert api.error(under_item)["code"] == "6000"
    loop = _update(api, top, ParentRef={"value": sub["Id"]})
    assert api.error(loop)["code"] == "6000"
    renamed = _update(api, top, Name="Yard").json()["Item"]
    assert renamed["FullyQualifiedName"] == "Yard"
    assert api.get(f"item/{lamp['Id']}").json()["Item"]["FullyQualifiedName"] == "Yard:Lighting:Lamp"


def test_categories_nest_four_levels_at_most(api: Api) -> None:
    parent: dict[str, t.Any] | None = None
    for level in range(5):
        body = {"Name": f"L{level}", "Type": "Category"}
        if parent:
            body["ParentRef"] = {"value": parent["Id"]}
        parent = api.create("Item", body)
    assert parent is not None and parent["Level"] == 4
    too_deep = api.post("item", {**SERVICE, "ParentRef": {"value": parent["Id"]}})
    assert api.error(too_deep)["code"] == "6000"


def test_delete_is_inactivation_and_inactive_items_cannot_be_sold(api: Api) -> None:
    item = _item(api)
    assert api.post("item", {"Id": item["Id"], "SyncToken": "0"}, {"operation": "delete"}).status_code == 400
    gone = _update(api, item, Active=False).json()["Item"]
    assert gone["Active"] is False and gone["Name"] == "Garden Design"
    names = [i["Name"] for i in api.query("select * from Item").json()["QueryResponse"]["Item"]]
    assert "Garden Design" not in names
    inactive = api.query("select * from Item where Active = false").json()["QueryResponse"]["Item"]
    assert [i["Id"] for i in inactive] == [item["Id"]]
    customer = api.create_customer(DisplayName="Buyer")
    line = api.line(10, ItemRef={"value": item["Id"]})
    response = api.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    assert response.status_code == 400 and api.error(response)["code"] == "610"


def test_query_filters(api: Api) -> None:
    _item(api, Sku="GD-1")
    _item(api, Name="Mulch", Type="NonInventory", Sku="MUL-1")
    api.create("Item", INVENTORY)

    def names(where: str) -> list[str]:
        rows = api.query(f"select * from Item where {where}").json()["QueryResponse"].get("Item", [])
        return sorted(r["Name"] for r in rows)

    assert names("Type in ('Service', 'NonInventory')") == ["Garden Design", "Mulch", "Services"]
    assert names("Type = 'Inventory' and Active = true") == ["Pump"]
    assert names("Sku = 'MUL-1'") == ["Mulch"]
    assert names("Name like 'Gar%'") == ["Garden Design"]
    ordered = api.query("select * from Item orderby UnitPrice desc").json()["QueryResponse"]["Item"]
    assert ordered[0]["Name"] == "Pump"


def test_seeded_bundle_is_readable_but_read_only(emulator: Emulator) -> None:
    seed_company(emulator, DEMO_REALM, customers=2, years=1, txns_per_customer=2)
    api = Api(emulator, DEMO_REALM)
    (bundle,) = api.query("select * from Item where Type = 'Group'").json()["QueryResponse"]["Item"]
    lines = bundle["ItemGroupDetail"]["ItemGroupLine"]
    assert lines and all(set(ln) == {"Qty", "ItemRef"} for ln in lines)
    assert all(set(ln["ItemRef"]) == {"value", "name", "type"} for ln in lines)
    refused = _update(api, bundle, Description="Changed")
    assert refused.status_code == 400 and api.error(refused)["code"] == "6000"


def test_item_changes_are_in_cdc_and_raise_webhook_events(api: Api, emulator: Emulator) -> None:
    seen: list[tuple[str, str, str]] = []
    emulator.store.listeners.append(lambda realm, entity, obj_id, op, when, deleted: seen.append((entity, obj_id, op)))
    since = (emulator.clock.now() - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    item = _item(api)
    _update(api, item, Active=False)
    assert seen == [("Item", item["Id"], "Create"), ("Item", item["Id"], "Update")]
    groups = api.get("cdc", entities="Item", changedSince=since).json()["CDCResponse"][0]["QueryResponse"]
    assert [(i["Id"], i["Active"]) for i in groups[0]["Item"]] == [(item["Id"], False)]


def test_item_changes_are_delivered_as_item_webhooks(api: Api, emulator: Emulator) -> None:
    receiver = Receiver()
    emulator.webhooks.session.mount("http://crm.test", WSGIAdapter(receiver.app))
    emulator.webhooks.configure(url=HOOK_URL)
    item = _item(api)
    _update(api, item, Active=False)
    emulator.webhooks.flush()
    assert [e["type"] for e in receiver.events()] == ["qbo.item.created.v1", "qbo.item.updated.v1"]
    assert {e["intuitentityid"] for e in receiver.events()} == {item["Id"]}
