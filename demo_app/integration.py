"""Everything the demo CRM does to integrate QuickBooks Online: this file is the whole recipe.

A host tells Flask-QBO four things: its contact model and field map, which
tenant the current request belongs to, which tenant owns a contact, and who
is an admin (and, for estimates and invoices, who may bill).  Everything else (OAuth, sync, webhooks, widgets, the admin
pages) comes from the extension.  The docs page "Adding Flask-QBO to your
CRM" walks through these same lines.
"""

from __future__ import annotations

import typing as t

from flask import Flask
from flask_login import current_user

from flask_qbo import QBO
from flask_qbo import FieldMap

from .models import Contact
from .models import db

qbo = QBO(db=db)

# The demo's contact attributes use the default chart's names; a CRM with other
# names would pass FieldMap(Field("surname", "FamilyName"), ...) instead.
qbo.register_contact(Contact, fields=FieldMap.default(), key="id")


@qbo.tenant_loader
def current_tenant() -> str:
    """Each CRM account connects its own QBO company; anonymous requests own nothing."""
    if current_user.is_authenticated:
        return current_user.account.tenant_key
    return "anonymous"


@qbo.contact_tenant
def tenant_of(contact: Contact) -> str:
    return str(contact.account_id)


@qbo.admin_required
def is_admin() -> bool:
    """Only account admins may connect, disconnect, import and see sync health."""
    return bool(current_user.is_authenticated and current_user.is_admin)


@qbo.metrics_access
def may_scrape() -> bool:
    """The demo's admins may read /qbo/metrics in the browser; a real host would give its scraper a token."""
    return bool(current_user.is_authenticated and current_user.is_admin)


@qbo.can_view
def can_view(contact: Contact) -> bool:
    """Any signed-in user of the contact's account sees its QuickBooks widgets."""
    return bool(current_user.is_authenticated)


@qbo.can_bill
def can_bill(contact: Contact) -> bool:
    """Admins and salespeople of the contact's own account make its estimates and invoices.

    Flask-QBO has already checked that the contact is the current account's
    (another account's contact is a 404); this hook only decides who bills.
    """
    return bool(
        current_user.is_authenticated and current_user.may_bill and current_user.account_id == contact.account_id
    )


@qbo.contact_factory
def new_contact(tenant_key: str, values: dict[str, t.Any]) -> Contact:
    """Create a CRM contact for a QBO customer chosen in the import review."""
    contact = Contact(account_id=int(tenant_key), **values)
    db.session.add(contact)
    return contact


# "Connected by" and "started by" need no hook: Flask-QBO names Flask-Login's
# current_user (its email here); a @qbo.user_name hook would override that.


def init_qbo(app: Flask) -> None:
    """Register the extension on ``app`` and create its ``qbo_*`` tables."""
    qbo.init_app(app)
    with app.app_context():
        qbo.create_all()
