"""Admin pages of the initial import: start, progress, match review, apply.

Registered at ``QBO_URL_PREFIX + "/import"`` as blueprint ``qbo_import``.
Every page is admin-only and scoped to the admin's tenant; every POST carries
the CSRF token.  The progress partial, polled by htmx every second, also
advances the import by one small step (see :mod:`flask_qbo.backfill`), so the
import runs with any ``QBO_RUNNER``; it answers 286 (htmx: stop polling) once
fetching is over.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue

from .. import backfill
from ..csrf import csrf_protect
from ..errors import QBOConfigError
from ..extension import get_qbo
from ..mapping import contact_values
from ..mapping import display_name
from ..models import Customer
from ..models import ImportMatch
from ..models import ImportRun

bp = Blueprint("qbo_import", __name__)

#: Review rows per page (an import can hold thousands of customers).
PER_PAGE = 100
#: htmx stops polling when a response has this status.
HTMX_STOP_POLLING = 286
MATCH_LABELS = {
    "email": "Exact e-mail", "phone": "Phone", "name": "Name / company",
    "ambiguous": "Ambiguous", "none": "No match",
}


def _admin() -> t.Any:
    qbo = get_qbo()
    if not qbo.is_admin():
        abort(403, description="Only administrators can import from QuickBooks.")
    return qbo


def _tenant_run(qbo: t.Any, run_id: int) -> ImportRun:
    run = qbo.state().db.session.get(ImportRun, run_id)
    if run is None or run.tenant_key != qbo.current_tenant():
        abort(404)
    return run


@bp.route("/", methods=["GET", "POST"])
@csrf_protect
def start() -> ResponseReturnValue:
    """GET: the import page (offer, or the current run's progress); POST: start a run."""
    qbo = _admin()
    tenant = qbo.current_tenant()
    if request.method == "POST":
        raw = (request.form.get("months") or "").strip()
        try:
            months = int(raw) if raw else None
            backfill.start_import(qbo, tenant, months=months, user=qbo.current_user_name())
        except (ValueError, QBOConfigError) as exc:
            flash(str(exc), "error")
        return redirect(url_for(".start"))
    conn = qbo.connection(tenant)
    return render_template(
        "qbo/import/start.html",
        enabled=backfill.import_enabled(),
        connection=conn,
        run=backfill.current_run(qbo, tenant),
        progress=backfill.progress,
    )


@bp.route("/<int:run_id>/progress")
def progress(run_id: int) -> ResponseReturnValue:
    """The progress bar partial; advances a fetching run by one step first."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    if run.status == "fetching":
        run = backfill.run_import_step(qbo, run.id)
    body = render_template("qbo/import/_progress.html", run=run, percent=backfill.progress(run))
    return body, (200 if run.status == "fetching" else HTMX_STOP_POLLING)


def _contact_labels(qbo: t.Any, keys: set[str]) -> dict[str, str]:
    fields = qbo.registration().fields
    labels = {}
    for key in keys:
        contact = qbo.load_contact(key)
        if contact is not None and qbo.tenant_of(contact) == qbo.current_tenant():
            labels[key] = display_name(contact_values(contact, fields))
    return labels


@bp.route("/<int:run_id>/review", methods=["GET", "POST"])
@csrf_protect
def review(run_id: int) -> ResponseReturnValue:
    """The match table; POST records one row's decision or accepts every exact match."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    page = max(1, request.args.get("page", 1, type=int))
    if request.method == "POST":
        try:
            if request.form.get("action") == "accept_exact":
                count = backfill.accept_all_exact(run.id)
                flash(f"Accepted {count} exact e-mail matches.", "info")
            else:
                decision = request.form.get("decision", "")
                contact_key = (request.form.get("contact_key") or "").strip() or None
                backfill.decide(run.id, request.form.get("qbo_id", ""), decision, contact_key)
        except (LookupError, ValueError) as exc:
            flash(str(exc), "error")
        return redirect(url_for(".review", run_id=run.id, page=page))
    session = qbo.state().db.session
    query = (
        session.query(ImportMatch, Customer)
        .join(Customer, (Customer.qbo_id == ImportMatch.qbo_id) & (Customer.realm_id == run.realm_id))
        .filter(ImportMatch.run_id == run.id)
        .order_by(ImportMatch.id)
    )
    total = query.count()
    rows = query.offset((page - 1) * PER_PAGE).limit(PER_PAGE).all()
    keys = {m.contact_key for m, _ in rows if m.contact_key} | {k for m, _ in rows for k in (m.candidates or [])}
    show_preview = request.args.get("preview") == "1"
    return render_template(
        "qbo/import/review.html",
        run=run, rows=rows, labels=_contact_labels(qbo, keys), kinds=MATCH_LABELS,
        page=page, pages=max(1, -(-total // PER_PAGE)), total=total,
        preview=backfill.preview(run.id) if show_preview else None,
    )


@bp.route("/<int:run_id>/apply", methods=["POST"])
@csrf_protect
def apply(run_id: int) -> ResponseReturnValue:
    """Carry out the decisions; pending rows stay unlinked."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    try:
        count = backfill.apply(run.id)
        flash(f"Import applied: {count} customers linked or created.", "info")
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".review", run_id=run.id))
    return redirect(url_for(".start"))
