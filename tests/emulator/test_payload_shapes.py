"""Documents and CompanyInfo come back in the shapes QBO sends (issue 15, item 6).

Shapes from Intuit's Invoice, Customer and CompanyInfo API reference samples
(the invoice create response carries ``"SubTotalLineDetail": {}``,
``"TxnTaxDetail": {"TotalTax": 0}`` and ``"TaxCodeRef": {"value": "NON"}`` on its
item line; every stored address has an ``Id``), as summarised in
qbo-quote-to-cash-facts §2.1, §2.2 and §3.2 and qbo-api-facts §12.
"""

from __future__ import annotations

import datetime as dt

import pytest

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import TRANSACTION_TYPES
from flask_qbo.emulator.seed import seed_company

SALES_DOCUMENTS = ["Invoice", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt"]
ADDRESS = {"Line1": "12 Harbor Blvd", "City": "Bayshore", "CountrySubDivisionCode": "CA", "PostalCode": "94326"}


@pytest.fixture
def customer(api):
    return api.create_customer(DisplayName="Shape Customer", BillAddr=dict(ADDRESS), ShipAddr=dict(ADDRESS))


@pytest.mark.parametrize("entity", SALES_DOCUMENTS)
def test_sales_documents_as_qbo_returns_them(api, customer, entity):
    created = api.create(
        entity,
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [api.line(40, ItemRef={"value": "1"}), api.line(10, TaxCodeRef={"value": "TAX"})],
            "TxnTaxDetail": {"TotalTax": 99},  # sales tax is not set up: QBO ignores it
        },
    )
    read = api.get(f"{entity.lower()}/{created['Id']}").json()[entity]
    queried = api.query(f"select * from {entity} where Id = '{created['Id']}'").json()["QueryResponse"][entity][0]
    for txn in (created, read, queried):
        subtotal = txn["Line"][-1]
        assert subtotal == {"Amount": 50.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        assert txn["TxnTaxDetail"] == {"TotalTax": 0}
        assert txn["TotalAmt"] == 50.0
        first, second = (line["SalesItemLineDetail"] for line in txn["Line"][:2])
        assert first["ItemRef"] == {"value": "1", "name": "Services"}  # the name filled from the Item
        assert first["TaxCodeRef"] == {"value": "NON"}
        assert second["ItemRef"] == {"value": "1", "name": "Services"}
        assert second["TaxCodeRef"] == {"value": "TAX"}
        # The customer's addresses are copied onto the document, each with an id of its own.
        for name in ("BillAddr", "ShipAddr"):
            assert {k: v for k, v in txn[name].items() if k != "Id"} == ADDRESS
            assert txn[name]["Id"] not in (customer["BillAddr"]["Id"], customer["ShipAddr"]["Id"])
        assert txn["BillAddr"]["Id"] != txn["ShipAddr"]["Id"]


def test_line_references_are_checked(api, customer):
    unknown_item = api.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(5, ItemRef={"value": "999"})]}
    )
    assert unknown_item.status_code == 400
    error = api.error(unknown_item)
    assert (error["code"], error["element"]) == ("2500", "Line.SalesItemLineDetail.ItemRef")
    bad_code = api.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(5, TaxCodeRef={"value": "2"})]}
    )
    assert bad_code.status_code == 400
    error = api.error(bad_code)
    assert error["code"] == "6100" and "TAX or NON" in error["Detail"]


def test_a_documents_own_address_gets_an_id_and_keeps_it(api, customer):
    invoice = api.create(
        "Invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(5)], "ShipAddr": {"Line1": "1 Dock Rd"}},
    )
    assert invoice["ShipAddr"]["Line1"] == "1 Dock Rd" and invoice["ShipAddr"]["Id"]
    update = {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "ShipAddr": {"Line1": "2 Dock"}}
    updated = api.create("Invoice", update)
    assert updated["ShipAddr"] == {"Id": invoice["ShipAddr"]["Id"], "Line1": "2 Dock"}


def test_customer_addresses_have_ids_kept_on_update_and_cleared_ones_go(api, customer):
    bill, ship = customer["BillAddr"]["Id"], customer["ShipAddr"]["Id"]
    assert bill and ship and bill != ship
    other = api.create_customer(DisplayName="Second Shape", BillAddr={"City": "Reno"})
    assert other["BillAddr"]["Id"] not in (bill, ship)
    sparse = {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True}
    moved = api.create("Customer", {**sparse, "BillAddr": {"Id": "77", "City": "Boise"}})
    assert moved["BillAddr"] == {"Id": bill, "City": "Boise"}  # a client's address id is not taken
    cleared = api.create(
        "Customer",
        {**sparse, "SyncToken": moved["SyncToken"], "ShipAddr": {"Line1": "", "City": ""}, "Notes": "moved"},
    )
    assert "ShipAddr" not in cleared and cleared["BillAddr"]["Id"] == bill
    emptied = api.create("Customer", {**sparse, "SyncToken": cleared["SyncToken"], "PrimaryEmailAddr": {"Address": ""}})
    assert "PrimaryEmailAddr" not in emptied  # an object left with nothing goes, as before


def test_company_info_as_qbo_returns_it(api, emulator):
    info = api.get(f"companyinfo/{api.realm}").json()["CompanyInfo"]
    ids = set()
    for name in ("CompanyAddr", "LegalAddr", "CustomerCommunicationAddr"):
        address = info[name]
        assert address["Id"] and address["Line1"] and address["City"] and address["PostalCode"]
        assert address["Country"] == "USA"  # ISO-3 inside CompanyInfo addresses (qbo-api-facts §12)
        ids.add(address["Id"])
    assert len(ids) == 3
    assert info["PrimaryPhone"]["FreeFormNumber"]
    assert info["WebAddr"]["URI"].startswith("https://")
    assert info["CompanyStartDate"] == emulator.clock.today()
    customer = api.create_customer(DisplayName="After Opening", BillAddr={"City": "Reno"})
    assert customer["BillAddr"]["Id"] not in ids  # one address sequence per company


def test_seeded_company_started_before_its_data() -> None:
    emu = Emulator(EmulatorConfig())
    seed_company(emu, DEMO_REALM, "Old Books", customers=5, txns_per_customer=3)
    info = emu.store.read(DEMO_REALM, "CompanyInfo", DEMO_REALM)
    started = dt.date.fromisoformat(info["CompanyStartDate"])
    dated = [
        dt.date.fromisoformat(row["TxnDate"])
        for entity in TRANSACTION_TYPES
        for row in emu.store.list(DEMO_REALM, entity)
    ]
    created = [
        dt.datetime.fromisoformat(c["MetaData"]["CreateTime"]).date()
        for c in emu.store.list(DEMO_REALM, "Customer", include_inactive=True)
    ]
    assert dated and started < min(dated + created)
    invoice = emu.store.list(DEMO_REALM, "Invoice")[0]
    assert invoice["Line"][-1]["SubTotalLineDetail"] == {}
    assert invoice["BillAddr"]["Id"] and invoice["TxnTaxDetail"] == {"TotalTax": 0}
