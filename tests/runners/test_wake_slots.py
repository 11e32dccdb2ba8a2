"""Wake-up slots (flask_qbo.runners.debounce) and how the Celery tasks use them.

Issue 16: a push burst of 300 commits sent 300 tasks, 294 of which found
nothing.  Now many wake-ups while a task is queued or running send nothing,
a wake-up after it gave its slot back sends the next one, a slot whose holder
died frees itself after its time-to-live, and a wake-up skipped while a task
ran is never lost: the task looks once more after giving its slot back.
Time is a fake clock; the race is forced by committing inside the task's
last check.
"""

from __future__ import annotations

import typing as t

import pytest
import redis
from celery import Celery

from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.runners import celery as qbo_celery
from flask_qbo.runners.celery import PULL_TASK
from flask_qbo.runners.celery import PUSH_TASK
from flask_qbo.runners.celery import celery_init_app
from flask_qbo.runners.celery import wake
from flask_qbo.runners.debounce import LocalSlots
from flask_qbo.runners.debounce import RedisSlots
from flask_qbo.runners.debounce import Unlimited
from flask_qbo.runners.debounce import install
from flask_qbo.sync.push import batch
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.conftest import REDIS_URL
from tests.conftest import need_service
from tests.hostapp import Contact
from tests.hostapp import db
from tests.hostapp import make_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(
    tmp_path: t.Any, emulator: t.Any
) -> t.Iterator[tuple[t.Any, Celery, list[tuple[str, dict]], LocalSlots, Clock]]:
    """The host app on the Celery runner with in-process slots on a fake clock; sent tasks are recorded."""
    app = make_app(f"sqlite:///{tmp_path / 'crm.sqlite'}", QBO_RUNNER="celery", CELERY={"broker_url": "memory://"})
    attach_emulator(app, emulator)
    celery = celery_init_app(app)
    clock = Clock()
    slots = LocalSlots(ttl=60.0, clock=clock)
    install(app, slots)
    sent: list[tuple[str, dict]] = []
    celery.send_task = lambda name, **options: sent.append((name, options))  # type: ignore[method-assign]
    connect_tenant(app, emulator, "acme", TEST_REALM)
    sent.clear()
    yield app, celery, sent, slots, clock


def _add_contact(app: t.Any, n: int) -> int:
    with app.app_context():
        contact = Contact(tenant="acme", first_name=f"Slot{n}", last_name="Test", email=f"slot{n}@wake.test")
        db.session.add(contact)
        db.session.commit()
        return int(contact.id)


def _add_event(app: t.Any, n: int) -> None:
    with app.app_context():
        db.session.add(
            Inbox(event_id=f"e{n}", realm_id=TEST_REALM, entity="Customer", entity_id="999", operation="Update")
        )
        db.session.commit()


