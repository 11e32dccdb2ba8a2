"""Intuit's webhook notifications: the signature, both payload formats, and their shape checks.

Intuit signs each notification with ``intuit-signature``, the base64
HMAC-SHA256 of the raw body keyed with the app's verifier token
(:func:`verify_signature`).  A body comes in one of two formats, and
:func:`parse_notification` turns either into the same :class:`Event` records:

* CloudEvents: an array of events (or one event object) whose ``type`` is
  ``qbo.<entity>.<verb>.v1``; verbs are mapped onto the legacy operation names
  so the pull side handles one vocabulary;
* legacy ``eventNotifications``: one element per realm, each listing changed
  entities; such events have no id, so the change itself is their identity.

Only a body that is not JSON, or nests deeper than
:data:`flask_qbo.intuit.jsonbody.MAX_JSON_DEPTH`, is refused as a whole
(:class:`MalformedNotification`).  Every other problem costs only the part it is
in: the part becomes a :class:`Rejected` that names its position, ids and the
reason, never its body.  Ids are refused rather than cut when too long, and
realm and object ids must be in Intuit's form (:mod:`flask_qbo.intuit.ids`).
An unreadable event time costs nothing but the time: the event is kept and
ordered by its arrival.
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

from .ids import has_hidden_characters
from .ids import is_qbo_id
from .ids import realm_id
from .jsonbody import JSONInputError
from .jsonbody import load_json
from .times import parse_time

log = logging.getLogger(__name__)

#: The request header carrying Intuit's signature of the raw body.
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

T = t.TypeVar("T")
P = t.ParamSpec("P")


class MalformedNotification(ValueError):
    """The signed body is not JSON we can read (answered 400, nothing stored)."""


class MalformedEvent(ValueError):
    """One event, or one part of a legacy notification, cannot be stored; the message says why."""


class Event(t.TypedDict):
    """One change Intuit announced, with the columns of its ``qbo_inbox`` row."""

    #: The CloudEvent's id; for a legacy event ``realm:entity:id:operation:lastUpdated``.
    event_id: str
    realm_id: str
    #: QBO entity name (``Customer``, ``SalesReceipt``...).
    entity: str
    entity_id: str
    #: Legacy operation name (``Create``, ``Update``, ``Delete``, ``Merge``, ``Void``, ``Emailed``...).
    operation: str
    #: The merged-away id of a ``Merge``.
    deleted_id: str | None
    event_time: dt.datetime | None
    #: The event as received (compact JSON), for the inbox row.
    raw: str


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
    """What a signed body held: events to store and the parts that could not be."""

    events: list[Event] = dataclasses.field(default_factory=list)
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


def parse_notification(body: bytes) -> Notification:
    """Turn a CloudEvents array or a legacy ``eventNotifications`` body into events.

    Only a body that is not JSON (or nests too deeply to read safely) is refused
    as a whole.  Any other problem costs only the part it is in: Intuit resends
    a refused notification whole, so refusing it for one bad event would delay
    or lose the good ones, and a body that can never be read is better recorded
    (CDC still brings its changes) than retried for days.
    """
    try:
        payload = load_json(body)
    except JSONInputError as exc:
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


# -- reading one part --------------------------------------------------------------


def _kind(value: object) -> str:
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


def _shown(value: object) -> str:
    """A scalar as the health page may show it (shortened), anything else by its kind only."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _kind(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _object(value: object) -> dict[str, t.Any]:
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
    if has_hidden_characters(text):
        # A NUL or a lone surrogate cannot be stored (a 500 that lost the good events); bidi
        # and zero-width characters would make two ids look the same on the health page.
        raise MalformedEvent(f"{key!r} holds control or formatting characters")
    return text


def _qbo_id(record: t.Mapping[str, t.Any], key: str) -> str:
    """An object id an event names: QBO's ids are ASCII digits, so anything else names nothing."""
    text = _text(record, key, 32)
    if not is_qbo_id(text):
        raise MalformedEvent(f"{key!r} is not a QuickBooks id: {_shown(text)}")
    return text


