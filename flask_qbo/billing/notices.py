"""The daily overdue sweep: ``invoice_overdue`` once per invoice that fell past its due date.

QBO sends no event when a due date passes (nothing about the invoice
changed), so being overdue cannot be seen by pull; it is found by looking at
the mirror once a day.  :func:`sweep_overdue` takes every open invoice of a
connected company (balance above zero, not deleted, not void) whose due date
is before ``today`` and has no ``overdue`` notice yet, records the notice and
sends the signal after the commit.  The notice row (insert-if-absent under a
unique constraint, :func:`flask_qbo.sync.pull.milestones.claim`) makes the
signal once per invoice *ever*: a second sweep the same day, a sweep in another
worker, an invoice paid late and then reopened, none sends it again.

``today`` is the UTC date unless the caller gives one: a due date is a date in
the company's own calendar, so an invoice may be announced up to a day early
or late around midnight, never twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

import sqlalchemy as sa
from flask import current_app

from .. import signals
from ..models import Connection
from ..models import ConnectionStatus
from ..models import Notice
from ..models import Transaction
from ..models import qbo_today
from ..sync.pull import milestones

if t.TYPE_CHECKING:
    from decimal import Decimal

    from flask import Flask

    from ..extension import QBO

#: Invoices one sweep transaction claims before it commits and sends their signals.
BATCH = 500


@dataclasses.dataclass(frozen=True)
class _Overdue:
    realm_id: str
    tenant_key: str
    qbo_id: str
    customer_qbo_id: str | None
    doc_number: str | None
    balance: Decimal | None
    due_date: dt.date | None


#: A candidate row: mirror id, realm, tenant, invoice id, customer id, number, balance, due date.
_Candidate = sa.Select[int, str, str, str, str | None, str | None, "Decimal | None", "dt.date | None"]


def _candidates(today: dt.date, after: int, limit: int) -> _Candidate:
    """Open invoices of connected companies past due without an overdue notice, by mirror id after ``after``."""
    noticed = sa.exists().where(
        Notice.realm_id == Transaction.realm_id,
        Notice.txn_type == Transaction.txn_type,
        Notice.qbo_id == Transaction.qbo_id,
        Notice.kind == milestones.OVERDUE,
    )
    return (
        sa.select(
            Transaction.id,
            Transaction.realm_id,
            Connection.tenant_key,
            Transaction.qbo_id,
            Transaction.customer_qbo_id,
            Transaction.doc_number,
            Transaction.balance,
            Transaction.due_date,
        )
        .join(Connection, Connection.realm_id == Transaction.realm_id)
        .where(
            Connection.status == ConnectionStatus.CONNECTED,
            Transaction.txn_type == "Invoice",
            Transaction.deleted.is_(False),
            Transaction.status != "void",
            Transaction.balance > 0,
            Transaction.due_date < today,
            Transaction.id > after,
            sa.not_(noticed),
        )
        .order_by(Transaction.id)
        .limit(limit)
    )


def sweep_overdue(qbo: QBO, today: dt.date | None = None) -> int:
    """Send ``invoice_overdue`` for every open invoice past due that was never announced; returns how many.

    Works in batches of :data:`BATCH` invoices: each batch's notices commit
    together, then its signals are sent.  A notice another worker recorded
    first is skipped (that worker sends it).
    """
    today = today or qbo_today()
    session = qbo.state().db.session()
    sender = t.cast("Flask", current_app._get_current_object())  # type: ignore[attr-defined]  # werkzeug proxy
    sent = 0
    after = 0
    while True:
        found = session.execute(_candidates(today, after, BATCH)).all()
        if not found:
            session.commit()
            return sent
        after = int(found[-1][0])
        claimed = []
        for _, realm_id, tenant_key, qbo_id, customer_id, doc_number, balance, due_date in found:
            if milestones.claim(session, realm_id, "Invoice", qbo_id, milestones.OVERDUE):
                claimed.append(_Overdue(realm_id, tenant_key, qbo_id, customer_id, doc_number, balance, due_date))
        contacts = {
            (item.realm_id, item.qbo_id): milestones.contact_of(
                session, item.realm_id, item.tenant_key, item.customer_qbo_id
            )
            for item in claimed
        }
        session.commit()
        for item in claimed:
            milestones.announce(
                sender,
                signals.invoice_overdue,
                {
                    "realm_id": item.realm_id,
                    "tenant_key": item.tenant_key,
                    "contact_key": contacts[(item.realm_id, item.qbo_id)],
                    "qbo_id": item.qbo_id,
                    "doc_number": item.doc_number,
                    "balance": item.balance,
                    "due_date": item.due_date,
                },
            )
        sent += len(claimed)
