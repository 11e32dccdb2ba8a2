"""Reading QBO objects, and the mirror's rows, by id in bulk.

Every pull path reads what it needs by id: the objects a batch of webhook
events names, the customers whose balance a batch moved, the transactions that
show where a merged-away customer went (:mod:`flask_qbo.sync.pull.merges`).
A flood of ids must cost a handful of requests, never one read each, so ids go
``Id IN (...)`` in chunks of QBO's largest page.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import select

from ...intuit.query import quote
from ...models import Customer
from ...models import Transaction

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ...intuit.client import QBOClient

#: Ids per ``Id IN (...)`` query: QBO's largest page, so one request answers a whole chunk.
IN_CHUNK = 1000
#: Name lists QBO hides when inactive unless asked for both (for Item assumed: nothing says it does not).
NAME_LISTS = ("Customer", "Term", "PaymentMethod", "Item")


def read_many(client: QBOClient, entity: str, ids: t.Collection[str]) -> list[dict[str, t.Any]]:
    """Current versions of some objects of one entity: one query per :data:`IN_CHUNK` ids, never one read each.

    Name lists include inactive objects (QBO hides them unless asked), as a
    single read would.  ``MAXRESULTS`` equals the chunk, so a chunk is always
    one request.  A long statement travels in the request body
    (:meth:`QBOClient.query_page`).  An id QBO does not have (deleted, merged
    away) is simply absent from the answer.
    """
    ordered = sorted(ids, key=lambda value: (len(value), value))
    active = " AND Active IN (true, false)" if entity in NAME_LISTS else ""
    found: list[dict[str, t.Any]] = []
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ", ".join(quote(qbo_id) for qbo_id in ordered[start : start + IN_CHUNK])
        found.extend(client.query(f"SELECT * FROM {entity} WHERE Id IN ({chunk}){active} MAXRESULTS {IN_CHUNK}"))
    return found


def chunks(ids: t.Iterable[str]) -> t.Iterator[list[str]]:
    """``ids``, each once and sorted, in lists of at most :data:`IN_CHUNK`: one SQL ``IN (...)`` each.

    Every bulk lookup of the mirror by id goes through here, so a flood of ids
    costs one query per thousand whatever the path (and no database's bound
    on parameters per statement is reached).
    """
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), IN_CHUNK):
        yield wanted[start : start + IN_CHUNK]


def mirrored_customers(session: Session, realm_id: str, ids: t.Collection[str]) -> set[str]:
    """Which of ``ids`` the mirror holds, in one query per :data:`IN_CHUNK` ids.

    A customer QBO does not have and we never mirrored needs nothing done, so
    a flood of events for customers that never existed costs no query each.
    """
    found: set[str] = set()
    for chunk in chunks(ids):
        found.update(
            session.scalars(select(Customer.qbo_id).where(Customer.realm_id == realm_id, Customer.qbo_id.in_(chunk)))
        )
    return found


def mirrored_objects(session: Session, realm_id: str, keys: t.Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which ``(entity, id)`` keys the mirror holds, ``entity`` being ``Customer`` or a document type.

    One query for customers and one for documents per :data:`IN_CHUNK` ids;
    none when no key asks.
    """
    wanted = set(keys)
    customers = mirrored_customers(session, realm_id, [qbo_id for entity, qbo_id in wanted if entity == "Customer"])
    found = {("Customer", qbo_id) for qbo_id in customers}
    documents = {key for key in wanted if key[0] != "Customer"}
    for chunk in chunks(qbo_id for _, qbo_id in documents):
        query = select(Transaction.txn_type, Transaction.qbo_id).where(
            Transaction.realm_id == realm_id,
            Transaction.txn_type.in_({entity for entity, _ in documents}),
            Transaction.qbo_id.in_(chunk),
        )
        found.update((txn_type, qbo_id) for txn_type, qbo_id in session.execute(query))
    return found & wanted
