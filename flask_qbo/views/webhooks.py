"""The webhook endpoint: ``POST <QBO_URL_PREFIX>/webhooks``.

Intuit wants a 200 within three seconds and retries (resending the same event
ids) otherwise, so this view only authenticates, parses and stores: no QBO call
happens here.  :mod:`flask_qbo.pull` does the work after the runner is woken.

The endpoint is exempt from CSRF by design: it is called by Intuit, not a
browser, and is authenticated by the ``intuit-signature`` HMAC of the raw body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import typing as t

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import jsonify
from flask import request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from ..config import get_config
from ..extension import get_qbo
from ..mirror import parse_time
from ..models import Connection
from ..models import Inbox
from ..models import utcnow

log = logging.getLogger("flask_qbo.webhooks")

bp = Blueprint("qbo_webhooks", __name__)

SIGNATURE_HEADER = "intuit-signature"

#: CloudEvents ``type`` entity segments → QBO entity names (anything else is title-cased).
_ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Customer", "Invoice", "Payment", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt",
        "Term", "PaymentMethod", "Vendor", "Employee", "Item", "Account", "BillPayment", "PurchaseOrder",
    )
}
#: CloudEvents verbs → legacy operation names, so pull handles one vocabulary.
_VERBS = {
    "created": "Create", "updated": "Update", "deleted": "Delete", "merged": "Merge",
    "void": "Void", "voided": "Void", "emailed": "Emailed",
}


class MalformedNotification(ValueError):
    """The body is signed but is not a notification we understand (answered 400)."""


def compute_signature(body: bytes, verifier_token: str) -> str:
    """Base64 HMAC-SHA256 of the raw body keyed with the verifier token, as Intuit sends it."""
    digest = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(body: bytes, signature: str | None, verifier_token: str | None) -> bool:
    """True when ``signature`` is Intuit's HMAC of exactly these bytes; compared in constant time."""
    if not signature or not verifier_token:
        return False
    try:
        received = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(received, expected)


