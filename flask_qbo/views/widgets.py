"""The contact dashboard widgets: QB icon, summary card, transactions folder, statement.

Each widget is one endpoint returning one partial under ``qbo/partials/``.
htmx requests (``HX-Request``, read through flask-htmx) get the bare partial;
anything else gets the partial wrapped in a full page, so a plain link still
works without JavaScript.  Widgets read only the local mirror (:mod:`flask_qbo.widgets.data`),
so rendering never spends a QBO read; the one exception is the PDF download,
which has to fetch the document from QBO and streams it through.

Open widgets poll themselves and send the ETag they were rendered with; an
unchanged widget costs one small indexed query and a ``304``.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import get_flashed_messages
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import stream_with_context
from flask import url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_htmx import HTMX

from ..config import contact_page_url
from ..config import get_config
from ..errors import QBOAuthError
from ..errors import QBOError
from ..errors import QBONotFoundError
from ..errors import QBOTokenDecryptError
from ..models import Transaction
from ..models import qbo_today
from ..state import get_qbo
from ..sync.push import push
from ..widgets import currency
from ..widgets import data
from ..widgets import formatting
from ..widgets import jobs
from ..widgets.deeplinks import app_base_url
from ..widgets.deeplinks import transaction_url
from ..widgets.deeplinks import valid_id
from ..widgets.names import qbo_name_if_different
from ..widgets.owing import delete_warning
from ..widgets.statement_pdf import statement_pdf
from .billing_folder import BUSY_POLL_SECONDS
from .billing_folder import folder_billing
from .csrf import csrf_protect
from .csrf import csrf_token
from .inputs import page_arg

bp = Blueprint(
    "qbo_widgets",
    __name__,
    template_folder="../templates",
    static_folder="../static/qbo",
    static_url_path="/static",
)

PARTIALS = "qbo/partials/"
#: The htmx request headers (flask-htmx; never attached to the app, it only reads ``request``).
htmx = HTMX()
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@bp.record_once
def _register_jinja(state: BlueprintSetupState) -> None:
    """Make the CSRF token, contact keys and formatters available to every template.

    Registered on the app (not the blueprint) because the macros run inside
    the host's own contact page.
    """
    app = state.app
    app.add_template_global(csrf_token, "qbo_csrf_token")
    app.add_template_global(lambda contact: get_qbo()._contact_key(contact), "qbo_contact_key")
    app.add_template_global(dom_id, "qbo_dom_id")
    app.add_template_global(contact_page_url, "qbo_contact_url")
    app.add_template_global(delete_warning, "qbo_delete_warning")
    app.add_template_filter(formatting.format_money, "qbo_money")
    app.add_template_filter(formatting.format_date, "qbo_date")
    app.add_template_filter(formatting.format_datetime, "qbo_datetime")
    app.add_template_filter(formatting.status_label, "qbo_status_label")
    app.add_template_filter(formatting.breakable, "qbo_breakable")
    app.add_template_global(formatting.plural, "qbo_plural")


@bp.after_request
def _vary(response: Response) -> Response:
    """Full page and partial share a URL, so caches must key on ``HX-Request``."""
    response.vary.add("HX-Request")
    return response


def dom_id(prefix: str, key: object) -> str:
    """An HTML id for a contact's widget; host keys may hold characters ids cannot."""
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9_-]", "_", str(key))


def _load(contact_key: str) -> data.WidgetContext:
    """The contact's widget context, or 404 when it is missing or not the viewer's to see.

    Another tenant's contact is a 404 rather than a 403 so its existence is not revealed.
    Only the key's canonical spelling finds the contact (``/w/01/...`` is a 404, not
    contact 1 under a second URL).
    """
    qbo = get_qbo()
    contact = qbo.load_contact(contact_key)
    if contact is None or not qbo.may_view(contact):
        abort(404)
    session = qbo.state().session
    return data.load_context(session, contact, qbo._contact_key(contact), qbo._tenant_of(contact))


