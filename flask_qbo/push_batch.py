"""Backlogs through QBO's batch endpoint: up to 30 customer updates per request.

A bulk edit in the CRM (an import, a mass update) queues hundreds of rows for
one realm.  Sent one by one they would spend the realm's 500 requests a minute;
batched they cost one request per 30 rows, within the batch limit the client's
throttle enforces.  Only updates of linked contacts are batched: matching an
unlinked contact needs queries first, and a batch item carries no
``requestid``, so creates keep the single-row path with its replay protection.
Any item QBO faults (a stale SyncToken, a duplicate name) is handled again by
the single-row path, which knows how to merge or rename.
"""

from __future__ import annotations

import typing as t

from .errors import QBOAuthError
from .errors import QBOTransientError
from .mapping import build_update_payload
from .mapping import changed_paths
from .mapping import contact_values
from .mapping import customer_hash
from .mapping import qbo_values
from .models import Connection
from .models import Outbox
from .models import utcnow
from .push_ops import RowContext
from .push_ops import link_of
from .push_ops import record
from .validation import validate_values

#: QBO's maximum number of items in one batch request.
BATCH_SIZE = 30


def process_batch(qbo: t.Any, connection: Connection, limit: int) -> int:
    """Push up to ``limit`` of the tenant's due rows, batching the updates; returns rows handled."""
    from . import push

    session = qbo.state().db.session
    tenant_key = connection.tenant_key
    handled = 0
    client = None
    while handled < limit:
        rows = push.candidates(session, [tenant_key], min(BATCH_SIZE, limit - handled), utcnow())
        ids = [r.id for r in rows]
        session.commit()
        who = push.worker_id()
        claimed = [i for i in ids if push.claim(session, i, utcnow(), who)]
        if not claimed:
            break
        handled += len(claimed)
        conn = session.query(Connection).filter_by(tenant_key=tenant_key).one()
        client = client or qbo.client(conn)
        items, singles = _prepare(qbo, session, conn, client, claimed)
        for row_id in singles:
            if not push.handle(qbo, row_id, client):
                return handled
        if items and not _send(qbo, session, conn, client, items):
            return handled
    return handled


def _prepare(
    qbo: t.Any, session: t.Any, conn: Connection, client: t.Any, row_ids: list[int]
) -> tuple[dict[str, tuple[int, dict[str, t.Any], dict[str, t.Any]]], list[int]]:
    """Split claimed rows into batchable updates (bId → row, payload, values) and single-path rows."""
    items: dict[str, tuple[int, dict[str, t.Any], dict[str, t.Any]]] = {}
    singles: list[int] = []
    fields = qbo.registration().fields
    for row_id in row_ids:
        row = session.get(Outbox, row_id)
        ctx = RowContext(qbo=qbo, session=session, row=row, connection=conn, client=client)
        link = link_of(ctx) if row.op == "upsert" else None
        contact = qbo.load_contact(row.contact_key) if link is not None else None
        if link is None or contact is None or not link.sync_token:
            singles.append(row_id)
            continue
        values = contact_values(contact, fields)
        base = link.synced_values if link.synced_values is not None else qbo_values(link.raw or {}, fields)
        payload = build_update_payload(values, fields, qbo_id=link.qbo_id, sync_token=link.sync_token,
                                       base=base, current=link.raw or {})
        try:
            validate_values({p: values[p] for p in changed_paths(values, base)}, fields)
        except Exception:
            singles.append(row_id)
            continue
        if payload is None or customer_hash(values) in (link.last_pushed_hash, link.last_pulled_hash):
            singles.append(row_id)
            continue
        items[f"b{row_id}"[:10]] = (row_id, payload, values)
    session.commit()
    return items, singles


def _send(
    qbo: t.Any, session: t.Any, conn: Connection, client: t.Any,
    items: dict[str, tuple[int, dict[str, t.Any], dict[str, t.Any]]],
) -> bool:
    """Send one batch; successes are recorded, faulted items retried singly. False pauses the realm."""
    from . import push

    request = [{"bId": bid, "operation": "update", "Customer": payload} for bid, (_, payload, _) in items.items()]
    try:
        answers = client.batch(request)
    except QBOAuthError as exc:
        for row_id, _, _ in items.values():
            push.release(session, row_id, delay=0.0, error=exc, attempts_back=True)
        return False
    except QBOTransientError as exc:
        for row_id, _, _ in items.values():
            push.release(session, row_id, delay=push.backoff(row_id, session), error=exc)
        return False
    answered = {str(a.get("bId")) for a in answers}
    retry_single = [row_id for bid, (row_id, _, _) in items.items() if bid not in answered]
    for answer in answers:
        entry = items.get(str(answer.get("bId")))
        if entry is None:
            continue
        row_id, payload, values = entry
        data = answer.get("Customer")
        if data is None:
            retry_single.append(row_id)
            continue
        row = session.get(Outbox, row_id)
        ctx = RowContext(qbo=qbo, session=session, row=row, connection=conn, client=client)
        outcome = record(ctx, data, values, "updated", [p for p in payload if p not in ("Id", "SyncToken", "sparse")])
        push.finished(qbo, ctx, outcome)
    for row_id in retry_single:
        if not push.handle(qbo, row_id, client):
            return False
    return True
