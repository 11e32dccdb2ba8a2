"""Disconnecting a tenant's QuickBooks company: revoke the grant, then keep or purge the synced data.

Keeping leaves the connection row (status ``disconnected``), so the same
company can be reconnected with every link intact.  Purging deletes the
tenant's mirror, queues, import runs and the connection row itself, which is
what frees the tenant to connect a different company (the tenancy rules of
:mod:`.connect`).
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app

from .. import signals
from ..errors import QBOTokenDecryptError
from ..intuit import oauth
from ..models import Connection
from ..models import ConnectionStatus
from ..models import Customer
from ..models import ImportMatch
from ..models import ImportRun
from ..models import Inbox
from ..models import Outbox
from ..models import RefItem
from ..models import Transaction
from ..models import utcnow
from .events import log_event

if t.TYPE_CHECKING:
    from ..extension import QBO

log = logging.getLogger(__name__)


def disconnect(qbo: QBO, conn: Connection, *, purge: bool) -> bool:
    """Revoke the tokens at Intuit and stop sync; keep or delete the synced data.

    Keeping leaves the row (status ``disconnected``) so mirrored data is still
    shown, marked as disconnected, and the same company can be reconnected with
    every link intact.  Purging deletes the tenant's mirror, queues and the
    connection row itself, which frees the tenant to connect another company.

    :returns: whether Intuit confirmed the revocation (the local disconnect
        happens either way, so a network problem or a wrong
        ``QBO_TOKEN_ENCRYPTION_KEY`` never traps the admin).
    """
    try:
        revoked = oauth.revoke(qbo, conn)
        unrevoked = ""
    except QBOTokenDecryptError as exc:
        # Nothing can be sent to Intuit without the token; the grant stays there until the
        # admin removes the app in QuickBooks (the flash message says so).
        log.warning(
            "The grant of tenant %s could not be revoked at Intuit: %s",
            conn.tenant_key,
            exc,
            extra={"qbo_tenant": conn.tenant_key, "qbo_realm": conn.realm_id},
        )
        revoked = False
        unrevoked = " The grant could not be revoked at Intuit: the stored tokens could not be decrypted."
    db_session = qbo.state().db.session
    user = qbo._current_user_name() or "an admin"
    extra = {"qbo_tenant": conn.tenant_key, "qbo_realm": conn.realm_id}
    if purge:
        counts = purge_data(qbo, conn.tenant_key, conn.realm_id)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        log_event(qbo, conn, "purged", f"Disconnected by {user}; synced data deleted ({summary}).{unrevoked}")
        db_session.delete(conn)
    else:
        conn.status = ConnectionStatus.DISCONNECTED
        conn.status_reason = f"Disconnected by {user}."
        conn.disconnected_at = utcnow()
        _clear_tokens(conn)
        log_event(qbo, conn, "disconnected", f"Disconnected by {user}; synced data kept.{unrevoked}")
    db_session.commit()
    log.info(
        "Tenant %s disconnected from realm %s (purged: %s).",
        extra["qbo_tenant"],
        extra["qbo_realm"],
        purge,
        extra=extra,
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as Flask; signals want the app itself
    signals.disconnected.send(app, connection=conn, purged=purge)
    return revoked


def _clear_tokens(conn: Connection) -> None:
    conn.access_token_enc = None
    conn.refresh_token_enc = None
    conn.access_expires_at = None
    conn.refresh_expires_at = None
    conn.refresh_hard_expires_at = None
    conn.warnings_sent = []


def purge_data(qbo: QBO, tenant_key: str, realm_id: str | None) -> dict[str, int]:
    """Delete a tenant's synced data for a company (not committed; the caller commits).

    Realm-wide tables (transactions, reference lists, inbox) are only cleared
    when no other tenant holds the realm, which the connect rules guarantee but
    which is checked again here because a purge cannot be undone.
    """
    db_session = qbo.state().db.session
    # The connection row first, as every sync transaction takes it before its first write
    # (flask_qbo.sync.locks.hold_connection): a sync in flight commits before this purge, or finds it done.
    db_session.query(Connection.id).filter(Connection.tenant_key == tenant_key).with_for_update().all()
    counts: dict[str, int] = {}
    run_ids = [run_id for (run_id,) in db_session.query(ImportRun.id).filter(ImportRun.tenant_key == tenant_key)]
    if run_ids:
        counts["import matches"] = (
            db_session.query(ImportMatch).filter(ImportMatch.run_id.in_(run_ids)).delete(synchronize_session=False)
        )
    counts["import runs"] = (
        db_session.query(ImportRun).filter(ImportRun.tenant_key == tenant_key).delete(synchronize_session=False)
    )
    counts["queued changes"] = (
        db_session.query(Outbox).filter(Outbox.tenant_key == tenant_key).delete(synchronize_session=False)
    )
    if realm_id:
        counts["customers"] = (
            db_session.query(Customer)
            .filter(Customer.tenant_key == tenant_key, Customer.realm_id == realm_id)
            .delete(synchronize_session=False)
        )
        shared = (
            db_session.query(Connection.id)
            .filter(Connection.realm_id == realm_id, Connection.tenant_key != tenant_key)
            .first()
        )
        if shared is None:
            for model, label in ((Transaction, "transactions"), (RefItem, "reference items"), (Inbox, "notifications")):
                counts[label] = (
                    db_session.query(model).filter(model.realm_id == realm_id).delete(synchronize_session=False)
                )
    return counts
