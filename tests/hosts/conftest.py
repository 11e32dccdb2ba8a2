"""The ``host`` fixture: the same integration scenarios against every host shape in the suite.

Each :class:`Host` adapts one CRM to the few things a scenario does (make a
contact, rename it, edit its billing city, read it back, log in), so a
scenario states what a CRM user does and never how one host stores it.  The
hosts: ``demo`` (``tests/hostapp.py``: split name columns, address columns on
the contact, no CSRFProtect, two tenants) and ``crm2`` (``tests/hosts/crm2.py``:
one ``name``, addresses in a related table, CSRFProtect, Flask-Migrate).
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
import typing as t

import pytest
from flask import Flask

from flask_qbo.testing import attach_emulator
from tests import hostapp

#: What a scenario reads back from a contact, whatever the host calls it.
CONTACT_FIELDS = ("name", "email", "phone", "billing_line1", "billing_city")


@dataclasses.dataclass
class Host:
    """One host CRM, built for one test, and how a scenario drives it."""

    name: str
    app: Flask
    #: The tenant key the host's users act under (what ``connect_tenant`` takes).
    tenant: str
    admin_id: int
    uses_csrf_protect: bool
    _module: t.Any

    @property
    def db(self) -> t.Any:
        return self._module.db

    def login(self, client: t.Any, user_id: int | None = None) -> None:
        response = client.get(f"/_test/login/{self.admin_id if user_id is None else user_id}")
        assert response.status_code == 200

    def new_contact(self, name: str, email: str, *, phone: str = "", line1: str = "", city: str = "") -> int:
        """A CRM user saves a new contact (captured like any edit); returns its key."""
        with self.app.app_context():
            if self.name == "demo":
                first, _, last = name.partition(" ")
                contact = hostapp.Contact(
                    tenant=self.tenant, first_name=first, last_name=last, email=email, phone=phone or None,
                    billing_street=line1 or None, billing_city=city or None,
                )  # fmt: skip
            else:
                contact = self._module.Contact(name=name, email=email, phone=phone or None)
                contact.billing_line1 = line1 or None
                contact.billing_city = city or None
            self.db.session.add(contact)
            self.db.session.commit()
            return int(contact.id)

    def rename(self, contact_id: int, name: str) -> None:
        with self.app.app_context():
            contact = self._contact(contact_id)
            if self.name == "demo":
                contact.first_name, _, contact.last_name = name.partition(" ")
            else:
                contact.name = name
            self.db.session.commit()

    def edit_billing_city(self, contact_id: int, city: str) -> None:
        """Edit the stored billing address: a column of the contact, or the host's ``Address`` row itself."""
        with self.app.app_context():
            if self.name == "demo":
                self._contact(contact_id).billing_city = city
            else:
                row = self.db.session.query(self._module.Address).filter_by(contact_id=contact_id, kind="billing").one()
                row.city = city
            self.db.session.commit()

    def read(self, contact_id: int) -> dict[str, t.Any]:
        """The contact as the CRM shows it."""
        with self.app.app_context():
            contact = self._contact(contact_id)
            if self.name == "demo":
                values = {
                    "name": " ".join(filter(None, (contact.first_name, contact.last_name))),
                    "billing_line1": contact.billing_street,
                }
                return values | {key: getattr(contact, key) for key in ("email", "phone", "billing_city")}
            return {key: getattr(contact, key) for key in CONTACT_FIELDS}

    def _contact(self, contact_id: int) -> t.Any:
        model = hostapp.Contact if self.name == "demo" else self._module.Contact
        return self.db.session.get(model, contact_id)


def demo_host(tmp_path: pathlib.Path) -> Host:
    app = hostapp.make_app(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    return Host("demo", app, "acme", hostapp.ACME_ADMIN, False, hostapp)


def crm2_host(tmp_path: pathlib.Path) -> Host:
    # Imported here, not at the top: until the public name API (split_name, join_name, tuple
    # paths, related=) exists, only this host's scenarios fail, not the demo host's.
    crm2 = importlib.import_module("tests.hosts.crm2")
    app = crm2.create_app(TESTING=True, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'crm2.sqlite'}")
    with app.app_context():
        crm2.db.create_all()  # the host's own call; it creates the qbo_* tables too
        crm2.seed_users()
    return Host("crm2", app, "default", crm2.ADMIN, True, crm2)


@pytest.fixture(params=["demo", "crm2"])
def host(request: pytest.FixtureRequest, tmp_path: pathlib.Path, emulator: t.Any) -> t.Iterator[Host]:
    """Each host in turn, wired to the in-process emulator (not connected yet)."""
    built = demo_host(tmp_path) if request.param == "demo" else crm2_host(tmp_path)
    attach_emulator(built.app, emulator)
    yield built
    with built.app.app_context():
        built.db.session.remove()
