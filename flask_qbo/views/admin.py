"""The admin blueprint: Add-ons & API panel, connect flow, disconnect, sync health.

Every route is admin-only (the host's ``@qbo.admin_required`` hook; without one
every page answers 403 with a note for the developer) and every POST is CSRF
protected.  A successful callback starts the tenant's first sync (an import run, unless
``QBO_INITIAL_SYNC = "on_change"`` or the tenant already has one) and lands on
the connected page, which shows it fetching and then what it found.  The views are thin: the rules live in :mod:`flask_qbo.connection.connect`,
:mod:`flask_qbo.connection.upkeep` and :mod:`flask_qbo.connection.health`.

Endpoints (under ``QBO_URL_PREFIX``): ``qbo.addons``, ``qbo.connect``,
``qbo.callback``, ``qbo.connected``, ``qbo.disconnect``, ``qbo.health``, ``qbo.retry``,
``qbo.retry_all``.  Template globals available on every page of the host:
``qbo_connection_banner()``, ``qbo_banner_state()`` and ``qbo_addons_context()``
(the forms also use the widgets' ``qbo_csrf_token()``).
"""

from __future__ import annotations

import re
import typing as t

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from ..connection import connect as connect_flow
from ..connection import disconnect as disconnect_flow
from ..connection import health
from ..connection import upkeep
from ..errors import QBOConfigError
from ..importing import fetch
from ..importing import findings
from ..intuit import auth
from ..models import Connection
from ..models import ConnectionStatus
from ..ops import doctor
from ..state import get_qbo
from ..sync.push import push
from .csrf import csrf_protect
from .inputs import ROW_ID

bp = Blueprint("qbo", __name__, template_folder="../templates")

#: Session key of the one-off message shown at the top of the next admin page.
NOTICE_KEY = "_qbo_notice"
#: Session key of the page the last Connect started from (the host's Add-ons page, say).
STARTED_KEY = "_qbo_connect_started"

#: Friendly texts for the ``error`` values Intuit sends back to the callback.
CALLBACK_ERRORS = {
    "access_denied": "Connection cancelled. You cancelled the QuickBooks sign-in, so nothing was connected. "
    "Click Connect QuickBooks Account whenever you are ready.",
    "invalid_scope": "Intuit refused the permissions this app asks for (invalid_scope). "
    "The developer should check QBO_SCOPES and the app's settings at Intuit.",
}

#: What an OAuth ``error`` value looks like (RFC 6749 §4.1.2.1 codes such as ``server_error``).
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


def _notify(kind: str, text: str) -> None:
    """Queue a message for the next admin page (post/redirect/get keeps URLs clean)."""
    session[NOTICE_KEY] = {"kind": kind, "text": text}


def _render(template: str, status: int = 200, **context: t.Any) -> tuple[str, int]:
    context.setdefault("qbo_notice", session.pop(NOTICE_KEY, None))
    return render_template(template, **context), status


def forbidden(exc: HTTPException | None = None) -> tuple[str, int]:
    """The one "administrators only" page (403) of every admin and import page.

    Also the import blueprint's 403 handler, hence ``exc``: the page says the
    same whatever refused, so the exception's description is not shown.
    """
    return _render("qbo/admin/forbidden.html", 403, hook_configured=get_qbo()._has_admin_hook)


@bp.before_request
def _require_admin() -> ResponseReturnValue | None:
    """Refuse everything here unless the host's admin hook says yes."""
    return None if get_qbo()._is_admin() else forbidden()


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """Show our own errors (CSRF, bad state) as a page that says what to do next.

    These are this application's refusals, and the heading says so: QuickBooks is
    blamed only when Intuit refused or failed (see :attr:`ConnectError.refused_by`).
    """
    if exc.code == 403:
        return forbidden(exc)
    return _render("qbo/admin/error.html", exc.code or 500, message=exc.description, code=exc.code, refused_by="crm")


# -- template globals -----------------------------------------------------------------


