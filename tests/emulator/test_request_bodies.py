"""Request bodies the emulator cannot read: a clear 400 in each API's own shape, never a 500.

Python's JSON parser recurses once per nesting level: a body nested 100,000
deep raised ``RecursionError``, and one nested a few hundred deep parsed but
broke the store's ``copy.deepcopy``.  Both answered 500.
"""

from __future__ import annotations

from typing import Any

import pytest

from flask_qbo.emulator.bodies import MAX_DEPTH as MAX_JSON_DEPTH

from .conftest import BASE_URL

CONTROL = f"{BASE_URL}/_emulator"
JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def customer_nested(depth: int) -> str:
    return '{"DisplayName": "Deep", "Notes": ' + nested(depth) + "}"


#: (label, depth of the whole body): far past Python's limit, parseable but deeper than
#: deepcopy survives, and one level over the emulator's bound.
DEPTHS = [("100000", 100_000), ("600", 600), ("limit+1", MAX_JSON_DEPTH + 1)]


@pytest.mark.parametrize("depth", [d for _, d in DEPTHS], ids=[label for label, _ in DEPTHS])
@pytest.mark.parametrize(
    "path,body",
    [
        ("customer", lambda depth: customer_nested(depth - 1)),
        (
            "batch",
            lambda depth: (
                '{"BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": '
                + customer_nested(depth - 3)
                + "}]}"
            ),
        ),
    ],
    ids=["entity", "batch"],
)
def test_a_deep_api_body_is_a_400_fault(api: Any, path: str, body: Any, depth: int) -> None:
    resp = api.session.post(api.url(path), data=body(depth), headers=api.headers(JSON))
    assert resp.status_code == 400, resp.text[:200]
    error = api.error(resp)
    assert error["code"] == "2010"
    assert (
        error["Detail"] == f"Request has invalid or unsupported property: the JSON is nested more than "
        f"{MAX_JSON_DEPTH} levels deep"
    )
    assert api.emulator.store.list(api.realm, "Customer") == []


def test_an_api_body_within_the_bound_is_accepted(api: Any) -> None:
    resp = api.session.post(
        api.url("customer"),
        data='{"DisplayName": "Shallow", "BillAddr": {"Line1": "1 Road"}}',
        headers=api.headers(JSON),
    )
    assert resp.status_code == 200 and resp.json()["Customer"]["BillAddr"]["Line1"] == "1 Road"


@pytest.mark.parametrize(
    "path", ["faults", "clock/advance", "tokens/expire", "tokens/revoke", "webhooks", "webhooks/flush"]
)
@pytest.mark.parametrize(
    "body,reason",
    [
        (nested(100_000), f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"),
        (nested(MAX_JSON_DEPTH + 1), f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"),
        ("[1, 2]", "the body must be a JSON object"),
        ("7", "the body must be a JSON object"),
        ("{nope", "the body is not JSON"),
    ],
    ids=["100000-deep", "limit+1", "array", "number", "not-json"],
)
def test_control_api_refuses_unreadable_bodies(emulator: Any, path: str, body: str, reason: str) -> None:
    resp = emulator.http_session().post(f"{CONTROL}/{path}", data=body, headers=JSON)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(reason)
    assert emulator.faults.describe() == []


@pytest.mark.parametrize(
    "path,body,reason",
    [
        ("faults", {"kind": "fail", "n": "many"}, "'n' must be a number, not 'many'"),
        ("faults", {"kind": "timeout", "n": 1.5}, "'n' must be a whole number, not 1.5"),
        ("faults", {"kind": "fail", "status": [500]}, "'status' must be a number, not a list"),
        ("faults", {"kind": "latency", "seconds": "Infinity"}, "'seconds' must be a number, not 'Infinity'"),
        ("clock/advance", {"seconds": None}, "'seconds' must be a number, not None"),
        ("webhooks/flush", {"timeout": {"s": 1}}, "'timeout' must be a number, not an object"),
        ("webhooks", {"format": "xml"}, "format must be 'cloudevents' or 'legacy'"),
        ("webhooks", {"delay": "soon"}, "'delay' must be a number, not 'soon'"),
        ("webhooks", {"url": ["http://crm.test/qbo/webhooks"]}, "'url' must be text, not a list"),
        # Accepted before, then every later API request answered 500 until the faults were cleared.
        ("faults", {"kind": "fail", "path_contains": 5}, "'path_contains' must be text, not 5"),
        ("faults", {"kind": "fail", "method": ["GET"]}, "'method' must be text, not a list"),
        ("faults", {"kind": "fail", "message": {"m": 1}}, "'message' must be text, not an object"),
        # Accepted before: time.sleep(-1) would then fail every matching request.
        ("faults", {"kind": "latency", "seconds": -1}, "'seconds' must be from 0 to 3600, not -1"),
        ("faults", {"kind": "fail", "n": 0}, "'n' must be from 1 to 1e+06, not 0"),
        ("faults", {"kind": "fail", "status": 200}, "'status' must be from 400 to 599, not 200"),
        # An OverflowError (500) before.
        ("clock/advance", {"seconds": 1e300}, "'seconds' must be from -3.16224e+09 to 3.16224e+09, not 1e+300"),
        ("webhooks", {"drop_rate": 2}, "'drop_rate' must be from 0 to 1, not 2"),
    ],
)
def test_control_api_refuses_values_it_cannot_use(emulator: Any, path: str, body: dict[str, Any], reason: str) -> None:
    before = emulator.clock.now()
    resp = emulator.http_session().post(f"{CONTROL}/{path}", json=body)
    assert resp.status_code == 400 and resp.json() == {"error": reason}
    assert emulator.faults.describe() == [] and emulator.webhooks.status()["delay"] == 0.0
    assert (emulator.clock.now() - before).total_seconds() < 60


def test_control_api_reads_a_body_sent_without_a_json_content_type(emulator: Any) -> None:
    """``curl -d '{...}'`` sends form encoding; the fields used to be silently ignored."""
    resp = emulator.http_session().post(
        f"{CONTROL}/faults",
        data='{"kind": "fail", "status": 503}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 201 and resp.json()["status"] == 503


@pytest.mark.parametrize(
    "body,reason",
    [
        (nested(100_000), f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep"),
        ('["token"]', "the body must be a JSON object"),
    ],
)
def test_revoke_refuses_unreadable_bodies_as_invalid_request(emulator: Any, realm: str, body: str, reason: str) -> None:
    tokens = emulator.issue_tokens(realm)
    resp = emulator.http_session().post(
        f"{BASE_URL}/v2/oauth2/tokens/revoke",
        data=body,
        headers={**JSON, "Accept": "application/json"},
        auth=("emulator-client-id", "emulator-client-secret"),
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request" and resp.json()["error_description"].startswith(reason)
    still = emulator.http_session().get(
        f"{BASE_URL}/v3/company/{realm}/companyinfo/{realm}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert still.status_code == 200
