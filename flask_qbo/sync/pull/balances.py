"""Customers whose open balance moved: which transactions move it, and the re-read a document write queues.

QBO computes a customer's ``Balance`` itself and announces no Customer change
when an invoice, payment or credit memo moves it: Intuit's event list has
Customer events for creates, updates, deletes and merges only, and a balance
is no edit of the customer.  So the pull re-reads the customer behind every
such transaction it applies (:data:`BALANCE_TYPES`).

A document the CRM itself made, voided or deleted never reaches that path:
the push mirrors QBO's answer, so the webhook that echoes a create is skipped
unread (the mirror holds that version), and a company without webhooks waits
a whole CDC interval.  The summary card, which shows QBO's own ``Balance``, then
kept the balance from before the invoice.  So the push queues a ``Balance``
inbox event naming the customer, in the commit that records its outcome
(:func:`queue_reread`): it survives a crash like any event, the next inbox
batch reads it with every other customer the batch names (one ``Id IN (...)``
query, see :func:`flask_qbo.sync.pull.reads.read_many`), and no page view
ever asks QBO.  The event carries no Intuit time, so a CDC poll never settles
it in passing (:func:`flask_qbo.sync.pull.ordering.cover`): the read always runs
after the write it follows.
"""

from __future__ import annotations

import typing as t
import uuid

from ...models import Inbox
from ...models import InboxStatus

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: Transactions that move a customer's open balance.
BALANCE_TYPES = ("Invoice", "Payment", "CreditMemo")
#: The inbox operation of a re-read the CRM queued itself; applied like a Customer ``Update`` event.
BALANCE = "Balance"


def queue_reread(session: Session, realm_id: str, txn_type: str, customer_qbo_id: str | None) -> bool:
    """Queue a read of the customer a write of ``txn_type`` may have moved the balance of; True when queued.

    Estimates move no balance, and a transaction without a customer names
    nobody to read.  No commit: the caller's commit records the write and the
    event together.
    """
    if txn_type not in BALANCE_TYPES or not customer_qbo_id:
        return False
    session.add(
        Inbox(
            event_id=f"balance:{realm_id}:{customer_qbo_id}:{uuid.uuid4().hex}",
            realm_id=realm_id,
            entity="Customer",
            entity_id=customer_qbo_id,
            operation=BALANCE,
            status=InboxStatus.PENDING,
        )
    )
    return True
