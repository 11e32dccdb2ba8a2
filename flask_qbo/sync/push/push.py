"""CRM → QBO: the push's entry points, which drain ``qbo_outbox`` into QBO customer writes.

:func:`process` takes due rows oldest first, never two rows of one contact at
once, so edits reach QBO in the order they were made; the claim, the lease
that lets another worker take over a dead worker's row, backoff and attempt
limits are :data:`flask_qbo.sync.queue.OUTBOX`'s.  Because every write for a
row uses a ``requestid`` derived from the row's ``uuid``, and an unlinked
contact is first matched by email and DisplayName, a retry never creates a
second customer.

A tenant's backlog of customer rows goes through the batch endpoint
(:mod:`flask_qbo.sync.push.batch`); other rows, document rows always among them
(:mod:`flask_qbo.sync.push.documents`), are pushed one by one (:func:`flask_qbo.sync.push.rows.handle`:
build the values through the field map, match-or-create or sparse-update, merge
on a stale SyncToken, and decide a failed row's fate by the error's class).
The rest of the module is the contract's helpers for views and the admin page:
"Sync now" and the retry of failed rows.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from ...config import get_config
from ...errors import QBONotFoundError
from ...models import CUSTOMER_OPS
from ...models import Connection
from ...models import ConnectionStatus
from ...models import Customer
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ...models import SyncStatus
from ...models import utcnow
from ...state import get_qbo
from ...state import wake
from ..capture import write_row
from ..queue import OUTBOX
from ..queue import worker_id
from .batch import BATCH_SIZE
from .batch import process_batch
from .doc_failure import reopen
from .rows import handle

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO


def live_tenants() -> Select[str]:
    """The tenant keys sync may use now, as a subquery the outbox reads are filtered by.

    A subquery, never a list of keys: with ten thousand connected companies a
    list was ten thousand bound parameters in every push turn's three reads.
    """
    return select(Connection.tenant_key).where(
        Connection.status == ConnectionStatus.CONNECTED, Connection.realm_id.isnot(None)
    )


def candidates(session: Session, limit: int, now: dt.datetime) -> list[Outbox]:
    """Due rows of connected tenants, oldest first, at most one per contact; the claim UPDATE stays the arbiter."""
    ids = OUTBOX.locked(session, OUTBOX.due([Outbox.tenant_key.in_(live_tenants())], now).limit(limit)).subquery()
    return list(session.scalars(select(Outbox).where(Outbox.id.in_(select(ids.c.id))).order_by(Outbox.id)))


def process(qbo: QBO | None = None, limit: int = 100) -> int:
    """Push up to ``limit`` due outbox rows; return how many were handled.

    A tenant's backlog (more than ``QBO_BATCH_THRESHOLD`` rows due) goes
    through the batch endpoint in whole batches of 30, so ``limit`` is rounded
    up to a multiple of 30 there: a partial batch wastes a call of QBO's
    per-minute batch allowance.  A tenant whose batches took all they were
    allowed (its backlog grew while they were sent, as in a burst of CRM
    commits) has none of its rows pushed alone in this call: the caller's next
    call sends them thirty at a time, where the single path costs a row three
    requests.  So a call may return fewer than ``limit`` with rows still due:
    callers call again while it returns rows.  Rows of tenants without an
    active connection stay pending.  Call it from any scheduler inside an app
    context; the thread runner and ``flask qbo push`` do.
    """
    qbo = qbo or get_qbo()
    session = qbo.state().db.session()
    threshold = int(get_config("QBO_BATCH_THRESHOLD"))
    handled = 0
    counts = _pending_counts(session, customers_only=True)
    batched = {tenant_key for tenant_key, count in counts.items() if count > threshold}
    left_for_batch: set[str] = set()
    for tenant_key, count in counts.items():
        if count > threshold and handled < limit:
            whole = math.ceil(min(limit - handled, count) / BATCH_SIZE) * BATCH_SIZE
            taken = process_batch(qbo, tenant_key, whole)
            handled += taken
            if taken >= whole:  # the backlog outgrew the count: what is due now is the next call's batches
                left_for_batch.add(tenant_key)
    if handled >= limit:
        return handled
    rows = candidates(session, limit - handled, utcnow())  # a batch may have paused a realm: read again
    row_ids = [(row.id, row.tenant_key) for row in rows]
    session.commit()
    who = worker_id()
    paused: set[str] = set()
    singles = 0
    for row_id, tenant_key in row_ids:
        if tenant_key in paused or tenant_key in left_for_batch or handled >= limit:
            continue
        if singles and _batch_worth_it(session, threshold, batched):
            break  # a burst is arriving: the caller's next call takes it in batches
        if not OUTBOX.claim(session, row_id, utcnow(), who):
            continue
        handled += 1
        singles += 1
        if not handle(qbo, row_id):
            paused.add(tenant_key)
    return handled


def _batch_worth_it(session: Session, threshold: int, batched: set[str]) -> bool:
    """True when a tenant not in ``batched`` now has more than ``threshold`` customer rows due.

    Asked between two rows of the single path: at the start of a burst the
    first few rows take it (a new contact costs three requests there), while
    the burst's next rows are committed; going on with the rows read before
    would push each of them alone, where stopping lets the next call send
    them thirty to a batch.  A tenant this call already sent through the batch
    path does not count: what is left of it are rows no batch could take (an
    older row of the same contact in flight), and stopping for them would
    leave one row pushed per call.  One count per row pushed alone, next to
    the row's own requests to QBO.
    """
    counts = _pending_counts(session, customers_only=True)
    return any(count > threshold for tenant_key, count in counts.items() if tenant_key not in batched)


def due_count(qbo: QBO | None = None) -> int:
    """Outbox rows due now for connected tenants: tells a runner whether more workers would help."""
    qbo = qbo or get_qbo()
    session = qbo.state().db.session()
    total = sum(_pending_counts(session).values())
    session.commit()
    return total


def _pending_counts(session: Session, *, customers_only: bool = False) -> dict[str, int]:
    """Due pending rows per connected tenant; ``customers_only`` counts what the batch path may take (no documents)."""
    where = [
        Outbox.status == OutboxStatus.PENDING,
        Outbox.tenant_key.in_(live_tenants()),
        Outbox.available_at <= utcnow(),
    ]
    if customers_only:
        where.append(Outbox.op.in_(CUSTOMER_OPS))
    rows = session.execute(select(Outbox.tenant_key, func.count()).where(*where).group_by(Outbox.tenant_key)).all()
    session.commit()
    return {tenant: int(n) for tenant, n in rows}


def next_due_in(qbo: QBO | None = None) -> float | None:
    """Seconds until the next pending row becomes due (``None`` when the outbox is idle)."""
    qbo = qbo or get_qbo()
    session = qbo.state().db.session()
    earliest = session.execute(
        select(func.min(Outbox.available_at)).where(
            Outbox.status == OutboxStatus.PENDING, Outbox.tenant_key.in_(live_tenants())
        )
    ).scalar()
    session.commit()
    if earliest is None:
        return None
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=dt.timezone.utc)
    return max((earliest - utcnow()).total_seconds(), 0.0)


# -- the contract's helpers for views and the admin page --------------------------------


def request_sync(contact_or_key: object, tenant_key: str | None = None) -> Outbox:
    """ "Sync now": write (or refresh) the contact's pending row, commit, and wake the runner.

    A key is taken only in its canonical form (:meth:`QBO._canonical_key
    <flask_qbo.extension.QBO._canonical_key>`, else :class:`ValueError`), so the row
    names the contact exactly as every other row and link does.
    """
    qbo = get_qbo()
    session = qbo.state().db.session()
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
    write_row(session.connection(), tenant_key, contact_key, OutboxOp.UPSERT)
    session.commit()
    row = session.scalars(
        select(Outbox)
        .where(
            Outbox.tenant_key == tenant_key, Outbox.contact_key == contact_key, Outbox.status == OutboxStatus.PENDING
        )
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


def _retry(tenant_key: str, condition: ColumnElement[bool]) -> int:
    session = get_qbo().state().db.session()
    where = condition & (Outbox.tenant_key == tenant_key)
    # A dead create of a document died of our own errors, never of a refusal: QBO may
    # have made the invoice before the crash, so its retry keeps the requestid and
    # gets that invoice back instead of making a second one.
    made_maybe = dict(
        session.execute(
            select(Outbox.id, Outbox.uuid).where(
                where, Outbox.status == OutboxStatus.DEAD, Outbox.op == OutboxOp.CREATE_DOC
            )
        ).all()
    )
    rows = OUTBOX.revive(session, where)
    for row in rows:
        if row.op not in CUSTOMER_OPS:
            row.uuid = made_maybe.get(row.id, row.uuid)
            reopen(session, row)  # the document's refusal, never the contact's sync status
            continue
        session.execute(
            update(Customer)
            .where(Customer.tenant_key == tenant_key, Customer.contact_key == row.contact_key)
            .values(sync_status=SyncStatus.PENDING, sync_error=None)
        )
    session.commit()
    if rows:
        wake(reason="retry")
    return len(rows)
