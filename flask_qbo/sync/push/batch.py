"""Backlogs through QBO's batch endpoint: up to 30 customer writes per request.

A bulk edit in the CRM (an import, a mass update) queues hundreds of rows for
one realm.  Sent one by one they would spend the realm's 500 requests a minute;
batched they cost one request per 30 rows, within the batch limit the client's
throttle enforces.

The database work per batch is constant, not per row: one UPDATE claims up to
30 rows (:func:`claim_batch`), three queries load the rows,
their links and their contacts, and one commit records every successful
item — mirror row, synced values, sync log and the row's ``done``
(:func:`flask_qbo.sync.push.settle.record_all`).  (Per-row
claim and completion commits, an fsync each on SQLite, capped a backlog at
about 40 rows a second before.)

Updates of linked contacts are sent here; new contacts are matched and
created in bulk by :mod:`flask_qbo.sync.push.creates`; the rest (deletes, a
rename that may need a suffix, a create whose answer was lost) takes the
single-row path, and document rows (estimates and invoices) are never claimed
here at all.  Per update item, QBO's answer decides: success is recorded,
a validation fault (a duplicate name, a rejected value) parks that row as
``failed``, and a stale SyncToken or any other fault sends the row through the
single-row path, which re-reads, merges and retries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t
import uuid as uuidlib

from sqlalchemy import select

from ...errors import QBOAuthError
from ...errors import QBOError
from ...errors import QBORateLimitError
from ...errors import QBOStaleObjectError
from ...errors import QBOTokenDecryptError
from ...errors import QBOTransientError
from ...errors import QBOValidationError
from ...intuit.faults import batch_error
from ...models import CUSTOMER_OPS
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ...models import SyncStatus
from ...models import utcnow
from ..currency import company_prefs
from ..dating import sent_update
from ..locks import ConnectionGone
from ..locks import hold_connection
from ..payload import build_update_payload
from ..payload import contact_values
from ..payload import customer_hash
from ..payload import pushed_paths
from ..payload import qbo_values
from ..payload import renamed
from ..preflight import validate_values
from ..queue import OUTBOX
from ..queue import worker_id
from . import rows
from .context import request_id
from .creates import New
from .creates import plan_new
from .creates import push_new
from .jobs import goes_alone
from .settle import record_all
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
    action: str = "updated"


def claim_batch(session: Session, tenant_key: str, size: int, now: dt.datetime, who: str) -> list[int]:
    """Take up to ``size`` due rows of one tenant with one UPDATE; returns their ids, oldest first. Commits.

    Claiming row by row cost a commit (an fsync on SQLite) per row, which
    dominated a backlog's push time.  The queue's per-contact rule holds
    (:meth:`flask_qbo.sync.queue.OutboxQueue.due`), so a batch never holds two
    rows of one contact, and two workers never both take a row.  Only customer
    rows are taken: a document row always takes the single-row path
    (:mod:`flask_qbo.sync.push.documents`), so its create is never mixed into a batch.

    A batch is never split between workers (``split=False``): a batch of 5
    costs the requests of a batch of 30, and one of QBO's batch calls a
    minute, so workers sharing a backlog take whole batches in turn.
    """
    customer_rows = [Outbox.tenant_key == tenant_key, Outbox.op.in_(CUSTOMER_OPS)]
    return OUTBOX.claim_many(session, customer_rows, size, now, who, split=False)


def process_batch(qbo: QBO, tenant_key: str, limit: int) -> int:
    """Push up to ``limit`` of the tenant's due rows, batching updates and creates; returns rows handled.

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
            items, news, singles = prepare(qbo, session, conn, ids)
        except ConnectionGone:
            session.rollback()
            break
        handled += len(ids)
        for n, row_id in enumerate(singles):
            if not rows.handle(qbo, row_id, client):
                waiting = [*singles[n + 1 :], *(item.row_id for item in items), *(new.row_id for new in news)]
                OUTBOX.release(session, waiting, delay=0.0, attempts_back=True)
                return handled - len(waiting)
        try:
            if items and not send(qbo, session, conn, client, items):
                OUTBOX.release(session, [new.row_id for new in news], delay=0.0, attempts_back=True)
                return handled - len(news)
            if news and not push_new(qbo, session, conn, client, news):
                return handled
        except ConnectionGone:
            session.rollback()
            return handled
    return handled


def prepare(
    qbo: QBO, session: Session, conn: Connection, row_ids: list[int]
) -> tuple[list[Item], list[New], list[int]]:
    """Split claimed rows into batch updates, new contacts and single-path rows; rows with nothing to send are done.

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
    contacts = qbo._load_contacts(keys)
    prefs = company_prefs(session, conn.realm_id)
    items: list[Item] = []
    news: list[New] = []
    singles: list[int] = []
    for row in sorted(claimed, key=lambda r: r.contact_key):  # lock order: see record_all
        link = links.get(row.contact_key) if row.op == OutboxOp.UPSERT else None
        contact = contacts.get(row.contact_key)
        if contact is not None and goes_alone(qbo, contact, link):  # a job: its parent comes first
            singles.append(row.id)
            continue
        new = (
            plan_new(row, contact, fields, prefs)
            if link is None and contact is not None and row.op == OutboxOp.UPSERT
            else None
        )
        if new is not None:
            news.append(new)
            continue
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
    return items, sorted(news, key=lambda new: new.row_id), sorted(singles)


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
