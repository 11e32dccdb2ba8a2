"""Sparse update of a linked customer, with the three-way merge after a stale SyncToken.

A linked contact's edit goes to QBO as a sparse update holding only what
changed since the values both sides last agreed on.  When QBO answers 5010 (our
SyncToken is stale), :func:`merge_with` re-reads the customer, merges field by
field (:mod:`flask_qbo.sync.merge`), writes QBO's side into the contact with
capture suppressed, logs each true conflict and sends the ``conflict`` signal;
the update is then retried on the fresh SyncToken, at most :data:`MAX_MERGES`
times.

The customer's DisplayName follows the contact's name (mapped, or derived from
the mapped names) unless ``QBO_DISPLAY_NAME`` is ``"create_only"``; QBO keeps
names unique, so a rename answered with 6240 is retried as "Ann Lee (2)" ...
like a create (:func:`flask_qbo.sync.payload.renamed`).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from flask import current_app

from ... import signals
from ...config import get_config
from ...errors import QBOConfigError
from ...errors import QBODuplicateNameError
from ...errors import QBOStaleObjectError
from ...models import Customer
from ..capture import latest_unpushed_edit
from ..capture import suppress_capture
from ..dating import qbo_changed_at
from ..dating import sent_update
from ..merge import conflict_entry
from ..merge import three_way
from ..merge import winner_for
from ..payload import MAX_NAME_TRIES
from ..payload import advanced
from ..payload import apply_values
from ..payload import build_update_payload
from ..payload import contact_values
from ..payload import customer_hash
from ..payload import next_display_name
from ..payload import pushed_paths
from ..payload import qbo_values
from ..payload import renamed
from ..pull import mirror
from .context import RowContext
from .context import mark_synced
from .context import push_log
from .context import record
from .context import request_id

#: Values of ``QBO_DISPLAY_NAME``.
DISPLAY_NAME_MODES = ("follow", "create_only")

#: Merges attempted when QBO keeps answering 5010 (someone edits it right now).
MAX_MERGES = 3


def update(ctx: RowContext, contact: object, link: Customer, values: dict[str, t.Any]) -> dict[str, t.Any] | None:
    """Send what changed since the last agreed values; ``None`` when there was nothing to record."""
    current: dict[str, t.Any] = dict(link.raw or {})
    #: The last sync point: QBO's values and the contact's (see payload.sync_state).
    base = (
        link.synced_values if link.synced_values is not None else (qbo_values(current, ctx.fields) if current else None)
    )
    token = link.sync_token
    #: QBO's side of the version the update applies to: a lost write of ours is dated by it (see sync.dating).
    applied_to_at = _aware(link.qbo_updated_at)
    sent: list[str] = []
    data: dict[str, t.Any] | None = None
    for _ in range(MAX_MERGES + 1):
        payload = build_update_payload(
            values, ctx.fields, qbo_id=link.qbo_id, sync_token=token, base=base, current=current
        )
        name = renamed(values, base, current) if follows_name() else None
        if name is not None:
            payload = payload or {"Id": link.qbo_id, "SyncToken": token, "sparse": True}
            payload["DisplayName"] = name
        if payload is None:
            break
        sent = [p for p in pushed_paths(values, base, ctx.fields) if p != "DisplayName"] + (
            ["DisplayName"] if name else []
        )
        ctx.sent = sent_update(token, applied_to_at, values, sent, ctx.fields)
        try:
            data = _send(ctx, payload, token, values, name)
            break
        except QBOStaleObjectError:
            ctx.sent = None  # refused: nothing of it was applied
            current = ctx.client.read("Customer", link.qbo_id)
            values, base = merge_with(ctx, contact, values, base, current)
            token = current.get("SyncToken")
            applied_to_at = _qbo_changed_at(ctx, current)
    else:
        raise QBOStaleObjectError("The customer kept changing in QuickBooks while we merged; will retry.", code="5010")
    if data is None:
        data = current if current else None
        if data is None:
            mark_synced(link)
            return None
    return record(ctx, data, values, "updated" if sent else "synced", sent)


def follows_name() -> bool:
    """True when updates rename the customer after the contact (``QBO_DISPLAY_NAME = "follow"``)."""
    mode = get_config("QBO_DISPLAY_NAME")
    if mode not in DISPLAY_NAME_MODES:
        raise QBOConfigError(f"QBO_DISPLAY_NAME must be one of {DISPLAY_NAME_MODES}, not {mode!r}.")
    return bool(mode == "follow")


def _send(
    ctx: RowContext, payload: dict[str, t.Any], token: str | None, values: dict[str, t.Any], name: str | None
) -> dict[str, t.Any]:
    """Send a sparse update; a DisplayName (``name``) QBO answers 6240 for is retried with the next suffix."""
    for attempt in range(MAX_NAME_TRIES):
        extra = (payload["DisplayName"],) if attempt else ()
        try:
            return ctx.client.sparse_update(
                "Customer", payload, request_id=request_id(ctx.row, "update", token, customer_hash(values), *extra)
            )
        except QBODuplicateNameError:
            if "DisplayName" not in payload:
                raise
            payload["DisplayName"] = next_display_name(payload["DisplayName"], name)
    raise QBODuplicateNameError(f"No free DisplayName found for {payload['DisplayName']!r}.", code="6240")


def merge_with(
    ctx: RowContext,
    contact: object,
    values: dict[str, t.Any],
    base: t.Mapping[str, t.Any] | None,
    fresh: dict[str, t.Any],
) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """Three-way merge after a 5010; returns the contact's merged values and the new sync state.

    QBO's values are the new base of its side; on the contact's side, what the
    merge wrote is at the sync point and the CRM's own edits still wait.
    """
    qvals = qbo_values(fresh, ctx.fields)
    crm_at, qbo_at = _crm_edited_at(ctx, contact), _qbo_changed_at(ctx, fresh)
    winner = winner_for(get_config("QBO_CONFLICT_POLICY"), crm_at, qbo_at)
    result = three_way(ctx.fields, base, values, qvals, winner=winner)
    if result.pull:
        with suppress_capture():
            apply_values(contact, result.pull, ctx.fields)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's LocalProxy hides it
    for conflict in result.conflicts:
        ctx.session.add(
            push_log(
                ctx,
                fresh.get("Id"),
                "conflict",
                fields=[conflict.path],
                conflict={
                    conflict.attr: conflict_entry(conflict.crm_value, conflict.qbo_value, winner, crm_at, qbo_at)
                },
                message=f"{conflict.attr} changed on both sides; {conflict.winner.upper()} value kept.",
            )
        )
        signals.conflict.send(
            app,
            contact_key=ctx.row.contact_key,
            field=conflict.attr,
            crm_value=conflict.crm_value,
            qbo_value=conflict.qbo_value,
            winner=conflict.winner,
            crm_changed_at=crm_at,
            qbo_changed_at=qbo_at,
        )
    mirror.upsert_customer(ctx.session, ctx.connection, fresh, contact_key=ctx.row.contact_key)
    merged = contact_values(contact, ctx.fields)
    return merged, advanced(base, qvals, values, merged)


def _crm_edited_at(ctx: RowContext, contact: object) -> dt.datetime | None:
    """The CRM side's time in a conflict: the model's ``updated_at`` if it has one, else its latest unpushed edit.

    Not the row's ``created_at``: edits coalesce into a waiting row, and the
    first of them may be older than QBO's change while the last is newer.
    """
    if hasattr(ctx.qbo._registration().model, "updated_at"):
        edited = _aware(getattr(contact, "updated_at", None))
        if edited is not None:
            return edited
    return _aware(latest_unpushed_edit(ctx.session, ctx.row.tenant_key, ctx.row.contact_key))


def _qbo_changed_at(ctx: RowContext, fresh: t.Mapping[str, t.Any]) -> dt.datetime | None:
    """QBO's side in a conflict: ``LastUpdatedTime``, unless ``fresh`` is a lost write of ours (see sync.dating)."""
    return qbo_changed_at(ctx.session, ctx.row.tenant_key, ctx.row.contact_key, fresh, ctx.fields)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
