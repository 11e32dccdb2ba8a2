"""Invoice and estimate writes: line arithmetic, discounts, subtotals, line ids (facts §2.2, §2.3, §2.7)."""

from __future__ import annotations

import pytest

from flask_qbo.emulator.preferences import PREFERENCES_ID
from flask_qbo.errors import QBOInactiveReferenceError
from flask_qbo.intuit.faults import classify


@pytest.fixture
def customer(api):
    return api.create_customer(DisplayName="Line Customer", PrimaryEmailAddr={"Address": "lines@example.com"})


def sales(amount, **detail):
    return {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, **detail},
    }


def invoice(api, customer, *lines, **fields):
    return api.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": list(lines), **fields})


def sales_prefs(emulator, realm):
    return emulator.store.company(realm).table("Preferences")[PREFERENCES_ID]["SalesFormsPrefs"]


# -- Qty × UnitPrice ------------------------------------------------------------------------


def test_amount_must_equal_qty_times_unit_price_rounded_half_up(api, customer):
    # 3 × 2.675 = 8.025 exactly: half-up gives 8.03; a float product (8.02499…) or half-even gives 8.02
    ok = invoice(api, customer, sales(8.03, Qty=3, UnitPrice=2.675))
    assert ok.status_code == 200, ok.text
    assert ok.json()["Invoice"]["TotalAmt"] == 8.03
    wrong = invoice(api, customer, sales(8.02, Qty=3, UnitPrice=2.675))
    assert wrong.status_code == 400
    error = api.error(wrong)
    assert error["code"] == "6070"
    assert error["Message"] == "Amount calculation incorrect in the request"
    assert error["Detail"].startswith("Amount is not equal to UnitPrice * Qty. Supplied value:8.02")


def test_amount_alone_is_accepted_and_zero_qty_price_count_as_unset(api, customer):
    alone = invoice(api, customer, sales(99.99))
    assert alone.json()["Invoice"]["TotalAmt"] == 99.99
    zeros = invoice(api, customer, sales(42.5, Qty=0, UnitPrice=0))  # what python-quickbooks sends
    assert zeros.status_code == 200 and zeros.json()["Invoice"]["TotalAmt"] == 42.5


def test_missing_detail_block_and_bad_item(api, customer):
    missing = invoice(api, customer, {"Amount": 5, "DetailType": "SalesItemLineDetail"})
    error = api.error(missing)
    assert (
        error["code"] == "2020"
        and error["Detail"] == "Required parameter Line.SalesItemLineDetail is missing in the request"
    )
    bad = invoice(api, customer, sales(5) | {"SalesItemLineDetail": {"ItemRef": {"value": "999"}}})
    assert api.error(bad)["code"] == "2500" and api.error(bad)["element"] == "Line.SalesItemLineDetail.ItemRef"


def test_inactive_item_on_a_new_line_is_the_made_inactive_fault(api, customer, emulator, realm):
    created = invoice(api, customer, sales(10)).json()["Invoice"]
    emulator.store.company(realm).table("Item")["1"]["Active"] = False
    refused = invoice(api, customer, sales(10))
    assert refused.status_code == 400
    body = refused.json()["Fault"]["Error"][0]
    assert body["code"] == "610" and "made inactive" in body["Detail"]
    assert classify(400, body["code"], body["Message"], body["Detail"]) is QBOInactiveReferenceError
    # the line the invoice already had keeps its (now inactive) item on an unrelated update
    kept = api.post("invoice", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "memo"})
    assert kept.status_code == 200, kept.text


# -- discount, description, subtotal ------------------------------------------------------------


