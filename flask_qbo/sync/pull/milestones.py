"""Once-only notices about documents: an invoice got paid, an estimate was accepted (and, from the
daily sweep, an invoice fell overdue).

Hosts hang automations on these signals ("tell the account owner", "open a
project"), so each must come exactly once per document.  Pull sees the same
document many times: a webhook and the CDC poll both deliver it, Intuit
retries a webhook, two workers may apply the same change side by side.  The
once-only rule therefore lives in the database: a ``qbo_notice`` row per
(realm, document, kind) under a unique constraint, inserted *if absent* in the
same transaction that mirrors the change.  Whoever inserts the row sends the
signal; a second worker's insert finds the row (on PostgreSQL it waits for the
first transaction, then inserts nothing), and a rolled-back pull leaves no
row, so the next delivery claims it again.

Signals go out only after that transaction committed (:meth:`Milestones.send`,
called by the pull after its commit), so a receiver never hears of a change
that was rolled back, and may read the committed mirror.

The pull is not the only writer of the mirror: a push (send, void, an
invoice closing its estimate) and the admin's re-import write QBO's answer
too, and may be the first to see a payment or an acceptance; the pull then
finds nothing changed.  So every path that mirrors a transaction from QBO's
answer checks the moment here (:func:`mirror_noticed`, :func:`notice`) and
sends what it claimed after its own commit.

What counts as the moment (see the "Signals for your automations" docs):

* ``invoice_paid``: a mirrored invoice whose open balance was above zero now
  has a zero balance and is not void.  A document seen for the first time
  already paid (by the import, or any first read) sends nothing: the CRM did
  not see it being paid.
* ``estimate_accepted``: a mirrored estimate's ``TxnStatus`` became
  ``Accepted``; again not for an estimate first seen accepted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ... import signals
from ...models import Customer
from ...models import Notice
from ...models import Transaction
from . import bulk
from . import mirror

if t.TYPE_CHECKING:
    from blinker import NamedSignal
    from flask import Flask
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: ``qbo_notice.kind`` values.
PAID = "paid"
ACCEPTED = "accepted"
OVERDUE = "overdue"
#: The document types :func:`moment` can find a notice in; a page of any other type has none to claim.
NOTICED_TYPES = frozenset(("Invoice", "Estimate"))

_NOTICES = t.cast(sa.Table, Notice.__table__)


def claim(session: Session, realm_id: str, txn_type: str, qbo_id: str, kind: str) -> bool:
    """Record that the ``kind`` notice about a document is given; True only for the caller that recorded it.

    Insert-if-absent under ``qbo_notice``'s unique constraint, in ``session``'s
    transaction (the caller commits).  On PostgreSQL a concurrent claim of the
    same notice waits for this transaction and then finds the row; on SQLite
    writers take turns anyway.
    """
    values = {"realm_id": realm_id, "txn_type": txn_type, "qbo_id": str(qbo_id), "kind": kind}
    insert = bulk.insert_for(session)
    if insert is not None:
        stmt = (
            insert(_NOTICES)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=[_NOTICES.c.realm_id, _NOTICES.c.txn_type, _NOTICES.c.qbo_id, _NOTICES.c.kind]
            )
            .returning(_NOTICES.c.id)  # a row comes back only when this insert made it
        )
        return session.execute(stmt).first() is not None
    try:
        with session.begin_nested():
            session.execute(sa.insert(Notice).values(**values))
    except IntegrityError:
        return False
    return True


def contact_of(session: Session, realm_id: str, tenant_key: str, customer_qbo_id: str | None) -> str | None:
    """The contact linked to a document's customer, or ``None`` (not linked, or another tenant's row)."""
    if not customer_qbo_id:
        return None
    return session.scalar(
        sa.select(Customer.contact_key).where(
            Customer.realm_id == realm_id, Customer.qbo_id == customer_qbo_id, Customer.tenant_key == tenant_key
        )
    )


@dataclasses.dataclass(frozen=True)
class Before:
    """What a mirrored document looked like before a pull applied a new version."""

    balance: Decimal | None
    status: str | None
    deleted: bool

    @classmethod
    def of(cls, row: Transaction | None) -> Before | None:
        """The state of ``row`` now (``None`` for a document not mirrored yet)."""
        return None if row is None else cls(row.balance, row.status, bool(row.deleted))


def moment(entity: str, before: Before | None, row: Transaction) -> tuple[str, NamedSignal] | None:
    """The notice kind and signal a change from ``before`` to ``row`` calls for, if any."""
    if before is None or before.deleted or row.deleted:
        return None
    if entity == "Invoice" and row.status == "paid" and before.status != "void" and (before.balance or 0) > 0:
        return PAID, signals.invoice_paid
    if entity == "Estimate" and row.status == "accepted" and before.status != "accepted":
        return ACCEPTED, signals.estimate_accepted
    return None


#: A claimed notice: its signal and the signal's kwargs, sent after the claiming commit.
Claimed = tuple["NamedSignal", dict[str, t.Any]]


def notice(session: Session, tenant_key: str, entity: str, before: Before | None, row: Transaction) -> Claimed | None:
    """Claim the notice ``row``'s change from ``before`` calls for; the signal to send after the commit, if claimed."""
    found = moment(entity, before, row)
    if found is None:
        return None
    kind, signal = found
    if not claim(session, row.realm_id, entity, row.qbo_id, kind):
        return None
    kwargs = {
        "realm_id": row.realm_id,
        "tenant_key": tenant_key,
        "contact_key": contact_of(session, row.realm_id, tenant_key, row.customer_qbo_id),
        "qbo_id": row.qbo_id,
        "doc_number": row.doc_number,
        "total": row.total,
    }
    return signal, kwargs


