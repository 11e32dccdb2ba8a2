"""Capture's outbox write on PostgreSQL: one statement instead of three round trips.

:func:`flask_qbo.sync.capture.write_row` looks for the contact's pending (or
failed) row, folds the edit into it under a compare-and-set on its status or
inserts a new row, and marks the linked customer pending.  Elsewhere that is
three statements; every contact a CRM saves pays for them inside its commit.
On PostgreSQL one statement with data-modifying CTEs does the same:

* ``prev`` finds the newest pending or failed customer row of the contact;
* ``coalesced`` updates it only while its status is still the one ``prev``
  read.  A worker that claims the row first holds its row lock; when the claim
  commits, PostgreSQL re-checks the condition on the new version, which no
  longer matches, so the edit is not folded into a row whose request may be in
  flight;
* ``inserted`` adds a new pending row when ``coalesced`` changed none (it reads
  ``coalesced``'s ``RETURNING``, the only way one sub-statement sees another's
  work);
* ``marked`` sets the linked customer's sync status to pending.

The rules are capture's, unchanged: a delete turns the row into "inactivate",
a failed row is reset with a fresh ``uuid`` (QBO never applied the old
request), and only a new edit moves ``updated_at``.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import literal
from sqlalchemy import null
from sqlalchemy import select
from sqlalchemy import update

from ..models import CUSTOMER_OPS
from ..models import Customer
from ..models import Outbox
from ..models import OutboxOp
from ..models import OutboxStatus
from ..models import SyncStatus

if t.TYPE_CHECKING:
    from sqlalchemy import CTE
    from sqlalchemy import Connection
    from sqlalchemy import ScalarSelect
    from sqlalchemy import Select

_OUTBOX = t.cast(Table, Outbox.__table__)
_CUSTOMERS = t.cast(Table, Customer.__table__)


def _statement(op: OutboxOp) -> Select[int, int, int]:
    """The write for an edit of kind ``op``; parameters ``p_tenant``, ``p_contact``, ``p_uuid``, ``p_now``.

    The customer's ``updated_at`` is set here: its ``onupdate`` is applied by
    SQLAlchemy to a plain UPDATE, never to one inside a CTE.
    """
    c = _OUTBOX.c
    # Parameter names differ from every column's: in an UPDATE, a parameter named like a column sets it.
    tenant = bindparam("p_tenant", type_=c.tenant_key.type)
    contact = bindparam("p_contact", type_=c.contact_key.type)
    now = bindparam("p_now", type_=c.updated_at.type)
    fresh_uuid = bindparam("p_uuid", type_=c.uuid.type)
    pending = literal(OutboxStatus.PENDING, c.status.type)
    prev = (
        select(c.id, c.status, c.op)
        .where(
            c.tenant_key == tenant,
            c.contact_key == contact,
            c.status.in_((OutboxStatus.PENDING, OutboxStatus.FAILED)),
            c.op.in_(CUSTOMER_OPS),  # a queued document action keeps its own row
        )
        .order_by(c.id.desc())
        .limit(1)
        .cte("prev")
    )
    failed = prev.c.status == OutboxStatus.FAILED
    inactivate = literal(OutboxOp.INACTIVATE, c.op.type)
    folded = (
        inactivate
        if op == OutboxOp.INACTIVATE
        else case((prev.c.op == OutboxOp.INACTIVATE, inactivate), else_=literal(OutboxOp.UPSERT, c.op.type))
    )
    coalesced = (
        update(_OUTBOX)
        .where(c.id == prev.c.id, c.status == prev.c.status)
        .values(
            op=folded,
            updated_at=now,
            status=pending,
            uuid=case((failed, fresh_uuid), else_=c.uuid),
            attempts=case((failed, 0), else_=c.attempts),
            available_at=case((failed, now), else_=c.available_at),
            error_code=case((failed, null()), else_=c.error_code),
            last_error=case((failed, null()), else_=c.last_error),
        )
        .returning(c.id)
        .cte("coalesced")
    )
    inserted = (
        insert(_OUTBOX)
        .from_select(
            [
                "uuid",
                "tenant_key",
                "contact_key",
                "op",
                "status",
                "attempts",
                "available_at",
                "created_at",
                "updated_at",
            ],
            select(fresh_uuid, tenant, contact, literal(op, c.op.type), pending, literal(0), now, now, now).where(
                ~exists(select(coalesced.c.id))
            ),
        )
        .returning(c.id)
        .cte("inserted")
    )
    customers = _CUSTOMERS.c
    marked = (
        update(_CUSTOMERS)
        .where(customers.tenant_key == tenant, customers.contact_key == contact)
        .values(sync_status=literal(SyncStatus.PENDING, customers.sync_status.type), sync_error=null(), updated_at=now)
        .returning(customers.id)
        .cte("marked")
    )

    return select(_count(coalesced), _count(inserted), _count(marked))


def _count(cte: CTE) -> ScalarSelect[int]:
    """The rows a data-modifying CTE returned (referencing it is also what makes SQLAlchemy render it)."""
    return select(func.count()).select_from(cte).scalar_subquery()


#: Built once: a CRM's every contact save runs one of them.
_STATEMENTS = {op: _statement(op) for op in (OutboxOp.UPSERT, OutboxOp.INACTIVATE)}


def write_row(
    connection: Connection, tenant_key: str, contact_key: str, op: OutboxOp, now: dt.datetime, uuid: str
) -> None:
    """Coalesce or insert the contact's pending row and mark its customer, in one round trip.

    ``uuid`` is the new row's, or the failed row's fresh one; unused when a pending row takes the edit.
    """
    params = {"p_tenant": tenant_key, "p_contact": contact_key, "p_now": now, "p_uuid": uuid}
    connection.execute(_STATEMENTS[op], params)