def _render(
    ctx: data.WidgetContext, widget: str, title: str, self_url: str, *etag_parts: object, **context: t.Any
) -> Response:
    """Render a widget partial (or its full page), answering 304 when the poller's copy is current."""
    partial = bool(htmx)
    session = get_qbo().state().session
    etag = data.fingerprint(session, ctx, widget, qbo_today().isoformat(), partial, *etag_parts)
    if request.method in ("GET", "HEAD") and request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        context.update(
            ctx=ctx,
            widget=widget,
            title=title,
            self_url=self_url,
            etag=f'"{etag}"',
            poll_seconds=context.pop("poll_seconds", None) or int(get_config("QBO_WIDGET_POLL_SECONDS") or 0),
            today=qbo_today(),
        )
        template = PARTIALS + f"_{widget}.html"
        if partial:
            body = render_template(template, **context)
        else:
            body = render_template(
                PARTIALS + "_page.html", partial=template, base_template=get_config("QBO_BASE_TEMPLATE"), **context
            )
        response = make_response(body)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/<contact_key>/icon")
def icon(contact_key: str) -> Response:
    """Item 1: the QB icon that opens the customer in QBO."""
    ctx = _load(contact_key)
    state, reason = ctx.sync_state()
    return _render(
        ctx,
        "icon",
        "QuickBooks",
        url_for(".icon", contact_key=ctx.contact_key),
        state=state,
        reason=reason,
        customer_url=ctx.customer_url(),
    )


def _summary_response(ctx: data.WidgetContext, message: str | None = None) -> Response:
    session = get_qbo().state().session
    customer = ctx.customer
    state, reason = ctx.sync_state()
    context: dict[str, t.Any] = {
        "state": state,
        "reason": reason,
        "message": message,
        "customer_url": ctx.customer_url(),
        "currency": ctx.currency,
        "open_balance": None,
        "overdue_balance": None,
        "last_payment": None,
        "qbo_name": qbo_name_if_different(ctx.contact, customer),
    }
    billing = folder_billing(session, ctx)
    context["new_documents"] = (
        [(billing.new_url("invoice"), "New invoice")]
        + ([(billing.new_url("estimate"), "New estimate")] if billing.allow_estimates else [])
        if billing.may_bill
        else []
    )
    if customer is not None:
        context.update(
            open_balance=data.open_balance(session, customer),
            overdue_balance=data.overdue_balance(session, customer, qbo_today()),
            last_payment=data.last_payment(session, customer),
        )
    context.update(currency.card(session, ctx, context["open_balance"]), **jobs.card(session, ctx))
    return _render(
        ctx,
        "summary",
        "QuickBooks summary",
        url_for(".summary", contact_key=ctx.contact_key),
        message,
        context["qbo_name"],  # the contact's own name changes the card before QuickBooks does
        context["new_documents"],  # the user's billing permission
        repr([context[k] for k in ("jobs", "jobs_more", "balance_with_jobs", "job_of", "home_balance")]),
        context["currency_note"],  # other customers' rows (jobs) and the contact's currency, likewise
        **context,
    )


@bp.get("/<contact_key>/summary")
def summary(contact_key: str) -> Response:
    """Item 2: the summary card (terms, balances, last payment, sync status)."""
    return _summary_response(_load(contact_key))


@bp.post("/<contact_key>/sync")
@csrf_protect
def sync_now(contact_key: str) -> ResponseReturnValue:
    """The "Sync now" button: queue a push of this contact and show the refreshed card."""
    ctx = _load(contact_key)
    if not ctx.connected:
        message = "QuickBooks is not connected, so this contact cannot be synced now."
    else:
        push.request_sync(ctx.contact, ctx.tenant_key)
        get_qbo().state().session.commit()
        ctx = _load(contact_key)
        message = "Sync requested."
    if not htmx:
        return redirect(url_for(".summary", contact_key=ctx.contact_key), code=303)
    return _summary_response(ctx, message)


def _type_arg() -> str | None:
    value = request.args.get("type") or None
    return value if value in data.TYPE_LABELS else None


