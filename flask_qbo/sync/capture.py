"""Capture CRM contact changes into ``qbo_outbox``, in the host's own transaction.

``before_flush`` decides which registered contacts changed a field that syncs
to QBO (new contacts always count; deletes count unless ``QBO_DELETE_POLICY``
is ``"ignore"``).  A field is observed through its column, or the columns it
``watches``; rows of the models registered as ``related`` (addresses kept in
their own table) count as changes of the contact they lead to, whether they are
inserted, updated or deleted.  :func:`~flask_qbo.sync.observable.check_observable` refuses, at
registration, a pushed field that none of these would ever see change.

``after_flush`` then writes or coalesces one pending outbox row per such
contact with Core statements on the flush's connection: new contacts only have
their key after the INSERT, and Core keeps the write inside the same flush, so
a rollback removes the outbox row together with the edit and a commit always
keeps both.

Coalescing rules: a contact has at most one *pending* row.  A new edit folds
into it (a delete turns it into "inactivate").  A row that is ``in_progress``
is never touched — its request may already be in flight — so the edit gets a
new pending row, which the push engine runs after the in-flight one.  A
``failed`` row is reset to pending with a fresh ``uuid``: QBO rejected the old
request, so nothing was applied under the old ``requestid`` and a replay of it
would only return the old error.

Rows are written for tenants without an active connection too; the push
engine leaves them pending until the tenant connects (or reconnects), so edits
made while disconnected are not lost.  They cost one row per contact at most.

The listeners live on the session *class* (shared by every Flask-SQLAlchemy
instance in the process) and look up the extension of the current app, so
several apps in one process each capture their own contacts.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import typing as t
import uuid as uuidlib
import weakref

from flask import current_app
from flask import has_app_context
from sqlalchemy import Table
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy import update

from ..models import CUSTOMER_OPS
from ..models import Customer
from ..models import Outbox
from ..models import OutboxOp
from ..models import OutboxStatus
from ..models import SyncStatus
from ..models import utcnow
from ..state import wake
from . import outboxwrite
from .observable import column_key
from .observable import parent_columns
from .payload import normalize
from .queue import OUTBOX
from .queue import UNPUSHED

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.orm import Mapper
    from sqlalchemy.orm import Session
    from sqlalchemy.orm import UOWTransaction

    from ..extension import QBO
    from ..extension import ContactRegistration
    from ..extension import RelatedLink
    from .queue import DBSession

log = logging.getLogger(__name__)

#: Depth of nested ``suppress_capture()`` blocks in this thread / greenlet / task.
_suppressed: contextvars.ContextVar[int] = contextvars.ContextVar("qbo_capture_suppressed", default=0)

#: Session classes already carrying our listeners (attach once per class).
_installed: weakref.WeakSet[type] = weakref.WeakSet()

#: ``session.info`` keys: changes found in before_flush, and the app to wake after commit.
_PENDING = "qbo_capture_pending"
_WAKE = "qbo_capture_wake"


def latest_unpushed_edit(session: DBSession, tenant_key: str, contact_key: str) -> dt.datetime | None:
    """When the contact was last edited without QBO having the edit yet (None: QBO has them all).

    Newest-wins dates the CRM side of a conflict by this, in both directions:
    a row's ``updated_at`` is its latest coalesced edit (``created_at`` would be
    its first), and a row queued behind one in flight is newer still.
    """
    return session.scalar(
        select(func.max(Outbox.updated_at).label("latest")).where(
            Outbox.tenant_key == tenant_key,
            Outbox.contact_key == contact_key,
            Outbox.status.in_(UNPUSHED),
            Outbox.op.in_(CUSTOMER_OPS),  # an invoice queued for the contact is not an edit of it
        )
    )


def install(qbo: QBO, app: Flask) -> None:
    """Attach the capture listeners to the host's session class (once per class)."""
    session_class = _session_class(qbo.state(app).db)
    if session_class in _installed:
        return
    event.listen(session_class, "before_flush", _before_flush)
    event.listen(session_class, "after_flush", _after_flush)
    event.listen(session_class, "after_commit", _after_commit)
    event.listen(session_class, "after_rollback", _after_rollback)
    _installed.add(session_class)


def _session_class(db: SQLAlchemy) -> type:
    factory = db.session.session_factory
    return t.cast(type, factory.class_)


def is_suppressed() -> bool:
    """True inside :func:`suppress_capture` in the current thread or greenlet."""
    return _suppressed.get() > 0


