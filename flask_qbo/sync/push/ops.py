"""The two things an outbox row can ask of QBO (:class:`~flask_qbo.models.OutboxOp`).

:func:`upsert_row` brings the customer in line with the contact: a job's
parent first (:mod:`~flask_qbo.sync.push.jobs`: wait for it, or move the job
under it), nothing when the values equal what was last pushed or pulled,
pre-flight validation (with the currency a create asks for,
:mod:`~flask_qbo.sync.currency`), then match-or-create
(:mod:`~flask_qbo.sync.push.create`) for an unlinked contact or a sparse
update with merge (:mod:`~flask_qbo.sync.push.update`) for a linked one.
:func:`inactivate_row` makes a deleted contact's customer inactive.

:mod:`flask_qbo.sync.push.push` claims the row and decides what an error means;
these functions do the work and leave the results in the session for the
caller's single commit (:func:`~flask_qbo.sync.push.context.record`).
"""

from __future__ import annotations

import typing as t

from ...errors import QBOStaleObjectError
from ...models import Customer
from ...models import SyncStatus
from ...models import utcnow
from ..currency import check_currency
from ..currency import company_prefs
from ..currency import create_currency
from ..payload import contact_values
from ..payload import customer_hash
from ..preflight import validate_values
from ..pull import mirror
from .context import RowContext
from .context import link_of
from .context import mark_synced
from .context import push_log
from .context import request_id
from .create import adopt
from .create import match_or_create
from .create import own_lost_create
from .jobs import job_fields
from .jobs import job_parent
from .jobs import move_job
from .update import MAX_MERGES
from .update import update


def upsert_row(ctx: RowContext) -> dict[str, t.Any] | None:
    """Bring the QBO customer in line with the contact; ``None`` when nothing was sent."""
    contact = ctx.qbo.load_contact(ctx.row.contact_key)
    if contact is None:
        # Deleted meanwhile.  If this row's create landed with its answer lost, link
        # the customer, so the inactivation queued by the delete finds it.
        own = own_lost_create(ctx)
        if own is not None:
            adopt(ctx, own)
        return None
    values = contact_values(contact, ctx.fields)
    link = link_of(ctx)
    parent = job_parent(ctx, contact, creating=link is None)
    moved = move_job(ctx, link, parent) if link is not None else None
    if link is not None and customer_hash(values) in (link.last_pushed_hash, link.last_pulled_hash):
        mark_synced(link)
        return moved
    validate_values({p: values[p] for f in ctx.fields if f.pushes for p in f.paths}, ctx.fields)
    if link is None:
        prefs = company_prefs(ctx.session, ctx.connection.realm_id)
        check_currency(values, prefs, ctx.fields)
        ctx.create_extra = {**create_currency(values, prefs), **job_fields(parent)}
        return match_or_create(ctx, contact, values)
    return update(ctx, contact, link, values) or moved


def inactivate_row(ctx: RowContext) -> dict[str, t.Any] | None:
    """A deleted contact: make its customer inactive in QBO (customers are never deleted there)."""
    link = link_of(ctx)
    if link is None:
        own = own_lost_create(ctx)  # created, answer lost, then deleted before the retry
        if own is None:
            return None
        link = adopt(ctx, own)
    data = _send_inactive(ctx, link)
    ctx.hold()
    row = mirror.upsert_customer(ctx.session, ctx.connection, data, unlink=True)
    row.sync_status = SyncStatus.SYNCED
    row.sync_error = None
    row.last_synced_at = utcnow()
    ctx.session.add(push_log(ctx, data["Id"], "inactivated", fields=["Active"]))
    return {"qbo_id": str(data["Id"]), "operation": "inactivated", "fields": ["Active"]}


def _send_inactive(ctx: RowContext, link: Customer) -> dict[str, t.Any]:
    """``Active: false`` on the customer; after a 5010, re-read and retry unless it is inactive already."""
    token = link.sync_token
    for _ in range(MAX_MERGES + 1):
        try:
            return ctx.client.sparse_update(
                "Customer",
                {"Id": link.qbo_id, "SyncToken": token, "sparse": True, "Active": False},
                request_id=request_id(ctx.row, "inactivate", token),
            )
        except QBOStaleObjectError:
            data = ctx.client.read("Customer", link.qbo_id)
            if data.get("Active") is False:
                return data
            token = data.get("SyncToken")
    raise QBOStaleObjectError("The customer kept changing in QuickBooks; will retry.", code="5010")
