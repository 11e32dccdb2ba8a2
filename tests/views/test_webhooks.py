"""The webhook endpoint over HTTP: signature, size, shapes, dedupe, unknown realms, malformed parts, CSRF exemption."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from flask_qbo.intuit import jsonbody
from flask_qbo.intuit.notifications import compute_signature
from flask_qbo.models import Connection
from flask_qbo.models import Inbox
from flask_qbo.models import SyncLog
from flask_qbo.sync.pull import receive
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db
from tests.intuit.test_notifications import cloudevent

URL = "/qbo/webhooks"


def post(client, app, payload, *, token=None, signature=None, content_type="application/cloudevents+json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = (
        signature
        if signature is not None
        else compute_signature(body, token or app.config["QBO_WEBHOOK_VERIFIER_TOKEN"])
    )
    return client.post(URL, data=body, headers={"intuit-signature": sig, "Content-Type": content_type})


def inbox(app):
    with app.app_context():
        return [
            (r.event_id, r.entity, r.entity_id, r.operation, r.deleted_id)
            for r in db.session.query(Inbox).order_by(Inbox.id)
        ]


def test_cloudevents_stored_and_deduplicated(app, client, connected):
    events = [
        cloudevent("e1"),
        cloudevent("e2", "invoice", "void", "7"),
        cloudevent("e3", "customer", "merged", "5", data={"deletedId": "9"}),
    ]
    resp = post(client, app, events)
    assert resp.status_code == 200 and resp.get_json()["stored"] == 3
    assert inbox(app) == [
        ("e1", "Customer", "1", "Update", None),
        ("e2", "Invoice", "7", "Void", None),
        ("e3", "Customer", "5", "Merge", "9"),
    ]
    again = post(client, app, [cloudevent("e1"), cloudevent("e1"), cloudevent("e4")], content_type="application/json")
    assert again.status_code == 200
    assert again.get_json() == {"stored": 1, "duplicates": 2, "ignored": 0, "malformed": 0}
    assert len(inbox(app)) == 4
    with app.app_context():
        assert db.session.query(Connection).filter_by(tenant_key="acme").one().last_webhook_at is not None


def test_the_last_webhook_stamp_is_written_at_most_once_a_minute(app, client, connected, monkeypatch):
    """Every notification used to UPDATE the connection row: one company's deliveries, received by several web
    workers at once, then waited on each other's lock on that row until each committed."""
    start = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
    now = [start]
    monkeypatch.setattr(receive, "utcnow", lambda: now[0])
    updates: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE QBO_CONNECTION"):
            updates.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)

    def stamp():
        with app.app_context():
            return db.session.query(Connection).filter_by(tenant_key="acme").one().last_webhook_at

    try:
        for n, (seconds, stamped, writes) in enumerate([(0, 0, 1), (59, 0, 1), (60, 60, 2)]):
            now[0] = start + dt.timedelta(seconds=seconds)
            assert post(client, app, [cloudevent(f"s{n}")]).get_json()["stored"] == 1
            assert stamp() == start + dt.timedelta(seconds=stamped)
            assert len(updates) == writes
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_legacy_body_dedupes_on_its_content(app, client, connected):
    body = {
        "eventNotifications": [
            {
                "realmId": TEST_REALM,
                "dataChangeEvent": {
                    "entities": [
                        {
                            "name": "Customer",
                            "id": "7",
                            "operation": "Merge",
                            "lastUpdated": "2015-10-05T14:42:19-0700",
                            "deletedId": "12",
                        }
                    ]
                },
            }
        ]
    }
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


@pytest.mark.parametrize("body", [b"{not json", b'["\xff"]', b""])
def test_a_body_that_is_not_json_is_400(app, client, connected, body):
    resp = post(client, app, body)
    assert resp.status_code == 400 and "not JSON" in resp.get_json()["error"]
    assert inbox(app) == [] and rejected(app) == []


