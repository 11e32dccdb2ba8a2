"""The thread runner polls different companies side by side (issue 16, item 4)."""

from __future__ import annotations

import threading
import typing as t

from flask_qbo.models import Connection
from flask_qbo.runners import thread as runner
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer

OTHER_REALM = "9130350000000001"


def test_polls_of_two_companies_overlap(app: t.Any, emulator: t.Any) -> None:
    """acme's poll waits until bravo's has finished: with polls one after the other it would wait in vain."""
    connect_tenant(app, emulator, "acme", TEST_REALM)
    emulator.add_company(OTHER_REALM, "Bravo")
    connect_tenant(app, emulator, "bravo", OTHER_REALM)
    add_customer(emulator, GivenName="Ann", FamilyName="Acme")
    add_customer(emulator, realm=OTHER_REALM, GivenName="Bob", FamilyName="Bravo")
    bravo_done = threading.Event()
    waited: list[bool] = []
    real_poll = pull.poll_cdc

    def forced_order(qbo: t.Any, connection: Connection) -> int:
        if connection.tenant_key == "acme":
            waited.append(bravo_done.wait(10))
            return real_poll(qbo, connection)
        try:
            return real_poll(qbo, connection)
        finally:
            bravo_done.set()

    pull.poll_cdc = forced_order  # type: ignore[assignment]
    loop = runner.ThreadRunner(app, poll_interval=30.0, upkeep_interval=3600.0, poll_workers=2)
    try:
        with app.app_context():
            loop.run_once()
    finally:
        pull.poll_cdc = real_poll  # type: ignore[assignment]
        loop.stop()
    assert waited == [True]
    assert loop.errors == 0
    with app.app_context():
        polled = db.session.query(Connection).filter(Connection.last_cdc_at.isnot(None)).count()
    assert polled == 2


def test_an_idle_outbox_skips_the_push_turn(app: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    """With no row pending or claimed, a tick never runs the push turn's queries over every company."""
    connect_tenant(app, emulator, "acme", TEST_REALM)
    real_process = push.process
    calls: list[int] = []

    def counted(*args: t.Any, **kwargs: t.Any) -> int:
        calls.append(1)
        return real_process(*args, **kwargs)

    monkeypatch.setattr(push, "process", counted)
    loop = runner.ThreadRunner(app, poll_interval=30.0, upkeep_interval=3600.0)
    with app.app_context():
        loop.run_once()
        assert calls == []
        db.session.add(Contact(tenant="acme", first_name="Ada", last_name="Busy", email="ada@busy.test"))
        db.session.commit()
        loop.run_once()
    loop.stop()
    assert calls == [1]
    assert [c["DisplayName"] for c in emulator.store.list(TEST_REALM, "Customer")] == ["Ada Busy"]
