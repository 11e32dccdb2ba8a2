"""CSRF protection for every POST the extension serves.

When the host uses Flask-WTF (``CSRFProtect``), its token is used, so one token
works across the host's forms and ours.  Otherwise the extension keeps its own
random token in the session and compares it in constant time.  htmx sends the
token in the ``X-CSRFToken`` header (see ``qbo/_macros.html``); plain forms send
a ``csrf_token`` field.

The webhook endpoint is the one POST with no browser session behind it; it is
exempted from the host's ``CSRFProtect`` when the views are registered
(:func:`exempt_from_host_csrf`).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import typing as t

from flask import abort
from flask import current_app
from flask import request
from flask import session
from flask.sansio.app import App

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

SESSION_KEY = "_qbo_csrf"
HEADER = "X-CSRFToken"
FIELD = "csrf_token"


def _flask_wtf_active() -> bool:
    return "csrf" in current_app.extensions


def csrf_token() -> str:
    """The token to embed in forms and htmx headers for this session."""
    if _flask_wtf_active():
        from flask_wtf.csrf import generate_csrf

        return str(generate_csrf())
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def _submitted_token() -> str:
    return request.headers.get(HEADER) or request.form.get(FIELD) or ""


def validate_csrf() -> None:
    """Abort with 400 unless the request carries this session's token."""
    submitted = _submitted_token()
    if _flask_wtf_active():
        from flask_wtf.csrf import ValidationError
        from flask_wtf.csrf import validate_csrf as wtf_validate

        try:
            wtf_validate(submitted)
        except ValidationError:
            abort(400, description="The form expired or is missing its CSRF token. Reload the page and try again.")
        return
    expected = session.get(SESSION_KEY)
    # Bytes, because compare_digest raises TypeError on non-ASCII text (a forged token is a 400).
    if not expected or not submitted or not hmac.compare_digest(expected.encode(), submitted.encode()):
        abort(400, description="The form expired or is missing its CSRF token. Reload the page and try again.")


def exempt_from_host_csrf(app: App, view: t.Callable[..., object]) -> None:
    """Exempt ``view`` from the host's Flask-WTF ``CSRFProtect``, set up before or after Flask-QBO.

    Already set up: exempted now.  Otherwise a hook exempts it on the app's
    first request (``CSRFProtect`` registered later still exempts it in time:
    its own check runs after this hook) and then removes itself, so no work
    is added to later requests.
    """
    if _exempt(app, view):
        return

    def exempt_once() -> None:
        app.before_request_funcs[None] = [f for f in app.before_request_funcs.get(None, []) if f is not exempt_once]
        _exempt(app, view)

    app.before_request(exempt_once)


def _exempt(app: App, view: t.Callable[..., object]) -> bool:
    """Exempt ``view`` from Flask-WTF's check if the app uses it; whether it does."""
    csrf = app.extensions.get("csrf")
    if csrf is None or not hasattr(csrf, "exempt"):
        return False
    csrf.exempt(view)
    return True


def csrf_protect(view: F) -> F:
    """Decorate a view so every non-safe method must carry a valid token."""

    @functools.wraps(view)
    def wrapped(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            validate_csrf()
        return view(*args, **kwargs)

    return t.cast(F, wrapped)
