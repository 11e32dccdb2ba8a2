"""Request-scoped helpers of the emulator web UI: which emulator, company and record.

Everything a view needs before it can render: the emulator behind the current
app, the company this request is about (settled by ``ui``'s request hook),
ids checked to be all digits before they reach the store, links that keep the
company pinned, and the session's form token. Kept apart from the views so
the read helpers in :mod:`.ui_queries` can use them too.
"""

from __future__ import annotations

import re
import secrets
import typing as t
from datetime import date

from flask import current_app
from flask import g
from flask import session
from flask import url_for
from werkzeug.exceptions import NotFound

from .errors import EmulatorFault

if t.TYPE_CHECKING:
    from .app import Emulator

#: Deep-link page name -> QBO entity, as in Intuit's web app.
TXN_PAGES: dict[str, str] = {
    "invoice": "Invoice",
    "recvpayment": "Payment",
    "estimate": "Estimate",
    "salesreceipt": "SalesReceipt",
    "creditmemo": "CreditMemo",
    "refundreceipt": "RefundReceipt",
}
PAGE_FOR_ENTITY = {entity: page for page, entity in TXN_PAGES.items()}

DIGITS = re.compile(r"[0-9]{1,20}")
SESSION_REALM = "emulator_ui_realm"
SESSION_CSRF = "emulator_ui_csrf"

Record = dict[str, t.Any]


def emulator() -> Emulator:
    """The emulator serving this request (the app's ``qbo_emulator`` extension)."""
    return t.cast("Emulator", current_app.extensions["qbo_emulator"])


def valid_id(value: str | None, what: str) -> str:
    """Return ``value`` if it is a plausible QBO id, else answer 404."""
    if value is None or not DIGITS.fullmatch(value):
        raise NotFound(f"No {what} with that id.")
    return value


def read_record(realm: str, entity: str, entity_id: str) -> Record:
    """One record as the API shows it; an unknown id is a 404 page, not a QBO fault."""
    try:
        return emulator().store.read(realm, entity, entity_id)
    except EmulatorFault as fault:
        if fault.code == "610":
            raise NotFound(f"No {entity} {entity_id} in this company.") from None
        raise


def csrf_token() -> str:
    """The session's form token, created on first use."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = token
    return t.cast(str, token)


def current_realm() -> str:
    """The company this request is about (set by the UI's request hook)."""
    realm = t.cast("str | None", g.get("ui_realm"))
    if realm is None:
        raise NotFound("The emulator has no companies yet.")
    return realm


def link(endpoint: str, **params: str) -> str:
    """URL inside the UI that pins the current company, so tabs stay consistent."""
    realm = g.get("ui_realm")
    if realm is not None:
        params.setdefault("companyId", realm)
    # all query values; typed loosely only so mypy does not match them to url_for's own _external etc.
    values: dict[str, t.Any] = dict(params)
    return url_for(f"emulator_ui.{endpoint}", **values)


def txn_link(entity: str, txn_id: str) -> str:
    """The deep link of one sales document (``/app/invoice?txnId=…``)."""
    return link(PAGE_FOR_ENTITY[entity], txnId=txn_id)


def clock_today() -> date:
    """Today by the emulator's clock (which tests may move), not the host's."""
    return emulator().clock.now().date()
