"""One claimed outbox row's fate: push it, then record success or decide by the error's class.

Both the single-row path (:mod:`flask_qbo.sync.push.push`) and the batch path
(:mod:`flask_qbo.sync.push.batch`) settle rows here, and document rows
(:mod:`flask_qbo.sync.push.documents`) are run from here too, so an error means
the same on every path: transient → back off, validation and other QBO refusals →
``failed`` for a person to fix, auth → the connection needs a reconnect and
the row waits, undecryptable tokens (a wrong ``QBO_TOKEN_ENCRYPTION_KEY``) →
the tenant's rows wait :data:`~flask_qbo.sync.queue.KEY_WAIT` and the
connection is left alone, anything else (a bug) → back off, then ``dead``.
The queue mechanics (claims, backoff, attempt limits) are
:data:`flask_qbo.sync.queue.OUTBOX`'s.
"""

from __future__ import annotations

import logging
import typing as t

from flask import Flask
from flask import current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy import update

from ... import signals
from ...errors import QBOAuthError
from ...errors import QBOError
from ...errors import QBORateLimitError
from ...errors import QBOStaleObjectError
from ...errors import QBOTokenDecryptError
from ...errors import QBOTransientError
from ...intuit import faults
from ...intuit.oauth import mark_needs_reconnect
from ...models import CUSTOMER_OPS
from ...models import Connection
from ...models import ConnectionStatus
from ...models import Customer
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ...models import SyncLog
from ...models import SyncStatus
from ...state import wake
from ..dating import SENT_KEY
from ..locks import ConnectionGone
from ..locks import hold_connection
from ..pull import milestones
from ..queue import KEY_WAIT
from ..queue import OUTBOX
from ..queue import raising_errors
from .context import RowContext
from .doc_actions import Announcement
from .doc_contact import ContactPending
from .doc_failure import record_failure
from .documents import run_document
from .explain import failure_message
from .jobs import PARENT_WAIT
from .jobs import ParentPending
from .ops import inactivate_row
from .ops import upsert_row

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...extension import QBO
    from ...intuit.client import QBOClient

log = logging.getLogger(__name__)


def handle(qbo: QBO, row_id: int, client: QBOClient | None = None, found: dict[str, t.Any] | None = None) -> bool:
    """Push one claimed row and record the outcome; False when its realm should pause this round.

    ``found`` is the customer a bulk lookup matched to the row's unlinked contact
    (:attr:`RowContext.found <flask_qbo.sync.push.context.RowContext.found>`).

    A disconnect that deletes the connection meanwhile deletes the row too:
    the push then stops without recording anything (see
    :func:`flask_qbo.sync.locks.hold_connection`).
    """
    session = qbo.state().db.session()
    row = session.get(Outbox, row_id)
    conn = session.query(Connection).filter_by(tenant_key=row.tenant_key).one_or_none() if row else None
    if row is None or conn is None or not conn.is_active:
        if row is not None:
            OUTBOX.release(session, row_id, delay=0.0, attempts_back=True)
        return False
    tenant_key = row.tenant_key
    extra = {"qbo_outbox_id": row_id, "qbo_tenant": tenant_key, "qbo_realm": conn.realm_id}
    ctx = RowContext(qbo=qbo, session=session, row=row, connection=conn, client=client or qbo.client(conn), found=found)
    announce: list[Announcement] = []
    outcome: dict[str, t.Any] | None = None
    try:
        if row.op not in CUSTOMER_OPS:
            announce = run_document(ctx)
        else:
            outcome = inactivate_row(ctx) if row.op == OutboxOp.INACTIVATE else upsert_row(ctx)
    except ConnectionGone:
        session.rollback()
        return False
    except ParentPending as exc:  # a job's parent is created first: wait, without spending an attempt
        session.rollback()
        OUTBOX.release(session, row_id, delay=PARENT_WAIT, error=str(exc), attempts_back=True)
        return True
    except ContactPending as exc:  # a document's contact is created first: wait, without spending an attempt
        session.rollback()
        if exc.wait is None:  # the row went back in line, behind the contact's create, and is due now
            wake(reason="outbox")
        else:
            OUTBOX.release(session, row_id, delay=exc.wait, error=str(exc), attempts_back=True)
        return True
    except QBOAuthError as exc:
        session.rollback()
        needs_reconnect(qbo, row_id, tenant_key, exc)
        return False
    except QBOTokenDecryptError as exc:
        session.rollback()
        wait_for_key(qbo, row_id, tenant_key, exc)
        return False
    except QBORateLimitError as exc:
        session.rollback()
        log.info("Outbox row %s waits (%s).", row_id, faults.brief(exc), extra={**extra, "intuit_tid": exc.intuit_tid})
        OUTBOX.release(session, row_id, delay=max(exc.retry_after or 0.0, OUTBOX.backoff(session, row_id)), error=exc)
        return False
    except (QBOTransientError, QBOStaleObjectError) as exc:
        session.rollback()
        keep_sent(session, row_id, ctx.sent)  # a timeout may come after QBO applied the update
        log.info(
            "Outbox row %s is retried later (%s).",
            row_id,
            faults.brief(exc),
            extra={**extra, "intuit_tid": exc.intuit_tid},
        )
        OUTBOX.release(session, row_id, delay=OUTBOX.backoff(session, row_id), error=exc)
        return True
    except QBOError as exc:  # a validation fault or another refusal: a person has to look
        session.rollback()
        fail(qbo, row_id, exc)
        return True
    except Exception as exc:
        session.rollback()
        log.exception("Unexpected error pushing outbox row %s.", row_id, extra=extra)
        keep_sent(session, row_id, ctx.sent)  # e.g. the database dropped before QBO's answer was recorded
        unexpected(qbo, row_id, exc)
        if raising_errors():
            raise
        return True
    try:
        finished(ctx, outcome)
    except ConnectionGone:
        session.rollback()
        return False
    for signal, kwargs in announce:
        signal.send(_app(), **kwargs)
    for signal, kwargs in ctx.notices:
        milestones.announce(_app(), signal, kwargs)
    if ctx.queued:
        wake(reason="outbox")
    if ctx.reread:
        wake(reason="inbox")
    return True


