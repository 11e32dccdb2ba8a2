"""The Celery runner without services: wake-ups, task bodies and the beat schedule.

The integration tests (tests/integration/test_celery.py) run real workers on
PostgreSQL and Redis; these check the glue in-process, with the in-memory
broker and the in-process emulator.
"""

from __future__ import annotations

import logging
import typing as t

import pytest
from celery import Celery

from flask_qbo.config import cdc_interval
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.runners import celery as qbo_celery
from flask_qbo.runners.celery import CDC_TASK
from flask_qbo.runners.celery import PULL_TASK
from flask_qbo.runners.celery import PUSH_TASK
from flask_qbo.runners.celery import UPKEEP_TASK
from flask_qbo.runners.celery import CeleryRunner
from flask_qbo.runners.celery import beat_schedule
from flask_qbo.runners.celery import celery_init_app
from flask_qbo.runners.celery import wake
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.hostapp import Contact
from tests.hostapp import db
from tests.hostapp import make_app


@pytest.fixture
def celery_app(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[tuple[t.Any, Celery, list[tuple[str, dict]]]]:
    """The host app with ``QBO_RUNNER = "celery"``, its Celery app, and the tasks it sent."""
    app = make_app(
        f"sqlite:///{tmp_path / 'crm.sqlite'}",
        QBO_RUNNER="celery",
        QBO_CELERY_SWEEP_INTERVAL=15,
        CELERY={"broker_url": "memory://"},
    )
    attach_emulator(app, emulator)
    celery = celery_init_app(app)
    sent: list[tuple[str, dict]] = []
    celery.send_task = lambda name, **options: sent.append((name, options))  # type: ignore[method-assign]
    yield app, celery, sent


def test_the_runner_is_attached_and_a_commit_sends_a_push(celery_app: t.Any, emulator: t.Any) -> None:
    app, _, sent = celery_app
    assert isinstance(get_qbo(app).state(app).runner, CeleryRunner)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    sent.clear()
    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Ada", last_name="Wake"))
        db.session.commit()
        contact = db.session.query(Contact).one()
        contact.lead_score = 5  # not synced: no outbox row, no task
        db.session.commit()
    assert sent == [(PUSH_TASK, {"kwargs": {"slot": True}, "expires": qbo_celery.WAKE_EXPIRES, "retry": False})]


def test_each_reason_sends_its_tasks(celery_app: t.Any) -> None:
    app, _, sent = celery_app
    assert wake(app, "webhook") == [PULL_TASK]
    assert wake(app, "reconnected") == [PUSH_TASK, CDC_TASK]
    assert wake(app, "retry") == [PUSH_TASK]
    assert [name for name, _ in sent] == [PULL_TASK, PUSH_TASK, CDC_TASK, PUSH_TASK]


def test_a_customer_read_queued_by_a_push_wakes_the_pull(celery_app: t.Any) -> None:
    app, _, _ = celery_app
    assert wake(app, "inbox") == [PULL_TASK]


def test_a_broker_outage_never_breaks_the_caller(celery_app: t.Any, caplog: pytest.LogCaptureFixture) -> None:
    app, celery, _ = celery_app

    def down(name: str, **options: t.Any) -> None:
        raise ConnectionRefusedError("broker unreachable")

    celery.send_task = down  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="flask_qbo.runners.celery"):
        assert wake(app, "outbox") == []
    assert "next beat sweep" in caplog.text


def test_tasks_run_the_engine_inside_the_app_context(celery_app: t.Any, emulator: t.Any) -> None:
    app, celery, _ = celery_app
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Ada", last_name="Task", email="ada@task.test"))
        db.session.commit()
    assert celery.tasks[PUSH_TASK].apply().get() == 1  # called with no app context of its own
    with app.app_context():
        assert db.session.query(Outbox).one().status == "done"
        assert db.session.query(Customer).one().contact_key is not None
        db.session.commit()
    assert [c["DisplayName"] for c in emulator.store.list(TEST_REALM, "Customer")] == ["Ada Task"]
    assert celery.tasks[PULL_TASK].apply().get() == 0
    # An edit in QBO that no webhook announces: only the CDC poll brings it to the contact.
    (customer,) = emulator.store.list(TEST_REALM, "Customer")
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "FamilyName": "Polled"},
    )
    assert celery.tasks[CDC_TASK].apply().get() == 1
    with app.app_context():
        assert db.session.query(Contact).one().last_name == "Polled"
        assert db.session.query(Outbox).filter(Outbox.status != "done").count() == 0  # pulled, not echoed
        db.session.query(Connection).one().access_expires_at = utcnow()  # a token to refresh: upkeep has work
        db.session.commit()
    assert celery.tasks[UPKEEP_TASK].apply().get() == 1  # one connection checked


