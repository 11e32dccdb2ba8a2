"""The emulator's webhook notifications have the corpus's shapes, in both formats.

Each event the emulator delivers must have exactly the keys (and JSON types)
of Intuit's documented event, and the notification must read through the
extension's parser with no rejected part, a merge naming its merged-away id.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest
from flask import Flask

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import WSGIAdapter
from flask_qbo.intuit.notifications import parse_notification
from flask_qbo.testing import TEST_REALM
from tests.emulator.conftest import Api

from . import corpus
from .shapes import shape

HOOK = "http://crm.conformance.test/qbo/webhooks"


def _listener() -> Flask:
    app = Flask("conformance-listener")
    app.add_url_rule("/qbo/webhooks", "hook", lambda: ("", 200), methods=["POST"])
    return app


def _deliver(emulator: Emulator, webhook_format: str) -> tuple[list[bytes], str, str]:
    """Create two customers and an invoice, merge one customer into the other; the bodies sent."""
    emulator.webhooks.session.mount("http://crm.conformance.test", WSGIAdapter(_listener()))
    emulator.webhooks.configure(url=HOOK, format=webhook_format)
    api = Api(emulator, TEST_REALM)
    kept = api.create_customer(DisplayName="Survivor Ltd")
    gone = api.create_customer(DisplayName="Merged Away Ltd")
    api.create("Invoice", {"CustomerRef": {"value": gone["Id"]}, "Line": [api.line(10.0)]})
    emulator.store.merge_customers(TEST_REALM, gone["Id"], kept["Id"])
    emulator.webhooks.flush()
    bodies = [d["body"] for d in emulator.webhooks.deliveries if d["status"] == 200]
    assert bodies
    return bodies, kept["Id"], gone["Id"]


def _key_shape(record: t.Mapping[str, t.Any], skip: str) -> dict[str, str]:
    return {path: kind for path, kind in shape(dict(record)).items() if path.split(".")[0] != skip}


def _merge(bodies: list[bytes]) -> dict[str, t.Any]:
    events = [event for body in bodies for event in parse_notification(body).events]
    (merge,) = [event for event in events if event["operation"] == "Merge"]
    return dict(merge)


def test_cloudevents_have_the_documented_keys(emulator: Emulator) -> None:
    bodies, kept, gone = _deliver(emulator, "cloudevents")
    (documented,) = corpus.case("webhooks_cloudevents", "blog_sample_empty_data").payload
    for body in bodies:
        notification = parse_notification(body)
        assert notification.rejected == []
        for event in json.loads(body):
            assert _key_shape(event, "data") == _key_shape(documented, "data")
            assert isinstance(event["data"], dict)
    merge = _merge(bodies)
    assert (merge["entity"], merge["entity_id"], merge["deleted_id"]) == ("Customer", kept, gone)


def test_legacy_notifications_have_the_documented_keys(emulator: Emulator) -> None:
    bodies, kept, gone = _deliver(emulator, "legacy")
    documented = corpus.case("webhooks_legacy", "documented_sample").payload["eventNotifications"][0]
    create, merge_entry = documented["dataChangeEvent"]["entities"]
    for body in bodies:
        notification = parse_notification(body)
        assert notification.rejected == []
        for element in json.loads(body)["eventNotifications"]:
            assert set(element) == set(documented)
            for entity in element["dataChangeEvent"]["entities"]:
                wanted = merge_entry if entity["operation"] == "Merge" else create
                assert set(entity) == set(wanted)
                assert all(isinstance(entity[key], str) for key in entity)
    merge = _merge(bodies)
    assert (merge["entity"], merge["entity_id"], merge["deleted_id"]) == ("Customer", kept, gone)


@pytest.mark.parametrize("webhook_format", ["cloudevents", "legacy"])
def test_event_times_read_back_as_the_change_times(emulator: Emulator, webhook_format: str) -> None:
    """Both formats' timestamps parse to the emulator-clock moments of the changes (to the millisecond)."""
    before = emulator.clock.now() - dt.timedelta(milliseconds=1)
    bodies, _kept, _gone = _deliver(emulator, webhook_format)
    after = emulator.clock.now()
    times = [event["event_time"] for body in bodies for event in parse_notification(body).events]
    assert times and all(when is not None and before <= when <= after for when in times), (before, times, after)
