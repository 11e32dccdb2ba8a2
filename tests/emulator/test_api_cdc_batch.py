"""CDC, batch, requestid replay and minorversion (facts §2, §6, §7)."""

from __future__ import annotations

from datetime import date


def test_cdc_returns_changes_and_deleted_stubs(api, emulator):
    start = emulator.clock.iso()
    cust = api.create_customer(DisplayName="Changed")
    inv = api.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [api.line(5)]})
    gone = api.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [api.line(6)]})
    api.post("invoice", {"Id": gone["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    body = api.get("cdc", entities="customer,Invoice", changedSince=start).json()
    assert "time" in body
    groups = body["CDCResponse"][0]["QueryResponse"]
    customers = next(g for g in groups if "Customer" in g)
    invoices = next(g for g in groups if "Invoice" in g)
    assert [c["Id"] for c in customers["Customer"]] == [cust["Id"]] and customers["startPosition"] == 1
    assert invoices["maxResults"] == 2
    assert invoices["Invoice"][0]["Id"] == inv["Id"]
    stub = invoices["Invoice"][-1]
    assert set(stub) == {"domain", "status", "Id", "MetaData"}
    assert stub["status"] == "Deleted" and stub["Id"] == gone["Id"] and stub["MetaData"]["LastUpdatedTime"]


def test_cdc_no_changes_shape_and_window(api, emulator):
    emulator.clock.advance(60)
    body = api.get("cdc", entities="Customer,Estimate", changedSince=emulator.clock.iso()).json()
    assert body["CDCResponse"] == [{"QueryResponse": [{}]}]
    old = date.fromordinal(emulator.clock.now().date().toordinal() - 31).isoformat()
    resp = api.get("cdc", entities="Customer", changedSince=old)
    assert resp.status_code == 400 and api.error(resp)["code"] == "4001"
    assert api.get("cdc", entities="Customer", changedSince=emulator.clock.today()).status_code == 200


def test_cdc_includes_inactivated_customers_and_caps_at_1000(api, emulator, realm):
    start = emulator.clock.iso()
    cust = api.create_customer(DisplayName="Soon inactive")
    api.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    got = api.get("cdc", entities="Customer", changedSince=start).json()["CDCResponse"][0]["QueryResponse"][0]
    assert got["Customer"][0]["Active"] is False
    for i in range(1005):
        emulator.store.create(realm, "Customer", {"DisplayName": f"Many {i}"})
    capped = api.get("cdc", entities="Customer", changedSince=start).json()["CDCResponse"][0]["QueryResponse"][0]
    assert capped["maxResults"] == 1000 and len(capped["Customer"]) == 1000


def test_batch_mixed_items(api):
    existing = api.create_customer(DisplayName="Batch Existing")
    inv = api.create("Invoice", {"CustomerRef": {"value": existing["Id"]}, "Line": [api.line(1)]})
    resp = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "bid1", "operation": "create", "Customer": {"DisplayName": "Batch New"}},
                {"bId": "bid2", "operation": "create", "Customer": {"DisplayName": "batch existing"}},
                {
                    "bId": "bid3",
                    "operation": "update",
                    "Customer": {"Id": existing["Id"], "SyncToken": "7", "sparse": True},
                },
                {"bId": "bid4", "operation": "delete", "Invoice": {"Id": inv["Id"], "SyncToken": "0"}},
                {"bId": "bid5", "Query": "select * from Customer where DisplayName = 'Batch New'"},
                {"bId": "bid6", "operation": "update", "Invoice": {"Id": "999", "SyncToken": "0"}},
            ]
        },
    )
    assert resp.status_code == 200
    items = {i["bId"]: i for i in resp.json()["BatchItemResponse"]}
    assert items["bid1"]["Customer"]["DisplayName"] == "Batch New"
    assert items["bid2"]["Fault"]["Error"][0]["code"] == "6240" and items["bid2"]["Fault"]["type"] == "ValidationFault"
    assert items["bid3"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["bid4"]["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": inv["Id"]}
    assert items["bid5"]["QueryResponse"]["Customer"][0]["DisplayName"] == "Batch New"
    assert items["bid6"]["Fault"]["Error"][0]["code"] == "610"
    assert api.emulator.counters[api.realm]["batch"] == 1


def test_batch_over_30_items_is_rejected(api):
    items = [{"bId": str(i), "Query": "select * from Term"} for i in range(31)]
    resp = api.post("batch", {"BatchItemRequest": items})
    assert resp.status_code == 400 and api.error(resp)["element"] == "BatchItemRequest"
    assert api.post("batch", {"BatchItemRequest": items[:30]}).status_code == 200


def test_requestid_replays_the_original_response(api, emulator, realm):
    first = api.post("customer", {"DisplayName": "Once"}, params={"requestid": "req-1"})
    again = api.post("customer", {"DisplayName": "Once"}, params={"requestid": "req-1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert len(emulator.store.list(realm, "Customer")) == 1
    # faults are replayed too
    dup = api.post("customer", {"DisplayName": "Once"}, params={"requestid": "req-2"})
    api.post(
        "customer", {"Id": first.json()["Customer"]["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "Renamed"}
    )
    replay = api.post("customer", {"DisplayName": "Once"}, params={"requestid": "req-2"})
    assert dup.status_code == replay.status_code == 400 and dup.json() == replay.json()
    too_long = api.post("customer", {"DisplayName": "Long"}, params={"requestid": "x" * 51})
    assert too_long.status_code == 400 and api.error(too_long)["element"] == "requestid"
    assert api.post("customer", {"DisplayName": "Long"}, params={"requestid": "x" * 50}).status_code == 200


def test_requestid_is_per_realm(api, emulator):
    emulator.add_company("555", "Other realm")
    other = type(api)(emulator, "555")
    api.post("customer", {"DisplayName": "Same id"}, params={"requestid": "shared"})
    resp = other.post("customer", {"DisplayName": "Different"}, params={"requestid": "shared"})
    assert resp.json()["Customer"]["DisplayName"] == "Different"


def test_minorversion_any_value_and_counters(api, emulator):
    for version in ("4", "75", "80"):
        assert api.get(f"companyinfo/{api.realm}", minorversion=version).status_code == 200
    api.post("customer", {"DisplayName": "Counted"})
    counts = emulator.counters[api.realm]
    assert counts["reads"] == 3 and counts["writes"] == 1 and counts["requests"] == 4
    emulator.reset_counters()
    assert emulator.counters[api.realm] == {"reads": 0, "writes": 0, "requests": 0, "batch": 0, "throttled": 0}


def test_unknown_entity_is_a_fault(api):
    resp = api.get("widget/1")
    assert resp.status_code == 400 and api.error(resp)["code"] == "500"