def _recorded_claims(monkeypatch: pytest.MonkeyPatch, after: t.Callable[[], None] = lambda: None) -> list[int]:
    """The sizes of the batch claims made from now on (claims of nothing left out); ``after`` runs after each."""
    from flask_qbo.sync import queue as sync_queue

    claims: list[int] = []
    real_claim_many = sync_queue.Queue.claim_many

    def claim_many(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        claimed = real_claim_many(self, *args, **kwargs)
        if claimed:
            claims.append(len(claimed))
        after()
        return claimed

    monkeypatch.setattr(sync_queue.Queue, "claim_many", claim_many)
    return claims


def _linked(app: t.Any) -> set[int]:
    with app.app_context():
        keys = {int(c.contact_key) for c in db.session.query(Customer).filter(Customer.contact_key.isnot(None))}
        db.session.commit()
        return keys


def test_many_wakes_while_a_task_is_queued_send_one_task(stack: t.Any) -> None:
    app, _, sent, slots, _ = stack
    for n in range(5):
        _add_contact(app, n)  # each commit wakes the runner
    wake(app, "webhook")
    wake(app, "webhook")
    assert [name for name, _ in sent] == [PUSH_TASK, PULL_TASK]
    assert slots.held(PUSH_TASK) == slots.held(PULL_TASK) == 1


def test_a_wake_after_the_task_gave_its_slot_back_sends_another(stack: t.Any) -> None:
    app, celery, sent, slots, _ = stack
    first = _add_contact(app, 1)
    assert [name for name, _ in sent] == [PUSH_TASK]
    celery.tasks[PUSH_TASK].apply(kwargs=sent[0][1]["kwargs"]).get()  # the worker runs it
    assert _linked(app) == {first} and slots.held(PUSH_TASK) == 0
    sent.clear()
    _add_contact(app, 2)
    assert [name for name, _ in sent] == [PUSH_TASK]


def test_a_slot_whose_task_never_ran_frees_itself_after_its_window(stack: t.Any) -> None:
    app, _, sent, slots, clock = stack
    wake(app, "retry")
    wake(app, "retry")
    assert len(sent) == 1  # the task is lost (a worker killed before it ran): nobody gives the slot back
    clock.now += 59.0
    wake(app, "retry")
    assert len(sent) == 1
    clock.now += 2.0  # past the slot's time-to-live
    wake(app, "retry")
    assert len(sent) == 2


def test_a_wake_skipped_while_the_task_ran_is_picked_up_by_its_last_look(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second commit lands after the task's last ``due_count`` said "nothing", before it gave its slot back."""
    app, celery, sent, slots, _ = stack
    first = _add_contact(app, 1)
    [(_, options)] = sent
    later: list[int] = []
    real_due = push.due_count

    def due_then_commit(qbo: t.Any = None) -> int:
        count = real_due(qbo)
        if count == 0 and not later:
            later.append(_add_contact(app, 2))  # its wake-up finds the slot held: no task
        return count

    monkeypatch.setattr(push, "due_count", due_then_commit)
    sent.clear()
    celery.tasks[PUSH_TASK].apply(kwargs=options["kwargs"]).get()
    assert sent == []  # the second commit's wake-up was skipped...
    assert _linked(app) == {first, *later}  # ...and the same task pushed it anyway
    assert slots.held(PUSH_TASK) == 0


@pytest.mark.parametrize(("due_rows", "fans_out"), [(70, True), (40, False)])
def test_a_backlog_fans_out_to_one_more_worker_and_a_trickle_does_not(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch, due_rows: int, fans_out: bool
) -> None:
    """Issue 16: 40 rows due are two batches, which one worker takes in turn (the second worker would find
    fewer than a batch left and leave it, :func:`test_a_push_task_leaves_fewer_than_a_batch_to_the_running_one`)."""
    app, celery, sent, slots, _ = stack
    steps = iter([30, 30, 0])  # a backlog: rows are still due after each of the first steps
    monkeypatch.setattr(push, "process", lambda qbo, limit: next(steps, 0))
    monkeypatch.setattr(push, "due_count", lambda qbo=None: due_rows)
    celery.tasks[PUSH_TASK].apply(kwargs={"slot": slots.take(PUSH_TASK, 1)}).get()
    if not fans_out:
        assert sent == [] and slots.held(PUSH_TASK) == 0
        return
    assert sent == [
        (PUSH_TASK, {"kwargs": {"slot": True, "among": 1}, "expires": qbo_celery.WAKE_EXPIRES})
    ]  # QBO_CELERY_CONCURRENCY 2
    assert slots.held(PUSH_TASK) == 1  # the second worker's
    slots.give_back(PUSH_TASK)
    sent.clear()
    steps = iter([1, 0])
    due = iter([0, 0])
    monkeypatch.setattr(push, "due_count", lambda qbo=None: next(due, 0))
    celery.tasks[PUSH_TASK].apply(kwargs={"slot": slots.take(PUSH_TASK, 1)}).get()
    assert sent == [] and slots.held(PUSH_TASK) == 0


@pytest.mark.parametrize(("pending", "fans_out"), [(30, False), (50, True)])
def test_a_pull_task_sends_another_only_for_events_its_next_claim_would_leave(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch, pending: int, fans_out: bool
) -> None:
    """Issue 16: 30 events are one claim (a rest under ``INBOX.least_share`` is taken whole), so a second
    pull task sent for them found nothing; 50 are shared, 25 each."""
    from flask_qbo.sync.pull import pull

    app, celery, sent, slots, _ = stack
    steps = iter([10, 0])
    due = iter([pending, 0])
    monkeypatch.setattr(pull, "process", lambda qbo, limit: next(steps, 0))
    monkeypatch.setattr(pull, "pending_count", lambda qbo=None: next(due, 0))
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 1)}).get()
    assert [name for name, _ in sent] == ([PULL_TASK] if fans_out else [])


@pytest.mark.parametrize(("push_running", "fans_out"), [(True, False), (False, True)])
def test_a_pull_claim_that_leaves_events_sends_another_task_only_while_a_worker_is_idle(
    stack: t.Any, push_running: bool, fans_out: bool
) -> None:
    """Issue 16: during a burst, a pull claim that left events sent a task behind the other worker's push
    task; it started once this task had applied every event, and found nothing."""
    app, celery, sent, slots, _ = stack
    for n in range(60):
        _add_event(app, n)
    if push_running:
        assert slots.take(PUSH_TASK, 2)  # the other worker is pushing
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 1)}).get()
    assert [(name, options["kwargs"]) for name, options in sent] == (
        [(PULL_TASK, {"slot": True, "among": 1})] if fans_out else []  # sent for the rest: it takes all of it
    )
    with app.app_context():
        assert db.session.query(Inbox).filter(Inbox.status != "done").count() == 0  # this task applied them all


