"""Row actions on an estimate or invoice in the folder: send, copy the payment link, convert, void, delete.

Each button opens a small panel above the table (htmx) or its own page
(without JavaScript): the send address to confirm, the payment link read live
from QBO, or "Void invoice 1042?".  Confirming posts (CSRF-checked) and
queues the action in the outbox through :mod:`flask_qbo.billing.actions`, whose
rules decide again whether QBO would accept it (the page may be stale).  The
same checks as the form guard every endpoint: the viewer's tenant (404),
``@qbo.can_bill`` (403), a connected company (409).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue

from ..billing.actions import ACTIONS
from ..billing.actions import PaymentLink
from ..billing.actions import allowed_actions
from ..billing.actions import bill_email
from ..billing.actions import convert_estimate
from ..billing.actions import is_converted
from ..billing.actions import payment_link
from ..billing.actions import pending_actions
from ..billing.actions import queue_action
from ..billing.problems import ActionRefused
from ..billing.validate import email_problem
from ..config import contact_page_url
from ..config import emulator_url
from ..errors import QBOError
from ..models import Transaction
from ..state import get_qbo
from ..state import wake
from ..widgets import data
from ..widgets.deeplinks import valid_id
from .billing import Billing
from .billing import contact_email
from .billing import folder
from .billing import load_billing
from .billing import render
from .billing_folder import ACTION_LABELS
from .csrf import csrf_protect

bp = Blueprint("qbo_billing_actions", __name__, template_folder="../templates")

#: What a confirmed action tells the salesperson.
DONE = {
    "send": "Sending the {name} through QuickBooks…",
    "convert": "Converting the estimate into an invoice…",
    "void": "Voiding the {name}…",
    "delete": "Deleting the {name}…",
}
#: The panel's heading per action: what it does, to which document ("Void invoice 1042").
HEADINGS = {
    "send": "Send {name} {number}",
    "payment_link": "Payment link for {name} {number}",
    "convert": "Convert {name} {number} to an invoice",
    "void": "Void {name} {number}",
    "delete": "Delete {name} {number}",
}
#: The payment link panel when QBO could not be asked (an outage, throttling, a reconnect needed).
UNREACHABLE = "QuickBooks could not be asked for the payment link just now. Try again in a moment."


def _document(billing: Billing, txn_type: str, qbo_id: str) -> Transaction:
    """The contact's own estimate or invoice (404 for anything else, including another customer's)."""
    if txn_type not in ("Invoice", "Estimate") or valid_id(qbo_id) is None or billing.ctx.customer is None:
        abort(404)
    txn = data.find_transaction(get_qbo().state().session, billing.ctx.customer, txn_type, qbo_id)
    if txn is None:
        abort(404)
    return txn


def _allowed(billing: Billing, txn: Transaction) -> list[str]:
    session, tenant_key, contact_key = get_qbo().state().session, billing.ctx.tenant_key, billing.ctx.contact_key
    ops = pending_actions(session, tenant_key, contact_key).get((txn.txn_type, txn.qbo_id), set())
    converted = is_converted(session, tenant_key, contact_key, txn)
    return allowed_actions(txn, billing.catalog.prefs, ops, converted=converted)


def _panel(billing: Billing, txn: Transaction, action: str, status: int = 200, **context: object) -> Response:
    key = billing.ctx.contact_key
    name = "estimate" if txn.txn_type == "Estimate" else "invoice"
    heading = " ".join(HEADINGS[action].format(name=name, number=txn.doc_number or "").split())
    return render(
        "_action.html",
        heading,
        status,
        ctx=billing.ctx,
        txn=txn,
        name=name,
        action=action,
        heading=heading,
        post_url=url_for(".act", contact_key=key, txn_type=txn.txn_type, qbo_id=txn.qbo_id, action=action),
        cancel_url=url_for("qbo_widgets.transactions", contact_key=key),
        back_url=contact_page_url(key),
        currency=txn.currency or billing.currency,
        **context,
    )


@bp.get("/<contact_key>/txn/<txn_type>/<qbo_id>/<action>")
def panel(contact_key: str, txn_type: str, qbo_id: str, action: str) -> Response:
    """The action's panel: the address to send to, the payment link, or the confirmation."""
    billing = load_billing(contact_key)
    if action not in ACTION_LABELS:
        abort(404)
    txn = _document(billing, txn_type, qbo_id)
    if action not in _allowed(billing, txn):
        return _panel(billing, txn, action, 409, refused=f"This {txn_type.lower()} cannot be changed that way now.")
    if action == "payment_link":
        link = _read_link(billing, txn)
        return _panel(billing, txn, action, link=link.url, no_link=link.problem)
    return _panel(billing, txn, action, send_to=bill_email(txn) or contact_email(billing) or "")


def _read_link(billing: Billing, txn: Transaction) -> PaymentLink:
    """The invoice's payment link, read from QBO now (the mirror does not keep it: links expire)."""
    connection = billing.ctx.connection
    if connection is None:
        return PaymentLink(None, UNREACHABLE)
    try:
        return payment_link(get_qbo().client(connection), txn.qbo_id, emulator_url())
    except QBOError as exc:
        current_app.logger.warning("QBO payment link read failed for invoice %s: %s", txn.qbo_id, type(exc).__name__)
        return PaymentLink(None, UNREACHABLE)


@bp.post("/<contact_key>/txn/<txn_type>/<qbo_id>/<action>")
@csrf_protect
def act(contact_key: str, txn_type: str, qbo_id: str, action: str) -> ResponseReturnValue:
    """Queue the confirmed action; a refused one comes back in its panel with the reason."""
    billing = load_billing(contact_key)
    if action not in ACTIONS or action not in ACTION_LABELS or action == "payment_link":
        abort(404)
    txn = _document(billing, txn_type, qbo_id)
    session = get_qbo().state().session
    send_to = (request.form.get("send_to") or "").strip()
    problem = email_problem("send_to", send_to) if action == "send" and send_to else None
    if problem is not None:  # the same rule as the document's BillEmail, so QBO is not asked to mail nonsense
        return _panel(billing, txn, action, 422, send_to=send_to, send_problem=problem.message)
    try:
        if action == "convert":
            convert_estimate(
                session,
                tenant_key=billing.ctx.tenant_key,
                contact_key=billing.ctx.contact_key,
                estimate=txn,
                catalog=billing.catalog,
                created_by=get_qbo()._current_user_name(),
            )
        else:
            queue_action(
                session,
                tenant_key=billing.ctx.tenant_key,
                contact_key=billing.ctx.contact_key,
                txn=txn,
                action=action,
                send_to=send_to or None,
            )
    except ActionRefused as exc:
        session.rollback()
        return _panel(billing, txn, action, 409, refused=exc.message, send_to=send_to)
    session.commit()
    wake(reason=action)
    return folder(billing, DONE[action].format(name=txn_type.lower()))


__all__ = ["bp"]
