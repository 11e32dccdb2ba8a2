"""The webhook endpoint: ``POST <QBO_URL_PREFIX>/webhooks``.

Intuit wants a 200 within three seconds and retries (resending the same event
ids) otherwise, so this view only authenticates, parses and stores: no QBO call
happens here.  :mod:`flask_qbo.pull` does the work after the runner is woken.

Once the signature is valid and the body is JSON the answer is 200: every
readable event is stored and every malformed part (an event without an entity
id, a realm id that is not ASCII digits, a body that is not a notification at
all) is recorded as a ``webhook``/``malformed`` sync-log row for the health
page.  Only a body that is not JSON, or nests deeper than
:data:`flask_qbo.intuit.inputs.MAX_JSON_DEPTH`, is refused (400).

The endpoint is exempt from CSRF by design: it is called by Intuit, not a
browser, and is authenticated by the ``intuit-signature`` HMAC of the raw body.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
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
from ..intuit import inputs
from ..models import Connection
from ..models import Inbox
from ..models import SyncLog
from ..models import utcnow
from ..state import DEFAULT_TENANT
from ..state import get_qbo
from ..sync.pull.parsing import parse_time

log = logging.getLogger("flask_qbo.webhooks")

bp = Blueprint("qbo_webhooks", __name__)

SIGNATURE_HEADER = "intuit-signature"

#: CloudEvents ``type`` entity segments → QBO entity names (anything else is title-cased).
_ENTITY_NAMES = {
    name.lower(): name
    for name in (
        "Customer",
        "Invoice",
        "Payment",
        "Estimate",
        "SalesReceipt",
        "CreditMemo",
        "RefundReceipt",
        "Term",
        "PaymentMethod",
        "Vendor",
        "Employee",
        "Item",
        "Account",
        "BillPayment",
        "PurchaseOrder",
    )
}
#: CloudEvents verbs → legacy operation names, so pull handles one vocabulary.
_VERBS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "void": "Void",
    "voided": "Void",
    "emailed": "Emailed",
}


#: Malformed parts of one notification recorded one by one; the rest share one summary
#: row, so a signed body of a million broken events cannot write a million rows.
#: Intuit sends at most 100 events per notification.
MAX_RECORDED = 100

T = t.TypeVar("T")


class MalformedNotification(ValueError):
    """The signed body is not JSON we can read (answered 400, nothing stored)."""


class MalformedEvent(ValueError):
    """One event, or one part of a legacy notification, cannot be stored; the message says why."""


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A malformed part of a notification, recorded for the health page instead of stored.

    Only the part's position, ids and the reason are kept, never its body.
    """

    message: str
    realm_id: str | None = None
    entity_id: str | None = None


@dataclasses.dataclass
class Notification:
    """What a signed body held: inbox-row dicts to store and the parts that could not be."""

    events: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    rejected: list[Rejected] = dataclasses.field(default_factory=list)


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


# -- reading one part --------------------------------------------------------------


def _kind(value: t.Any) -> str:
    """What a JSON value is, in words, for messages that must not repeat the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def _shown(value: t.Any) -> str:
    """A scalar as the health page may show it (shortened), anything else by its kind only."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _kind(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _object(value: t.Any) -> dict[str, t.Any]:
    """An event or notification element, which must be a JSON object."""
    if not isinstance(value, dict):
        raise MalformedEvent(f"it is {_kind(value)}, not an object")
    return value