def mirror_noticed(
    session: Session, tenant_key: str, realm_id: str, entity: str, data: t.Mapping[str, t.Any]
) -> list[Claimed]:
    """Mirror one transaction from a QBO answer outside the pull, and claim the notice its change calls for."""
    existing = mirror.get_transaction(session, realm_id, entity, str(data["Id"]))
    before = Before.of(existing)
    row = mirror.upsert_transaction(session, realm_id, entity, data, racing=True)
    found = notice(session, tenant_key, entity, before, row)
    return [] if found is None else [found]


def upsert_page_noticed(
    session: Session, tenant_key: str, realm_id: str, entity: str, rows: t.Sequence[bulk.Row], today: dt.date
) -> list[Claimed]:
    """Bulk-mirror a page of one transaction type (the import) and claim the notices its changes call for.

    Only documents mirrored before the page can have a moment, so a first
    import claims nothing; a re-import that is first to see a payment does.
    A type without notices (:data:`NOTICED_TYPES`) is stored without reading
    its page's rows first.
    """
    if entity not in NOTICED_TYPES:
        bulk.upsert_transactions(session, realm_id, entity, rows, today=today)
        return []
    ids = [str(data["Id"]) for data in rows if data.get("Id") is not None]
    page = sa.select(Transaction).where(Transaction.realm_id == realm_id, Transaction.txn_type == entity)
    with bulk.custom_plans(session):
        before = {
            row.qbo_id: Before.of(row)
            for row in session.scalars(page.where(bulk.among(session, Transaction.qbo_id, ids)))
        }
    bulk.upsert_transactions(session, realm_id, entity, rows, today=today)
    if not before:
        return []
    with bulk.custom_plans(session):
        now = list(
            session.scalars(
                page.where(bulk.among(session, Transaction.qbo_id, before)).execution_options(populate_existing=True)
            )
        )
    return [found for row in now if (found := notice(session, tenant_key, entity, before[row.qbo_id], row))]


class Milestones:
    """The notices one pull transaction claimed, sent after it commits.

    :param app: the signals' sender.
    :param tenant_key: the connection's tenant (the signals' ``tenant_key``).
    """

    def __init__(self, app: Flask, tenant_key: str) -> None:
        self.app = app
        self.tenant_key = tenant_key
        self._pending: list[tuple[NamedSignal, dict[str, t.Any]]] = []

    def seen(self, session: Session, entity: str, before: Before | None, row: Transaction) -> bool:
        """Claim the notice ``row``'s change calls for; True when this transaction claimed one."""
        found = notice(session, self.tenant_key, entity, before, row)
        if found is None:
            return False
        self._pending.append(found)
        return True

    def send(self) -> int:
        """Send the claimed signals (call after the commit); returns how many were sent.

        A receiver that raises is logged and the others still run: the notice
        is recorded, so the signal is not sent again.
        """
        pending, self._pending = self._pending, []
        for signal, kwargs in pending:
            announce(self.app, signal, kwargs)
        return len(pending)


def announce(app: Flask, signal: NamedSignal, kwargs: dict[str, t.Any]) -> None:
    """Send one once-only signal to each receiver in turn; a receiver's error is logged, never raised.

    Not ``signal.send``: it stops at the first receiver that raises, and blinker
    keeps receivers in a set, so which of a host's receivers never heard of the
    payment would depend on their ids.
    """
    if signal.is_muted:
        return
    for receiver in signal.receivers_for(app):
        try:
            receiver(app, **kwargs)
        except Exception:
            log.exception(
                "A receiver of %s failed for %s %s.",
                signal.name,
                kwargs.get("realm_id"),
                kwargs.get("qbo_id"),
                extra={"qbo_realm": kwargs.get("realm_id")},
            )
