"""Fault injection (Python API) and the ``/_emulator`` HTTP control API.

Client code has to survive 401s, throttling, 5xx, slow and dropped
connections. Faults are queued rules consumed by matching requests, and every
injected error uses the exact envelope QBO sends for that status.

A control call the emulator cannot act on (a body that is not a JSON object,
nests too deeply, or a value that is not a number where one is needed) is
answered 400 ``{"error": …}`` and changes nothing.
"""

from __future__ import annotations

import math
import threading
import typing as t
from dataclasses import asdict
from dataclasses import dataclass

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from . import errors
from .bodies import BodyError
from .bodies import read_json
from .errors import EmulatorFault
from .realms import is_realm_id
from .realms import not_a_realm
from .throttle import Throttled

if t.TYPE_CHECKING:
    from .app import Emulator


@dataclass
class FaultRule:
    """One queued fault. ``remaining`` None means "until cleared"."""

    kind: str  # fail | latency | timeout | disconnect
    remaining: int | None = 1
    status: int = 500
    code: str = "10000"
    message: str | None = None
    detail: str = ""
    element: str = ""
    seconds: float = 0.0
    after_execute: bool = False
    path_contains: str | None = None
    realm: str | None = None
    method: str | None = None

    def matches(self, path: str, method: str, realm: str | None) -> bool:
        return (
            (self.path_contains is None or self.path_contains in path)
            and (self.realm is None or self.realm == realm)
            and (self.method is None or self.method.upper() == method.upper())
        )

    def fault(self) -> EmulatorFault:
        return injected_fault(self.status, self.code, self.message, self.detail, self.element)


def injected_fault(
    status: int, code: str = "10000", message: str | None = None, detail: str = "", element: str = ""
) -> EmulatorFault:
    """The Fault QBO would send for ``status``; ``code`` overrides the default where it matters."""
    custom = code if code != "10000" else None
    if status == 401:
        fault = errors.unauthorized(detail or message or "Token invalid")
        fault.code = custom or fault.code
        return fault
    if status == 403:
        fault = errors.forbidden(detail or message or "")
        fault.code = custom or fault.code
        return fault
    if status == 429:
        return Throttled(1)
    if status >= 500:
        text = message or ("Service Unavailable" if status == 503 else None)
        return errors.system_fault(status, code, text)
    return EmulatorFault(
        status,
        custom or "6000",
        message or "A business validation error has occurred while processing your request",
        detail or message or "Business Validation Error: injected by the emulator",
        element,
    )


class FaultInjector:
    """Queue of fault rules, consumed in order by matching requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[FaultRule] = []

    def _add(self, rule: FaultRule) -> FaultRule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        code: str = "10000",
        message: str | None = None,
        path_contains: str | None = None,
        realm: str | None = None,
        method: str | None = None,
        detail: str = "",
        element: str = "",
    ) -> FaultRule:
        """Answer the next ``n`` matching requests with the Fault for ``status``."""
        return self._add(
            FaultRule(
                "fail",
                n,
                status,
                str(code),
                message,
                detail,
                element,
                path_contains=path_contains,
                realm=realm,
                method=method,
            )
        )

    def add_latency(
        self,
        seconds: float,
        n: int | None = None,
        path_contains: str | None = None,
        realm: str | None = None,
        method: str | None = None,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` of real time (all of them when ``n`` is None)."""
        return self._add(
            FaultRule("latency", n, seconds=seconds, path_contains=path_contains, realm=realm, method=method)
        )

    def timeout_next(
        self,
        n: int = 1,
        after_execute: bool = False,
        path_contains: str | None = None,
        realm: str | None = None,
        method: str | None = None,
    ) -> FaultRule:
        """Make the next ``n`` requests time out.

        In-process the :class:`~flask_qbo.emulator.WSGIAdapter` raises
        ``requests.exceptions.ReadTimeout``; a real server stalls instead. With
        ``after_execute`` the request is processed first and only the response
        is lost, the case ``requestid`` replay exists for.
        """
        return self._add(
            FaultRule(
                "timeout", n, after_execute=after_execute, path_contains=path_contains, realm=realm, method=method
            )
        )

    def disconnect_next(
        self, n: int = 1, path_contains: str | None = None, realm: str | None = None, method: str | None = None
    ) -> FaultRule:
        """Drop the connection for the next ``n`` requests (``ConnectionError`` in-process)."""
        return self._add(FaultRule("disconnect", n, path_contains=path_contains, realm=realm, method=method))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def take(self, path: str, method: str, realm: str | None) -> tuple[float, FaultRule | None]:
        """Consume matching rules: total latency, plus the first failure-type rule."""
        latency = 0.0
        chosen: FaultRule | None = None
        with self.lock:
            for rule in list(self.rules):
                if not rule.matches(path, method, realm):
                    continue
                if rule.kind == "latency":
                    latency += rule.seconds
                elif chosen is None:
                    chosen = rule
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.rules.remove(rule)
        return latency, chosen

    def describe(self) -> list[dict[str, t.Any]]:
        with self.lock:
            return [asdict(r) for r in self.rules]


# ---------------------------------------------------------------------- control API

control = Blueprint("emulator_control", __name__, url_prefix="/_emulator")


def _emu() -> Emulator:
    return t.cast("Emulator", current_app.extensions["qbo_emulator"])


class ControlError(Exception):
    """A control call the emulator cannot act on; answered 400 with the reason."""


@control.errorhandler(ControlError)
def _control_error(exc: ControlError) -> tuple[Response, int]:
    return jsonify({"error": str(exc)}), 400


