"""Running the CDC polls that are due: which companies, side by side, never one company twice at once.

With thousands of connected companies, almost every runner tick finds nothing
to poll.  :func:`due_ids` therefore asks the database for the ids of the
connections whose ``QBO_CDC_INTERVAL`` has passed (``last_cdc_at`` compared in
SQL) and nothing else: an idle company costs one scanned row per tick, never a
loaded :class:`~flask_qbo.models.Connection` object.

Polls of different companies may run side by side (the thread runner's pool,
several Celery workers); each company's own request limits are kept by the
per-realm throttle of its client.  Two polls of the *same* company would read
the same window and write the same rows, so :func:`only_one` lets one of them
through: a process-wide set of polls in flight, and on PostgreSQL a
transaction-scoped advisory lock too, so workers in other processes skip a
company that one of them is polling.  The advisory lock ends with the poll's
one commit (or its rollback).

The poll itself (:func:`flask_qbo.sync.pull.pull.poll_cdc`) is passed in, so
this module stays below the pull module that calls it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import typing as t
from concurrent.futures import CancelledError
from concurrent.futures import Executor

from flask import Flask
from flask import current_app
from sqlalchemy import Table
from sqlalchemy import Update
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import inspect
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from ...config import cdc_interval
from ...errors import QBOAuthError
from ...errors import QBOTokenDecryptError
from ...intuit import faults
from ...models import Connection
from ...models import ConnectionStatus
from ...models import utcnow
from ..locks import ConnectionGone
from ..locks import share_connection
from ..locks import write_connection

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO

log = logging.getLogger(__name__)

#: First key of the PostgreSQL advisory locks taken for polls (the second is the connection id).
ADVISORY_KEY = 0x51B0

_guard = threading.Lock()
#: ``(database URL, connection id)`` of the polls running in this process.
_running: set[tuple[str, int]] = set()


def due_ids(session: Session, now: dt.datetime, interval: dt.timedelta) -> list[int]:
    """Ids of the connected connections whose last poll is ``interval`` or more before ``now``, oldest first.

    Never polled (``last_cdc_at`` NULL) comes first.  Only ids are selected:
    the poll itself loads its connection, after the previous poll committed.
    """
    query = (
        select(Connection.id)
        .where(
            Connection.status == ConnectionStatus.CONNECTED,
            or_(Connection.last_cdc_at.is_(None), Connection.last_cdc_at <= now - interval),
        )
        .order_by(Connection.last_cdc_at.is_not(None), Connection.last_cdc_at, Connection.id)
    )
    return list(session.scalars(query))


def is_due(connection: Connection, now: dt.datetime, interval: dt.timedelta) -> bool:
    """True when ``connection`` is connected and its interval has passed (judged on the loaded row)."""
    if not connection.is_active:
        return False
    return connection.last_cdc_at is None or connection.last_cdc_at + interval <= now


def connection_id(connection: Connection) -> int:
    """The id of ``connection`` from the identity map, without loading a row a rollback expired (or a purge deleted)."""
    identity = inspect(connection).identity
    return int(identity[0]) if identity else connection.id


class PollSuperseded(Exception):
    """Another poll of the company committed after this one read the connection row.

    Not an error: what this poll read, the other one applied (or a later poll
    will), so its transaction is rolled back without a write.
    """


@contextlib.contextmanager
def only_one(session: Session, connection_id: int) -> t.Iterator[Connection | None]:
    """Yield the connection when this caller may poll it now, ``None`` when a poll of it runs (or it is gone).

    On PostgreSQL the advisory lock is taken in ``session``'s transaction, by
    the statement that loads the row (one round trip, not two), so the caller
    must commit or roll back before leaving the block (a poll always does); it
    is then released with that transaction.  That statement reads the row as it
    was when the statement began, which may be just before another poll's
    commit released the lock: :func:`hold_unpolled` catches that before anything is written.
    """
    key = (str(session.get_bind().engine.url), connection_id)
    with _guard:
        if key in _running:
            mine = False
        else:
            _running.add(key)
            mine = True
    if not mine:
        yield None
        return
    try:
        if session.get_bind().dialect.name != "postgresql":
            yield session.get(Connection, connection_id)
            return
        found = session.execute(_LOCK_AND_LOAD, {"connection_id": connection_id}).first()
        if found is None or not found[1]:
            session.rollback()
            yield None
            return
        yield found[0]
    finally:
        with _guard:
            _running.discard(key)


_CONNECTIONS = t.cast(Table, Connection.__table__)
# Built once, like the other statements every poll of every company runs.
_LOCK_AND_LOAD = select(Connection, func.pg_try_advisory_xact_lock(ADVISORY_KEY, Connection.id)).where(
    Connection.id == bindparam("connection_id")
)
_SHARE_POLLED = share_connection(_CONNECTIONS.c.last_cdc_at)
_WRITE_POLLED = write_connection().returning(_CONNECTIONS.c.last_cdc_at)


def hold_unpolled(session: Session, connection: Connection, polled: dt.datetime | None) -> None:
    """:func:`~flask_qbo.sync.locks.hold_connection` for a poll that read ``last_cdc_at`` as ``polled``.

    The statement that holds the row also re-reads ``last_cdc_at``: when
    another poll committed since :func:`only_one` loaded the row, this one is moot.

    :raises ConnectionGone: the row is gone.
    :raises PollSuperseded: another poll of the company committed meanwhile.
    """
    params = {"connection_id": connection_id(connection)}
    postgres = session.get_bind().dialect.name == "postgresql"
    with session.no_autoflush:
        row = session.execute(_SHARE_POLLED if postgres else _WRITE_POLLED, params).first()
    if row is None:
        raise ConnectionGone(f"QBO connection {connection_id(connection)} was deleted while it was polled.")
    if row[0] != polled:
        raise PollSuperseded(f"QBO connection {connection_id(connection)} was polled by another worker meanwhile.")


def poll_due(qbo: QBO, poll: t.Callable[[QBO, Connection], int], *, pool: Executor | None = None) -> int:
    """Run ``poll`` (:func:`~flask_qbo.sync.pull.pull.poll_cdc`) for every due connection; returns changes applied.

    One id query finds the due connections; each poll then loads its own
    connection after the previous one committed, so a disconnect may delete
    any of them meanwhile and a purged one is skipped without a word.  With
    ``pool`` polls of different companies run side by side, each in an app
    context (and so a database session) of its own.
    """
    ids = due_now(qbo)
    if pool is None or len(ids) < 2:
        return poll_ids(qbo, ids, poll)
    app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    futures = [pool.submit(_poll_in_context, app, qbo, conn_id, poll) for conn_id in ids]
    applied = 0
    for future in futures:
        with contextlib.suppress(CancelledError):  # the runner is stopping: the rest waits for the next start
            applied += future.result()
    return applied


def due_now(qbo: QBO) -> list[int]:
    """Ids of the connections due for a poll now (committed read): what a dispatcher hands out."""
    session = qbo.state().db.session()
    ids = due_ids(session, utcnow(), dt.timedelta(seconds=cdc_interval()))
    session.commit()
    return ids


def poll_ids(qbo: QBO, ids: t.Iterable[int], poll: t.Callable[[QBO, Connection], int]) -> int:
    """Poll each of ``ids`` that is still due, one after the other; returns changes applied.

    For a worker handed a share of the due companies: a company another worker
    polled meanwhile is no longer due and is skipped (:func:`poll_one`).
    """
    return sum(poll_one(qbo, conn_id, poll) for conn_id in ids)


def _poll_in_context(app: Flask, qbo: QBO, conn_id: int, poll: t.Callable[[QBO, Connection], int]) -> int:
    with app.app_context():
        try:
            return poll_one(qbo, conn_id, poll)
        finally:
            qbo.state(app).db.session.remove()


def poll_one(qbo: QBO, conn_id: int, poll: t.Callable[[QBO, Connection], int]) -> int:
    """Poll one connection if it is still due and no other poll of it runs; returns changes applied.

    Errors are logged and rolled back: the poll is retried on its next interval.
    """
    session = qbo.state().db.session()
    with only_one(session, conn_id) as conn:
        if conn is None or not is_due(conn, utcnow(), dt.timedelta(seconds=cdc_interval())):
            session.rollback()  # polled by another worker meanwhile, or disconnected
            return 0
        tenant = conn.tenant_key
        try:
            return poll(qbo, conn)
        except (ConnectionGone, PollSuperseded):
            session.rollback()
        except QBOAuthError as exc:
            session.rollback()
            if session.get(Connection, conn_id) is not None:  # else purged while its tokens were in use
                log.warning(
                    "CDC poll for tenant %s needs a reconnect (%s).",
                    tenant,
                    faults.brief(exc),
                    extra={"qbo_tenant": tenant},
                )
            session.commit()
        except QBOTokenDecryptError as exc:
            session.rollback()
            log.warning("CDC poll for tenant %s waits for the key: %s", tenant, exc, extra={"qbo_tenant": tenant})
        except Exception:
            session.rollback()
            log.exception("CDC poll for tenant %s failed; retried next interval.", tenant, extra={"qbo_tenant": tenant})
        return 0


class Unpolled(t.NamedTuple):
    """``last_cdc_at`` as a poll loaded it (``None``: the company was never polled), for :func:`advance` to check."""

    polled: dt.datetime | None


def _advance_statement(*, reads: bool, checked: bool) -> Update:
    table = _CONNECTIONS
    c = table.c
    stmt = (
        update(table)
        .where(c.id == bindparam("connection_id"))
        .values(
            cdc_cursor=bindparam("cursor", type_=c.cdc_cursor.type),
            last_cdc_at=bindparam("polled", type_=c.last_cdc_at.type),
        )
    )
    if checked:  # no other poll committed since this one loaded the row
        stmt = stmt.where(c.last_cdc_at.is_not_distinct_from(bindparam("seen", type_=c.last_cdc_at.type)))
        stmt = stmt.returning(c.id)
    if not reads:
        return stmt
    month, count = bindparam("month", type_=c.reads_month.type), bindparam("reads", type_=c.reads_count.type)
    return stmt.values(
        reads_count=case((c.reads_month == month, func.coalesce(c.reads_count, 0) + count), else_=count),
        reads_month=month,
    )


# Built once: every poll of every company ends with one of them (with metered reads or not, checking
# for an overtaking poll or not), and a statement run as it is skips the ORM's flush of the connection object.
_ADVANCE = {
    (reads, checked): _advance_statement(reads=reads, checked=checked)
    for reads in (False, True)
    for checked in (False, True)
}


def advance(
    session: Session, connection: Connection, cursor: dt.datetime, reads: int, *, unpolled: Unpolled | None = None
) -> None:
    """Record a finished poll on the connection row: its cursor, when it ran, the reads it metered. No commit.

    A poll with nothing to apply (most polls of an idle company) writes the
    connection row first and nothing of its own before it, so instead of
    :func:`hold_unpolled`'s statement this one checks that ``last_cdc_at`` is
    still what the poll loaded (``unpolled``): one statement fewer per poll,
    with the same locks in the same order.

    :raises ConnectionGone: with ``unpolled``, the row is gone.
    :raises PollSuperseded: with ``unpolled``, another poll of the company committed meanwhile.
    """
    now = utcnow()
    conn_id = connection_id(connection)
    params = {"connection_id": conn_id, "cursor": cursor, "polled": now}
    if reads:
        params.update(month=now.strftime("%Y-%m"), reads=reads)
    if unpolled is None:
        session.execute(_ADVANCE[bool(reads), False], params)
        return
    params["seen"] = unpolled.polled
    if session.execute(_ADVANCE[bool(reads), True], params).first() is not None:
        return
    if session.execute(select(_CONNECTIONS.c.id).where(_CONNECTIONS.c.id == conn_id)).first() is None:
        raise ConnectionGone(f"QBO connection {conn_id} was deleted while it was polled.")
    raise PollSuperseded(f"QBO connection {conn_id} was polled by another worker meanwhile.")
