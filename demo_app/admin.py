"""The Admin menu: "Add-ons & API" (embeds Flask-QBO's panel) and the account's users.

The QuickBooks panel, its Connect button, sync health and the import pages
belong to the extension; this page only places them in the CRM's menu, the
way a commercial CRM lists its integrations.
"""

from __future__ import annotations

from flask import Blueprint
from flask import render_template
from flask_login import current_user

from .auth import admin_only
from .models import User
from .models import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@admin_only
def index() -> str:
    return render_template("admin/index.html")


@bp.route("/addons")
@admin_only
def addons() -> str:
    """Admin → Add-ons & API: the "Connect QuickBooks Account" panel lives here."""
    return render_template("admin/addons.html")


@bp.route("/users")
@admin_only
def users() -> str:
    rows = db.session.execute(
        db.select(User).where(User.account_id == current_user.account_id).order_by(User.role, User.email)
    ).scalars()
    return render_template("admin/users.html", users=list(rows))
