"""A host whose clients have a currency and may be jobs of another client (issue 17, item 5).

Its own Flask-SQLAlchemy object and tables, like :mod:`tests.sync.onename`:
the client's ``currency`` is mapped ``on_create`` and its ``parent`` (a
relationship of the model to itself) is declared with ``register_contact(...,
parent="parent")``.
"""

from __future__ import annotations

import typing as t

from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import ON_CREATE
from flask_qbo import QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import get_qbo
from flask_qbo.models import CompanyPrefs

db = SQLAlchemy()


class Client(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "clients"
    id = db.Column(db.Integer, primary_key=True)
    tenant = db.Column(db.String(64), nullable=False, default="acme")
    name = db.Column(db.String(200))
    email = db.Column(db.String(100))
    currency = db.Column(db.String(3))
    bill_with_parent = db.Column(db.Boolean, default=False, nullable=False)
    parent_id = db.Column(db.Integer, db.ForeignKey("clients.id"))
    parent = db.relationship("Client", remote_side=[id], backref="jobs")


FIELDS = FieldMap(
    Field("name", "DisplayName"),
    Field("email", "PrimaryEmailAddr.Address"),
    Field("currency", "CurrencyRef.value", ON_CREATE),
    Field("bill_with_parent", "BillWithParent"),
)


def make_app(
    database_uri: str,
    fields: FieldMap = FIELDS,
    parent: t.Any = "parent",
    parent_watches: tuple[str, ...] = (),
    **config: t.Any,
) -> Flask:
    """The client host with Flask-QBO registered (``parent="parent"`` by default) and its tables created."""
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
    qbo.register_contact(Client, fields=fields, parent=parent, parent_watches=parent_watches)
    qbo.contact_tenant(lambda client: client.tenant)
    qbo.tenant_loader(lambda: "acme")
    with app.app_context():
        db.create_all()
        qbo.create_all()
    return app


def set_prefs(realm_id: str, *, home: str | None = "USD", multi_currency: bool = False) -> None:
    """Store the company's preferences row as the connect-time read would (inside an app context)."""
    session = get_qbo().state().session
    prefs = session.query(CompanyPrefs).filter_by(realm_id=realm_id).one_or_none() or CompanyPrefs(realm_id=realm_id)
    prefs.home_currency, prefs.multi_currency = home, multi_currency
    session.add(prefs)
    session.commit()


def add(name: str, **kw: t.Any) -> Client:
    """A committed client (its outbox row is written by capture)."""
    client = Client(name=name, **kw)
    db.session.add(client)
    db.session.commit()
    return client
