"""Recording a batch's accepted items: one commit for every row QBO accepted.

Both batch paths end here, the updates of linked contacts
(:mod:`flask_qbo.sync.push.batch`) and the creates of new ones
(:mod:`flask_qbo.sync.push.creates`): recording each row in its own commit (an
fsync each on SQLite) would cost more than the batch saved.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from flask import current_app
from sqlalchemy import Table
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from ... import signals
from ...models import Connection
from ...models import Customer
from ...models import OutboxStatus
from ...models import SyncLog
from ...models import SyncStatus
from ...models import utcnow
from ..locks import hold_connection
from ..locks import lock_customers
from ..payload import customer_hash
from ..payload import qbo_values
from ..payload import sync_state
from ..pull import mirror
from ..pull import prefetch
from ..pull import scope
from ..queue import OUTBOX

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO


_CUSTOMERS = t.cast(Table, Customer.__table__)
_SYNC_LOG = t.cast(Table, SyncLog.__table__)


class Settled(t.Protocol):
    """What recording an accepted batch item needs (read before the session expires)."""

    @property
    def row_id(self) -> int: ...

    @property
    def contact_key(self) -> str: ...

    @property
    def values(self) -> dict[str, t.Any]: ...

    @property
    def sent(self) -> list[str]: ...

    @property
    def action(self) -> str:
        """The sync log's and the ``pushed`` signal's operation: ``"updated"`` or ``"created"``."""

    @property
    def created_at(self) -> dt.datetime | None: ...


def record_all(
    qbo: QBO, session: Session, conn: Connection, done: t.Sequence[tuple[Settled, dict[str, t.Any]]]
) -> None:
    """Record every successful item in one commit, then send ``pushed`` for each.

    Mirrors :func:`flask_qbo.sync.push.context.record` for a whole batch of updates or creates: a contact
    linked to another customer (an old realm) is unlinked, the mirror row gets
    QBO's answer, the link its synced values, and each push is logged.
    The batch's mirror rows are locked in the customer lock order
    (:func:`~flask_qbo.sync.locks.lock_customers`, as pull does), then read
    with one query (:func:`~flask_qbo.sync.pull.prefetch.batch`), not one
    each: a webhook applied meanwhile cannot slip between the read and the
    write.  Rows already mirrored are updated one flush each in contact-key
    order, the order capture writes them in, so this transaction and a CRM
    mass edit cannot deadlock on PostgreSQL (a single flush would order them
    by primary key).  Rows new to the mirror, which no other transaction can
    hold, are inserted after them with one executemany, as are the log entries.

    :raises ConnectionGone: the connection was purged while the batch was in flight.
    """
    hold_connection(session, conn)
    fields = qbo._registration().fields
    keys = {item.contact_key: str(data["Id"]) for item, data in done}
    now = utcnow()
    lock_customers(session, str(conn.realm_id), keys.values())
    with session.no_autoflush, prefetch.batch(qbo, session, conn, keys.values(), (), contacts=False):
        for other in session.scalars(
            select(Customer).where(
                Customer.tenant_key == conn.tenant_key,
                Customer.contact_key.in_(list(keys)),
            )
        ):
            if other.qbo_id != keys.get(str(other.contact_key)) or other.realm_id != conn.realm_id:
                other.contact_key = None
        fresh: list[dict[str, t.Any]] = []
        for item, data in sorted(done, key=lambda pair: pair[0].contact_key):
            synced = {
                "contact_key": item.contact_key,
                "last_pushed_hash": customer_hash(item.values),
                "synced_values": sync_state(qbo_values(data, fields), item.values),
                "sync_status": SyncStatus.SYNCED,
                "sync_error": None,
                "last_synced_at": now,
            }
            if mirror.get_customer(session, str(conn.realm_id), str(data["Id"])) is None:
                fresh.append({**mirror.new_customer_row(session, conn, data), **synced})
                continue
            link = mirror.upsert_customer(session, conn, data, contact_key=item.contact_key)
            for name, value in synced.items():
                setattr(link, name, value)
            session.flush()
    # Plain executemany INSERTs, without RETURNING: nothing reads these rows back as objects, and
    # the ORM's one multi-row statement per flush was parsed afresh by the driver every time.
    # Without the ORM there is no mapper event: the new links' history reads are queued here.
    if fresh:
        session.execute(insert(_CUSTOMERS), fresh)
        scope.queue_history(session.connection(), str(conn.realm_id), [row["qbo_id"] for row in fresh])
    session.execute(
        insert(_SYNC_LOG),
        [
            {
                "tenant_key": conn.tenant_key,
                "realm_id": conn.realm_id,
                "contact_key": item.contact_key,
                "qbo_id": str(data["Id"]),
                "direction": "push",
                "action": item.action,
                "fields": item.sent,
            }
            for item, data in done
        ],
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
    for item, data in done:
        signals.push_settled.send(
            app, tenant_key=tenant_key, realm_id=realm_id, outcome=OutboxStatus.DONE.value, created_at=item.created_at
        )
        signals.pushed.send(
            app, contact_key=item.contact_key, qbo_id=str(data["Id"]), operation=item.action, fields=item.sent
        )
