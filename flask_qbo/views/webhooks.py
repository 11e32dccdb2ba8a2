"""The webhook endpoint: ``POST <QBO_URL_PREFIX>/webhooks``, HTTP only.

Intuit wants a 200 within three seconds and retries (resending the same event
ids) otherwise, so this view only reads the body, has it verified and parsed
(:mod:`flask_qbo.intuit.notifications`), stores it
(:func:`flask_qbo.sync.pull.receive.store_events`) and wakes the runner: no QBO
call happens here.  :mod:`flask_qbo.sync.pull` does the work.

Once the signature is valid and the body is JSON the answer is 200: every
readable event is stored and every malformed part (an event without an entity
id, a realm id that is not ASCII digits, a body that is not a notification at
all) is recorded as a ``webhook``/``malformed`` sync-log row for the health
page.  Only a body larger than ``QBO_WEBHOOK_MAX_BYTES`` (413), with a wrong
signature (401), or that is not JSON or nests deeper than
:data:`flask_qbo.intuit.jsonbody.MAX_JSON_DEPTH` (400) is refused.

The endpoint is exempt from CSRF by design: it is called by Intuit, not a
browser, and is authenticated by the ``intuit-signature`` HMAC of the raw body.
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from .. import signals
from ..config import get_config
from ..intuit.notifications import SIGNATURE_HEADER
from ..intuit.notifications import MalformedNotification
from ..intuit.notifications import parse_notification
from ..intuit.notifications import verify_signature
from ..state import DEFAULT_TENANT
from ..state import get_qbo
from ..state import wake
from ..sync.pull.receive import store_events
from .csrf import exempt_from_host_csrf

log = logging.getLogger(__name__)

bp = Blueprint("qbo_webhooks", __name__)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify({"error": message}), status


@bp.route("/webhooks", methods=["POST"])
def receive() -> ResponseReturnValue:
    """Authenticate, parse and store one notification; never calls QBO."""
    limit = int(get_config("QBO_WEBHOOK_MAX_BYTES"))
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the sender is the real app
    if request.content_length is not None and request.content_length > limit:
        signals.webhook_verified.send(app, outcome="malformed")
        return _error(413, "Notification body too large.")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        signals.webhook_verified.send(app, outcome="malformed")
        return _error(413, "Notification body too large.")
    token = get_config("QBO_WEBHOOK_VERIFIER_TOKEN")
    if not token:
        log.error("Webhook refused: QBO_WEBHOOK_VERIFIER_TOKEN is not configured.")
    if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), token):
        log.warning("Webhook refused: missing or invalid intuit-signature.")
        signals.webhook_verified.send(app, outcome="forged")
        return _error(401, "Invalid signature.")
    try:
        notification = parse_notification(body)
    except MalformedNotification as exc:
        log.warning("Webhook refused: %s.", exc)
        signals.webhook_verified.send(app, outcome="malformed")
        return _error(400, f"Malformed notification: {exc}.")
    signals.webhook_verified.send(app, outcome="ok")
    qbo = get_qbo()
    # A single-tenant host's one tenant sees every malformed part, even one naming no realm.
    fallback = None if qbo._has_tenant_loader else DEFAULT_TENANT
    counts = store_events(qbo.state().session, notification, fallback)
    if counts["stored"]:
        wake(reason="webhook")
    return jsonify(counts), 200


@bp.record_once
def _exempt_from_csrf(state: BlueprintSetupState) -> None:
    """Intuit signs webhooks; a browser session never does: the host's CSRFProtect must leave them alone."""
    exempt_from_host_csrf(state.app, receive)
