"""Runner check: is anything working the queues, here or in another process?

A runner in *this* process (the thread runner of a web process, ``flask qbo
worker``) stamps :attr:`~flask_qbo.state.Runner.last_run` after every round,
and the doctor reads it directly.  Most of the time, though, the doctor runs in
its own process (``flask qbo doctor``) and the runner elsewhere: a web
process's thread, a ``flask qbo worker``, Celery workers.  For those the
database already holds the evidence, with no heartbeat table to migrate and
nothing extra written per round:

* **the oldest due row** of each queue (pending and past its ``available_at``,
  or claimed past the lease, for a connected company): a live runner claims it
  within seconds, so a row due for minutes means nobody is working;
* **the newest CDC poll** (``qbo_connection.last_cdc_at``): every runner calls
  ``pull.poll_due``, which polls each connected company once per
  ``QBO_CDC_INTERVAL``, so a poll long overdue for every company means no
  runner is calling it (or every poll fails, which the logs say).

Both together tell "not running" (error) from "running but behind" (warning).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import select

from ...config import cdc_interval
from ...config import get_config
from ...models import Connection
from ...models import ConnectionStatus
from ...models import Inbox
from ...models import InboxStatus
from ...models import Outbox
from ...models import OutboxStatus
from ...sync.queue import LEASE
from .finding import Finding
from .finding import ago
from .finding import error
from .finding import ok
from .finding import span
from .finding import warn

if t.TYPE_CHECKING:
    from flask import Flask

    from ...extension import QBO

CHECK = "runner"
#: Shortest time a due row may wait, or a round may take, before the runner counts as stale.
MIN_GRACE = dt.timedelta(minutes=10)

#: What to do when nothing works the queues, per ``QBO_RUNNER``.
START = {
    "thread": "The thread runner starts with the first request of each web process: check the web processes are "
    "up and their logs for 'QBO runner job ... failed', or run `flask qbo worker`.",
    "celery": "Start the Celery workers and beat (the flask-qbo beat entries), and check the broker is reachable.",
    "none": "QBO_RUNNER is 'none': run `flask qbo worker`, or `flask qbo sync` from cron every minute.",
}


def grace(app: Flask) -> dt.timedelta:
    """How late is too late: ten minutes, or three Celery sweeps when those are slower."""
    if get_config("QBO_RUNNER", app) == "celery":
        return max(MIN_GRACE, 3 * dt.timedelta(seconds=float(get_config("QBO_CELERY_SWEEP_INTERVAL", app))))
    return MIN_GRACE


def oldest_due(qbo: QBO, now: dt.datetime) -> dt.datetime | None:
    """Since when the oldest row a runner should have taken has been waiting (either queue), or ``None``."""
    session = qbo.state().db.session
    live = select(Connection.tenant_key).where(Connection.status == ConnectionStatus.CONNECTED)
    realms = select(Connection.realm_id).where(Connection.status == ConnectionStatus.CONNECTED)
    expired = now - LEASE
    times: list[dt.datetime | None] = []
    for model, pending, claimed, scope in (
        (Outbox, OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS, Outbox.tenant_key.in_(live)),
        (Inbox, InboxStatus.PENDING, InboxStatus.IN_PROGRESS, Inbox.realm_id.in_(realms)),
    ):
        due = and_(model.status == pending, model.available_at <= now)
        times.append(session.execute(select(func.min(model.available_at)).where(scope, due)).scalar())
        lapsed = and_(model.status == claimed, model.claimed_at < expired)
        claimed_at = session.execute(select(func.min(model.claimed_at)).where(scope, lapsed)).scalar()
        times.append(claimed_at + LEASE if claimed_at is not None else None)
    session.commit()
    found = [_aware(when) for when in times if when is not None]
    return min(found) if found else None


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def overdue_polls(qbo: QBO, app: Flask, now: dt.datetime, tenant: str | None) -> tuple[list[str], int]:
    """Tenants whose CDC poll is long overdue, and how many connected tenants were looked at."""
    limit = dt.timedelta(seconds=cdc_interval(app)) + grace(app)
    query = qbo.state().db.session.query(Connection).filter(Connection.status == ConnectionStatus.CONNECTED)
    if tenant is not None:
        query = query.filter(Connection.tenant_key == tenant)
    overdue, total = [], 0
    for conn in query.order_by(Connection.tenant_key):
        total += 1
        since = conn.last_cdc_at or conn.connected_at or conn.created_at
        if since is not None and now - since > limit:
            overdue.append(conn.tenant_key)
    return overdue, total


def in_process(qbo: QBO, app: Flask, now: dt.datetime) -> Finding | None:
    """The runner of this process, when one has run here (``None`` otherwise: it runs elsewhere)."""
    runner = qbo.state(app).runner
    if getattr(runner, "held_for_tests", False):
        return ok(CHECK, "Runner off (TESTING): queued work runs when a test calls push_now() or pull_now().")
    last = runner.last_run if runner is not None else None
    if last is None:
        return None
    if now - last > grace(app):
        return error(
            CHECK,
            f"The runner in this process last finished a round {ago(last, now)}: it is stuck or dead.",
            "Look for 'QBO runner job ... failed' or a hung QBO call in the logs, then restart the process.",
        )
    return ok(CHECK, f"The runner in this process last finished a round {ago(last, now)}.")


def check(qbo: QBO, app: Flask, now: dt.datetime, tenant: str | None = None) -> list[Finding]:
    """Judge the runner from this process's stamp, the queues' oldest due row and the CDC polls."""
    kind = str(get_config("QBO_RUNNER", app))
    start = START.get(kind, START["none"])
    findings = [f for f in (in_process(qbo, app, now),) if f is not None]
    due_since = oldest_due(qbo, now)
    waited = now - due_since if due_since is not None else dt.timedelta(0)
    overdue, total = overdue_polls(qbo, app, now, tenant)
    polls_stale = total > 0 and len(overdue) == total
    late = waited > grace(app)
    if late and (polls_stale or total == 0):
        findings.append(
            error(
                CHECK,
                f"No runner is working the queues (QBO_RUNNER={kind!r}): the oldest due change has waited "
                f"{span(waited)} and no CDC poll ran on time.",
                start,
            )
        )
    elif late:
        findings.append(
            warn(
                CHECK,
                f"The runner is running but behind: the oldest due change has waited {span(waited)}.",
                "Add workers (Celery) or check the logs for throttling (429) and slow QBO answers.",
            )
        )
    elif polls_stale:
        findings.append(
            error(
                CHECK,
                f"No CDC poll ran on time for any connected company (QBO_RUNNER={kind!r}): no runner is calling "
                "it, or every poll fails.",
                start + " If it runs, look for 'CDC poll for tenant' in its logs.",
            )
        )
    elif overdue:
        findings.append(
            warn(
                CHECK,
                f"The CDC poll is overdue for tenant(s) {', '.join(overdue)} while others run: their polls fail.",
                "Look for 'CDC poll for tenant' in the runner's logs (a reconnect or the encryption key?).",
            )
        )
    else:
        queue = f"the oldest due change has waited {span(waited)}" if due_since is not None else "no change is due"
        polls = f"no CDC poll is overdue ({total} connected)" if total else "no connected company to poll"
        findings.append(ok(CHECK, f"No sync work is overdue (QBO_RUNNER={kind!r}): {queue}; {polls}."))
    return findings
