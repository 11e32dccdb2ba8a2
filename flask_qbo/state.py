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
import typing as t

import requests
from flask import Flask
from flask import current_app

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy
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

    def http_session(self) -> requests.Session:
        """A new requests session with this app's mounted transports (the emulator in tests)."""
        http = requests.Session()
        for prefix, adapter in self.adapters.items():
            http.mount(prefix, adapter)
        return http


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
