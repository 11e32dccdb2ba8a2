"""The v3 Accounting API under ``/v3/company/<realm>/``.

Every request goes through one pipeline (:func:`_run`) that mirrors QBO's
layers: gateway auth (401/403 lower-case bodies), throttling (429), the
``requestid`` replay cache, then the operation itself with Fault bodies for
any :class:`EmulatorFault`.
"""

from __future__ import annotations

import json
import time as time_module
import typing as t
from collections.abc import Callable
from datetime import datetime
from datetime import time

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request

from . import entities
from . import errors
from . import exchange
from . import paylink
from . import query as query_language
from .bodies import BodyError
from .bodies import read_json
from .errors import EmulatorFault
from .preferences import PREFERENCES_ID
from .realms import is_realm_id
from .realms import not_a_realm
from .throttle import Throttled

if t.TYPE_CHECKING:
    from .app import Emulator

bp = Blueprint("emulator_api", __name__, url_prefix="/v3/company/<realm>")
MAX_REQUEST_ID = 50
MAX_BATCH_REQUEST_ID = 36
MAX_BID_WITH_REQUEST_ID = 10
Result = dict[str, t.Any] | Response


def _emu() -> Emulator:
    return t.cast("Emulator", current_app.extensions["qbo_emulator"])


def _json(body: dict[str, t.Any], status: int = 200) -> Response:
    if "time" not in body:
        body = {**body, "time": _emu().clock.iso_ms()}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def wants_xml() -> bool:
    """True when the client's ``Accept`` prefers XML to JSON (QBO's two formats)."""
    best = request.accept_mimetypes.best_match(("application/json", "application/xml", "text/xml"))
    return best is not None and best != "application/json"


def fault_response(fault: EmulatorFault) -> Response:
    """A Fault in the format the client asked for; the gateway's 401/403 envelope is always JSON."""
    clock = _emu().clock
    if fault.status not in (401, 403) and wants_xml():
        response = Response(errors.fault_xml(fault, clock.iso_ms()), status=fault.status, mimetype="application/xml")
    else:
        body = fault.body(clock.iso_ms())
        if fault.status in (401, 403):
            body["time"] = int(clock.timestamp() * 1000)  # the gateway reports epoch milliseconds
        response = _json(body, fault.status)
    if isinstance(fault, Throttled):
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def _run(realm: str, kind: str, action: Callable[[], Result], batch: bool = False) -> Response:
    """Auth → throttle → requestid replay → action, counting as QBO meters."""
    emu = _emu()
    well_formed = is_realm_id(realm)
    if well_formed:  # a malformed id never gets counters (or reaches the throttle and store)
        emu.count(realm, "requests")
    try:
        info = emu.tokens.check_access(_bearer())
        if not well_formed:
            raise errors.forbidden(not_a_realm(realm))
        if info.realm != realm:
            raise errors.forbidden("The access token was issued for a different company")
    except EmulatorFault as fault:
        return fault_response(fault)
    try:
        emu.throttle.acquire(realm, batch=batch)
    except Throttled as fault:
        emu.count(realm, "throttled")
        return fault_response(fault)
    try:
        delay = g.pop("emulator_latency", 0.0)
        if delay:
            time_module.sleep(delay)
        request_id = request.args.get("requestid")
        if request_id is not None:
            limit = MAX_BATCH_REQUEST_ID if batch else MAX_REQUEST_ID
            if len(request_id) > limit:
                return fault_response(
                    errors.request_error(
                        f"requestid length {len(request_id)} exceeds the maximum of {limit} characters", "requestid"
                    )
                )
            cached = emu.replay_lookup(realm, request_id)
            if cached is not None:
                return cached
        emu.count(realm, "batch" if batch else kind)
        try:
            result = action()
            response = result if isinstance(result, Response) else _json(result)
        except EmulatorFault as fault:
            response = fault_response(fault)
        if request_id is not None:
            emu.replay_store(realm, request_id, response)
        return response
    finally:
        emu.throttle.release(realm)


