"""The connection's event log: one ``qbo_sync_log`` row per connect, reconnect, warning or disconnect.

Written by the connect flow (:mod:`.connect`), :mod:`.disconnect` and token
:mod:`.upkeep`; read back on the health page (:func:`.health.recent_events`).
Its own module so none of those three depends on another just to write a row.
"""

from __future__ import annotations

import typing as t

from ..models import Connection
from ..models import SyncLog

if t.TYPE_CHECKING:
    from ..extension import QBO


def log_event(qbo: QBO, conn: Connection, action: str, message: str, *, error_code: str | None = None) -> None:
    """Record a connection event in ``qbo_sync_log`` (shown on the health page)."""
    qbo.state().db.session.add(
        SyncLog(
            tenant_key=conn.tenant_key,
            realm_id=conn.realm_id,
            direction="connect",
            action=action,
            error_code=error_code,
            message=message,
        )
    )
