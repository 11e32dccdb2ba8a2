"""Jobs (sub-customers): a contact whose customer sits under its parent contact's customer in QBO.

The host declares the parent with ``register_contact(..., parent=...)``.  QBO
makes a job with ``Job: true`` and ``ParentRef`` naming the parent's customer
id, so the parent's customer must exist first.  Rows of one contact are
ordered by the queue, but a job and its parent are two contacts, so the order
between them is kept here:

* the job's create waits while the parent is not linked yet: the row is put
  back with a short delay (:class:`ParentPending`, never counted as a failed
  attempt), and a parent with no row of its own gets one, so the wait ends;
* a parent whose own push failed fails the job with a message naming the
  parent: a person fixes the parent, then retries the job;
* QBO nests at most four levels under a top-level customer, and a parent
  chain that loops never ends; both are refused before any request.

Moving a linked job to another parent is a sparse update of ``ParentRef``,
which QBO allows (:func:`move_job`).  A job's DisplayName must still be
unique across all customers, so two "Phase 1" jobs under two parents are kept
apart by the usual " (2)" suffix of the create path.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ...errors import QBOStaleObjectError
from ...errors import QBOValidationError
from ...models import CUSTOMER_OPS
from ...models import Customer
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ..capture import write_row
from ..payload import contact_values
from ..payload import display_name
from ..preflight import PREFLIGHT_CODE
from ..pull import mirror
from .context import RowContext
from .context import push_log
from .context import request_id
from .update import MAX_MERGES

if t.TYPE_CHECKING:
    from ...extension import QBO

#: Sub-levels QBO allows under a top-level customer (five levels in all).
MAX_SUB_LEVELS = 4
#: Seconds a job's row waits before it looks for its parent's customer again.
PARENT_WAIT = 5.0
#: Error code of a job refused because its parent could not be synced.
PARENT_FAILED = "parent"


class ParentPending(Exception):
    """The parent contact has no customer in QBO yet: the job's row waits for it (never a failure)."""


@dataclasses.dataclass(frozen=True)
class Parent:
    """The parent contact of a job, and its customer in QBO (``qbo_id`` ``None`` while it has none)."""

    contact_key: str
    name: str
    qbo_id: str | None


def parent_of(qbo: QBO, contact: object) -> object | None:
    """The contact's parent contact as the host declares it (``None``: a top-level customer)."""
    link = qbo._registration().parent
    if link is None:
        return None
    return link(contact) if callable(link) else getattr(contact, link, None)


def goes_alone(qbo: QBO, contact: object, link: Customer | None) -> bool:
    """True when a batch must leave the row to the single path: a job, or a customer QBO holds as one."""
    if qbo._registration().parent is None:
        return False
    return parent_of(qbo, contact) is not None or (link is not None and link.is_job)


def job_parent(ctx: RowContext, contact: object, *, creating: bool) -> Parent | None:
    """The parent the contact's customer belongs under, checked; ``None`` for a top-level customer.

    :param creating: the contact has no customer yet.  Its create then needs the
        parent's customer: :class:`ParentPending` while the parent waits for its
        own push, :class:`~flask_qbo.errors.QBOValidationError` when that push failed.
    :raises QBOValidationError: the chain loops, or nests deeper than QBO allows (pre-flight).
    """
    parent = parent_of(ctx.qbo, contact)
    if parent is None:
        return None
    qbo, tenant = ctx.qbo, ctx.row.tenant_key
    key = qbo._contact_key(parent)
    name = display_name(contact_values(parent, ctx.fields))
    if qbo._tenant_of(parent) != tenant:
        raise _refused(f"The parent {name!r} belongs to another account, so this contact cannot be its job.")
    _check_depth(ctx, contact)
    found = (
        ctx.session.query(Customer)
        .filter_by(tenant_key=tenant, contact_key=key, realm_id=ctx.connection.realm_id)
        .one_or_none()
    )
    if found is not None or not creating:
        return Parent(key, name, found.qbo_id if found is not None else None)
    row = (
        ctx.session.query(Outbox)
        .filter(Outbox.tenant_key == tenant, Outbox.contact_key == key, Outbox.op.in_(CUSTOMER_OPS))
        .order_by(Outbox.id.desc())
        .first()
    )
    if row is not None and row.status in (OutboxStatus.FAILED, OutboxStatus.DEAD):
        raise QBOValidationError(
            f"The parent {name!r} is not in QuickBooks: its own sync failed ({row.last_error or 'no reason given'}). "
            "Fix the parent; once it is in QuickBooks, retry this contact.",
            status=None,
            code=PARENT_FAILED,
        )
    if row is None or row.status == OutboxStatus.DONE:  # nothing queued would ever link it
        write_row(ctx.session.connection(), tenant, key, OutboxOp.UPSERT)
        ctx.session.commit()
    raise ParentPending(f"Waiting for the parent {name!r} to be created in QuickBooks first.")


