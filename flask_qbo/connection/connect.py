"""Connecting and reconnecting a tenant's QuickBooks company: the OAuth flow and the tenancy rules.

The admin views stay thin: everything with a rule in it lives here, so the rules
can be read (and tested) in one place.

Tenancy rules (docs/connecting.rst, "One company per account"):

* one connection row per tenant; it exists while the tenant holds a company's
  data (connected, needing a reconnect, or disconnected with its data kept);
* a company already held by another tenant is refused, because mirror rows are
  unique per company and two tenants would otherwise see each other's data;
* a tenant that still holds company A's data cannot connect company B: links and
  queued changes would point at the wrong books.  The admin disconnects with
  "delete synced data" first (:mod:`.disconnect`), which removes the row, and
  then connects B.

The OAuth ``state`` is random, single use, stored (hashed) in the session and
bound to the tenant and user that started the flow.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import typing as t
from urllib.parse import urlsplit

from flask import current_app
from flask import session as http_session
from flask import url_for
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..config import get_config
from ..errors import QBOAPIError
from ..errors import QBOAuthError
from ..errors import QBOError
from ..errors import QBOOAuthError
from ..intuit import auth
from ..intuit import faults
from ..intuit import ids
from ..intuit import oauth
from ..intuit.app_client import realm_client
from ..models import Connection
from ..models import ConnectionStatus
from ..models import utcnow
from ..state import wake
from ..sync.pull import mirror
from .events import log_event

if t.TYPE_CHECKING:
    from ..extension import QBO

log = logging.getLogger(__name__)

#: Session keys: the pending state (hashed) and recently used ones (to name a replay).
STATE_KEY = "_qbo_oauth_state"
USED_KEY = "_qbo_oauth_used"
#: Seconds an admin has to finish signing in at Intuit.
STATE_TTL = 900
#: How many used states are remembered per session to recognise a replayed callback.
USED_REMEMBERED = 10
#: Retries of the realm proof's CompanyInfo read on a transient failure: the admin
#: is waiting on the callback page, so one quick retry, not the sync's full backoff.
PROOF_RETRIES = 1


class ConnectError(QBOError):
    """A connect attempt that cannot go on; ``str(error)`` is written for the admin.

    :param status: the HTTP status the callback answers with (400 bad request,
        409 conflict with another tenant or company, 502 Intuit refused).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused_by(self) -> str:
        """Who said no: ``"quickbooks"`` (Intuit refused the grant or failed: 403, 5xx) or ``"crm"``.

        A 400 (the response cannot be trusted) and a 409 (the tenancy rules) are
        this application's own refusals, not QuickBooks'.
        """
        return "quickbooks" if self.status == 403 or self.status >= 500 else "crm"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def redirect_uri() -> str:
    """The callback URL registered with Intuit: ``QBO_REDIRECT_URI`` or this app's own."""
    configured = get_config("QBO_REDIRECT_URI")
    return configured or url_for("qbo.callback", _external=True)


