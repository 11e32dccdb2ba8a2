"""Customer behaviour against the shapes and codes in qbo-api-facts.md §3–§4."""

from __future__ import annotations

import pytest

from flask_qbo.emulator import EmulatorFault


def test_create_derives_display_name_and_defaults(api):
    resp = api.post("customer", {"GivenName": "Bill", "FamilyName": "Lucchini"}, params={"minorversion": "75"})
    assert resp.status_code == 200
    assert resp.headers["intuit_tid"]
    body = resp.json()
    assert "time" in body
    cust = body["Customer"]
    assert cust["Id"] and cust["SyncToken"] == "0"
    assert cust["DisplayName"] == "Bill Lucchini" == cust["FullyQualifiedName"] == cust["PrintOnCheckName"]
    assert cust["domain"] == "QBO" and cust["sparse"] is False
    assert cust["Active"] is True and cust["Job"] is False and cust["Level"] == 0
    assert cust["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert cust["PreferredDeliveryMethod"] == "Print"
    assert cust["Balance"] == 0 and cust["BalanceWithJobs"] == 0
    assert cust["MetaData"]["CreateTime"] == cust["MetaData"]["LastUpdatedTime"]
    assert cust["MetaData"]["CreateTime"].endswith("-07:00")


def test_no_name_is_6080(api):
    resp = api.post("customer", {"CompanyName": "Only a company"})
    assert resp.status_code == 400
    assert api.error(resp)["code"] == "6080"


def test_duplicate_display_name_is_6240_case_insensitive(api):
    api.create_customer(DisplayName="Acme Corp")
    resp = api.post("customer", {"DisplayName": "ACME corp"})
    assert resp.status_code == 400
    err = api.error(resp)
    assert err["code"] == "6240"
    assert err["Message"] == "Duplicate Name Exists Error"
    assert "Another customer, vendor or employee is already using this name" in err["Detail"]


@pytest.mark.parametrize("field", ["DisplayName", "GivenName", "FamilyName", "Title", "Suffix", "MiddleName"])
@pytest.mark.parametrize("bad", [":", "\t", "\n"])
def test_separator_characters_rejected_with_element(api, field, bad):
    resp = api.post("customer", {"DisplayName": "Okay", field: f"A{bad}B"})
    assert resp.status_code == 400
    err = api.error(resp)
    assert err["code"] == "6000" and err["element"] == field


@pytest.mark.parametrize(
    "field,limit",
    [("DisplayName", 500), ("GivenName", 100), ("Title", 16), ("CompanyName", 100), ("Notes", 2000), ("Suffix", 16)],
)
def test_length_limits_are_2050(api, field, limit):
    body = {"DisplayName": "Length test", field: "x" * (limit + 1)}
    resp = api.post("customer", body)
    assert resp.status_code == 400
    err = api.error(resp)
    assert err["code"] == "2050" and err["element"] == field
    body[field] = "x" * limit
    assert api.post("customer", body).status_code == 200


def test_phone_length_and_email_syntax(api):
    resp = api.post("customer", {"DisplayName": "P", "PrimaryPhone": {"FreeFormNumber": "1" * 31}})
    assert api.error(resp)["element"] == "PrimaryPhone.FreeFormNumber"
    resp = api.post("customer", {"DisplayName": "E", "PrimaryEmailAddr": {"Address": "not-an-email"}})
    assert resp.status_code == 400 and api.error(resp)["element"] == "PrimaryEmailAddr.Address"
    ok = api.create_customer(DisplayName="E", PrimaryEmailAddr={"Address": "e@example.com"})
    assert ok["PrimaryEmailAddr"]["Address"] == "e@example.com"


def test_read_and_missing_is_610(api):
    cust = api.create_customer(DisplayName="Reader")
    assert api.get(f"customer/{cust['Id']}").json()["Customer"]["DisplayName"] == "Reader"
    resp = api.get("customer/999")
    assert resp.status_code == 400 and api.error(resp)["code"] == "610"


def test_sparse_update_increments_synctoken(api, emulator):
    cust = api.create_customer(DisplayName="Sparse", GivenName="Ann", Notes="keep me")
    emulator.clock.advance(5)
    resp = api.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "MiddleName": "Mark"})
    updated = resp.json()["Customer"]
    assert updated["SyncToken"] == "1" and updated["sparse"] is False
    assert updated["MiddleName"] == "Mark" and updated["Notes"] == "keep me" and updated["GivenName"] == "Ann"
    assert updated["MetaData"]["LastUpdatedTime"] > updated["MetaData"]["CreateTime"]


def test_full_update_nulls_omitted_fields(api):
    cust = api.create_customer(DisplayName="Full", Notes="gone soon", CompanyName="Co")
    resp = api.post("customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "DisplayName": "Full"})
    updated = resp.json()["Customer"]
    assert "Notes" not in updated and "CompanyName" not in updated
    assert updated["CurrencyRef"]["value"] == "USD"


def test_stale_synctoken_is_5010(api):
    cust = api.create_customer(DisplayName="Stale")
    api.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "one"})
    resp = api.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "two"})
    assert resp.status_code == 400
    err = api.error(resp)
    assert err["code"] == "5010" and err["Message"] == "Stale Object Error"
    assert err["Detail"].startswith("Stale Object Error : You and ")


