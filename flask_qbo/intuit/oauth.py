"""OAuth 2 with Intuit: the connect-flow grants, refresh with compare-and-set, revoke.

Intuit rotates the refresh token on use, and a superseded one eventually
answers ``invalid_grant``: storing the wrong one disconnects the company.  So
every rotation is persisted with a compare-and-set on the refresh token it
replaced (``UPDATE ... WHERE id = :id AND refresh_token_enc = :old``) in its
own short transaction on the engine, never in the caller's session (which may
be rolled back, or commit much later).  Whoever loses the compare-and-set
re-reads the row and uses the winner's tokens: the database row is the single
source of truth, across threads and processes.  Threads of one process also
queue on a per-connection lock, so a burst of 401s costs one refresh.

The ORM object the caller holds is updated with ``set_committed_value``: it
sees the new values, but its session does not think they are unsaved changes
and can never write a stale token back.

A stored token the configured ``QBO_TOKEN_ENCRYPTION_KEY`` cannot decrypt
raises :class:`~flask_qbo.errors.QBOTokenDecryptError` naming the company and
realm.  It never marks the connection ``needs_reconnect``: the grant at Intuit
may be fine, and only the key is wrong, so sync resumes by itself once the app
runs with the right key again.  A grant Intuit refuses does:
:func:`mark_needs_reconnect` lives here because a failed refresh is what calls it.
Using the tokens (the access token to send, the client's token source) is
:mod:`flask_qbo.intuit.auth`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import typing as t
import weakref

import requests
import sqlalchemy as sa
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from .. import signals
from ..config import get_config
from ..config import resolve_urls
from ..errors import QBOAuthError
from ..errors import QBOOAuthError
from ..errors import QBOTokenDecryptError
from ..errors import QBOTransientError
from ..models import Connection
from ..models import ConnectionStatus
from ..models import utcnow

if t.TYPE_CHECKING:
    from ..extension import QBO
    from .crypto import TokenCipher

log = logging.getLogger(__name__)

#: Headers of every token-endpoint call; the last one asks Intuit for the
#: refresh token's hard (5-year) expiry.
TOKEN_HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
    "x-include-refresh-token-hard-expires-in": "true",
}

#: Columns a refresh reads and writes.
TOKEN_COLUMNS = (
    "status",
    "status_reason",
    "access_token_enc",
    "refresh_token_enc",
    "access_expires_at",
    "refresh_expires_at",
    "refresh_hard_expires_at",
)

_table = t.cast(sa.Table, Connection.__table__)
_locks: weakref.WeakKeyDictionary[Flask, dict[int, threading.Lock]] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def app_or_current(app: Flask | None) -> Flask:
    """``app``, else the current app itself (not its proxy: it keys per-app locks and outlives the request)."""
    # Flask types current_app as Flask; the proxy's _get_current_object is not in its stubs.
    return app or current_app._get_current_object()  # type: ignore[attr-defined]


# -- the connect flow -----------------------------------------------------------


def oauth_session(
    qbo: QBO,
    token: dict[str, t.Any] | None = None,
    *,
    redirect_uri: str | None = None,
    state: str | None = None,
    scope: str | None = None,
    app: Flask | None = None,
) -> OAuth2Session:
    """An Authlib session for Intuit's OAuth endpoints, with the app's transports mounted.

    ``scope`` defaults to ``QBO_SCOPES``; refreshes pass ``""`` because Intuit
    keeps the scope of the original grant.
    """
    app = app_or_current(app)
    session = OAuth2Session(
        client_id=get_config("QBO_CLIENT_ID", app),
        client_secret=get_config("QBO_CLIENT_SECRET", app),
        token_endpoint_auth_method="client_secret_basic",
        scope=get_config("QBO_SCOPES", app) if scope is None else (scope or None),
        redirect_uri=redirect_uri,
        state=state,
        token=token,
        default_timeout=float(get_config("QBO_HTTP_TIMEOUT", app)),
    )
    for prefix, adapter in qbo.state(app).adapters.items():
        session.mount(prefix, adapter)
    return session


def authorization_url(qbo: QBO, redirect_uri: str, state: str) -> str:
    """Intuit's consent URL for ``state`` (which the caller binds to the session)."""
    session = oauth_session(qbo, redirect_uri=redirect_uri, state=state)
    url, _ = session.create_authorization_url(resolve_urls()["authorize"], state=state)
    return str(url)


