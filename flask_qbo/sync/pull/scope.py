"""Which customers' documents the mirror holds: every customer's, or only linked ones' (``QBO_MIRROR``).

With ``QBO_MIRROR = "all"`` (the default) every transaction of the company is
mirrored.  With ``"linked"`` only the documents of customers linked to a CRM
contact are read and stored; customers themselves are still mirrored, since
the import and the push match contacts against them.  The rule is applied
where documents come in:

* a webhook's reads ask QBO only for linked customers' documents
  (:func:`fetch`, :func:`read_filter`), so another customer's invoice never
  leaves QBO;
* a CDC page carries the whole company's changes in one answer: documents of
  unlinked customers are dropped (:func:`keeps`), and their customers are not
  re-read for their balance (:func:`in_scope`);
* the import pages only linked customers' documents, and reconcile compares
  only those.

A customer that becomes linked (import apply, a push that matched or created
it, a QBO merge onto it, a new customer imported as a contact) needs its
history.  A listener on ``qbo_customer`` notices the link in the same flush
and queues a ``Link`` inbox event; the next inbox pass reads the customer's
documents with one paged query per type (:func:`history`).  The event has no
Intuit time, so a CDC poll never settles it in passing
(:func:`flask_qbo.sync.pull.ordering.cover`).

A linked customer's document stays current when it moves to another customer
(it leaves the linked customer's view).  Documents mirrored before a switch
from ``"all"`` stay as they were and are no longer updated.
"""

from __future__ import annotations

import typing as t
import uuid

from flask import has_app_context
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from ...config import get_config
from ...errors import QBOConfigError
from ...intuit.query import quote
from ...models import Customer
from ...models import Inbox
from ...models import Transaction
from . import mirror

if t.TYPE_CHECKING:
    from sqlalchemy.engine import Connection as SAConnection
    from sqlalchemy.orm import Mapper
    from sqlalchemy.orm import Session

    from ...intuit.client import QBOClient

#: The inbox operation that asks for a newly linked customer's documents.
LINK = "Link"
#: Most linked customers named in one ``CustomerRef IN (...)``; beyond it, reads are unfiltered and
#: :func:`keeps` drops what is not wanted.
MAX_FILTER_IDS = 1000
#: Rows per page of a history read (QBO's largest page).
PAGE = 1000


def linked_only() -> bool:
    """True when ``QBO_MIRROR = "linked"``; an unknown value fails loudly."""
    value = get_config("QBO_MIRROR")
    if value not in ("all", "linked"):
        raise QBOConfigError(f'QBO_MIRROR must be "all" or "linked", not {value!r}.')
    return bool(value == "linked")


def linked_ids(session: Session, realm_id: str) -> set[str]:
    """QBO ids of the realm's customers that are linked to a contact."""
    query = select(Customer.qbo_id).where(Customer.realm_id == realm_id, Customer.contact_key.isnot(None))
    return set(session.scalars(query))


def keeps(
    session: Session, realm_id: str, entity: str, data: t.Mapping[str, t.Any], linked: set[str] | None = None
) -> bool:
    """Whether the mirror stores this version of a transaction.

    With ``"linked"``: when it belongs to a linked customer, or its mirrored row
    does (a document moved to another customer, or deleted, leaves the linked
    customer's view).  ``linked`` is :func:`linked_ids`, when the caller has it.
    """
    if not linked_only():
        return True
    linked = linked if linked is not None else linked_ids(session, realm_id)
    row = mirror.get_transaction(session, realm_id, entity, str(data["Id"]))
    if row is not None and row.customer_qbo_id in linked:
        return True
    ref = (data.get("CustomerRef") or {}).get("value") if data.get("status") != "Deleted" else None
    return bool(ref) and mirror.surviving_id(session, realm_id, str(ref)) in linked


def in_scope(session: Session, realm_id: str, objects: t.Mapping[str, t.Iterable[t.Any]]) -> list[tuple[str, t.Any]]:
    """A CDC page's ``(entity, object)`` pairs, without the documents the mirror does not keep."""
    pairs = [(entity, data) for entity, items in objects.items() for data in items]
    if not linked_only():
        return pairs
    linked = linked_ids(session, realm_id)
    return [
        (entity, data)
        for entity, data in pairs
        if entity not in mirror.TRANSACTION_TYPES or keeps(session, realm_id, entity, data, linked)
    ]


