"""Mirror rows and a permission hook for the billing view tests (no tests here).

The billing views read the realm's mirror (items, tax codes, preferences) and
the contact's linked customer, so tests insert exactly the rows they need.
The test host registers no ``@qbo.can_bill`` hook; :func:`allow_billing`
registers one that lets the named users bill.
"""

from __future__ import annotations

import re
import typing as t
from decimal import Decimal

from flask_login import current_user

from flask_qbo.models import CompanyPrefs
from flask_qbo.models import Item
from flask_qbo.models import RefItem
from flask_qbo.models import TaxCode
from flask_qbo.models import TaxRate
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db
from tests.widgets.widget_factories import HX

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def allow_billing(app: t.Any, *user_ids: int) -> None:
    """Register a ``can_bill`` hook allowing only ``user_ids``."""

    @get_qbo(app).can_bill
    def may_bill(contact: t.Any) -> bool:
        return bool(current_user.is_authenticated and current_user.id in user_ids)


def add_prefs(app: t.Any, **values: t.Any) -> None:
    defaults: dict[str, t.Any] = {"realm_id": TEST_REALM, "country": "US", "home_currency": "USD", "tax_model": "none"}
    defaults.update(values)
    with app.app_context():
        db.session.add(CompanyPrefs(**defaults))
        db.session.commit()


def add_item(app: t.Any, qbo_id: str, name: str, price: str | None = "75.00", **values: t.Any) -> None:
    defaults: dict[str, t.Any] = {"type": "Service", "active": True, "description": f"{name} work"}
    defaults.update(values)
    with app.app_context():
        db.session.add(
            Item(
                realm_id=TEST_REALM,
                qbo_id=qbo_id,
                name=name,
                unit_price=Decimal(price) if price is not None else None,
                **defaults,
            )
        )
        db.session.commit()


def add_tax_code(app: t.Any, qbo_id: str, name: str, percent: str | None = None) -> None:
    """A tax code with one sales rate of ``percent`` (none: an exempt code)."""
    with app.app_context():
        rates = None
        if percent is not None:
            db.session.add(
                TaxRate(realm_id=TEST_REALM, qbo_id=f"r{qbo_id}", name=f"{name} rate", rate_value=Decimal(percent))
            )
            rates = [{"rate_id": f"r{qbo_id}", "order": 0, "applies_to": "TaxOnAmount"}]
        db.session.add(
            TaxCode(realm_id=TEST_REALM, qbo_id=qbo_id, name=name, taxable=percent is not None, sales_rates=rates)
        )
        db.session.commit()


def add_term(app: t.Any, qbo_id: str, name: str) -> None:
    with app.app_context():
        db.session.add(RefItem(realm_id=TEST_REALM, kind="Term", qbo_id=qbo_id, name=name, active=True))
        db.session.commit()


def token(client: t.Any, contact_id: int) -> str:
    """The CSRF token the contact's summary card renders, as a browser reads it."""
    page = client.get(f"/qbo/w/{contact_id}/summary", headers=HX).get_data(as_text=True)
    found = TOKEN.search(page)
    assert found, "the summary card carries no CSRF token"
    return found.group(1)


def invoice_form(**values: str) -> dict[str, str]:
    """A valid one-line invoice form (2 × 75.00 of item 1), overridable field by field."""
    form = {
        "kind": "Invoice",
        "line-0-item": "1",
        "line-0-description": "Garden design",
        "line-0-qty": "2",
        "line-0-unit_price": "75.00",
        "txn_date": "2026-11-29",
        "bill_email": "ada@example.com",
    }
    form.update(values)
    return form
