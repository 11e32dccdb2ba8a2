"""Mirror rows for the widget tests, inserted directly with the models.

The widgets read only the local mirror, so tests build exactly the state they
need (a linked customer, its transactions, an outbox row) without running sync.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal

from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.models import qbo_today
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db

TODAY = qbo_today()


def days_ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def add_contact(app: t.Any, tenant: str = "acme", **values: t.Any) -> int:
    """A host contact; returns its id (the contact key)."""
    with app.app_context():
        contact = Contact(tenant=tenant, first_name=values.pop("first_name", "Ada"), **values)
        with get_qbo(app).suppress_capture():  # no outbox row: tests choose the sync state
            db.session.add(contact)
            db.session.commit()
        return int(contact.id)


def link_customer(app: t.Any, contact_id: int, *, tenant: str = "acme", qbo_id: str = "58", **values: t.Any) -> int:
    """A mirrored QBO customer linked to the contact; returns the row id."""
    defaults: dict[str, t.Any] = {
        "realm_id": TEST_REALM,
        "display_name": "Ada Lovelace",
        "active": True,
        "currency": "USD",
        "sync_status": "synced",
        "last_synced_at": utcnow(),
    }
    defaults.update(values)
    with app.app_context():
        row = Customer(tenant_key=tenant, contact_key=str(contact_id), qbo_id=qbo_id, **defaults)
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def add_txn(
    app: t.Any,
    txn_type: str,
    qbo_id: str,
    *,
    customer_qbo_id: str = "58",
    total: str = "100.00",
    balance: str | None = None,
    **values: t.Any,
) -> int:
    """A mirrored transaction of the customer; returns the row id."""
    defaults: dict[str, t.Any] = {
        "realm_id": TEST_REALM,
        "txn_date": TODAY,
        "status": "open",
        "deleted": False,
    }
    defaults.update(values)
    with app.app_context():
        row = Transaction(
            txn_type=txn_type,
            qbo_id=qbo_id,
            customer_qbo_id=customer_qbo_id,
            total=Decimal(total),
            balance=Decimal(balance) if balance is not None else None,
            **defaults,
        )
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def add_outbox(app: t.Any, contact_id: int, *, status: str = "pending", last_error: str | None = None) -> int:
    with app.app_context():
        row = Outbox(tenant_key="acme", contact_key=str(contact_id), status=status, last_error=last_error)
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def update(app: t.Any, model: type, row_id: int, **values: t.Any) -> None:
    with app.app_context():
        row = db.session.get(model, row_id)
        for key, value in values.items():
            setattr(row, key, value)
        db.session.commit()


HX = {"HX-Request": "true"}
