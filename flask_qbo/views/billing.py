"""The estimate/invoice form on the contact page: new, live totals, item search, save, edit and retry.

A salesperson the host's ``@qbo.can_bill`` hook allows opens the form from the
"QuickBooks Transactions" folder.  Every endpoint checks, in this order, that the
contact is the viewer's tenant's (404 otherwise, so another tenant's contacts
stay invisible), that the hook allows this user (403, whether or not the
button was shown) and that the tenant is connected; every POST carries the
page's CSRF token.

Saving queues the document in the outbox (:func:`flask_qbo.billing.documents.queue_document`)
and wakes the runner; the folder then shows it as "Sending to QuickBooks…" at
once.  A refused form comes back with everything typed and each problem next
to its field.  Row actions (send, void, convert ...) live in
:mod:`.billing_actions`.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Blueprint
from flask import Response
from flask import abort
from flask import flash
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ..billing import reference
from ..billing.catalog import Catalog
from ..billing.catalog import search_items
from ..billing.documents import dead_create
from ..billing.documents import discard_document
from ..billing.documents import queue_document
from ..billing.documents import retry_document
from ..billing.draft import KINDS
from ..billing.draft import Draft
from ..billing.draft import draft_from_form
from ..billing.draft import draft_from_json
from ..billing.problems import Problem
from ..billing.totals import AST_NOTE
from ..billing.totals import Totals
from ..billing.totals import compute
from ..billing.validate import validate
from ..config import contact_page_url
from ..config import get_config
from ..models import Document
from ..models import DocumentState
from ..models import utcnow
from ..state import get_qbo
from ..state import wake
from ..sync.push.doc_failure import NOT_SENT
from ..widgets import data
from . import billing_form
from .csrf import csrf_protect
from .inputs import ROW_ID
from .widgets import _load
from .widgets import htmx
from .widgets import transactions_response

bp = Blueprint("qbo_billing", __name__, template_folder="../templates")

BILLING = "qbo/billing/"
#: URL spelling of each kind.
KIND_SLUGS = {"invoice": "Invoice", "estimate": "Estimate"}
#: How many items the search shows.
SEARCH_LIMIT = 20
_EMAIL_PATH = "PrimaryEmailAddr.Address"


@dataclasses.dataclass
class Billing:
    """A contact the current user may bill, with its realm's catalog."""

    ctx: data.WidgetContext
    catalog: Catalog

    @property
    def realm_id(self) -> str:
        return self.catalog.realm_id

    @property
    def currency(self) -> str | None:
        """The customer's currency (QBO fixes it when the customer is made), else the company's."""
        return self.ctx.currency or self.catalog.prefs.home_currency

    @property
    def customer_taxable(self) -> bool:
        """False only when the mirrored QBO customer says it is not taxable (unknown counts as taxable)."""
        customer = self.ctx.customer
        return customer is None or customer.taxable is not False

    @property
    def foreign(self) -> bool:
        home = self.catalog.prefs.home_currency
        return bool(self.currency and home and self.currency != home)


def load_billing(contact_key: str) -> Billing:
    """The contact if the current user may bill it: 404 (not the viewer's), 403 (no ``can_bill``), 409 (not connected)."""
    ctx = _load(contact_key)
    if not get_qbo().may_bill(ctx.contact):
        abort(403, description="You may not create estimates or invoices for this contact.")
    if not ctx.connected or ctx.connection is None or not ctx.connection.realm_id:
        abort(409, description="QuickBooks is not connected, so estimates and invoices cannot be made now.")
    realm_id = str(ctx.connection.realm_id)
    reference.read_if_unread(get_qbo(), ctx.connection)  # a form opened before the runners' first read
    return Billing(ctx, Catalog.load(_session(), realm_id))


def _session() -> Session:
    return get_qbo().state().session


def _kind(slug: str, billing: Billing) -> str:
    kind = KIND_SLUGS.get(slug)
    if kind is None or (kind == "Estimate" and not billing.catalog.prefs.allow_estimates):
        abort(404)
    return kind


def contact_email(billing: Billing) -> str | None:
    """Where the document is mailed by default: the QBO customer's email, else the contact's mapped one."""
    if billing.ctx.customer is not None and billing.ctx.customer.email:
        return billing.ctx.customer.email
    field = get_qbo()._registration().fields.by_path(_EMAIL_PATH)
    if field is None:
        return None
    value = field.get(billing.ctx.contact) if field.get else getattr(billing.ctx.contact, field.attr or "", None)
    return str(value) if value else None