def _realm(record: t.Mapping[str, t.Any], key: str) -> str:
    """The realm an event names, in Intuit's form only (ASCII digits; see :mod:`flask_qbo.intuit.ids`)."""
    text = _text(record, key, 32)
    try:
        return realm_id(text)
    except ValueError as exc:
        raise MalformedEvent(f"{key!r} {str(exc).rstrip('.')}") from None


def _time(record: t.Mapping[str, t.Any], key: str, label: str) -> dt.datetime | None:
    """The event time, ``None`` when absent (CloudEvents makes it optional) or unreadable.

    Every documented form is read (:func:`~flask_qbo.intuit.times.parse_time`):
    ISO 8601 with ``-07:00``, ``-0700`` or ``Z``, and epoch milliseconds as a
    number or a string of digits.  An unreadable time (``"Oct 5 2015"``) does
    not lose the event: it is kept without a time, ordered by its arrival
    (:mod:`flask_qbo.sync.pull.ordering`), and a warning names it.
    """
    value = record.get(key)
    if value is None or value == "":
        return None
    parsed = parse_time(value) if not isinstance(value, str) or len(value) <= 64 else None
    if parsed is None:
        log.warning("Webhook event %s: %r is not a timestamp (%s); ordered by its arrival.", label, key, _shown(value))
    return parsed


def _time_key(value: object) -> str:
    """A legacy event's time as its dedupe key shows it: as sent when short text, else a digest of it.

    The key must stay within its column whatever an unreadable time holds,
    and the same delivery sent again must give the same key.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and len(str(value)) <= 64:
        return str(value)
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256-{digest[:32]}"


def _deleted_id(record: t.Mapping[str, t.Any]) -> str | None:
    """The merged-away id of a Merge event, when there is one, however the key is spelt.

    Intuit's webhook reference spells it ``deletedid`` while captured deliveries
    say ``deletedId``: any casing is read, since a merge read as a plain update
    leaves the link and the invoices on a customer that no longer exists.  Two
    spellings naming different ids make the event unreadable.
    """
    given = {
        key: value
        for key, value in record.items()
        if key.casefold() == "deletedid" and value is not None and value != ""
    }
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not is_qbo_id(str(value)):
            raise MalformedEvent(f"{key!r} is not an id: {_shown(value)}")
    ids = {str(value) for value in given.values()}
    if len(ids) > 1:
        raise MalformedEvent(f"{' and '.join(map(repr, given))} name different ids")
    return ids.pop() if ids else None


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


def _valid(check: t.Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """``check(*args)``, or ``None`` when the field is malformed (to describe a part that failed)."""
    try:
        return check(*args, **kwargs)
    except MalformedEvent:
        return None


def _reason(exc: MalformedEvent) -> str:
    return str(exc).rstrip(".")


# -- CloudEvents -------------------------------------------------------------------


def _cloudevent(event: dict[str, t.Any]) -> Event:
    entity, operation = _type(event)
    data = event.get("data")
    event_id, realm = _text(event, "id", 255), _realm(event, "intuitaccountid")
    return {
        "event_id": event_id,
        "realm_id": realm,
        "entity": entity,
        "entity_id": _qbo_id(event, "intuitentityid"),
        "operation": operation,
        "deleted_id": _deleted_id(data if isinstance(data, dict) else {}),
        "event_time": _time(event, "time", f"{_shown(event_id)} of realm {realm}"),
        "raw": json.dumps(event, separators=(",", ":")),
    }


def _cloudevent_label(event: object) -> str:
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


def _legacy_event(realm: str, entity: dict[str, t.Any]) -> Event:
    name, entity_id = _text(entity, "name", 40), _qbo_id(entity, "id")
    operation = _text(entity, "operation", 20)
    event_time = _time(entity, "lastUpdated", f"{name} {entity_id} {operation} of realm {realm}")
    return {
        # Legacy events have no id: the change itself is the identity.
        "event_id": f"{realm}:{name}:{entity_id}:{operation}:{_time_key(entity.get('lastUpdated'))}",
        "realm_id": realm,
        "entity": name,
        "entity_id": entity_id,
        "operation": operation,
        "deleted_id": _deleted_id(entity),
        "event_time": event_time,
        "raw": json.dumps({"realmId": realm, **entity}, separators=(",", ":")),
    }


def _legacy_label(entity: object) -> str:
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
