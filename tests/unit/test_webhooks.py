"""The webhook endpoint: signature, size, shapes, dedupe, unknown realms, CSRF exemption."""

from __future__ import annotations

import json

import pytest

from flask_qbo.models import Connection
from flask_qbo.models import Inbox
from flask_qbo.testing import TEST_REALM
from flask_qbo.views.webhooks import compute_signature
from flask_qbo.views.webhooks import parse_notification
from flask_qbo.views.webhooks import verify_signature

from ..hostapp import db

from ..signature_vectors import VECTORS

URL = "/qbo/webhooks"



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
    return {"specversion": "1.0", "id": event_id, "source": "intuit.test", "type": f"qbo.{entity}.{verb}.v1",
            "time": "2025-09-10T21:31:25.179851517Z", "intuitentityid": entity_id, "intuitaccountid": realm,
            "data": extra.get("data", {})}


def post(client, app, payload, *, token=None, signature=None, content_type="application/cloudevents+json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = signature if signature is not None else compute_signature(body, token or app.config["QBO_WEBHOOK_VERIFIER_TOKEN"])
    return client.post(URL, data=body, headers={"intuit-signature": sig, "Content-Type": content_type})


def inbox(app):
    with app.app_context():
        return [(r.event_id, r.entity, r.entity_id, r.operation, r.deleted_id) for r in db.session.query(Inbox).order_by(Inbox.id)]


def test_cloudevents_stored_and_deduplicated(app, client, connected):
    events = [cloudevent("e1"), cloudevent("e2", "invoice", "void", "7"),
              cloudevent("e3", "customer", "merged", "5", data={"deletedId": "9"})]
    resp = post(client, app, events)
    assert resp.status_code == 200 and resp.get_json()["stored"] == 3
    assert inbox(app) == [("e1", "Customer", "1", "Update", None), ("e2", "Invoice", "7", "Void", None),
                          ("e3", "Customer", "5", "Merge", "9")]
    again = post(client, app, [cloudevent("e1"), cloudevent("e1"), cloudevent("e4")], content_type="application/json")
    assert again.status_code == 200 and again.get_json() == {"stored": 1, "duplicates": 2, "ignored": 0}
    assert len(inbox(app)) == 4
    with app.app_context():
        assert db.session.query(Connection).filter_by(tenant_key="acme").one().last_webhook_at is not None


def test_legacy_body_dedupes_on_its_content(app, client, connected):
    body = {"eventNotifications": [{"realmId": TEST_REALM, "dataChangeEvent": {"entities": [
        {"name": "Customer", "id": "7", "operation": "Merge", "lastUpdated": "2015-10-05T14:42:19-0700",
         "deletedId": "12"}]}}]}
    assert post(client, app, body, content_type="application/json; charset=utf-8").status_code == 200
    assert post(client, app, body, content_type="application/json").get_json()["duplicates"] == 1
    rows = inbox(app)
    assert len(rows) == 1 and rows[0][1:] == ("Customer", "7", "Merge", "12")


def test_forged_or_missing_signature_is_refused_and_nothing_stored(app, client, connected):
    events = [cloudevent("forged")]
    assert post(client, app, events, token="not-the-verifier").status_code == 401
    assert client.post(URL, data=json.dumps(events), content_type="application/json").status_code == 401
    assert inbox(app) == []


def test_missing_verifier_config_refuses(app, client, connected):
    app.config["QBO_WEBHOOK_VERIFIER_TOKEN"] = None
    assert post(client, app, [cloudevent("x")], token="anything").status_code == 401
    assert inbox(app) == []


def test_oversized_body_is_413(app, client, connected):
    app.config["QBO_WEBHOOK_MAX_BYTES"] = 200
    events = [cloudevent(f"big{i}") for i in range(5)]
    assert post(client, app, events).status_code == 413
    assert inbox(app) == []


@pytest.mark.parametrize("body", [b"{not json", b'{"hello": 1}', b'[{"id": "x"}]', b"[1, 2]",
                                  b'{"eventNotifications": [{"realmId": "1"}]}'])
def test_malformed_bodies_are_400(app, client, connected, body):
    assert post(client, app, body).status_code == 400
    assert inbox(app) == []


def test_unknown_realm_is_ignored(app, client, connected):
    resp = post(client, app, [cloudevent("a", realm="555"), cloudevent("b")])
    assert resp.status_code == 200 and resp.get_json() == {"stored": 1, "duplicates": 0, "ignored": 1}
    assert [row[0] for row in inbox(app)] == ["b"]


def test_parse_maps_cloudevent_verbs():
    events = parse_notification(json.dumps([cloudevent("v", "salesreceipt", "emailed", "3")]).encode())
    assert events[0]["entity"] == "SalesReceipt" and events[0]["operation"] == "Emailed"
    assert events[0]["event_time"].year == 2025


def test_exempt_from_flask_wtf_csrf(tmp_path, emulator):
    from flask_wtf.csrf import CSRFProtect

    from flask_qbo.testing import attach_emulator
    from flask_qbo.testing import connect_tenant

    from ..hostapp import make_app

    app = make_app(f"sqlite:///{tmp_path / 'csrf.sqlite'}", TESTING=False, WTF_CSRF_ENABLED=True)
    CSRFProtect(app)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    client = app.test_client()
    assert post(client, app, [cloudevent("csrf-ok")]).status_code == 200
    assert [row[0] for row in inbox(app)] == ["csrf-ok"]
