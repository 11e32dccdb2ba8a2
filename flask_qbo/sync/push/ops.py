"""The QBO writes behind one outbox row: match-or-create, sparse update with merge, inactivate.

:mod:`flask_qbo.push` claims a row and decides what an error means; the
functions here do the work and leave the results in the session for the
caller's single commit (mirror row, link, synced values, sync log, the row's
status), so QBO's answer and our record of it are saved together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
import uuid as uuidlib

from flask import current_app

from ... import signals
from ...config import get_config
from ...errors import QBODuplicateNameError
from ...errors import QBOStaleObjectError
from ...fieldmap import DELETED_SUFFIX
from ...fieldmap import FieldMap
from ...fieldmap import apply_values
from ...fieldmap import build_create_payload
from ...fieldmap import build_update_payload
from ...fieldmap import changed_paths
from ...fieldmap import contact_values
from ...fieldmap import customer_hash
from ...fieldmap import display_name
from ...fieldmap import get_path
from ...fieldmap import next_display_name
from ...fieldmap import qbo_values
from ...fieldmap import strip_deleted
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import SyncLog
from ...models import utcnow
from ..capture import latest_unpushed_edit
from ..capture import suppress_capture
from ..locks import hold_connection
from ..merge import CRM
from ..merge import three_way
from ..merge import winner_for
from ..pull import mirror
from ..validation import validate_values

#: Merges attempted when QBO keeps answering 5010 (someone edits it right now).
MAX_MERGES = 3
#: DisplayName suffixes tried after 6240 before the row is parked.
MAX_NAME_TRIES = 50


@dataclasses.dataclass
class RowContext:
    """Everything one row's push needs."""

    qbo: t.Any
    session: t.Any
    row: Outbox
    connection: Connection
    client: t.Any

    @property
    def fields(self) -> FieldMap:
        return t.cast(FieldMap, self.qbo.registration().fields)

    def hold(self) -> None:
        """Before the first write after QBO answered: see :func:`flask_qbo.sync.locks.hold_connection`."""
        hold_connection(self.session, self.connection)


def request_id(row: Outbox, kind: str, *parts: t.Any) -> str:
    """The ``requestid`` of one write of a row.

    The first create is sent with the row's ``uuid`` itself.  Every other write
    uses a UUID derived from it and from what is being written (the SyncToken it
    applies to, the name tried): a retry of the same write replays QBO's first
    answer, while a different write — a coalesced newer edit — is not mistaken
    for it.
    """
    if kind == "create" and not parts:
        return row.uuid
    return str(uuidlib.uuid5(uuidlib.UUID(row.uuid), ":".join([kind, *(str(p) for p in parts)])))


def literal(value: str) -> str:
    """A QBO query string literal (backslash escapes, as Intuit documents)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def link_of(ctx: RowContext) -> Customer | None:
    """The mirror row linked to the row's contact in the connected realm."""
    return (
        ctx.session.query(Customer)
        .filter_by(tenant_key=ctx.row.tenant_key, contact_key=ctx.row.contact_key, realm_id=ctx.connection.realm_id)
        .one_or_none()
    )


# -- upsert ------------------------------------------------------------------------


def upsert_row(ctx: RowContext) -> dict[str, t.Any] | None:
    """Bring the QBO customer in line with the contact; ``None`` when nothing was sent."""
    contact = ctx.qbo.load_contact(ctx.row.contact_key)
    if contact is None:
        # Deleted meanwhile.  If this row's create landed with its answer lost, link
        # the customer, so the inactivation queued by the delete finds it.
        own = own_lost_create(ctx)
        if own is not None:
            _adopt(ctx, own)
        return None
    values = contact_values(contact, ctx.fields)
    link = link_of(ctx)
    if link is not None and customer_hash(values) in (link.last_pushed_hash, link.last_pulled_hash):
        _mark_synced(link)
        return None
    validate_values({p: v for p, v in values.items() if ctx.fields.by_path(p).pushes}, ctx.fields)
    if link is None:
        return _match_or_create(ctx, contact, values)
    return _update(ctx, contact, link, values)


def _mark_synced(link: Customer) -> None:
    if link.sync_status != "synced":
        link.sync_status = "synced"
        link.sync_error = None


