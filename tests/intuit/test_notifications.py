"""Intuit's webhook notifications without HTTP: the signature, both formats, and the shape checks."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest

from flask_qbo.intuit.jsonbody import MAX_JSON_DEPTH
from flask_qbo.intuit.notifications import MalformedNotification
from flask_qbo.intuit.notifications import Rejected
from flask_qbo.intuit.notifications import compute_signature
from flask_qbo.intuit.notifications import parse_notification
from flask_qbo.intuit.notifications import verify_signature
from flask_qbo.testing import TEST_REALM
from tests.signature_vectors import VECTORS


@pytest.mark.parametrize("body,token,signature", VECTORS)
def test_published_signature_vectors_verify(body, token, signature):
    assert compute_signature(body.encode(), token) == signature
    assert verify_signature(body.encode(), signature, token)
    assert not verify_signature(body.encode() + b" ", signature, token)
    assert not verify_signature(body.encode(), signature, token + "x")


def test_garbage_signature_is_refused_not_raised():
    assert not verify_signature(b"{}", "not base64!!", "token")
    assert not verify_signature(b"{}", None, "token")
    assert not verify_signature(b"{}", compute_signature(b"{}", "t"), None)


def cloudevent(event_id, entity="customer", verb="updated", entity_id="1", realm=TEST_REALM, **extra):
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "intuit.test",
        "type": f"qbo.{entity}.{verb}.v1",
        "time": "2025-09-10T21:31:25.179851517Z",
        "intuitentityid": entity_id,
        "intuitaccountid": realm,
        "data": extra.get("data", {}),
    }


def parse(payload: t.Any):
    return parse_notification(json.dumps(payload).encode())


def test_parse_maps_cloudevent_verbs():
    events = parse_notification(json.dumps([cloudevent("v", "salesreceipt", "emailed", "3")]).encode()).events
    assert events[0]["entity"] == "SalesReceipt" and events[0]["operation"] == "Emailed"
    assert events[0]["event_time"].year == 2025


def test_one_cloudevent_object_is_a_batch_of_one():
    merged = cloudevent("m", verb="merged", entity_id="5", data={"deletedId": "4"})
    [event] = parse(merged).events
    assert event == {
        "event_id": "m",
        "realm_id": TEST_REALM,
        "entity": "Customer",
        "entity_id": "5",
        "operation": "Merge",
        "deleted_id": "4",
        "event_time": dt.datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=dt.timezone.utc),
        "raw": json.dumps(merged, separators=(",", ":")),
    }


@pytest.mark.parametrize("key", ["deletedid", "deletedId", "DeletedId"])
def test_a_cloudevents_merge_names_its_merged_away_id_in_any_spelling(key):
    """Intuit's reference shows ``"data": {"deletedid": "27"}``; captured deliveries say ``deletedId``.

    https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/data-objects ("Customer merged").
    """
    merged = cloudevent("m", verb="merged", entity_id="123", data={key: "27"})
    [event] = parse([merged]).events
    assert (event["operation"], event["entity_id"], event["deleted_id"]) == ("Merge", "123", "27")


@pytest.mark.parametrize("key", ["deletedid", "deletedId"])
def test_a_legacy_merge_names_its_merged_away_id_in_any_spelling(key):
    entity = {"name": "Customer", "id": "123", "operation": "Merge", "lastUpdated": "2015-10-05T14:42:19-0700"}
    body = {"eventNotifications": [{"realmId": TEST_REALM, "dataChangeEvent": {"entities": [{**entity, key: "27"}]}}]}
    [event] = parse(body).events
    assert (event["operation"], event["deleted_id"]) == ("Merge", "27")


def test_two_spellings_naming_different_ids_are_refused():
    both = cloudevent("m", verb="merged", entity_id="123", data={"deletedid": "27", "deletedId": "28"})
    notification = parse([both, cloudevent("fine")])
    assert [event["event_id"] for event in notification.events] == ["fine"]
    assert notification.rejected[0].message.endswith("'deletedid' and 'deletedId' name different ids.")
    agreeing = cloudevent("a", verb="merged", entity_id="123", data={"deletedid": "27", "deletedId": 27})
    assert parse([agreeing]).events[0]["deleted_id"] == "27"


def test_a_bad_deletedid_is_refused_by_its_own_spelling():
    bad = cloudevent("m", verb="merged", entity_id="123", data={"deletedid": "twenty-seven"})
    [rejected] = parse([bad]).rejected
    assert "'deletedid' is not an id: 'twenty-seven'" in rejected.message


def test_legacy_events_are_identified_by_the_change_itself():
    body = {
        "eventNotifications": [
            {
                "realmId": TEST_REALM,
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Invoice", "id": "7", "operation": "Void", "lastUpdated": "2015-10-05T14:42:19-0700"}
                    ]
                },
            }
        ]
    }
    [event] = parse(body).events
    assert event["event_id"] == f"{TEST_REALM}:Invoice:7:Void:2015-10-05T14:42:19-0700"
    assert event["event_time"] == dt.datetime(2015, 10, 5, 21, 42, 19, tzinfo=dt.timezone.utc)
    assert json.loads(event["raw"])["realmId"] == TEST_REALM


def test_a_bad_part_is_rejected_with_its_ids_and_never_its_body():
    secret = "never-show-this-value"
    bad = {**cloudevent("b", entity_id="8"), "type": "qbo.customer", "data": {"note": secret}}
    notification = parse([cloudevent("good"), bad])
    assert [event["event_id"] for event in notification.events] == ["good"]
    assert notification.rejected == [
        Rejected(
            "CloudEvent 2 of 2 (id 'b', type 'qbo.customer'): unexpected event type 'qbo.customer'.",
            TEST_REALM,
            "8",
        )
    ]
    assert secret not in notification.rejected[0].message


@pytest.mark.parametrize(
    "body", [b"{not json", b'["\xff"]', b"", b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)]
)
def test_only_a_body_that_cannot_be_read_is_refused_whole(body):
    with pytest.raises(MalformedNotification):
        parse_notification(body)
