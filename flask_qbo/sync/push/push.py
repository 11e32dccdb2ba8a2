"""CRM → QBO: turn ``qbo_outbox`` rows into QBO customer writes.

:func:`process` claims due rows one at a time with a compare-and-set UPDATE
(``pending`` → ``in_progress``), oldest first, never two rows of one contact at
once, so edits reach QBO in the order they were made.  A row whose claim is
older than :data:`LEASE` belongs to a worker that died between claim and answer
and is claimed again; because every write for a row uses a ``requestid`` derived
from the row's ``uuid``, and an unlinked contact is first matched by email and
DisplayName, the retry never creates a second customer.

Per row: load the contact, build its values through the field map, skip when
they equal what was last pushed or pulled, then match-or-create (unlinked) or
sparse-update with the stored SyncToken (linked).  A stale SyncToken (5010)
triggers a re-read and the three-way merge of :mod:`flask_qbo.sync.merge`.  Errors
decide the row's fate by class: transient → back off, validation → ``failed``
for a person to fix, auth → the connection needs a reconnect and the row waits,
undecryptable tokens (a wrong ``QBO_TOKEN_ENCRYPTION_KEY``) → the tenant's rows
wait :data:`KEY_WAIT` and the connection is left alone.
Backlogs go through the batch endpoint (:mod:`flask_qbo.sync.push.batch`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import socket
import threading
import typing as t
import uuid as uuidlib

from flask import current_app
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import aliased

from ... import signals
from ...config import get_config
from ...errors import QBOAuthError
from ...errors import QBOError
from ...errors import QBONotFoundError
from ...errors import QBORateLimitError
from ...errors import QBOStaleObjectError
from ...errors import QBOTokenDecryptError
from ...errors import QBOTransientError
from ...errors import QBOValidationError
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import SyncLog
from ...models import utcnow
from ..capture import INACTIVATE
from ..pull.apply import ConnectionGone
from ..pull.apply import hold_connection
from .context import RowContext
from .ops import inactivate_row
from .ops import upsert_row

if t.TYPE_CHECKING:
    from ...extension import QBO

log = logging.getLogger("flask_qbo.push")

#: A claim older than this is presumed dead (worker crashed between claim and answer).
LEASE = dt.timedelta(minutes=5)
#: Longest wait between retries of a transient failure.
MAX_BACKOFF = 600.0
#: Seconds a tenant's rows wait after its tokens could not be decrypted.  Fixing
#: the key takes a restart, so this bounds how long sync lags behind it.
KEY_WAIT = 60.0


def worker_id() -> str:
    """Who holds a claim: host, process and thread (shown on the health page)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 100000}"


def _qbo(qbo: QBO | None) -> QBO:
    from ...state import get_qbo

    return qbo or get_qbo()


def active_connections(session: t.Any) -> dict[str, Connection]:
    """Tenant key → connection, for connections sync may use now."""
    rows = session.query(Connection).filter(Connection.status == "connected").all()
    return {c.tenant_key: c for c in rows if c.realm_id}


def _due(tenants: t.Collection[str], now: dt.datetime) -> t.Any:
    """``SELECT id`` of due rows, oldest first, none behind an unfinished older row of its contact.

    One definition for the single-row and the batch claim, so both keep the
    per-contact order.
    """
    older = aliased(Outbox)
    return (
        select(Outbox.id)
        .where(
            Outbox.tenant_key.in_(list(tenants)),
            or_(
                and_(Outbox.status == "pending", Outbox.available_at <= now),
                and_(Outbox.status == "in_progress", Outbox.claimed_at < now - LEASE),
            ),
            ~exists().where(
                older.tenant_key == Outbox.tenant_key,
                older.contact_key == Outbox.contact_key,
                older.id < Outbox.id,
                older.status.in_(("pending", "in_progress")),
            ),
        )
        .order_by(Outbox.id)
    )