def test_inactive_gets_deleted_suffix_and_reactivation(api):
    cust = api.create_customer(DisplayName="Thrifty Meats")
    off = api.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False}).json()
    assert off["Customer"]["DisplayName"] == "Thrifty Meats (deleted)"
    assert off["Customer"]["FullyQualifiedName"] == "Thrifty Meats (deleted)"
    # the inactive record no longer blocks the name
    other = api.create_customer(DisplayName="Thrifty Meats")
    resp = api.post("customer", {"Id": cust["Id"], "SyncToken": "1", "sparse": True, "Active": True})
    assert api.error(resp)["code"] == "6240"
    api.post("customer", {"Id": other["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "Other Meats"})
    back = api.post("customer", {"Id": cust["Id"], "SyncToken": "1", "sparse": True, "Active": True}).json()
    assert back["Customer"]["DisplayName"] == "Thrifty Meats" and back["Customer"]["Active"] is True


def test_sub_customers(api):
    parent = api.create_customer(DisplayName="Parent")
    child = api.create_customer(DisplayName="Child", Job=True, ParentRef={"value": parent["Id"]})
    assert child["FullyQualifiedName"] == "Parent:Child" and child["Level"] == 1 and child["Job"] is True
    grandchild = api.create_customer(DisplayName="Grand", ParentRef={"value": child["Id"]})
    assert grandchild["FullyQualifiedName"] == "Parent:Child:Grand" and grandchild["Level"] == 2
    api.post("customer", {"Id": parent["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "Renamed"})
    assert api.get(f"customer/{grandchild['Id']}").json()["Customer"]["FullyQualifiedName"] == "Renamed:Child:Grand"
    resp = api.post("customer", {"DisplayName": "Orphan", "Job": True, "ParentRef": {"value": "999"}})
    assert api.error(resp)["code"] == "2500"


def test_balance_from_open_invoices_minus_credits(api):
    parent = api.create_customer(DisplayName="Bal Parent")
    child = api.create_customer(DisplayName="Bal Child", ParentRef={"value": parent["Id"]})
    api.create("Invoice", {"CustomerRef": {"value": parent["Id"]}, "Line": [api.line(100)]})
    api.create("Invoice", {"CustomerRef": {"value": child["Id"]}, "Line": [api.line(40)]})
    api.create("CreditMemo", {"CustomerRef": {"value": parent["Id"]}, "Line": [api.line(30)]})
    got = api.get(f"customer/{parent['Id']}").json()["Customer"]
    assert got["Balance"] == 70 and got["BalanceWithJobs"] == 110


def test_customers_cannot_be_deleted(api):
    cust = api.create_customer(DisplayName="Forever")
    resp = api.post("customer", {"Id": cust["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert resp.status_code == 400 and api.error(resp)["code"] == "500"


def test_python_store_api_matches_http(emulator, realm):
    cust = emulator.store.create(realm, "Customer", {"DisplayName": "Py"})
    with pytest.raises(EmulatorFault) as info:
        emulator.store.create(realm, "Customer", {"DisplayName": "py"})
    assert info.value.code == "6240" and info.value.body()["Fault"]["Error"][0]["code"] == "6240"
    with pytest.raises(EmulatorFault) as info:
        emulator.store.read(realm, "Customer", "404")
    assert info.value.code == "610"
    updated = emulator.store.update(realm, "Customer", {"Id": cust["Id"], "SyncToken": "0", "Notes": "n"})
    assert updated["SyncToken"] == "1"
    with pytest.raises(EmulatorFault) as info:
        emulator.store.update(realm, "Customer", {"Id": cust["Id"], "SyncToken": "0", "Notes": "x"})
    assert info.value.code == "5010"
    assert [c["DisplayName"] for c in emulator.store.list(realm, "Customer")] == ["Py"]


def test_merge_customers_moves_transactions(emulator, realm, api):
    keep = api.create_customer(DisplayName="Keep")
    gone = api.create_customer(DisplayName="Gone")
    inv = api.create("Invoice", {"CustomerRef": {"value": gone["Id"]}, "Line": [api.line(10)]})
    emulator.store.merge_customers(realm, gone["Id"], keep["Id"])
    assert api.get(f"invoice/{inv['Id']}").json()["Invoice"]["CustomerRef"]["value"] == keep["Id"]
    assert api.error(api.get(f"customer/{gone['Id']}"))["code"] == "610"
    merge = [e for e in emulator.webhooks.events if e.operation == "Merge"]
    assert merge and merge[0].entity_id == keep["Id"] and merge[0].deleted_id == gone["Id"]


def test_cleared_fields_are_left_out_of_answers(api):
    """QBO returns only properties that have values (facts §3.2): a cleared field disappears."""
    created = api.post(
        "customer",
        {"DisplayName": "Clear Me", "Title": "Dr", "Notes": "n", "PrimaryEmailAddr": {"Address": "c@example.com"}},
    ).json()["Customer"]
    body = {
        "Id": created["Id"],
        "SyncToken": created["SyncToken"],
        "sparse": True,
        "Title": "",
        "Notes": "",
        "PrimaryEmailAddr": {"Address": ""},
    }
    updated = api.post("customer", body).json()["Customer"]
    assert "Title" not in updated and "Notes" not in updated and "PrimaryEmailAddr" not in updated
    assert updated["DisplayName"] == "Clear Me" and updated["Active"] is True and updated["Job"] is False
    read = api.get(f"customer/{created['Id']}").json()["Customer"]
    assert "Title" not in read and read["Balance"] == 0
