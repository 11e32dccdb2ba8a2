"""Fault injection: exact envelopes per status, scoping, network failures, control API."""

from __future__ import annotations

import time

import pytest
import requests

BASE = "http://qbo.emulator.test/_emulator"


def test_500_system_fault_then_recovery(api, emulator):
    emulator.faults.fail_next()
    resp = api.get(f"companyinfo/{api.realm}")
    assert resp.status_code == 500
    body = resp.json()
    assert body["Fault"]["type"] == "SystemFault" and body["Fault"]["Error"][0]["code"] == "10000"
    assert "time" in body and resp.headers["intuit_tid"]
    assert api.get(f"companyinfo/{api.realm}").status_code == 200


def test_gateway_statuses(api, emulator):
    emulator.faults.fail_next(status=401)
    emulator.faults.fail_next(status=403)
    unauthorized = api.get("customer/1").json()
    assert unauthorized["fault"]["type"] == "AUTHENTICATION" and unauthorized["fault"]["error"][0]["code"] == "3200"
    forbidden = api.get("customer/1")
    assert forbidden.status_code == 403 and forbidden.json()["fault"]["error"][0]["code"] == "3100"


def test_429_and_503(api, emulator):
    emulator.faults.fail_next(status=429)
    resp = api.get("customer/1")
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    fault = resp.json()["Fault"]
    assert fault["type"] == "SERVICE" and fault["Error"][0]["code"] == "3001"
    assert fault["Error"][0]["Message"] == "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    emulator.faults.fail_next(status=503)
    resp = api.get("customer/1")
    assert resp.status_code == 503 and resp.json()["Fault"]["type"] == "SystemFault"


def test_validation_fault_with_code_message_element(api, emulator):
    emulator.faults.fail_next(
        status=400, code="6000", message="Business Validation Error", detail="Something is wrong", element="DisplayName"
    )
    err = api.error(api.post("customer", {"DisplayName": "x"}))
    assert err == {
        "Message": "Business Validation Error",
        "Detail": "Something is wrong",
        "code": "6000",
        "element": "DisplayName",
    }
    assert emulator.store.list(api.realm, "Customer") == []


def test_scoping_by_path_method_realm_and_count(api, emulator):
    emulator.faults.fail_next(n=2, path_contains="/query", method="GET", realm=api.realm)
    assert api.get(f"companyinfo/{api.realm}").status_code == 200
    assert api.post("customer", {"DisplayName": "fine"}).status_code == 200
    assert api.query("select * from Term").status_code == 500
    assert api.query("select * from Term").status_code == 500
    assert api.query("select * from Term").status_code == 200
    emulator.faults.fail_next(realm="other")
    assert api.query("select * from Term").status_code == 200
    emulator.faults.clear()
    assert emulator.faults.describe() == []


def test_timeout_raises_read_timeout_without_executing(api, emulator):
    emulator.faults.timeout_next()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("customer", {"DisplayName": "Never"})
    assert emulator.store.list(api.realm, "Customer") == []


def test_timeout_after_execute_and_requestid_recovery(api, emulator):
    emulator.faults.timeout_next(after_execute=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("customer", {"DisplayName": "Lost reply"}, params={"requestid": "abc"})
    replay = api.post("customer", {"DisplayName": "Lost reply"}, params={"requestid": "abc"})
    assert replay.status_code == 200
    assert len(emulator.store.list(api.realm, "Customer")) == 1


def test_disconnect(api, emulator):
    emulator.faults.disconnect_next()
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("customer/1")


def test_latency_and_client_timeout(api, emulator):
    emulator.faults.add_latency(0.05, n=1)
    started = time.monotonic()
    assert api.get(f"companyinfo/{api.realm}").status_code == 200
    assert time.monotonic() - started >= 0.05
    emulator.faults.add_latency(0.05, n=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.get(api.url(f"companyinfo/{api.realm}"), headers=api.headers(), timeout=0.01)


def test_faults_on_token_endpoint(emulator, realm):
    tokens = emulator.issue_tokens(realm)
    emulator.faults.fail_next(status=503, path_contains="/oauth2/v1/tokens")
    resp = emulator.http_session().post(
        "http://qbo.emulator.test/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("emulator-client-id", "emulator-client-secret"),
    )
    assert resp.status_code == 503


def test_control_api(api, emulator):
    session = emulator.http_session()
    rule = session.post(
        f"{BASE}/faults",
        json={
            "kind": "fail",
            "status": 400,
            "code": "6240",
            "message": "Duplicate Name Exists Error",
            "element": "DisplayName",
        },
    )
    assert rule.status_code == 201 and session.get(f"{BASE}/faults").json()[0]["code"] == "6240"
    assert api.error(api.post("customer", {"DisplayName": "z"}))["code"] == "6240"
    session.post(f"{BASE}/faults", json={"kind": "fail", "status": 500, "n": 5})
    assert session.delete(f"{BASE}/faults").json() == {"cleared": True}
    assert api.get(f"companyinfo/{api.realm}").status_code == 200
    session.post(f"{BASE}/faults", json={"kind": "timeout"})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get(f"companyinfo/{api.realm}")

    before = emulator.clock.now()
    moved = session.post(f"{BASE}/clock/advance", json={"seconds": 120}).json()
    assert (emulator.clock.now() - before).total_seconds() >= 120 and moved["now"]

    assert session.post(f"{BASE}/tokens/expire", json={"realm": api.realm}).json()["expired"] >= 1
    assert api.get(f"companyinfo/{api.realm}").status_code == 401
    fresh = emulator.issue_tokens(api.realm)
    assert session.post(f"{BASE}/tokens/revoke", json={}).json()["revoked"] >= 1
    assert (
        session.get(api.url("customer/1"), headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code
        == 401
    )

    counters = session.get(f"{BASE}/counters").json()
    assert counters[api.realm]["requests"] >= 5
    assert session.post(f"{BASE}/reset-counters").json()[api.realm]["requests"] == 0
