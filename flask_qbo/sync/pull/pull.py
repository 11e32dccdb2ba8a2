"""QBO → CRM: turn inbox events and CDC polls into local changes.

Two sources feed the same :class:`~flask_qbo.sync.pull.apply.Applier`:

* :func:`process` drains ``qbo_inbox`` (filled by the webhook view).  Per realm it
  reads what the events name in bulk: one ``Id IN (...)`` query per entity type
  and up to 1,000 ids, whatever the number of events, so a flood of events
  (even for objects that do not exist) costs a handful of requests, and a
  runner can give pushes a turn after every batch (see :mod:`flask_qbo.runners.thread`).
* :func:`poll_cdc` is the safety net: every ``QBO_CDC_INTERVAL`` seconds it asks
  CDC for everything changed since the connection's cursor (minus an overlap),
  so a lost, late or reordered webhook never loses a change.

Because both paths may deliver the same object, in any order, applying is
idempotent and newest-wins (see :mod:`flask_qbo.sync.pull.apply`).
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from concurrent.futures import Executor
from functools import partial

from sqlalchemy import func
from sqlalchemy import select

from ...config import cdc_interval
from ...config import get_config
from ...errors import QBOAPIError
from ...errors import QBOAuthError
from ...errors import QBOTokenDecryptError
from ...intuit import faults
from ...intuit.auth import record_reads
from ...intuit.ids import is_qbo_id
from ...models import Connection
from ...models import ConnectionStatus
from ...models import Inbox
from ...models import InboxStatus
from ...models import SyncLog
from ...models import utcnow
from ...state import get_qbo
from ..capture import suppress_capture
from ..locks import ConnectionGone
from ..locks import hold_connection
from ..locks import lock_customers
from ..queue import INBOX
from ..queue import raising_errors
from ..queue import worker_id
from . import merges
from . import mirror
from . import ordering
from . import parsing
from . import polling
from . import prefetch
from . import scope
from .apply import Applier
from .balances import BALANCE_TYPES
from .reads import IN_CHUNK
from .reads import NAME_LISTS
from .reads import mirrored_customers
from .reads import mirrored_objects
from .reads import read_many

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO
    from ...intuit.client import QBOClient

log = logging.getLogger(__name__)

#: Entities pulled: customers, the six sales transactions, the card's reference lists and the
#: products and services documents are made of (Item: one more name in the same CDC request).
ENTITIES = ("Term", "PaymentMethod", "Item", "Customer", *mirror.TRANSACTION_TYPES)
#: CDC refuses a ``changedSince`` older than this; the hour of margin absorbs clock skew.
CDC_MAX_AGE = dt.timedelta(days=30) - dt.timedelta(hours=1)
#: CDC returns at most this many objects; a full page may be truncated.
CDC_CAP = 1000
#: Inbox rows :func:`process` takes per realm by default: one bulk read's worth.
BATCH = IN_CHUNK


# -- the inbox --------------------------------------------------------------------


def process(qbo: QBO | None = None, limit: int = BATCH) -> int:
    """Apply up to ``limit`` pending webhook events per realm; returns how many local changes were made.

    One call is one bounded turn: a runner that wants the backlog gone calls
    again while :func:`pending_count` says events are left, giving pushes a
    turn in between.  Events are claimed per realm, oldest first, through
    :data:`flask_qbo.sync.queue.INBOX` (which also takes back the claims of a
    worker that died: its lease ran out).
    """
    qbo = qbo or get_qbo()
    session = qbo.state().db.session()
    realms = list(session.scalars(select(Inbox.realm_id).where(INBOX.ready(utcnow())).distinct()))
    session.commit()
    applied = 0
    for realm in realms:
        conn = qbo._connection_for_realm(realm)
        if conn is None:
            INBOX.settle(
                session,
                (Inbox.realm_id == realm) & INBOX.claimable(utcnow()),
                InboxStatus.IGNORED,
                "No tenant is connected to this realm.",
            )
            session.commit()
            continue
        if not conn.is_active:
            continue  # kept for after the reconnect
        conn_id = conn.id  # the claim commits: the object may be purged before it is used again
        rows = _claim(session, realm, limit)
        if rows:
            applied += _process_claimed(qbo, conn_id, rows)
    return applied


def pending_count(qbo: QBO | None = None) -> int:
    """Inbox events :func:`process` would take now: due, of a connected realm.

    Events kept for a reconnect, and events put back after a failed batch that
    are still waiting out their backoff, are not counted, so a runner that
    loops while this is above zero never spins on them.
    """
    qbo = qbo or get_qbo()
    session = qbo.state().db.session()
    count = session.execute(
        select(func.count(Inbox.id))
        .join(Connection, Connection.realm_id == Inbox.realm_id)
        .where(INBOX.ready(utcnow()), Connection.status == ConnectionStatus.CONNECTED)
    ).scalar()
    session.commit()
    return int(count or 0)


def _claim(session: Session, realm: str, limit: int) -> list[Inbox]:
    """Claim up to ``limit`` of the realm's due events, oldest first; the claimed rows."""
    ids = INBOX.claim_many(session, [Inbox.realm_id == realm], limit, utcnow(), worker_id())
    if not ids:
        return []
    return list(session.scalars(select(Inbox).where(INBOX.held(ids)).order_by(Inbox.id)))


