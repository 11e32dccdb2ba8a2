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

from sqlalchemy.orm import Session

from ...models import Inbox
from ...models import InboxStatus
from ..queue import INBOX


def happened_by(event: Inbox) -> dt.datetime:
    """The time an inbox event is ordered by: Intuit's, else its arrival (``received_at``)."""
    return event.event_time or event.received_at


def cover(session: Session, realm_id: str | None, start: dt.datetime, end: dt.datetime, *, deletes: bool) -> None:
    """Pending events inside the window CDC just applied need no read of their own.

    Merges stay pending: the event names the survivor even when no transaction
    shows it (see :mod:`flask_qbo.sync.pull.merges`), and applying it twice is a no-op.
    Deletes stay pending too when the window was re-synced by query
    (``deletes=False``): queries cannot see a deleted transaction, so only the
    event can remove it from the mirror.  Events without Intuit's time stay
    pending whatever the window (see the module docstring).
    """
    kept = ("Merge",) if deletes else ("Merge", "Delete")
    INBOX.settle(
        session,
        (Inbox.realm_id == realm_id)
        & (Inbox.status == InboxStatus.PENDING)
        & Inbox.operation.notin_(kept)
        & (Inbox.event_time >= start)
        & (Inbox.event_time <= end),
        InboxStatus.DONE,
        "Covered by a CDC poll.",
    )
