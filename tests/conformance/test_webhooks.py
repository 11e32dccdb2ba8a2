"""Both webhook formats, with every documented quirk, read into the right events.

Each corpus notification must parse without a rejected part, and every event
must carry the entity, id, operation, realm, event time and merged-away id its
payload states.  Entity names the sync handles must match exactly (they pick
the mirror table); names of other entities only have to match Intuit's up to
case, since a CloudEvents ``type`` carries them lower-cased.
"""

from __future__ import annotations

import datetime as dt

import pytest

from flask_qbo.intuit.notifications import parse_notification
from flask_qbo.sync.pull.mirror import TRANSACTION_TYPES

from . import corpus

LEGACY = corpus.cases("webhooks_legacy")
CLOUDEVENTS = corpus.cases("webhooks_cloudevents")
#: The entities whose events the sync applies: their names must be exact.
HANDLED = frozenset(TRANSACTION_TYPES) | {"Customer"}


def _facts(case: corpus.Case) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    notification = parse_notification(case.body)
    assert len(notification.rejected) == case.expect["rejected"], [r.message for r in notification.rejected]
    got = []
    for event in notification.events:
        time = event["event_time"]
        got.append(
            {
                "event_id": event["event_id"],
                "realm_id": event["realm_id"],
                "entity": event["entity"],
                "entity_id": event["entity_id"],
                "operation": event["operation"],
                "deleted_id": event["deleted_id"],
                "event_time": None if time is None else time.isoformat(),
            }
        )
    return got, case.expect["events"]


def _same_entity(got: object, wanted: str) -> bool:
    if wanted in HANDLED:
        return got == wanted
    return isinstance(got, str) and got.casefold() == wanted.casefold()


@pytest.mark.parametrize("case", LEGACY + CLOUDEVENTS, ids=str)
def test_every_event_is_read_with_its_facts(case: corpus.Case) -> None:
    got, wanted = _facts(case)
    assert len(got) == len(wanted)
    for event, expected in zip(got, wanted, strict=True):
        assert _same_entity(event["entity"], str(expected["entity"])), (event, expected)
        for key in ("realm_id", "entity_id", "operation", "deleted_id", "event_time"):
            assert event[key] == expected[key], (key, event, expected)
        if "event_id" in expected:  # CloudEvents name their events; legacy ids are derived
            assert event["event_id"] == expected["event_id"]


@pytest.mark.parametrize("case", LEGACY, ids=str)
def test_legacy_event_ids_are_stable_and_distinct(case: corpus.Case) -> None:
    """A redelivered legacy notification dedupes on the derived id: same body, same ids."""
    first = [e["event_id"] for e in parse_notification(case.body).events]
    again = [e["event_id"] for e in parse_notification(case.body).events]
    assert first == again
    assert len(set(first)) == len(first)


@pytest.mark.parametrize("case", LEGACY + CLOUDEVENTS, ids=str)
def test_event_times_are_aware_utc(case: corpus.Case) -> None:
    for event in parse_notification(case.body).events:
        when = event["event_time"]
        assert when is not None and when.utcoffset() == dt.timedelta(0), event


def test_the_corpus_covers_every_documented_quirk() -> None:
    """Guards the corpus itself: removing a quirk's payload must not go unnoticed."""
    legacy_times = [
        entity["lastUpdated"]
        for case in LEGACY
        for element in case.payload["eventNotifications"]
        for entity in element["dataChangeEvent"]["entities"]
    ]
    assert any(isinstance(v, str) and v[-5] in "+-" and v[-3] != ":" for v in legacy_times)  # -0700
    assert any(isinstance(v, str) and v.endswith("Z") and "." in v for v in legacy_times)  # Z with millis
    assert any(isinstance(v, int) for v in legacy_times)  # epoch milliseconds
    assert any(len(case.payload["eventNotifications"]) > 1 for case in LEGACY)  # several realms
    events = [event for case in CLOUDEVENTS for event in case.payload]
    assert len({e["intuitaccountid"] for case in CLOUDEVENTS for e in case.payload if len(case.payload) > 1}) > 1
    datas = [event["data"] for event in events]
    assert {} in datas
    assert any("alternative_ids" in d for d in datas)
    assert any(any(k[:1].isupper() and isinstance(v, dict) for k, v in d.items()) for d in datas)  # a whole entity
    assert any("deletedid" in d for d in datas) and any("deletedId" in d for d in datas)
    types = {event["type"].split(".")[1] for event in events}
    assert types - {name.lower() for name in HANDLED}  # entity types the sync does not handle