def rejected(app):
    """The malformed parts recorded for the health page: (tenant, realm, entity id, message)."""
    with app.app_context():
        rows = db.session.query(SyncLog).filter_by(direction="webhook", action="malformed").order_by(SyncLog.id)
        return [(r.tenant_key, r.realm_id, r.qbo_id, r.message) for r in rows]


def spoiled(event_id, **changes):
    """A CloudEvent with some fields changed (``None`` removes the field)."""
    event = cloudevent(event_id, entity_id="8")
    for key, value in changes.items():
        if value is None:
            event.pop(key)
        else:
            event[key] = value
    return event


#: One bad CloudEvent each: (changes, the tenant it is shown to, what the recorded reason says).
BAD_CLOUDEVENTS = {
    "no entity id": ({"intuitentityid": None}, "acme", "'intuitentityid' is missing"),
    "empty entity id": ({"intuitentityid": ""}, "acme", "'intuitentityid' is missing"),
    "entity id too long": ({"intuitentityid": "9" * 33}, "acme", "'intuitentityid' is longer than 32"),
    "no realm": ({"intuitaccountid": None}, None, "'intuitaccountid' is missing"),
    "fullwidth realm": ({"intuitaccountid": "９１３０"}, None, "is not a QuickBooks company (realm) id"),
    "realm with a sign": ({"intuitaccountid": "+9130000000000001"}, None, "is not a QuickBooks company"),
    "no id": ({"id": None}, "acme", "'id' is missing"),
    "id too long": ({"id": "x" * 256}, "acme", "'id' is longer than 255"),
    "short type": ({"type": "qbo.customer"}, "acme", "unexpected event type 'qbo.customer'"),
    "type not text": ({"type": ["qbo", "customer"]}, "acme", "'type' is not text"),
    "empty entity in type": ({"type": "qbo..updated.v1"}, "acme", "unexpected event type"),
    "odd deletedId": ({"data": {"deletedId": {"Id": "9"}}}, "acme", "'deletedId' is not an id"),
    "deletedId not digits": ({"data": {"deletedId": "x9"}}, "acme", "'deletedId' is not an id"),
    "entity id not digits": ({"intuitentityid": "abc"}, "acme", "'intuitentityid' is not a QuickBooks id"),
    "fullwidth entity id": ({"intuitentityid": "８"}, "acme", "'intuitentityid' is not a QuickBooks id"),
    # A NUL or a lone surrogate could not be stored: the whole notification answered 500.
    "NUL in id": ({"id": "a\u0000b"}, "acme", "'id' holds control or formatting characters"),
    "lone surrogate in id": ({"id": "\ud800"}, "acme", "'id' holds control or formatting characters"),
    "bidi override in type": ({"type": "qbo.cust\u202eomer.updated.v1"}, "acme", "'type' holds control"),
}


@pytest.mark.parametrize("changes,tenant,reason", BAD_CLOUDEVENTS.values(), ids=list(BAD_CLOUDEVENTS))
def test_one_bad_cloudevent_does_not_refuse_the_others(app, client, connected, changes, tenant, reason):
    bad = spoiled("bad-one", **changes)
    resp = post(client, app, [cloudevent("good-1"), bad, cloudevent("good-2", entity_id="2")])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"stored": 2, "duplicates": 0, "ignored": 0, "malformed": 1}
    assert [row[0] for row in inbox(app)] == ["good-1", "good-2"]
    [(shown_to, realm, entity_id, message)] = rejected(app)
    assert reason in message and "CloudEvent 2 of 3" in message
    assert shown_to == tenant and realm == (TEST_REALM if tenant else None)
    assert entity_id == ("8" if "intuitentityid" not in changes else None)


@pytest.mark.parametrize("time", ["yesterday", ["2025-09-10"], "Oct 5 2015"])
def test_an_event_with_an_unreadable_time_is_kept_without_one(app, client, connected, time):
    """Only the time is lost (the event is ordered by its arrival); it used to be refused whole."""
    resp = post(client, app, [cloudevent("good-1"), spoiled("odd-time", time=time)])
    assert resp.get_json() == {"stored": 2, "duplicates": 0, "ignored": 0, "malformed": 0}
    assert rejected(app) == []
    with app.app_context():
        assert db.session.query(Inbox).filter_by(event_id="odd-time").one().event_time is None