def fetch(
    client: QBOClient,
    session: Session,
    realm_id: str,
    wanted: t.Iterable[tuple[str, str]],
    events: t.Iterable[Inbox],
    read: t.Callable[[QBOClient, t.Iterable[tuple[str, str]]], dict[tuple[str, str], dict[str, t.Any]]],
) -> dict[tuple[str, str], dict[str, t.Any]]:
    """An inbox batch's reads, in scope, plus the history its ``Link`` events ask for.

    ``read`` is the inbox's bulk read by id.  With ``"linked"``, documents
    mirrored for a linked customer are read as they are; the others are asked
    for with the ``CustomerRef`` filter, so another customer's document is
    never sent.
    """
    wanted = list(wanted)
    if not linked_only():
        found = read(client, wanted)
    else:
        documents = [key for key in wanted if key[0] in mirror.TRANSACTION_TYPES]
        unknown = set(documents) - _linked_rows(session, realm_id, documents)
        found = read(client, [key for key in wanted if key not in unknown])
        where = read_filter(session, realm_id)
        if where is not None:
            found.update(_read_in_scope(client, unknown, where))
    found.update(history(client, [row.entity_id for row in events if row.operation == LINK]))
    return found


def read_filter(session: Session, realm_id: str) -> str | None:
    """The condition a read of documents adds: ``""`` (none), ``CustomerRef IN (...)`` of the linked
    customers, or ``None`` when no customer is linked and there is nothing to read."""
    if not linked_only():
        return ""
    ids = linked_ids(session, realm_id)
    if not ids:
        return None
    if len(ids) > MAX_FILTER_IDS:
        return ""
    return f"CustomerRef IN ({', '.join(quote(i) for i in sorted(ids, key=lambda v: (len(v), v)))})"


def _read_in_scope(client: QBOClient, keys: set[tuple[str, str]], where: str) -> dict[tuple[str, str], t.Any]:
    """Documents not mirrored for a linked customer, read by id under :func:`read_filter`'s condition."""
    found: dict[tuple[str, str], t.Any] = {}
    for entity in mirror.TRANSACTION_TYPES:
        ids = sorted({qbo_id for kind, qbo_id in keys if kind == entity}, key=lambda v: (len(v), v))
        for start in range(0, len(ids), PAGE):
            chunk = ", ".join(quote(i) for i in ids[start : start + PAGE])
            condition = f"Id IN ({chunk})" + (f" AND {where}" if where else "")
            for data in client.query(f"SELECT * FROM {entity} WHERE {condition} MAXRESULTS {PAGE}"):
                found[(entity, str(data["Id"]))] = data
    return found


def _linked_rows(session: Session, realm_id: str, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which ``(entity, id)`` keys are mirrored as a linked customer's documents, in two queries."""
    if not keys:
        return set()
    linked = linked_ids(session, realm_id)
    query = select(Transaction.txn_type, Transaction.qbo_id, Transaction.customer_qbo_id).where(
        Transaction.realm_id == realm_id, Transaction.qbo_id.in_({qbo_id for _, qbo_id in keys})
    )
    return {(kind, qbo_id) for kind, qbo_id, owner in session.execute(query) if owner in linked} & set(keys)


def history(client: QBOClient, qbo_ids: t.Collection[str]) -> dict[tuple[str, str], dict[str, t.Any]]:
    """Every document of some customers, keyed like the inbox reads: ``{(entity, id): object}``.

    One paged query per transaction type and :data:`MAX_FILTER_IDS` customers.
    """
    ordered = sorted(set(qbo_ids), key=lambda v: (len(v), v))
    found: dict[tuple[str, str], dict[str, t.Any]] = {}
    for start in range(0, len(ordered), MAX_FILTER_IDS):
        names = ", ".join(quote(i) for i in ordered[start : start + MAX_FILTER_IDS])
        for entity in mirror.TRANSACTION_TYPES:
            for data in client.query(f"SELECT * FROM {entity} WHERE CustomerRef IN ({names})", page_size=PAGE):
                found[(entity, str(data["Id"]))] = data
    return found


# -- noticing a new link -------------------------------------------------------------


def _queue_history(mapper: Mapper[Customer], connection: SAConnection, target: Customer) -> None:
    """A customer just became linked (``linked`` mode): queue the read of its documents, in the same flush."""
    if target.contact_key is None or not has_app_context() or not linked_only():
        return  # checked before the attribute history, which costs more than the rest of the event
    change = sa_inspect(target).attrs.contact_key.history
    if not change.added or any(key is not None for key in change.deleted):
        return  # the link did not change, or moved from another contact: its documents are mirrored
    queue_history(connection, target.realm_id, [target.qbo_id])


def queue_history(connection: SAConnection, realm_id: str, qbo_ids: t.Collection[str]) -> None:
    """Customers just linked (``linked`` mode): queue the read of their documents, in the caller's transaction.

    The ORM's inserts and updates of a link call it through a mapper event; a
    push batch that inserts its new mirror rows without the ORM calls it itself.
    """
    if not qbo_ids or not has_app_context() or not linked_only():
        return
    connection.execute(
        insert(Inbox),
        [
            {
                "event_id": f"link:{realm_id}:{qbo_id}:{uuid.uuid4().hex}",
                "realm_id": realm_id,
                "entity": "Customer",
                "entity_id": qbo_id,
                "operation": LINK,
            }
            for qbo_id in qbo_ids
        ],
    )


event.listen(Customer, "after_insert", _queue_history)
event.listen(Customer, "after_update", _queue_history)