def render(template: str, title: str, status: int = 200, **context: t.Any) -> Response:
    """A billing partial for htmx, or the same partial in the host's page for a plain request."""
    if htmx:
        body = render_template(BILLING + template, **context)
    else:
        body = render_template(
            "qbo/partials/_page.html",
            partial=BILLING + template,
            base_template=get_config("QBO_BASE_TEMPLATE"),
            title=title,
            **context,
        )
    # htmx swaps only 2xx answers, so a refused form or action is a 200 for it.
    response = make_response(body, 200 if htmx else status)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def folder(billing: Billing, message: str | None = None) -> ResponseReturnValue:
    """After a change: the folder (htmx swaps it in), or a redirect to it for a plain form post."""
    if not htmx:
        key = billing.ctx.contact_key
        if message:
            flash(message, "message")
        return redirect(contact_page_url(key) or url_for("qbo_widgets.transactions", contact_key=key), code=303)
    return transactions_response(_load(billing.ctx.contact_key), None, 1, message=message)


# -- the form ------------------------------------------------------------------------


def _line_amounts(state: billing_form.FormState, totals: Totals | None) -> dict[int, t.Any]:
    """Each shown line's amount: the draft skips blank lines, so amounts follow the non-blank ones."""
    if totals is None:
        return {}
    return dict(zip(state.filled_lines(), totals.lines))


def _totals(draft: Draft, billing: Billing) -> Totals | None:
    try:
        return compute(draft, billing.catalog)
    except (ArithmeticError, ValueError):
        return None


def _form_response(
    billing: Billing,
    state: billing_form.FormState,
    problems: t.Sequence[Problem] = (),
    *,
    document: Document | None = None,
    status: int = 200,
) -> Response:
    draft, _reading = draft_from_form(state.posted())
    totals = _totals(draft, billing)
    kind = state.kind if state.kind in KINDS else "Invoice"
    slug = "estimate" if kind == "Estimate" else "invoice"
    key = billing.ctx.contact_key
    if document is not None:
        action = url_for(".retry", contact_key=key, document_id=document.id)
    else:
        action = url_for(".new", contact_key=key, slug=slug)
    return render(
        "_form.html",
        f"New {kind.lower()}",
        status,
        billing=billing,
        ctx=billing.ctx,
        prefs=billing.catalog.prefs,
        catalog=billing.catalog,
        form=state,
        kind=kind,
        problems=billing_form.problems_by_field(problems),
        totals=totals,
        line_amounts=_line_amounts(state, totals),
        ast_note=AST_NOTE,
        action=action,
        document=document,
        not_sent=document is not None and document.error_code in NOT_SENT,  # stopped in the CRM, not refused
        totals_url=url_for(".totals", contact_key=key),
        search_url=url_for(".item_search", contact_key=key),
        cancel_url=url_for("qbo_widgets.transactions", contact_key=key),
        back_url=contact_page_url(key),
    )


@bp.route("/<contact_key>/new/<slug>", methods=["GET", "POST"])
@csrf_protect
def new(contact_key: str, slug: str) -> ResponseReturnValue:
    """The New estimate / New invoice form; POST saves it (or applies Add line, Remove, a chosen item)."""
    billing = load_billing(contact_key)
    kind = _kind(slug, billing)
    if request.method == "GET":
        customer = billing.ctx.customer
        state = billing_form.blank(
            kind,
            currency=billing.currency,
            bill_email=contact_email(billing),
            terms_id=(customer.terms_id if customer else None) or billing.catalog.prefs.default_terms_id,
            today=utcnow().date(),  # the form's default date; the person can change it
        )
        return _form_response(billing, state)
    state = billing_form.from_post(request.form)
    state.values["kind"] = kind
    state.values["currency"] = billing.currency or ""  # shown, never editable: QBO fixes it per customer
    state.values.pop("estimate", None)  # only a conversion links an estimate, never a typed id
    if billing_form.apply_buttons(state, request.form, billing.catalog, customer_taxable=billing.customer_taxable):
        return _form_response(billing, state)
    draft, problems = _judge(billing, state)
    if problems:
        return _form_response(billing, state, problems, status=422)
    queue_document(
        _session(),
        tenant_key=billing.ctx.tenant_key,
        realm_id=billing.realm_id,
        contact_key=billing.ctx.contact_key,
        draft=draft,
        catalog=billing.catalog,
        created_by=get_qbo()._current_user_name(),
    )
    _session().commit()
    wake(reason="document")
    return folder(billing, f"{kind} saved; sending it to QuickBooks…")


