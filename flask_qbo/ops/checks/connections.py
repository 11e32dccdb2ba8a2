"""Connection checks: each tenant's link to QuickBooks, its tokens, and the rows sync gave up on.

Per connection: its state (a ``needs_reconnect`` waits for an admin), whether
this process's encryption key decrypts its stored tokens, the refresh-token
deadline (within :data:`EXPIRY_DAYS` days is a warning, past it an error), the
last webhook and CDC poll, failed and dead outbox rows of the tenant, and
failed inbox events of its company.  Tokens are only decrypted to see that
they can be; a finding says "decrypts" or "does not", never a value.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import func

from ...config import get_config
from ...intuit import auth
from ...models import Connection
from ...models import ConnectionStatus
from ...models import Inbox
from ...models import InboxStatus
from ...models import Outbox
from ...models import OutboxStatus
from .finding import Finding
from .finding import ago
from .finding import error
from .finding import ok
from .finding import warn

if t.TYPE_CHECKING:
    from flask import Flask

    from ...extension import QBO

CHECK = "connection"
#: A refresh deadline closer than this many days is a warning.
EXPIRY_DAYS = 7
#: A connection this old that never received a webhook (with webhooks configured) is a warning.
WEBHOOK_SILENCE = dt.timedelta(days=7)
_RECONNECT = "An admin of that tenant clicks Reconnect on the QuickBooks Add-ons page."


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def check(qbo: QBO, app: Flask, now: dt.datetime, tenant: str | None = None) -> list[Finding]:
    """Findings for every connection (or ``tenant``'s only), then its failed rows."""
    query = qbo.state().db.session.query(Connection).order_by(Connection.tenant_key)
    if tenant is not None:
        query = query.filter(Connection.tenant_key == tenant)
    connections = query.all()
    if not connections:
        return [ok(CHECK, "No QuickBooks connection yet; an admin connects from the Add-ons page.")]
    findings: list[Finding] = []
    for conn in connections:
        findings.extend(connection(qbo, app, conn, now))
        findings.extend(failed_rows(qbo, conn))
    return findings


def connection(qbo: QBO, app: Flask, conn: Connection, now: dt.datetime) -> list[Finding]:
    """State, key, expiry and freshness of one connection."""
    name = f"tenant {conn.tenant_key} ({conn.company_name or 'company'} {conn.realm_id or '-'})"
    if conn.status == ConnectionStatus.DISCONNECTED:
        return [ok(CHECK, f"{name}: disconnected, sync is off.")]
    if conn.status == ConnectionStatus.NEEDS_RECONNECT:
        reason = f" ({conn.status_reason})" if conn.status_reason else ""
        return [error(CHECK, f"{name}: needs reconnect{reason}; its changes wait.", _RECONNECT)]
    findings: list[Finding] = []
    problem = auth.key_problem(qbo, conn, app=app)
    if problem:
        findings.append(
            error(
                CHECK,
                f"{name}: QBO_TOKEN_ENCRYPTION_KEY does not decrypt its stored tokens; sync waits.",
                "Put the key the tokens were encrypted with back into QBO_TOKEN_ENCRYPTION_KEY (after the new "
                "one, comma-separated) in every process, or reconnect.",
            )
        )
    findings.extend(expiry(conn, name, now))
    if get_config("QBO_WEBHOOK_VERIFIER_TOKEN", app) and conn.last_webhook_at is None:
        since = conn.connected_at or conn.created_at
        if since is not None and now - since > WEBHOOK_SILENCE:
            findings.append(
                warn(
                    CHECK,
                    f"{name}: no webhook received since connecting {ago(since, now)}.",
                    "Check the webhook URL (see 'routes') is registered for this app at developer.intuit.com, "
                    "with Customer and the transaction entities ticked.",
                )
            )
    if not any(f.level != "ok" for f in findings):
        findings.append(
            ok(
                CHECK,
                f"{name}: connected; access token expires {_when(conn.access_expires_at)} (renewed automatically), "
                f"refresh token {_when(conn.refresh_expires_at)}; last webhook {ago(conn.last_webhook_at, now)}, "
                f"last CDC poll {ago(conn.last_cdc_at, now)}.",
            )
        )
    return findings


def expiry(conn: Connection, name: str, now: dt.datetime) -> list[Finding]:
    """The refresh deadline: the rolling refresh token's expiry or Intuit's hard limit, whichever comes first."""
    rolling, hard = conn.refresh_expires_at, conn.refresh_hard_expires_at
    dates = [d for d in (rolling, hard) if d is not None]
    if not dates:
        return []
    deadline = min(dates)
    limit = "Intuit's authorization limit" if deadline == hard else "the refresh token"
    if deadline <= now:
        return [error(CHECK, f"{name}: {limit} expired on {_when(deadline)}.", _RECONNECT)]
    if deadline - now <= dt.timedelta(days=EXPIRY_DAYS):
        fix = (
            _RECONNECT + " Before the date, or sync stops."
            if deadline == hard
            else "Tokens are renewed by the runner's upkeep: check the runner runs (or `flask qbo upkeep`), "
            "else reconnect before the date."
        )
        return [warn(CHECK, f"{name}: {limit} expires {_when(deadline)} (within {EXPIRY_DAYS} days).", fix)]
    return []


def failed_rows(qbo: QBO, conn: Connection) -> list[Finding]:
    """The tenant's failed and dead outbox rows and its company's failed inbox events."""
    session = qbo.state().db.session
    outbox = dict(
        session.query(Outbox.status, func.count())
        .filter(Outbox.tenant_key == conn.tenant_key, Outbox.status.in_((OutboxStatus.FAILED, OutboxStatus.DEAD)))
        .group_by(Outbox.status)
        .all()
    )
    inbox = 0
    if conn.realm_id:
        inbox = (
            session.query(func.count(Inbox.id))
            .filter(Inbox.realm_id == conn.realm_id, Inbox.status == InboxStatus.FAILED)
            .scalar()
        ) or 0
    findings: list[Finding] = []
    page = "the sync health page (QuickBooks admin → Sync health)"
    if outbox.get(OutboxStatus.DEAD):
        findings.append(
            error(
                CHECK,
                f"tenant {conn.tenant_key}: {outbox[OutboxStatus.DEAD]} change(s) ran out of attempts (dead) "
                "and will not be retried on their own.",
                f"Read the error on {page} and in the logs, fix the cause, then click Retry all.",
            )
        )
    if outbox.get(OutboxStatus.FAILED):
        findings.append(
            warn(
                CHECK,
                f"tenant {conn.tenant_key}: {outbox[OutboxStatus.FAILED]} change(s) were refused by QuickBooks "
                "and wait for a fix.",
                f"Fix each contact as {page} says (Intuit's message is shown), then click Retry.",
            )
        )
    if inbox:
        findings.append(
            warn(
                CHECK,
                f"tenant {conn.tenant_key}: {inbox} QuickBooks event(s) failed to apply; the CDC poll still "
                "brings their changes in.",
                "Look for 'pull' errors in the runner's logs; `flask qbo reconcile` shows any difference left.",
            )
        )
    return findings