def _process_claimed(qbo: QBO, conn_id: int, rows: list[Inbox]) -> int:
    """Apply claimed rows for one connection, then settle them.

    A disconnect may delete the connection (and these rows) at any moment
    since the claim; the rows are then dropped without a word, and nothing is
    written for the purged connection (see :func:`flask_qbo.sync.locks.hold_connection`).
    Waiting for a reconnect or for the encryption key is not a failed attempt:
    those events come back after the first retry wait without spending one.
    """
    session = qbo.state().db.session()
    ids = [row.id for row in rows]
    conn = session.get(Connection, conn_id)
    if conn is None or not conn.is_active:
        INBOX.release(session, ids, delay=0.0, attempts_back=True)
        return 0
    realm = conn.realm_id
    wait = INBOX.strategy().base_wait
    try:
        applied = _apply_events(qbo, conn, rows)
    except ConnectionGone:
        session.rollback()
        INBOX.release(session, ids, delay=0.0, attempts_back=True)
        return 0
    except QBOAuthError as exc:
        session.rollback()
        INBOX.release(session, ids, delay=wait, error=f"Waiting for a reconnect: {exc}", attempts_back=True)
        return 0
    except QBOTokenDecryptError as exc:  # a wrong key, not a bad batch: wait without spending attempts
        session.rollback()
        INBOX.release(session, ids, delay=wait, error=str(exc), attempts_back=True)
        return 0
    except Exception as exc:  # a bad batch must not stop the other realms
        session.rollback()
        log.exception("Inbox rows %s of realm %s failed.", ids, realm, extra={"qbo_realm": realm, "qbo_inbox_id": ids})
        INBOX.retry(session, ids, f"{type(exc).__name__}: {exc}")
        if raising_errors():
            raise
        return 0
    INBOX.settle(session, INBOX.held(ids), InboxStatus.DONE, None)
    session.commit()
    return applied