def _locked(session: t.Any, stmt: t.Any) -> t.Any:
    """On PostgreSQL, lock the selected rows ``FOR UPDATE SKIP LOCKED``: concurrent workers get disjoint rows."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=Outbox)
    return stmt


def candidates(session: t.Any, tenants: t.Collection[str], limit: int, now: dt.datetime) -> list[Outbox]:
    """Due rows, oldest first, at most one per contact; the claim UPDATE stays the arbiter."""
    if not tenants:
        return []
    ids = _locked(session, _due(tenants, now).limit(limit)).subquery()
    return list(session.scalars(select(Outbox).where(Outbox.id.in_(select(ids.c.id))).order_by(Outbox.id)))


def _claimable(table: t.Any, now: dt.datetime) -> t.Any:
    """Pending, or claimed by a worker whose lease ran out."""
    return or_(
        table.c.status == "pending",
        and_(table.c.status == "in_progress", table.c.claimed_at < now - LEASE),
    )


def claim(session: t.Any, row_id: int, now: dt.datetime, who: str) -> bool:
    """Atomically take a row; False when another worker got it first. Commits."""
    table = Outbox.__table__
    result = session.execute(
        update(table)
        .where(table.c.id == row_id, _claimable(table, now))
        .values(
            status="in_progress",
            claimed_at=now,
            claimed_by=who,
            attempts=table.c.attempts + 1,
            updated_at=table.c.updated_at,
        )  # bookkeeping: keep the time of the CRM edit
    )
    session.commit()
    return result.rowcount == 1


def claim_batch(session: t.Any, tenant_key: str, size: int, now: dt.datetime, who: str) -> list[int]:
    """Take up to ``size`` due rows of one tenant with one UPDATE; returns their ids, oldest first.

    Claiming row by row cost a commit (an fsync on SQLite) per row, which
    dominated a backlog's push time.  The subquery applies the per-contact rule
    of :func:`candidates`, so a batch never holds two rows of one contact, and
    the outer condition re-checks each row's status as the UPDATE locks it, so
    two workers never both take a row.  Commits.
    """
    table = Outbox.__table__
    due = _locked(session, _due([tenant_key], now).limit(size)).subquery()
    result = session.execute(
        update(table)
        .where(table.c.id.in_(select(due.c.id)), _claimable(table, now))
        .values(
            status="in_progress",
            claimed_at=now,
            claimed_by=who,
            attempts=table.c.attempts + 1,
            updated_at=table.c.updated_at,
        )
        .returning(table.c.id)
    )
    ids = sorted(result.scalars())
    session.commit()
    return ids


def process(qbo: QBO | None = None, limit: int = 100) -> int:
    """Push up to ``limit`` due outbox rows; return how many were handled.

    A tenant's backlog (more than ``QBO_BATCH_THRESHOLD`` rows due) goes
    through the batch endpoint in whole batches of 30, so ``limit`` is rounded
    up to a multiple of 30 there: a partial batch wastes a call of QBO's
    per-minute batch allowance.  Rows of tenants without an active connection
    stay pending.  Call it from any scheduler inside an app context; the thread
    runner and ``flask qbo push`` do.
    """
    from .batch import BATCH_SIZE
    from .batch import process_batch

    qbo = _qbo(qbo)
    session = qbo.state().db.session
    connections = active_connections(session)
    session.commit()
    if not connections:
        return 0
    threshold = int(get_config("QBO_BATCH_THRESHOLD"))
    handled = 0
    for tenant_key, count in _pending_counts(session, connections).items():
        if count > threshold and handled < limit:
            whole = math.ceil(min(limit - handled, count) / BATCH_SIZE) * BATCH_SIZE
            handled += process_batch(qbo, tenant_key, whole)
    if handled >= limit:
        return handled
    if handled:
        connections = active_connections(session)  # a batch may have paused a realm
        session.commit()
    rows = candidates(session, list(connections), limit - handled, utcnow())
    row_ids = [(row.id, row.tenant_key) for row in rows]
    session.commit()
    who = worker_id()
    paused: set[str] = set()
    for row_id, tenant_key in row_ids:
        if tenant_key in paused or handled >= limit:
            continue
        if not claim(session, row_id, utcnow(), who):
            continue
        handled += 1
        if not handle(qbo, row_id):
            paused.add(tenant_key)
    return handled


def due_count(qbo: QBO | None = None) -> int:
    """Outbox rows due now for connected tenants: tells a runner whether more workers would help."""
    qbo = _qbo(qbo)
    session = qbo.state().db.session
    connections = active_connections(session)
    total = sum(_pending_counts(session, connections).values()) if connections else 0
    session.commit()
    return total


def _pending_counts(session: t.Any, connections: t.Mapping[str, Connection]) -> dict[str, int]:
    rows = session.execute(
        select(Outbox.tenant_key, func.count())
        .where(Outbox.status == "pending", Outbox.tenant_key.in_(list(connections)), Outbox.available_at <= utcnow())
        .group_by(Outbox.tenant_key)
    ).all()
    session.commit()
    return {tenant: int(n) for tenant, n in rows}


def handle(qbo: QBO, row_id: int, client: t.Any = None) -> bool:
    """Push one claimed row and record the outcome; False when its realm should pause this round.

    A disconnect that deletes the connection meanwhile deletes the row too:
    the push then stops without recording anything (see
    :func:`flask_qbo.sync.pull.apply.hold_connection`).
    """
    session = qbo.state().db.session
    row = session.get(Outbox, row_id)
    conn = session.query(Connection).filter_by(tenant_key=row.tenant_key).one_or_none() if row else None
    if row is None or conn is None or not conn.is_active:
        if row is not None:
            release(session, row_id, delay=0.0, attempts_back=True)
        return False
    tenant_key = row.tenant_key
    ctx = RowContext(qbo=qbo, session=session, row=row, connection=conn, client=client or qbo.client(conn))
    try:
        outcome = inactivate_row(ctx) if row.op == INACTIVATE else upsert_row(ctx)
    except ConnectionGone:
        session.rollback()
        return False
    except QBOAuthError as exc:
        session.rollback()
        needs_reconnect(qbo, row_id, tenant_key, exc)
        return False
    except QBOTokenDecryptError as exc:
        session.rollback()
        wait_for_key(qbo, row_id, tenant_key, exc)
        return False
    except QBORateLimitError as exc:
        session.rollback()
        release(session, row_id, delay=max(exc.retry_after or 0.0, backoff(row_id, session)), error=exc)
        return False
    except (QBOTransientError, QBOStaleObjectError) as exc:
        session.rollback()
        release(session, row_id, delay=backoff(row_id, session), error=exc)
        return True
    except QBOValidationError as exc:
        session.rollback()
        fail(qbo, row_id, exc)
        return True
    except QBOError as exc:
        session.rollback()
        fail(qbo, row_id, exc)
        return True
    except Exception as exc:
        session.rollback()
        log.exception("Unexpected error pushing outbox row %s.", row_id)
        unexpected(qbo, row_id, exc)
        return True
    try:
        finished(qbo, ctx, outcome)
    except ConnectionGone:
        session.rollback()
        return False
    return True


def finished(qbo: QBO, ctx: RowContext, outcome: dict[str, t.Any] | None) -> None:
    """Mark the row done in the same commit as the mirror and link updates, then signal.

    :raises ConnectionGone: the connection (and the row) were purged meanwhile.
    """
    session = ctx.session
    hold_connection(session, ctx.connection)
    ctx.row.status = "done"
    ctx.row.error_code = None
    ctx.row.last_error = None
    session.commit()
    if outcome:
        signals.pushed.send(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            contact_key=ctx.row.contact_key,
            qbo_id=outcome.get("qbo_id"),
            operation=outcome.get("operation"),
            fields=outcome.get("fields", []),
        )


def backoff(row_id: int, session: t.Any) -> float:
    """Exponential backoff with full jitter over the row's attempts (1 s, 2 s, 4 s ... ≤ 10 min)."""
    attempts = session.execute(select(Outbox.attempts).where(Outbox.id == row_id)).scalar() or 1
    ceiling = min(MAX_BACKOFF, 2.0 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def unexpected(qbo: QBO, row_id: int, exc: Exception) -> None:
    """A non-QBO exception (a bug, a failing host hook): back off; after ``QBO_OUTBOX_MAX_ATTEMPTS``, ``dead``.

    Retrying covers a passing cause (a database hiccup); a row that keeps
    raising would otherwise cycle forever, so it is parked where the health
    page lists it and an admin can retry it once the bug is fixed.
    """
    session = qbo.state().db.session
    attempts = session.execute(select(Outbox.attempts).where(Outbox.id == row_id)).scalar() or 0
    if attempts >= int(get_config("QBO_OUTBOX_MAX_ATTEMPTS")):
        fail(qbo, row_id, exc, status="dead")
    else:
        release(session, row_id, delay=backoff(row_id, session), error=exc)


def release(
    session: t.Any,
    row_id: int | t.Collection[int],
    *,
    delay: float,
    error: Exception | None = None,
    attempts_back: bool = False,
) -> None:
    """Put claimed rows back to pending, due after ``delay`` seconds (their uuids are kept). Commits.

    A row deferred further while it was claimed (:func:`wait_for_key`) keeps
    the later time: releasing never makes a row due sooner.
    """
    ids = [row_id] if isinstance(row_id, int) else list(row_id)
    table = Outbox.__table__
    due = literal(utcnow() + dt.timedelta(seconds=delay), table.c.available_at.type)
    # ``updated_at`` is when the CRM change was made (newest-wins compares it with QBO's
    # edits): a retry is bookkeeping and must not make the change look newer.
    values: dict[str, t.Any] = {
        "status": "pending",
        "claimed_at": None,
        "claimed_by": None,
        "available_at": case((table.c.available_at > due, table.c.available_at), else_=due),
        "updated_at": table.c.updated_at,
    }
    if attempts_back:
        values["attempts"] = table.c.attempts - 1
    if error is not None:
        values["error_code"] = getattr(error, "code", None)
        values["last_error"] = str(error)[:2000]
    session.execute(update(table).where(table.c.id.in_(ids), table.c.status == "in_progress").values(**values))
    session.commit()


def fail(qbo: QBO, row_id: int, exc: Exception, *, status: str = "failed") -> None:
    """Park a row as ``failed`` (or ``dead``) with Intuit's message, on the row and the contact's link."""
    session = qbo.state().db.session
    row = session.get(Outbox, row_id)
    conn = session.query(Connection).filter_by(tenant_key=row.tenant_key).one_or_none() if row else None
    if row is None or conn is None:
        return
    try:
        hold_connection(session, conn)
    except ConnectionGone:  # purged since the row was read: nothing left to record
        session.rollback()
        return
    code = getattr(exc, "code", None)
    message = str(exc) if isinstance(exc, QBOError) else f"Unexpected error: {type(exc).__name__}: {exc}"
    row.status = status
    row.error_code = str(code)[:20] if code else None
    row.last_error = message[:2000]
    row.claimed_at = None
    link = session.query(Customer).filter_by(tenant_key=row.tenant_key, contact_key=row.contact_key).one_or_none()
    if link is not None:
        link.sync_status = "failed"
        link.sync_error = message[:2000]
    session.add(
        SyncLog(
            tenant_key=row.tenant_key,
            realm_id=conn.realm_id,
            contact_key=row.contact_key,
            qbo_id=link.qbo_id if link else None,
            direction="push",
            action="failed",
            error_code=row.error_code,
            message=message[:2000],
        )
    )
    session.commit()
    signals.sync_failed.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        contact_key=row.contact_key,
        error=exc,
    )