def test_a_task_sent_for_the_rest_of_a_claim_takes_all_of_it_when_no_other_worker_is_coming(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the second worker sent for the rest of a flood's first claim halved it again, and left a
    quarter of the flood waiting a whole batch for a worker that was not coming (two workers)."""
    app, celery, sent, slots, _ = stack
    for n in range(60):
        _add_event(app, n)
    claims = _recorded_claims(monkeypatch)
    assert slots.take(PULL_TASK, 2)  # the sender's slot: it works on the first share
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 2), "among": 1}).get()
    assert claims[0] == 60 and sent == []


@pytest.mark.parametrize(("other_busy", "expected"), [(True, [60, 60]), (False, [60, 30, 30])])
def test_a_claim_leaves_no_share_for_a_worker_busy_with_its_own(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch, other_busy: bool, expected: list[int]
) -> None:
    """Issue 16: after its first claim, a pull task kept halving what was due for the other worker while that
    worker was busy with a claim of its own: a webhook flood went out in claims of 50, 150, 50, 25 and 25,
    each paying a QuickBooks read.  A worker that holds a slot comes back for more when it is done."""
    app, celery, sent, slots, _ = stack
    for n in range(120):
        _add_event(app, n)
    handed_out = len(sent)

    def after_claim() -> None:
        nonlocal handed_out
        if len(sent) > handed_out:  # the task sent for the rest never starts here: its slot is free again
            slots.give_back(PULL_TASK)
            handed_out = len(sent)

    claims = _recorded_claims(monkeypatch, after_claim)
    if other_busy:
        assert slots.take(PULL_TASK, 2)  # the other worker is applying events of its own
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 2)}).get()
    assert claims == expected


def test_a_backlog_sends_the_second_worker_at_its_first_claim_not_after_the_first_batch(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the second worker was sent only once the first had pushed a whole chunk (four batches)."""
    app, celery, sent, slots, _ = stack
    for n in range(90):
        _add_contact(app, n)
    [(_, options)] = sent  # one wake-up's task for the whole burst
    sent.clear()
    seen_at_first_send: list[int] = []
    real_push_new = batch.push_new

    def push_new(*args: t.Any) -> bool:
        if not seen_at_first_send:
            seen_at_first_send.append(len(sent))
        return bool(real_push_new(*args))

    monkeypatch.setattr(batch, "push_new", push_new)
    assert slots.take(PULL_TASK, 2)  # a short pull task (a webhook's) is queued for the other worker
    celery.tasks[PUSH_TASK].apply(kwargs=options["kwargs"]).get()
    assert seen_at_first_send == [1]  # sent before the first batch of creates went to QBO
    assert sent == [(PUSH_TASK, {"kwargs": {"slot": True, "among": 1}, "expires": qbo_celery.WAKE_EXPIRES})]
    assert len(_linked(app)) == 90  # the task sent is never run here: this one drained the rest


def _claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch claim push tasks make from now on that took rows."""
    claims: list[int] = []
    real_claim_batch = batch.claim_batch

    def claim_batch(*args: t.Any) -> list[int]:
        claimed = real_claim_batch(*args)
        if claimed:
            claims.append(len(claimed))
        return claimed

    monkeypatch.setattr(batch, "claim_batch", claim_batch)
    return claims


def test_a_push_task_leaves_fewer_than_a_batch_to_the_running_one(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: during a burst two push tasks took turns claiming what the CRM had committed since the other's
    last claim, 12 to 17 contacts a batch, where one of them takes the burst in whole batches as it comes."""
    app, celery, sent, slots, _ = stack
    added = {_add_contact(app, n) for n in range(12)}
    [(_, running)] = sent  # the first commit's task: it runs on the other worker
    sent.clear()
    claims = _claims(monkeypatch)
    celery.tasks[PUSH_TASK].apply(kwargs={"slot": slots.take(PUSH_TASK, 2)}).get()  # a second task
    assert (claims, _linked(app), sent) == ([], set(), [])  # left to the running task...
    assert slots.held(PUSH_TASK) == 1  # ...which still holds its slot
    celery.tasks[PUSH_TASK].apply(kwargs=running["kwargs"]).get()
    assert claims == [12] and _linked(app) == added  # one batch
    assert slots.held(PUSH_TASK) == 0


def test_a_task_that_left_its_rows_pushes_them_when_the_running_one_ended_meanwhile(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running task gave its slot back, and made its last look, after the second task saw it running but
    before that one gave its own back: the second task's last look takes the rows."""
    app, celery, sent, slots, _ = stack
    added = {_add_contact(app, n) for n in range(5)}
    real_give_back = slots.give_back

    def give_back(name: str) -> None:
        if name == PUSH_TASK and slots.held(name) == 2:
            real_give_back(name)  # the running task ends: its last look found this task's slot held
        real_give_back(name)

    monkeypatch.setattr(slots, "give_back", give_back)
    celery.tasks[PUSH_TASK].apply(kwargs={"slot": slots.take(PUSH_TASK, 2)}).get()
    assert _linked(app) == added
    assert slots.held(PUSH_TASK) == 0


def test_the_sweep_pushes_fewer_than_a_batch_while_a_killed_workers_slot_is_held(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slot outlives its killed worker by up to ``SLOT_TTL``; the beat sweep covers that time, so its task
    never leaves rows to the task a held slot stands for."""
    app, celery, sent, slots, _ = stack
    added = {_add_contact(app, n) for n in range(5)}
    assert slots.held(PUSH_TASK) == 1  # the first commit's task: its worker was killed
    celery.tasks[PUSH_TASK].apply().get()  # the sweep's task, sent without a slot
    assert _linked(app) == added
    assert slots.held(PUSH_TASK) == 1  # the killed worker's, until it expires


def test_a_full_claim_sends_no_task_for_a_rest_smaller_than_a_batch(
    stack: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 rows: the first claim takes 30 and its task the other 10 next; a second task sent for those 10
    found fewer than a batch while this one ran, and left them (an empty task)."""
    app, celery, sent, slots, _ = stack
    added = {_add_contact(app, n) for n in range(40)}
    [(_, options)] = sent
    sent.clear()
    claims = _claims(monkeypatch)
    celery.tasks[PUSH_TASK].apply(kwargs=options["kwargs"]).get()
    assert sent == [] and claims == [30, 10]
    assert _linked(app) == added


def test_the_outbox_turn_of_a_pull_task_sends_no_pull_task(stack: t.Any) -> None:
    """Only a claim on the task's own queue sends another of it: more outbox rows are no work for a pull task."""
    app, celery, sent, slots, _ = stack
    for n in range(40):
        _add_contact(app, n)
    slots.give_back(PUSH_TASK)  # that push task is lost: a worker is idle, the pull task takes the outbox's turn
    _add_event(app, 1)
    sent.clear()
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 1)}).get()
    assert sent == []
    assert len(_linked(app)) == 40


