"""A stored connection as the QBO client uses it: the access token to send, the key check, the read meter.

:class:`ConnectionAuth` is the token source a
:class:`~flask_qbo.intuit.client.QBOClient` asks before every call: it hands
out the stored access token while it is fresh, refreshes it first when it is
about to expire (:func:`flask_qbo.intuit.oauth.refresh`), replaces one QBO
refused, and flags the connection ``needs_reconnect`` when even a refreshed
token is refused.  :func:`key_problem` tells the health page whether this
process can read the stored tokens at all, and :func:`record_reads` keeps the
connection's monthly count of metered reads.  Both write nothing the caller's
session could roll back: they work on the engine, outside it.
:class:`BorrowedToken` lends a helper thread the access token of the moment,
for reads sent beside the caller's own.
"""

from __future__ import annotations

import logging
import typing as t

import sqlalchemy as sa
from flask import Flask

from ..errors import QBOAuthError
from ..errors import QBOTokenDecryptError
from ..models import Connection
from ..models import ConnectionStatus
from ..models import utcnow
from .oauth import app_or_current
from .oauth import fresh
from .oauth import mark_needs_reconnect
from .oauth import not_connected
from .oauth import read_token
from .oauth import refresh

if t.TYPE_CHECKING:
    from ..extension import QBO

log = logging.getLogger(__name__)

_table = t.cast(sa.Table, Connection.__table__)


def access_token(qbo: QBO, connection: Connection, *, app: Flask | None = None) -> str:
    """A usable access token, refreshed first when it expires within ``QBO_TOKEN_REFRESH_LEEWAY``."""
    app = app_or_current(app)
    if connection.status != ConnectionStatus.CONNECTED:
        raise QBOAuthError(not_connected(connection))
    cipher = qbo.state(app).cipher
    token = read_token(cipher, connection, connection.access_token_enc)
    if token and fresh(connection.access_expires_at, app):
        return token
    refresh(qbo, connection, app=app)
    token = read_token(cipher, connection, connection.access_token_enc)
    if not token:
        raise QBOAuthError(not_connected(connection))
    return token


def key_problem(qbo: QBO, connection: Connection, *, app: Flask | None = None) -> str | None:
    """Why this process cannot decrypt the connection's stored tokens, or ``None`` when it can.

    Local only (no call to Intuit): the health page, the connection banner and
    ``flask qbo status`` use it to name a wrong key while the status stays
    ``connected``.
    """
    cipher = qbo.state(app).cipher
    try:
        for value in (connection.refresh_token_enc, connection.access_token_enc):
            read_token(cipher, connection, value)
    except QBOTokenDecryptError as exc:
        return str(exc)
    return None


def record_reads(qbo: QBO, connection_id: int, count: int = 1, *, app: Flask | None = None) -> None:
    """Add metered reads to the connection's monthly counter, in a short transaction of its own.

    Failing to count must never fail a sync, so database errors are logged only.
    """
    app = app_or_current(app)
    month = utcnow().strftime("%Y-%m")
    same_month = _table.c.reads_month == month
    try:
        with qbo.state(app).db.engine.begin() as conn:
            conn.execute(
                sa.update(_table)
                .where(_table.c.id == connection_id)
                .values(
                    reads_count=sa.case((same_month, sa.func.coalesce(_table.c.reads_count, 0) + count), else_=count),
                    reads_month=month,
                )
            )
    except sa.exc.SQLAlchemyError as exc:
        log.warning("Could not count %d QBO read(s): %s", count, type(exc).__name__)


class ConnectionAuth:
    """The token source a :class:`~flask_qbo.intuit.client.QBOClient` uses for one connection."""

    def __init__(self, qbo: QBO, connection: Connection, app: Flask) -> None:
        self.qbo = qbo
        self.connection = connection
        self.app = app

    def token(self) -> str:
        """The current access token (refreshed proactively)."""
        return access_token(self.qbo, self.connection, app=self.app)

    def refresh(self, rejected: str) -> str:
        """Replace an access token QBO rejected; returns the new one."""
        refresh(self.qbo, self.connection, app=self.app, rejected=rejected)
        return self.token()

    def fail(self, reason: str) -> None:
        """QBO still refuses after a refresh: the connection needs a reconnect."""
        mark_needs_reconnect(self.qbo, self.connection, reason, app=self.app)

    def __repr__(self) -> str:
        return f"<ConnectionAuth {self.connection!r}>"


class TokenRefused(Exception):
    """QBO refused a borrowed access token: the lender's own client asks again (and refreshes the token)."""


class BorrowedToken:
    """A helper thread's token source: an access token its lender had, never refreshed here.

    Refreshing writes the connection row, which belongs to the lender's thread
    and session; a helper whose token QBO refuses raises :class:`TokenRefused`
    and hands its request back instead.
    """

    def __init__(self, token: str) -> None:
        self.value = token

    def token(self) -> str:
        return self.value

    def refresh(self, rejected: str) -> str:
        raise TokenRefused("QuickBooks refused the borrowed access token.")

    def fail(self, reason: str) -> None:
        raise TokenRefused(reason)