def _app() -> Flask:
    return t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]  # werkzeug proxy


def finished(ctx: RowContext, outcome: dict[str, t.Any] | None) -> None:
    """Mark the row done in the same commit as the mirror and link updates, then signal.

    :raises ConnectionGone: the connection (and the row) were purged meanwhile.
    """
    session = ctx.session
    hold_connection(session, ctx.connection)
    ctx.row.status = OutboxStatus.DONE
    ctx.row.error_code = None
    ctx.row.last_error = None
    extra = {"qbo_outbox_id": ctx.row.id, "qbo_tenant": ctx.row.tenant_key, "qbo_realm": ctx.connection.realm_id}
    created_at = ctx.row.created_at
    session.commit()
    signals.push_settled.send(
        _app(),
        tenant_key=extra["qbo_tenant"],
        realm_id=extra["qbo_realm"],
        outcome=OutboxStatus.DONE.value,
        created_at=created_at,
    )
    operation = (outcome or {}).get("operation") or (
        "unchanged" if ctx.row.op in CUSTOMER_OPS else OutboxOp(ctx.row.op).value
    )
    log.debug(
        "Pushed outbox row %s of tenant %s: %s.",
        extra["qbo_outbox_id"],
        extra["qbo_tenant"],
        operation,
        extra={**extra, "intuit_tid": ctx.client.last_intuit_tid},
    )
    if outcome:
        signals.pushed.send(
            _app(),
            contact_key=ctx.row.contact_key,
            qbo_id=outcome.get("qbo_id"),
            operation=outcome.get("operation"),
            fields=outcome.get("fields", []),
        )


def keep_sent(session: Session, row_id: int, sent: dict[str, t.Any] | None) -> None:
    """Keep the update an attempt sent without recording QBO's answer: QBO may have applied it.

    Stored in the row's ``create_sent`` under :data:`~flask_qbo.sync.dating.SENT_KEY`, in the
    put-back's commit; a later conflict then dates QBO's side without our own write
    (:func:`flask_qbo.sync.dating.qbo_changed_at`).  No commit.
    """
    if sent is None:
        return
    note = dict(session.scalar(select(Outbox.create_sent).where(Outbox.id == row_id)) or {})
    note[SENT_KEY] = sent
    session.execute(update(Outbox).where(Outbox.id == row_id).values(create_sent=note))


def unexpected(qbo: QBO, row_id: int, exc: Exception) -> None:
    """A non-QBO exception (a bug, a failing host hook): back off; after ``QBO_OUTBOX_MAX_ATTEMPTS``, ``dead``.

    Retrying covers a passing cause; a row that keeps raising would otherwise
    cycle forever, so it is parked where the health page lists it and an admin
    can retry it once the bug is fixed.  A database error (SQLAlchemy's
    ``OperationalError``/``InterfaceError``) is an outage, not the row's fault:
    it backs off without spending an attempt.
    """
    session = qbo.state().db.session()
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        # The database failed, not the row (a restart, a dropped connection): an outage spends
        # no attempt, so a row never goes dead of one; it waits with its error for the health page.
        OUTBOX.release(session, row_id, delay=OUTBOX.backoff(session, row_id), error=exc, attempts_back=True)
    elif OUTBOX.exhausted(session, row_id):
        fail(qbo, row_id, exc, status=OutboxStatus.DEAD)
    else:
        OUTBOX.release(session, row_id, delay=OUTBOX.backoff(session, row_id), error=exc)


