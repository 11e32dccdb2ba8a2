"""Thread runner: woken by commits, survives job errors, stops cleanly; CLI commands."""

from __future__ import annotations

import time
import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo.models import Connection
from flask_qbo.models import utcnow
from flask_qbo.runners import thread as runner
from flask_qbo.state import wake
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.hostapp import Contact
from tests.hostapp import db
from tests.hostapp import make_app


@pytest.fixture
def threaded(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'threaded.sqlite'}", QBO_RUNNER="thread")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    yield app
    runner.stop(app)


def wait_for(check: t.Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_commit_wakes_runner_and_pushes(threaded: t.Any, emulator: t.Any) -> None:
    with threaded.app_context():
        state = get_qbo().state()
        assert isinstance(state.runner, runner.ThreadRunner) and not state.runner.alive
        db.session.add(Contact(tenant="acme", first_name="Ann", last_name="Lee"))
        db.session.commit()
    assert wait_for(lambda: len(emulator.store.list(TEST_REALM, "Customer")) == 1)
    assert state.runner.alive


def test_runner_survives_a_failing_job(threaded: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    calls = {"n": 0}
    real = push.process

    def flaky(*args: t.Any, **kw: t.Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(*args, **kw)

    monkeypatch.setattr(push, "process", flaky)
    with threaded.app_context():
        db.session.add(Contact(tenant="acme", first_name="Bo"))
        db.session.commit()
        state = get_qbo().state()
        assert wait_for(lambda: state.runner.errors >= 1)
        wake()
    assert wait_for(lambda: len(emulator.store.list(TEST_REALM, "Customer")) == 1)


def test_stop_joins_thread(threaded: t.Any) -> None:
    with threaded.app_context():
        wake()
        state = get_qbo().state()
        the_runner = state.runner
        assert wait_for(lambda: the_runner.loops >= 1)
    runner.stop(threaded)
    assert not the_runner.alive
    assert get_qbo(threaded).state(threaded).runner is None
    wake(threaded)  # no runner: a no-op, never an error


def test_runner_none_has_no_runner(app: t.Any) -> None:
    with app.app_context():
        assert get_qbo().state().runner is None
        wake()


def test_cli_push(app: t.Any, connected: t.Any, emulator: t.Any) -> None:
    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Cy"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "push"])
    assert result.exit_code == 0, result.output
    assert "pushed 1 row(s); outbox: done=1" in result.output
    assert len(emulator.store.list(TEST_REALM, "Customer")) == 1


def test_cli_push_goes_on_after_a_short_round(
    app: t.Any, connected: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round may stop short of ``--limit`` with rows due (a burst left to the next round's batches)."""
    real = push.process
    rounds: list[int] = []

    def process(qbo: t.Any, limit: int = 100) -> int:
        rounds.append(limit)
        return real(qbo, limit=2 if len(rounds) == 1 else limit)  # the first round stops after two rows

    monkeypatch.setattr(push, "process", process)
    with app.app_context():
        db.session.add_all(Contact(tenant="acme", first_name=f"Cy{i}") for i in range(4))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "push"])
    assert result.exit_code == 0, result.output
    assert "pushed 4 row(s); outbox: done=4" in result.output
    assert len(rounds) == 3  # 2 rows, the other 2, then an empty round


def test_worker_loop_runs_until_stopped(app: t.Any, connected: t.Any, emulator: t.Any) -> None:
    import threading

    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Di"))
        db.session.commit()
    loop = runner.ThreadRunner(app, poll_interval=0.05)
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        assert wait_for(lambda: len(emulator.store.list(TEST_REALM, "Customer")) == 1)
    finally:
        loop.stop()
        thread.join(2)
    assert not thread.is_alive()


def test_a_push_goes_out_after_at_most_one_batch_of_a_pull_backlog(
    app: t.Any, connected: t.Any, emulator: t.Any, monkeypatch: t.Any
) -> None:
    """A flood of events for missing customers, and a CRM edit made while the first batch is applied.

    The rounds are run by hand (no thread): the order of the turns is the
    runner's, not the scheduler's.
    """
    from flask_qbo.sync.pull import pull
    from tests.sync.pull.pull_support import edit_phone
    from tests.sync.pull.pull_support import linked_contact
    from tests.sync.pull.pull_support import missing_customer_events
    from tests.sync.pull.pull_support import phone_in_qbo

    contact_id, customer_id = linked_contact(app, emulator)
    missing_customer_events(app, 2_500)  # three batches of at most 1,000
    app.config["QBO_CDC_INTERVAL"] = 3600
    with app.app_context():  # a CDC poll would cover the events of its window: keep it out of the way
        db.session.query(Connection).update({"last_cdc_at": utcnow()})
        db.session.commit()
    turns: list[tuple[str, int, int]] = []  # (queue, rows handled / batch number, QBO requests so far)
    real_pull, real_push = pull.process, push.process

    def pull_turn(qbo: t.Any, limit: int = pull.BATCH) -> int:
        if not turns:
            edit_phone(app, contact_id, "555-0142")  # while the backlog is being worked on
        turns.append(("pull", limit, emulator.counters[TEST_REALM]["requests"]))
        return real_pull(qbo, limit=limit)

    def push_turn(qbo: t.Any, limit: int) -> int:
        handled = real_push(qbo, limit=limit)
        if handled:
            turns.append(("push", handled, emulator.counters[TEST_REALM]["requests"]))
        return handled

    monkeypatch.setattr(pull, "process", pull_turn)
    monkeypatch.setattr(push, "process", push_turn)
    emulator.reset_counters()
    loop = runner.ThreadRunner(app, poll_interval=30.0)
    waits = []
    with app.app_context():
        for _ in range(10):
            waits.append(loop.run_once())
            if waits[-1]:
                break
    assert [queue for queue, *_ in turns] == ["pull", "push", "pull", "pull"]
    assert turns[1][1] == 1 and phone_in_qbo(emulator, customer_id) == "555-0142"
    assert turns[1][2] - turns[0][2] == 2  # one bulk read for the batch, then the push itself
    assert waits == [0.0, 0.0, 30.0]  # no sleep while events were left
    with app.app_context():
        assert pull.pending_count(get_qbo()) == 0


@pytest.mark.parametrize("fault", ["forbidden", "server error"])
def test_events_a_failing_batch_put_back_wait_instead_of_spinning_the_runner(
    app: t.Any, connected: t.Any, emulator: t.Any, fault: str
) -> None:
    """A 403 (no reconnect on the pull side) or a 500 puts the batch back: the next round waits.

    Before, the runner went straight round again while any event was pending,
    sending one QBO request per round at full speed, and spent the five
    attempts of a transient failure back to back.
    """
    from flask_qbo.sync.pull import pull
    from tests.sync.pull.pull_support import missing_customer_events

    missing_customer_events(app, 3)
    app.config["QBO_CDC_INTERVAL"] = 3600
    with app.app_context():
        db.session.query(Connection).update({"last_cdc_at": utcnow()})
        db.session.commit()
    if fault == "forbidden":
        emulator.faults.fail_next(n=100, status=403, code="3100", path_contains="/query")
    else:
        emulator.faults.fail_next(n=100, status=500, path_contains="/query")
    emulator.reset_counters()
    loop = runner.ThreadRunner(app, poll_interval=30.0, upkeep_interval=3600.0)
    with app.app_context():
        waits = [loop.run_once() for _ in range(3)]
        assert pull.pending_count(get_qbo()) == 0  # put back, not yet due again
    assert waits == [30.0, 30.0, 30.0]
    requests = emulator.counters[TEST_REALM]["requests"]
    assert 1 <= requests <= 1 + 4  # the batch's read (and the client's own retries), once
    with app.app_context():
        from flask_qbo.models import Inbox

        assert {row.status for row in db.session.query(Inbox)} == {"pending"}
        # Once the wait is over the events are taken again, and go through when QBO answers.
        emulator.faults.clear()
        db.session.query(Inbox).update({"available_at": utcnow()})
        db.session.commit()
        assert pull.pending_count(get_qbo()) == 3
        loop.run_once()
        assert {row.status for row in db.session.query(Inbox)} == {"done"}


def test_a_failing_pull_or_upkeep_is_logged_as_an_error_with_its_traceback(
    app: t.Any, connected: t.Any, monkeypatch: t.Any, caplog: t.Any
) -> None:
    """A bug in pull or upkeep (even a NameError) is an ERROR with its traceback, never a quiet debug line.

    The runner used to swallow any exception from pull and upkeep at debug
    level, so a broken pull would have stopped pulling without a word.
    """
    import logging

    from flask_qbo.connection import upkeep
    from flask_qbo.sync.pull import pull

    def broken(*args: t.Any, **kw: t.Any) -> t.NoReturn:
        raise NameError("name 'cursr' is not defined")

    monkeypatch.setattr(pull, "poll_due", broken)
    monkeypatch.setattr(upkeep, "upkeep", broken)
    loop = runner.ThreadRunner(app, poll_interval=30.0, upkeep_interval=3600.0)
    with caplog.at_level(logging.DEBUG, logger="flask_qbo.runners.thread"), app.app_context():
        assert loop.run_once() == 30.0  # the round finishes; the thread would live on
    failed = [r for r in caplog.records if r.name == "flask_qbo.runners.thread" and r.exc_info]
    assert [(r.levelno, r.exc_info[0]) for r in failed] == [(logging.ERROR, NameError), (logging.ERROR, NameError)]
    assert ["pull.poll_due" in r.getMessage() for r in failed] == [True, False]
    assert "upkeep" in failed[1].getMessage()
    assert loop.errors == 2
