"""Admin pages of the initial import: start, progress, match review, apply, link exact matches.

Registered at ``QBO_URL_PREFIX + "/import"`` as blueprint ``qbo_import``.
Every page is admin-only and scoped to the admin's tenant; every POST carries
the CSRF token.  The progress partial, polled by htmx every second, also
advances the import by one small step (see :mod:`flask_qbo.importing.fetch`), so the
import runs with any ``QBO_RUNNER``; once fetching is over it answers 286, htmx's
"stop polling" (flask-htmx's ``HTMXResponseStopPolling``).

Once fetched, the progress partial words what the fetch found (:func:`~flask_qbo.importing.findings.tally`)
and offers **Link exact matches** (:func:`link_exact`), the first sync's one
button, next to the link to the review; the connected page the OAuth callback
lands on shows the same partial (:func:`flask_qbo.importing.findings.card`).

An unfinished run can be cancelled from the import and review pages (the way
out of a run a crashed process left ``applying``); a run whose Apply stopped
is back in review with the reason shown, and Apply resumes where it stopped.

Each review row is one decision (a radio group: link to the suggested
contact or a candidate, link to another contact found by name or email,
create a new contact, skip) saved by one button.  The search box, with htmx,
fills the row's list of matching contacts from :func:`contacts` as the admin
types; without JavaScript the typed text is searched when the row is saved
(:func:`~flask_qbo.importing.review.find_contact`).  Nobody is asked for a
contact key; whichever way a contact is chosen, the server checks it belongs
to the tenant and is not linked to another customer.
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
from flask_htmx.responses import HTMXResponseStopPolling
from sqlalchemy import func

from ..errors import QBOConfigError
from ..importing import apply as import_apply
from ..importing import fetch
from ..importing import findings
from ..importing import review as import_review
from ..importing.matching import SEARCH_MIN_CHARS
from ..importing.matching import search_contacts
from ..importing.review import SEARCH_LIMIT
from ..importing.review import claims
from ..models import Customer
from ..models import ImportDecision
from ..models import ImportMatch
from ..models import ImportRun
from ..models import ImportStatus
from ..state import get_qbo
from ..sync.payload import contact_values
from ..sync.payload import display_name
from ..widgets.formatting import plural
from .admin import forbidden
from .csrf import csrf_protect
from .inputs import ROW_ID
from .inputs import page_arg
from .inputs import whole_number

if t.TYPE_CHECKING:
    from ..extension import QBO

bp = Blueprint("qbo_import", __name__)
bp.register_error_handler(403, forbidden)  # the same "administrators only" page as the admin pages

#: Review rows per page (an import can hold thousands of customers).
PER_PAGE = 100
MATCH_LABELS = {
    "email": "Exact e-mail",
    "phone": "Phone",
    "name": "Name / company",
    "ambiguous": "Ambiguous",
    "none": "No match",
}


def _admin() -> QBO:
    qbo = get_qbo()
    if not qbo._is_admin():
        abort(403, description="Only administrators can import from QuickBooks.")
    return qbo


def _tenant_run(qbo: QBO, run_id: int) -> ImportRun:
    run = qbo.state().session.get(ImportRun, run_id)
    if run is None or run.tenant_key != qbo.current_tenant():
        abort(404)
    return run


def _back(value: str | None) -> str | None:
    """Where the progress card sits: ``"connected"`` (the connected page) or ``None`` (the import page)."""
    return "connected" if value == "connected" else None


@bp.route("/", methods=["GET", "POST"])
@csrf_protect
def start() -> ResponseReturnValue:
    """GET: the import page (offer, or the current run's progress); POST: start a run."""
    qbo = _admin()
    tenant = qbo.current_tenant()
    if request.method == "POST":
        raw = request.form.get("months") or ""
        try:
            months = whole_number(raw, name="months", minimum=1, maximum=1200) if raw else None
            fetch.start_import(qbo, tenant, months=months, user=qbo._current_user_name())
        except (ValueError, QBOConfigError) as exc:
            flash(str(exc), "error")
        return redirect(url_for(".start"))
    conn = qbo.connection(tenant)
    run = fetch.current_run(qbo, tenant)
    return render_template(
        "qbo/import/start.html",
        enabled=fetch.import_enabled(),
        connection=conn,
        back=None,
        **(findings.card(qbo, run) if run is not None else {"run": None}),
    )


@bp.route(f"/<{ROW_ID}:run_id>/progress")
def progress(run_id: int) -> ResponseReturnValue:
    """The progress bar partial; advances a fetching run by one step first."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    if run.status == ImportStatus.FETCHING:
        run = fetch.poll_step(qbo, run.id)
    body = render_template("qbo/import/_progress.html", back=_back(request.args.get("back")), **findings.card(qbo, run))
    return body if run.status == ImportStatus.FETCHING else HTMXResponseStopPolling(body)


@bp.route(f"/<{ROW_ID}:run_id>/link-exact", methods=["POST"])
@csrf_protect
def link_exact(run_id: int) -> ResponseReturnValue:
    """Link every exact e-mail match at once and leave the rest in review (the first sync's one button)."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    try:
        count = import_apply.link_exact(run.id)
        flash(
            f"Linked {plural(count, 'contact')} to their QuickBooks customers: they sync from now on, "
            "and their QuickBooks card and transactions are on their contact pages.",
            "info",
        )
    except import_apply.ApplyError:
        pass  # the run is back in review and the progress card shows why (run.error)
    except ValueError as exc:
        flash(str(exc), "error")
    if _back(request.form.get("back")) == "connected":
        return redirect(url_for("qbo.connected"))
    return redirect(url_for(".start"))


def _contact_labels(qbo: QBO, keys: set[str]) -> dict[str, str]:
    fields = qbo._registration().fields
    return {
        key: display_name(contact_values(contact, fields))
        for key, contact in qbo._load_contacts(keys).items()
        if qbo._tenant_of(contact) == qbo.current_tenant()
    }


def _show() -> str:
    return "attention" if request.args.get("show") == "attention" else "all"


def _decision(run_id: int, qbo_id: str) -> tuple[str, str | None]:
    """The row's decision and, for a link, its contact, from the review form.

    ``decision`` is ``"link:<key>"`` (the suggestion or a candidate),
    ``"find"`` (the contact chosen in the search list, else the one contact
    the typed text finds), ``"create"`` or ``"skip"``; plain ``"link"`` takes
    the list's choice, the typed text, or the proposal.  Text typed without a
    choice made (Enter in the search box, no JavaScript) means ``"find"``.
    """
    decision, _, key = (request.form.get("decision") or "").partition(":")
    picked = (request.form.get("contact_key") or "").strip()[:100]
    typed = (request.form.get("q") or "").strip()[:100]
    if not decision:
        if not (picked or typed):
            raise ValueError("Choose what to do with this customer, then save.")
        decision = "find"
    if decision not in ("find", ImportDecision.LINK):
        return decision, None
    if key or picked:
        return ImportDecision.LINK, (key or picked)[:100]
    if typed:
        return ImportDecision.LINK, import_review.find_contact(run_id, typed)
    if decision == "find":
        raise ValueError("Find the contact to link: type part of their name or email address.")
    return ImportDecision.LINK, None


@bp.route(f"/<{ROW_ID}:run_id>/review", methods=["GET", "POST"])
@csrf_protect
def review(run_id: int) -> ResponseReturnValue:
    """The match table; POST records one row's decision or accepts every exact match."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    page = page_arg(request.args)
    show = _show()
    if request.method == "POST":
        try:
            if request.form.get("action") == "accept_exact":
                count = import_review.accept_all_exact(run.id)
                flash(f"Accepted {plural(count, 'exact e-mail match', 'exact e-mail matches')}.", "info")
            else:
                qbo_id = request.form.get("qbo_id", "")
                match = import_review.decide(run.id, qbo_id, *_decision(run.id, qbo_id))
                anchor = f"qbo-row-{match.id}"  # back to the saved row, where the keyboard left off
                return redirect(url_for(".review", run_id=run.id, page=page, show=show, _anchor=anchor))
        except (LookupError, ValueError) as exc:
            flash(str(exc), "error")
        return redirect(url_for(".review", run_id=run.id, page=page, show=show))
    session = qbo.state().session
    query = (
        session.query(ImportMatch, Customer)
        .join(Customer, (Customer.qbo_id == ImportMatch.qbo_id) & (Customer.realm_id == run.realm_id))
        .filter(ImportMatch.run_id == run.id)
        .order_by(func.lower(Customer.display_name), ImportMatch.id)  # as QuickBooks lists its customers
    )
    if show == "attention":
        query = query.filter(ImportMatch.match_kind.in_(import_review.ATTENTION_KINDS))
    total = query.count()
    pages = max(1, -(-total // PER_PAGE))
    page = min(page, pages)  # past the end (rows decided away, a stale link): the last page
    rows = query.offset((page - 1) * PER_PAGE).limit(PER_PAGE).all()
    keys = {m.contact_key for m, _ in rows if m.contact_key} | {k for m, _ in rows for k in (m.candidates or [])}
    show_preview = request.args.get("preview") == "1"
    return render_template(
        "qbo/import/review.html",
        run=run,
        rows=rows,
        labels=_contact_labels(qbo, keys),
        kinds=MATCH_LABELS,
        page=page,
        pages=pages,
        total=total,
        show=show,
        counts=import_review.summary(run.id),
        acceptable=import_review.acceptable_count(run.id),
        preview=import_review.preview(run.id) if show_preview else None,
    )


@bp.route(f"/<{ROW_ID}:run_id>/contacts")
def contacts(run_id: int) -> ResponseReturnValue:
    """A review row's search results: the list of contacts matching ``q``.

    Requested by htmx as the admin types (``qbo_id`` names the row), at most
    :data:`~flask_qbo.importing.review.SEARCH_LIMIT` contacts of the admin's
    tenant; the first free one is preselected so saving links what the list
    shows.  Contacts another customer already has are listed but disabled,
    with the reason.
    """
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    text = (request.args.get("q") or "").strip()[:100]
    qbo_id = request.args.get("qbo_id") or None
    session = qbo.state().session
    match = session.query(ImportMatch).filter_by(run_id=run.id, qbo_id=qbo_id).one_or_none() if qbo_id else None
    fields = qbo._registration().fields
    found = search_contacts(qbo, run.tenant_key, text, limit=SEARCH_LIMIT) if text else []
    taken = claims(session, run, [qbo._contact_key(c) for c in found], qbo_id)
    results = []
    for contact in found:
        key = qbo._contact_key(contact)
        values = contact_values(contact, fields)
        detail = [v for v in (values.get("PrimaryEmailAddr.Address"), values.get("CompanyName")) if v]
        results.append({"key": key, "name": display_name(values), "detail": detail, "taken": taken.get(key)})
    free = next((r["key"] for r in results if not r["taken"]), None)
    return render_template(
        "qbo/import/_contact_found.html",
        row=f"qbo-row-{match.id}" if match is not None else "qbo-row",
        text=text,
        results=results,
        selected=free,
        too_short=not results and len(text) < SEARCH_MIN_CHARS,
    )


@bp.route(f"/<{ROW_ID}:run_id>/apply", methods=["POST"])
@csrf_protect
def apply(run_id: int) -> ResponseReturnValue:
    """Carry out the decisions; pending rows stay unlinked."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    try:
        count = import_apply.apply(run.id)
        flash(f"Import applied: {count} customers linked or created.", "info")
    except import_apply.ApplyError:
        pass  # the run is back in review and its page shows why (run.error)
    except ValueError as exc:
        flash(str(exc), "error")
    else:
        return redirect(url_for(".start"))
    return redirect(url_for(".review", run_id=run.id))


@bp.route(f"/<{ROW_ID}:run_id>/cancel", methods=["POST"])
@csrf_protect
def cancel(run_id: int) -> ResponseReturnValue:
    """Cancel an unfinished run (also one a crash left applying), so a new import can start."""
    qbo = _admin()
    run = _tenant_run(qbo, run_id)
    try:
        fetch.cancel(run.id, user=qbo._current_user_name())
        flash("Import cancelled. Customers it already linked or created stay so; you can start a new import.", "info")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for(".start"))
