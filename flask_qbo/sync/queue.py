"""The one owner of both work queues' rules: claim, lease, retry with backoff, attempt limits, dead rows.

``qbo_outbox`` (CRM → QBO, drained by :mod:`flask_qbo.sync.push`) and
``qbo_inbox`` (QBO → CRM, drained by :mod:`flask_qbo.sync.pull`) are queues in
the host's database, worked by any number of threads, processes or Celery
workers at once.  They follow one set of rules, kept here so the two
directions cannot drift apart (the model is Procrastinate's ``JobManager`` and
``RetryStrategy``):

* **Claim** is a compare-and-set ``UPDATE`` (``pending`` → ``in_progress``,
  stamping ``claimed_at``/``claimed_by`` and counting the attempt); on
  PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED`` so concurrent
  workers get disjoint rows, and the UPDATE's own condition stays the arbiter.
* **Lease**: a claim older than :data:`LEASE` belongs to a worker that died
  between claim and answer; the row is claimable again.
* **Release** puts claimed rows back to ``pending``, due after a delay, never
  sooner than a deferral made meanwhile; a put-back that was not the row's
  fault (a reconnect, a missing key) gives the attempt back.
* **Retry** waits grow exponentially with jitter (:class:`RetryStrategy`), and
  a row out of attempts is **dead**: parked for a person, never retried on its
  own (outbox ``dead``, inbox ``failed`` — CDC still covers an inbox event's change).

What a row *means* (a customer write, an event to apply) stays with push and pull.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import dataclasses
import datetime as dt
import os
import random
import socket
import threading
import typing as t
import uuid as uuidlib

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ..config import get_config
from ..models import Inbox
from ..models import InboxStatus
from ..models import Outbox
from ..models import OutboxStatus
from ..models import Status
from ..models import utcnow
from . import sharing

if t.TYPE_CHECKING:
    from flask_sqlalchemy.session import Session as FlaskSession
    from sqlalchemy.orm import Session
    from sqlalchemy.orm import scoped_session

    #: The session sync works in: the host's Flask-SQLAlchemy ``db.session``, or the session it hands out.
    DBSession = Session | scoped_session[FlaskSession]

#: A claim older than this is presumed dead (the worker crashed between claim and answer).
LEASE = dt.timedelta(minutes=5)
#: Longest wait between retries of a row.
MAX_BACKOFF = 600.0
#: Seconds a tenant's outbox rows wait after its tokens could not be decrypted.  Fixing
#: the key takes a restart, so this bounds how long sync lags behind it.
KEY_WAIT = 60.0
#: Outbox states meaning "the CRM holds a change QBO has not seen yet".
UNPUSHED = (OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS, OutboxStatus.FAILED)
#: Outbox states of a row still to be pushed (queued or in flight).
UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS)

#: Inside :func:`raise_errors`: the push and pull handlers raise an unexpected error once they recorded it.
_raising: contextvars.ContextVar[bool] = contextvars.ContextVar("qbo_raise_errors", default=False)


@contextlib.contextmanager
def raise_errors() -> t.Iterator[None]:
    """Raise unexpected errors of the work done inside, instead of only logging them (``push_now``, ``pull_now``).

    A runner must survive a bad row and go on with the others; a test wants
    the error that stopped it.  The row is recorded as a runner would (failed,
    retried later) before the error is raised.
    """
    token = _raising.set(True)
    try:
        yield
    finally:
        _raising.reset(token)


def raising_errors() -> bool:
    """True inside :func:`raise_errors`."""
    return _raising.get()


def worker_id() -> str:
    """Who holds a claim: host, process and thread (shown on the health page)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 100000}"


