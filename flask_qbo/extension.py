"""The :class:`QBO` extension object.

Built like Flask-SQLAlchemy: the instance is stored in ``app.extensions["qbo"]``,
per-app state lives in a :class:`~weakref.WeakKeyDictionary` keyed by the app
(never on ``self.app``), config defaults are applied with ``setdefault``, and a
second ``init_app`` on the same app fails loudly.  Behaviour the host owns
(who is an admin, which tenant a request belongs to) is plugged in with
decorator hooks, like Flask-Login's ``user_loader``.
"""

from __future__ import annotations

import dataclasses
import logging
import typing as t
import weakref

import requests
from flask import Flask
from flask import current_app
from flask import has_request_context
from sqlalchemy import Integer

from . import config as qbo_config
from .errors import QBOConfigError
from .fieldmap import FieldMap
from .models import Connection
from .models import metadata
from .state import DEFAULT_TENANT
from .state import AppState
from .views import inputs

if t.TYPE_CHECKING:
    from .intuit.client import QBOClient

log = logging.getLogger("flask_qbo")

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


@dataclasses.dataclass
class ContactRegistration:
    """The host's contact model, how it maps to QBO, and its key attribute."""

    model: type
    fields: FieldMap
    key: str = "id"


class QBO:
    """QuickBooks Online integration for a Flask CRM.

    :param app: the Flask app, or ``None`` to call :meth:`init_app` later.
    :param db: the host's Flask-SQLAlchemy instance; the extension's tables and
        outbox rows use its session so they commit with the host's writes.
    """

    def __init__(self, app: Flask | None = None, *, db: t.Any = None) -> None:
        self.db = db
        self.contact: ContactRegistration | None = None
        self._state: weakref.WeakKeyDictionary[Flask, AppState] = weakref.WeakKeyDictionary()
        self._tenant_loader: t.Callable[[], t.Any] | None = None
        self._contact_tenant: t.Callable[[t.Any], t.Any] | None = None
        self._admin_check: t.Callable[[], bool] | None = None
        self._can_view: t.Callable[[t.Any], bool] | None = None
        self._contact_factory: t.Callable[..., t.Any] | None = None
        self._user_name: t.Callable[[], str | None] | None = None
        if app is not None:
            self.init_app(app)

    # -- setup -----------------------------------------------------------------

    def init_app(self, app: Flask, *, db: t.Any = None) -> None:
        """Register the extension on ``app``: config defaults, blueprints, CLI, hooks."""
        if "qbo" in app.extensions:
            raise RuntimeError(
                "Flask-QBO is already registered on this app. Create one QBO() per app and call init_app once."
            )
        for key, value in qbo_config.DEFAULTS.items():
            app.config.setdefault(key, value)
        db = db or self.db
        if db is None:
            raise QBOConfigError("QBO needs the host's Flask-SQLAlchemy object: QBO(app, db=db).")
        self.db = db
        from .intuit.crypto import TokenCipher

        self._state[app] = AppState(db=db, cipher=TokenCipher.for_app(app))
        app.extensions["qbo"] = self
        app.url_map.converters[inputs.ROW_ID] = inputs.RowIdConverter  # before any blueprint uses it
        qbo_config.resolve_urls(app)  # fails now on a bad QBO_ENVIRONMENT

        from .cli import qbo_cli
        from .sync import capture
        from .views import register_views

        capture.install(self, app)
        app.cli.add_command(qbo_cli)
        from .runners.thread import start_if_configured

        start_if_configured(self, app)
        if app.config["QBO_REGISTER_BLUEPRINTS"]:
            register_views(self, app)

    def state(self, app: Flask | None = None) -> AppState:
        """Per-app state; fails clearly when ``init_app`` was never called for the app."""
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            return self._state[app]
        except KeyError:
            raise RuntimeError(
                "Flask-QBO is not registered on this app. Did you forget to call qbo.init_app(app)?"
            ) from None

    def register_contact(self, model: type, *, fields: FieldMap | None = None, key: str = "id") -> None:
        """Tell the extension which model is the CRM contact and how it maps to a QBO Customer.

        The map is checked against the model now: an unknown attribute or QBO path
        raises :class:`~flask_qbo.errors.QBOConfigError` naming it.
        """
        fields = fields if fields is not None else FieldMap.default()
        if not isinstance(fields, FieldMap):
            raise QBOConfigError("fields must be a flask_qbo.FieldMap.")
        if not hasattr(model, key):
            raise QBOConfigError(f"{model.__name__} has no key attribute {key!r}.")
        fields.validate_model(model)
        self.contact = ContactRegistration(model=model, fields=fields, key=key)

    def suppress_capture(self) -> t.ContextManager[None]:
        """Context manager: contact edits inside it write no outbox row (used when applying QBO data)."""
        from .sync.capture import suppress_capture

        return suppress_capture()

    def create_all(self) -> None:
        """Create the ``qbo_*`` tables on the host's default engine (idempotent)."""
        metadata.create_all(self.state().db.engine)

    def mount_transport(self, prefix: str, adapter: requests.adapters.BaseAdapter, app: Flask | None = None) -> None:
        """Route HTTP calls whose URL starts with ``prefix`` through ``adapter``.

        Tests use it to send every QBO call to the in-process emulator.
        """
        self.state(app).adapters[prefix] = adapter

    def http_session(self, app: Flask | None = None) -> requests.Session:
        """A new requests session with any mounted transports."""
        session = requests.Session()
        for prefix, adapter in self.state(app).adapters.items():
            session.mount(prefix, adapter)
        return session

    # -- decorator hooks --------------------------------------------------------

    def tenant_loader(self, func: F) -> F:
        """Register ``func() -> tenant key`` for the current request's tenant."""
        self._tenant_loader = func
        return func

    def contact_tenant(self, func: F) -> F:
        """Register ``func(contact) -> tenant key`` naming the tenant a contact belongs to."""
        self._contact_tenant = func
        return func

    def admin_required(self, func: F) -> F:
        """Register ``func() -> bool``: may the current user connect, import and see sync health?

        Without it every admin page answers 403, so nothing is exposed by accident.
        """
        self._admin_check = func
        return func

    def can_view(self, func: F) -> F:
        """Register ``func(contact) -> bool`` deciding who sees a contact's QBO widgets."""
        self._can_view = func
        return func

    def contact_factory(self, func: F) -> F:
        """Register ``func(tenant_key, values: dict) -> contact`` creating a contact for an imported customer."""
        self._contact_factory = func
        return func

    def user_name(self, func: F) -> F:
        """Register ``func() -> str`` naming the current user (shown as "connected by")."""
        self._user_name = func
        return func

    # -- hook helpers used by the views and sync code ----------------------------

    def current_tenant(self) -> str:
        """The current request's tenant key (``"default"`` without a tenant loader)."""
        if self._tenant_loader is None:
            return DEFAULT_TENANT
        value = self._tenant_loader()
        if value is None:
            raise QBOConfigError("tenant_loader returned None for this request.")
        return str(value)

    def tenant_of(self, contact: t.Any) -> str:
        """The tenant key of a contact (``"default"`` without a contact_tenant hook)."""
        if self._contact_tenant is None:
            return DEFAULT_TENANT
        return str(self._contact_tenant(contact))

    def is_admin(self) -> bool:
        """True when the admin hook says the current user is an admin."""
        return bool(self._admin_check and has_request_context() and self._admin_check())

    def may_view(self, contact: t.Any) -> bool:
        """Tenant check plus the host's ``can_view`` hook."""
        if self.tenant_of(contact) != self.current_tenant():
            return False
        return True if self._can_view is None else bool(self._can_view(contact))

    @property
    def has_admin_hook(self) -> bool:
        """True once the host registered ``@qbo.admin_required`` (the 403 page explains it otherwise)."""
        return self._admin_check is not None

    @property
    def has_tenant_loader(self) -> bool:
        """True once the host registered ``@qbo.tenant_loader``; without one, all is the ``"default"`` tenant's."""
        return self._tenant_loader is not None

    @property
    def has_contact_factory(self) -> bool:
        """True once the host registered ``@qbo.contact_factory`` (needed to import new customers)."""
        return self._contact_factory is not None

    def create_contact(self, tenant_key: str, values: dict[str, t.Any]) -> t.Any:
        """Create a contact for an imported QBO customer through the host's ``contact_factory``."""
        if self._contact_factory is None:
            raise QBOConfigError("Creating contacts from QuickBooks needs a @qbo.contact_factory hook.")
        return self._contact_factory(tenant_key, values)

    def current_user_name(self) -> str | None:
        """Who is acting, for audit fields; ``None`` when unknown."""
        return self._user_name() if self._user_name else None

    def registration(self) -> ContactRegistration:
        """The registered contact model, or a clear error when there is none."""
        if self.contact is None:
            raise QBOConfigError("No contact model registered: call qbo.register_contact(Model, fields=...).")
        return self.contact

    def contact_key(self, contact: t.Any) -> str:
        """A contact's key as stored in the extension's tables."""
        return str(getattr(contact, self.registration().key))

    def canonical_key(self, value: t.Any) -> str:
        """The one spelling of a contact key the extension stores, or :class:`ValueError` saying why not.

        Use it on every key that comes from outside (a form, a URL, an API
        call): ``"01"``, ``"+1"`` or ``"١"`` would load contact 1 yet compare
        unequal to ``"1"`` in the extension's tables.  See
        :func:`flask_qbo.views.inputs.contact_key` for the rules.
        """
        reg = self.registration()
        return inputs.contact_key(value, integer=_integer_column(getattr(reg.model, reg.key)))

    def load_contact(self, contact_key: t.Any) -> t.Any:
        """Load a contact by key through the host's session (``None`` when gone or not a canonical key)."""
        reg = self.registration()
        column = getattr(reg.model, reg.key)
        try:
            key = self.canonical_key(contact_key)
        except ValueError:
            return None
        session = self.state().db.session
        return session.query(reg.model).filter(column == _column_value(column, key)).one_or_none()

    def load_contacts(self, contact_keys: t.Iterable[t.Any]) -> dict[str, t.Any]:
        """Load many contacts in one query (key → contact; gone ones are absent), for batch pushes."""
        reg = self.registration()
        column = getattr(reg.model, reg.key)
        keys: set[t.Any] = set()
        for value in contact_keys:
            try:
                keys.add(_column_value(column, self.canonical_key(value)))
            except ValueError:
                continue
        if not keys:
            return {}
        rows = self.state().db.session.query(reg.model).filter(column.in_(keys)).all()
        return {self.contact_key(row): row for row in rows}

    # -- connections and clients -------------------------------------------------

    def connection(self, tenant_key: str | None = None) -> Connection | None:
        """The tenant's connection row (any status), or ``None``."""
        tenant_key = tenant_key or self.current_tenant()
        session = self.state().db.session
        return session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()

    def connection_for_realm(self, realm_id: str) -> Connection | None:
        """The connected (or needs-reconnect) connection of a realm, if any tenant has it."""
        session = self.state().db.session
        return (
            session.query(Connection)
            .filter(Connection.realm_id == realm_id, Connection.status != "disconnected")
            .one_or_none()
        )

    def client(self, connection: Connection) -> QBOClient:
        """A :class:`~flask_qbo.intuit.client.QBOClient` for a connection, refreshing tokens as needed."""
        from .intuit.app_client import build_client

        return build_client(self, connection)

    def urls(self) -> dict[str, str]:
        """API, OAuth and deep-link URLs for the configured environment."""
        return qbo_config.resolve_urls()


def _integer_column(column: t.Any) -> bool:
    """Whether the host's key column holds integers (the common case), so its keys are ``str(int)``."""
    return isinstance(getattr(column, "type", None), Integer)


def _column_value(column: t.Any, key: str) -> t.Any:
    """A canonical key as the column's Python type, for the query that loads its contact."""
    return int(key) if _integer_column(column) else key