def _update(ctx: RowContext, contact: t.Any, link: Customer, values: dict[str, t.Any]) -> dict[str, t.Any] | None:
    current: dict[str, t.Any] = dict(link.raw or {})
    base = (
        link.synced_values if link.synced_values is not None else (qbo_values(current, ctx.fields) if current else None)
    )
    token = link.sync_token
    sent: list[str] = []
    data: dict[str, t.Any] | None = None
    for _ in range(MAX_MERGES + 1):
        payload = build_update_payload(
            values, ctx.fields, qbo_id=link.qbo_id, sync_token=token, base=base, current=current
        )
        if payload is None:
            break
        sent = changed_paths(values, base)
        try:
            data = ctx.client.sparse_update(
                "Customer", payload, request_id=request_id(ctx.row, "update", token, customer_hash(values))
            )
            break
        except QBOStaleObjectError:
            current = ctx.client.read("Customer", link.qbo_id)
            values, base = merge_with(ctx, contact, values, base, current)
            token = current.get("SyncToken")
    else:
        raise QBOStaleObjectError("The customer kept changing in QuickBooks while we merged; will retry.", code="5010")
    if data is None:
        data = current if current else None
        if data is None:
            _mark_synced(link)
            return None
    return record(ctx, data, values, "updated" if sent else "synced", sent)


