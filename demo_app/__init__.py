"""Demo CRM: a small multi-account CRM that uses Flask-QBO exactly as any host would.

``python -m demo_app`` (``make demo``) starts it with the QBO emulator beside it;
:func:`create_app` builds the app alone (tests, or a WSGI server).
"""

from __future__ import annotations

import importlib.util
import os
import typing as t

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event

from flask_qbo.views.inputs import ROW_ID_MAX
from flask_qbo.views.inputs import whole_number

from .integration import init_qbo
from .models import User
from .models import db
from .settings import EMULATOR_DEFAULTS
from .settings import fill_secrets
from .settings import intuit_mode
from .settings import qbo_settings_from_env

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message_category = "info"
csrf = CSRFProtect()
#: The ``metrics`` extra (prometheus_client) is installed: the demo then serves /qbo/metrics to its admins.
METRICS_AVAILABLE = importlib.util.find_spec("prometheus_client") is not None


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The signed-in user; an id that is not a row id (``str.isdigit`` also passes "²") is nobody."""
    try:
        return db.session.get(User, whole_number(user_id, name="user id", maximum=ROW_ID_MAX))
    except ValueError:
        return None


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """Build the demo CRM.

    Precedence: built-in defaults, then ``QBO_*`` environment variables, then
    ``config``.  Without Intuit credentials in the environment the defaults
    target the emulator on ``127.0.0.1:5055``; the thread runner does the sync
    work in-process; secrets missing from all three are generated once in the
    instance folder.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DEMO_DATABASE_URL")
        or "sqlite:///" + os.path.join(app.instance_path, "demo.sqlite"),
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 30}},
        # Cookies ignore the port: the emulator on 127.0.0.1 must not overwrite our session.
        SESSION_COOKIE_NAME="demo_crm_session",
        QBO_RUNNER="thread",
        # The extension's own pages (Add-ons, sync health, import) wear the CRM's layout.
        QBO_BASE_TEMPLATE="layout.html",
        # Where the widgets send a person back to (saving an invoice without JavaScript, a job's link).
        QBO_CONTACT_URL="/contacts/{contact_key}",
        DEMO_PAGE_SIZE=20,
        # Prometheus metrics at /qbo/metrics for the CRM's admins (@qbo.metrics_access in integration.py),
        # when the "metrics" extra is installed.
        QBO_METRICS=METRICS_AVAILABLE,
        QBO_METRICS_ENDPOINT=METRICS_AVAILABLE,
    )
    if not intuit_mode():
        app.config.update(EMULATOR_DEFAULTS)
    app.config.update(qbo_settings_from_env())
    app.config.update(config or {})
    fill_secrets(app.config, app.instance_path)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    login_manager.init_app(app)
    csrf.init_app(app)
    init_qbo(app)

    from . import admin
    from . import auth
    from . import contacts
    from . import views

    app.register_blueprint(views.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(contacts.bp)
    app.register_blueprint(admin.bp)
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions

    with app.app_context():
        db.create_all()
    return app


def _sqlite_pragmas(dbapi_connection: t.Any, _record: t.Any) -> None:
    """WAL lets the web threads read while the sync thread writes (fewer "database is locked")."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
