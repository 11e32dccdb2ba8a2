"""Holding a connection row: how sync work and a purging disconnect stay out of each other's way.

Disconnecting with "delete synced data" (:func:`flask_qbo.connection.disconnect.purge_data`)
deletes the connection and every row synced for it, and takes the connection
row ``FOR UPDATE`` before anything else.  Every sync transaction that writes
rows of a connection — push, pull, CDC polls, token upkeep — takes the same row
with :func:`hold_connection` before its first write, after its last QBO
request: either the sync commits first and the purge then deletes what it
wrote, or the purge commits first and the sync finds the connection gone
(:class:`ConnectionGone`) and rolls back.  Nothing is written for a purged
connection, and the two never wait on each other in a cycle.

It lives apart from push and pull because both directions (and upkeep) use it,
and neither direction imports the other.

The customer lock order (:func:`lock_order`, :func:`lock_customers`) lives here for the
same reason: push, pull and the import apply all take customer rows in it
(:mod:`flask_qbo.sync.pull.apply` explains why it prevents deadlocks).
"""

from __future__ import annotations

import typing as t

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Update
from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy import inspect
from sqlalchemy import nulls_last
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import ARRAY

from ..models import Connection
from ..models import Customer

T = t.TypeVar("T")

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .queue import DBSession


class ConnectionGone(Exception):
    """The connection was deleted (a purge) while work for it was in flight.

    Not an error: the work is dropped and its transaction rolled back.
    """


def hold_connection(session: DBSession, connection: Connection) -> None:
    """Keep the connection row from being purged until this transaction ends (see the module docstring).

    Call it after the transaction's last QBO request and before its first
    write.  PostgreSQL takes ``FOR KEY SHARE``, which a purge's ``FOR UPDATE``
    waits for but which lets the read counter and token rotations (short
    updates of their own) through.  SQLite has no row locks: a no-op update
    takes its database write lock, which no purge can commit past.  Pending
    changes of the session are not flushed first, so nothing is written before
    the row is held.

    Only the row's existence counts: a connection that was disconnected but
    kept (or needs a reconnect) keeps its rows, so what was already read from
    QBO may still be recorded.  ``connection`` may be expired (a commit since
    it was loaded): its id is taken from the identity map, without loading a
    row that may be gone.

    :raises ConnectionGone: the row is gone.
    """
    identity = inspect(connection).identity
    connection_id = identity[0] if identity else None
    held: object
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            held = session.execute(_SHARE_CONNECTION, {"connection_id": connection_id}).first()
        else:
            held = getattr(session.execute(_WRITE_CONNECTION, {"connection_id": connection_id}), "rowcount", 0)
    if not held:
        raise ConnectionGone(f"QBO connection {connection_id} was deleted while work for it was in flight.")


_CONNECTIONS = t.cast(Table, Connection.__table__)


def share_connection(column: ColumnElement[T]) -> Select[T]:
    """PostgreSQL's hold: ``column`` of the row ``connection_id``, ``FOR KEY SHARE``."""
    return (
        select(column).where(_CONNECTIONS.c.id == bindparam("connection_id")).with_for_update(read=True, key_share=True)
    )


def write_connection() -> Update:
    """SQLite's hold: a no-op update of the row ``connection_id`` (it takes the database's write lock)."""
    return (
        update(_CONNECTIONS)
        .where(_CONNECTIONS.c.id == bindparam("connection_id"))
        .values(updated_at=_CONNECTIONS.c.updated_at)
    )


# Built once: every CDC poll of every company holds its connection, and building the
# statement cost more than running it (the cache key is memoized on the object).
_SHARE_CONNECTION = share_connection(_CONNECTIONS.c.id)
_WRITE_CONNECTION = write_connection()


def lock_order(contact_key: str | None, qbo_id: str) -> tuple[bool, str, str]:
    """Sort key giving customer rows in the customer lock order (see :mod:`flask_qbo.sync.pull.apply`)."""
    return (contact_key is None, contact_key or "", str(qbo_id))


def lock_customers(session: Session, realm_id: str, qbo_ids: t.Iterable[str]) -> None:
    """Lock the mirror rows of ``qbo_ids`` in the customer lock order, before the first write.

    Only PostgreSQL needs it: SQLite lets one writer in at a time.  One
    statement whatever the number of ids (they travel as one array), whose
    ``ORDER BY`` PostgreSQL applies before locking, so rows are locked in that
    order; ``COLLATE "C"`` compares as Python does (code points), the order push
    sorts contact keys in.  Ids not mirrored yet lock nothing (their rows will be
    inserted, not updated).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    wanted = sorted({str(qbo_id) for qbo_id in qbo_ids})
    if not wanted:
        return
    session.execute(
        select(Customer.id)
        .where(Customer.realm_id == realm_id, Customer.qbo_id == any_(bindparam("ids", wanted, type_=ARRAY(String))))
        .order_by(nulls_last(Customer.contact_key.collate("C")), Customer.qbo_id.collate("C"))
        .with_for_update()
    ).all()