def test_an_event_that_is_not_an_object_is_recorded(app, client, connected):
    resp = post(client, app, [1, cloudevent("good"), "text", None])
    assert resp.status_code == 200 and resp.get_json()["malformed"] == 3
    assert [row[0] for row in inbox(app)] == ["good"]
    messages = [row[3] for row in rejected(app)]
    assert messages == [
        f"CloudEvent {n} of 4: it is {what}, not an object." for n, what in ((1, "a number"), (3, "text"), (4, "null"))
    ]


def legacy(*notifications):
    return {"eventNotifications": list(notifications)}


def entity(entity_id, name="Customer", operation="Update", **extra):
    return {"name": name, "id": entity_id, "operation": operation, "lastUpdated": "2015-10-05T14:42:19-0700", **extra}


def test_one_bad_legacy_entity_or_notification_does_not_refuse_the_others(app, client, connected):
    body = legacy(
        {
            "realmId": TEST_REALM,
            "dataChangeEvent": {
                "entities": [
                    entity("1"),
                    {"name": "Customer", "operation": "Update"},
                    entity("3", lastUpdated="not a time"),
                    entity("4", "Invoice", "Void"),
                ]
            },
        },
        {"realmId": "１２３", "dataChangeEvent": {"entities": [entity("5")]}},
        {"dataChangeEvent": {"entities": [entity("6")]}},
        {"realmId": TEST_REALM, "dataChangeEvent": {"entities": "nothing"}},
        "not a notification",
        {"realmId": TEST_REALM, "dataChangeEvent": {"entities": [entity("7", operation=None)]}},
    )
    resp = post(client, app, body, content_type="application/json")
    assert resp.status_code == 200
    assert resp.get_json() == {"stored": 3, "duplicates": 0, "ignored": 0, "malformed": 6}
    # An unreadable time costs only the time: Customer 3 is kept, ordered by its arrival.
    assert [row[1:3] for row in inbox(app)] == [("Customer", "1"), ("Customer", "3"), ("Invoice", "4")]
    assert rejected(app) == [
        ("acme", TEST_REALM, None, "Notification 1 of 6, entity 2 of 4: 'id' is missing."),
        (
            None,
            None,
            None,
            "Notification 2 of 6 (1 entity): 'realmId' '１２３' is not a QuickBooks company "
            "(realm) id: expected 1 to 32 digits 0-9.",
        ),
        (None, None, None, "Notification 3 of 6 (1 entity): 'realmId' is missing."),
        ("acme", TEST_REALM, None, "Notification 4 of 6: 'dataChangeEvent.entities' is not a list."),
        (None, None, None, "Notification 5 of 6: it is text, not an object."),
        ("acme", TEST_REALM, "7", "Notification 6 of 6, entity 1 of 1 (Customer 7): 'operation' is missing."),
    ]


NOT_A_NOTIFICATION = "not a CloudEvents array or an eventNotifications object."


@pytest.mark.parametrize(
    "body,message",
    [
        (b"{}", f"The notification is an object without 'eventNotifications', {NOT_A_NOTIFICATION}"),
        (b'{"hello": 1}', f"The notification is an object without 'eventNotifications', {NOT_A_NOTIFICATION}"),
        (b"42", f"The notification is a number, {NOT_A_NOTIFICATION}"),
        (b'"text"', f"The notification is text, {NOT_A_NOTIFICATION}"),
        (b"null", f"The notification is null, {NOT_A_NOTIFICATION}"),
        (b"true", f"The notification is true or false, {NOT_A_NOTIFICATION}"),
        (b'{"eventNotifications": "x"}', "The notification's 'eventNotifications' is not a list."),
    ],
)
def test_json_that_is_not_a_notification_is_recorded_and_acknowledged(app, client, connected, body, message):
    """Intuit resends a refused body whole, and this one would never read better: take it, say so."""
    resp = post(client, app, body)
    assert resp.status_code == 200
    assert resp.get_json() == {"stored": 0, "duplicates": 0, "ignored": 0, "malformed": 1}
    assert inbox(app) == []
    assert rejected(app) == [(None, None, None, message)]


