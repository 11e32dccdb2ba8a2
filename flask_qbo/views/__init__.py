"""The extension's blueprints: admin pages, contact widgets and the webhook endpoint."""

from __future__ import annotations

import typing as t

from flask import Flask

if t.TYPE_CHECKING:
    from ..extension import QBO


def register_views(qbo: QBO, app: Flask) -> None:
    """Register every blueprint under ``QBO_URL_PREFIX``."""
    from .admin import bp as admin_bp
    from .importing import bp as import_bp
    from .webhooks import bp as webhooks_bp
    from .widgets import bp as widgets_bp

    prefix = app.config["QBO_URL_PREFIX"].rstrip("/")
    app.register_blueprint(admin_bp, url_prefix=prefix)
    app.register_blueprint(widgets_bp, url_prefix=prefix + "/w")
    app.register_blueprint(webhooks_bp, url_prefix=prefix)
    app.register_blueprint(import_bp, url_prefix=prefix + "/import")