def _entity(segment: str) -> str:
    canonical = entities.BY_LOWER.get(segment.lower())
    if canonical is None:
        raise errors.unknown_resource(request.path, request.url)
    return canonical


def _payload(entity: str | None = None) -> dict[str, t.Any]:
    raw = request.get_data(cache=True)
    try:
        body = read_json(raw or b"{}")
    except BodyError as exc:
        raise errors.request_error(f"Request has invalid or unsupported property: {exc}") from None
    if not isinstance(body, dict):
        raise errors.request_error("The request body must be a JSON object")
    inner = body[entity] if entity and set(body) == {entity} else None
    return inner if isinstance(inner, dict) else body


def _is_sparse(obj: dict[str, t.Any]) -> bool:
    return obj.get("sparse") in (True, "true", "True")


def write_one(
    realm: str, entity: str, operation: str | None, obj: dict[str, t.Any], include: str = ""
) -> dict[str, t.Any]:
    """Create / update / delete / void one object; shared by the endpoint and batch."""
    store = _emu().store
    operation = (operation or "").lower()
    if operation == "delete":
        return store.delete(realm, entity, obj.get("Id"), obj.get("SyncToken"))
    if operation == "void" or (operation == "update" and "void" in include.lower().split(",")):
        if operation == "void" and entity != "Invoice":
            raise errors.unsupported(
                f"Operation void is not supported for {entity}; use operation=update&include=void."
            )
        return store.void(realm, entity, obj.get("Id"), obj.get("SyncToken"))
    if operation not in ("", "create", "update"):
        raise errors.unsupported(f"Operation {operation} is not supported.")
    if operation == "create" or (operation == "" and not obj.get("Id")):
        return store.create(realm, entity, obj, include)
    return store.update(realm, entity, obj, sparse=_is_sparse(obj), include=include)


@bp.post("/<segment>")
def write(realm: str, segment: str) -> Response:
    def action() -> Result:
        entity = _entity(segment)
        return {
            entity: write_one(
                realm, entity, request.args.get("operation"), _payload(entity), request.args.get("include", "")
            )
        }

    return _run(realm, "writes", action)


@bp.get("/preferences")
def preferences(realm: str) -> Response:
    """The company's one Preferences object: read without an id, never paged."""
    return _run(realm, "reads", lambda: {"Preferences": _emu().store.read(realm, "Preferences", PREFERENCES_ID)})


@bp.get("/exchangerate")
def exchange_rate(realm: str) -> Response:
    """One exchange rate (a fixed table, see :mod:`.rules.currency`)."""
    args = request.args
    return _run(
        realm,
        "reads",
        lambda: exchange.read_rate(_emu().store, realm, args.get("sourcecurrencycode"), args.get("asofdate")),
    )


@bp.get("/<segment>/<entity_id>")
def read(realm: str, segment: str, entity_id: str) -> Response:
    def action() -> Result:
        entity = _entity(segment)
        found = _emu().store.read(realm, entity, entity_id)
        if entity == "Invoice" and paylink.wants_invoice_link():
            link = paylink.invoice_link(realm, found)
            if link is not None:
                found["InvoiceLink"] = link
        return {entity: found}

    return _run(realm, "reads", action)


@bp.get("/<segment>/<entity_id>/pdf")
def pdf(realm: str, segment: str, entity_id: str) -> Response:
    def action() -> Result:
        data = _emu().store.pdf(realm, _entity(segment), entity_id)
        return Response(data, mimetype="application/pdf")

    return _run(realm, "reads", action)


@bp.post("/<segment>/<entity_id>/send")
def send(realm: str, segment: str, entity_id: str) -> Response:
    def action() -> Result:
        entity = _entity(segment)
        return {entity: _emu().store.send(realm, entity, entity_id, request.args.get("sendTo"))}

    return _run(realm, "writes", action)