@contextlib.contextmanager
def suppress_capture() -> t.Iterator[None]:
    """Apply changes to contacts without writing outbox rows (used when applying QBO data).

    The session is flushed on entry, so edits made before the block are still
    captured, and on exit, so the block's own edits are flushed while capture
    is off even if the caller commits later.  A block inside another flushes
    neither time (the outer block's flushes cover it), so a pull that applies a
    whole batch inside one block writes it in one flush.
    """
    outermost = not is_suppressed()
    if outermost:
        _flush_current()
    token = _suppressed.set(_suppressed.get() + 1)
    try:
        yield
        if outermost:
            _flush_current()
    finally:
        _suppressed.reset(token)


def _flush_current() -> None:
    if not has_app_context():
        return
    qbo = current_app.extensions.get("qbo")
    if qbo is None:
        return
    session = qbo.state().db.session
    if session.new or session.dirty or session.deleted:
        session.flush()


# -- listeners ---------------------------------------------------------------------


def _active_registration() -> tuple[QBO, ContactRegistration] | None:
    """The current app's extension and contact registration, or ``None`` when capture is off."""
    if is_suppressed() or not has_app_context():
        return None
    qbo = current_app.extensions.get("qbo")
    if qbo is None or qbo._contact is None:
        return None
    return qbo, qbo._contact


def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    found = _active_registration()
    if found is None:
        return
    qbo, reg = found
    mapper: Mapper[t.Any] = sa_inspect(reg.model)
    pushed_attrs = [column_key(mapper, name) or name for f in reg.fields if f.pushes for name in f.watched]
    pushed_attrs += parent_columns(mapper, reg.parent, reg.parent_watches) if reg.parent is not None else []
    changes: list[tuple[object, OutboxOp]] = []
    for obj in session.new:
        if isinstance(obj, reg.model):
            changes.append((obj, OutboxOp.UPSERT))
    for obj in session.dirty:
        if isinstance(obj, reg.model) and _mapped_change(session, obj, pushed_attrs):
            changes.append((obj, OutboxOp.UPSERT))
    changes.extend((contact, OutboxOp.UPSERT) for contact in _related_contacts(session, reg))
    if current_app.config["QBO_DELETE_POLICY"] == "inactivate":
        for obj in session.deleted:
            if isinstance(obj, reg.model):
                changes.append((obj, OutboxOp.INACTIVATE))
    if changes:
        session.info.setdefault(_PENDING, []).extend(changes)


def _related_contacts(session: Session, reg: ContactRegistration) -> list[object]:
    """Contacts whose related rows (``related=``) are inserted, changed or deleted in this flush.

    A row moved from one contact to another changes both.  Contacts being
    deleted are left out: their own delete is what counts.
    """
    if not reg.related:
        return []
    found: list[object] = []
    with session.no_autoflush:
        for obj in [*session.new, *session.dirty, *session.deleted]:
            for model, link in reg.related.items():
                if not isinstance(obj, model):
                    continue
                if obj in session.dirty and not session.is_modified(obj, include_collections=False):
                    continue
                found.extend(_contacts_of(session, obj, link))
    return [c for c in dict.fromkeys(found) if isinstance(c, reg.model) and c not in session.deleted]


def _contacts_of(session: Session, row: object, link: RelatedLink) -> list[object]:
    """The contact a related row leads to now, and the one it led to before this flush.

    Through a relationship, both are found however the row was moved: by
    assigning the relationship (loaded or not), or by setting only its key column,
    as a form's ``populate_obj`` does.  A callable link gives only the row's
    contact now: a row it moves away is not seen by the contact it left.
    """
    if not isinstance(link, str):
        return [c for c in (link(row),) if c is not None]
    state = sa_inspect(row)
    history = state.attrs[link].history if link in state.attrs else None
    contacts = [getattr(row, link, None), *(history.deleted if history is not None else ())]
    contacts.extend(_by_foreign_key(session, row, link))
    return [c for c in contacts if c is not None]


def _by_foreign_key(session: Session, row: object, link: str) -> list[object]:
    """The targets a many-to-one's key column names, before and after this flush (loaded by that key).

    After a commit the old key is expired, so history cannot tell it; it is read
    from the database row, which the flush has not changed yet.
    """
    mapper = sa_inspect(type(row))
    relationship = mapper.relationships.get(link)
    if relationship is None or len(relationship.local_columns) != 1:
        return []
    [column] = relationship.local_columns
    state = sa_inspect(row)
    history = state.attrs[mapper.get_property_by_column(column).key].history
    keys = [*history.added, *history.deleted, *history.unchanged]
    if history.added and not history.deleted and state.persistent:
        where = [col == value for col, value in zip(mapper.primary_key, state.identity or ())]
        keys.append(session.scalar(select(column).where(*where)))
    target = relationship.mapper.class_
    return [session.get(target, key) for key in dict.fromkeys(keys) if key is not None]


