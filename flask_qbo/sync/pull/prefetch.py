"""An inbox batch's local rows, read in bulk before its objects are applied.

Applying a batch one object at a time asked the database, per object, for its
mirror row (twice: the applier and the upsert each looked), its contact, and
the contact's latest unpushed CRM edit; and each of those queries first
flushed the previous object's writes.  A webhook flood therefore cost about
eight statements per change, each a round trip on PostgreSQL, and a Celery
worker on PostgreSQL ingested slower than the thread runner on SQLite.

:func:`batch` reads all of it up front: the mirror rows of every customer and
document the batch may touch (one statement per thousand ids), their contacts
(one) and their unpushed edits (one).  Inside it, :func:`customer`,
:func:`transaction`, :func:`contact` and :func:`unpushed_edit` answer from
memory, so no query flushes half a batch, and the writes go out in the
commit's one flush, grouped per table.  A row added during the batch (a
customer or a document new to the mirror) is remembered as it is added, so a
later lookup in the same batch finds it instead of inserting it twice.

Call :func:`batch` after the rows are locked (:func:`~flask_qbo.sync.locks.lock_customers`):
rows read before the lock could be changed by a push before the batch writes
them.  Outside a batch every lookup falls through to its query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import typing as t

from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import CUSTOMER_OPS
from ...models import Customer
from ...models import Outbox
from ...models import Transaction
from ..capture import latest_unpushed_edit
from ..queue import UNPUSHED
from .reads import chunks

if t.TYPE_CHECKING:
    from ...extension import QBO
    from ...models import Connection

#: Where the running batch's rows live: ``session.info[KEY]``.
KEY = "qbo_prefetched"


@dataclasses.dataclass
class Prefetched:
    """What one batch read up front; a key present with ``None`` means "not in the database"."""

    realm_id: str
    tenant_key: str
    customers: dict[str, Customer | None] = dataclasses.field(default_factory=dict)
    transactions: dict[tuple[str, str], Transaction | None] = dataclasses.field(default_factory=dict)
    #: Contacts by key; a key asked for but absent here was deleted in the CRM.
    contacts: dict[str, object] = dataclasses.field(default_factory=dict)
    contact_keys: set[str] = dataclasses.field(default_factory=set)
    #: Latest unpushed edit by contact key; an asked-for key absent here has none.
    unpushed: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)


@contextlib.contextmanager
def batch(
    qbo: QBO,
    session: Session,
    conn: Connection,
    customer_ids: t.Iterable[str],
    documents: t.Iterable[tuple[str, str]],
    *,
    contacts: bool = True,
) -> t.Iterator[Prefetched]:
    """Read the rows of ``customer_ids`` and ``documents`` (``(entity, id)``), their contacts and edits.

    ``contacts=False`` reads the mirror rows alone, for a caller that looks up
    no contact (a push recording QBO's answers).  Everything commits or rolls
    back inside; the prefetched rows are forgotten on the way out either way.
    """
    realm = str(conn.realm_id)
    found = Prefetched(realm_id=realm, tenant_key=str(conn.tenant_key))
    ids = {str(i) for i in customer_ids}
    found.customers = dict.fromkeys(ids)
    for chunk in chunks(ids):
        rows = session.scalars(
            select(Customer)
            .where(Customer.realm_id == realm, Customer.qbo_id.in_(chunk))
            .execution_options(populate_existing=True)
        )
        found.customers.update((row.qbo_id, row) for row in rows)
    wanted = {(entity, str(qbo_id)) for entity, qbo_id in documents}
    found.transactions = dict.fromkeys(wanted)
    for chunk in chunks(qbo_id for _, qbo_id in wanted):
        for row in session.scalars(
            select(Transaction).where(Transaction.realm_id == realm, Transaction.qbo_id.in_(chunk))
        ):
            if (row.txn_type, row.qbo_id) in wanted:
                found.transactions[(row.txn_type, row.qbo_id)] = row
    keys = {row.contact_key for row in found.customers.values() if row is not None and row.contact_key}
    if contacts and keys and qbo._contact is not None:
        found.contact_keys = set(keys)
        found.contacts = qbo._load_contacts(keys)
        found.unpushed = _unpushed(session, found.tenant_key, keys)
    session.info[KEY] = found
    try:
        yield found
    finally:
        session.info.pop(KEY, None)


def _unpushed(session: Session, tenant_key: str, keys: set[str]) -> dict[str, dt.datetime]:
    """Each contact's latest unpushed edit (:func:`~flask_qbo.sync.capture.latest_unpushed_edit`, in bulk)."""
    found: dict[str, dt.datetime] = {}
    for chunk in chunks(keys):
        rows = session.execute(
            select(Outbox.contact_key, func.max(Outbox.updated_at))
            .where(
                Outbox.tenant_key == tenant_key,
                Outbox.contact_key.in_(chunk),
                Outbox.status.in_(UNPUSHED),
                Outbox.op.in_(CUSTOMER_OPS),  # an invoice queued for the contact is not an edit of it
            )
            .group_by(Outbox.contact_key)
        )
        found.update((str(key), latest) for key, latest in rows if latest is not None)
    return found


def _running(session: Session, realm_id: str) -> Prefetched | None:
    found = session.info.get(KEY)
    return found if isinstance(found, Prefetched) and found.realm_id == realm_id else None


def customer(session: Session, realm_id: str, qbo_id: str) -> tuple[bool, Customer | None]:
    """``(True, row or None)`` when the running batch knows the customer; ``(False, None)``: query it."""
    found = _running(session, realm_id)
    if found is None or qbo_id not in found.customers:
        return False, None
    return True, found.customers[qbo_id]


def transaction(session: Session, realm_id: str, entity: str, qbo_id: str) -> tuple[bool, Transaction | None]:
    """``(True, row or None)`` when the running batch knows the document; ``(False, None)``: query it."""
    found = _running(session, realm_id)
    if found is None or (entity, qbo_id) not in found.transactions:
        return False, None
    return True, found.transactions[(entity, qbo_id)]


def contact(qbo: QBO, session: Session, realm_id: str, contact_key: str) -> object:
    """The contact of ``contact_key`` (``None`` when deleted), from the running batch or a query."""
    found = _running(session, realm_id)
    if found is None or contact_key not in found.contact_keys:
        return qbo.load_contact(contact_key)
    return found.contacts.get(contact_key)


def unpushed_edit(session: Session, realm_id: str, tenant_key: str, contact_key: str) -> dt.datetime | None:
    """:func:`~flask_qbo.sync.capture.latest_unpushed_edit`, answered from the running batch when it can."""
    found = _running(session, realm_id)
    if found is None or found.tenant_key != tenant_key or contact_key not in found.contact_keys:
        return latest_unpushed_edit(session, tenant_key, contact_key)
    return found.unpushed.get(contact_key)


@event.listens_for(Session, "transient_to_pending")
def _added(session: Session, instance: object) -> None:
    """A mirror row added during a batch: later lookups of the batch find it (no second insert)."""
    found = session.info.get(KEY)
    if not isinstance(found, Prefetched):
        return
    if isinstance(instance, Customer) and instance.realm_id == found.realm_id and instance.qbo_id:
        found.customers[str(instance.qbo_id)] = instance
    elif isinstance(instance, Transaction) and instance.realm_id == found.realm_id and instance.qbo_id:
        found.transactions[(str(instance.txn_type), str(instance.qbo_id))] = instance