def fail(qbo: QBO, row_id: int, exc: Exception, *, status: OutboxStatus = OutboxStatus.FAILED) -> None:
    """Park a row as ``failed`` (or ``dead``) with Intuit's message, on the row and the contact's link.

    The message is :func:`~flask_qbo.sync.push.explain.failure_message`'s: Intuit's own
    words, except where they do not tell the user what to fix (an inactive reference).
    A document row's refusal goes on its document instead of the contact's link
    (:func:`~flask_qbo.sync.push.doc_failure.record_failure`); ``sync_failed`` is
    sent for it too, so a host's alerting sees every refusal a person must look at.
    """
    session = qbo.state().db.session()
    row = session.get(Outbox, row_id)
    conn = session.query(Connection).filter_by(tenant_key=row.tenant_key).one_or_none() if row else None
    if row is None or conn is None:
        return
    try:
        hold_connection(session, conn)
    except ConnectionGone:  # purged since the row was read: nothing left to record
        session.rollback()
        return
    code = getattr(exc, "code", None)
    link = None
    if row.op in CUSTOMER_OPS:
        link = session.query(Customer).filter_by(tenant_key=row.tenant_key, contact_key=row.contact_key).one_or_none()
        message = failure_message(session, link, exc)
    else:  # a refused document is the document's, never the contact's sync status
        message = record_failure(session, row, conn.realm_id, exc)
    row.status = status
    row.error_code = str(code)[:20] if code else None
    row.last_error = message[:2000]
    row.claimed_at = None
    extra = {"qbo_outbox_id": row_id, "qbo_tenant": row.tenant_key, "qbo_realm": conn.realm_id}
    if link is not None:
        link.sync_status = SyncStatus.FAILED
        link.sync_error = message[:2000]
    session.add(
        SyncLog(
            tenant_key=row.tenant_key,
            realm_id=conn.realm_id,
            contact_key=row.contact_key,
            qbo_id=link.qbo_id if link else None,
            direction="push",
            action="failed",
            error_code=row.error_code,
            message=message[:2000],
        )
    )
    tenant_key, realm_id, created_at = row.tenant_key, conn.realm_id, row.created_at
    session.commit()
    signals.push_settled.send(
        _app(), tenant_key=tenant_key, realm_id=realm_id, outcome=status.value, created_at=created_at
    )
    log.warning(
        "Outbox row %s of tenant %s is %s: %s",
        row_id,
        extra["qbo_tenant"],
        status,
        message,
        extra={**extra, "intuit_tid": getattr(exc, "intuit_tid", None)},
    )
    signals.sync_failed.send(_app(), contact_key=row.contact_key, error=exc)


def needs_reconnect(qbo: QBO, row_ids: int | t.Collection[int], tenant_key: str, exc: QBOAuthError) -> None:
    """Keep the rows pending and make sure the tenant's connection shows it needs a reconnect."""
    session = qbo.state().db.session()
    OUTBOX.release(session, row_ids, delay=0.0, error=exc, attempts_back=True)
    conn = session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()
    if conn is not None and conn.status == ConnectionStatus.CONNECTED:
        mark_needs_reconnect(qbo, conn, str(exc))


def wait_for_key(qbo: QBO, row_ids: int | t.Collection[int], tenant_key: str, exc: QBOTokenDecryptError) -> None:
    """The key cannot decrypt the tenant's tokens: its rows wait :data:`KEY_WAIT`, the connection is untouched.

    A configuration error, not a dead grant (so not :func:`needs_reconnect`):
    the rows stay pending without spending an attempt, and every unfinished
    row of the tenant is deferred too, so workers do not claim them one by one
    only to fail the same way.  Once the app runs with the right key, the next
    claim after the wait goes through.
    """
    session = qbo.state().db.session()
    OUTBOX.defer(session, Outbox.tenant_key == tenant_key, KEY_WAIT)
    OUTBOX.release(session, row_ids, delay=KEY_WAIT, error=exc, attempts_back=True)
    log.warning(
        "Push for tenant %s waits %d s for the encryption key: %s",
        tenant_key,
        KEY_WAIT,
        exc,
        extra={"qbo_tenant": tenant_key, "qbo_outbox_id": row_ids if isinstance(row_ids, int) else list(row_ids)},
    )