def exchange_code(qbo: QBO, code: str, redirect_uri: str) -> dict[str, t.Any]:
    """Trade an authorization code for tokens; raises :class:`~flask_qbo.errors.QBOOAuthError`."""
    session = oauth_session(qbo, redirect_uri=redirect_uri)
    return _token_call(
        lambda: session.fetch_token(
            resolve_urls()["token"], grant_type="authorization_code", code=code, headers=dict(TOKEN_HEADERS)
        )
    )


def token_values(token: dict[str, t.Any], cipher: TokenCipher, now: dt.datetime | None = None) -> dict[str, t.Any]:
    """Column values for a token response: encrypted tokens and absolute expiries.

    The hard expiry is only present when Intuit sent it; without it (or when a
    lifetime is not a whole number of seconds) the stored value is kept, and an
    unreadable access-token lifetime counts as Intuit's usual hour.
    """
    now = now or utcnow()
    values: dict[str, t.Any] = {
        "access_token_enc": cipher.encrypt(token["access_token"]),
        "access_expires_at": now + dt.timedelta(seconds=_lifetime(token, "expires_in") or 3600),
    }
    if token.get("refresh_token"):
        values["refresh_token_enc"] = cipher.encrypt(token["refresh_token"])
    for key, column in (
        ("x_refresh_token_expires_in", "refresh_expires_at"),
        ("x_refresh_token_hard_expires_in", "refresh_hard_expires_at"),
    ):
        seconds = _lifetime(token, key)
        if seconds is not None:
            values[column] = now + dt.timedelta(seconds=seconds)
    return values


def _lifetime(token: t.Mapping[str, t.Any], key: str) -> int | None:
    """A token lifetime in seconds; ``None`` when absent or not a sane whole number.

    Intuit sends integers; anything else (text, a float, a fullwidth digit, a
    century) is logged and ignored rather than failing the connect or refresh
    that carried an otherwise good grant.
    """
    value = token.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 10 * 366 * 86400:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) < 10 * 366 * 86400:
        return int(value)
    log.warning("Ignored Intuit's unreadable token lifetime %s=%.20r.", key, value)
    return None


def apply_token(
    connection: Connection, token: dict[str, t.Any], cipher: TokenCipher, now: dt.datetime | None = None
) -> None:
    """Store a fresh grant on ``connection`` (the connect flow commits it with its session)."""
    for key, value in token_values(token, cipher, now).items():
        setattr(connection, key, value)


# -- refresh and revoke -----------------------------------------------------------


def refresh(qbo: QBO, connection: Connection, *, app: Flask | None = None, rejected: str | None = None) -> None:
    """Rotate the connection's tokens, or adopt tokens another worker just rotated.

    ``rejected`` is an access token QBO answered 401 to: it is replaced even if
    its recorded expiry lies in the future.

    :raises QBOTokenDecryptError: the stored tokens cannot be decrypted; the
        connection is left as it is (a wrong key is not a dead grant).
    """
    app = app_or_current(app)
    state = qbo.state(app)
    cipher, engine = state.cipher, state.db.engine
    with _lock_for(app, connection.id):
        row = _load(engine, connection.id)
        bad = rejected if rejected is not None else read_token(cipher, connection, connection.access_token_enc)
        for _ in range(2):
            if row["status"] != ConnectionStatus.CONNECTED:
                _adopt(connection, row)
                raise QBOAuthError(not_connected(connection))
            current = read_token(cipher, connection, row["access_token_enc"])
            if current and current != bad and fresh(row["access_expires_at"], app):
                _adopt(connection, row)  # another worker refreshed while we waited
                return
            old_enc = row["refresh_token_enc"]
            refresh_plain = read_token(cipher, connection, old_enc)
            if not refresh_plain:
                signals.token_refresh_failed.send(app, connection=connection, reason="no_token")
                _fail(qbo, connection, app, "No refresh token is stored; reconnect.")
            try:
                token = _refresh_grant(qbo, app, refresh_plain)
            except QBOTransientError:
                signals.token_refresh_failed.send(app, connection=connection, reason="transient")
                raise
            except QBOOAuthError as exc:
                if exc.error != "invalid_grant":
                    signals.token_refresh_failed.send(app, connection=connection, reason=exc.error)
                    raise
                row = _load(engine, connection.id)
                if row["refresh_token_enc"] != old_enc:
                    continue  # we used a token someone else had already rotated
                signals.token_refresh_failed.send(app, connection=connection, reason=exc.error)
                _fail(qbo, connection, app, f"QuickBooks refused the refresh token ({exc.error}); reconnect.")
            if _compare_and_set(engine, connection.id, old_enc, token_values(token, cipher)):
                row = _load(engine, connection.id)
                _adopt(connection, row)
                log.info(
                    "Rotated QBO tokens of tenant %s (realm %s).",
                    connection.tenant_key,
                    connection.realm_id,
                    extra=_extra(connection),
                )
                signals.token_rotated.send(app, connection=connection)
                return
            # Lost the compare-and-set: the stored rotation is the newest; use it.
            _adopt(connection, _load(engine, connection.id))
            return
        signals.token_refresh_failed.send(app, connection=connection, reason="invalid_grant")
        _fail(qbo, connection, app, "QuickBooks refused every stored refresh token; reconnect.")


