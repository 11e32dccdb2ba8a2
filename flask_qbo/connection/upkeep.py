"""Token upkeep: keep every connection's tokens alive and warn before they die.

Intuit's access token lives an hour and its refresh token rolls for about 100
days from its last use, under a hard cap of five years (qbo-api-facts §1.5).  A
tenant with no sync traffic would silently lose its refresh token after 100
days, so :func:`upkeep` refreshes every connection whose access token is about
to expire, which also rolls the refresh token forward.  Nothing can extend the
hard cap: admins get a warning 30 and 7 days before it (``QBO_EXPIRY_WARNING_DAYS``),
sent once per threshold as the :data:`~flask_qbo.signals.expiry_warning` signal
and a ``qbo_sync_log`` row, and shown on the admin pages.

The same sweep clears webhook bodies processed more than a week ago
(:func:`clear_old_bodies`).

Run it from any scheduler: ``flask qbo upkeep`` (cron, hourly is plenty), a
Celery beat task, or the thread runner's timer.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from flask import current_app
from sqlalchemy import Select
from sqlalchemy import inspect
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from .. import signals
from ..config import get_config
from ..errors import QBOError
from ..intuit import faults
from ..intuit import oauth
from ..models import Connection
from ..models import ConnectionStatus
from ..models import Inbox
from ..models import InboxStatus
from ..models import utcnow
from ..sync.locks import ConnectionGone
from ..sync.locks import hold_connection
from .events import log_event

if t.TYPE_CHECKING:
    from sqlalchemy import CursorResult

    from ..extension import QBO

log = logging.getLogger(__name__)

#: How long a processed webhook body is kept for replay and debugging.
RAW_KEPT = dt.timedelta(days=7)


def deadline(conn: Connection) -> dt.datetime | None:
    """When the connection dies unless someone acts: the earlier refresh-token expiry."""
    candidates = [d for d in (conn.refresh_expires_at, conn.refresh_hard_expires_at) if d is not None]
    return min(candidates) if candidates else None


def warning_days() -> list[int]:
    """The configured warning thresholds, largest first (e.g. ``[30, 7]``)."""
    return sorted({int(days) for days in get_config("QBO_EXPIRY_WARNING_DAYS")}, reverse=True)


def warning_due(conn: Connection, now: dt.datetime | None = None) -> int | None:
    """The smallest threshold the connection is inside of, or ``None`` when not near expiry.

    Used by the admin pages to show the warning for as long as it applies,
    independently of whether the one-off signal was already sent.
    """
    if conn.status != ConnectionStatus.CONNECTED:
        return None
    end = deadline(conn)
    if end is None:
        return None
    remaining = end - (now or utcnow())
    inside = [days for days in warning_days() if remaining <= dt.timedelta(days=days)]
    return min(inside) if inside else None


def upkeep(qbo: QBO, now: dt.datetime | None = None) -> dict[str, int]:
    """Refresh tokens that are about to expire and send due expiry warnings, for every tenant.

    Only the connections with something due are loaded (:func:`sweep_ids`):
    with thousands of companies, a sweep every minute costs one id query.
    Each connection is handled in its own transaction: token rotation commits
    on its own (compare-and-set in :mod:`flask_qbo.intuit.oauth`), and a failure on
    one tenant never stops the sweep for the others.

    :returns: counts ``checked`` (connections with something due),
        ``refreshed``, ``failed``, ``warned`` and ``needs_reconnect``
        (connections in that state after the sweep).
    """
    db_session = qbo.state().db.session
    ids = list(db_session.scalars(sweep_ids(now or utcnow())))
    db_session.commit()
    result = {"checked": 0, "refreshed": 0, "failed": 0, "warned": 0, "needs_reconnect": 0}
    for conn_id in ids:
        conn = db_session.get(Connection, conn_id)
        if conn is None or conn.status != ConnectionStatus.CONNECTED:
            continue
        tenant = conn.tenant_key  # read now: a disconnect may purge the row during the sweep
        result["checked"] += 1
        try:
            outcomes = _upkeep_one(qbo, conn, now or utcnow())
        except ConnectionGone:  # purged meanwhile: nothing left to keep alive
            db_session.rollback()
            outcomes = []
        except Exception:  # one tenant's surprise (a malformed token answer...) must not stop the sweep
            db_session.rollback()
            log.exception("Token upkeep failed for tenant %s.", tenant, extra={"qbo_tenant": tenant})
            outcomes = ["failed"]
        for outcome in outcomes:
            result[outcome] += 1
    result["needs_reconnect"] = (
        db_session.query(Connection).filter(Connection.status == ConnectionStatus.NEEDS_RECONNECT).count()
    )
    clear_old_bodies(qbo, now)
    db_session.commit()
    return result


def sweep_ids(now: dt.datetime) -> Select[int]:
    """Ids of the connected connections with something due: an access token inside the refresh
    leeway (or of unknown expiry), or a refresh-token deadline inside the largest warning threshold
    (which covers an expired one).  Everything else would be loaded only to be left alone."""
    leeway = dt.timedelta(seconds=int(get_config("QBO_TOKEN_REFRESH_LEEWAY")))
    horizon = now + dt.timedelta(days=max(warning_days(), default=0))
    return select(Connection.id).where(
        Connection.status == ConnectionStatus.CONNECTED,
        or_(
            Connection.access_expires_at.is_(None),
            Connection.access_expires_at <= now + leeway,
            Connection.refresh_expires_at <= horizon,
            Connection.refresh_hard_expires_at <= horizon,
        ),
    )


def _upkeep_one(qbo: QBO, conn: Connection, now: dt.datetime) -> list[str]:
    """Refresh, expire or warn one connection; returns what happened ("refreshed", "failed", "warned").

    :raises ConnectionGone: a disconnect purged the connection meanwhile.
    """
    db_session = qbo.state().db.session
    refreshed = _refresh_if_due(qbo, conn, now)
    outcomes = [refreshed] if refreshed else []
    _reload(qbo, conn)
    expired = conn.status == ConnectionStatus.CONNECTED and _expired(conn, now)
    if expired:
        _mark_expired(qbo, conn)
    # After the token work above, which writes the row in transactions of its own (on SQLite
    # they could not get past a write lock held here); before the warning's writes.
    hold_connection(db_session, conn)
    warning = None if expired or conn.status != ConnectionStatus.CONNECTED else _warn_if_due(qbo, conn, now)
    db_session.commit()
    if warning is not None:
        # Only once the warning is recorded: a purge that won the lock leaves nobody to warn.
        days, end = warning
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as Flask; signals want the app itself
        signals.expiry_warning.send(app, connection=conn, days=days, expires_at=end)
        outcomes.append("warned")
    return outcomes


def _reload(qbo: QBO, conn: Connection) -> None:
    """Re-read the connection: the token work changed it in transactions of its own.

    :raises ConnectionGone: a disconnect purged it meanwhile.
    """
    db_session = qbo.state().db.session
    conn_id = t.cast("tuple[int]", inspect(conn).identity)[0]  # a loaded row always has its identity
    db_session.expire(conn)
    if db_session.get(Connection, conn_id) is None:
        raise ConnectionGone(f"QBO connection {conn_id} was deleted during upkeep.")


def clear_old_bodies(qbo: QBO, now: dt.datetime | None = None) -> int:
    """Drop the raw body of webhook events processed more than :data:`RAW_KEPT` ago.

    Bodies are kept a short time so an event can be replayed; without this the
    inbox would hold every notification body forever.  Rows stay (their event
    id still dedupes a late Intuit retry); pending and failed rows keep their
    body.  Not committed: :func:`upkeep` commits.
    """
    cutoff = (now or utcnow()) - RAW_KEPT
    result = qbo.state().db.session.execute(
        update(Inbox)
        .where(
            Inbox.status.in_((InboxStatus.DONE, InboxStatus.IGNORED)),
            Inbox.processed_at < cutoff,
            Inbox.raw.isnot(None),
        )
        .values(raw=None)
    )
    return t.cast("CursorResult[t.Any]", result).rowcount


def _refresh_if_due(qbo: QBO, conn: Connection, now: dt.datetime) -> str | None:
    """Refresh when the access token expires within the leeway; report what happened."""
    leeway = dt.timedelta(seconds=int(get_config("QBO_TOKEN_REFRESH_LEEWAY")))
    if conn.access_expires_at is not None and conn.access_expires_at - now > leeway:
        return None
    try:
        oauth.refresh(qbo, conn)
    except QBOError as exc:
        # invalid_grant has already been turned into needs_reconnect (and signalled) by
        # oauth.refresh; anything else (Intuit down, a timeout, a wrong encryption key that
        # leaves the grant alone) is retried by the next sweep.  A purge revokes the grant
        # too: then the connection is gone and nothing failed.
        _reload(qbo, conn)
        log.warning(
            "Token refresh for tenant %s failed (%s).",
            conn.tenant_key,
            faults.brief(exc),
            extra={"qbo_tenant": conn.tenant_key, "qbo_realm": conn.realm_id},
        )
        return "failed"
    return "refreshed"


def _expired(conn: Connection, now: dt.datetime) -> bool:
    end = deadline(conn)
    return end is not None and end <= now


def _mark_expired(qbo: QBO, conn: Connection) -> None:
    """A refresh token past its expiry cannot be used: ask for a reconnect now, not at first sync."""
    reason = "The QuickBooks authorization expired. An admin must reconnect."
    oauth.mark_needs_reconnect(qbo, conn, reason)
    qbo.state().db.session.refresh(conn)
    log_event(qbo, conn, "expired", reason, error_code="expired")


def _warn_if_due(qbo: QBO, conn: Connection, now: dt.datetime) -> tuple[int, dt.datetime] | None:
    """Record the warning for the smallest threshold crossed, once; earlier ones are implied.

    Returns ``(days, deadline)`` for the caller to signal after its commit, or ``None``.
    """
    end = deadline(conn)
    if end is None:
        return None
    sent = set(conn.warnings_sent or [])
    crossed = [days for days in warning_days() if end - now <= dt.timedelta(days=days)]
    fresh = [days for days in crossed if days not in sent]
    if not fresh:
        return None
    days = min(fresh)
    conn.warnings_sent = sorted(sent | set(crossed), reverse=True)
    message = (
        f"The QuickBooks connection expires on {end:%Y-%m-%d} (within {days} days). "
        "An admin must reconnect before then to keep syncing."
    )
    log_event(qbo, conn, "expiry_warning", message, error_code=f"expires_{days}d")
    return days, end
