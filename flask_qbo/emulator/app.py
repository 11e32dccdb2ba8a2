"""The :class:`Emulator`: one object wiring clock, store, OAuth, API, web UI, faults and webhooks.

Tests build one per test (it is cheap and shares nothing), talk to it through
:meth:`Emulator.http_session` without sockets, and steer it through the Python
API; the standalone server wraps the same object.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass
from dataclasses import field

import requests
from flask import Flask
from flask import Response
from flask import g
from flask import request
from werkzeug.exceptions import HTTPException

from . import api
from . import errors
from . import faults
from . import oauth
from . import paylink
from . import ui
from .clock import Clock
from .config import EmulatorConfig
from .errors import EmulatorFault
from .faults import FaultInjector
from .realms import is_realm_id
from .settings import CompanySettings
from .store import Store
from .throttle import Throttle
from .tokens import TokenAuthority
from .transport import FAULT_HEADER
from .transport import INPROCESS_KEY
from .transport import WSGIAdapter
from .webhooks import WebhookDispatcher

#: Paths where injected faults apply (the web UI and control API are never faulted).
FAULTABLE_PREFIXES = ("/v3/", "/oauth2/", "/v2/oauth2/", "/v1/openid_connect/")
COUNTER_NAMES = ("reads", "writes", "requests", "batch", "throttled")


@dataclass
class EmulatorUser:
    """A person who can sign in on the authorize page."""

    email: str
    password: str
    realms: list[str]
    given_name: str = "Alex"
    family_name: str = "Admin"
    phone: str = "+1 (555) 010-0000"
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))


class Emulator:
    """A local QuickBooks Online: empty except for one default user."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = Clock(self.config.utc_offset)
        self.store = Store(self.clock, self.config)
        self.tokens = TokenAuthority(self.clock, self.config)
        self.faults = FaultInjector()
        self.throttle = Throttle(self.clock, self.config)
        self.webhooks = WebhookDispatcher(self.clock, self.config)
        self.store.listeners.append(self.webhooks.enqueue)
        self.users: dict[str, EmulatorUser] = {}
        email, password = self.config.default_user
        self.add_user(email, password, [])
        self._counters: dict[str, dict[str, int]] = {}
        self._counter_lock = threading.Lock()
        self._replay: dict[tuple[str, str], tuple[int, bytes, list[tuple[str, str]]]] = {}
        self._replay_lock = threading.Lock()
        self.app = self._create_app()

    # ------------------------------------------------------------------ Flask wiring

    def _create_app(self) -> Flask:
        app = Flask(__name__, template_folder="templates")
        app.secret_key = secrets.token_hex(16)
        app.extensions["qbo_emulator"] = self
        app.register_blueprint(oauth.bp)
        app.register_blueprint(api.bp)
        app.register_blueprint(faults.control)
        app.register_blueprint(ui.bp)
        app.register_blueprint(paylink.bp)
        app.before_request(self._inject_faults)
        app.after_request(self._finish_response)
        app.register_error_handler(HTTPException, self._http_error)
        return app

    def _http_error(self, error: HTTPException) -> Response | HTTPException:
        """Under ``/v3/`` nothing answers with Flask's HTML error page: QBO sends a Fault.

        A path or method no resource serves gets QBO's "Unsupported Operation"
        (400, code 500); a crash a 500 SystemFault. Elsewhere (web UI, OAuth)
        Flask's own page stays.
        """
        if not request.path.startswith("/v3/"):
            return error
        status = error.code or 500
        if status in (404, 405):
            fault = errors.unknown_resource(request.path, request.url)
        elif status >= 500:
            fault = errors.system_fault(status)
        else:
            fault = EmulatorFault(
                status, "2010", "Request has invalid or unsupported property", error.description or ""
            )
        return api.fault_response(fault)

    def _inject_faults(self) -> Response | None:
        if not request.path.startswith(FAULTABLE_PREFIXES):
            return None
        parts = request.path.split("/")
        realm = parts[3] if len(parts) > 3 and parts[1] == "v3" and parts[2] == "company" else None
        if not is_realm_id(realm):
            realm = None  # the API answers a malformed company id itself, uncounted
        latency, rule = self.faults.take(request.path, request.method, realm)
        if realm:
            g.emulator_latency = latency  # slept inside the API pipeline, holding a concurrency slot
        elif latency:
            time.sleep(latency)
        if rule is None:
            return None
        if realm:
            self.count(realm, "requests")
        if rule.kind in ("timeout", "disconnect"):
            if rule.after_execute:
                g.emulator_network_fault = rule.kind
                return None
            return self._network_fault(Response(status=504), rule.kind)
        fault = rule.fault()
        return api.fault_response(fault) if request.path.startswith("/v3/") else self._plain_fault(fault)

    def _plain_fault(self, fault: EmulatorFault) -> Response:
        """Injected faults on the OAuth endpoints: same bodies, no ``time`` rewriting."""
        body = fault.body(self.clock.iso_ms())
        return Response(json.dumps(body), status=fault.status, mimetype="application/json")

    def _network_fault(self, response: Response, kind: str) -> Response:
        if request.environ.get(INPROCESS_KEY):
            response.headers[FAULT_HEADER] = kind
            return response
        time.sleep(self.config.server_timeout_stall if kind == "timeout" else 0)
        return Response(status=504 if kind == "timeout" else 502)

    def _finish_response(self, response: Response) -> Response:
        kind = g.pop("emulator_network_fault", None)
        if kind:
            response = self._network_fault(response, kind)
        response.headers.setdefault("intuit_tid", f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}")
        return response

    # ------------------------------------------------------------------ public API

    def http_session(self) -> requests.Session:
        """A ``requests`` session that reaches this emulator in-process."""
        session = requests.Session()
        session.mount(self.config.base_url, WSGIAdapter(self.app))
        return session

    def add_company(
        self, realm_id: str, name: str, settings: CompanySettings | None = None, **company_info: object
    ) -> None:
        """Create a company (see :meth:`Store.add_company <flask_qbo.emulator.store.Store.add_company>`)."""
        self.store.add_company(realm_id, name, settings, **company_info)
        default = self.users.get(self.config.default_user[0])
        if default is not None and realm_id not in default.realms:
            default.realms.append(realm_id)
        with self._counter_lock:
            self._counters.setdefault(realm_id, dict.fromkeys(COUNTER_NAMES, 0))

    def add_user(self, email: str, password: str, realms: list[str], **profile: str) -> EmulatorUser:
        user = EmulatorUser(email.lower(), password, list(realms), **profile)
        self.users[user.email] = user
        return user

    def register_client(self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...] = ("*",)) -> None:
        self.tokens.register_client(client_id, client_secret, tuple(redirect_uris))

    def issue_tokens(self, realm_id: str, client_id: str | None = None) -> dict[str, t.Any]:
        """Token-endpoint JSON for a fresh grant, skipping the browser consent."""
        self.store.company(realm_id)  # 610 for an unknown realm, as a typo should fail loudly
        return self.tokens.issue_tokens(realm_id, client_id, self.config.default_user[0])

    def expire_access_tokens(self, realm: str | None = None) -> int:
        return self.tokens.expire_access_tokens(realm)

    def revoke_tokens(self, realm: str | None = None) -> int:
        return self.tokens.revoke_tokens(realm)

    # ------------------------------------------------------------------ counters and replay

    def count(self, realm: str, name: str) -> None:
        with self._counter_lock:
            self._counters.setdefault(realm, dict.fromkeys(COUNTER_NAMES, 0))[name] += 1

    @property
    def counters(self) -> dict[str, dict[str, int]]:
        """Per-realm request counts (a snapshot)."""
        with self._counter_lock:
            return {realm: dict(values) for realm, values in self._counters.items()}

    def reset_counters(self) -> None:
        with self._counter_lock:
            for values in self._counters.values():
                for name in values:
                    values[name] = 0

    def replay_lookup(self, realm: str, request_id: str) -> Response | None:
        with self._replay_lock:
            cached = self._replay.get((realm, request_id))
        if cached is None:
            return None
        status, body, headers = cached
        return Response(body, status=status, headers=headers)

    def replay_store(self, realm: str, request_id: str, response: Response) -> None:
        headers = [(k, v) for k, v in response.headers.items() if k.lower() in ("content-type", "retry-after")]
        with self._replay_lock:
            self._replay[(realm, request_id)] = (response.status_code, response.get_data(), headers)