def revoke(qbo: QBO, connection: Connection) -> bool:
    """Revoke the grant at Intuit (refresh token, else access token); ``True`` when Intuit accepted.

    :raises QBOTokenDecryptError: the stored tokens cannot be decrypted, so
        nothing could be sent to Intuit.
    """
    app = app_or_current(None)
    cipher = qbo.state(app).cipher
    token = read_token(cipher, connection, connection.refresh_token_enc) or read_token(
        cipher, connection, connection.access_token_enc
    )
    if not token:
        return False
    http = qbo.state(app).http_session()
    try:
        resp = http.post(
            resolve_urls(app)["revoke"],
            json={"token": token},
            auth=(get_config("QBO_CLIENT_ID", app), get_config("QBO_CLIENT_SECRET", app)),
            headers={"Accept": "application/json"},
            timeout=float(get_config("QBO_HTTP_TIMEOUT", app)),
        )
    except requests.RequestException as exc:
        log.warning(
            "Revoking the QBO tokens of tenant %s failed: %s",
            connection.tenant_key,
            type(exc).__name__,
            extra=_extra(connection),
        )
        return False
    if resp.status_code != 200:
        log.warning(
            "Intuit refused to revoke the tokens of tenant %s (HTTP %s).",
            connection.tenant_key,
            resp.status_code,
            extra={**_extra(connection), "intuit_tid": resp.headers.get("intuit_tid")},
        )
    return resp.status_code == 200


def mark_needs_reconnect(qbo: QBO, connection: Connection, reason: str, *, app: Flask | None = None) -> bool:
    """Flag a connected connection as needing an admin's reconnect; ``True`` if it changed.

    Written in its own transaction (the caller's may roll back) and announced
    with :data:`~flask_qbo.signals.needs_reconnect` once.
    """
    app = app_or_current(app)
    engine = qbo.state(app).db.engine
    with engine.begin() as conn:
        changed = conn.execute(
            sa.update(_table)
            .where(_table.c.id == connection.id, _table.c.status == ConnectionStatus.CONNECTED)
            .values(status=ConnectionStatus.NEEDS_RECONNECT, status_reason=reason, updated_at=utcnow())
        ).rowcount
    _adopt(connection, _load(engine, connection.id))
    if changed:
        log.warning(
            "QBO connection of tenant %s needs a reconnect: %s", connection.tenant_key, reason, extra=_extra(connection)
        )
        signals.needs_reconnect.send(app, connection=connection, reason=reason)
    return bool(changed)


# -- reading stored tokens ----------------------------------------------------------


def read_token(cipher: TokenCipher, connection: Connection, value: str | None) -> str | None:
    """Decrypt one of the connection's stored tokens; a wrong key raises naming the connection.

    :raises QBOTokenDecryptError: with :func:`unreadable_message` (the company,
        realm and what to do; never the key or the token).
    """
    try:
        return cipher.decrypt(value)
    except QBOTokenDecryptError:
        raise QBOTokenDecryptError(unreadable_message(connection, cipher)) from None


