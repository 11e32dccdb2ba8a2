"""Match-or-create for an unlinked contact, and adopting a create whose answer was lost.

A contact with no customer yet is first matched to one QBO already holds (same
email, else same DisplayName, inactive customers included so a re-added contact
reactivates its customer instead of creating a twin; a job only to a job of the
same parent, :mod:`~flask_qbo.sync.push.jobs`).  Only then is a customer
created, under a DisplayName made unique with " (2)", " (3)" ... suffixes.

Before a create is sent, its DisplayName and values are committed on the outbox
row (``create_sent``).  If the answer never comes back, the retry finds that
customer (:func:`own_lost_create`), adopts it and merges three ways against
what was sent, so edits or a delete made meanwhile on either side still apply.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from ...errors import QBODuplicateNameError
from ...intuit.aside import Aside
from ...intuit.query import quote
from ...intuit.times import parse_time
from ...models import Customer
from ...models import utcnow
from ..capture import suppress_capture
from ..merge import CRM
from ..merge import three_way
from ..payload import DELETED_SUFFIX
from ..payload import MAX_NAME_TRIES
from ..payload import apply_values
from ..payload import build_create_payload
from ..payload import build_update_payload
from ..payload import customer_hash
from ..payload import display_name
from ..payload import get_path
from ..payload import next_display_name
from ..payload import qbo_values
from ..payload import strip_deleted
from ..pull import mirror
from .context import RowContext
from .context import link_of
from .context import mark_synced
from .context import push_log
from .context import record
from .context import request_id
from .context import with_extra
from .update import follows_name
from .update import merge_with
from .update import update

#: Clock difference tolerated between this server and QBO when dating our own create.
CLOCK_SKEW = dt.timedelta(minutes=2)


def match_or_create(ctx: RowContext, contact: object, values: dict[str, t.Any]) -> dict[str, t.Any]:
    """Link the contact to its own lost create, else to a matching customer, else to a new one."""
    own = own_lost_create(ctx)
    if own is not None:
        # Three-way against what we sent: QBO edits made since reach the contact,
        # CRM edits made since go to QBO, true conflicts follow the policy.
        link = adopt(ctx, own)
        values, link.synced_values = merge_with(ctx, contact, values, link.synced_values, own)
        return update(ctx, contact, link, values) or _adopted(ctx, own)
    found = ctx.found if ctx.found is not None else find_match(ctx, values)
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
    # A mapped DisplayName is the contact's (the CRM wins a first link), so it follows like any rename.
    rename = "DisplayName" in result.push and follows_name()
    if rename and payload is None:
        payload = {"Id": found["Id"], "SyncToken": found.get("SyncToken"), "sparse": True}
    data = found
    name = str(result.push["DisplayName"]) if rename else strip_deleted(found.get("DisplayName"))
    for attempt in range(MAX_NAME_TRIES):
        if payload is None:
            break
        if reactivate or rename:
            payload["DisplayName"] = name
        try:
            data = ctx.client.sparse_update(
                "Customer",
                payload,
                request_id=request_id(ctx.row, "match", found["Id"], found.get("SyncToken"), attempt),
            )
            break
        except QBODuplicateNameError:
            if not (reactivate or rename):
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
    contact's is a different person and is skipped.  The name query goes out
    beside the email query (:class:`~flask_qbo.intuit.aside.Aside`), so a new
    contact waits for one round trip to QBO before its create, not two.
    """
    email = values.get("PrimaryEmailAddr.Address")
    name = display_name(values)
    by_name = (
        f"SELECT * FROM Customer WHERE DisplayName IN ({quote(name)}, {quote(name + DELETED_SUFFIX)}) "
        "AND Active IN (true, false)"
    )
    if not email:
        return _first_free(ctx, active_first(ctx.client.query(by_name)))
    by_email = f"SELECT * FROM Customer WHERE PrimaryEmailAddr = {quote(email)} AND Active IN (true, false)"
    with Aside(ctx.qbo, ctx.client, lambda helper: list(helper.query(by_name))) as named:
        rows = list(ctx.client.query(by_email))
        named_rows = named.result()
    hit = _first_free(ctx, active_first(rows))
    if hit is not None:
        return hit
    return _first_free(ctx, active_first(same_person(named_rows, email)))


