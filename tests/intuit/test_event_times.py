"""Every documented spelling of a webhook event's time becomes the same instant.

Forms, with their public sources:

* ``2015-10-05T14:42:19-0700``: the legacy sample of Intuit's webhooks page
  (developer.intuit.com, "Webhooks", payload example);
* ``2016-10-05T03:09:04.000Z``: the .NET SDK's webhooks test
  (intuit/QuickBooks-V3-DotNET-SDK, ``Intuit.Ipp.WebhooksService.Test``);
* ``2025-09-10T21:31:25.179851517Z``: the CloudEvents sample of Intuit's
  2025-11-12 blog post on the new payload structure;
* epoch milliseconds: Intuit's answers to the 2025-02-05 webhooks webinar
  (IntuitDeveloper/SampleApp-Webhooks-Java-Cloudevents,
  ``webinar-qa/2025-02-05-webhooks-webinar.md``: legacy ``lastUpdated`` is
  "epoch milliseconds or varied timestamp format").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import typing as t

import pytest

from flask_qbo.intuit.notifications import parse_notification
from flask_qbo.intuit.times import parse_time
from flask_qbo.testing import TEST_REALM

UTC = dt.timezone.utc
#: 2015-10-05T14:42:19-0700, the instant of Intuit's legacy sample.
SAMPLE = dt.datetime(2015, 10, 5, 21, 42, 19, tzinfo=UTC)
SAMPLE_MS = 1444081339000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-10-05T14:42:19-0700", SAMPLE),
        ("2015-10-05T14:42:19-07:00", SAMPLE),
        ("2015-10-05T21:42:19Z", SAMPLE),
        ("2015-10-05T21:42:19.000Z", SAMPLE),
        ("2015-10-05T14:42:19.250-0700", SAMPLE + dt.timedelta(milliseconds=250)),
        ("2025-09-10T21:31:25.179851517Z", dt.datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=UTC)),
        (SAMPLE_MS, SAMPLE),
        (str(SAMPLE_MS), SAMPLE),
        (SAMPLE_MS + 657, SAMPLE + dt.timedelta(milliseconds=657)),
        (float(SAMPLE_MS), SAMPLE),
        (1444081339, SAMPLE),  # seconds, recognised by their size
        (946684800, dt.datetime(2000, 1, 1, tzinfo=UTC)),
        (946684799, None),  # before 2000: not an event time
        (1, None),  # 1970
        ("20151005", None),  # a compact date, not 1970-08-22
        (-SAMPLE_MS, None),
        ("garbage", None),
        (True, None),
        (float("nan"), None),
        (10**30, None),
        ("", None),
        (None, None),
    ],
)
def test_parse_time_reads_every_documented_form(value: object, expected: dt.datetime | None) -> None:
    assert parse_time(value) == expected


def legacy(last_updated: t.Any) -> bytes:
    entity = {"name": "Customer", "id": "1", "operation": "Update", "lastUpdated": last_updated}
    return json.dumps(
        {"eventNotifications": [{"realmId": TEST_REALM, "dataChangeEvent": {"entities": [entity]}}]}
    ).encode()


def cloudevent(time: t.Any) -> bytes:
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "intuit.test",
        "type": "qbo.customer.updated.v1",
        "time": time,
        "intuitentityid": "1",
        "intuitaccountid": TEST_REALM,
        "data": {},
    }
    return json.dumps([event]).encode()


@pytest.mark.parametrize("value", ["2015-10-05T14:42:19-0700", "2015-10-05T21:42:19.000Z", SAMPLE_MS, str(SAMPLE_MS)])
@pytest.mark.parametrize("body", [legacy, cloudevent])
def test_a_notification_keeps_its_event_time_in_every_form(body: t.Callable[[t.Any], bytes], value: t.Any) -> None:
    notification = parse_notification(body(value))
    assert notification.rejected == []
    [event] = notification.events
    assert event["event_time"] == SAMPLE


def test_a_legacy_epoch_time_keeps_its_own_dedupe_key() -> None:
    [event] = parse_notification(legacy(SAMPLE_MS)).events
    assert event["event_id"] == f"{TEST_REALM}:Customer:1:Update:{SAMPLE_MS}"


@pytest.mark.parametrize("value", [True, 10**30, "soon", "Oct 5 2015", 1, "20151005", "x" * 500, {"at": "noon"}])
@pytest.mark.parametrize("body", [legacy, cloudevent])
def test_an_unreadable_time_keeps_the_event_without_a_time(
    body: t.Callable[[t.Any], bytes], value: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The event is stored with no time (ordered by its arrival) and a warning names it; it used to be refused."""
    with caplog.at_level(logging.WARNING, logger="flask_qbo.intuit.notifications"):
        notification = parse_notification(body(value))
    assert notification.rejected == []
    [event] = notification.events
    assert event["event_time"] is None
    assert len(event["event_id"]) <= 255
    [warning] = caplog.records
    assert "is not a timestamp" in warning.getMessage() and TEST_REALM in warning.getMessage()


def test_an_unreadable_legacy_time_still_tells_deliveries_apart() -> None:
    """The time is part of a legacy event's identity: the same delivery again is a duplicate, another is not."""
    [first] = parse_notification(legacy("Oct 5 2015")).events
    [again] = parse_notification(legacy("Oct 5 2015")).events
    [other] = parse_notification(legacy("Oct 6 2015")).events
    [long_one] = parse_notification(legacy("y" * 500)).events
    assert first["event_id"] == again["event_id"] != other["event_id"]
    assert first["event_id"] == f"{TEST_REALM}:Customer:1:Update:Oct 5 2015"
    assert len(long_one["event_id"]) < 255 and long_one["event_id"] != first["event_id"]
