"""The invoice payment link (``include=invoiceLink``) and the page it opens.

QBO returns ``InvoiceLink`` on a single-invoice read that asks for it, and
only for an invoice a customer can pay online (facts §5): the company takes
online payments (``SalesFormsPrefs.ETransactionPaymentEnabled``), the invoice
allows card or bank payment (``AllowOnlineCreditCardPayment`` /
``AllowOnlineACHPayment``) and has a ``BillEmail``. Never on a create, never
in query results. Intuit's own links point at its portal; the emulator's
point at itself, ``<base_url>/pay/<realm>/<invoice id>/<token>``, where a small
page records a Payment of the balance, so a CRM's "copy payment link" can be
followed end to end in a browser test. The token is an HMAC of realm and id
under the app's secret key: a link cannot be guessed from an invoice id.
"""

from __future__ import annotations

import hashlib
import hmac
import typing as t

from flask import Blueprint
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from .errors import EmulatorFault
from .rules.flags import sales_form_flag
from .ui_context import SESSION_CSRF
from .ui_context import csrf_token

if t.TYPE_CHECKING:
    from .app import Emulator

bp = Blueprint("emulator_pay", __name__, template_folder="templates")
#: The invoice flags that say a customer may pay it online.
ONLINE_FLAGS = ("AllowOnlineCreditCardPayment", "AllowOnlineACHPayment")


def _emu() -> Emulator:
    return t.cast("Emulator", current_app.extensions["qbo_emulator"])


def _token(realm: str, invoice_id: str) -> str:
    key = str(current_app.secret_key or "").encode()
    return hmac.new(key, f"{realm}/{invoice_id}".encode(), hashlib.sha256).hexdigest()[:32]


def invoice_link(realm: str, invoice: dict[str, t.Any]) -> str | None:
    """The payment link of a presented invoice, or None where QBO would give none."""
    emu = _emu()
    company = emu.store.company(realm)
    payable = any(invoice.get(flag) is True for flag in ONLINE_FLAGS)
    has_email = bool((invoice.get("BillEmail") or {}).get("Address"))
    voided = str(invoice.get("PrivateNote", "")).startswith("Voided")
    if not (sales_form_flag(company, "ETransactionPaymentEnabled") and payable and has_email) or voided:
        return None
    base = emu.config.base_url.rstrip("/")
    return f"{base}/pay/{realm}/{invoice['Id']}/{_token(realm, str(invoice['Id']))}"


def wants_invoice_link() -> bool:
    """True when the request's ``include`` names ``invoiceLink`` (case-insensitive)."""
    return "invoicelink" in {part.strip().lower() for part in request.args.get("include", "").split(",")}


def _invoice(realm: str, invoice_id: str, token: str) -> dict[str, t.Any]:
    """The invoice a link names; a forged or stale link is a 404."""
    if not hmac.compare_digest(token.encode(), _token(realm, invoice_id).encode()):
        raise NotFound("This payment link is not valid.")
    try:
        invoice = _emu().store.read(realm, "Invoice", invoice_id)
    except EmulatorFault:
        raise NotFound("This payment link is not valid.") from None
    if invoice_link(realm, invoice) is None:
        raise NotFound("This invoice cannot be paid online.")
    return invoice


@bp.route("/pay/<realm>/<invoice_id>/<token>", methods=["GET", "POST"])
def pay_page(realm: str, invoice_id: str, token: str) -> Response | tuple[str, int]:
    """Show the invoice's balance; paying records a Payment of all of it."""
    if not _emu().store.has_company(realm):
        raise NotFound("This payment link is not valid.")
    invoice = _invoice(realm, invoice_id, token)
    error: EmulatorFault | None = None
    if request.method == "POST":
        expected = session.get(SESSION_CSRF, "")
        sent = request.form.get("csrf_token", "")
        if not expected or not hmac.compare_digest(str(sent).encode(), str(expected).encode()):
            raise BadRequest("The form expired. Reload the page and try again.")
        try:
            _emu().store.pay_invoice(realm, invoice_id, note="Paid online through the payment link")
        except EmulatorFault as fault:
            error = fault
        else:
            return redirect(request.path)
    company_name = next((name for r, name in _emu().store.companies() if r == realm), "")
    html = render_template(
        "emulator/pay.html", invoice=invoice, company_name=company_name, csrf_token=csrf_token, error=error
    )
    return html, (error.status if error else 200)