def active_first(rows: t.Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Candidates in the order a match prefers them: active customers before inactive ones."""
    return sorted(rows, key=lambda r: r.get("Active") is False)


def same_person(rows: t.Iterable[dict[str, t.Any]], email: str | None) -> list[dict[str, t.Any]]:
    """Name matches that may be the contact: a customer with another email is another person."""
    if not email:
        return list(rows)
    return [
        r
        for r in rows
        if not get_path(r, "PrimaryEmailAddr.Address")
        or str(get_path(r, "PrimaryEmailAddr.Address")).lower() == email.lower()
    ]


def _first_free(ctx: RowContext, rows: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    for data in rows:
        if job_parent_id(data) != ctx.parent_id:  # a job matches a job of the same parent, no other customer
            continue
        mirrored = mirror.get_customer(ctx.session, str(ctx.connection.realm_id), str(data["Id"]))
        if mirrored is None or mirrored.contact_key in (None, ctx.row.contact_key):
            return data
    return None


def job_parent_id(data: t.Mapping[str, t.Any]) -> str | None:
    """The parent's id of a QBO customer that is a job, ``None`` for a top-level customer."""
    ref = data.get("ParentRef")
    return str(ref.get("value")) if data.get("Job") and isinstance(ref, t.Mapping) and ref.get("value") else None


def own_lost_create(ctx: RowContext) -> dict[str, t.Any] | None:
    """The customer an earlier attempt of this row created, when its answer never came back.

    The DisplayName we sent is unique in QBO, so finding it (and no other contact
    holding it) identifies our own create; ``None`` when the create never landed.
    """
    sent = ctx.row.create_sent
    if not sent or "DisplayName" not in sent:  # none, or only a lost update's note (sync.dating)
        return None
    rows = list(
        ctx.client.query(
            f"SELECT * FROM Customer WHERE DisplayName IN ({quote(sent['DisplayName'])}, "
            f"{quote(sent['DisplayName'] + DELETED_SUFFIX)}) AND Active IN (true, false)"
        )
    )
    return _first_free(ctx, [data for data in rows if _made_by(sent, data)])


def _made_by(sent: t.Mapping[str, t.Any], data: t.Mapping[str, t.Any]) -> bool:
    """Could ``data`` be the customer our recorded create made?

    The DisplayName alone is not proof: the name may have belonged to an older
    customer (the create then failed with 6240, or never reached QBO).  Ours was
    created after we sent it, and carries the email we sent.
    """
    created = parse_time(get_path(data, "MetaData.CreateTime"))
    sent_at = parse_time(sent.get("sent_at"))
    if created is None or sent_at is None or created < sent_at - CLOCK_SKEW:
        return False
    email = sent["values"].get("PrimaryEmailAddr.Address")
    theirs = get_path(data, "PrimaryEmailAddr.Address")
    return not (email and theirs and str(email).lower() != str(theirs).lower())


def adopt(ctx: RowContext, data: dict[str, t.Any]) -> Customer:
    """Link our own lost create, with the values we sent as the base of later merges."""
    sent: dict[str, t.Any] = ctx.row.create_sent or {}
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
        mark_synced(link)
        link.last_synced_at = utcnow()
    fields = sorted((ctx.row.create_sent or {})["values"])
    ctx.session.add(push_log(ctx, data["Id"], "created", fields=fields))
    return {"qbo_id": str(data["Id"]), "operation": "created", "fields": fields}


def _create(ctx: RowContext, values: dict[str, t.Any]) -> dict[str, t.Any]:
    name = display_name(values)
    for attempt in range(MAX_NAME_TRIES):
        payload = with_extra(build_create_payload(values, ctx.fields, name), ctx.create_extra)
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
            name = next_display_name(name, display_name(values))
    else:
        raise QBODuplicateNameError(f"No free DisplayName found for {display_name(values)!r}.", code="6240")
    return record(ctx, data, values, "created", [p for p, v in values.items() if v is not None])
