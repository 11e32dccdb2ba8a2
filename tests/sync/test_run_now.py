"""``push_now`` and ``pull_now`` raise what a runner would only log, and stop when work never runs out."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import get_qbo
from flask_qbo import signals
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.testing import PUSH_ROUNDS
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import pull_now
from flask_qbo.testing import push_now
from tests.sync.onename import Person
from tests.sync.onename import db
from tests.sync.onename import make_app


@pytest.fixture
def host(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'now.sqlite'}")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app


def boom(value: object) -> object:
    raise ValueError("bug in a host converter")


def test_push_now_raises_an_unexpected_error_once_the_row_is_recorded(host: t.Any) -> None:
    get_qbo().register_contact(Person, fields=FieldMap(Field("name", "DisplayName", to_qbo=boom)))
    db.session.add(Person(name="Ann"))
    db.session.commit()
    with pytest.raises(ValueError, match="bug in a host converter"):
        push_now()
    [row] = db.session.query(Outbox).all()
    assert row.last_error is not None and "bug in a host converter" in row.last_error


def test_pull_now_raises_an_error_of_a_webhook_event(host: t.Any, emulator: t.Any) -> None:
    get_qbo().register_contact(Person, fields=FieldMap(Field("name", "DisplayName", from_qbo=boom)))
    db.session.add(Person(name="Ann"))
    db.session.commit()
    push_now()
    [cust] = emulator.store.list(TEST_REALM, "Customer")
    emulator.store.update(
        TEST_REALM, "Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "DisplayName": "Bo"}, sparse=True
    )
    db.session.add(
        Inbox(
            event_id="e1",
            realm_id=TEST_REALM,
            entity="Customer",
            entity_id=cust["Id"],
            operation="Update",
            event_time=utcnow(),
        )
    )
    db.session.commit()
    with pytest.raises(ValueError, match="bug in a host converter"):
        pull_now(tenant_key="nobody")  # no CDC poll: only the event's handler runs
    [event] = db.session.query(Inbox).all()
    assert event.last_error is not None and "bug in a host converter" in event.last_error


def test_push_now_stops_when_every_push_queues_another(host: t.Any) -> None:
    def touch(sender: object, **extra: t.Any) -> None:
        person = db.session.query(Person).one()
        person.phone = str(int(person.phone or "0") + 1)
        db.session.commit()

    db.session.add(Person(name="Ann"))
    db.session.commit()
    with signals.pushed.connected_to(touch):
        with pytest.raises(RuntimeError, match=f"still due after {PUSH_ROUNDS} rounds"):
            push_now()