def _apply_events(qbo: QBO, conn: Connection, rows: list[Inbox]) -> int:
    """Fetch and apply what a batch of events points at; everything commits together.

    A customer the events name that QBO no longer has, or that the batch's
    transactions left, was merged away: :mod:`flask_qbo.sync.pull.merges`
    finds where it went unless a Merge event of the batch says so.
    """
    session = qbo.state().db.session()
    realm = str(conn.realm_id)
    applier = Applier(qbo, conn)
    client = qbo.client(conn)
    wanted: dict[tuple[str, str], None] = {}  # a dict keeps the events' order
    merged: list[tuple[str, str]] = []
    deletes: list[Inbox] = []
    items_gone: list[str] = []  # items a Merge removed: QBO keeps them, inactive
    held = mirrored_objects(session, realm, [key for row in rows if (key := _created(row))])
    for row in rows:
        if row.entity not in ENTITIES or not is_qbo_id(row.entity_id):
            continue  # names nothing QBO can have: done, without a read (and never failing the bulk read)
        if _created(row) in held:
            continue  # a first version the mirror has passed: our own create's echo, or a poll got there first
        if row.operation == "Delete" and row.entity in mirror.TRANSACTION_TYPES:
            deletes.append(row)
            continue
        wanted[(row.entity, row.entity_id)] = None
        if row.operation == "Merge" and row.deleted_id and row.entity == "Customer":
            merged.append((row.deleted_id, row.entity_id))
        elif row.operation == "Merge" and row.deleted_id and row.entity == "Item":
            items_gone.append(row.deleted_id)
    # Reads before writes: the read counter commits on its own connection.
    fetched = scope.fetch(client, session, realm, wanted, rows, _fetch)
    touched = _balance_customers(session, realm, fetched.items(), [(r.entity, r.entity_id) for r in deletes])
    for data in read_many(client, "Customer", touched - {qbo_id for kind, qbo_id in fetched if kind == "Customer"}):
        fetched[("Customer", str(data["Id"]))] = data
    missing = [key for key in wanted if key not in fetched]
    announced = [(from_id, into_id) for from_id, into_id in merged if ("Customer", into_id) in fetched]
    # A Merge whose survivor cannot be read (merged on since: A into B, then B into C) still says its
    # merged-away customer is gone; the repair follows its transactions to wherever they are now.
    unread = [from_id for from_id, into_id in merged if ("Customer", into_id) not in fetched]
    gone = mirrored_customers(session, realm, [*(i for kind, i in missing if kind == "Customer"), *unread])
    survivors = merges.find(
        session, realm, gone, fetched, partial(read_many, client), announced=[from_id for from_id, _ in announced]
    )
    # The connection, then every customer row this transaction may write, in push's order (see flask_qbo.sync.pull.apply).
    hold_connection(session, conn)
    customers = {qbo_id for kind, qbo_id in [*fetched, *wanted] if kind == "Customer"}
    customers = customers.union(*merged, survivors.customer_ids())
    lock_customers(session, realm, customers)
    # Every row the batch may look up, read in bulk now that it is locked (see .prefetch).
    documents = [
        key
        for key in [*fetched, *wanted, *((r.entity, r.entity_id) for r in deletes)]
        if key[0] in mirror.TRANSACTION_TYPES
    ]
    owners = {str(ref) for data in fetched.values() if (ref := (data.get("CustomerRef") or {}).get("value"))}
    # One capture-free block for the batch (nothing pulled is pushed back): its writes go out in one flush.
    with prefetch.batch(qbo, session, conn, customers | owners, documents), suppress_capture():
        for row in deletes:
            applier.delete_transaction(row.entity, row.entity_id, ordering.happened_by(row))
        for entity in ENTITIES:
            for (kind, _), data in sorted(fetched.items(), key=lambda item: str(parsing.last_updated(item[1]))):
                if kind == entity:
                    applier.apply(entity, data)
        for entity, entity_id in missing:
            if entity in mirror.TRANSACTION_TYPES:
                applier.delete_transaction(entity, entity_id, None)  # deleted from QBO
            elif entity == "Item":
                items_gone.append(entity_id)
        for item_id in items_gone:
            applier.item_gone(item_id)
        for from_id, into_id in announced:
            applier.merge(from_id, fetched[("Customer", into_id)])
        survivors.apply(applier)
    session.commit()
    applier.milestones.send()
    return applier.applied


