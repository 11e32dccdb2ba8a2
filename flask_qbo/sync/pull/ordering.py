"""Where an inbox event stands among QBO's own times, even when Intuit sent none.

Pull compares an event's time with QBO's in two places: a Delete event's time
becomes the tombstone's, and a version of the object older than the tombstone
can never bring it back (:func:`flask_qbo.sync.pull.mirror.mark_transaction_deleted`);
and a CDC poll settles the pending events whose time lies inside the window it
applied (:func:`cover`).

CloudEvents make ``time`` optional, so an event may come without one.  Such an
event is placed by its arrival (:func:`happened_by`): Intuit sends a
notification after the change, so the moment it reached us is the earliest
time known not to be before the change, and every version QBO wrote before the
change stays older than it.  Before, a timeless Delete kept the mirrored
version's time, and a version read before the delete but applied after it
brought the deleted document back.  Arrival only bounds the change from above,
so a timeless event is never taken as covered by a CDC window: it keeps its own
read, which returns QBO's current state whenever it runs.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Update
from sqlalchemy import bindparam
from sqlalchemy import update
from sqlalchemy.orm import Session

from ...models import Inbox
from ...models import InboxStatus
from ...models import utcnow
from ..queue import INBOX


def happened_by(event: Inbox) -> dt.datetime:
    """The time an inbox event is ordered by: Intuit's, else its arrival (``received_at``)."""
    return event.event_time or event.received_at


def _cover_statement(kept: tuple[str, ...]) -> Update:
    c = INBOX.table.c
    return (
        update(INBOX.table)
        .where(
            c.realm_id == bindparam("realm"),
            c.status == InboxStatus.PENDING,
            c.operation.notin_(kept),
            c.event_time >= bindparam("start"),
            c.event_time <= bindparam("end"),
        )
        .values(status=InboxStatus.DONE, processed_at=bindparam("now", type_=c.processed_at.type), last_error=_COVERED)
    )


_COVERED = "Covered by a CDC poll."
# Built once (every poll of every company runs one): by whether the window's deletes were
# applied (CDC) or not (a re-sync by query).
_COVER: dict[bool, Update] = {True: _cover_statement(("Merge",)), False: _cover_statement(("Merge", "Delete"))}


def cover(session: Session, realm_id: str, start: dt.datetime, end: dt.datetime, *, deletes: bool) -> None:
    """Pending events inside the window CDC just applied need no read of their own.

    Merges stay pending: the event names the survivor even when no transaction
    shows it (see :mod:`flask_qbo.sync.pull.merges`), and applying it twice is a no-op.
    Deletes stay pending too when the window was re-synced by query
    (``deletes=False``): queries cannot see a deleted transaction, so only the
    event can remove it from the mirror.  Events without Intuit's time stay
    pending whatever the window (see the module docstring).
    """
    session.execute(_COVER[deletes], {"realm": realm_id, "start": start, "end": end, "now": utcnow()})
