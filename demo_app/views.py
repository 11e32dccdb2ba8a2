"""The home page and the error pages of the demo CRM."""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import url_for
from flask_htmx import HTMX
from werkzeug.exceptions import HTTPException

bp = Blueprint("main", __name__)
#: Reads the htmx request headers (flask-htmx); nothing is attached to the app.
htmx = HTMX()


@bp.route("/")
def index() -> t.Any:
    return redirect(url_for("contacts.index"))


@bp.app_errorhandler(400)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def error_page(error: HTTPException) -> tuple[str, int]:
    """Friendly pages in the CRM's layout for "bad request", "not allowed" and "not found".

    htmx fragments (the QuickBooks widgets) get a one-line message instead, so a
    whole page is never swapped into a card.
    """
    if htmx:
        return str(error.description or error.name), error.code or 500
    if error.code == 403:
        # One "administrators only" page for the CRM's admin pages and Flask-QBO's.
        return render_template("qbo/admin/forbidden.html"), 403
    return render_template("error.html", error=error), error.code or 500