@pytest.mark.parametrize("body", [b"[]", b'{"eventNotifications": []}'])
def test_an_empty_notification_is_fine(app, client, connected, body):
    resp = post(client, app, body)
    assert resp.status_code == 200 and resp.get_json()["malformed"] == 0
    assert rejected(app) == []


def test_a_malformed_event_for_an_unknown_realm_is_not_shown_to_anyone(app, client, connected):
    resp = post(client, app, [spoiled("x", intuitaccountid="555", intuitentityid=None)])
    assert resp.status_code == 200 and resp.get_json()["malformed"] == 1
    assert rejected(app) == [
        (None, "555", None, "CloudEvent 1 of 1 (id 'x', type 'qbo.customer.updated.v1'): 'intuitentityid' is missing.")
    ]


def test_malformed_parts_recorded_one_by_one_are_bounded(app, client, connected, monkeypatch):
    """A signed body of a million broken events must not write a million rows."""
    monkeypatch.setattr(receive, "MAX_RECORDED", 3)
    resp = post(client, app, [1] * 5 + [cloudevent("good")])
    assert resp.status_code == 200 and resp.get_json()["malformed"] == 5
    messages = [row[3] for row in rejected(app)]
    assert (
        len(messages) == 4
        and messages[-1] == "2 more malformed part(s) of this notification were not recorded one by one."
    )
    assert [row[0] for row in inbox(app)] == ["good"]


def test_nothing_recorded_holds_a_secret_or_the_body(app, client, connected):
    secret = "never-show-this-value"
    post(client, app, [spoiled("s", intuitentityid=None, data={"note": secret})])
    [(_, _, _, message)] = rejected(app)
    assert secret not in message and app.config["QBO_WEBHOOK_VERIFIER_TOKEN"] not in message


def nested(depth, inner=b"1"):
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", [100_000, 990, "one over the limit"])
def test_a_deeply_nested_body_is_a_clear_400(app, client, connected, depth):
    """Python's json parser recurses: a signed body nested 100,000 deep raised RecursionError (a 500)."""
    limit = jsonbody.MAX_JSON_DEPTH
    resp = post(client, app, nested(limit + 1 if isinstance(depth, str) else depth))
    assert resp.status_code == 400
    assert resp.get_json()["error"] == f"Malformed notification: the JSON is nested more than {limit} levels deep."
    assert inbox(app) == [] and rejected(app) == []


def test_data_nested_up_to_the_limit_is_stored(app, client, connected):
    deep = json.loads(nested(jsonbody.MAX_JSON_DEPTH - 3))  # array > event > data > the rest
    resp = post(client, app, [cloudevent("deep", data={"x": deep})])
    assert resp.status_code == 200 and resp.get_json()["stored"] == 1


def test_unknown_realm_is_ignored(app, client, connected):
    resp = post(client, app, [cloudevent("a", realm="555"), cloudevent("b")])
    assert resp.status_code == 200 and resp.get_json() == {"stored": 1, "duplicates": 0, "ignored": 1, "malformed": 0}
    assert [row[0] for row in inbox(app)] == ["b"]


def test_exempt_from_flask_wtf_csrf(tmp_path, emulator):
    from flask_wtf.csrf import CSRFProtect

    from flask_qbo.testing import attach_emulator
    from flask_qbo.testing import connect_tenant
    from tests.hostapp import make_app

    app = make_app(f"sqlite:///{tmp_path / 'csrf.sqlite'}", TESTING=False, WTF_CSRF_ENABLED=True)
    CSRFProtect(app)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    client = app.test_client()
    assert post(client, app, [cloudevent("csrf-ok")]).status_code == 200
    assert [row[0] for row in inbox(app)] == ["csrf-ok"]
