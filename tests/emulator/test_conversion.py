"""Estimate → invoice, numbering, void and delete of sales documents (facts §2.5, §2.8, §6)."""

from __future__ import annotations

import pytest

from flask_qbo.emulator.preferences import PREFERENCES_ID


@pytest.fixture
def customer(api):
    return api.create_customer(DisplayName="Convert Customer", PrimaryEmailAddr={"Address": "c@example.com"})


def body(customer, amount=100, **fields):
    line = {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    return {"CustomerRef": {"value": customer["Id"]}, "Line": [line], **fields}


def link(estimate_id):
    return {"LinkedTxn": [{"TxnId": estimate_id, "TxnType": "Estimate"}]}


def custom_numbers(emulator, realm, on):
    emulator.store.company(realm).table("Preferences")[PREFERENCES_ID]["SalesFormsPrefs"]["CustomTxnNumbers"] = on


# -- estimates and conversion ------------------------------------------------------------------


def test_estimate_fields_and_statuses(api, customer):
    est = api.create(
        "Estimate",
        body(customer, ExpirationDate="2030-01-31", AcceptedBy="Pat Buyer", AcceptedDate="2030-01-02"),
    )
    assert est["TxnStatus"] == "Pending" and est["ExpirationDate"] == "2030-01-31"
    assert est["AcceptedBy"] == "Pat Buyer" and est["AcceptedDate"] == "2030-01-02" and est["LinkedTxn"] == []
    for number, status in enumerate(("Accepted", "Rejected", "Closed"), start=0):
        changed = api.post("estimate", {"Id": est["Id"], "SyncToken": str(number), "sparse": True, "TxnStatus": status})
        assert changed.json()["Estimate"]["TxnStatus"] == status
    bad = api.post("estimate", {"Id": est["Id"], "SyncToken": "3", "sparse": True, "ExpirationDate": "31/01/2030"})
    assert api.error(bad)["code"] == "2010"


def test_invoice_linked_to_an_estimate_closes_it(api, customer, emulator):
    est = api.create("Estimate", body(customer, TxnStatus="Accepted"))
    inv = api.create("Invoice", body(customer, **link(est["Id"])))
    assert inv["LinkedTxn"] == [{"TxnId": est["Id"], "TxnType": "Estimate"}]
    closed = api.get(f"estimate/{est['Id']}").json()["Estimate"]
    assert closed["TxnStatus"] == "Closed" and closed["SyncToken"] == "1"
    assert closed["LinkedTxn"] == [{"TxnId": inv["Id"], "TxnType": "Invoice"}]
    assert ("Estimate", est["Id"], "Update") in [(e.entity, e.entity_id, e.operation) for e in emulator.webhooks.events]
    # a payment adds itself to the invoice's links without dropping the estimate
    api.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    links = api.get(f"invoice/{inv['Id']}").json()["Invoice"]["LinkedTxn"]
    assert [x["TxnType"] for x in links] == ["Estimate", "Payment"]


def test_conversion_refusals(api, customer):
    est = api.create("Estimate", body(customer))
    other = api.create("Estimate", body(customer))
    missing = api.post("invoice", body(customer, **link("999")))
    assert api.error(missing)["code"] == "2500" and api.error(missing)["element"] == "LinkedTxn"
    two = {"LinkedTxn": link(est["Id"])["LinkedTxn"] + link(other["Id"])["LinkedTxn"]}
    assert api.error(api.post("invoice", body(customer, **two)))["code"] == "6000"
    api.create("Invoice", body(customer, **link(est["Id"])))
    again = api.post("invoice", body(customer, **link(est["Id"])))
    assert api.error(again)["code"] == "6000" and "cannot be converted" in api.error(again)["Detail"]
    api.post("estimate", {"Id": other["Id"], "SyncToken": "0", "sparse": True, "TxnStatus": "Converted"})
    assert api.error(api.post("invoice", body(customer, **link(other["Id"]))))["code"] == "6000"


def test_linked_estimate_cannot_be_deleted_until_the_invoice_lets_go(api, customer):
    est = api.create("Estimate", body(customer, TxnStatus="Accepted"))
    inv = api.create("Invoice", body(customer, **link(est["Id"])))
    refused = api.post("estimate", {"Id": est["Id"], "SyncToken": "1"}, params={"operation": "delete"})
    assert api.error(refused)["code"] == "6000" and api.error(refused)["element"] == "LinkedTxn"
    unlinked = api.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "LinkedTxn": []})
    assert unlinked.json()["Invoice"]["LinkedTxn"] == []
    reopened = api.get(f"estimate/{est['Id']}").json()["Estimate"]
    assert reopened["TxnStatus"] == "Accepted" and reopened["LinkedTxn"] == []
    gone = api.post("estimate", {"Id": est["Id"], "SyncToken": reopened["SyncToken"]}, params={"operation": "delete"})
    assert gone.json()["Estimate"]["status"] == "Deleted"