def _mapped_change(session: Session, obj: object, attrs: list[str]) -> bool:
    """True when a synced attribute really changed (``""`` → ``None`` or whitespace is no change).

    After a commit the old value is expired, so history cannot tell what it
    was; those attributes are compared with the database row instead.
    """
    state = sa_inspect(obj)
    unknown: dict[str, t.Any] = {}
    for attr in attrs:
        if attr not in state.attrs:
            continue
        history = state.attrs[attr].history
        if not history.has_changes():
            continue
        new = normalize(history.added[0]) if history.added else None
        if not history.deleted and state.persistent:
            unknown[attr] = new
            continue
        old = normalize(history.deleted[0]) if history.deleted else None
        if old != new:
            return True
    if not unknown:
        return False
    mapper = state.mapper
    columns = [mapper.attrs[a].columns[0] for a in unknown]
    where = [col == value for col, value in zip(mapper.primary_key, state.identity or ())]
    with session.no_autoflush:
        stored = session.execute(select(*columns).where(*where)).first()
    if stored is None:
        return True
    return any(normalize(old) != new for old, new in zip(stored, unknown.values()))


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    changes = session.info.pop(_PENDING, None)
    if not changes:
        return
    found = _active_registration()
    if found is None:
        return
    qbo, _reg = found
    connection = session.connection()
    seen: set[tuple[str, str]] = set()
    # Rows are written in (tenant, contact key) order, the order the push side
    # locks customer rows in too, so a mass edit and a batch being recorded
    # never wait on each other in a cycle (a deadlock on PostgreSQL).
    keyed = [((qbo._tenant_of(obj), qbo._contact_key(obj)), n, op) for n, (obj, op) in enumerate(changes)]
    for key, _, op in sorted(keyed, key=lambda e: (str(e[0][0]), str(e[0][1]), e[1])):
        if key in seen and op == OutboxOp.UPSERT:
            continue
        seen.add(key)
        write_row(connection, key[0], key[1], op)
    session.info[_WAKE] = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug proxy


def write_row(connection: SAConnection, tenant_key: str, contact_key: str, op: OutboxOp) -> None:
    """Write or coalesce the contact's pending outbox row (Core, on ``connection``).

    Shared with :func:`flask_qbo.sync.push.push.request_sync` so "Sync now" follows the same rules.
    Three statements here; one on PostgreSQL (:mod:`flask_qbo.sync.outboxwrite`), under the same rules.
    """
    now = utcnow()
    if connection.dialect.name == "postgresql":
        outboxwrite.write_row(connection, tenant_key, contact_key, op, now, str(uuidlib.uuid4()))
        return
    table = OUTBOX.table
    row = connection.execute(
        select(table.c.id, table.c.status, table.c.op)
        .where(
            table.c.tenant_key == tenant_key,
            table.c.contact_key == contact_key,
            table.c.status.in_((OutboxStatus.PENDING, OutboxStatus.FAILED)),
            table.c.op.in_(CUSTOMER_OPS),  # a queued document action keeps its own row
        )
        .order_by(table.c.id.desc())
        .limit(1)
    ).first()
    coalesced = False
    if row is not None:
        values: dict[str, t.Any] = {
            "op": OutboxOp.INACTIVATE if OutboxOp.INACTIVATE in (op, row.op) else OutboxOp.UPSERT,
            "updated_at": now,
        }
        if row.status == OutboxStatus.FAILED:
            values.update(
                status=OutboxStatus.PENDING,
                uuid=str(uuidlib.uuid4()),
                attempts=0,
                available_at=now,
                error_code=None,
                last_error=None,
            )
        # Compare-and-set on the status: a worker may claim the row between our
        # SELECT and this UPDATE (PostgreSQL re-checks the condition once the
        # claim commits).  Coalescing into a row in flight would lose this edit,
        # because the worker read the contact before our commit.
        coalesced = (
            connection.execute(
                update(table).where(table.c.id == row.id, table.c.status == row.status).values(**values)
            ).rowcount
            == 1
        )
    if not coalesced:
        connection.execute(
            insert(table).values(
                uuid=str(uuidlib.uuid4()),
                tenant_key=tenant_key,
                contact_key=contact_key,
                op=op,
                status=OutboxStatus.PENDING,
                attempts=0,
                available_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    customers = t.cast(Table, Customer.__table__)
    connection.execute(
        update(customers)
        .where(customers.c.tenant_key == tenant_key, customers.c.contact_key == contact_key)
        .values(sync_status=SyncStatus.PENDING, sync_error=None)
    )


def _after_commit(session: Session) -> None:
    app = session.info.pop(_WAKE, None)
    if app is None:
        return
    try:
        wake(app, reason="outbox")
    except Exception:  # the commit already happened; a failed wake-up only delays the push
        log.exception("Could not wake the QBO runner after a commit.")


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WAKE, None)
