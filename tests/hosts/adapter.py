"""One interface to every host CRM in the suite, so a scenario never depends on the demo's shape.

Issue 20 (item 8): the integration scenarios run against each host.  A test
asks this module for an app on its database (:func:`make_app`) and drives it
through :class:`Host` (make a contact, rename it, edit its billing city, read
it back, log in, count contacts), so it states what a CRM user does and never
how one host stores it.  The hosts:

* ``hostapp`` (``tests/hostapp.py``): split name columns, address columns on
  the contact, no CSRFProtect, two tenants (``acme``, ``globex``);
* ``crm2`` (``tests/hosts/crm2.py``): one ``name``, addresses in a related
  ``Address`` table, CSRFProtect, Flask-Migrate, one tenant (``default``).

Each host's expected QuickBooks values come from its own field map: the
scenarios below create names that both maps send the same way ("Ann Lee" is
GivenName "Ann", FamilyName "Lee", DisplayName "Ann Lee" in both).
"""

from __future__ import annotations

import dataclasses
import types
import typing as t

from flask import Flask

from tests import hostapp
from tests.hosts import crm2

#: Every host shape; integration modules parametrize over these.
HOSTS = ("hostapp", "crm2")

#: What a scenario reads back from a contact, whatever the host calls it.
CONTACT_FIELDS = ("name", "email", "phone", "billing_line1", "billing_city")


def make_app(kind: str, database_uri: str, **config: t.Any) -> Flask:
    """The host's app on ``database_uri`` with its tables and users (made once per database).

    Call it again on the same URI for a second worker of the same CRM.
    """
    if kind == "hostapp":
        return hostapp.make_app(database_uri, **config)
    app = crm2.create_app(TESTING=True, SQLALCHEMY_DATABASE_URI=database_uri, **config)
    with app.app_context():
        crm2.db.create_all()  # the host's own call; it creates the qbo_* tables too
        if not crm2.db.session.query(crm2.User).count():
            crm2.seed_users()
        crm2.db.session.remove()
    return app


@dataclasses.dataclass
class Host:
    """One host CRM's app, and how a scenario drives it."""

    kind: str
    app: Flask

    @property
    def module(self) -> types.ModuleType:
        return hostapp if self.kind == "hostapp" else crm2

    @property
    def db(self) -> t.Any:
        return self.module.db

    @property
    def contact_model(self) -> t.Any:
        return self.module.Contact

    @property
    def tenant(self) -> str:
        """The tenant key the host's users act under (what ``connect_tenant`` takes)."""
        return "acme" if self.kind == "hostapp" else "default"

    @property
    def admin_id(self) -> int:
        return hostapp.ACME_ADMIN if self.kind == "hostapp" else crm2.ADMIN

    def login(self, client: t.Any, user_id: int | None = None) -> None:
        response = client.get(f"/_test/login/{self.admin_id if user_id is None else user_id}")
        assert response.status_code == 200

    def contact(self, name: str, *, email: str = "", phone: str = "", line1: str = "", city: str = "") -> t.Any:
        """An unsaved contact as the CRM's own form would build it (the caller adds and commits)."""
        if self.kind == "hostapp":
            first, _, last = name.partition(" ")
            return hostapp.Contact(
                tenant=self.tenant, first_name=first, last_name=last or None, email=email or None,
                phone=phone or None, billing_street=line1 or None, billing_city=city or None,
            )  # fmt: skip
        contact = crm2.Contact(name=name, email=email or None, phone=phone or None)
        contact.billing_line1 = line1 or None
        contact.billing_city = city or None
        return contact

    def new_contact(self, name: str, email: str, *, phone: str = "", line1: str = "", city: str = "") -> int:
        """A CRM user saves a new contact (captured like any edit); returns its key."""
        with self.app.app_context():
            contact = self.contact(name, email=email, phone=phone, line1=line1, city=city)
            self.db.session.add(contact)
            self.db.session.commit()
            return int(contact.id)

    def rename(self, contact_id: int, name: str) -> None:
        with self.app.app_context():
            contact = self.db.session.get(self.contact_model, contact_id)
            if self.kind == "hostapp":
                contact.first_name, _, contact.last_name = name.partition(" ")
            else:
                contact.name = name
            self.db.session.commit()

    def edit_billing_city(self, contact_id: int, city: str) -> None:
        """Edit the stored billing address: a column of the contact, or the host's ``Address`` row itself."""
        with self.app.app_context():
            if self.kind == "hostapp":
                self.db.session.get(hostapp.Contact, contact_id).billing_city = city
            else:
                row = self.db.session.query(crm2.Address).filter_by(contact_id=contact_id, kind="billing").one()
                row.city = city
            self.db.session.commit()

    def values(self, contact: t.Any) -> dict[str, t.Any]:
        """A loaded contact as the CRM shows it (call inside the app's context)."""
        if self.kind == "hostapp":
            name = " ".join(filter(None, (contact.first_name, contact.last_name)))
            shown = {"name": name, "billing_line1": contact.billing_street}
            return shown | {key: getattr(contact, key) for key in ("email", "phone", "billing_city")}
        return {key: getattr(contact, key) for key in CONTACT_FIELDS}

    def read(self, contact_id: int) -> dict[str, t.Any]:
        """The contact as the CRM shows it."""
        with self.app.app_context():
            return self.values(self.db.session.get(self.contact_model, contact_id))

    def read_all(self) -> list[dict[str, t.Any]]:
        """Every contact as the CRM shows it, in key order."""
        with self.app.app_context():
            contacts = self.db.session.query(self.contact_model).order_by(self.contact_model.id)
            return [self.values(contact) for contact in contacts]

    def dispose(self) -> None:
        """Close the app's session and pools (a test's PostgreSQL schema is dropped next)."""
        with self.app.app_context():
            self.db.session.remove()
            for engine in self.db.engines.values():
                engine.dispose()


def build(kind: str, database_uri: str, **config: t.Any) -> Host:
    """:func:`make_app` wrapped in its :class:`Host`."""
    return Host(kind, make_app(kind, database_uri, **config))