def merge_with(
    ctx: RowContext,
    contact: t.Any,
    values: dict[str, t.Any],
    base: t.Mapping[str, t.Any] | None,
    fresh: dict[str, t.Any],
) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """Three-way merge after a 5010; returns the contact's merged values and the new base (QBO's values)."""
    qvals = qbo_values(fresh, ctx.fields)
    winner = winner_for(get_config("QBO_CONFLICT_POLICY"), _crm_edited_at(ctx, contact), mirror.last_updated(fresh))
    result = three_way(ctx.fields, base, values, qvals, winner=winner)
    if result.pull:
        with suppress_capture():
            apply_values(contact, result.pull, ctx.fields)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for conflict in result.conflicts:
        ctx.session.add(
            SyncLog(
                tenant_key=ctx.row.tenant_key,
                realm_id=ctx.connection.realm_id,
                contact_key=ctx.row.contact_key,
                qbo_id=fresh.get("Id"),
                direction="push",
                action="conflict",
                fields=[conflict.path],
                conflict={
                    conflict.attr: {"crm": conflict.crm_value, "qbo": conflict.qbo_value, "winner": conflict.winner}
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
        )
    mirror.upsert_customer(ctx.session, ctx.connection, fresh, contact_key=ctx.row.contact_key)
    return result.merged(values), qvals


def _crm_edited_at(ctx: RowContext, contact: t.Any) -> dt.datetime | None:
    """The CRM side's time in a conflict: the model's ``updated_at`` if it has one, else its latest unpushed edit.

    Not the row's ``created_at``: edits coalesce into a waiting row, and the
    first of them may be older than QBO's change while the last is newer.
    """
    if hasattr(ctx.qbo.registration().model, "updated_at"):
        edited = _aware(getattr(contact, "updated_at", None))
        if edited is not None:
            return edited
    return _aware(latest_unpushed_edit(ctx.session, ctx.row.tenant_key, ctx.row.contact_key))


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _match_or_create(ctx: RowContext, contact: t.Any, values: dict[str, t.Any]) -> dict[str, t.Any]:
    own = own_lost_create(ctx)
    if own is not None:
        # Three-way against what we sent: QBO edits made since reach the contact,
        # CRM edits made since go to QBO, true conflicts follow the policy.
        link = _adopt(ctx, own)
        values, link.synced_values = merge_with(ctx, contact, values, link.synced_values, own)
        return _update(ctx, contact, link, values) or _adopted(ctx, own)
    found = find_match(ctx, values)
    if found is None:
        return _create(ctx, values)
    qvals = qbo_values(found, ctx.fields)
    result = three_way(ctx.fields, None, values, qvals, winner=CRM)
    if result.pull:
        with suppress_capture():
            apply_values(contact, result.pull, ctx.fields)
    values = result.merged(values)
    payload = build_update_payload(
        values, ctx.fields, qbo_id=found["Id"], sync_token=found.get("SyncToken"), base=qvals, current=found
    )
    reactivate = found.get("Active") is False and values.get("Active", True) is not False
    data = found
    name = strip_deleted(found.get("DisplayName"))
    for attempt in range(MAX_NAME_TRIES):
        if payload is None:
            break
        if reactivate:
            payload["DisplayName"] = name
        try:
            data = ctx.client.sparse_update(
                "Customer",
                payload,
                request_id=request_id(ctx.row, "match", found["Id"], found.get("SyncToken"), attempt),
            )
            break
        except QBODuplicateNameError:
            if not reactivate:
                raise
            name = next_display_name(name)
    else:
        raise QBODuplicateNameError(f"No free DisplayName found for {name!r}.", code="6240")
    return record(ctx, data, values, "reactivated" if reactivate else "matched", list(result.push))


def find_match(ctx: RowContext, values: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """An existing customer for an unlinked contact: same email, else same DisplayName.

    Inactive (" (deleted)") customers count, so deleting and re-adding a contact
    reactivates its customer instead of creating a twin.  A customer linked to
    another contact is never taken; a name match whose email differs from the
    contact's is a different person and is skipped.
    """
    email = values.get("PrimaryEmailAddr.Address")
    if email:
        rows = list(
            ctx.client.query(
                f"SELECT * FROM Customer WHERE PrimaryEmailAddr = {literal(email)} AND Active IN (true, false)"
            )
        )
        hit = _first_free(ctx, sorted(rows, key=lambda r: r.get("Active") is False))
        if hit is not None:
            return hit
    name = display_name(values)
    rows = list(
        ctx.client.query(
            f"SELECT * FROM Customer WHERE DisplayName IN ({literal(name)}, {literal(name + DELETED_SUFFIX)}) "
            "AND Active IN (true, false)"
        )
    )
    if email:
        rows = [
            r
            for r in rows
            if not get_path(r, "PrimaryEmailAddr.Address")
            or str(get_path(r, "PrimaryEmailAddr.Address")).lower() == email.lower()
        ]
    return _first_free(ctx, sorted(rows, key=lambda r: r.get("Active") is False))


def _first_free(ctx: RowContext, rows: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    for data in rows:
        if data.get("Job"):
            continue
        mirrored = mirror.get_customer(ctx.session, str(ctx.connection.realm_id), str(data["Id"]))
        if mirrored is None or mirrored.contact_key in (None, ctx.row.contact_key):
            return data
    return None


def own_lost_create(ctx: RowContext) -> dict[str, t.Any] | None:
    """The customer an earlier attempt of this row created, when its answer never came back.

    The DisplayName we sent is unique in QBO, so finding it (and no other contact
    holding it) identifies our own create; ``None`` when the create never landed.
    """
    sent = ctx.row.create_sent
    if not sent:
        return None
    rows = list(
        ctx.client.query(
            f"SELECT * FROM Customer WHERE DisplayName IN ({literal(sent['DisplayName'])}, "
            f"{literal(sent['DisplayName'] + DELETED_SUFFIX)}) AND Active IN (true, false)"
        )
    )
    return _first_free(ctx, [data for data in rows if _made_by(sent, data)])


#: Clock difference tolerated between this server and QBO when dating our own create.
CLOCK_SKEW = dt.timedelta(minutes=2)


def _made_by(sent: t.Mapping[str, t.Any], data: t.Mapping[str, t.Any]) -> bool:
    """Could ``data`` be the customer our recorded create made?

    The DisplayName alone is not proof: the name may have belonged to an older
    customer (the create then failed with 6240, or never reached QBO).  Ours was
    created after we sent it, and carries the email we sent.
    """
    created = mirror.parse_time(get_path(data, "MetaData.CreateTime"))
    sent_at = mirror.parse_time(sent.get("sent_at"))
    if created is None or sent_at is None or created < sent_at - CLOCK_SKEW:
        return False
    email = sent["values"].get("PrimaryEmailAddr.Address")
    theirs = get_path(data, "PrimaryEmailAddr.Address")
    return not (email and theirs and str(email).lower() != str(theirs).lower())


def _adopt(ctx: RowContext, data: dict[str, t.Any]) -> Customer:
    """Link our own lost create, with the values we sent as the base of later merges."""
    sent = t.cast(dict, ctx.row.create_sent)
    for stale in ctx.session.query(Customer).filter(
        Customer.tenant_key == ctx.row.tenant_key,
        Customer.contact_key == ctx.row.contact_key,
        Customer.qbo_id != str(data["Id"]),
    ):
        stale.contact_key = None
    link = mirror.upsert_customer(ctx.session, ctx.connection, data, contact_key=ctx.row.contact_key)
    link.synced_values = dict(sent["values"])
    link.last_pushed_hash = customer_hash(sent["values"])
    return link


def _adopted(ctx: RowContext, data: dict[str, t.Any]) -> dict[str, t.Any]:
    """The outcome of adopting a lost create that needed no further change."""
    link = link_of(ctx)
    if link is not None:
        _mark_synced(link)
        link.last_synced_at = utcnow()
    ctx.session.add(
        SyncLog(
            tenant_key=ctx.row.tenant_key,
            realm_id=ctx.connection.realm_id,
            contact_key=ctx.row.contact_key,
            qbo_id=str(data["Id"]),
            direction="push",
            action="created",
            fields=sorted(ctx.row.create_sent["values"]),
        )
    )
    return {"qbo_id": str(data["Id"]), "operation": "created", "fields": sorted(ctx.row.create_sent["values"])}


def _create(ctx: RowContext, values: dict[str, t.Any]) -> dict[str, t.Any]:
    name = display_name(values)
    for attempt in range(MAX_NAME_TRIES):
        payload = build_create_payload(values, ctx.fields, name)
        rid = request_id(ctx.row, "create") if attempt == 0 else request_id(ctx.row, "create", attempt)
        # Committed before sending: if the answer is lost, the retry knows what it created.
        ctx.hold()
        ctx.row.create_sent = {
            "DisplayName": payload["DisplayName"],
            "values": qbo_values(payload, ctx.fields),
            "sent_at": utcnow().isoformat(),
        }
        ctx.session.commit()
        try:
            data = ctx.client.create("Customer", payload, request_id=rid)
            break
        except QBODuplicateNameError:
            name = next_display_name(name)
    else:
        raise QBODuplicateNameError(f"No free DisplayName found for {display_name(values)!r}.", code="6240")
    return record(ctx, data, values, "created", [p for p, v in values.items() if v is not None])


# -- bookkeeping -------------------------------------------------------------------


def record(
    ctx: RowContext, data: dict[str, t.Any], values: t.Mapping[str, t.Any], action: str, fields: list[str]
) -> dict[str, t.Any]:
    """Mirror QBO's answer, store the link's synced state and log it (committed by the caller)."""
    session = ctx.session
    ctx.hold()
    for stale in session.query(Customer).filter(
        Customer.tenant_key == ctx.row.tenant_key,
        Customer.contact_key == ctx.row.contact_key,
        Customer.qbo_id != str(data["Id"]),
    ):
        stale.contact_key = None
    session.flush()
    link = mirror.upsert_customer(session, ctx.connection, data, contact_key=ctx.row.contact_key)
    link.last_pushed_hash = customer_hash(values)
    link.synced_values = qbo_values(data, ctx.fields)
    link.sync_status = "synced"
    link.sync_error = None
    link.last_synced_at = utcnow()
    session.add(
        SyncLog(
            tenant_key=ctx.row.tenant_key,
            realm_id=ctx.connection.realm_id,
            contact_key=ctx.row.contact_key,
            qbo_id=str(data["Id"]),
            direction="push",
            action=action,
            fields=fields,
        )
    )
    return {"qbo_id": str(data["Id"]), "operation": action, "fields": fields}


# -- inactivate --------------------------------------------------------------------


def inactivate_row(ctx: RowContext) -> dict[str, t.Any] | None:
    """A deleted contact: make its customer inactive in QBO (customers are never deleted there)."""
    link = link_of(ctx)
    if link is None:
        own = own_lost_create(ctx)  # created, answer lost, then deleted before the retry
        if own is None:
            return None
        link = _adopt(ctx, own)
    token = link.sync_token
    data: dict[str, t.Any] | None = None
    for _ in range(MAX_MERGES + 1):
        try:
            data = ctx.client.sparse_update(
                "Customer",
                {"Id": link.qbo_id, "SyncToken": token, "sparse": True, "Active": False},
                request_id=request_id(ctx.row, "inactivate", token),
            )
            break
        except QBOStaleObjectError:
            data = ctx.client.read("Customer", link.qbo_id)
            if data.get("Active") is False:
                break
            token = data.get("SyncToken")
    else:
        raise QBOStaleObjectError("The customer kept changing in QuickBooks; will retry.", code="5010")
    ctx.hold()
    row = mirror.upsert_customer(ctx.session, ctx.connection, t.cast(dict, data), unlink=True)
    row.sync_status = "synced"
    row.sync_error = None
    row.last_synced_at = utcnow()
    ctx.session.add(
        SyncLog(
            tenant_key=ctx.row.tenant_key,
            realm_id=ctx.connection.realm_id,
            contact_key=ctx.row.contact_key,
            qbo_id=str(data["Id"]),
            direction="push",
            action="inactivated",
            fields=["Active"],
        )
    )
    return {"qbo_id": str(data["Id"]), "operation": "inactivated", "fields": ["Active"]}
