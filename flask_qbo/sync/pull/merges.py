"""Merges no Merge event announced: finding where a customer QBO reports gone went.

QBO never deletes a customer: a customer that disappears was merged into
another one.  Only the Merge webhook names the survivor, and it can be missed
(a delivery that failed for good, events dropped while disconnected, a spelling
we did not read).  Every other path sees only the merged-away customer gone:
CDC lists it with ``status: Deleted``, a read by id no longer finds it (610
Object Not Found), a full query no longer returns it.  Inactivating it there
would leave the contact linked, and the invoices filed, under a customer that
no longer exists.

But a merge moves every transaction of the merged customer to the survivor,
so the transactions the mirror still files under the gone customer name it:
read again, their ``CustomerRef`` points at the survivor (a customer merged
twice is followed to where its transactions are now).  The same evidence works
the other way round: when a batch brings transactions whose customer changed,
the customer they left is read, and if it is gone it was merged into the one
they went to.

:func:`find` does every QBO read, before the pull's first write (the read
counter commits on its own connection, which must not wait behind the pull's
writes).  :meth:`Survivors.apply` then repairs with
:meth:`~flask_qbo.sync.pull.apply.Applier.merge`, the code a Merge event runs.
No survivor is ever guessed: with no transaction left to follow, or
transactions now on several customers, the customer is inactivated as before
and the sync log says why.  And a customer is never taken for gone while QBO
still files a transaction under it (a real merge moves every one): such a
report is logged and the customer left as it is for a later pass.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t
from collections.abc import Callable

from sqlalchemy import func
from sqlalchemy import nulls_last
from sqlalchemy import select

from ...models import Customer
from ...models import Transaction
from ..payload import get_path
from . import mirror
from .reads import chunks

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .apply import Applier

log = logging.getLogger(__name__)

#: Reads ``(entity, ids)`` from QBO in bulk (see :func:`flask_qbo.sync.pull.reads.read_many`).
Reader = Callable[[str, t.Collection[str]], list[dict[str, t.Any]]]
#: Objects a pull pass already holds, by ``(entity, id)``; CDC's ``status: Deleted`` stubs included.
Known = t.Mapping[tuple[str, str], t.Mapping[str, t.Any]]

#: Transactions of one gone customer read for evidence: its most recently changed ones.
#: One merge moves them all, so a few agreeing is proof; the bound keeps a customer
#: with years of history from costing a read of all of it.
EVIDENCE = 20


@dataclasses.dataclass
class Survivors:
    """The mirrored customers a pass found gone from QBO, and where each one went."""

    #: Gone customer id → the survivor, as QBO has it now.
    into: dict[str, t.Mapping[str, t.Any]] = dataclasses.field(default_factory=dict)
    #: Gone customer id → why no survivor can be named.
    unknown: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Customers reported gone that transactions in QBO still name: not gone after all, left alone this pass.
    alive: set[str] = dataclasses.field(default_factory=set)

    def covers(self, qbo_id: str) -> bool:
        """True when this pass must not apply the customer's Deleted stub itself (:meth:`apply` decides)."""
        return qbo_id in self.into or qbo_id in self.unknown or qbo_id in self.alive

    def customer_ids(self) -> set[str]:
        """Every customer :meth:`apply` may write, for :func:`~flask_qbo.sync.locks.lock_customers`."""
        return {*self.into, *self.unknown, *(str(data["Id"]) for data in self.into.values())}

    def apply(self, applier: Applier) -> None:
        """Merge each gone customer into its survivor, or inactivate it saying why none was found."""
        for gone in sorted(self.into, key=_id_order):
            survivor = self.into[gone]
            applier.merge(gone, survivor, message=_merged_message(gone, str(survivor["Id"])))
        for gone in sorted(self.unknown, key=_id_order):
            applier.customer_removed(gone, f"Gone from QuickBooks (merged away), but {self.unknown[gone]}.")


def find(
    session: Session,
    realm_id: str,
    gone: t.Iterable[str],
    known: Known,
    read: Reader | None,
    *,
    announced: t.Collection[str] = (),
) -> Survivors:
    """Where the mirrored customers a pass sees gone went; reads QBO, writes nothing.

    ``gone`` are the customer ids the pass found gone (Deleted stubs, ids a
    read did not find, customers a full query did not return).  Customers that
    transactions in ``known`` have left are checked too.  ``read`` is ``None``
    when ``known`` is everything QBO has (reconcile), so nothing is read.
    ``announced`` are the merged-away ids of Merge events at hand: the event
    says where they went.
    """
    skipped = set(announced)
    suspects = _left_behind(session, realm_id, known) - skipped
    unsure = [qbo_id for qbo_id in suspects if ("Customer", qbo_id) not in known]
    found = dict(known)
    if read is not None and unsure:
        found.update((("Customer", str(data["Id"])), data) for data in read("Customer", unsure))
    candidates = {str(qbo_id) for qbo_id in gone} - skipped
    candidates |= {qbo_id for qbo_id in suspects if _is_gone(found.get(("Customer", qbo_id)))}
    candidates = _unmerged(session, realm_id, candidates)
    evidence = _evidence(session, realm_id, candidates)
    if read is not None:
        _read_missing(found, read, [key for keys in evidence.values() for key in keys])
    owners = {gone_id: _owners(keys, found) for gone_id, keys in evidence.items()}
    wanted = {owner for gone_id, names in owners.items() if len(names) == 1 and gone_id not in names for owner in names}
    if read is not None:
        _read_missing(found, read, [("Customer", owner) for owner in wanted])
    result = Survivors()
    for gone_id in candidates:
        _record(result, realm_id, gone_id, owners.get(gone_id, set()), found)
    return result