def _judge(billing: Billing, state: billing_form.FormState) -> tuple[Draft, list[Problem]]:
    """The draft and everything wrong with it: what could not be read, then what QBO would refuse."""
    draft, problems = draft_from_form(state.posted())
    judged = validate(draft, billing.catalog, billing.currency, contact_email(billing))
    return draft, [*problems, *state.on_form_lines(judged)]


@bp.post("/<contact_key>/totals")
@csrf_protect
def totals(contact_key: str) -> Response:
    """The live totals block, recomputed from the posted form (and each line's amount, out of band)."""
    billing = load_billing(contact_key)
    state = billing_form.from_post(request.form)
    state.values["currency"] = billing.currency or ""
    draft, _problems = draft_from_form(state.posted())
    result = _totals(draft, billing)
    body = render_template(
        BILLING + "_totals.html",
        totals=result,
        currency=billing.currency,
        prefs=billing.catalog.prefs,
        ast_note=AST_NOTE,
        form=state,
        line_amounts=_line_amounts(state, result),
        ctx=billing.ctx,
        totals_url=url_for(".totals", contact_key=billing.ctx.contact_key),
        oob=True,
    )
    return make_response(body)


@bp.get("/<contact_key>/items")
def item_search(contact_key: str) -> Response:
    """Items whose name, SKU or description matches ``q``, as buttons that put one on line ``line``."""
    billing = load_billing(contact_key)
    line = request.args.get("line", "")
    if not line.isdigit() or len(line) > 4:
        abort(400, description="line must be a line number.")
    text = (request.args.get("q") or request.args.get(f"line-{line}-search") or "")[:100]
    items = search_items(_session(), billing.realm_id, text, SEARCH_LIMIT) if text.strip() else []
    return make_response(
        render_template(
            BILLING + "_item_results.html", items=items, line=int(line), text=text, currency=billing.currency
        )
    )


# -- a refused document: edit and retry, or discard ---------------------------------------


def _failed_document(billing: Billing, document_id: int) -> Document:
    """The contact's own document that QBO refused (404 for anyone else's or any other state)."""
    document = _session().get(Document, document_id)
    if (
        document is None
        or document.tenant_key != billing.ctx.tenant_key
        or document.contact_key != billing.ctx.contact_key
        or document.state != DocumentState.FAILED
    ):
        abort(404)
    return document


@bp.get(f"/<contact_key>/documents/<{ROW_ID}:document_id>/edit")
def edit(contact_key: str, document_id: int) -> Response:
    """ "Edit and retry": the refused document's form, as it was saved."""
    billing = load_billing(contact_key)
    document = _failed_document(billing, document_id)
    state = billing_form.from_draft(draft_from_json(document.draft))
    problems = [Problem("document", document.error_message or "QuickBooks refused this document.")]
    return _form_response(billing, state, problems, document=document)


@bp.post(f"/<contact_key>/documents/<{ROW_ID}:document_id>/retry")
@csrf_protect
def retry(contact_key: str, document_id: int) -> ResponseReturnValue:
    """Save the edited form over the refused document and queue it again (same document, new request)."""
    billing = load_billing(contact_key)
    document = _failed_document(billing, document_id)
    state = billing_form.from_post(request.form)
    state.values["kind"] = document.kind
    state.values["currency"] = billing.currency or ""
    state.values["estimate"] = document.estimate_qbo_id or ""  # the conversion it came from, as saved
    if billing_form.apply_buttons(state, request.form, billing.catalog, customer_taxable=billing.customer_taxable):
        return _form_response(billing, state, document=document)
    draft, problems = _judge(billing, state)
    if problems:
        return _form_response(billing, state, problems, document=document, status=422)
    unchanged = dead_create(_session(), document) is not None
    retry_document(_session(), document, draft, billing.catalog)
    _session().commit()
    wake(reason="document")
    if unchanged:
        return folder(
            billing,
            f"QuickBooks may have made this {document.kind} before the error: it is sent again unchanged first. "
            "If it is refused, edit and retry it then.",
        )
    return folder(billing, f"{document.kind} saved again; sending it to QuickBooks…")


@bp.post(f"/<contact_key>/documents/<{ROW_ID}:document_id>/discard")
@csrf_protect
def discard(contact_key: str, document_id: int) -> ResponseReturnValue:
    """ "Discard": drop a refused document that QBO never made."""
    billing = load_billing(contact_key)
    document = _failed_document(billing, document_id)
    discard_document(_session(), document)
    _session().commit()
    return folder(billing, f"{document.kind} discarded.")


__all__ = ["Billing", "bp", "load_billing"]