def _created(row: Inbox) -> tuple[str, str] | None:
    """The ``(entity, id)`` a Create event of a customer or document names, else ``None``.

    A Create event stands for an object's first version only: each later
    change has an event of its own.  So once the mirror holds the object (our
    own push recorded what QBO answered, or a CDC poll got there first), the
    event needs no read.  Without this, every contact a CRM creates cost a
    second QBO request when its webhook came back.
    """
    if row.operation != "Create" or row.entity not in ("Customer", *mirror.TRANSACTION_TYPES):
        return None
    return (row.entity, row.entity_id) if is_qbo_id(row.entity_id) else None


def _fetch(client: QBOClient, wanted: t.Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, t.Any]]:
    """The current version of each wanted ``(entity, id)`` that QBO has, read in bulk.

    One query per entity type and :data:`IN_CHUNK` ids (see :func:`~flask_qbo.sync.pull.reads.read_many`).
    A wanted object missing from the answer is gone from QBO (deleted, merged
    away, or never there); the caller handles it as such.  Which documents are
    asked for at all is :func:`.scope.fetch`'s choice (``QBO_MIRROR``).
    """
    ids: dict[str, set[str]] = {}
    for entity, entity_id in wanted:
        ids.setdefault(entity, set()).add(entity_id)
    found: dict[tuple[str, str], dict[str, t.Any]] = {}
    for entity in (name for name in ENTITIES if name in ids):
        for data in read_many(client, entity, ids[entity]):
            found[(entity, str(data["Id"]))] = data
    return found


def _balance_customers(
    session: Session,
    realm_id: str | None,
    changed: t.Iterable[tuple[t.Any, t.Mapping[str, t.Any]]],
    deleted: t.Iterable[tuple[str, str]],
) -> set[str]:
    """Ids of the customers whose balance the batch's invoices, payments or credit memos moved.

    ``changed`` holds (entity or (entity, id) key, object) pairs, CDC's
    ``status: Deleted`` ones included; ``deleted`` holds (entity, id) pairs of
    Delete events.  Deleted transactions carry no CustomerRef, so their
    customer comes from the mirror.
    """
    ids: set[str] = set()
    deleted = list(deleted)
    for key, data in changed:
        entity = key[0] if isinstance(key, tuple) else key
        if data.get("status") == "Deleted":
            deleted.append((entity, str(data["Id"])))
            continue
        ref = (data.get("CustomerRef") or {}).get("value")
        if entity in BALANCE_TYPES and ref:
            ids.add(str(ref))
    for entity, qbo_id in deleted:
        row = mirror.get_transaction(session, str(realm_id), entity, qbo_id) if entity in BALANCE_TYPES else None
        if row is not None and row.customer_qbo_id:
            ids.add(row.customer_qbo_id)
    return ids


# -- CDC safety net ------------------------------------------------------------------


def poll_cdc(qbo: QBO, connection: Connection) -> int:
    """Apply every change since the connection's cursor; returns how many local changes were made.

    The window starts ``QBO_CDC_OVERLAP`` seconds before the cursor so a change
    stamped at the edge is not missed; re-delivered objects are no-ops.  A
    cursor older than CDC's 30-day limit (a long outage), a refused window, or
    a response at CDC's 1000-object cap falls back to queries by
    ``MetaData.LastUpdatedTime``, which page without limit but cannot see
    deleted transactions.

    The poll is one transaction with one commit: its metered reads are
    counted in the same UPDATE of the connection row that moves the cursor
    (or on their own if the poll fails).
    """
    reads: list[int] = []
    try:
        return _poll_cdc(qbo, connection, reads)
    except BaseException:
        if reads:
            qbo.state().db.session().rollback()  # first: on SQLite the poll may hold the write lock
            record_reads(qbo, polling.connection_id(connection), len(reads))
        raise