def test_deleting_or_voiding_the_invoice_releases_the_estimate(api, customer):
    first = api.create("Estimate", body(customer))
    inv = api.create("Invoice", body(customer, PrivateNote="march", **link(first["Id"])))
    voided = api.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "void"}).json()["Invoice"]
    assert voided["LinkedTxn"] == [] and voided["TotalAmt"] == 0 and voided["Balance"] == 0
    assert voided["PrivateNote"] == "Voided - march"
    assert api.get(f"estimate/{first['Id']}").json()["Estimate"]["TxnStatus"] == "Pending"
    second = api.create("Estimate", body(customer))
    inv2 = api.create("Invoice", body(customer, **link(second["Id"])))
    api.post("invoice", {"Id": inv2["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert api.get(f"estimate/{second['Id']}").json()["Estimate"]["LinkedTxn"] == []


def test_paid_invoice_cannot_be_voided(api, customer):
    inv = api.create("Invoice", body(customer, 50))
    api.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 20,
            "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    current = api.get(f"invoice/{inv['Id']}").json()["Invoice"]
    assert current["Balance"] == 30
    refused = api.post("invoice", {"Id": inv["Id"], "SyncToken": current["SyncToken"]}, params={"operation": "void"})
    assert refused.status_code == 400 and api.error(refused)["code"] == "6000"
    assert "payments applied" in api.error(refused)["Detail"]


# -- numbering ----------------------------------------------------------------------------------


def test_server_numbers_unless_a_number_is_sent(api, customer):
    first = api.create("Invoice", body(customer))
    own = api.create("Invoice", body(customer, DocNumber="INV-7"))
    after = api.create("Invoice", body(customer))
    assert (first["DocNumber"], own["DocNumber"], after["DocNumber"]) == ("1001", "INV-7", "1002")


def test_custom_numbers_leave_an_unnumbered_document_empty(api, customer, emulator, realm):
    custom_numbers(emulator, realm, True)
    bare = api.create("Invoice", body(customer))
    assert "DocNumber" not in bare
    assert api.create("Invoice", body(customer, DocNumber="A-1"))["DocNumber"] == "A-1"
    assert "DocNumber" not in api.create("Estimate", body(customer))


def test_duplicate_number_is_6140_unless_allowed(api, customer):
    api.create("Invoice", body(customer, DocNumber="D-1"))
    dup = api.post("invoice", body(customer, DocNumber="D-1"))
    assert dup.status_code == 400
    error = api.error(dup)
    assert error["code"] == "6140" and error["Message"] == "Duplicate Document Number Error"
    allowed = api.post("invoice", body(customer, DocNumber="D-1"), params={"include": "allowduplicatedocnum"})
    assert allowed.status_code == 200 and allowed.json()["Invoice"]["DocNumber"] == "D-1"
    # another type may use the same number; an update that keeps its own number is fine
    assert api.create("Estimate", body(customer, DocNumber="D-1"))["DocNumber"] == "D-1"
    own = allowed.json()["Invoice"]
    kept = api.post("invoice", {"Id": own["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert kept.status_code == 200
    other = api.create("Invoice", body(customer, DocNumber="D-2"))
    renumber = api.post("invoice", {"Id": other["Id"], "SyncToken": "0", "sparse": True, "DocNumber": "D-1"})
    assert api.error(renumber)["code"] == "6140"
