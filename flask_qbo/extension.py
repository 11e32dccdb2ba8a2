"""The :class:`QBO` extension object: the host's one handle on Flask-QBO.

Built like Flask-SQLAlchemy: the instance is stored in ``app.extensions["qbo"]``,
per-app state lives in a :class:`~weakref.WeakKeyDictionary` keyed by the app
(never on ``self.app``), config defaults are applied with ``setdefault``, and a
second ``init_app`` on the same app fails loudly.  Behaviour the host owns
(who is an admin, which tenant a request belongs to) is plugged in with
decorator hooks, like Flask-Login's ``user_loader``.

Public methods are the ones a host calls; the ``_``-prefixed ones are what the
package's own layers ask of the host's registration and may change at any time.
"""

from __future__ import annotations

import dataclasses
import typing as t
import weakref

import requests
from flask import Flask
from flask import current_app
from flask import has_request_context
from flask_login import current_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Integer

from . import config as qbo_config
from .cli import qbo_cli
from .errors import QBOConfigError
from .fieldmap import FieldMap
from .intuit.app_client import build_client
from .intuit.client import QBOClient
from .intuit.crypto import TokenCipher
from .models import Connection
from .models import ConnectionStatus
from .models import metadata
from .ops import tables
from .runners.thread import start_if_configured
from .state import DEFAULT_TENANT
from .state import AppState
from .sync import capture
from .sync import observable
from .views import inputs
from .views import register_views

#: ``func() -> tenant key`` naming the current request's tenant (see :meth:`QBO.tenant_loader`).
TenantLoader = t.Callable[[], object]
#: ``func(contact) -> tenant key`` naming a contact's tenant (see :meth:`QBO.contact_tenant`).
ContactTenant = t.Callable[[t.Any], object]
#: ``func() -> bool``: is the current user an admin (see :meth:`QBO.admin_required`).
AdminCheck = t.Callable[[], bool]
#: ``func() -> bool``: may this request read the metrics endpoint (see :meth:`QBO.metrics_access`).
MetricsAccess = t.Callable[[], bool]
#: ``func(contact) -> bool``: may the current user see this contact's widgets (see :meth:`QBO.can_view`).
CanView = t.Callable[[t.Any], bool]
#: ``func(contact) -> bool``: may the current user quote and invoice this contact (see :meth:`QBO.can_bill`).
CanBill = t.Callable[[t.Any], bool]
#: ``func(tenant_key, values) -> contact`` creating a contact (see :meth:`QBO.contact_factory`).
ContactFactory = t.Callable[[str, dict[str, t.Any]], t.Any]
#: ``func() -> str | None`` naming the current user (see :meth:`QBO.user_name`).
UserName = t.Callable[[], "str | None"]

TenantLoaderT = t.TypeVar("TenantLoaderT", bound=TenantLoader)
ContactTenantT = t.TypeVar("ContactTenantT", bound=ContactTenant)
AdminCheckT = t.TypeVar("AdminCheckT", bound=AdminCheck)
MetricsAccessT = t.TypeVar("MetricsAccessT", bound=MetricsAccess)
CanViewT = t.TypeVar("CanViewT", bound=CanView)
CanBillT = t.TypeVar("CanBillT", bound=CanBill)
ContactFactoryT = t.TypeVar("ContactFactoryT", bound=ContactFactory)
UserNameT = t.TypeVar("UserNameT", bound=UserName)

#: Attributes of a Flask-Login user tried, in order, to name who acted (then ``get_id()``).
LOGIN_NAME_ATTRIBUTES = ("email", "username", "name")


#: How a related row leads to its contact: the name of an attribute (a relationship), or ``(row) -> contact | None``.
RelatedLink = str | t.Callable[[t.Any], t.Any]


