"""The extension's blueprints: admin pages, contact widgets, billing, the initial import, webhooks and metrics.

Views are thin: they read the request, call the layer below and render.  This
module registers them all on the host's app, under ``QBO_URL_PREFIX``.
"""

from __future__ import annotations

from flask import Flask

from .admin import bp as admin_bp
from .billing import bp as billing_bp
from .billing_actions import bp as billing_actions_bp
from .importing import bp as import_bp
from .metrics import bp as metrics_bp
from .webhooks import bp as webhooks_bp
from .widgets import bp as widgets_bp


def register_views(app: Flask) -> None:
    """Register every blueprint under ``QBO_URL_PREFIX``.

    Each blueprint sets itself up when registered (the webhook's exemption
    from the host's Flask-WTF CSRF check included), so a host that registers
    them itself (``QBO_REGISTER_BLUEPRINTS = False``) gets the same behaviour.
    The metrics endpoint is mounted only with ``QBO_METRICS_ENDPOINT``.
    """
    prefix = app.config["QBO_URL_PREFIX"].rstrip("/")
    app.register_blueprint(admin_bp, url_prefix=prefix)
    app.register_blueprint(widgets_bp, url_prefix=prefix + "/w")
    app.register_blueprint(billing_bp, url_prefix=prefix + "/billing")
    app.register_blueprint(billing_actions_bp, url_prefix=prefix + "/billing")
    app.register_blueprint(webhooks_bp, url_prefix=prefix)
    app.register_blueprint(import_bp, url_prefix=prefix + "/import")
    if app.config["QBO_METRICS_ENDPOINT"]:
        app.register_blueprint(metrics_bp, url_prefix=prefix)