def _statement() -> str:
    if request.method == "GET":
        return request.args.get("query", "")
    return request.args.get("query") or request.get_data(as_text=True)


def _query(realm: str, statement: str) -> dict[str, t.Any]:
    """Run one statement (the endpoint's or a batch item's) as this company would.

    A company configured to refuse ``IN`` on a property
    (:attr:`~flask_qbo.emulator.config.EmulatorConfig.refused_in`) answers it with a
    4001; a statement that does not parse gets the parser's own fault, as running it would.
    """
    emu = _emu()
    if exchange.is_rate_query(statement):
        return exchange.query_rates(emu.store, realm, statement)
    if emu.config.refused_in:
        for cond in query_language.parse(statement).where:
            if cond.op == "in" and cond.field in emu.config.refused_in:
                raise query_language.validation_error(f"Operator IN is not supported for property {cond.field}")
    return emu.store.query(realm, statement)


@bp.route("/query", methods=["GET", "POST"])
def query(realm: str) -> Response:
    return _run(realm, "reads", lambda: _query(realm, _statement()))


def _parse_since(value: str) -> datetime:
    emu = _emu()
    text = value.strip().replace(" ", "+").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise errors.request_error(f"Invalid changedSince value {value!r}", "changedSince") from exc
    if parsed.tzinfo is None:
        parsed = (
            datetime.combine(parsed.date(), time(), emu.clock.tz)
            if len(text) <= 10
            else parsed.replace(tzinfo=emu.clock.tz)
        )
    return parsed


@bp.get("/cdc")
def cdc(realm: str) -> Response:
    def action() -> Result:
        emu = _emu()
        names = [e.strip() for e in request.args.get("entities", "").split(",") if e.strip()]
        if not names:
            raise errors.required("entities")
        if not request.args.get("changedSince"):
            raise errors.required("changedSince")
        since = _parse_since(request.args["changedSince"])
        if since < emu.store.cdc_oldest():
            raise EmulatorFault(
                400,
                "4001",
                "Invalid query",
                f"QueryValidationError: changedSince must be within the last {emu.config.cdc_window_days} days",
                "changedSince",
            )
        return emu.store.cdc(realm, names, since)

    return _run(realm, "reads", action)


@bp.post("/batch")
def batch(realm: str) -> Response:
    def action() -> Result:
        emu = _emu()
        items = _payload().get("BatchItemRequest")
        if not isinstance(items, list) or not items:
            raise errors.required("BatchItemRequest")
        if len(items) > emu.config.batch_max_items:
            raise errors.request_error(
                f"The batch request has {len(items)} items; the maximum is {emu.config.batch_max_items}.",
                "BatchItemRequest",
            )
        if request.args.get("requestid") and any(len(str(i.get("bId", ""))) > MAX_BID_WITH_REQUEST_ID for i in items):
            raise errors.request_error("bId may be at most 10 characters when requestid is used", "bId")
        return {"BatchItemResponse": [_batch_item(realm, item) for item in items]}

    return _run(realm, "batch", action, batch=True)


def _batch_item(realm: str, item: dict[str, t.Any]) -> dict[str, t.Any]:
    emu = _emu()
    out: dict[str, t.Any] = {"bId": item.get("bId")}
    try:
        if "Query" in item:
            emu.count(realm, "reads")
            out.update(_query(realm, str(item["Query"])))
            return out
        key = next((k for k in item if k.lower() in entities.BY_LOWER), None)
        if key is None or not isinstance(item[key], dict):
            raise errors.request_error("Batch item has no entity object", "BatchItemRequest")
        operation = item.get("operation")
        if operation not in ("create", "update", "delete"):
            raise errors.unsupported(f"Batch operation {operation!r} is not supported.")
        emu.count(realm, "writes")
        entity = entities.BY_LOWER[key.lower()]
        out[entity] = write_one(realm, entity, operation, item[key], str(item.get("options") or ""))
    except EmulatorFault as fault:
        out["Fault"] = fault.fault()
    return out
