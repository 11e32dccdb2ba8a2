"""The one queue (flask_qbo.sync.queue): the inbox's own claim, lease, backoff and dead rows, and the outbox through its API.

Times are forced by moving stamps back (a stale ``claimed_at``, an
``available_at`` made due), never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.queue import INBOX
from flask_qbo.sync.queue import LEASE
from flask_qbo.sync.queue import MAX_BACKOFF
from flask_qbo.sync.queue import OUTBOX
from flask_qbo.sync.queue import RetryStrategy
from flask_qbo.sync.queue import worker_id
from flask_qbo.sync.sharing import sharing
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db
from tests.sync.pull.pull_support import pending_event


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def outbox_row(contact_key: str = "1") -> int:
    row = Outbox(tenant_key="acme", contact_key=contact_key)
    db.session.add(row)
    db.session.commit()
    return row.id


def make_due(model: type[Inbox] | type[Outbox]) -> None:
    db.session.query(model).update({"available_at": utcnow()})
    db.session.commit()


def broken_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: t.Any) -> int:
        raise RuntimeError("bad batch")

    monkeypatch.setattr(pull, "_apply_events", broken)


# -- the retry rule ---------------------------------------------------------------------


def test_retry_strategy_doubles_with_jitter_up_to_its_ceiling() -> None:
    strategy = RetryStrategy(max_attempts=3, base_wait=10.0, max_wait=35.0)
    for attempts, ceiling in ((1, 10.0), (2, 20.0), (3, 35.0), (9, 35.0)):
        waits = [strategy.wait(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (attempts, waits)
    assert len({strategy.wait(1) for _ in range(20)}) > 1  # jittered
    assert not strategy.exhausted(2) and strategy.exhausted(3)


# -- the inbox --------------------------------------------------------------------------


def test_inbox_failed_batch_backs_off_then_dies_by_the_config(ctx: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx.config["QBO_INBOX_MAX_ATTEMPTS"] = 3
    ctx.config["QBO_INBOX_RETRY_WAIT"] = 100
    broken_batches(monkeypatch)
    event_id = pending_event()
    waits = []
    for attempt in (1, 2):
        before = utcnow()
        assert pull.process(get_qbo()) == 0
        row = db.session.get(Inbox, event_id)
        assert (row.status, row.attempts, row.claimed_at, row.processed_at) == ("pending", attempt, None, None)
        assert row.last_error == "RuntimeError: bad batch"
        waits.append((row.available_at - before).total_seconds())
        assert pull.pending_count(get_qbo()) == 0  # waiting out its backoff
        assert pull.process(get_qbo()) == 0 and db.session.get(Inbox, event_id).attempts == attempt  # not taken
        make_due(Inbox)
    assert 50 - 1 <= waits[0] <= 100 + 1 and 100 - 1 <= waits[1] <= 200 + 1, waits
    pull.process(get_qbo())
    row = db.session.get(Inbox, event_id)
    assert (row.status, row.attempts) == ("failed", 3)  # dead: out of attempts
    assert row.processed_at is not None
    make_due(Inbox)
    pull.process(get_qbo())
    assert db.session.get(Inbox, event_id).attempts == 3  # never retried on its own


def test_inbox_reclaims_a_dead_workers_claim_once_its_lease_ran_out(ctx: t.Any) -> None:
    event_id = pending_event()
    assert INBOX.claim_many(db.session, [Inbox.realm_id == TEST_REALM], 10, utcnow(), "dead-worker") == [event_id]
    assert pull.pending_count(get_qbo()) == 0
    pull.process(get_qbo())
    row = db.session.get(Inbox, event_id)
    assert (row.status, row.claimed_by, row.attempts) == ("in_progress", "dead-worker", 1)  # the lease holds
    assert not INBOX.claim(db.session, event_id, utcnow(), "rival")
    db.session.query(Inbox).update({"claimed_at": utcnow() - LEASE - dt.timedelta(seconds=1)})
    db.session.commit()
    assert pull.pending_count(get_qbo()) == 1
    pull.process(get_qbo())
    row = db.session.get(Inbox, event_id)
    assert (row.status, row.claimed_by, row.attempts) == ("done", worker_id(), 2)


def test_inbox_row_claimed_by_an_older_version_is_claimed_again(ctx: t.Any) -> None:
    """Before the inbox had its own claim stamp, a claim set only processed_at: no worker can still hold it."""
    event_id = pending_event()
    db.session.query(Inbox).update(
        {"status": "in_progress", "processed_at": utcnow(), "claimed_at": None, "attempts": 1}
    )
    db.session.commit()
    assert pull.pending_count(get_qbo()) == 1
    pull.process(get_qbo())
    row = db.session.get(Inbox, event_id)
    assert (row.status, row.claimed_by, row.attempts) == ("done", worker_id(), 2)


def test_inbox_put_back_without_an_error_clears_the_old_one(ctx: t.Any) -> None:
    event_id = pending_event()
    db.session.query(Inbox).update({"last_error": "Waiting for a reconnect: expired"})
    db.session.commit()
    assert INBOX.claim_many(db.session, [Inbox.realm_id == TEST_REALM], 10, utcnow(), "w1") == [event_id]
    INBOX.release(db.session, [event_id], delay=0.0, attempts_back=True)
    row = db.session.get(Inbox, event_id)
    assert (row.status, row.last_error, row.attempts) == ("pending", None, 0)


def test_inbox_claim_stamp_is_not_processed_at(ctx: t.Any) -> None:
    event_id = pending_event()
    now = utcnow()
    assert INBOX.claim_many(db.session, [Inbox.realm_id == TEST_REALM], 10, now, "w1") == [event_id]
    row = db.session.get(Inbox, event_id)
    assert (row.claimed_at, row.claimed_by, row.processed_at) == (now, "w1", None)
    # An old processed_at says nothing about the claim: a live claim is not taken over.
    db.session.query(Inbox).update({"processed_at": now - 10 * LEASE})
    db.session.commit()
    assert INBOX.claim_many(db.session, [Inbox.realm_id == TEST_REALM], 10, utcnow(), "w2") == []
    INBOX.settle(db.session, INBOX.held([event_id]), "done", None)
    db.session.commit()
    row = db.session.get(Inbox, event_id)
    assert row.status == "done" and row.processed_at > now and row.claimed_by == "w1"


def test_inbox_wait_for_a_reconnect_spends_no_attempt(ctx: t.Any) -> None:
    ctx.config["QBO_INBOX_RETRY_WAIT"] = 40
    event_id = pending_event()
    [claimed] = INBOX.claim_many(db.session, [Inbox.realm_id == TEST_REALM], 10, utcnow(), "w1")
    before = utcnow()
    INBOX.release(db.session, [claimed], delay=INBOX.strategy().base_wait, error="waiting", attempts_back=True)
    row = db.session.get(Inbox, event_id)
    assert (row.status, row.attempts, row.last_error, row.claimed_at) == ("pending", 0, "waiting", None)
    assert 39 <= (row.available_at - before).total_seconds() <= 41


# -- the outbox through the queue API ---------------------------------------------------


def test_outbox_claims_keep_contact_order_and_the_lease(ctx: t.Any) -> None:
    first, second, other = outbox_row("1"), outbox_row("1"), outbox_row("2")
    assert db.session.get(Outbox, second).status == "pending"
    now = utcnow()
    assert OUTBOX.claim_many(db.session, [Outbox.tenant_key == "acme"], 30, now, "w1") == [first, other]
    assert OUTBOX.claim_many(db.session, [Outbox.tenant_key == "acme"], 30, now, "w2") == []
    db.session.query(Outbox).filter(Outbox.id == first).update({"claimed_at": now - LEASE - dt.timedelta(seconds=1)})
    db.session.commit()
    assert OUTBOX.claim_many(db.session, [Outbox.tenant_key == "acme"], 30, utcnow(), "w3") == [first]
    row = db.session.get(Outbox, first)
    assert (row.status, row.attempts, row.claimed_by) == ("in_progress", 2, "w3")


def test_outbox_release_backoff_and_attempt_limit(ctx: t.Any) -> None:
    ctx.config["QBO_OUTBOX_MAX_ATTEMPTS"] = 2
    row_id = outbox_row()
    edited = db.session.get(Outbox, row_id).updated_at
    assert OUTBOX.claim(db.session, row_id, utcnow(), "w1")
    assert 0.5 <= OUTBOX.backoff(db.session, row_id) <= 1.0 and not OUTBOX.exhausted(db.session, row_id)
    OUTBOX.defer(db.session, Outbox.tenant_key == "acme", 60.0)
    db.session.commit()
    OUTBOX.release(db.session, row_id, delay=1.0, error=RuntimeError("boom"))
    row = db.session.get(Outbox, row_id)
    assert (row.status, row.claimed_at, row.last_error) == ("pending", None, "boom")
    assert (row.available_at - utcnow()).total_seconds() > 50  # releasing never makes a row due sooner
    assert row.updated_at == edited  # bookkeeping keeps the time of the CRM edit
    make_due(Outbox)
    assert OUTBOX.claim(db.session, row_id, utcnow(), "w1")
    assert 1.0 <= OUTBOX.backoff(db.session, row_id) <= 2.0 and OUTBOX.exhausted(db.session, row_id)
    assert OUTBOX.strategy().max_wait == MAX_BACKOFF


def test_shared_claims_tell_the_runner_when_rows_are_left_and_batches_stay_whole(ctx: t.Any) -> None:
    """Issue 16: under ``sharing`` a claim that leaves rows calls ``left_more`` (the runner sends a worker there).

    The outbox's batch claims take whole batches (``split=False``): halved, a
    backlog of 40 went out as batches of 20, 10, 5, ... each costing the
    requests of a full one.
    """
    told: list[object] = []
    for n in range(40):
        outbox_row(str(n))
    where = [Outbox.tenant_key == "acme"]
    with sharing(2, told.append):
        sizes = []
        while claimed := OUTBOX.claim_many(db.session, where, 30, utcnow(), "w", split=False):
            sizes.append(len(claimed))
        assert sizes == [30, 10]
        assert told == [OUTBOX]  # a full batch may leave more; 10 of 30 left nothing
        told.clear()
        for n in range(100):
            pending_event(n)
        sizes = []
        while claimed := INBOX.claim_many(db.session, [Inbox.realm_id == TEST_REALM], 1000, utcnow(), "w"):
            sizes.append(len(claimed))
        # Split: the rest is left for another worker, down to INBOX.least_share (25): each claim of events costs
        # a QBO read whatever its size, and halving on (13, 6, 3, 2, 1) made a flood's end five reads long.
        assert sizes == [50, 25, 25]
        assert told == [INBOX, INBOX]  # told while rows were left, not at the last one