def _required(event: t.Mapping[str, t.Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise MalformedNotification(f"event is missing {key!r}")
    return str(value)


def _cloudevent(event: t.Any) -> dict[str, t.Any]:
    if not isinstance(event, dict):
        raise MalformedNotification("a CloudEvents batch must hold objects")
    parts = _required(event, "type").split(".")
    if len(parts) < 3:
        raise MalformedNotification(f"unexpected event type {event.get('type')!r}")
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    deleted = data.get("deletedId")
    return {
        "event_id": _required(event, "id")[:255],
        "realm_id": _required(event, "intuitaccountid")[:32],
        "entity": _ENTITY_NAMES.get(parts[1].lower(), parts[1][:1].upper() + parts[1][1:])[:40],
        "entity_id": _required(event, "intuitentityid")[:32],
        "operation": _VERBS.get(parts[2].lower(), parts[2][:1].upper() + parts[2][1:])[:20],
        "deleted_id": str(deleted)[:32] if deleted else None,
        "event_time": parse_time(event.get("time")),
        "raw": json.dumps(event, separators=(",", ":")),
    }


def _legacy(body: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    notifications = body.get("eventNotifications")
    if not isinstance(notifications, list):
        raise MalformedNotification("eventNotifications must be a list")
    events = []
    for notification in notifications:
        if not isinstance(notification, dict):
            raise MalformedNotification("eventNotifications must hold objects")
        realm = _required(notification, "realmId")[:32]
        change = notification.get("dataChangeEvent")
        entities = change.get("entities") if isinstance(change, dict) else None
        if not isinstance(entities, list):
            raise MalformedNotification("dataChangeEvent.entities must be a list")
        for entity in entities:
            if not isinstance(entity, dict):
                raise MalformedNotification("entities must hold objects")
            name, entity_id = _required(entity, "name"), _required(entity, "id")
            operation, updated = _required(entity, "operation"), str(entity.get("lastUpdated") or "")
            deleted = entity.get("deletedId")
            events.append({
                # Legacy events have no id: the change itself is the identity.
                "event_id": f"{realm}:{name}:{entity_id}:{operation}:{updated}"[:255],
                "realm_id": realm,
                "entity": name[:40],
                "entity_id": entity_id[:32],
                "operation": operation[:20],
                "deleted_id": str(deleted)[:32] if deleted else None,
                "event_time": parse_time(updated),
                "raw": json.dumps({"realmId": realm, **entity}, separators=(",", ":")),
            })
    return events


def parse_notification(body: bytes) -> list[dict[str, t.Any]]:
    """Turn a CloudEvents array or a legacy ``eventNotifications`` body into inbox-row dicts."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedNotification(f"body is not JSON: {exc}") from None
    if isinstance(payload, list):
        return [_cloudevent(event) for event in payload]
    if isinstance(payload, dict) and "eventNotifications" in payload:
        return _legacy(payload)
    if isinstance(payload, dict) and "specversion" in payload:
        return [_cloudevent(payload)]
    raise MalformedNotification("expected a CloudEvents array or an eventNotifications object")


def store_events(session: t.Any, events: list[dict[str, t.Any]]) -> dict[str, int]:
    """Insert new events into ``qbo_inbox``, ignoring duplicates and unknown realms.

    Duplicates are filtered against existing ids first (the common case: an
    Intuit retry) and a concurrent insert of the same id is caught by the unique
    constraint, so two workers receiving the same retry both answer 200.
    """
    counts = {"stored": 0, "duplicates": 0, "ignored": 0}
    realms = {event["realm_id"] for event in events}
    connections = {
        conn.realm_id: conn
        for conn in session.query(Connection).filter(
            Connection.realm_id.in_(realms), Connection.status != "disconnected"
        )
    } if realms else {}
    unique: dict[str, dict[str, t.Any]] = {}
    for event in events:
        if event["realm_id"] not in connections:
            log.info("Ignoring a webhook event for realm %s: no tenant is connected to it.", event["realm_id"])
            counts["ignored"] += 1
        elif event["event_id"] in unique:
            counts["duplicates"] += 1
        else:
            unique[event["event_id"]] = event
    if unique:
        existing = {
            event_id for (event_id,) in session.query(Inbox.event_id).filter(Inbox.event_id.in_(list(unique)))
        }
        counts["duplicates"] += len(existing)
        fresh = [event for event_id, event in unique.items() if event_id not in existing]
        counts["stored"] = _insert(session, fresh)
        counts["duplicates"] += len(fresh) - counts["stored"]
    now = utcnow()
    for realm in {event["realm_id"] for event in events} & set(connections):
        connections[realm].last_webhook_at = now
    session.commit()
    return counts


def _insert(session: t.Any, events: list[dict[str, t.Any]]) -> int:
    session.add_all(Inbox(**event, status="pending") for event in events)
    try:
        session.flush()
        return len(events)
    except IntegrityError:
        session.rollback()
    stored = 0
    for event in events:  # a concurrent delivery raced us: keep what is new, one by one
        try:
            with session.begin_nested():
                session.add(Inbox(**event, status="pending"))
            stored += 1
        except IntegrityError:
            continue
    return stored


def _wake() -> None:
    try:
        from ..runner import wake
    except ImportError:
        return
    wake(current_app._get_current_object(), reason="webhook")  # type: ignore[attr-defined]


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify({"error": message}), status


@bp.route("/webhooks", methods=["POST"])
def receive() -> ResponseReturnValue:
    """Authenticate, parse and store one notification; never calls QBO."""
    limit = int(get_config("QBO_WEBHOOK_MAX_BYTES"))
    if request.content_length is not None and request.content_length > limit:
        return _error(413, "Notification body too large.")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _error(413, "Notification body too large.")
    token = get_config("QBO_WEBHOOK_VERIFIER_TOKEN")
    if not token:
        log.error("Webhook refused: QBO_WEBHOOK_VERIFIER_TOKEN is not configured.")
    if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), token):
        log.warning("Webhook refused: missing or invalid intuit-signature.")
        return _error(401, "Invalid signature.")
    try:
        events = parse_notification(body)
    except MalformedNotification as exc:
        log.warning("Webhook refused: %s.", exc)
        return _error(400, f"Malformed notification: {exc}.")
    counts = store_events(get_qbo().state().db.session, events)
    if counts["stored"]:
        _wake()
    return jsonify(counts), 200


def _exempt(app: Flask) -> None:
    """Tell Flask-WTF's CSRFProtect (when the host uses it) to leave this view alone."""
    csrf = app.extensions.get("csrf")
    if csrf is not None and hasattr(csrf, "exempt"):
        csrf.exempt(receive)


@bp.record_once
def _csrf_exempt(state: BlueprintSetupState) -> None:
    app = state.app
    _exempt(app)
    # CSRFProtect may be set up after Flask-QBO; our hook then runs before its check.
    app.before_request(lambda: _exempt(app))