def begin(qbo: QBO, return_to: str | None = None) -> str:
    """Start the OAuth dance: remember a fresh state, return Intuit's authorize URL.

    Only the state's hash is kept in the session cookie, next to the tenant and
    the user, so a leaked cookie cannot be replayed as a callback elsewhere.
    ``return_to`` is the page the admin started from (the host's own Add-ons
    page, say); a cancelled sign-in lands back there (see :func:`return_url`).
    """
    state = secrets.token_urlsafe(32)
    http_session[STATE_KEY] = {
        "hash": _digest(state),
        "tenant": qbo.current_tenant(),
        "user": qbo._current_user_name(),
        "expires": time.time() + STATE_TTL,
        "return_to": local_path(return_to),
    }
    return oauth.authorization_url(qbo, redirect_uri(), state)


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else ``None`` (never an open redirect).

    Browsers read a backslash as a slash and drop tabs and newlines, so
    ``/\\evil.example`` would leave the site: such targets are refused too.
    """
    if not target or "\\" in target or not target.isprintable() or len(target) > 2048:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def return_url(pending: t.Mapping[str, t.Any] | None) -> str | None:
    """The page a flow started from, as :func:`begin` stored it (checked again), or ``None``."""
    return local_path(pending.get("return_to")) if pending else None


def consume_state(qbo: QBO, state: str | None) -> None:
    """Check the callback's ``state`` and burn it, so it can never be used twice.

    :raises ConnectError: (400) missing, unknown, replayed, expired, or started
        by another tenant or user.
    """
    pending = http_session.pop(STATE_KEY, None)
    restart = " Start again from the Add-ons & API page."
    if not state:
        raise ConnectError("The response from Intuit carries no state parameter, so it cannot be trusted." + restart)
    digest = _digest(state)
    used = list(http_session.get(USED_KEY, []))
    if digest in used:
        raise ConnectError("This QuickBooks sign-in response was already used; a response works only once." + restart)
    if not pending or not hmac.compare_digest(pending.get("hash", ""), digest):
        raise ConnectError(
            "The sign-in response does not belong to this browser session (state mismatch). "
            "It may come from an older tab or another person's link." + restart
        )
    http_session[USED_KEY] = (used + [digest])[-USED_REMEMBERED:]
    if pending.get("expires", 0) < time.time():
        raise ConnectError("The QuickBooks sign-in took too long and expired." + restart)
    if pending.get("tenant") != qbo.current_tenant() or pending.get("user") != qbo._current_user_name():
        raise ConnectError("The QuickBooks sign-in was started by another user or account." + restart)


def conflict_for(qbo: QBO, tenant_key: str, realm_id: str) -> str | None:
    """Why ``tenant_key`` may not connect ``realm_id``, or ``None`` when it may."""
    session = qbo.state().db.session
    other = (
        session.query(Connection).filter(Connection.realm_id == realm_id, Connection.tenant_key != tenant_key).first()
    )
    if other is not None:
        return (
            "This QuickBooks company is already connected to another account of this CRM "
            "(or that account still keeps its synced data). A company can be connected to one "
            "account only: disconnect it there first, or choose another company."
        )
    own = qbo.connection(tenant_key)
    if own is not None and own.realm_id and own.realm_id != realm_id:
        previous = own.company_name or f"company {own.realm_id}"
        return (
            f"This account still holds the synced data of {previous}. Connecting a different "
            "company would mix the two companies' customers. Sign in to the same company to "
            'reconnect, or disconnect and choose "Delete synced data" before connecting another one.'
        )
    return None


def complete(qbo: QBO, code: str | None, realm_id: str | None) -> Connection:
    """Finish the dance: exchange the code, prove the realm, apply the tenancy rules, store.

    The callback's ``realmId`` is only a claim (the admin can edit the URL), so
    it is proven with the new token before anything else looks at it: see
    :func:`prove_realm`.  Reconnecting keeps every link (``qbo_customer``) and
    every queued outbox row; only the tokens, status and "connected since/by"
    change.  A refused company's fresh tokens are revoked at once so no unused
    grant lingers at Intuit.

    :raises ConnectError: with a message for the admin.
    """
    if not code:
        raise ConnectError(
            "Intuit's response has no authorization code, so the connection was not made. "
            "Start again from the Add-ons & API page."
        )
    realm_id = _callback_realm(realm_id)
    token = _exchange(qbo, code)
    tenant = qbo.current_tenant()
    info = prove_realm(qbo, tenant, realm_id, token)
    refusal = conflict_for(qbo, tenant, realm_id)
    if refusal:
        _revoke_unused(qbo, tenant, realm_id, token)
        raise ConnectError(refusal, status=409)
    return _store(qbo, tenant, realm_id, token, _company_name(info))


def _callback_realm(value: str | None) -> str:
    """The callback's ``realmId`` in Intuit's form (ASCII digits), checked before the code is spent."""
    if not value:
        raise ConnectError(
            "Intuit's response does not say which QuickBooks company was chosen (realmId). "
            "Check that the app requests the com.intuit.quickbooks.accounting scope."
        )
    try:
        return ids.realm_id(value)
    except ValueError as exc:
        raise ConnectError(
            f"The sign-in response cannot be used: {exc} Nothing was changed; start again from the Add-ons & API page."
        ) from None


def _exchange(qbo: QBO, code: str) -> dict[str, t.Any]:
    """Trade the code for tokens, turning Intuit's refusals into messages for the admin."""
    try:
        return oauth.exchange_code(qbo, code, redirect_uri())
    except QBOOAuthError as exc:
        raise ConnectError(
            f"Intuit refused the sign-in ({exc.error}). Start again from the Add-ons & API page.", status=502
        ) from None
    except QBOError:
        raise ConnectError(
            "Intuit could not be reached to finish the sign-in. Wait a minute and start again.", status=502
        ) from None


class _NewGrant:
    """The token source of the realm proof: the fresh access token, never refreshed or stored.

    A token Intuit issued a moment ago that is refused cannot be cured by a
    refresh, and refreshing would rotate a grant that is about to be revoked.
    """

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def token(self) -> str:
        return self._access_token

    def refresh(self, rejected: str) -> str:
        raise QBOAuthError("QuickBooks refused the access token Intuit had just issued.", status=401)

    def fail(self, reason: str) -> None:
        """Never reached (:meth:`refresh` raises); nothing is stored that could be marked."""