class _RowBuilder:
    """Builds table rows; URL prefixes are resolved once per page, not once per row.

    ``url_for`` and the deep-link host lookup dominate a 50-row page otherwise.
    The PDF URL is the per-type prefix plus the id, which is safe because only
    all-digit ids (:func:`~flask_qbo.widgets.deeplinks.valid_id`) get one.
    """

    def __init__(self, ctx: data.WidgetContext, today: dt.date) -> None:
        self.ctx = ctx
        self.today = today
        self.app_base = app_base_url()
        self.home = currency.home_currency(get_qbo().state().session, ctx.customer.realm_id) if ctx.customer else None
        self._pdf_prefix: dict[str, str] = {}

    def pdf_url(self, txn_type: str, txn_id: str) -> str:
        if txn_type not in self._pdf_prefix:
            sample = url_for("qbo_widgets.pdf", contact_key=self.ctx.contact_key, txn_type=txn_type, txn_id="0")
            self._pdf_prefix[txn_type] = sample[:-1]
        return self._pdf_prefix[txn_type] + txn_id

    def converted_to(self, txn: Transaction) -> str | None:
        """ "Invoice 1042" for an estimate whose ``LinkedTxn`` names the invoice it became, shown beside its status.

        The badge itself keeps QuickBooks' word for the estimate (*Closed*, as
        QuickBooks' screens call a converted one); this only says which invoice.
        """
        if txn.txn_type != "Estimate":
            return None
        links = (txn.raw or {}).get("LinkedTxn") or ()
        invoice_id = next(
            (str(ln.get("TxnId")) for ln in links if isinstance(ln, dict) and ln.get("TxnType") == "Invoice"), None
        )
        if invoice_id is None:
            return None
        number = (
            get_qbo()
            .state()
            .session.query(Transaction.doc_number)
            .filter_by(realm_id=txn.realm_id, txn_type="Invoice", qbo_id=invoice_id)
            .scalar()
        )
        return f"Invoice {number}" if number else "Invoice"

    def row(self, txn: Transaction) -> dict[str, t.Any]:
        """What one table row shows; links only from validated ids."""
        txn_id = valid_id(txn.qbo_id)
        return {
            **currency.row_home(txn, txn.currency or self.ctx.currency, self.home),
            "txn": txn,
            "type_label": data.TYPE_LABELS.get(txn.txn_type, txn.txn_type),
            "currency": txn.currency or self.ctx.currency,
            "status": data.display_status(txn, self.today),
            "converted_to": self.converted_to(txn),
            "url": transaction_url(txn.txn_type, txn.qbo_id, txn.realm_id, base_url=self.app_base),
            "pdf_url": self.pdf_url(txn.txn_type, txn_id) if txn_id and txn.txn_type in data.TYPE_LABELS else None,
        }


@bp.get("/<contact_key>/transactions")
def transactions(contact_key: str) -> Response:
    """Items 3 and 4: the "QuickBooks Transactions" folder, filterable and paginated."""
    flashed = [] if htmx else get_flashed_messages(category_filter=["message"])  # a plain form post's outcome
    message = str(flashed[0]) if flashed else None
    return transactions_response(_load(contact_key), _type_arg(), page_arg(request.args), message)


def transactions_response(
    ctx: data.WidgetContext, txn_type: str | None, page_no: int, message: str | None = None
) -> Response:
    """The folder for one filter and page, with its estimates and invoices on their way and its row actions."""
    session = get_qbo().state().session
    per_page = int(get_config("QBO_TRANSACTIONS_PER_PAGE"))
    page = None
    rows: list[dict[str, t.Any]] = []
    billing = folder_billing(session, ctx)
    if ctx.customer is not None:
        page = data.transactions_page(session, ctx.customer, txn_type=txn_type, page=page_no, per_page=per_page)
        builder = _RowBuilder(ctx, qbo_today())
        rows = [builder.row(txn) for txn in page.rows]

    def page_url(number: int) -> str:
        return url_for("qbo_widgets.transactions", contact_key=ctx.contact_key, type=txn_type, page=number)

    busy = {"poll_seconds": BUSY_POLL_SECONDS} if billing.busy else {}
    return _render(
        ctx,
        "transactions",
        "QuickBooks Transactions",
        page_url(page_no),
        txn_type,
        page_no,
        per_page,
        message,
        *billing.fingerprint(),
        active_tab=txn_type or "all",
        page=page,
        rows=rows,
        page_url=page_url,
        tabs=_tabs(ctx),
        billing=billing,
        message=message,
        **busy,
    )


