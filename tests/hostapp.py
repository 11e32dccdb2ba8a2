"""A small multi-tenant host CRM used by the test suite.

It uses Flask-QBO exactly as a host would: its own models, Flask-Login, and the
extension's decorator hooks.  Users log in through a test-only route.
"""

from __future__ import annotations

import threading
import typing as t

from cryptography.fernet import Fernet
from flask import Flask
from flask import abort
from flask_login import LoginManager
from flask_login import UserMixin
from flask_login import current_user
from flask_login import login_user
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO
from flask_qbo import FieldMap

db = SQLAlchemy()


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), unique=True, nullable=False)
    tenant = db.Column(db.String(64), nullable=False)
    is_admin = db.Column(db.Boolean, default=False, nullable=False)


class Contact(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "contacts"
    # A deleted contact's id is never given to a new one (SQLite reuses the highest
    # rowid otherwise): see docs/installation.rst, "Contact keys".
    __table_args__ = {"sqlite_autoincrement": True}
    id = db.Column(db.Integer, primary_key=True)
    tenant = db.Column(db.String(64), nullable=False, default="acme")
    first_name = db.Column(db.String(100))
    middle_name = db.Column(db.String(100))
    last_name = db.Column(db.String(100))
    title = db.Column(db.String(16))
    suffix = db.Column(db.String(16))
    company = db.Column(db.String(100))
    email = db.Column(db.String(100))
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
    archived = db.Column(db.Boolean, default=False, nullable=False)
    #: Not mapped to QBO: editing it must not write an outbox row.
    lead_score = db.Column(db.Integer, default=0)


def make_app(database_uri: str = "sqlite://", **config: t.Any) -> Flask:
    """Build the host app with Flask-QBO registered and tables created.

    Two tenants ("acme", "globex") with an admin and a plain user each.
    """
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test-secret",
        SQLALCHEMY_DATABASE_URI=database_uri,
        QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        QBO_ENVIRONMENT="emulator",
        QBO_EMULATOR_URL="http://qbo.emulator.test",
        QBO_CLIENT_ID="emulator-client-id",
        QBO_CLIENT_SECRET="emulator-client-secret",
        QBO_RUNNER="none",
    )
    app.config.update(config)
    db.init_app(app)
    login = LoginManager(app)
    qbo = QBO(app, db=db)
    qbo.register_contact(Contact, fields=FieldMap.default())

    @login.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id))

    @qbo.tenant_loader
    def tenant() -> str | None:
        return current_user.tenant if current_user.is_authenticated else "anonymous"

    @qbo.contact_tenant
    def contact_tenant(contact: Contact) -> str:
        return contact.tenant

    @qbo.admin_required
    def is_admin() -> bool:
        return bool(current_user.is_authenticated and current_user.is_admin)

    @qbo.user_name
    def user_name() -> str | None:
        return current_user.email if current_user.is_authenticated else None

    @qbo.contact_factory
    def new_contact(tenant_key: str, values: dict[str, t.Any]) -> Contact:
        contact = Contact(tenant=tenant_key, **values)
        db.session.add(contact)
        return contact

    @app.route("/_test/login/<int:user_id>")
    def test_login(user_id: int) -> str:
        user = db.session.get(User, user_id) or abort(404)
        login_user(user)
        return "ok"

    with app.app_context():
        db.create_all()
        qbo.create_all()
        if not db.session.query(User).count():
            db.session.add_all(
                [
                    User(id=1, email="admin@acme.test", tenant="acme", is_admin=True),
                    User(id=2, email="user@acme.test", tenant="acme", is_admin=False),
                    User(id=3, email="admin@globex.test", tenant="globex", is_admin=True),
                    User(id=4, email="user@globex.test", tenant="globex", is_admin=False),
                ]
            )
            db.session.commit()
    return app


ACME_ADMIN, ACME_USER, GLOBEX_ADMIN, GLOBEX_USER = 1, 2, 3, 4


def in_app_thread(app: t.Any, name: str, job: t.Callable[[], t.Any], out: dict[str, t.Any]) -> threading.Thread:
    """Start ``job`` in a thread inside ``app``'s context; its result, or what it raised, lands in ``out[name]``.

    For tests that force two sides of a race to meet (each side's session is
    removed when it ends, so no pooled connection outlives the test's schema).
    """

    def run() -> None:
        with app.app_context():
            try:
                out[name] = job()
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                out[name] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread
