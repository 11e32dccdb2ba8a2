"""QBO clients configured from the Flask app: for a stored connection, or for a realm and any token source.

:class:`~flask_qbo.intuit.client.QBOClient` itself knows nothing of Flask: it
is handed its base URL, token source, transport and throttle.  Here they come
from the app's config (``QBO_MINOR_VERSION``, ``QBO_MAX_RETRIES``,
``QBO_HTTP_TIMEOUT``, the environment's URLs), its transports (the emulator in
tests) and its per-realm throttle; a stored connection adds its tokens
(:class:`~flask_qbo.intuit.auth.ConnectionAuth`) and its read meter.
"""

from __future__ import annotations

import typing as t

from flask import Flask

from ..config import get_config
from ..config import resolve_urls
from ..errors import QBOConfigError
from ..models import Connection
from .auth import ConnectionAuth
from .auth import record_reads
from .client import QBOClient
from .client import TokenSource
from .oauth import app_or_current
from .throttle import throttle_for

if t.TYPE_CHECKING:
    from ..extension import QBO


def build_client(qbo: QBO, connection: Connection) -> QBOClient:
    """A client for ``connection`` configured from the current app.

    Reads are added to the connection's monthly counter right after each one,
    in a short transaction of their own (:func:`flask_qbo.intuit.auth.record_reads`).
    """
    app = app_or_current(None)
    if not connection.realm_id:
        raise QBOConfigError(f"The connection of tenant {connection.tenant_key} has no realm.")
    connection_id = connection.id
    return realm_client(
        qbo,
        connection.realm_id,
        ConnectionAuth(qbo, connection, app),
        app=app,
        on_read=lambda n: record_reads(qbo, connection_id, n, app=app),
    )


def realm_client(
    qbo: QBO,
    realm_id: str,
    auth: TokenSource,
    *,
    app: Flask | None = None,
    on_read: t.Callable[[int], None] | None = None,
    max_retries: int | None = None,
) -> QBOClient:
    """A client for ``realm_id`` configured from the app, with any token source.

    :func:`build_client` uses it for stored connections; the connect flow uses it
    to prove a callback's realm with a grant that is not stored yet.
    ``max_retries`` overrides ``QBO_MAX_RETRIES`` (an admin waiting on a page
    should not sit through the full backoff).
    """
    app = app_or_current(app)
    return QBOClient(
        realm_id,
        base_url=resolve_urls(app)["api"],
        auth=auth,
        http=qbo.state(app).http_session(),
        minor_version=int(get_config("QBO_MINOR_VERSION", app)),
        throttle=throttle_for(app),
        max_retries=int(get_config("QBO_MAX_RETRIES", app)) if max_retries is None else max_retries,
        timeout=float(get_config("QBO_HTTP_TIMEOUT", app)),
        on_read=on_read,
    )