def test_a_hosts_own_celery_app_gets_the_tasks_and_the_context(tmp_path: t.Any, emulator: t.Any) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'crm.sqlite'}", QBO_RUNNER="celery")
    attach_emulator(app, emulator)
    host = Celery("host-crm", broker="memory://")
    host.conf.beat_schedule = {"flask-qbo-cdc": {"task": CDC_TASK, "schedule": 5.0}, "mine": {"task": "x"}}
    assert celery_init_app(app, host) is host and app.extensions["celery"] is host
    assert host.conf.beat_schedule["flask-qbo-cdc"]["schedule"] == 5.0  # the host's entry wins
    assert {"mine", "flask-qbo-push-sweep", "flask-qbo-upkeep"} <= set(host.conf.beat_schedule)
    assert host.tasks[PUSH_TASK].apply().get() == 0  # plain Task class: the context comes from celery_init_app


def test_the_beat_schedule_covers_every_task(celery_app: t.Any) -> None:
    app, _, _ = celery_app
    schedule = beat_schedule(app)
    assert {entry["task"] for entry in schedule.values()} == {PUSH_TASK, PULL_TASK, CDC_TASK, UPKEEP_TASK}
    assert schedule["flask-qbo-push-sweep"]["schedule"] == 15.0
    assert schedule["flask-qbo-cdc"]["schedule"] <= 15.0
    assert all(entry["options"]["expires"] == entry["schedule"] for entry in schedule.values())


