"""Storing a received webhook notification: its events become ``qbo_inbox`` rows, its bad parts log rows.

The webhook view answers Intuit within its three seconds, so storing does no QBO
call: new events are inserted for pull to apply later, duplicates (an Intuit
retry, or two workers receiving the same retry) and events for realms no
tenant is connected to are counted and dropped, and every malformed part the
parser rejected (:mod:`flask_qbo.intuit.notifications`) becomes a
``webhook``/``malformed`` sync-log row for the health page.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...intuit.notifications import Event
from ...intuit.notifications import Notification
from ...intuit.notifications import Rejected
from ...models import Connection
from ...models import ConnectionStatus
from ...models import Inbox
from ...models import InboxStatus
from ...models import SyncLog
from ...models import utcnow

log = logging.getLogger(__name__)

#: Malformed parts of one notification recorded one by one; the rest share one summary
#: row, so a signed body of a million broken events cannot write a million rows.
#: Intuit sends at most 100 events per notification.
MAX_RECORDED = 100
#: How stale a connection's "Last webhook received" may be.  Stamping it on every notification
#: made the deliveries of one company, received by several web workers at once, wait on each
#: other: each held the connection row's lock from its UPDATE to its commit.
STAMP_EVERY = dt.timedelta(seconds=60)


def store_events(session: Session, notification: Notification, fallback_tenant: str | None = None) -> dict[str, int]:
    """Insert new events into ``qbo_inbox`` and record the malformed parts; ignore duplicates, unknown realms.

    Duplicates are filtered against existing ids first (the common case: an
    Intuit retry) and a concurrent insert of the same id is caught by the unique
    constraint, so two workers receiving the same retry both answer 200.
    A malformed part is shown to the tenant connected to the realm it names, or
    to ``fallback_tenant`` (the only tenant of a single-tenant host) when it
    names none.  Returns the counts the view answers with.
    """
    events, rejected = notification.events, notification.rejected
    counts = {"stored": 0, "duplicates": 0, "ignored": 0, "malformed": len(rejected)}
    realms = {event["realm_id"] for event in events} | {part.realm_id for part in rejected if part.realm_id}
    connections = (
        {
            conn.realm_id: conn
            for conn in session.query(Connection).filter(
                Connection.realm_id.in_(realms), Connection.status != ConnectionStatus.DISCONNECTED
            )
            if conn.realm_id is not None
        }
        if realms
        else {}
    )
    unique: dict[str, Event] = {}
    for event in events:
        if event["realm_id"] not in connections:
            log.info(
                "Ignoring a webhook event for realm %s: no tenant is connected to it.",
                event["realm_id"],
                extra={"qbo_realm": event["realm_id"]},
            )
            counts["ignored"] += 1
        elif event["event_id"] in unique:
            counts["duplicates"] += 1
        else:
            unique[event["event_id"]] = event
    if unique:
        existing = {event_id for (event_id,) in session.query(Inbox.event_id).filter(Inbox.event_id.in_(list(unique)))}
        counts["duplicates"] += len(existing)
        fresh = [event for event_id, event in unique.items() if event_id not in existing]
        counts["stored"] = _insert(session, fresh)
        counts["duplicates"] += len(fresh) - counts["stored"]
    _record(session, rejected, {realm: conn.tenant_key for realm, conn in connections.items()}, fallback_tenant)
    now = utcnow()
    for realm in realms & set(connections):
        stamped = connections[realm].last_webhook_at
        if stamped is None or now - stamped >= STAMP_EVERY:
            connections[realm].last_webhook_at = now
    session.commit()
    return counts


def _record(session: Session, rejected: list[Rejected], tenants: dict[str, str], fallback: str | None) -> None:
    """One ``webhook``/``malformed`` sync-log row per malformed part (bounded), for the health page."""
    for part in rejected[:MAX_RECORDED]:
        tenant = tenants.get(part.realm_id or "", fallback)
        log.warning(
            "Webhook part not stored (realm %s): %s",
            part.realm_id or "unknown",
            part.message,
            extra={"qbo_realm": part.realm_id, "qbo_tenant": tenant},
        )
        session.add(
            SyncLog(
                tenant_key=tenant,
                realm_id=part.realm_id,
                qbo_id=part.entity_id,
                direction="webhook",
                action="malformed",
                message=part.message,
            )
        )
    if len(rejected) > MAX_RECORDED:
        more = (
            f"{len(rejected) - MAX_RECORDED} more malformed part(s) of this notification were not recorded one by one."
        )
        log.warning("Webhook: %s", more)
        session.add(SyncLog(tenant_key=fallback, direction="webhook", action="malformed", message=more))


def _insert(session: Session, events: list[Event]) -> int:
    session.add_all(Inbox(**event, status=InboxStatus.PENDING) for event in events)
    try:
        session.flush()
        return len(events)
    except IntegrityError:
        session.rollback()
    stored = 0
    for event in events:  # a concurrent delivery raced us: keep what is new, one by one
        try:
            with session.begin_nested():
                session.add(Inbox(**event, status=InboxStatus.PENDING))
            stored += 1
        except IntegrityError:
            continue
    return stored