def test_a_pull_task_leaves_the_outbox_to_a_push_task_while_a_worker_is_free_for_it(stack: t.Any) -> None:
    """Issue 16: during a burst, pull tasks pushed the few rows due after each batch, a request or three each."""
    app, celery, sent, slots, _ = stack
    for n in range(40):
        _add_contact(app, n)
    assert slots.held(PUSH_TASK) == 1  # its task is queued: the other worker runs it
    _add_event(app, 1)
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 1)}).get()
    assert _linked(app) == set()  # left for the push task, which claims whole batches
    slots.take(PULL_TASK, 2)  # now both workers drain events: a queued push task would wait behind them
    _add_event(app, 2)
    celery.tasks[PULL_TASK].apply(kwargs={"slot": slots.take(PULL_TASK, 2)}).get()
    assert len(_linked(app)) == 40


def test_without_redis_every_wake_sends_and_nothing_fans_out(tmp_path: t.Any) -> None:
    slots = Unlimited()
    assert all(slots.take(PUSH_TASK, 1) for _ in range(3))
    assert not slots.take(PUSH_TASK, 2)


def test_redis_slots_are_counted_atomically_and_expire() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        need_service("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    slots = RedisSlots(client, "flask-qbo-test:slots", ttl=30.0)
    key = slots.key(PUSH_TASK)
    client.delete(key)
    try:
        assert [slots.take(PUSH_TASK, 1) for _ in range(3)] == [True, False, False]
        assert slots.take(PUSH_TASK, 2) and not slots.take(PUSH_TASK, 2)
        assert 0 < client.pttl(key) <= 30_000
        slots.give_back(PUSH_TASK)
        slots.give_back(PUSH_TASK)
        slots.give_back(PUSH_TASK)  # never below zero: a slot that expired is not given back twice
        assert client.get(key) is None
        assert slots.take(PUSH_TASK, 1)
        client.delete(key)  # what the time-to-live does to a dead holder's slot
        assert slots.take(PUSH_TASK, 1)
    finally:
        client.delete(key)
        client.close()


def test_redis_out_of_reach_never_stops_a_wake_up(caplog: pytest.LogCaptureFixture) -> None:
    slots = RedisSlots(redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5), "flask-qbo-test:down")
    assert slots.take(PUSH_TASK, 1)  # the task is sent, as without slots
    assert not slots.take(PUSH_TASK, 2)  # but nothing fans out on a guess
    slots.give_back(PUSH_TASK)
    slots.renew(PUSH_TASK)
    assert "Wake-up slots unavailable" in caplog.text