def prove_realm(qbo: QBO, tenant: str, realm_id: str, token: dict[str, t.Any]) -> dict[str, t.Any]:
    """Read ``realm_id``'s CompanyInfo with the new access token; return it.

    Intuit issues a token for the one company the admin chose, and answers 403
    (code 3100) when it is used on another.  So a successful read is the proof
    that the grant belongs to ``realm_id``, whatever the callback URL says.  It
    runs before the tenancy rules: a lie must neither be stored nor be told
    "already connected to another account" (which would reveal that fact).

    On any failure the new grant is revoked, nothing is stored and the admin
    gets a :class:`ConnectError` that says so.
    """
    client = realm_client(qbo, realm_id, _NewGrant(token["access_token"]), max_retries=PROOF_RETRIES)
    try:
        return client.company_info()
    except QBOAPIError as exc:
        # Status and code only: an auth fault's detail can quote the start of the token.
        log.warning(
            "Refused a QuickBooks callback of tenant %s: the new token could not read company %s (HTTP %s, code %s).",
            tenant,
            realm_id,
            exc.status,
            exc.code,
            extra={"qbo_tenant": tenant, "qbo_realm": realm_id, "intuit_tid": exc.intuit_tid},
        )
        _revoke_unused(qbo, tenant, realm_id, token)
        status = 403 if isinstance(exc, QBOAuthError) else 502
        raise ConnectError(_proof_message(realm_id, exc), status=status) from None


def _proof_message(realm_id: str, exc: QBOAPIError) -> str:
    """What the admin reads when the realm proof fails."""
    again = "Nothing was changed; please connect again"
    if isinstance(exc, QBOAuthError):
        if exc.code == "3100" or exc.status == 403:
            why = "the sign-in was for a different company"
        else:
            why = "Intuit did not accept the token of the new sign-in"
        return f"QuickBooks did not confirm access to company {realm_id}: {why}. {again}."
    return f"QuickBooks could not confirm access to company {realm_id} ({exc}). {again} in a minute."


def _company_name(info: dict[str, t.Any]) -> str | None:
    """The name CompanyInfo gives the company (its legal name when it has no other)."""
    name = info.get("CompanyName") or info.get("LegalName")
    return str(name)[:1024] if name else None


def _store(qbo: QBO, tenant: str, realm_id: str, token: dict[str, t.Any], name: str | None) -> Connection:
    """Create or update the tenant's connection for a proven, unconflicted realm; announce it."""
    state = qbo.state()
    db_session = state.db.session
    conn = qbo.connection(tenant)
    action = "reconnected" if conn is not None else "connected"
    if conn is None:
        conn = Connection(tenant_key=tenant, warnings_sent=[])
        db_session.add(conn)
    now = utcnow()
    user = qbo._current_user_name()
    oauth.apply_token(conn, token, state.cipher, now=now)
    conn.realm_id = realm_id
    if name:
        conn.company_name = name
    conn.environment = get_config("QBO_ENVIRONMENT")
    conn.status = ConnectionStatus.CONNECTED
    conn.status_reason = None
    conn.disconnected_at = None
    conn.connected_at = now
    conn.connected_by = user
    conn.warnings_sent = []
    # Commit before calling QBO: the client records reads and rotations in its own
    # short transactions, which must see (and not wait for) this row.
    try:
        db_session.commit()
    except IntegrityError:
        # Another tenant connected the same company a moment ago (the unique index
        # on live realms caught the race that conflict_for could not).
        db_session.rollback()
        _revoke_unused(qbo, tenant, realm_id, token)
        raise ConnectError(
            conflict_for(qbo, tenant, realm_id) or "This QuickBooks company is already connected to another account.",
            status=409,
        ) from None
    auth.record_reads(qbo, conn.id)  # the proof's CompanyInfo read
    _cache_reference_lists(qbo, conn)
    log_event(qbo, conn, action, f"{action.capitalize()} by {user or 'an admin'}.")
    db_session.commit()
    log.info("Tenant %s %s to realm %s.", tenant, action, realm_id, extra={"qbo_tenant": tenant, "qbo_realm": realm_id})
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as Flask; signals want the app itself
    signals.connected.send(app, connection=conn, user=user)
    wake(app, reason=action)  # the runner pushes changes queued while the connection was broken
    return conn


def _cache_reference_lists(qbo: QBO, conn: Connection) -> None:
    """Cache Term and PaymentMethod names so summary cards can name a customer's terms at once.

    QBO's customer references often carry only an id; without this cache a
    tenant that skips the initial import would see blank terms until a Term
    changes.  A failure is logged and never undoes the connection.
    """
    try:
        mirror.refresh_ref_items(qbo.state().db.session(), qbo.client(conn), str(conn.realm_id))
    except QBOError as exc:
        log.warning(
            "Reading terms and payment methods of realm %s failed (%s).",
            conn.realm_id,
            faults.brief(exc),
            extra={
                "qbo_tenant": conn.tenant_key,
                "qbo_realm": conn.realm_id,
                "intuit_tid": getattr(exc, "intuit_tid", None),
            },
        )


def _revoke_unused(qbo: QBO, tenant: str, realm_id: str, token: dict[str, t.Any]) -> None:
    """Revoke tokens we refuse to keep, through a connection object that is never saved."""
    transient = Connection(tenant_key=tenant, realm_id=realm_id, status=ConnectionStatus.DISCONNECTED)
    oauth.apply_token(transient, token, qbo.state().cipher)
    if not oauth.revoke(qbo, transient):
        log.warning(
            "Could not revoke the refused tokens for realm %s.",
            realm_id,
            extra={"qbo_tenant": tenant, "qbo_realm": realm_id},
        )