def _poll_cdc(qbo: QBO, connection: Connection, reads: list[int]) -> int:
    session = qbo.state().db.session()
    started = utcnow()
    polled = connection.last_cdc_at
    overlap = dt.timedelta(seconds=int(get_config("QBO_CDC_OVERLAP")))
    cursor = connection.cdc_cursor or connection.connected_at or started - dt.timedelta(seconds=cdc_interval())
    window_start = cursor - overlap
    client = qbo.client(connection)
    client.on_read = reads.append  # counted with the cursor below: no commit of its own
    objects, mode = None, "cdc"
    if started - window_start < CDC_MAX_AGE:
        try:
            objects = client.cdc(list(ENTITIES), window_start)
        except QBOAPIError as exc:
            if exc.status != 400:
                raise
            log.info("CDC refused the window from %s (%s); re-syncing by query.", window_start, faults.brief(exc))
        if objects is not None and sum(len(v) for v in objects.values()) >= CDC_CAP:
            objects = None
    if objects is None:
        mode = "query"
        objects = _query_changed(client, window_start)
    changed = scope.in_scope(session, str(connection.realm_id), objects)
    known = {str(data["Id"]) for data in objects.get("Customer", ())}
    touched = _balance_customers(session, connection.realm_id, changed, [])
    objects.setdefault("Customer", []).extend(read_many(client, "Customer", touched - known))
    realm = str(connection.realm_id)
    held = {(entity, str(data["Id"])): data for entity, items in objects.items() for data in items}
    deleted = [key[1] for key, data in held.items() if key[0] == "Customer" and data.get("status") == "Deleted"]
    survivors = merges.find(session, realm, deleted, held, partial(read_many, client))
    # The connection, then every customer row this transaction may write, in push's order (see flask_qbo.sync.pull.apply).
    if held:  # else the cursor's update below is the first write, and checks for an overtaking poll itself
        polling.hold_unpolled(session, connection, polled)
    lock_customers(session, realm, {str(data["Id"]) for data in objects["Customer"]} | survivors.customer_ids())
    applier = Applier(qbo, connection)
    newest = started
    for entity in ENTITIES:
        for data in sorted(objects.get(entity, ()), key=lambda d: str(parsing.last_updated(d))):
            if entity != "Customer" or not survivors.covers(str(data["Id"])):
                applier.apply(entity, data)
            when = parsing.last_updated(data)
            if when is not None and when > newest:
                newest = when
    survivors.apply(applier)
    polling.advance(session, connection, newest, len(reads), unpolled=None if held else polling.Unpolled(polled))
    ordering.cover(session, realm, window_start, started, deletes=mode == "cdc")
    if mode == "query":
        session.add(
            SyncLog(
                tenant_key=connection.tenant_key,
                realm_id=connection.realm_id,
                direction="pull",
                action="resynced",
                message=f"Full re-sync by query of changes since {window_start}.",
            )
        )
    session.commit()
    reads.clear()  # counted by the commit
    applier.milestones.send()
    return applier.applied


def _query_changed(client: QBOClient, since: dt.datetime) -> dict[str, list[dict[str, t.Any]]]:
    stamp = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    found: dict[str, list[dict[str, t.Any]]] = {}
    for entity in ENTITIES:
        where = f"MetaData.LastUpdatedTime > '{stamp}'"
        if entity in NAME_LISTS:
            where += " AND Active IN (true, false)"
        found[entity] = list(client.query(f"SELECT * FROM {entity} WHERE {where}"))
    return found


def poll_due(qbo: QBO | None = None, *, pool: Executor | None = None) -> int:
    """Poll CDC for every connected connection whose interval has passed; returns changes applied.

    Which connections are due, the one-poll-per-company rule and running
    polls side by side on ``pool`` (the thread runner's) are
    :mod:`.polling`'s; each poll is :func:`poll_cdc`.
    """
    return polling.poll_due(qbo or get_qbo(), poll_cdc, pool=pool)


def due_companies(qbo: QBO | None = None) -> list[int]:
    """Ids of the connections whose CDC poll is due now, for a dispatcher that shares them out."""
    return polling.due_now(qbo or get_qbo())


def poll_companies(ids: t.Iterable[int], qbo: QBO | None = None) -> int:
    """Poll CDC for those of ``ids`` still due (a worker's share of :func:`due_companies`)."""
    return polling.poll_ids(qbo or get_qbo(), ids, poll_cdc)