def _record(result: Survivors, realm_id: str, gone_id: str, owners: set[str], found: Known) -> None:
    """Record one gone customer's outcome: its survivor, why there is none, or that it is still there."""
    if gone_id in owners:
        # A merge moves every transaction: one QBO still files under it proves it exists.
        result.alive.add(gone_id)
        log.warning(
            "Customer %s of realm %s was reported gone, but QuickBooks still files transactions under it; "
            "left as it is until a later pass.",
            gone_id,
            realm_id,
        )
        return
    if not owners:
        result.unknown[gone_id] = "no transaction of it is left to show which customer it was merged into"
        return
    if len(owners) > 1:
        named = ", ".join(sorted(owners, key=_id_order))
        result.unknown[gone_id] = f"its transactions now belong to several customers ({named}), so none is assumed"
        return
    (owner,) = owners
    survivor = found.get(("Customer", owner))
    if _is_gone(survivor):
        result.unknown[gone_id] = f"the customer its transactions moved to ({owner}) cannot be read"
        return
    result.into[gone_id] = t.cast("t.Mapping[str, t.Any]", survivor)


def _left_behind(session: Session, realm_id: str, known: Known) -> set[str]:
    """Customers that transactions in ``known`` have left: the mirror files them under another customer."""
    now: dict[tuple[str, str], str] = {}
    for (entity, qbo_id), data in known.items():
        ref = get_path(data, "CustomerRef.value")
        if entity in mirror.TRANSACTION_TYPES and data.get("status") != "Deleted" and ref:
            now[(entity, qbo_id)] = str(ref)
    left: set[str] = set()
    for entity in mirror.TRANSACTION_TYPES:
        for chunk in chunks(qbo_id for kind, qbo_id in now if kind == entity):
            rows = session.execute(
                select(Transaction.qbo_id, Transaction.customer_qbo_id).where(
                    Transaction.realm_id == realm_id,
                    Transaction.txn_type == entity,
                    Transaction.qbo_id.in_(chunk),
                    Transaction.deleted.is_(False),
                )
            )
            left.update(was for qbo_id, was in rows if was and was != now[(entity, qbo_id)])
    return left


def _unmerged(session: Session, realm_id: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` the mirror holds and has not recorded as merged (nothing to do for the others)."""
    found: set[str] = set()
    for chunk in chunks(ids):
        found.update(
            session.scalars(
                select(Customer.qbo_id).where(
                    Customer.realm_id == realm_id,
                    Customer.qbo_id.in_(chunk),
                    Customer.merged_into.is_(None),
                )
            )
        )
    return found


def _evidence(session: Session, realm_id: str, customers: set[str]) -> dict[str, list[tuple[str, str]]]:
    """The live transactions the mirror files under each customer: up to :data:`EVIDENCE`, newest first.

    The bound is applied by the database (a row number per customer), so a
    customer with years of history costs :data:`EVIDENCE` rows, not all of them.
    """
    evidence: dict[str, list[tuple[str, str]]] = {}
    for chunk in chunks(customers):
        rank = (
            func.row_number()
            .over(
                partition_by=Transaction.customer_qbo_id,
                order_by=(nulls_last(Transaction.qbo_updated_at.desc()), Transaction.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(Transaction.customer_qbo_id, Transaction.txn_type, Transaction.qbo_id, rank)
            .where(
                Transaction.realm_id == realm_id,
                Transaction.customer_qbo_id.in_(chunk),
                Transaction.deleted.is_(False),
            )
            .subquery()
        )
        rows = session.execute(
            select(ranked.c.customer_qbo_id, ranked.c.txn_type, ranked.c.qbo_id)
            .where(ranked.c.rank <= EVIDENCE)
            .order_by(ranked.c.customer_qbo_id, ranked.c.rank)
        )
        for customer, entity, qbo_id in rows:
            evidence.setdefault(str(customer), []).append((entity, qbo_id))
    return evidence


def _read_missing(
    found: dict[tuple[str, str], t.Mapping[str, t.Any]], read: Reader, keys: list[tuple[str, str]]
) -> None:
    """Read, in bulk per entity, the objects of ``keys`` the pass does not hold yet."""
    missing: dict[str, set[str]] = {}
    for entity, qbo_id in keys:
        if (entity, qbo_id) not in found:
            missing.setdefault(entity, set()).add(qbo_id)
    for entity, ids in missing.items():
        found.update(((entity, str(data["Id"])), data) for data in read(entity, ids))


def _owners(keys: list[tuple[str, str]], found: Known) -> set[str]:
    """The customers QBO now files these transactions under (the gone one included, if any still is)."""
    owners: set[str] = set()
    for key in keys:
        data = found.get(key)
        ref = get_path(data, "CustomerRef.value") if data is not None and not _is_gone(data) else None
        if ref:
            owners.add(str(ref))
    return owners


def _is_gone(data: t.Mapping[str, t.Any] | None) -> bool:
    """True when QBO does not have the object: never read back, or a CDC ``status: Deleted`` stub."""
    return data is None or data.get("status") == "Deleted"


def _merged_message(gone: str, survivor: str) -> str:
    return (
        f"Customer {gone} merged in: QuickBooks reports it gone and its transactions now belong to "
        f"customer {survivor} (found without a Merge event)."
    )


def _id_order(qbo_id: str) -> tuple[int, str]:
    return (len(qbo_id), qbo_id)
