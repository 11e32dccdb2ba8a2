"""Webhook payloads, signatures, retries and knobs (facts §9)."""

from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from flask import request

from flask_qbo.emulator import WSGIAdapter
from flask_qbo.emulator.webhooks import sign

from ..signature_vectors import VECTORS

HOOK_URL = "http://crm.test/qbo/webhooks"
TOKEN = "emulator-verifier-token"


class Receiver:
    """A stand-in CRM endpoint that records deliveries and can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_with: list[int] = []
        self.sleep = 0.0
        self.app = Flask("receiver")
        self.app.add_url_rule("/qbo/webhooks", "hook", self.hook, methods=["POST"])

    def hook(self):
        time.sleep(self.sleep)
        self.received.append((dict(request.headers), request.get_data()))
        return ("", self.fail_with.pop(0)) if self.fail_with else ("", 200)

    def events(self) -> list:
        return [e for _, body in self.received for e in json.loads(body)]


@pytest.fixture
def receiver(emulator, realm):
    recv = Receiver()
    emulator.webhooks.session.mount("http://crm.test", WSGIAdapter(recv.app))
    emulator.webhooks.configure(url=HOOK_URL)
    return recv


@pytest.mark.parametrize("body,token,expected", VECTORS)
def test_published_signature_vectors(emulator, body, token, expected):
    assert emulator.webhooks.sign(body.encode(), token) == expected


def test_cloudevents_delivery(api, emulator, receiver):
    cust = api.create_customer(DisplayName="Hooked")
    assert emulator.webhooks.flush() == 1
    headers, body = receiver.received[0]
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert headers["Intuit-Signature"] == sign(body, TOKEN)
    events = json.loads(body)
    assert isinstance(events, list) and len(events) == 1
    event = events[0]
    assert event["specversion"] == "1.0" and event["type"] == "qbo.customer.created.v1"
    assert event["intuitentityid"] == cust["Id"] and event["intuitaccountid"] == api.realm
    assert event["datacontenttype"] == "application/json" and event["data"] == {}
    assert event["source"].startswith("intuit.") and len(event["id"]) == 36 and event["time"].endswith("Z")
    log = emulator.webhooks.deliveries[0]
    assert log["status"] == 200 and log["url"] == HOOK_URL and log["signature"] == headers["Intuit-Signature"]


def test_legacy_format_and_headers(api, emulator, receiver):
    emulator.webhooks.configure(format="legacy", verifier_token="other-token")
    cust = api.create_customer(DisplayName="Legacy")
    api.post("customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"})
    emulator.webhooks.flush()
    headers, body = receiver.received[0]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Intuit-Signature"] == sign(body, "other-token")
    assert headers["Intuit-Notification-Schema-Version"] == "0.1"
    assert headers["User-Agent"] == "intuit_notification_server/0.1"
    assert headers["Intuit-T-Id"] and headers["Intuit-Created-Time"]
    payload = json.loads(body)
    note = payload["eventNotifications"][0]
    assert note["realmId"] == api.realm
    assert [(e["name"], e["id"], e["operation"]) for e in note["dataChangeEvent"]["entities"]] == [
        ("Customer", cust["Id"], "Create"),
        ("Customer", cust["Id"], "Update"),
    ]


def test_verbs_for_void_email_delete_and_merge(api, emulator, receiver, realm):
    keep = api.create_customer(DisplayName="Keep", PrimaryEmailAddr={"Address": "k@example.com"})
    drop = api.create_customer(DisplayName="Drop")
    inv = api.create("Invoice", {"CustomerRef": {"value": keep["Id"]}, "Line": [api.line(3)]})
    api.post(f"invoice/{inv['Id']}/send")
    api.post("invoice", {"Id": inv["Id"], "SyncToken": "1"}, params={"operation": "void"})
    est = api.create("Estimate", {"CustomerRef": {"value": keep["Id"]}, "Line": [api.line(3)]})
    api.post("estimate", {"Id": est["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    emulator.store.merge_customers(realm, drop["Id"], keep["Id"])
    emulator.webhooks.flush()
    types = [e["type"] for e in receiver.events()]
    for expected in (
        "qbo.invoice.emailed.v1",
        "qbo.invoice.void.v1",
        "qbo.estimate.deleted.v1",
        "qbo.customer.merged.v1",
    ):
        assert expected in types
    merged = next(e for e in receiver.events() if e["type"] == "qbo.customer.merged.v1")
    assert merged["intuitentityid"] == keep["Id"] and merged["data"] == {"deletedId": drop["Id"]}


def test_retry_schedule_on_failure(api, emulator, receiver):
    emulator.config.time_scale = 1.0
    receiver.fail_with = [500, 503, 500]
    api.create_customer(DisplayName="Retry me")
    emulator.webhooks.flush()
    assert len(receiver.received) == 1
    for wait in (10, 20, 30):
        emulator.clock.advance(wait - 1)
        assert emulator.webhooks.flush() == 0
        emulator.clock.advance(1)
        assert emulator.webhooks.flush() == 1
    assert [d["status"] for d in emulator.webhooks.deliveries] == [500, 503, 500, 200]
    ids = {tuple(d["events"]) for d in emulator.webhooks.deliveries}
    assert len(ids) == 1  # every retry resends the same event ids
    bodies = {d["body"] for d in emulator.webhooks.deliveries}
    assert len(bodies) == 1


def test_retry_delays_shrink_with_time_scale(api, emulator, receiver):
    emulator.config.time_scale = 10.0
    receiver.fail_with = [500] * 5
    api.create_customer(DisplayName="Scaled")
    emulator.webhooks.flush()
    for wait in (10, 20, 30, 300):
        emulator.clock.advance(wait / 10)
        assert emulator.webhooks.flush() == 1
    emulator.clock.advance(1200 / 10)
    assert emulator.webhooks.flush() == 1
    assert emulator.webhooks.deliveries[-1]["status"] == 200


def test_slow_endpoint_counts_as_failure(api, emulator, receiver):
    emulator.config.webhook_timeout = 0.05
    receiver.sleep = 0.1
    api.create_customer(DisplayName="Slow")
    emulator.webhooks.flush()
    assert emulator.webhooks.deliveries[0]["status"] is None
    assert "Timeout" in emulator.webhooks.deliveries[0]["error"]
    receiver.sleep = 0.0
    emulator.clock.advance(10)
    emulator.webhooks.flush()
    assert emulator.webhooks.deliveries[-1]["status"] == 200


def test_404_endpoint_stays_queued_for_retry(api, emulator):
    emulator.webhooks.session = emulator.http_session()
    emulator.webhooks.configure(url="http://qbo.emulator.test/no-such-hook")
    api.create_customer(DisplayName="Lost")
    emulator.webhooks.flush()
    assert emulator.webhooks.deliveries[0]["status"] == 404
    assert emulator.webhooks.status()["pending"] == 1


def test_connection_error_is_retried(emulator, realm):
    # deliver to a path of the emulator itself, where an injected disconnect applies
    emulator.webhooks.session = emulator.http_session()
    emulator.webhooks.configure(url="http://qbo.emulator.test/v3/company/x/hook")
    emulator.faults.disconnect_next()
    emulator.store.create(realm, "Customer", {"DisplayName": "Cut"})
    emulator.webhooks.flush()
    assert emulator.webhooks.deliveries[0]["status"] is None
    assert emulator.webhooks.deliveries[0]["error"].startswith("ConnectionError")


def test_batches_of_at_most_100_events(emulator, realm, receiver):
    for i in range(150):
        emulator.store.create(realm, "Customer", {"DisplayName": f"Bulk {i}"})
    assert emulator.webhooks.flush() == 2
    assert [len(json.loads(body)) for _, body in receiver.received] == [100, 50]


def test_knobs_delay_drop_duplicate_reorder(emulator, realm, receiver):
    emulator.webhooks.configure(delay=30)
    emulator.store.create(realm, "Customer", {"DisplayName": "Delayed"})
    assert emulator.webhooks.flush(timeout=0.05) == 0
    emulator.clock.advance(30)
    assert emulator.webhooks.flush() == 1

    emulator.webhooks.configure(drop_rate=1.0)
    emulator.store.create(realm, "Customer", {"DisplayName": "Dropped"})
    assert emulator.webhooks.flush() == 0 and len(emulator.webhooks.dropped) == 1

    emulator.webhooks.configure(duplicate_rate=1.0)
    emulator.store.create(realm, "Customer", {"DisplayName": "Twice"})
    emulator.webhooks.flush()
    last = json.loads(receiver.received[-1][1])
    assert len(last) == 2 and last[0]["id"] == last[1]["id"]

    emulator.webhooks.configure(reorder=True, seed=7)
    created = [emulator.store.create(realm, "Customer", {"DisplayName": f"Order {i}"})["Id"] for i in range(20)]
    emulator.webhooks.flush()
    delivered = [e["intuitentityid"] for e in json.loads(receiver.received[-1][1])]
    assert sorted(delivered) == sorted(created) and delivered != created


def test_no_url_means_no_delivery_but_events_are_logged(emulator, realm):
    emulator.store.create(realm, "Customer", {"DisplayName": "Quiet"})
    assert emulator.webhooks.flush() == 0
    assert [e.operation for e in emulator.webhooks.events] == ["Create"]


def test_background_thread(emulator, realm, receiver):
    emulator.webhooks.start(interval=0.01)
    emulator.store.create(realm, "Customer", {"DisplayName": "Threaded"})
    deadline = time.monotonic() + 2
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.01)
    emulator.webhooks.stop()
    assert receiver.received


def test_control_api_configures_and_flushes(emulator, realm, receiver):
    session = emulator.http_session()
    base = "http://qbo.emulator.test/_emulator"
    status = session.post(f"{base}/webhooks", json={"format": "legacy"}).json()
    assert status["format"] == "legacy" and status["url"] == HOOK_URL
    emulator.store.create(realm, "Customer", {"DisplayName": "Via control"})
    flushed = session.post(f"{base}/webhooks/flush", json={}).json()
    assert flushed["attempts"] == 1 and "eventNotifications" in json.loads(receiver.received[0][1])