def test_percent_discount_and_fixed_discount_and_subtotal(api, customer):
    percent = {"DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 8.5}}
    inv = invoice(api, customer, sales(100), sales(33.33), percent).json()["Invoice"]
    # 133.33 × 8.5 % = 11.33305 → 11.33
    discount = next(ln for ln in inv["Line"] if ln["DetailType"] == "DiscountLineDetail")
    assert discount["Amount"] == 11.33
    assert inv["Line"][-1] == {"Amount": 133.33, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    assert inv["TotalAmt"] == 122.0 and inv["Balance"] == 122.0
    fixed = {"Amount": 20, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": False}}
    assert invoice(api, customer, sales(100), fixed).json()["Invoice"]["TotalAmt"] == 80


def test_discount_without_amount_or_percent_is_6090(api, customer):
    for detail in ({"PercentBased": True}, {"PercentBased": False}):
        resp = invoice(api, customer, sales(10), {"DetailType": "DiscountLineDetail", "DiscountLineDetail": detail})
        assert api.error(resp)["code"] == "6090"


def test_discount_refused_when_the_company_disallows_it(api, customer, emulator, realm):
    sales_prefs(emulator, realm)["AllowDiscount"] = False
    fixed = {"Amount": 1, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": False}}
    resp = invoice(api, customer, sales(10), fixed)
    assert api.error(resp)["code"] == "6000" and "AllowDiscount" in api.error(resp)["Detail"]


def test_description_only_lines_and_inline_subtotal(api, customer):
    note = {"DetailType": "DescriptionOnly", "Description": "Phase one", "DescriptionLineDetail": {}}
    inline = {"DetailType": "DescriptionOnly", "Description": "Subtotal:", "Amount": 999}
    inv = invoice(api, customer, note, sales(40), sales(2.5), inline, sales(7)).json()["Invoice"]
    assert [ln["Amount"] for ln in inv["Line"]] == [0, 40, 2.5, 42.5, 7, 49.5]
    assert inv["TotalAmt"] == 49.5
    assert [ln.get("LineNum") for ln in inv["Line"][:-1]] == [1, 2, 3, 4, 5]


# -- line replacement on update ----------------------------------------------------------------


def test_sent_lines_replace_the_line_set_keeping_known_ids(api, customer):
    inv = invoice(api, customer, sales(10), sales(20), sales(30)).json()["Invoice"]
    assert [ln.get("Id") for ln in inv["Line"][:-1]] == ["1", "2", "3"]
    second = dict(inv["Line"][1], Amount=25)
    body = {
        "Id": inv["Id"],
        "SyncToken": "0",
        "sparse": True,
        "TotalAmt": 1,
        "Balance": 1,
        "Line": [second, sales(5), dict(sales(6), Id="77")],
    }
    updated = api.post("invoice", body).json()["Invoice"]
    assert [(ln.get("Id"), ln["Amount"]) for ln in updated["Line"][:-1]] == [("2", 25), ("4", 5), ("5", 6)]
    assert updated["TotalAmt"] == 36 and updated["Balance"] == 36  # supplied totals overwritten


def test_sparse_update_without_line_leaves_lines_alone(api, customer):
    inv = invoice(api, customer, sales(10), sales(20)).json()["Invoice"]
    updated = api.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "DueDate": "2030-01-01"})
    assert updated.json()["Invoice"]["Line"] == inv["Line"]
    assert updated.json()["Invoice"]["TotalAmt"] == 30


def test_estimate_lines_follow_the_same_rules(api, customer):
    resp = api.post("estimate", {"CustomerRef": {"value": customer["Id"]}, "Line": [sales(10, Qty=3, UnitPrice=3.33)]})
    assert api.error(resp)["code"] == "6070"
    ok = api.post("estimate", {"CustomerRef": {"value": customer["Id"]}, "Line": [sales(9.99, Qty=3, UnitPrice=3.33)]})
    assert ok.json()["Estimate"]["TotalAmt"] == 9.99


def test_a_bundle_on_a_plain_sales_line_is_refused(api, customer, emulator, realm):
    """QBO sells a Group item only through a GroupLineDetail line, which the emulator does not model."""
    items = emulator.store.company(realm).table("Item")
    items["900"] = {**items["1"], "Id": "900", "Name": "Patio kit", "Type": "Group"}
    line = {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "900"}}}
    refused = invoice(api, customer, line)
    assert refused.status_code == 400
    error = api.error(refused)
    assert error["code"] == "6000" and "Patio kit" in error["Detail"]
    assert error["element"] == "Line.SalesItemLineDetail.ItemRef"
    assert invoice(api, customer, sales(10)).status_code == 200