def addons_context() -> dict[str, t.Any]:
    """What the Add-ons & API panel shows; usable from a host's own admin page."""
    qbo = get_qbo()
    if not qbo._is_admin():
        return {"allowed": False}
    conn = qbo.connection()
    # The one-off message of a redirect (a cancelled sign-in, say) shows on the panel, wherever it is embedded.
    notice = session.pop(NOTICE_KEY, None)
    context: dict[str, t.Any] = {"allowed": True, "connection": conn, "status": "not_connected", "notice": notice}
    if conn is not None:
        context.update(
            status=conn.status,
            company=conn.company_name or f"company {conn.realm_id}",
            environment=health.environment_label(conn),
            warning_days=upkeep.warning_due(conn),
            deadline=upkeep.deadline(conn),
        )
    # The initial import is offered right after connecting, unless QBO_INITIAL_SYNC is "on_change".
    offered = conn is not None and conn.status == ConnectionStatus.CONNECTED and fetch.import_enabled()
    context["import_endpoint"] = "qbo_import.start" if offered else None
    return context


def connection_banner() -> Markup:
    """The needs-reconnect / disconnected / expiring banner as HTML (empty when all is well)."""
    state = health.banner_state(get_qbo())
    if state is None:
        return Markup("")
    return Markup(render_template("qbo/admin/_banner.html", qbo_banner=state))


bp.add_app_template_global(addons_context, "qbo_addons_context")
bp.add_app_template_global(connection_banner, "qbo_connection_banner")
bp.add_app_template_global(lambda: health.banner_state(get_qbo()), "qbo_banner_state")


# -- Add-ons & API and the connect flow ---------------------------------------------------


@bp.get("/admin/")
def addons() -> ResponseReturnValue:
    """The Add-ons & API page: connection status and the Connect QuickBooks Account button."""
    return _render("qbo/admin/addons.html")


@bp.post("/admin/connect")
@csrf_protect
def connect() -> ResponseReturnValue:
    """Send the admin to Intuit's sign-in (also used to reconnect)."""
    return redirect(connect_flow.begin(get_qbo(), return_to=request.form.get("next")))


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    """Intuit's redirect back: ``code``, ``state``, ``realmId`` or ``error``."""
    qbo = get_qbo()
    args = request.args
    error = args.get("error")
    if error:
        # A cancel changes nothing, so it only needs the state to be burnt, not valid;
        # the admin lands back on the page the Connect button was on.
        pending = session.pop(connect_flow.STATE_KEY, None)
        # Anyone can send an admin a crafted callback link, so only a code-shaped value is echoed.
        said = error if _ERROR_CODE.fullmatch(error) else "an unrecognised error"
        text = CALLBACK_ERRORS.get(error, f"QuickBooks did not connect (Intuit said: {said}). Try again.")
        _notify("error" if error != "access_denied" else "info", text)
        return redirect(connect_flow.return_url(pending) or url_for("qbo.addons"))
    started = connect_flow.return_url(session.get(connect_flow.STATE_KEY))
    try:
        connect_flow.consume_state(qbo, args.get("state"))
        conn = connect_flow.complete(qbo, args.get("code"), args.get("realmId"))
    except connect_flow.ConnectError as exc:
        return _render("qbo/admin/error.html", exc.status, message=str(exc), code=exc.status, refused_by=exc.refused_by)
    session[STARTED_KEY] = started  # the connected page's way back to where the admin began
    _start_first_sync(conn)
    return redirect(url_for("qbo.connected"))


def _start_first_sync(conn: Connection) -> None:
    """Create the tenant's first import run, fetched by the connected page's progress poll.

    Only once per tenant (a reconnect keeps its import history) and never with
    ``QBO_INITIAL_SYNC = "on_change"``.  Creating the run is one insert, so
    the callback answers at once; nothing is fetched here.
    """
    qbo = get_qbo()
    if not fetch.import_enabled() or fetch.current_run(qbo, conn.tenant_key) is not None:
        return
    try:
        fetch.start_import(qbo, conn.tenant_key, user=qbo._current_user_name())
    except QBOConfigError as exc:  # the connection broke in between: the connected page says so
        _notify("error", str(exc))


