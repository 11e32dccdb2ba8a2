"""A host whose contact has one ``name`` column and its billing address in an ``Address`` row.

The shape issue 20 found in a real CRM, kept apart from :mod:`tests.hostapp`
(its own Flask-SQLAlchemy object and tables) so the field-map tests of computed,
multi-path and related-table fields run against a model that is not the demo's.
"""

from __future__ import annotations

import typing as t

from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO
from flask_qbo import TO_QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import join_name
from flask_qbo import split_name

db = SQLAlchemy()


class Person(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "people"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200))
    email = db.Column(db.String(100))
    phone = db.Column(db.String(30))
    company = db.Column(db.String(60))
    department = db.Column(db.String(30))
    #: Not mapped: editing it must not queue a push.
    private_note = db.Column(db.String(100))
    addresses = db.relationship("Address", back_populates="person", cascade="all, delete-orphan")

    def billing(self) -> Address | None:
        return next((a for a in self.addresses if a.kind == "billing"), None)

    @property
    def billing_street(self) -> str | None:
        """Read-only: the street of the billing address row."""
        address = self.billing()
        return address.street if address else None


class Address(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "addresses"
    id = db.Column(db.Integer, primary_key=True)
    person_id = db.Column(db.Integer, db.ForeignKey("people.id"), nullable=False)
    kind = db.Column(db.String(20), default="billing", nullable=False)
    street = db.Column(db.String(200))
    city = db.Column(db.String(100))
    person = db.relationship(Person, back_populates="addresses")


def billing_city(person: Person) -> str | None:
    address = person.billing()
    return address.city if address else None


def company_name(person: Person) -> str | None:
    """A computed value: the company and the department, as one QBO CompanyName."""
    return " – ".join(part for part in (person.company, person.department) if part) or None


def set_billing_city(person: Person, value: str | None) -> None:
    address = person.billing()
    if address is None:
        address = Address(kind="billing")
        person.addresses.append(address)
    address.city = value


FIELDS = FieldMap(
    Field("name", "DisplayName"),
    Field("name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name),
    Field("email", "PrimaryEmailAddr.Address"),
    Field("phone", "PrimaryPhone.FreeFormNumber"),
    Field("billing_street", "BillAddr.Line1", TO_QBO),
    Field(path="BillAddr.City", get=billing_city, set=set_billing_city),
    Field(path="CompanyName", get=company_name, watches=("company", "department")),
)


def make_app(database_uri: str, **config: t.Any) -> Flask:
    """The one-name host with Flask-QBO registered (``related={Address: "person"}``) and tables created."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test-secret",
        SQLALCHEMY_DATABASE_URI=database_uri,
        QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        QBO_RUNNER="none",
        QBO_MAX_RETRIES=0,
        **config,
    )
    db.init_app(app)
    qbo = QBO(app, db=db)
    qbo.register_contact(Person, fields=FIELDS, related={Address: "person"})
    qbo.contact_tenant(lambda person: "acme")
    qbo.tenant_loader(lambda: "acme")

    @qbo.contact_factory
    def new_person(tenant_key: str, values: dict[str, t.Any]) -> Person:
        person = Person(**values)
        db.session.add(person)
        return person

    with app.app_context():
        db.create_all()
        qbo.create_all()
    return app