def needs_reconnect(qbo: QBO, row_ids: int | t.Collection[int], tenant_key: str, exc: QBOAuthError) -> None:
    """Keep the rows pending and make sure the tenant's connection shows it needs a reconnect."""
    session = qbo.state().db.session
    release(session, row_ids, delay=0.0, error=exc, attempts_back=True)
    conn = session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()
    if conn is not None and conn.status == "connected":
        try:
            from ...intuit.oauth import mark_needs_reconnect

            mark_needs_reconnect(qbo, conn, str(exc))
        except ImportError:
            conn.status = "needs_reconnect"
            conn.status_reason = str(exc)[:500]
            session.commit()


def wait_for_key(qbo: QBO, row_ids: int | t.Collection[int], tenant_key: str, exc: QBOTokenDecryptError) -> None:
    """The key cannot decrypt the tenant's tokens: its rows wait :data:`KEY_WAIT`, the connection is untouched.

    A configuration error, not a dead grant (so not :func:`needs_reconnect`):
    the rows stay pending without spending an attempt, and every unfinished
    row of the tenant is deferred too, so workers do not claim them one by one
    only to fail the same way.  Once the app runs with the right key, the next
    claim after the wait goes through.
    """
    session = qbo.state().db.session
    table = Outbox.__table__
    later = utcnow() + dt.timedelta(seconds=KEY_WAIT)
    session.execute(
        update(table)
        .where(
            table.c.tenant_key == tenant_key,
            table.c.status.in_(("pending", "in_progress")),
            table.c.available_at < later,
        )
        .values(available_at=later, updated_at=table.c.updated_at)
    )
    release(session, row_ids, delay=KEY_WAIT, error=exc, attempts_back=True)
    log.warning("Push for tenant %s waits %d s for the encryption key: %s", tenant_key, KEY_WAIT, exc)


