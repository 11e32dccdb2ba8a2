"""The demo CRM's own tables: accounts (tenants), their users, and contacts.

Nothing here knows about QuickBooks.  The contact's attribute names are the
ones :meth:`flask_qbo.FieldMap.default` expects, so the demo registers the
default map unchanged; a real CRM with other names passes its own map.
"""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

db = SQLAlchemy()

#: admin: connects QuickBooks and bills; sales: quotes and invoices contacts; user: reads.
ROLES = ("admin", "sales", "user")
#: The roles the demo lets make estimates and invoices (its ``@qbo.can_bill`` hook).
BILLING_ROLES = ("admin", "sales")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Account(db.Model):  # type: ignore[name-defined,misc]
    """A customer of the CRM (a tenant); each account connects its own QBO company."""

    __tablename__ = "accounts"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False, unique=True)

    @property
    def tenant_key(self) -> str:
        """The key Flask-QBO stores with this account's connection and outbox rows."""
        return str(self.id)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """Someone who logs in; ``role`` decides who may connect QuickBooks and who may bill."""

    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id"), nullable=False, index=True)
    email = db.Column(db.String(255), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False)
    role = db.Column(db.String(16), nullable=False, default="user")
    password_hash = db.Column(db.String(255), nullable=False)

    account = db.relationship(Account)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def may_bill(self) -> bool:
        """Admins and salespeople make estimates and invoices; plain users only read."""
        return self.role in BILLING_ROLES

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email} ({self.role})>"


class Contact(db.Model):  # type: ignore[name-defined,misc]
    """A person or business the account deals with; mirrored to a QBO Customer."""

    __tablename__ = "contacts"
    __table_args__ = {"sqlite_autoincrement": True}  # a deleted contact's id is never reused (docs: "Contact keys")
    id = db.Column(db.Integer, primary_key=True)
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id"), nullable=False, index=True)
    first_name = db.Column(db.String(100))
    middle_name = db.Column(db.String(100))
    last_name = db.Column(db.String(100))
    title = db.Column(db.String(16))
    suffix = db.Column(db.String(16))
    company = db.Column(db.String(100))
    email = db.Column(db.String(100), index=True)
    phone = db.Column(db.String(30))
    mobile = db.Column(db.String(30))
    fax = db.Column(db.String(30))
    other_phone = db.Column(db.String(30))
    website = db.Column(db.String(1000))
    billing_street = db.Column(db.String(500))
    billing_city = db.Column(db.String(255))
    billing_state = db.Column(db.String(255))
    billing_postal_code = db.Column(db.String(30))
    billing_country = db.Column(db.String(255))
    shipping_street = db.Column(db.String(500))
    shipping_city = db.Column(db.String(255))
    shipping_state = db.Column(db.String(255))
    shipping_postal_code = db.Column(db.String(30))
    shipping_country = db.Column(db.String(255))
    notes = db.Column(db.Text)
    archived = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=_now)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=_now, onupdate=_now)

    account = db.relationship(Account)

    @property
    def display_name(self) -> str:
        """Name shown in lists and headers: the person, else the company, else the email."""
        person = " ".join(p for p in (self.first_name, self.last_name) if p)
        return person or self.company or self.email or f"Contact #{self.id}"

    @property
    def version(self) -> str:
        """Changes whenever the row is saved (by a user or by a pull from QBO)."""
        return self.updated_at.strftime("%Y%m%d%H%M%S%f") if self.updated_at else "0"

    @property
    def initials(self) -> str:
        """Up to two initials for the avatar, from letters only ("<Oscar> Wilde" gives "OW")."""
        parts = [p for p in (self.first_name, self.last_name) if p] or (self.display_name or "").split()
        letters = [next((char for char in part if char.isalpha()), "") for part in parts]
        return "".join(letter.upper() for letter in letters if letter)[:2]

    def billing_lines(self) -> list[str]:
        return _address(
            self.billing_street, self.billing_city, self.billing_state, self.billing_postal_code, self.billing_country
        )

    def shipping_lines(self) -> list[str]:
        return _address(
            self.shipping_street,
            self.shipping_city,
            self.shipping_state,
            self.shipping_postal_code,
            self.shipping_country,
        )


def _address(
    street: str | None, city: str | None, state: str | None, postal: str | None, country: str | None
) -> list[str]:
    """Postal-style lines, skipping empty parts."""
    locality = " ".join(p for p in (", ".join(p for p in (city, state) if p), postal) if p)
    return [line for line in (street, locality, country) if line]