def test_a_long_drain_hands_the_rest_to_a_new_task(celery_app: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, celery, sent = celery_app
    monkeypatch.setattr(qbo_celery, "DRAIN_BUDGET", 0.0)
    monkeypatch.setattr("flask_qbo.sync.push.push.process", lambda qbo, limit: limit)  # always a full chunk
    monkeypatch.setattr("flask_qbo.sync.push.push.due_count", lambda qbo: 1)  # and always more due
    assert celery.tasks[PUSH_TASK].apply(kwargs={"slot": True}).get() == qbo_celery.PUSH_CHUNK
    assert sent == [
        (PUSH_TASK, {"kwargs": {"slot": True, "among": None}, "expires": qbo_celery.WAKE_EXPIRES})
    ]  # the slot goes along


def test_due_count_counts_only_connected_tenants_rows_that_are_due(celery_app: t.Any, emulator: t.Any) -> None:
    from flask_qbo.models import utcnow
    from flask_qbo.sync.push import push

    app, _, _ = celery_app
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        db.session.add_all(
            [
                Outbox(tenant_key="acme", contact_key="1"),
                Outbox(tenant_key="acme", contact_key="2"),
                Outbox(tenant_key="acme", contact_key="3", status="done"),
                Outbox(tenant_key="globex", contact_key="4"),
            ]
        )  # globex is not connected
        db.session.add(
            Outbox(tenant_key="acme", contact_key="5", available_at=utcnow().replace(year=utcnow().year + 1))
        )  # backing off
        db.session.commit()
        assert push.due_count(get_qbo(app)) == 2


def test_a_pull_backlog_gives_a_push_its_turn_after_one_batch(
    celery_app: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker busy with a flood of events: an edit made meanwhile goes out after the current batch.

    Its push task waits behind the pull task in the queue (here it is only
    recorded in ``sent``), so the pull task itself must give the outbox a turn.
    """
    from flask_qbo.models import Connection
    from flask_qbo.models import utcnow
    from flask_qbo.sync.pull import pull
    from flask_qbo.sync.push import push
    from tests.sync.pull.pull_support import edit_phone
    from tests.sync.pull.pull_support import linked_contact
    from tests.sync.pull.pull_support import missing_customer_events
    from tests.sync.pull.pull_support import phone_in_qbo

    app, celery, sent = celery_app
    app.config["QBO_CDC_INTERVAL"] = 3600
    connect_tenant(app, emulator, "acme", TEST_REALM)
    contact_id, customer_id = linked_contact(app, emulator)
    missing_customer_events(app, 2_500)  # three batches of at most 1,000
    with app.app_context():
        db.session.query(Connection).update({"last_cdc_at": utcnow()})
        db.session.commit()
    turns: list[tuple[str, int]] = []
    real_pull, real_push = pull.process, push.process

    def pull_turn(qbo: t.Any, limit: int = pull.BATCH) -> int:
        if not turns:
            edit_phone(app, contact_id, "555-0199")  # while the first batch is applied
        turns.append(("pull", limit))
        return real_pull(qbo, limit=limit)

    def push_turn(qbo: t.Any, limit: int = qbo_celery.PUSH_CHUNK) -> int:
        handled = real_push(qbo, limit=limit)
        turns.append(("push", handled))
        return handled

    monkeypatch.setattr(pull, "process", pull_turn)
    monkeypatch.setattr(push, "process", push_turn)
    sent.clear()
    celery.tasks[PULL_TASK].apply().get()
    assert turns[:2] == [("pull", pull.BATCH), ("push", 1)]
    assert phone_in_qbo(emulator, customer_id) == "555-0199"
    with app.app_context():
        left = pull.pending_count(get_qbo(app))
    # The whole backlog is worked off, by this task or by the one it handed the rest to.
    assert (
        left == 0 or (PULL_TASK, {"kwargs": {"slot": False, "among": None}, "expires": qbo_celery.WAKE_EXPIRES}) in sent
    )
    assert all(queue == "pull" for queue, _ in turns[2:])  # the outbox gets a turn only when rows are due


def test_a_pull_task_whose_batch_is_put_back_ends_without_queueing_itself(
    celery_app: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QBO refuses the batch's read (403): the task stops after one try instead of looping and re-queueing."""
    from flask_qbo.models import Connection
    from flask_qbo.models import Inbox
    from flask_qbo.models import utcnow
    from flask_qbo.sync.pull import pull
    from tests.sync.pull.pull_support import missing_customer_events

    app, celery, sent = celery_app
    connect_tenant(app, emulator, "acme", TEST_REALM)
    missing_customer_events(app, 3)
    with app.app_context():
        db.session.query(Connection).update({"last_cdc_at": utcnow()})
        db.session.commit()
    emulator.faults.fail_next(n=100, status=403, code="3100", path_contains="/query")
    batches = []
    real = pull.process
    monkeypatch.setattr(pull, "process", lambda qbo, limit: batches.append(limit) or real(qbo, limit=limit))
    sent.clear()
    celery.tasks[PULL_TASK].apply().get()
    assert batches == [pull.BATCH]  # one claim takes all 3 (a rest under INBOX.least_share is not left), tried once
    assert PULL_TASK not in [name for name, _ in sent], sent
    with app.app_context():
        assert {row.status for row in db.session.query(Inbox)} == {"pending"}


def test_the_cdc_sweep_shares_the_due_companies_out_over_the_workers(
    celery_app: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, celery, sent = celery_app
    monkeypatch.setattr(qbo_celery, "CDC_SHARE", 2)
    realms = [str(9_130_360_000_000_000 + n) for n in range(5)]
    for n, realm in enumerate(realms):
        emulator.add_company(realm, f"Company {n}")
        connect_tenant(app, emulator, f"t{n}", realm)
    polled: list[int] = []
    real = qbo_celery.pull.poll_cdc

    def counting(qbo: t.Any, connection: Connection) -> int:
        polled.append(connection.id)
        return real(qbo, connection)

    monkeypatch.setattr(qbo_celery.pull, "poll_cdc", counting)
    assert celery.tasks[CDC_TASK].apply().get() == 5  # five companies due
    # One share polled by the sweep itself, the other two queued for whichever workers are free.
    assert len(polled) == 2
    assert [name for name, _ in sent] == [qbo_celery.CDC_POLL_TASK, qbo_celery.CDC_POLL_TASK]
    shares = [options["args"][0] for _, options in sent]
    assert [len(share) for share in shares] == [2, 1]
    with app.app_context():
        interval = cdc_interval()
    assert [options["expires"] for _, options in sent] == [interval, interval]
    assert sorted(polled + shares[0] + shares[1]) == sorted(set(polled + shares[0] + shares[1]))
    for share in shares:
        celery.tasks[qbo_celery.CDC_POLL_TASK].apply(args=[share]).get()
    assert len(polled) == 5
    # A share handed out twice (a sweep while the first copy waited in the queue) polls nothing again.
    celery.tasks[qbo_celery.CDC_POLL_TASK].apply(args=[shares[0]]).get()
    assert len(polled) == 5
    with app.app_context():
        assert all(c.last_cdc_at is not None for c in db.session.query(Connection))