def _body() -> dict[str, t.Any]:
    """The JSON object a control call sends (``{}`` when it sends nothing), whatever its content type.

    ``curl -d`` sends form encoding; its fields used to be silently ignored.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = read_json(raw)
    except BodyError as exc:
        raise ControlError(str(exc)) from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _realm() -> str | None:
    """The body's optional ``realm`` (absent or null: every company), checked like any company id."""
    realm = _body().get("realm")
    if realm is not None and not is_realm_id(realm):
        raise ControlError(not_a_realm(realm))
    return realm


def _described(value: object) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return repr(value)


def _number(
    body: dict[str, t.Any],
    key: str,
    default: object = None,
    whole: bool = False,
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    """A finite number from ``low`` to ``high`` (an ``int`` when ``whole``), or a :class:`ControlError`.

    The bounds keep a typo from jamming the emulator: a negative latency would
    make every matching request fail, a clock pushed 10**300 seconds overflows.
    """
    value = body.get(key, default)
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number):
        raise ControlError(f"{key!r} must be a number, not {_described(value)}")
    if whole and not number.is_integer():
        raise ControlError(f"{key!r} must be a whole number, not {_described(value)}")
    if not low <= number <= high:
        raise ControlError(f"{key!r} must be from {low:g} to {high:g}, not {_described(value)}")
    return number


def _whole(
    body: dict[str, t.Any], key: str, default: object = None, low: float = -math.inf, high: float = math.inf
) -> int:
    """A whole number from ``low`` to ``high``, or a :class:`ControlError` (see :func:`_number`)."""
    return int(_number(body, key, default, whole=True, low=low, high=high))


def _text(body: dict[str, t.Any], key: str, default: str | None = None) -> str | None:
    """Optional text from a control call; a number or a list here would break every later request."""
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ControlError(f"{key!r} must be text, not {_described(value)}")
    return value


#: Most requests a count-limited rule may cover, and the longest latency or wait (seconds).
_MOST = 1_000_000
_LONGEST = 3600.0
#: How far the clock may be moved in one call: about a century either way.
_CLOCK_RANGE = 100 * 366 * 86400.0


@control.post("/faults")
def add_fault() -> tuple[Response, int]:
    body = _body()
    faults = _emu().faults
    kind = body.get("kind", "fail")
    scope = {"path_contains": _text(body, "path_contains"), "realm": _realm(), "method": _text(body, "method")}
    if kind == "latency":
        n = None if body.get("n") is None else _whole(body, "n", low=1, high=_MOST)
        rule = faults.add_latency(_number(body, "seconds", 0, low=0, high=_LONGEST), n, **scope)
    elif kind == "timeout":
        rule = faults.timeout_next(_whole(body, "n", 1, low=1, high=_MOST), bool(body.get("after_execute")), **scope)
    elif kind == "disconnect":
        rule = faults.disconnect_next(_whole(body, "n", 1, low=1, high=_MOST), **scope)
    elif kind == "fail":
        rule = faults.fail_next(
            _whole(body, "n", 1, low=1, high=_MOST),
            _whole(body, "status", 500, low=400, high=599),
            str(_text(body, "code", "10000")),
            _text(body, "message"),
            detail=_text(body, "detail", "") or "",
            element=_text(body, "element", "") or "",
            **scope,
        )
    else:
        return jsonify({"error": f"unknown fault kind {kind!r}"}), 400
    return jsonify(asdict(rule)), 201


@control.get("/faults")
def list_faults() -> Response:
    return jsonify(_emu().faults.describe())


@control.delete("/faults")
def clear_faults() -> Response:
    _emu().faults.clear()
    return jsonify({"cleared": True})


@control.post("/clock/advance")
def advance_clock() -> Response:
    emu = _emu()
    now = emu.clock.advance(_number(_body(), "seconds", 0, low=-_CLOCK_RANGE, high=_CLOCK_RANGE))
    return jsonify({"now": emu.clock.iso(now)})


@control.get("/clock")
def read_clock() -> Response:
    return jsonify({"now": _emu().clock.iso()})


@control.post("/tokens/expire")
def expire_tokens() -> Response:
    return jsonify({"expired": _emu().expire_access_tokens(_realm())})


@control.post("/tokens/revoke")
def revoke_tokens() -> Response:
    return jsonify({"revoked": _emu().revoke_tokens(_realm())})


@control.route("/webhooks", methods=["GET", "POST"])
def webhooks() -> Response:
    hooks = _emu().webhooks
    if request.method == "POST":
        body = _body()
        for key in ("url", "verifier_token", "format"):
            if not isinstance(body.get(key), (str, type(None))):
                raise ControlError(f"{key!r} must be text, not {_described(body[key])}")
        settings: dict[str, t.Any] = {k: body[k] for k in ("url", "verifier_token", "format", "reorder") if k in body}
        if "delay" in body:
            settings["delay"] = _number(body, "delay", low=0, high=_LONGEST)
        settings.update({k: _number(body, k, low=0, high=1) for k in ("duplicate_rate", "drop_rate") if k in body})
        if "seed" in body:
            settings["seed"] = _whole(body, "seed")
        try:
            hooks.configure(**settings)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
    return jsonify(hooks.status())


@control.post("/webhooks/flush")
def flush_webhooks() -> Response:
    attempts = _emu().webhooks.flush(_number(_body(), "timeout", 5, low=0, high=_LONGEST))
    return jsonify({"attempts": attempts, **_emu().webhooks.status()})


@control.get("/counters")
def counters() -> Response:
    return jsonify(_emu().counters)


@control.post("/reset-counters")
def reset_counters() -> Response:
    _emu().reset_counters()
    return jsonify(_emu().counters)
