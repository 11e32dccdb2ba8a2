"""Per-app state and the one accessor every layer uses to reach it.

The :class:`~flask_qbo.QBO` object lives in ``app.extensions["qbo"]``; what one app
needs at runtime (its database, token cipher, transports, runner) is an
:class:`AppState` kept by that object.  Modules below ``extension.py`` reach both
through :func:`get_qbo` and wake the app's runner with :func:`wake`, so no lower
layer ever imports the extension module or a runner.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.cookiejar
import threading
import typing as t
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.cookies
from flask import Flask
from flask import current_app

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy
    from requests.sessions import _Cert
    from requests.sessions import _Settings
    from requests.sessions import _TextMapping
    from requests.sessions import _Verify
    from sqlalchemy.orm import Session

    from .extension import QBO
    from .intuit.crypto import TokenCipher

#: Tenant key used when the host registers no ``tenant_loader`` (single-tenant CRMs).
DEFAULT_TENANT = "default"


class Runner(t.Protocol):
    """What the rest of the package may ask of an app's runner (thread or Celery)."""

    def wake(self, reason: str = "") -> None:
        """Look for work now; never blocks."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current job."""

    @property
    def last_run(self) -> dt.datetime | None:
        """When this runner last finished a round *in this process* (UTC); ``None`` when none ran here.

        ``flask qbo doctor`` and the health page read it to tell a stuck runner
        from a working one; a runner in another process is judged from the
        database instead (:mod:`flask_qbo.ops.checks.runner`).
        """


@dataclasses.dataclass
class AppState:
    """What one Flask app needs at runtime; kept per app so two apps never share it."""

    #: The host's Flask-SQLAlchemy object; the extension's rows commit with the host's writes.
    db: SQLAlchemy
    #: Encrypts and decrypts the stored OAuth tokens (``QBO_TOKEN_ENCRYPTION_KEY``).
    cipher: TokenCipher
    #: URL prefix → requests transport adapter (tests mount the emulator here).
    adapters: dict[str, requests.adapters.BaseAdapter] = dataclasses.field(default_factory=dict)
    #: The runner driving push/pull work for this app (set by :mod:`flask_qbo.runners`).
    runner: Runner | None = None

    @property
    def session(self) -> Session:
        """The host's database session for the current scope (Flask-SQLAlchemy's ``db.session()``).

        The scoped session's current :class:`~sqlalchemy.orm.Session` itself, so
        the layers below take a plain ``Session`` and tests can pass any session.
        """
        return self.db.session()

    _http: SharedSession | None = dataclasses.field(default=None, repr=False)
    _http_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def http_session(self) -> requests.Session:
        """The app's one requests session, with its mounted transports (the emulator in tests).

        One session per app, not per client: with thousands of companies polled every
        few minutes, a new session per poll meant new connection pools (a TLS handshake
        per poll against Intuit) and the environment's proxy settings read again on
        every request.  Sharing it across threads is safe because it keeps no
        per-tenant state: it refuses cookies and every call passes its own headers.
        """
        with self._http_lock:
            if self._http is None:
                self._http = SharedSession()
                for prefix, adapter in self.adapters.items():
                    self._http.mount(prefix, adapter)
            return self._http

    def mount(self, prefix: str, adapter: requests.adapters.BaseAdapter) -> None:
        """Route calls whose URL starts with ``prefix`` through ``adapter``, now and in later sessions."""
        with self._http_lock:
            self.adapters[prefix] = adapter
            if self._http is not None:
                self._http.mount(prefix, adapter)


class SharedSession(requests.Session):
    """A requests session shared by every tenant of an app: no cookies, environment settings read once per host.

    ``requests`` looks up proxies (``HTTPS_PROXY``, ``NO_PROXY``) and the CA bundle
    in the environment on every request; that lookup cost more CPU than the rest of
    an idle company's CDC poll.  The environment is read the first time a host is
    called and kept; a process that changes its proxy settings restarts anyway.
    """

    def __init__(self) -> None:
        super().__init__()
        # Intuit's cookies are never needed, and one tenant's must never travel with another's calls.
        self.cookies = requests.cookies.RequestsCookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._environment: dict[tuple[str, ...], _Settings] = {}
        self._environment_lock = threading.Lock()

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: _TextMapping | None,
        stream: bool | None,
        verify: _Verify | None,
        cert: _Cert | None,
    ) -> _Settings:
        """``requests``' merge, computed once per scheme and host for calls that pass no settings of their own."""
        if proxies or verify is not None or cert is not None or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, repr(stream))
        with self._environment_lock:
            found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._environment_lock:
                self._environment[key] = found
        # A copy: requests may add to the proxies mapping of the request it prepares.
        return {**found, "proxies": dict(found["proxies"])}


def get_qbo(app: Flask | None = None) -> QBO:
    """The extension registered on ``app`` (default: the current app)."""
    app = app or current_app
    try:
        return t.cast("QBO", app.extensions["qbo"])
    except KeyError:
        raise RuntimeError("Flask-QBO is not registered on this app; call qbo.init_app(app).") from None


def wake(app: Flask | None = None, reason: str = "") -> None:
    """Wake the app's runner (no-op when ``QBO_RUNNER`` is ``"none"`` or nothing is attached)."""
    # The real app, not the proxy, keys the state; LocalProxy's stubs do not declare _get_current_object.
    app = app or t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    runner = get_qbo(app).state(app).runner
    if runner is not None:
        runner.wake(reason)