def _check_depth(ctx: RowContext, contact: object) -> None:
    """Refuse a parent chain that loops or nests more than :data:`MAX_SUB_LEVELS` levels under its top."""
    seen = {ctx.qbo._contact_key(contact)}
    level, current = 0, contact
    while (parent := parent_of(ctx.qbo, current)) is not None:
        level += 1
        key = ctx.qbo._contact_key(parent)
        if key in seen:
            raise _refused("Its parents lead back to itself; a customer cannot be its own parent in QuickBooks.")
        seen.add(key)
        current = parent
    top = (
        ctx.session.query(Customer.raw)
        .filter_by(
            tenant_key=ctx.row.tenant_key,
            contact_key=ctx.qbo._contact_key(current),
            realm_id=ctx.connection.realm_id,
        )
        .scalar()
    )
    level += int((top or {}).get("Level") or 0)  # the top contact's customer may itself be a job in QBO
    if level > MAX_SUB_LEVELS:
        raise _refused(
            f"It would be {level} levels under its top-level customer; QuickBooks allows at most {MAX_SUB_LEVELS}."
        )


def job_fields(parent: Parent | None) -> dict[str, t.Any]:
    """What a create body adds for a job: ``Job`` and ``ParentRef`` (nothing for a top-level customer)."""
    if parent is None or parent.qbo_id is None:
        return {}
    return {"Job": True, "ParentRef": {"value": parent.qbo_id}}


def move_job(ctx: RowContext, link: Customer, parent: Parent | None) -> dict[str, t.Any] | None:
    """Put a linked customer under its contact's (new) parent with a sparse update of ``ParentRef``.

    Nothing is sent when QBO already has it there, or when the parent has no
    customer (a move waits for the parent's next push).  After a 5010 the
    customer is re-read and the move retried on the fresh SyncToken.
    """
    if parent is None or parent.qbo_id is None or (link.is_job and link.parent_qbo_id == parent.qbo_id):
        return None
    token = link.sync_token
    for _ in range(MAX_MERGES + 1):
        body = {
            "Id": link.qbo_id,
            "SyncToken": token,
            "sparse": True,
            "Job": True,
            "ParentRef": {"value": parent.qbo_id},
        }
        try:
            data = ctx.client.sparse_update(
                "Customer", body, request_id=request_id(ctx.row, "move", token, parent.qbo_id)
            )
            break
        except QBOStaleObjectError:
            token = ctx.client.read("Customer", link.qbo_id).get("SyncToken")
    else:
        raise QBOStaleObjectError(
            "The customer kept changing in QuickBooks while it was moved; will retry.", code="5010"
        )
    ctx.hold()
    mirror.upsert_customer(ctx.session, ctx.connection, data, contact_key=ctx.row.contact_key)
    ctx.session.add(push_log(ctx, data["Id"], "moved", fields=["ParentRef"], message=f"Now a job of {parent.name}."))
    return {"qbo_id": str(data["Id"]), "operation": "moved", "fields": ["ParentRef"]}


def _refused(problem: str) -> QBOValidationError:
    return QBOValidationError(problem, status=None, code=PREFLIGHT_CODE, detail="QuickBooks field ParentRef")
