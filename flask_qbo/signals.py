"""Blinker signals sent by Flask-QBO.

The sender is always the Flask application object (not the ``current_app`` proxy),
so a receiver can connect for one app only.  Keyword arguments are listed under
each signal.
"""

from __future__ import annotations

import typing as t

from blinker import Namespace
from flask import current_app
from flask import has_app_context

if t.TYPE_CHECKING:
    from flask import Flask

_signals = Namespace()

connected = _signals.signal("qbo-connected")
"""A tenant connected a QBO company.  kwargs: ``connection``, ``user``."""

disconnected = _signals.signal("qbo-disconnected")
"""A connection was disconnected.  kwargs: ``connection``, ``purged`` (bool)."""

token_rotated = _signals.signal("qbo-token-rotated")
"""Tokens were refreshed and stored.  kwargs: ``connection`` (never the tokens)."""

needs_reconnect = _signals.signal("qbo-needs-reconnect")
"""Refresh failed for good; an admin must reconnect.  kwargs: ``connection``, ``reason``."""

expiry_warning = _signals.signal("qbo-expiry-warning")
"""The refresh token expires soon; an admin should reconnect.  kwargs: ``connection``,
``days`` (the threshold crossed, e.g. 30 or 7), ``expires_at``."""

pushed = _signals.signal("qbo-pushed")
"""A contact was written to QBO.  kwargs: ``contact_key``, ``qbo_id``, ``operation``, ``fields``."""

pulled = _signals.signal("qbo-pulled")
"""A QBO change was applied locally.  kwargs: ``realm_id``, ``entity``, ``qbo_id``, ``contact_key``."""

sync_failed = _signals.signal("qbo-sync-failed")
"""A push or pull failed in a way a person must look at.  kwargs: ``contact_key``, ``error``."""

conflict = _signals.signal("qbo-conflict")
"""Both sides changed the same field.  kwargs: ``contact_key``, ``field``, ``crm_value``,
``qbo_value``, ``winner``, and the two times newest-wins compared, ``crm_changed_at`` and
``qbo_changed_at`` (aware datetimes, or None when unknown)."""

# -- quote-to-cash: for hosts' automations (flask_qbo.billing) ---------------------------

document_created = _signals.signal("qbo-document-created")
"""QBO made an estimate or invoice the CRM asked for.  kwargs: ``tenant_key``, ``contact_key``,
``txn_type`` (``Invoice`` or ``Estimate``), ``qbo_id``, ``doc_number``, ``total`` (Decimal), ``user``
(who saved the form, or None)."""

document_sent = _signals.signal("qbo-document-sent")
"""QBO emailed a document (``/send``).  kwargs: ``tenant_key``, ``contact_key``, ``txn_type``,
``qbo_id``, ``doc_number``, ``sent_to``."""

invoice_paid = _signals.signal("qbo-invoice-paid")
"""A mirrored invoice's balance reached 0 (seen by pull), once per invoice.  kwargs: ``realm_id``,
``tenant_key``, ``contact_key`` (None when the customer is not linked), ``qbo_id``, ``doc_number``, ``total``."""

invoice_overdue = _signals.signal("qbo-invoice-overdue")
"""The daily sweep found an open invoice past its due date, once per invoice.  kwargs: ``realm_id``,
``tenant_key``, ``contact_key``, ``qbo_id``, ``doc_number``, ``balance``, ``due_date``."""

estimate_accepted = _signals.signal("qbo-estimate-accepted")
"""A mirrored estimate became ``Accepted`` (seen by pull), once per estimate.  kwargs: ``realm_id``,
``tenant_key``, ``contact_key``, ``qbo_id``, ``doc_number``, ``total``."""

# -- operations: what the metrics layer (flask_qbo.ops.metrics) counts --------------------
# Low layers only send these; nothing subscribes unless the host enables metrics.
# ``realm_id`` kwargs may be ``None`` when the sender does not know the realm.

#: One HTTP attempt to the Accounting API ended.  kwargs: ``realm_id``, ``entity`` (the
#: URL's first path segment: ``customer``, ``query``, ``cdc``, ``batch`` ...), ``status``
#: (the HTTP status, ``None`` when QBO did not answer) and ``code`` (Intuit's error code or ``None``).
qbo_request = _signals.signal("qbo-request")

#: A call waited for the client-side throttle before it could be sent.  kwargs: ``realm_id``,
#: ``seconds`` (the total wait of that call), ``batch`` (bool).
throttle_waited = _signals.signal("qbo-throttle-waited")

#: A token refresh failed.  kwargs: ``connection``, ``reason`` (``invalid_grant``, another
#: OAuth error code, ``transient`` or ``no_token``); never a token.
token_refresh_failed = _signals.signal("qbo-token-refresh-failed")

#: The webhook endpoint judged a notification.  kwargs: ``outcome``: ``ok``, ``forged``
#: (missing or invalid signature) or ``malformed`` (too large, not JSON, not a notification).
webhook_verified = _signals.signal("qbo-webhook-verified")

#: QBO answered the push of an outbox row and the row was settled.  kwargs: ``tenant_key``,
#: ``realm_id``, ``outcome`` (``done``, ``failed`` or ``dead``), ``created_at`` (when the row was written).
push_settled = _signals.signal("qbo-push-settled")

#: A QBO object (from a webhook event or CDC) changed the local mirror.  kwargs: ``realm_id``,
#: ``entity``, ``changed_at`` (its ``MetaData.LastUpdatedTime``, ``None`` when absent).
pull_applied = _signals.signal("qbo-pull-applied")


def current_sender() -> Flask | None:
    """The current app object as a signal's sender, or ``None`` outside an app context.

    For the intuit layer, whose objects do not keep the app: their calls run in
    the app context of the runner or request that made them.
    """
    if not has_app_context():
        return None
    return t.cast("Flask", current_app._get_current_object())  # type: ignore[attr-defined]  # werkzeug proxy
