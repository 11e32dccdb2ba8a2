"""The webhook view's exemption from the host's Flask-WTF CSRFProtect costs nothing per request."""

from __future__ import annotations

import pathlib

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from flask_qbo import QBO
from flask_qbo.views.webhooks import bp as webhooks_bp
from flask_qbo.views.webhooks import receive
from tests.hostapp import make_app

WEBHOOK_VIEW = f"{receive.__module__}.{receive.__name__}"


def _hooks(app: Flask) -> list[object]:
    return list(app.before_request_funcs.get(None, []))


def test_csrfprotect_set_up_first_exempts_at_registration() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI="sqlite://", QBO_RUNNER="none")
    db = SQLAlchemy(app)
    csrf = CSRFProtect(app)
    hooks = _hooks(app)
    QBO(app, db=db)
    assert WEBHOOK_VIEW in csrf._exempt_views
    assert _hooks(app) == hooks  # nothing added to the host's requests


def test_csrfprotect_set_up_later_is_exempted_once_and_the_hook_leaves(tmp_path: pathlib.Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'b.sqlite'}", TESTING=False, WTF_CSRF_ENABLED=True)
    before = _hooks(app)
    csrf = CSRFProtect(app)
    assert WEBHOOK_VIEW not in csrf._exempt_views
    client = app.test_client()
    client.get("/qbo/admin/")
    assert WEBHOOK_VIEW in csrf._exempt_views
    after = _hooks(app)
    assert len(after) == len(before)  # the one-shot hook removed itself, CSRFProtect's check took its place
    client.get("/qbo/admin/")
    assert _hooks(app) == after


def test_blueprint_registered_by_the_host_is_exempted_too() -> None:
    """A host with QBO_REGISTER_BLUEPRINTS = False registers the webhook blueprint itself."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="s",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        QBO_RUNNER="none",
        QBO_REGISTER_BLUEPRINTS=False,
        WTF_CSRF_ENABLED=True,
    )
    db = SQLAlchemy(app)
    csrf = CSRFProtect(app)
    QBO(app, db=db)
    assert WEBHOOK_VIEW not in csrf._exempt_views
    app.register_blueprint(webhooks_bp, url_prefix="/integrations/qbo")
    assert WEBHOOK_VIEW in csrf._exempt_views
    answer = app.test_client().post("/integrations/qbo/webhooks", data=b"{}", headers={"intuit-signature": "bad"})
    assert answer.status_code == 401  # refused by the signature check, not by CSRFProtect's 400