def next_due_in(qbo: QBO | None = None) -> float | None:
    """Seconds until the next pending row becomes due (``None`` when the outbox is idle)."""
    qbo = _qbo(qbo)
    session = qbo.state().db.session
    tenants = list(active_connections(session))
    if not tenants:
        session.commit()
        return None
    earliest = session.execute(
        select(func.min(Outbox.available_at)).where(Outbox.status == "pending", Outbox.tenant_key.in_(tenants))
    ).scalar()
    session.commit()
    if earliest is None:
        return None
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=dt.timezone.utc)
    return max((earliest - utcnow()).total_seconds(), 0.0)


# -- the contract's helpers for views and the admin page --------------------------------


def request_sync(contact_or_key: t.Any, tenant_key: str | None = None) -> Outbox:
    """ "Sync now": write (or refresh) the contact's pending row, commit, and wake the runner.

    A key is taken only in its canonical form (:meth:`QBO._canonical_key
    <flask_qbo.extension.QBO._canonical_key>`, else :class:`ValueError`), so the row
    names the contact exactly as every other row and link does.
    """
    from ...state import wake
    from ..capture import UPSERT
    from ..capture import write_row

    qbo = _qbo(None)
    session = qbo.state().db.session
    if isinstance(contact_or_key, (str, int)):
        contact_key = qbo._canonical_key(contact_or_key)
        if tenant_key is None:
            contact = qbo.load_contact(contact_key)
            if contact is None:
                raise QBONotFoundError(f"No contact with key {contact_key!r}.")
            tenant_key = qbo._tenant_of(contact)
    else:
        contact_key = qbo._contact_key(contact_or_key)
        tenant_key = tenant_key or qbo._tenant_of(contact_or_key)
    write_row(session.connection(), tenant_key, contact_key, UPSERT)
    session.commit()
    row = session.scalars(
        select(Outbox)
        .where(Outbox.tenant_key == tenant_key, Outbox.contact_key == contact_key, Outbox.status == "pending")
        .order_by(Outbox.id.desc())
        .limit(1)
    ).one()
    wake(reason="sync-now")
    return row


def retry(outbox_id: int, tenant_key: str) -> bool:
    """Send a failed (or dead) row again, with a fresh ``requestid``; False if it is not the tenant's."""
    return _retry(tenant_key, Outbox.id == int(outbox_id)) == 1


def retry_all(tenant_key: str) -> int:
    """Send every failed (or dead) row of the tenant again; returns how many."""
    return _retry(tenant_key, Outbox.id.isnot(None))


def _retry(tenant_key: str, condition: t.Any) -> int:
    from ...state import wake

    qbo = _qbo(None)
    session = qbo.state().db.session
    rows = session.scalars(
        select(Outbox).where(condition, Outbox.tenant_key == tenant_key, Outbox.status.in_(("failed", "dead")))
    ).all()
    for row in rows:
        row.status = "pending"
        row.uuid = str(uuidlib.uuid4())
        row.attempts = 0
        row.available_at = utcnow()
        row.error_code = None
        row.last_error = None
        session.execute(
            update(Customer.__table__)
            .where(Customer.tenant_key == tenant_key, Customer.contact_key == row.contact_key)
            .values(sync_status="pending", sync_error=None)
        )
    session.commit()
    if rows:
        wake(reason="retry")
    return len(rows)