def unreadable_message(connection: Connection, cipher: TokenCipher) -> str:
    """What an admin must do when the key cannot decrypt the connection's tokens.

    Keys are named by fingerprint only (:func:`flask_qbo.intuit.crypto.fingerprint`).
    """
    company = connection.company_name or "QuickBooks"
    return (
        f"QBO_TOKEN_ENCRYPTION_KEY does not decrypt the stored tokens of the connection to {company} "
        f"(realm {connection.realm_id}, tenant {connection.tenant_key}): the key was changed or is missing. "
        "Put back the key the tokens were encrypted with, or list it after the new key as an old key for "
        'rotation (QBO_TOKEN_ENCRYPTION_KEY="<new key>,<old key>"), then restart the app and its workers. '
        f"Configured key fingerprints: {', '.join(cipher.fingerprints)}. "
        "Sync waits and nothing is lost; no reconnect is needed."
    )


def fresh(expires_at: dt.datetime | None, app: Flask) -> bool:
    """Whether an access token expiring at ``expires_at`` outlives ``QBO_TOKEN_REFRESH_LEEWAY``."""
    leeway = dt.timedelta(seconds=int(get_config("QBO_TOKEN_REFRESH_LEEWAY", app)))
    return expires_at is not None and expires_at - leeway > utcnow()


def not_connected(connection: Connection) -> str:
    """The error message for a call on a connection that is not connected."""
    reason = f": {connection.status_reason}" if connection.status_reason else ""
    return f"The QuickBooks connection of tenant {connection.tenant_key} is {connection.status}{reason}."


# -- helpers --------------------------------------------------------------------


def _extra(connection: Connection) -> dict[str, t.Any]:
    """The ``extra`` of a log record about ``connection``."""
    return {"qbo_tenant": connection.tenant_key, "qbo_realm": connection.realm_id}


def _lock_for(app: Flask, connection_id: int) -> threading.Lock:
    with _locks_guard:
        per_app = _locks.setdefault(app, {})
        return per_app.setdefault(connection_id, threading.Lock())


def _load(engine: sa.Engine, connection_id: int) -> dict[str, t.Any]:
    """The token columns as committed right now, read outside any caller's transaction."""
    columns = [_table.c[name] for name in TOKEN_COLUMNS]
    with engine.connect() as conn:
        row = conn.execute(sa.select(*columns).where(_table.c.id == connection_id)).mappings().first()
    if row is None:
        raise QBOAuthError(f"QBO connection {connection_id} no longer exists.")
    return dict(row)


def _compare_and_set(engine: sa.Engine, connection_id: int, old_enc: str | None, values: dict[str, t.Any]) -> bool:
    """Store a rotation only if nobody replaced ``old_enc`` since we read it."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(_table)
            .where(_table.c.id == connection_id, _table.c.refresh_token_enc == old_enc)
            .values(**values, updated_at=utcnow())
        )
    return result.rowcount == 1


def _adopt(connection: Connection, row: dict[str, t.Any]) -> None:
    """Copy committed values onto the caller's object without making it dirty."""
    for key, value in row.items():
        set_committed_value(connection, key, value)


def _refresh_grant(qbo: QBO, app: Flask, refresh_token: str) -> dict[str, t.Any]:
    session = oauth_session(qbo, scope="", app=app)
    url = resolve_urls(app)["token"]
    headers = dict(TOKEN_HEADERS)
    return _token_call(lambda: session.refresh_token(url, refresh_token=refresh_token, headers=headers))


def _token_call(call: t.Callable[[], t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """Run a token-endpoint call, mapping failures onto the error hierarchy."""
    try:
        return dict(call())
    except OAuthError as exc:
        raise QBOOAuthError(exc.error or "oauth_error", exc.description) from None
    except requests.RequestException as exc:
        # The exception text may echo the request; keep only its kind.
        raise QBOTransientError(f"Intuit's token endpoint failed: {type(exc).__name__}") from None


def _fail(qbo: QBO, connection: Connection, app: Flask, reason: str) -> t.NoReturn:
    mark_needs_reconnect(qbo, connection, reason, app=app)
    raise QBOAuthError(reason, status=401)
