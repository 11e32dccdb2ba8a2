"""Pushes a merge makes sendable again: a contact's failed writes follow its link to the survivor.

A CRM edit pushed to a customer QBO has merged away fails with 610 (the
customer no longer exists) and is parked ``failed`` (or ``dead``) for a
person.  Once a pull moves the contact's link to the survivor
(:meth:`~flask_qbo.sync.pull.apply.Applier.merge`), the edit can reach
QuickBooks, but nothing would ever send it again: so the merge re-queues
those rows through the queue's own :meth:`~flask_qbo.sync.queue.OutboxQueue.revive`
(the Retry button's code), in the pull's transaction.
"""

from __future__ import annotations

import typing as t

from ...models import Outbox
from ...models import SyncLog
from ...models import SyncStatus
from ..queue import OUTBOX

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...models import Connection
    from ...models import Customer


def after_merge(session: Session, conn: Connection, target: Customer) -> int:
    """Make the failed and dead pushes of ``target``'s contact pending again, due now; returns how many.

    ``target`` is the survivor, already linked to the contact.  The sync log
    says why the rows are back in the queue.  No commit.
    """
    contact_key = target.contact_key
    if contact_key is None:
        return 0
    rows = OUTBOX.revive(session, (Outbox.tenant_key == conn.tenant_key) & (Outbox.contact_key == contact_key))
    if not rows:
        return 0
    target.sync_status, target.sync_error = SyncStatus.PENDING, None
    session.add(
        SyncLog(
            tenant_key=conn.tenant_key,
            realm_id=conn.realm_id,
            contact_key=contact_key,
            qbo_id=target.qbo_id,
            direction="push",
            action="requeued",
            message=f"{len(rows)} failed push(es) re-queued after the customer was merged into {target.qbo_id}.",
        )
    )
    return len(rows)