def _text(record: t.Mapping[str, t.Any], key: str, limit: int) -> str:
    """A required id-like field as text (JSON numbers accepted), refused rather than cut when too long.

    Cutting would point an event at another entity, or make two events share a dedupe key.
    """
    value = record.get(key)
    if value is None or value == "":
        raise MalformedEvent(f"{key!r} is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedEvent(f"{key!r} is not text")
    text = str(value)
    if len(text) > limit:
        raise MalformedEvent(f"{key!r} is longer than {limit} characters")
    if inputs.has_hidden_characters(text):
        # A NUL or a lone surrogate cannot be stored (a 500 that lost the good events); bidi
        # and zero-width characters would make two ids look the same on the health page.
        raise MalformedEvent(f"{key!r} holds control or formatting characters")
    return text


def _qbo_id(record: t.Mapping[str, t.Any], key: str) -> str:
    """An object id an event names: QBO's ids are ASCII digits, so anything else names nothing."""
    text = _text(record, key, 32)
    if not inputs.is_qbo_id(text):
        raise MalformedEvent(f"{key!r} is not a QuickBooks id: {_shown(text)}")
    return text


def _realm(record: t.Mapping[str, t.Any], key: str) -> str:
    """The realm an event names, in Intuit's form only (ASCII digits; see :mod:`flask_qbo.intuit.inputs`)."""
    text = _text(record, key, 32)
    try:
        return inputs.realm_id(text)
    except ValueError as exc:
        raise MalformedEvent(f"{key!r} {str(exc).rstrip('.')}") from None


def _time(record: t.Mapping[str, t.Any], key: str) -> dt.datetime | None:
    """The event time: absent is allowed (CloudEvents makes it optional), unreadable is not.

    A real timestamp is at most 35 characters; the bound keeps the legacy dedupe
    key built from it within its column.
    """
    value = record.get(key)
    if value is None or value == "":
        return None
    parsed = parse_time(value) if isinstance(value, str) and len(value) <= 64 else None
    if parsed is None:
        raise MalformedEvent(f"{key!r} is not a timestamp: {_shown(value)}")
    return parsed


def _deleted_id(record: t.Mapping[str, t.Any]) -> str | None:
    """The merged-away id of a Merge event, when there is one."""
    value = record.get("deletedId")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not inputs.is_qbo_id(str(value)):
        raise MalformedEvent(f"'deletedId' is not an id: {_shown(value)}")
    return str(value)


def _type(event: t.Mapping[str, t.Any]) -> tuple[str, str]:
    """``qbo.<entity>.<verb>.v1`` → (QBO entity name, legacy operation name)."""
    text = _text(event, "type", 255)
    parts = text.split(".")
    if len(parts) < 3 or not parts[1] or not parts[2]:
        raise MalformedEvent(f"unexpected event type {_shown(text)}")
    entity = _ENTITY_NAMES.get(parts[1].lower(), parts[1][:1].upper() + parts[1][1:])
    operation = _VERBS.get(parts[2].lower(), parts[2][:1].upper() + parts[2][1:])
    if len(entity) > 40 or len(operation) > 20:
        raise MalformedEvent(f"unexpected event type {_shown(text)}")
    return entity, operation


def _valid(check: t.Callable[..., T], *args: t.Any) -> T | None:
    """``check(*args)``, or ``None`` when the field is malformed (to describe a part that failed)."""
    try:
        return check(*args)
    except MalformedEvent:
        return None


def _reason(exc: MalformedEvent) -> str:
    return str(exc).rstrip(".")


# -- CloudEvents -------------------------------------------------------------------


def _cloudevent(event: dict[str, t.Any]) -> dict[str, t.Any]:
    entity, operation = _type(event)
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    return {
        "event_id": _text(event, "id", 255),
        "realm_id": _realm(event, "intuitaccountid"),
        "entity": entity,
        "entity_id": _qbo_id(event, "intuitentityid"),
        "operation": operation,
        "deleted_id": _deleted_id(data),
        "event_time": _time(event, "time"),
        "raw": json.dumps(event, separators=(",", ":")),
    }


def _cloudevent_label(event: t.Any) -> str:
    """How the health page names an event: its id and type, where they are text."""
    record = event if isinstance(event, dict) else {}
    named = [f"{key} {_shown(record[key])}" for key in ("id", "type") if isinstance(record.get(key), str)]
    return f" ({', '.join(named)})" if named else ""


def _cloudevents(batch: list[t.Any], notification: Notification) -> None:
    for number, event in enumerate(batch, 1):
        try:
            notification.events.append(_cloudevent(_object(event)))
        except MalformedEvent as exc:
            record = event if isinstance(event, dict) else {}
            notification.rejected.append(
                Rejected(
                    f"CloudEvent {number} of {len(batch)}{_cloudevent_label(event)}: {_reason(exc)}.",
                    _valid(_realm, record, "intuitaccountid"),
                    _valid(_qbo_id, record, "intuitentityid"),
                )
            )


# -- legacy eventNotifications -------------------------------------------------------


def _legacy_entities(notification: t.Mapping[str, t.Any]) -> list[t.Any]:
    change = notification.get("dataChangeEvent")
    entities = change.get("entities") if isinstance(change, dict) else None
    if not isinstance(entities, list):
        raise MalformedEvent("'dataChangeEvent.entities' is not a list")
    return entities


def _legacy_event(realm: str, entity: dict[str, t.Any]) -> dict[str, t.Any]:
    name, entity_id = _text(entity, "name", 40), _qbo_id(entity, "id")
    operation, event_time = _text(entity, "operation", 20), _time(entity, "lastUpdated")
    updated = entity.get("lastUpdated") or ""
    return {
        # Legacy events have no id: the change itself is the identity.
        "event_id": f"{realm}:{name}:{entity_id}:{operation}:{updated}",
        "realm_id": realm,
        "entity": name,
        "entity_id": entity_id,
        "operation": operation,
        "deleted_id": _deleted_id(entity),
        "event_time": event_time,
        "raw": json.dumps({"realmId": realm, **entity}, separators=(",", ":")),
    }


def _legacy_label(entity: t.Any) -> str:
    record = entity if isinstance(entity, dict) else {}
    name, entity_id = _valid(_text, record, "name", 40), _valid(_qbo_id, record, "id")
    return f" ({name} {entity_id})" if name and entity_id else ""


def _legacy(notifications: list[t.Any], result: Notification) -> None:
    """Each element is one realm's changes: a bad element loses its entities, a bad entity only itself."""
    for number, element in enumerate(notifications, 1):
        where = f"Notification {number} of {len(notifications)}"
        record = element if isinstance(element, dict) else {}
        try:
            realm = _realm(_object(element), "realmId")
            entities = _legacy_entities(record)
        except MalformedEvent as exc:
            listed = _valid(_legacy_entities, record)
            lost = "" if listed is None else f" ({len(listed)} {'entity' if len(listed) == 1 else 'entities'})"
            result.rejected.append(Rejected(f"{where}{lost}: {_reason(exc)}.", _valid(_realm, record, "realmId")))
            continue
        for index, entity in enumerate(entities, 1):
            try:
                result.events.append(_legacy_event(realm, _object(entity)))
            except MalformedEvent as exc:
                fields = entity if isinstance(entity, dict) else {}
                result.rejected.append(
                    Rejected(
                        f"{where}, entity {index} of {len(entities)}{_legacy_label(entity)}: {_reason(exc)}.",
                        realm,
                        _valid(_qbo_id, fields, "id"),
                    )
                )


def parse_notification(body: bytes) -> Notification:
    """Turn a CloudEvents array or a legacy ``eventNotifications`` body into inbox-row dicts.

    Only a body that is not JSON (or nests too deeply to read safely) is refused
    as a whole.  Any other problem costs only the part it is in: Intuit resends
    a refused notification whole, so refusing it for one bad event would delay
    or lose the good ones, and a body that can never be read is better recorded
    (CDC still brings its changes) than retried for days.
    """
    try:
        payload = inputs.load_json(body)
    except inputs.JSONInputError as exc:
        raise MalformedNotification(str(exc)) from None
    result = Notification()
    if isinstance(payload, dict) and "specversion" in payload and "eventNotifications" not in payload:
        payload = [payload]
    if isinstance(payload, list):
        _cloudevents(payload, result)
    elif isinstance(payload, dict) and isinstance(payload.get("eventNotifications"), list):
        _legacy(payload["eventNotifications"], result)
    elif isinstance(payload, dict) and "eventNotifications" in payload:
        result.rejected.append(Rejected("The notification's 'eventNotifications' is not a list."))
    else:
        what = "an object without 'eventNotifications'" if isinstance(payload, dict) else _kind(payload)
        result.rejected.append(
            Rejected(f"The notification is {what}, not a CloudEvents array or an eventNotifications object.")
        )
    return result


# -- storing -------------------------------------------------------------------------


def store_events(session: t.Any, notification: Notification, fallback_tenant: str | None = None) -> dict[str, int]:
    """Insert new events into ``qbo_inbox`` and record the malformed parts; ignore duplicates, unknown realms.

    Duplicates are filtered against existing ids first (the common case: an
    Intuit retry) and a concurrent insert of the same id is caught by the unique
    constraint, so two workers receiving the same retry both answer 200.
    A malformed part is shown to the tenant connected to the realm it names, or
    to ``fallback_tenant`` (the only tenant of a single-tenant host) when it
    names none.
    """
    events, rejected = notification.events, notification.rejected
    counts = {"stored": 0, "duplicates": 0, "ignored": 0, "malformed": len(rejected)}
    realms = {event["realm_id"] for event in events} | {part.realm_id for part in rejected if part.realm_id}
    connections = (
        {
            conn.realm_id: conn
            for conn in session.query(Connection).filter(
                Connection.realm_id.in_(realms), Connection.status != "disconnected"
            )
        }
        if realms
        else {}
    )
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
        existing = {event_id for (event_id,) in session.query(Inbox.event_id).filter(Inbox.event_id.in_(list(unique)))}
        counts["duplicates"] += len(existing)
        fresh = [event for event_id, event in unique.items() if event_id not in existing]
        counts["stored"] = _insert(session, fresh)
        counts["duplicates"] += len(fresh) - counts["stored"]
    _record(session, rejected, {realm: conn.tenant_key for realm, conn in connections.items()}, fallback_tenant)
    now = utcnow()
    for realm in realms & set(connections):
        connections[realm].last_webhook_at = now
    session.commit()
    return counts


def _record(session: t.Any, rejected: list[Rejected], tenants: dict[str, str], fallback: str | None) -> None:
    """One ``webhook``/``malformed`` sync-log row per malformed part (bounded), for the health page."""
    for part in rejected[:MAX_RECORDED]:
        log.warning("Webhook part not stored (realm %s): %s", part.realm_id or "unknown", part.message)
        tenant = tenants.get(part.realm_id or "", fallback)
        session.add(
            SyncLog(
                tenant_key=tenant,
                realm_id=part.realm_id,
                qbo_id=part.entity_id,
                direction="webhook",
                action="malformed",
                message=part.message,
            )
        )
    if len(rejected) > MAX_RECORDED:
        more = (
            f"{len(rejected) - MAX_RECORDED} more malformed part(s) of this notification were not recorded one by one."
        )
        log.warning("Webhook: %s", more)
        session.add(SyncLog(tenant_key=fallback, direction="webhook", action="malformed", message=more))


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
        from ..state import wake
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
        notification = parse_notification(body)
    except MalformedNotification as exc:
        log.warning("Webhook refused: %s.", exc)
        return _error(400, f"Malformed notification: {exc}.")
    qbo = get_qbo()
    # A single-tenant host's one tenant sees every malformed part, even one naming no realm.
    fallback = None if qbo.has_tenant_loader else DEFAULT_TENANT
    counts = store_events(qbo.state().db.session, notification, fallback)
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