@dataclasses.dataclass
class ContactRegistration:
    """The host's contact model, how it maps to QBO, its key attribute, and related models whose rows count."""

    model: type
    fields: FieldMap
    key: str = "id"
    related: dict[type, RelatedLink] = dataclasses.field(default_factory=dict)
    #: A contact's parent contact when its customer is a job (sub-customer), and the columns that link reads.
    parent: RelatedLink | None = None
    parent_watches: tuple[str, ...] = ()


class QBO:
    """QuickBooks Online integration for a Flask CRM.

    :param app: the Flask app, or ``None`` to call :meth:`init_app` later.
    :param db: the host's Flask-SQLAlchemy instance; the extension's tables and
        outbox rows use its session so they commit with the host's writes.
    """

    def __init__(self, app: Flask | None = None, *, db: SQLAlchemy | None = None) -> None:
        self._db = db
        self._contact: ContactRegistration | None = None
        self._state: weakref.WeakKeyDictionary[Flask, AppState] = weakref.WeakKeyDictionary()
        self._tenant_loader: TenantLoader | None = None
        self._contact_tenant: ContactTenant | None = None
        self._admin_check: AdminCheck | None = None
        self._can_bill: CanBill | None = None
        self._metrics_access: MetricsAccess | None = None
        self._can_view: CanView | None = None
        self._contact_factory: ContactFactory | None = None
        self._user_name: UserName | None = None
        if app is not None:
            self.init_app(app)

    # -- setup -----------------------------------------------------------------

    def init_app(self, app: Flask, *, db: SQLAlchemy | None = None) -> None:
        """Register the extension on ``app``: config defaults, blueprints, CLI, hooks.

        :param db: the host's Flask-SQLAlchemy instance, when not given to the constructor.
        :raises RuntimeError: the extension is already registered on ``app``.
        :raises QBOConfigError: ``db`` is not a Flask-SQLAlchemy object, or ``QBO_ENVIRONMENT``,
            ``QBO_DISPLAY_NAME`` or ``QBO_MIRROR`` has an unknown value.
        """
        if "qbo" in app.extensions:
            raise RuntimeError(
                "Flask-QBO is already registered on this app. Create one QBO() per app and call init_app once."
            )
        runner_asked = "QBO_RUNNER" in app.config  # the default thread stays off in tests; an asked-for one runs
        for key, value in qbo_config.DEFAULTS.items():
            app.config.setdefault(key, value)
        db = db or self._db
        if not isinstance(db, SQLAlchemy):
            raise QBOConfigError("QBO needs the host's Flask-SQLAlchemy object: QBO(app, db=db).")
        self._db = db
        tables.follow_host(db)
        self._state[app] = AppState(db=db, cipher=TokenCipher.for_app(app))
        app.extensions["qbo"] = self
        app.url_map.converters[inputs.ROW_ID] = inputs.RowIdConverter  # before any blueprint uses it
        qbo_config.resolve_urls(app)  # fails now on a bad QBO_ENVIRONMENT
        qbo_config.configured_timezone(app)  # fails now on an unknown QBO_TIMEZONE
        qbo_config.check_choices(app)
        capture.install(self, app)
        app.cli.add_command(qbo_cli)
        start_if_configured(self, app, asked=runner_asked)
        if app.config["QBO_METRICS"]:
            from .ops.metrics import install  # the metrics extra (prometheus_client) is optional

            install(app)
        if app.config["QBO_REGISTER_BLUEPRINTS"]:
            register_views(app)

    def state(self, app: Flask | None = None) -> AppState:
        """The per-app state of ``app`` (default: the current app): its database, token cipher, runner.

        :raises RuntimeError: ``init_app`` was never called for the app.
        """
        # The real app, not the proxy, keys the state; LocalProxy's stubs do not declare _get_current_object.
        app = app or t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
        try:
            return self._state[app]
        except KeyError:
            raise RuntimeError(
                "Flask-QBO is not registered on this app. Did you forget to call qbo.init_app(app)?"
            ) from None

    def register_contact(
        self,
        model: type,
        *,
        fields: FieldMap | None = None,
        key: str = "id",
        related: t.Mapping[type, RelatedLink] | None = None,
        parent: RelatedLink | None = None,
        parent_watches: t.Sequence[str] = (),
    ) -> None:
        """Tell the extension which model is the CRM contact and how it maps to a QBO Customer.

        The map is checked against the model now: an unknown attribute or QBO path
        raises :class:`~flask_qbo.errors.QBOConfigError` naming it, and so does a
        pushed attribute whose edits capture could never see (a property that is
        not a column, with neither ``related`` nor ``Field(watches=...)``).

        :param fields: the field map (default: :meth:`FieldMap.default <flask_qbo.FieldMap.default>`).
        :param key: the model attribute that identifies a contact.
        :param related: models whose rows belong to a contact (e.g. ``{Address: "contact"}``):
            inserting, changing or deleting such a row queues a push of its contact, in the
            same transaction.  Each value names the attribute of that model leading to the
            contact (a relationship), or is a callable ``(row) -> contact | None``.
        :param parent: makes a contact's customer a job (sub-customer) of its parent contact's:
            a relationship of the model to itself, or ``(contact) -> contact | None`` with the
            columns it reads in ``parent_watches`` (see :doc:`billing`).
        """
        fields = fields if fields is not None else FieldMap.default()
        if not isinstance(fields, FieldMap):
            raise QBOConfigError("fields must be a flask_qbo.FieldMap.")
        if not hasattr(model, key):
            raise QBOConfigError(f"{model.__name__} has no key attribute {key!r}.")
        fields.validate_model(model)
        observable.check_observable(model, fields, related or {})
        observable.check_parent(model, parent, parent_watches)
        self._contact = ContactRegistration(model, fields, key, dict(related or {}), parent, tuple(parent_watches))

    def suppress_capture(self) -> t.ContextManager[None]:
        """Context manager: contact edits inside it write no outbox row (e.g. a bulk load from QBO data)."""
        return capture.suppress_capture()

    def create_all(self) -> None:
        """Create the ``qbo_*`` tables on the host's default engine (idempotent).

        The host's ``db.create_all()`` creates them too (and ``db.drop_all()``
        drops them); this is for a host that creates its own tables otherwise.
        """
        metadata.create_all(self.state().db.engine)

    def mount_transport(self, prefix: str, adapter: requests.adapters.BaseAdapter, app: Flask | None = None) -> None:
        """Route HTTP calls whose URL starts with ``prefix`` through ``adapter``.

        Tests use it to send every QBO call to the in-process emulator
        (:func:`flask_qbo.testing.attach_emulator` does it for you).
        """
        self.state(app).mount(prefix, adapter)

    # -- decorator hooks --------------------------------------------------------

    def tenant_loader(self, func: TenantLoaderT) -> TenantLoaderT:
        """Register ``func() -> tenant key`` for the current request's tenant.

        Without it everything belongs to the one tenant ``"default"``.
        """
        self._tenant_loader = func
        return func

    def contact_tenant(self, func: ContactTenantT) -> ContactTenantT:
        """Register ``func(contact) -> tenant key`` naming the tenant a contact belongs to."""
        self._contact_tenant = func
        return func

    def admin_required(self, func: AdminCheckT) -> AdminCheckT:
        """Register ``func() -> bool``: may the current user connect, import and see sync health?

        Without it every admin page answers 403, so nothing is exposed by accident.
        """
        self._admin_check = func
        return func

    def can_bill(self, func: CanBillT) -> CanBillT:
        """Register ``func(contact) -> bool``: may the current user quote and invoice this contact?

        Without it nobody may: the New estimate / New invoice buttons are hidden and
        the billing endpoints answer 403, like the admin pages without ``admin_required``.
        """
        self._can_bill = func
        return func

    def may_bill(self, contact: t.Any) -> bool:
        """True when a ``can_bill`` hook is registered and allows the current user for ``contact``."""
        return bool(self._can_bill and has_request_context() and self._can_bill(contact))

    def metrics_access(self, func: MetricsAccessT) -> MetricsAccessT:
        """Register ``func() -> bool``: may this request read the metrics endpoint (``QBO_METRICS_ENDPOINT``)?

        Without it, and without ``QBO_METRICS_TOKEN``, the endpoint answers 403.
        """
        self._metrics_access = func
        return func

    def can_view(self, func: CanViewT) -> CanViewT:
        """Register ``func(contact) -> bool`` deciding who sees a contact's QBO widgets."""
        self._can_view = func
        return func

    def contact_factory(self, func: ContactFactoryT) -> ContactFactoryT:
        """Register ``func(tenant_key, values: dict) -> contact`` creating a contact for an imported customer."""
        self._contact_factory = func
        return func

    def user_name(self, func: UserNameT) -> UserNameT:
        """Register ``func() -> str | None`` naming the current user ("connected by", "started by").

        Without it, a host that uses Flask-Login is named from ``current_user``:
        its ``email``, ``username`` or ``name``, else ``get_id()``.  The hook
        overrides that default.
        """
        self._user_name = func
        return func

    # -- what hosts ask of the extension ------------------------------------------

    def current_tenant(self) -> str:
        """The current request's tenant key (``"default"`` without a tenant loader)."""
        if self._tenant_loader is None:
            return DEFAULT_TENANT
        value = self._tenant_loader()
        if value is None:
            raise QBOConfigError("tenant_loader returned None for this request.")
        return str(value)

    def may_view(self, contact: t.Any) -> bool:
        """Whether the current user may see ``contact``'s widgets: same tenant, and the ``can_view`` hook."""
        if self._tenant_of(contact) != self.current_tenant():
            return False
        return True if self._can_view is None else bool(self._can_view(contact))

    def load_contact(self, contact_key: object) -> t.Any:
        """Load a contact by key through the host's session (``None`` when gone or not a canonical key)."""
        reg = self._registration()
        column = getattr(reg.model, reg.key)
        try:
            key = self._canonical_key(contact_key)
        except ValueError:
            return None
        return self.state().session.query(reg.model).filter(column == _column_value(column, key)).one_or_none()

    def connection(self, tenant_key: str | None = None) -> Connection | None:
        """The tenant's connection row in any status (default: the current request's tenant), or ``None``."""
        tenant_key = tenant_key or self.current_tenant()
        return self.state().session.query(Connection).filter_by(tenant_key=tenant_key).one_or_none()

    def client(self, connection: Connection) -> QBOClient:
        """A :class:`~flask_qbo.intuit.client.QBOClient` for a connection, refreshing tokens as needed."""
        return build_client(self, connection)

    def urls(self) -> dict[str, str]:
        """API, OAuth and deep-link (``"app"``) URLs for the configured environment."""
        return qbo_config.resolve_urls()

    # -- what the package's layers ask of the host's registration (private) ---------

    def _tenant_of(self, contact: t.Any) -> str:
        """The tenant key of a contact (``"default"`` without a contact_tenant hook)."""
        if self._contact_tenant is None:
            return DEFAULT_TENANT
        return str(self._contact_tenant(contact))

    def _is_admin(self) -> bool:
        """True when the admin hook says the current user is an admin."""
        return bool(self._admin_check and has_request_context() and self._admin_check())

    def _may_scrape(self) -> bool:
        """True when the ``metrics_access`` hook lets the current request read the metrics."""
        return bool(self._metrics_access and has_request_context() and self._metrics_access())

    @property
    def _has_admin_hook(self) -> bool:
        """True once the host registered ``@qbo.admin_required`` (the 403 page explains it otherwise)."""
        return self._admin_check is not None

    @property
    def _has_tenant_loader(self) -> bool:
        """True once the host registered ``@qbo.tenant_loader``; without one, all is the ``"default"`` tenant's."""
        return self._tenant_loader is not None

    @property
    def _has_contact_factory(self) -> bool:
        """True once the host registered ``@qbo.contact_factory`` (needed to import new customers)."""
        return self._contact_factory is not None

    def _create_contact(self, tenant_key: str, values: dict[str, t.Any]) -> t.Any:
        """Create a contact for an imported QBO customer through the host's ``contact_factory``."""
        if self._contact_factory is None:
            raise QBOConfigError("Creating contacts from QuickBooks needs a @qbo.contact_factory hook.")
        return self._contact_factory(tenant_key, values)

    def _current_user_name(self) -> str | None:
        """Who is acting, for audit fields: the ``user_name`` hook, else Flask-Login's user, else ``None``."""
        name = self._user_name() if self._user_name is not None else _login_user_name()
        return name[:USER_NAME_MAX] if name else name

    def _registration(self) -> ContactRegistration:
        """The registered contact model, or a clear error when there is none."""
        if self._contact is None:
            raise QBOConfigError("No contact model registered: call qbo.register_contact(Model, fields=...).")
        return self._contact

    def _contact_key(self, contact: t.Any) -> str:
        """A contact's key as stored in the extension's tables."""
        return str(getattr(contact, self._registration().key))

    def _canonical_key(self, value: object) -> str:
        """The one spelling of a contact key the extension stores, or :class:`ValueError` saying why not.

        Use it on every key that comes from outside (a form, a URL, an API
        call): ``"01"``, ``"+1"`` or ``"١"`` would load contact 1 yet compare
        unequal to ``"1"`` in the extension's tables.  See
        :func:`flask_qbo.views.inputs.contact_key` for the rules.
        """
        reg = self._registration()
        return inputs.contact_key(value, integer=_integer_column(getattr(reg.model, reg.key)))

    def _load_contacts(self, contact_keys: t.Iterable[object]) -> dict[str, t.Any]:
        """Load many contacts in one query (key → contact; gone ones are absent), for batch pushes."""
        reg = self._registration()
        column = getattr(reg.model, reg.key)
        keys: set[int | str] = set()
        for value in contact_keys:
            try:
                keys.add(_column_value(column, self._canonical_key(value)))
            except ValueError:
                continue
        if not keys:
            return {}
        rows: list[t.Any] = self.state().session.query(reg.model).filter(column.in_(keys)).all()
        return {self._contact_key(row): row for row in rows}

    def _connection_for_realm(self, realm_id: str) -> Connection | None:
        """The connected (or needs-reconnect) connection of a realm, if any tenant has it."""
        return (
            self.state()
            .session.query(Connection)
            .filter(Connection.realm_id == realm_id, Connection.status != ConnectionStatus.DISCONNECTED)
            .one_or_none()
        )


#: Audit columns (``connected_by``, ``started_by``) hold at most this many characters.
USER_NAME_MAX = 255


def _login_user_name() -> str | None:
    """Name Flask-Login's current user, when the host uses Flask-Login and someone is signed in."""
    if not has_request_context() or not hasattr(current_app, "login_manager"):
        return None
    user = current_user._get_current_object()
    if not getattr(user, "is_authenticated", False):
        return None
    for attribute in LOGIN_NAME_ATTRIBUTES:
        value = getattr(user, attribute, None)
        if isinstance(value, str) and value:
            return value
    try:
        user_id = user.get_id()
    except (AttributeError, NotImplementedError):  # a UserMixin without an ``id`` attribute
        return None
    return None if user_id is None else str(user_id)


def _integer_column(column: object) -> bool:
    """Whether the host's key column holds integers (the common case), so its keys are ``str(int)``."""
    return isinstance(getattr(column, "type", None), Integer)


def _column_value(column: object, key: str) -> int | str:
    """A canonical key as the column's Python type, for the query that loads its contact."""
    return int(key) if _integer_column(column) else key