@dataclasses.dataclass(frozen=True)
class RetryStrategy:
    """How a failed row is retried: exponential backoff with jitter, up to an attempt limit.

    The ``n``-th attempt's wait is drawn from ``[c * (1 - jitter), c]`` with
    ``c = min(max_wait, base_wait * 2 ** (n - 1))``: doubling spaces retries
    out while the cause lasts, and the jitter keeps rows that failed together
    (a QBO outage) from all coming back in the same second.
    """

    #: Claims after which a row that keeps failing is dead.
    max_attempts: int
    #: Seconds of the first retry's wait (before jitter).
    base_wait: float
    #: Longest wait, whatever the attempt.
    max_wait: float = MAX_BACKOFF
    #: Fraction of the wait drawn at random.
    jitter: float = 0.5

    def wait(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        ceiling = min(self.max_wait, self.base_wait * 2.0 ** max(attempts - 1, 0))
        return random.uniform(ceiling * (1 - self.jitter), ceiling)

    def exhausted(self, attempts: int) -> bool:
        """True when a row that failed its ``attempts``-th attempt is dead."""
        return attempts >= self.max_attempts


class Queue(abc.ABC):
    """Claim, lease, release and retry over one queue table (see the module docstring).

    Every method works with Core statements on the table and commits, so a
    claim or a put-back is visible to the other workers at once.

    :param table: the queue's table.
    :param pending, in_progress, dead: the table's statuses for those states.
    """

    #: Fewest due rows a shared claim leaves behind; a smaller rest is taken too (:meth:`claim_many`).
    least_share = 1

    def __init__(self, table: Table, *, pending: Status, in_progress: Status, dead: Status) -> None:
        self.table = table
        self.pending = pending
        self.in_progress = in_progress
        self.dead = dead

    @abc.abstractmethod
    def strategy(self) -> RetryStrategy:
        """The retry rule, read from the app's configuration each time (hosts may change it)."""

    # -- claim and lease ----------------------------------------------------------------

    def lease_ran_out(self, now: dt.datetime) -> ColumnElement[bool]:
        """Claimed by a worker presumed dead: its claim is older than :data:`LEASE`.

        A claim with no stamp counts as expired: every claim made here stamps
        ``claimed_at``, so such a row was claimed by a version that kept its
        claim time elsewhere (the inbox used ``processed_at``), and nobody can
        still be working on it.
        """
        c = self.table.c
        return and_(c.status == self.in_progress, or_(c.claimed_at.is_(None), c.claimed_at < now - LEASE))

    def claimable(self, now: dt.datetime) -> ColumnElement[bool]:
        """Pending, or claimed by a worker whose lease ran out."""
        return or_(self.table.c.status == self.pending, self.lease_ran_out(now))

    def ready(self, now: dt.datetime) -> ColumnElement[bool]:
        """Claimable and due: pending and past its ``available_at``, or its lease ran out."""
        c = self.table.c
        return or_(and_(c.status == self.pending, c.available_at <= now), self.lease_ran_out(now))

    def due(self, where: t.Sequence[ColumnElement[bool]], now: dt.datetime) -> Select[tuple[int]]:
        """``SELECT id`` of the rows matching ``where`` that may be claimed now, oldest first."""
        return select(self.table.c.id).where(*where, self.ready(now)).order_by(self.table.c.id)

    def held(self, ids: t.Collection[int]) -> ColumnElement[bool]:
        """The rows of ``ids`` still claimed (a purge or a lease reclaim may have taken some)."""
        return and_(self.table.c.id.in_(list(ids)), self.table.c.status == self.in_progress)

    def locked(self, session: DBSession, stmt: Select[tuple[int]]) -> Select[tuple[int]]:
        """On PostgreSQL, lock the selected rows ``FOR UPDATE SKIP LOCKED``: concurrent workers get disjoint rows."""
        if session.get_bind().dialect.name == "postgresql":
            return stmt.with_for_update(skip_locked=True, of=self.table)
        return stmt

    def _claimed(self, now: dt.datetime, who: str) -> dict[str, t.Any]:
        c = self.table.c
        return {
            "status": self.in_progress,
            "claimed_at": now,
            "claimed_by": who,
            "attempts": c.attempts + 1,
        }

    def claim(self, session: DBSession, row_id: int, now: dt.datetime, who: str) -> bool:
        """Atomically take one row; False when another worker got it first. Commits."""
        c = self.table.c
        result = session.execute(
            update(self.table).where(c.id == row_id, self.claimable(now)).values(**self._claimed(now, who))
        )
        session.commit()
        return bool(getattr(result, "rowcount", 0) == 1)

    def claim_many(
        self,
        session: DBSession,
        where: t.Sequence[ColumnElement[bool]],
        size: int,
        now: dt.datetime,
        who: str,
        *,
        split: bool = True,
    ) -> list[int]:
        """Take up to ``size`` due rows matching ``where``; their ids, oldest first. Commits.

        A SELECT picks (and on PostgreSQL locks) the rows (:meth:`due`), then one
        UPDATE claims them; its condition re-checks each row, so two workers
        never both take a row.  Two statements, not an ``UPDATE ... WHERE id IN
        (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)``: PostgreSQL may run such a
        subquery again for each row, each run skipping the rows the UPDATE
        has just locked, and so claim far more than ``n`` rows; one worker then
        holds a whole backlog while the others find nothing.

        Inside :func:`~flask_qbo.sync.sharing.sharing` a first SELECT counts the due rows (up to
        ``size × workers``, locked or not) and the claim takes ``1 / workers``
        of them (rounded up, at most ``size``): a second worker claiming at the
        same moment skips only those and finds the rest.  A rest smaller than
        :attr:`least_share` is taken as well.  When rows are left,
        the sharing's ``left_more`` hears of it once the claim has committed.

        ``split=False`` takes up to ``size`` rows whatever the sharing, and
        counts nothing first: for claims whose cost does not grow with their
        size (a batch request), where halving a backlog's tail (30, 15, 8, 4,
        2, 1) pays a whole request per piece.  Such a backlog is shared a claim
        at a time instead, and a full claim tells ``left_more`` that more may wait.
        """
        c = self.table.c
        share = sharing.current()
        asked = size
        ready: int | None = None
        if share.workers > 1 and split:
            ready = int(
                session.scalar(
                    select(func.count()).select_from(self.due(where, now).limit(size * share.workers).subquery())
                )
                or 0
            )
            size = min(size, sharing.part(ready, share.workers, self.least_share))
        picked = list(session.scalars(self.locked(session, self.due(where, now).limit(size)))) if size else []
        if not picked:
            session.commit()
            return []
        result = session.execute(
            update(self.table)
            .where(c.id.in_(picked), self.claimable(now))
            .values(**self._claimed(now, who))
            .returning(c.id)
        )
        ids = sorted(result.scalars())
        session.commit()
        if share.left_more is not None and (len(ids) >= asked if ready is None else ready > len(ids)):
            share.left_more(self)
        return ids

    # -- putting rows back --------------------------------------------------------------

    def release(
        self,
        session: DBSession,
        row_ids: int | t.Collection[int],
        *,
        delay: float,
        error: Exception | str | None = None,
        attempts_back: bool = False,
    ) -> None:
        """Put claimed rows back to pending, due after ``delay`` seconds. Commits.

        A row deferred further while it was claimed (:meth:`defer`) keeps the
        later time: releasing never makes a row due sooner.  ``attempts_back``
        gives the claim's attempt back (the put-back was not the row's fault).
        """
        ids = [row_ids] if isinstance(row_ids, int) else list(row_ids)
        c = self.table.c
        due = literal(utcnow() + dt.timedelta(seconds=delay), c.available_at.type)
        values: dict[str, t.Any] = {
            "status": self.pending,
            "claimed_at": None,
            "claimed_by": None,
            "available_at": case((c.available_at > due, c.available_at), else_=due),
            **self._error(error),
        }
        if attempts_back:
            values["attempts"] = case((c.attempts > 0, c.attempts - 1), else_=0)
        session.execute(update(self.table).where(self.held(ids)).values(**values))
        session.commit()

    def _error(self, error: Exception | str | None) -> dict[str, t.Any]:
        if error is None:
            return {}
        values: dict[str, t.Any] = {"last_error": str(error)[:2000]}
        if "error_code" in self.table.c and not isinstance(error, str):
            values["error_code"] = getattr(error, "code", None)
        return values

    def defer(self, session: DBSession, where: ColumnElement[bool], delay: float) -> None:
        """Make every unfinished row matching ``where`` wait at least ``delay`` seconds (claims stay). No commit."""
        c = self.table.c
        later = utcnow() + dt.timedelta(seconds=delay)
        session.execute(
            update(self.table)
            .where(where, c.status.in_((self.pending, self.in_progress)), c.available_at < later)
            .values(available_at=later)
        )

    # -- retries and dead rows ----------------------------------------------------------

    def attempts(self, session: DBSession, row_id: int) -> int:
        """Claims the row has had so far (0 when it is gone)."""
        return int(session.execute(select(self.table.c.attempts).where(self.table.c.id == row_id)).scalar() or 0)

    def backoff(self, session: DBSession, row_id: int) -> float:
        """Seconds the row waits before its next attempt, after its latest one failed."""
        return self.strategy().wait(self.attempts(session, row_id) or 1)

    def exhausted(self, session: DBSession, row_id: int) -> bool:
        """True when the row's latest failed attempt was its last: it is dead now."""
        return self.strategy().exhausted(self.attempts(session, row_id))


class OutboxQueue(Queue):
    """``qbo_outbox``: never two rows of one contact at once, so edits reach QBO in order."""

    def __init__(self) -> None:
        super().__init__(
            t.cast(Table, Outbox.__table__),
            pending=OutboxStatus.PENDING,
            in_progress=OutboxStatus.IN_PROGRESS,
            dead=OutboxStatus.DEAD,
        )

    def strategy(self) -> RetryStrategy:
        """1 s, 2 s, 4 s ... up to :data:`MAX_BACKOFF`; ``QBO_OUTBOX_MAX_ATTEMPTS`` claims for a row that raises."""
        return RetryStrategy(max_attempts=int(get_config("QBO_OUTBOX_MAX_ATTEMPTS")), base_wait=1.0)

    def due(self, where: t.Sequence[ColumnElement[bool]], now: dt.datetime) -> Select[tuple[int]]:
        """Due rows, none behind an unfinished older row of its contact: one rule for single and batch claims."""
        older = self.table.alias("older")
        c = self.table.c
        return (
            super()
            .due(where, now)
            .where(
                ~exists().where(
                    older.c.tenant_key == c.tenant_key,
                    older.c.contact_key == c.contact_key,
                    older.c.id < c.id,
                    older.c.status.in_(UNFINISHED),
                )
            )
        )

    def revive(self, session: DBSession, where: ColumnElement[bool]) -> list[Outbox]:
        """Send failed and dead rows again, as new writes (a fresh ``requestid``, no attempts). No commit."""
        rows = list(session.scalars(select(Outbox).where(where, Outbox.status.in_((OutboxStatus.FAILED, self.dead)))))
        for row in rows:
            row.status = OutboxStatus.PENDING
            row.uuid = str(uuidlib.uuid4())
            row.attempts = 0
            row.available_at = utcnow()
            row.error_code = None
            row.last_error = None
        return rows


class InboxQueue(Queue):
    """``qbo_inbox``: events of one realm are claimed together, oldest first, and settled together."""

    #: A claim of events costs a QBO read and a commit whatever its size (about as much as applying 40
    #: events): halving a small rest again and again (13, 6, 3, 2, 1) only added reads at a flood's end.
    least_share = 25

    def __init__(self) -> None:
        super().__init__(
            t.cast(Table, Inbox.__table__),
            pending=InboxStatus.PENDING,
            in_progress=InboxStatus.IN_PROGRESS,
            dead=InboxStatus.FAILED,
        )

    def _error(self, error: Exception | str | None) -> dict[str, t.Any]:
        """An event's error describes its latest attempt: a put-back without one clears it."""
        return {"last_error": None} if error is None else super()._error(error)

    def strategy(self) -> RetryStrategy:
        """``QBO_INBOX_RETRY_WAIT`` doubling up to :data:`MAX_BACKOFF`; ``QBO_INBOX_MAX_ATTEMPTS`` claims."""
        return RetryStrategy(
            max_attempts=int(get_config("QBO_INBOX_MAX_ATTEMPTS")),
            base_wait=float(get_config("QBO_INBOX_RETRY_WAIT")),
        )

    def settle(self, session: DBSession, where: ColumnElement[bool], status: InboxStatus, note: str | None) -> None:
        """Mark events processed (``done``, ``ignored``) with a note, stamping ``processed_at``. No commit.

        Claimed events are settled with ``where=INBOX.held(ids)``: events a
        purge deleted meanwhile are simply not there to update.
        """
        session.execute(update(self.table).where(where).values(status=status, processed_at=utcnow(), last_error=note))

    def retry(self, session: DBSession, ids: list[int], error: str) -> None:
        """A failed batch: its events come back after the backoff; those out of attempts are dead. Commits."""
        if not ids:
            return
        c = self.table.c
        strategy = self.strategy()
        wait = strategy.wait(self.attempts(session, ids[0]) or 1)
        out = c.attempts >= strategy.max_attempts
        session.execute(
            update(self.table)
            .where(self.held(ids))
            .values(
                status=case((out, self.dead), else_=self.pending),
                processed_at=case((out, utcnow()), else_=None),
                available_at=utcnow() + dt.timedelta(seconds=wait),
                claimed_at=None,
                claimed_by=None,
                last_error=error[:2000],
            )
        )
        session.commit()


#: The outbox and the inbox.
OUTBOX = OutboxQueue()
INBOX = InboxQueue()