def _tabs(ctx: data.WidgetContext) -> list[tuple[str, str, str]]:
    """``(key, label, url)`` for the folder's filter tabs, the statement last."""
    tabs = [("all", "All", url_for("qbo_widgets.transactions", contact_key=ctx.contact_key))]
    tabs += [
        (key, plural, url_for("qbo_widgets.transactions", contact_key=ctx.contact_key, type=key))
        for key, _label, plural in data.TRANSACTION_TYPES
    ]
    tabs.append(("statement", "Statement", url_for("qbo_widgets.statement", contact_key=ctx.contact_key)))
    return tabs


@bp.get("/<contact_key>/statement")
def statement(contact_key: str) -> Response:
    """The "Statement" tab: open items, running balance and aging, from the mirror."""
    ctx = _load(contact_key)
    today = qbo_today()
    stmt = data.statement_for(get_qbo().state().session, ctx.customer, today) if ctx.customer else None
    return _render(
        ctx,
        "statement",
        "QuickBooks Transactions — Statement",
        url_for(".statement", contact_key=ctx.contact_key),
        active_tab="statement",
        statement=stmt,
        tabs=_tabs(ctx),
        type_labels=data.TYPE_LABELS,
        pdf_url=url_for(".statement_pdf", contact_key=ctx.contact_key),
    )


@bp.get("/<contact_key>/statement.pdf", endpoint="statement_pdf")
def statement_pdf_download(contact_key: str) -> Response:
    """The Statement tab as a PDF, built from the mirror (QBO has no statement to download)."""
    ctx = _load(contact_key)
    if ctx.customer is None:
        abort(404)
    stmt = data.statement_for(get_qbo().state().session, ctx.customer, qbo_today())
    body = statement_pdf(
        stmt,
        company=ctx.connection.company_name if ctx.connection else None,
        customer=ctx.customer.display_name,
        currency=ctx.currency,
        type_labels=data.TYPE_LABELS,
    )
    name = _FILENAME_UNSAFE.sub("_", f"statement-{ctx.customer.display_name or ctx.customer.qbo_id}-{stmt.as_of}")
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<contact_key>/pdf/<txn_type>/<txn_id>")
def pdf(contact_key: str, txn_type: str, txn_id: str) -> Response:
    """Stream a transaction's PDF from QBO, only for this contact's own transactions."""
    if txn_type not in data.TYPE_LABELS or valid_id(txn_id) is None:
        abort(404)
    ctx = _load(contact_key)
    if ctx.customer is None:
        abort(404)
    txn = data.find_transaction(get_qbo().state().session, ctx.customer, txn_type, txn_id)
    if txn is None:
        abort(404)
    if not ctx.connected or ctx.connection is None:
        abort(409, description="QuickBooks is not connected, so the PDF cannot be downloaded now.")
    try:
        upstream = get_qbo().client(ctx.connection).pdf(txn_type, txn.qbo_id)
    except QBONotFoundError:
        abort(404)
    except QBOAuthError:
        abort(503, description="QuickBooks needs to be reconnected before PDFs can be downloaded.")
    except QBOTokenDecryptError:
        abort(
            503,
            description="QuickBooks sync is waiting for a configuration fix, so PDFs cannot be "
            "downloaded now. Ask an administrator to check the server configuration.",
        )
    except QBOError as exc:
        current_app.logger.warning("QBO PDF download failed for %s %s: %s", txn_type, txn.qbo_id, exc)
        abort(502, description="QuickBooks did not return the PDF. Try again in a moment.")

    def chunks() -> t.Iterator[bytes]:
        try:
            yield from upstream.iter_content(chunk_size=64 * 1024)
        finally:
            upstream.close()

    name = _FILENAME_UNSAFE.sub("_", f"{txn_type}-{txn.doc_number or txn.qbo_id}")
    response = Response(stream_with_context(chunks()), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


__all__ = ["bp", "dom_id", "transactions_response"]
