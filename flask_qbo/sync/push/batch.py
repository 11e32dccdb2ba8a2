"""Backlogs through QBO's batch endpoint: up to 30 customer updates per request.

A bulk edit in the CRM (an import, a mass update) queues hundreds of rows for
one realm.  Sent one by one they would spend the realm's 500 requests a minute;
batched they cost one request per 30 rows, within the batch limit the client's
throttle enforces.

The database work per batch is constant, not per row: one UPDATE claims up to
30 rows (:func:`claim_batch`), three queries load the rows,
their links and their contacts, and one commit records every successful
item — mirror row, synced values, sync log and the row's ``done``.  (Per-row
claim and completion commits, an fsync each on SQLite, capped a backlog at
about 40 rows a second before.)

Only updates of linked contacts are batched.  Matching an unlinked contact
needs queries first, and a batch item carries no ``requestid`` of its own, so
creates keep the single-row path with its replay protection (see
``docs/sync.rst``).  Per item, QBO's answer decides: success is recorded, a
validation fault (a duplicate name, a rejected value) parks that row as
``failed``, and a stale SyncToken or any other fault sends the row through the
single-row path, which re-reads, merges and retries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t
import uuid as uuidlib

from flask import current_app
from sqlalchemy import select
from sqlalchemy import update

from ... import signals
from ...errors import QBOAuthError
from ...errors import QBOError
from ...errors import QBORateLimitError
from ...errors import QBOStaleObjectError
from ...errors import QBOTokenDecryptError
from ...errors import QBOTransientError
from ...errors import QBOValidationError
from ...intuit.faults import batch_error
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ...models import SyncLog
from ...models import SyncStatus
from ...models import utcnow
from ..dating import sent_update
from ..locks import ConnectionGone
from ..locks import hold_connection
from ..payload import build_update_payload
from ..payload import contact_values
from ..payload import customer_hash
from ..payload import pushed_paths
from ..payload import qbo_values
from ..payload import renamed
from ..payload import sync_state
from ..preflight import validate_values
from ..pull import mirror
from ..queue import OUTBOX
from ..queue import worker_id
from . import rows
from .context import request_id
from .update import follows_name

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO
    from ...fieldmap import FieldMap
    from ...intuit.client import QBOClient

log = logging.getLogger(__name__)

#: QBO's maximum number of items in one batch request.
BATCH_SIZE = 30


@dataclasses.dataclass
class Item:
    """One planned batch update, with what recording it needs (read before the session expires)."""

    row_id: int
    contact_key: str
    qbo_id: str
    values: dict[str, t.Any]
    payload: dict[str, t.Any]
    sent: list[str]
    request_id: str
    #: What the update sets, kept on the row if the batch's answer is lost (see :mod:`flask_qbo.sync.dating`).
    note: dict[str, t.Any]
    #: When the row was written, for the push latency (:data:`~flask_qbo.signals.push_settled`).
    created_at: dt.datetime | None = None


def claim_batch(session: Session, tenant_key: str, size: int, now: dt.datetime, who: str) -> list[int]:
    """Take up to ``size`` due rows of one tenant with one UPDATE; returns their ids, oldest first. Commits.

    Claiming row by row cost a commit (an fsync on SQLite) per row, which
    dominated a backlog's push time.  The queue's per-contact rule holds
    (:meth:`flask_qbo.sync.queue.OutboxQueue.due`), so a batch never holds two
    rows of one contact, and two workers never both take a row.
    """
    return OUTBOX.claim_many(session, [Outbox.tenant_key == tenant_key], size, now, who)


def process_batch(qbo: QBO, tenant_key: str, limit: int) -> int:
    """Push up to ``limit`` of the tenant's due rows, batching the updates; returns rows handled.

    A disconnect that purges the tenant's connection meanwhile (its rows go
    with it) ends the run without recording anything for it.
    """
    session = qbo.state().db.session()
    who = worker_id()
    handled = 0
    client = None
    while handled < limit:
        ids = claim_batch(session, tenant_key, min(BATCH_SIZE, limit - handled), utcnow(), who)
        if not ids:
            break
        conn = session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()
        if conn is None or not conn.is_active:
            OUTBOX.release(session, ids, delay=0.0, attempts_back=True)
            break
        client = client or qbo.client(conn)
        try:
            items, singles = prepare(qbo, session, conn, ids)
        except ConnectionGone:
            session.rollback()
            break
        handled += len(ids)
        for n, row_id in enumerate(singles):
            if not rows.handle(qbo, row_id, client):
                waiting = [*singles[n + 1 :], *(item.row_id for item in items)]
                OUTBOX.release(session, waiting, delay=0.0, attempts_back=True)
                return handled - len(waiting)
        try:
            if items and not send(qbo, session, conn, client, items):
                return handled
        except ConnectionGone:
            session.rollback()
            return handled
    return handled


def prepare(qbo: QBO, session: Session, conn: Connection, row_ids: list[int]) -> tuple[list[Item], list[int]]:
    """Split claimed rows into batch updates and single-path rows; rows with nothing to send are done.

    Three queries whatever the batch size: the rows, their links, their contacts.

    :raises ConnectionGone: the connection was purged since the claim.
    """
    hold_connection(session, conn)
    fields = qbo._registration().fields
    claimed = session.scalars(select(Outbox).where(Outbox.id.in_(row_ids)).order_by(Outbox.id)).all()
    keys = [row.contact_key for row in claimed if row.op == OutboxOp.UPSERT]
    linked: t.Iterable[Customer] = (
        session.scalars(
            select(Customer).where(
                Customer.tenant_key == conn.tenant_key,
                Customer.realm_id == conn.realm_id,
                Customer.contact_key.in_(keys),
            )
        )
        if keys
        else []
    )
    links = {link.contact_key: link for link in linked}
    contacts = qbo._load_contacts(k for k in keys if k in links)
    items: list[Item] = []
    singles: list[int] = []
    for row in sorted(claimed, key=lambda r: r.contact_key):  # lock order: see record_all
        link = links.get(row.contact_key) if row.op == OutboxOp.UPSERT else None
        contact = contacts.get(row.contact_key)
        if link is None or contact is None or not link.sync_token:
            singles.append(row.id)
            continue
        try:
            item = _plan(row, link, contact, fields)
        except Exception:  # noqa: BLE001 - a pre-flight failure or a surprise: the single path classifies it
            singles.append(row.id)
            continue
        if item is None:
            singles.append(row.id)
        elif item is _UNCHANGED:
            session.flush()
        else:
            items.append(t.cast(Item, item))
    session.commit()
    return items, sorted(singles)


#: :func:`_plan`'s answer for a row whose contact already matches QBO (marked done in place).
_UNCHANGED = object()


def _plan(row: Outbox, link: Customer, contact: object, fields: FieldMap) -> Item | object | None:
    """The batch item for one row, :data:`_UNCHANGED`, or ``None`` for the single path."""
    values = contact_values(contact, fields)
    digest = customer_hash(values)
    if digest in (link.last_pushed_hash, link.last_pulled_hash):
        if link.sync_status != SyncStatus.SYNCED:
            link.sync_status, link.sync_error = SyncStatus.SYNCED, None
        row.status, row.error_code, row.last_error = OutboxStatus.DONE, None, None
        return _UNCHANGED
    validate_values({p: v for p, v in values.items() if (f := fields.by_path(p)) is not None and f.pushes}, fields)
    current = dict(link.raw or {})
    base = link.synced_values if link.synced_values is not None else (qbo_values(current, fields) if current else None)
    if follows_name() and renamed(values, base, current) is not None:
        return None  # a rename may be answered 6240 and retried with a suffix: the single path does that
    payload = build_update_payload(
        values, fields, qbo_id=link.qbo_id, sync_token=link.sync_token, base=base, current=current
    )
    if payload is None:
        return None
    return Item(
        row_id=row.id,
        contact_key=row.contact_key,
        qbo_id=str(link.qbo_id),
        values=values,
        payload=payload,
        sent=pushed_paths(values, base, fields),
        request_id=request_id(row, "update", link.sync_token, digest),
        note=sent_update(link.sync_token, link.qbo_updated_at, values, pushed_paths(values, base, fields), fields),
        created_at=row.created_at,
    )


def send(qbo: QBO, session: Session, conn: Connection, client: QBOClient, items: list[Item]) -> bool:
    """Send one batch and settle every item; False when the realm should pause this round."""
    ids = [item.row_id for item in items]
    extra = {"qbo_tenant": conn.tenant_key, "qbo_realm": conn.realm_id}  # read now: commits expire conn
    request = [{"bId": str(n), "operation": "update", "Customer": item.payload} for n, item in enumerate(items)]
    # A repeat of exactly these writes (a crash before we recorded the answer) replays QBO's first answer.
    batch_id = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "|".join(item.request_id for item in items)))
    try:
        answers = client.batch(request, request_id=batch_id)
    except QBOAuthError as exc:
        hold_connection(session, conn)  # a purge answers 401 too: then there is nothing left to mark
        rows.needs_reconnect(qbo, ids, conn.tenant_key, exc)
        return False
    except QBOTokenDecryptError as exc:
        rows.wait_for_key(qbo, ids, conn.tenant_key, exc)
        return False
    except QBORateLimitError as exc:
        OUTBOX.release(session, ids, delay=max(exc.retry_after or 0.0, OUTBOX.backoff(session, ids[0])), error=exc)
        return False
    except QBOTransientError as exc:
        for item in items:  # QBO may have applied the batch before its answer was lost
            rows.keep_sent(session, item.row_id, item.note)
        OUTBOX.release(session, ids, delay=OUTBOX.backoff(session, ids[0]), error=exc)
        return False
    except QBOError as exc:
        log.warning(
            "QuickBooks refused a whole batch of tenant %s; pushing its %d rows one by one.",
            extra["qbo_tenant"],
            len(items),
            exc_info=True,
            extra={**extra, "qbo_outbox_id": ids, "intuit_tid": getattr(exc, "intuit_tid", None)},
        )
        answers = [{} for _ in items]
    done: list[tuple[Item, dict[str, t.Any]]] = []
    parked: list[tuple[Item, QBOValidationError]] = []
    retry: list[int] = []
    for item, answer in zip(items, answers):
        error = batch_error(answer, intuit_tid=client.last_intuit_tid) if answer else None
        data = answer.get("Customer")
        if error is None and isinstance(data, dict) and str(data.get("Id")) == item.qbo_id:
            done.append((item, data))
        elif (
            isinstance(error, QBOValidationError)
            and not isinstance(error, QBOStaleObjectError)
            and (answer.get("Fault") or {}).get("type") == "ValidationFault"
        ):
            parked.append((item, error))
        else:
            retry.append(item.row_id)
    if done:
        record_all(qbo, session, conn, done)
        log.debug(
            "Pushed %d outbox rows of tenant %s in one batch.",
            len(done),
            extra["qbo_tenant"],
            extra={**extra, "qbo_outbox_id": [item.row_id for item, _ in done], "intuit_tid": client.last_intuit_tid},
        )
    for item, error in parked:
        rows.fail(qbo, item.row_id, error)
    for n, row_id in enumerate(retry):
        if not rows.handle(qbo, row_id, client):
            OUTBOX.release(session, retry[n + 1 :], delay=0.0, attempts_back=True)
            return False
    return True


def record_all(qbo: QBO, session: Session, conn: Connection, done: list[tuple[Item, dict[str, t.Any]]]) -> None:
    """Record every successful item in one commit, then send ``pushed`` for each.

    Mirrors :func:`flask_qbo.sync.push.context.record` for a whole batch: a contact
    linked to another customer (an old realm) is unlinked, the mirror row gets
    QBO's answer, the link its synced values, and each push is logged.
    Customer rows are written one flush each in contact-key order, the order
    capture writes them in, so this transaction and a CRM mass edit cannot
    deadlock on PostgreSQL (a single flush would order them by primary key).

    :raises ConnectionGone: the connection was purged while the batch was in flight.
    """
    hold_connection(session, conn)
    fields = qbo._registration().fields
    keys = {item.contact_key: item.qbo_id for item, _ in done}
    now = utcnow()
    with session.no_autoflush:
        for other in session.scalars(
            select(Customer).where(
                Customer.tenant_key == conn.tenant_key,
                Customer.contact_key.in_(list(keys)),
            )
        ):
            if other.qbo_id != keys.get(str(other.contact_key)) or other.realm_id != conn.realm_id:
                other.contact_key = None
        for item, data in sorted(done, key=lambda pair: pair[0].contact_key):
            link = mirror.upsert_customer(session, conn, data, contact_key=item.contact_key)
            link.last_pushed_hash = customer_hash(item.values)
            link.synced_values = sync_state(qbo_values(data, fields), item.values)
            link.sync_status, link.sync_error, link.last_synced_at = SyncStatus.SYNCED, None, now
            session.flush()
        session.add_all(
            [
                SyncLog(
                    tenant_key=conn.tenant_key,
                    realm_id=conn.realm_id,
                    contact_key=item.contact_key,
                    qbo_id=item.qbo_id,
                    direction="push",
                    action="updated",
                    fields=item.sent,
                )
                for item, _ in done
            ]
        )
    table = OUTBOX.table
    session.execute(
        update(table)
        .where(table.c.id.in_([item.row_id for item, _ in done]))
        .values(status=OutboxStatus.DONE, error_code=None, last_error=None)
    )
    tenant_key, realm_id = conn.tenant_key, conn.realm_id
    session.commit()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for item, _ in done:
        signals.push_settled.send(
            app, tenant_key=tenant_key, realm_id=realm_id, outcome=OutboxStatus.DONE.value, created_at=item.created_at
        )
        signals.pushed.send(
            app, contact_key=item.contact_key, qbo_id=item.qbo_id, operation="updated", fields=item.sent
        )
