"""A second host CRM, shaped unlike the demo: the shape of the donor CRM of issue 20.

* the contact has ONE ``name`` field, plus ``email`` and ``phone``;
* its addresses live in a related ``Address`` table (one-to-many, ``kind`` is
  ``"billing"`` or ``"shipping"``), reached through properties with setters;
* Flask-WTF's ``CSRFProtect`` is on, Flask-Migrate is set up;
* one tenant (no ``tenant_loader``), Flask-Login users, an ``is_admin`` flag.

It registers Flask-QBO only through the public API, as its developer would
following the docs: ``QBO()`` then ``init_app(app, db=db)``, a field map that
splits the one name into QuickBooks' given and family names, and
``related={Address: "contact"}`` so an address row's edit is its contact's edit.
"""

from __future__ import annotations

import typing as t

from cryptography.fernet import Fernet
from flask import Flask
from flask import abort
from flask_login import LoginManager
from flask_login import UserMixin
from flask_login import current_user
from flask_login import login_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

import flask_qbo.models
from flask_qbo import QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import join_name
from flask_qbo import split_name

db = SQLAlchemy()
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
qbo = QBO()

#: Address kinds the CRM knows, and the attributes each exposes on the contact.
KINDS = ("billing", "shipping")
ADDRESS_COLUMNS = ("line1", "city", "postal_code", "country")


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "crm_users"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), unique=True, nullable=False)
    is_admin = db.Column(db.Boolean, default=False, nullable=False)


class Contact(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "people"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200), nullable=False)
    email = db.Column(db.String(200))
    phone = db.Column(db.String(40))
    addresses = db.relationship("Address", back_populates="contact", cascade="all, delete-orphan")

    def address(self, kind: str, *, create: bool = False) -> Address | None:
        """The contact's address row of ``kind`` (made on demand when ``create``)."""
        for row in self.addresses:
            if row.kind == kind:
                return t.cast(Address, row)
        if not create:
            return None
        row = Address(kind=kind)
        self.addresses.append(row)
        return row


def _address_property(kind: str, column: str) -> property:
    """``contact.billing_city`` and the like: read and write the contact's address row."""

    def get(contact: Contact) -> str | None:
        row = contact.address(kind)
        return None if row is None else t.cast("str | None", getattr(row, column))

    def set_(contact: Contact, value: str | None) -> None:
        row = contact.address(kind, create=value is not None)
        if row is not None:
            setattr(row, column, value)

    return property(get, set_, doc=f"The {kind} address's {column}.")


for _kind in KINDS:
    for _column in ADDRESS_COLUMNS:
        setattr(Contact, f"{_kind}_{_column}", _address_property(_kind, _column))


class Address(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "addresses"
    id = db.Column(db.Integer, primary_key=True)
    contact_id = db.Column(db.Integer, db.ForeignKey("people.id"), nullable=False)
    kind = db.Column(db.String(16), nullable=False)
    line1 = db.Column(db.String(500))
    city = db.Column(db.String(255))
    postal_code = db.Column(db.String(30))
    country = db.Column(db.String(255))
    contact = db.relationship(Contact, back_populates="addresses")


FIELDS = FieldMap(
    Field("name", "DisplayName"),
    Field("name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name),
    Field("email", "PrimaryEmailAddr.Address"),
    Field("phone", "PrimaryPhone.FreeFormNumber"),
    Field("billing_line1", "BillAddr.Line1"),
    Field("billing_city", "BillAddr.City"),
    Field("billing_postal_code", "BillAddr.PostalCode"),
    Field("billing_country", "BillAddr.Country"),
    Field("shipping_line1", "ShipAddr.Line1"),
    Field("shipping_city", "ShipAddr.City"),
    Field("shipping_postal_code", "ShipAddr.PostalCode"),
    Field("shipping_country", "ShipAddr.Country"),
)
qbo.register_contact(Contact, fields=FIELDS, related={Address: "contact"})


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


@qbo.admin_required
def is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.is_admin)


@qbo.can_view
def can_view(contact: Contact) -> bool:
    return bool(current_user.is_authenticated)


@qbo.contact_factory
def new_contact(tenant_key: str, values: dict[str, t.Any]) -> Contact:
    contact = Contact(**values)
    db.session.add(contact)
    return contact


ADMIN, CLERK = 1, 2


def create_app(**config: t.Any) -> Flask:
    """The CRM's factory; its tests pass ``TESTING`` and their database URI."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="crm2-secret",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    app.config.update(config)
    db.init_app(app)
    migrate.init_app(app, db, render_item=flask_qbo.models.render_item)  # as docs/installation.rst says
    csrf.init_app(app)
    login_manager.init_app(app)
    qbo.init_app(app, db=db)

    @app.get("/_test/login/<int:user_id>")
    def test_login(user_id: int) -> str:
        login_user(db.session.get(User, user_id) or abort(404))
        return "ok"

    return app


def seed_users() -> None:
    """An admin and a clerk, inside the app's context."""
    db.session.add_all(
        [User(id=ADMIN, email="admin@crm2.test", is_admin=True), User(id=CLERK, email="clerk@crm2.test")]
    )
    db.session.commit()
