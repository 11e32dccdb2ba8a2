"""Sign-in, sign-out and the admin-only guard of the demo CRM."""

from __future__ import annotations

import functools
import typing as t
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import logout_user

from .forms import LoginForm
from .models import User
from .models import db

bp = Blueprint("auth", __name__)

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def admin_only(view: F) -> F:
    """Signed-in account admins only; everyone else gets 403 (not a redirect that hides it)."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return t.cast(F, wrapped)


def _safe_next(target: str | None) -> str:
    """Follow ``?next=`` only to a path on this site (no open redirect).

    Browsers treat a backslash as a slash and drop tabs and newlines, so
    ``/\\evil.example`` would leave the site; such targets are refused too.
    """
    if target and "\\" not in target and target.isprintable():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("contacts.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> t.Any:
    if current_user.is_authenticated:
        return redirect(url_for("contacts.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        user = db.session.query(User).filter_by(email=email).one_or_none()
        if user is not None and user.check_password(form.password.data or ""):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("Wrong email or password.", "error")
        status = 401
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> t.Any:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