@bp.get("/admin/connected")
def connected() -> ResponseReturnValue:
    """Where the callback lands: the company connected, then the first sync's progress and findings."""
    qbo = get_qbo()
    conn = qbo.connection()
    if conn is None or conn.status != ConnectionStatus.CONNECTED:
        return redirect(url_for("qbo.addons"))
    enabled = fetch.import_enabled()
    run = fetch.current_run(qbo, conn.tenant_key) if enabled else None
    return _render(
        "qbo/admin/connected.html",
        connection=conn,
        company=conn.company_name or f"company {conn.realm_id}",
        environment=health.environment_label(conn),
        enabled=enabled,
        back="connected",
        addons_url=connect_flow.local_path(session.get(STARTED_KEY)) or url_for("qbo.addons"),
        **(findings.card(qbo, run) if run is not None else {"run": None}),
    )


@bp.route("/admin/disconnect", methods=["GET", "POST"])
@csrf_protect
def disconnect() -> ResponseReturnValue:
    """GET: the confirmation page with the keep/delete choice.  POST: disconnect."""
    qbo = get_qbo()
    conn = qbo.connection()
    if conn is None:
        _notify("info", "QuickBooks is not connected.")
        return redirect(url_for("qbo.addons"))
    if request.method == "GET":
        return _render("qbo/admin/disconnect.html", connection=conn, company=conn.company_name or conn.realm_id)
    choice = request.form.get("data")
    if choice not in ("keep", "purge"):
        return _render(
            "qbo/admin/disconnect.html",
            400,
            connection=conn,
            company=conn.company_name or conn.realm_id,
            qbo_notice={"kind": "error", "text": "Choose whether to keep or delete the synced data."},
        )
    company = conn.company_name or "QuickBooks"
    # A company disconnected earlier has no grant left: deleting its kept data revokes nothing, so says nothing of it.
    already = conn.status == ConnectionStatus.DISCONNECTED
    unreadable = auth.key_problem(qbo, conn) is not None  # asked first: disconnecting clears the tokens
    revoked = disconnect_flow.disconnect(qbo, conn, purge=choice == "purge")
    if already:
        kept = "deleted" if choice == "purge" else "kept"
        _notify("success", f"The data synced from {company}, disconnected earlier, was {kept}.")
        return redirect(url_for("qbo.addons"))
    text = f"Disconnected from {company}."
    text += " Synced data was deleted." if choice == "purge" else " Synced data is kept and shown as disconnected."
    if unreadable:
        text += (
            " The grant could not be revoked at Intuit because QBO_TOKEN_ENCRYPTION_KEY does not decrypt "
            "the stored tokens; remove the app in QuickBooks under Settings → Apps."
        )
    elif not revoked:
        text += (
            " Intuit could not confirm the revocation; you can also remove the app in QuickBooks under Settings → Apps."
        )
    _notify("success", text)
    return redirect(url_for("qbo.addons"))


# -- sync health ---------------------------------------------------------------------------


@bp.get("/admin/health", endpoint="health")
def health_page() -> ResponseReturnValue:
    """Connection state, token expiry, queues, recent failures, the doctor's summary and the field chart."""
    qbo = get_qbo()
    tenant = qbo.current_tenant()
    data = health.summary(qbo, tenant)
    return _render("qbo/admin/health.html", doctor=doctor.summary(qbo, tenant), **data)


@bp.post(f"/admin/health/retry/<{ROW_ID}:outbox_id>")
@csrf_protect
def retry(outbox_id: int) -> ResponseReturnValue:
    """Put one failed or dead change back in the queue."""
    qbo = get_qbo()
    if push.retry(outbox_id, qbo.current_tenant()):
        _notify("success", "The change is queued again.")
    else:
        _notify("error", "That change cannot be retried (it is no longer failed, or it is not yours).")
    return redirect(url_for("qbo.health"))


@bp.post("/admin/health/retry-all")
@csrf_protect
def retry_all() -> ResponseReturnValue:
    """Put every failed or dead change of this tenant back in the queue."""
    count = push.retry_all(get_qbo().current_tenant())
    _notify("success" if count else "info", f"{count} change(s) queued again." if count else "Nothing to retry.")
    return redirect(url_for("qbo.health"))
