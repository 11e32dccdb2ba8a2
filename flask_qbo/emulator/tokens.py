"""Intuit's OAuth 2.0 token rules: codes, grants, rotation, expiry, revocation.

One *grant* is what a user's consent creates for a (client, realm). Access
tokens live an hour; refresh tokens roll for 101 days, rotate on every use and
the superseded one keeps working for a 24-hour grace, as the JS SDK describes.
All times come from the emulator clock so tests can age tokens instantly.
A grant with the ``openid`` scope also gets a signed ID token on every
issue, the code exchange and each refresh alike.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import typing as t
import uuid
from dataclasses import dataclass
from dataclasses import field

from . import errors
from .clock import Clock
from .config import EmulatorConfig
from .openid import IdTokenSigner
from .openid import granted

_JWE_HEADER = (
    base64.urlsafe_b64encode(json.dumps({"enc": "A128CBC-HS256", "alg": "dir"}, separators=(",", ":")).encode())
    .rstrip(b"=")
    .decode()
)
_ALNUM = string.ascii_letters + string.digits
SCOPES = frozenset(
    {
        "com.intuit.quickbooks.accounting",
        "com.intuit.quickbooks.payment",
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "com.intuit.quickbooks.payroll",
        "intuit_name",
    }
)


class OAuthError(Exception):
    """An error the token endpoints answer as ``{"error": …}`` JSON."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


@dataclass
class Client:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]

    def allows(self, redirect_uri: str) -> bool:
        return "*" in self.redirect_uris or redirect_uri in self.redirect_uris


@dataclass
class Grant:
    grant_id: str
    client_id: str
    realm: str
    user: str
    scope: str
    created: float
    revoked: bool = False
    current_refresh: str = ""
    #: The user's OpenID subject (``sub``), needed only for ``openid`` grants.
    subject: str = ""
    #: When the user signed in for this grant (``auth_time``); the grant's creation if not given.
    auth_time: float | None = None


@dataclass
class RefreshToken:
    grant_id: str
    expires: float
    superseded: float | None = None


@dataclass
class AccessToken:
    grant_id: str
    expires: float


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    realm: str
    user: str
    scope: str
    expires: float
    used: bool = False
    subject: str = ""
    auth_time: float = 0.0


@dataclass
class AccessInfo:
    """Who an API call is acting for."""

    realm: str
    user: str
    client_id: str
    scope: str = field(default="")


class TokenAuthority:
    """Issues and checks every code and token of one emulator."""

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self.clock = clock
        self.config = config
        self.lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.grants: dict[str, Grant] = {}
        self.codes: dict[str, Code] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        #: Authorize requests waiting for the user to sign in (id → query params).
        self.pending: dict[str, dict[str, str]] = {}
        self.id_tokens = IdTokenSigner(clock, config)
        self.register_client(config.client_id, config.client_secret, tuple(config.redirect_uris))

    def register_client(self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...] = ("*",)) -> None:
        with self.lock:
            self.clients[client_id] = Client(client_id, client_secret, tuple(redirect_uris))

    def authenticate_client(self, client_id: str | None, secret: str | None) -> Client:
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.secret, secret or ""):
            raise OAuthError(401, "invalid_client")
        return client

    # ------------------------------------------------------------------ issuing

    def issue_code(
        self, client_id: str, redirect_uri: str, realm: str, user: str, scope: str, subject: str = ""
    ) -> str:
        """A code for a consent the user gave just now (which becomes the ID token's ``auth_time``)."""
        code = "AB11" + "".join(secrets.choice(_ALNUM) for _ in range(46))
        now = self.clock.timestamp()
        with self.lock:
            self.codes[code] = Code(
                client_id,
                redirect_uri,
                realm,
                user,
                scope,
                now + self.config.auth_code_ttl,
                subject=subject,
                auth_time=now,
            )
        return code

    def _new_access(self) -> str:
        parts = [secrets.token_urlsafe(n) for n in (16, 220, 16)]
        return f"{_JWE_HEADER}..{parts[0]}.{parts[1]}.{parts[2]}"

    def _new_refresh(self) -> str:
        expiry = int(self.clock.timestamp() + self.config.refresh_token_ttl)
        return "AB11" + str(expiry) + "".join(secrets.choice(_ALNUM) for _ in range(36))

    def _issue(self, grant: Grant, rotate: bool, include_hard: bool) -> dict[str, t.Any]:
        now = self.clock.timestamp()
        access = self._new_access()
        self.access_tokens[access] = AccessToken(grant.grant_id, now + self.config.access_token_ttl)
        if rotate:
            old = self.refresh_tokens.get(grant.current_refresh)
            if old is not None:
                old.superseded = now
            grant.current_refresh = self._new_refresh()
            self.refresh_tokens[grant.current_refresh] = RefreshToken(
                grant.grant_id, now + self.config.refresh_token_ttl
            )
        record = self.refresh_tokens[grant.current_refresh]
        hard_left = int(grant.created + self.config.refresh_token_hard_ttl - now)
        body: dict[str, t.Any] = {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": self.config.access_token_ttl,
            "refresh_token": grant.current_refresh,
            "x_refresh_token_expires_in": int(min(record.expires - now, hard_left)),
        }
        if include_hard:
            body["x_refresh_token_hard_expires_in"] = hard_left
        if "openid" in granted(grant.scope):
            body["id_token"] = self.id_tokens.sign(
                subject=grant.subject,
                client_id=grant.client_id,
                realm=grant.realm,
                auth_time=grant.created if grant.auth_time is None else grant.auth_time,
            )
        return body

    def issue_tokens(
        self,
        realm: str,
        client_id: str | None = None,
        user: str = "admin@example.com",
        scope: str = "com.intuit.quickbooks.accounting",
        include_hard: bool = False,
        subject: str = "",
        auth_time: float | None = None,
    ) -> dict[str, t.Any]:
        """Create a grant directly (what a completed consent would produce).

        An ``openid`` grant needs the user's ``subject``: an ID token without ``sub`` is no ID token.
        """
        if "openid" in granted(scope) and not subject:
            raise ValueError("a grant with the openid scope needs the user's subject")
        with self.lock:
            grant = Grant(
                uuid.uuid4().hex,
                client_id or self.config.client_id,
                realm,
                user,
                scope,
                self.clock.timestamp(),
                subject=subject,
                auth_time=auth_time,
            )
            self.grants[grant.grant_id] = grant
            return self._issue(grant, rotate=True, include_hard=include_hard)

    def exchange_code(
        self, client: Client, code: str | None, redirect_uri: str | None, include_hard: bool = False
    ) -> dict[str, t.Any]:
        with self.lock:
            record = self.codes.get(code or "")
            if (
                record is None
                or record.used
                or record.client_id != client.client_id
                or record.expires < self.clock.timestamp()
            ):
                raise OAuthError(400, "invalid_grant")
            if redirect_uri != record.redirect_uri:
                raise OAuthError(400, "invalid_grant", "Invalid redirect_uri")
            record.used = True
            return self.issue_tokens(
                record.realm,
                client.client_id,
                record.user,
                record.scope,
                include_hard,
                subject=record.subject,
                auth_time=record.auth_time,
            )

    def refresh(self, client: Client, token: str | None, include_hard: bool = False) -> dict[str, t.Any]:
        """Rotate a refresh token.

        A superseded token used within the grace period gets a new access token
        and the grant's *current* refresh token back (no second rotation), which
        keeps racing refreshers consistent.
        """
        with self.lock:
            record = self.refresh_tokens.get(token or "")
            now = self.clock.timestamp()
            invalid = OAuthError(400, "invalid_grant", "Incorrect or invalid refresh token")
            if record is None:
                raise invalid
            grant = self.grants[record.grant_id]
            if (
                grant.client_id != client.client_id
                or grant.revoked
                or record.expires <= now
                or grant.created + self.config.refresh_token_hard_ttl <= now
            ):
                raise invalid
            if record.superseded is not None:
                if now - record.superseded > self.config.refresh_grace_seconds:
                    raise invalid
                return self._issue(grant, rotate=False, include_hard=include_hard)
            return self._issue(grant, rotate=True, include_hard=include_hard)

    # ------------------------------------------------------------------ checking and revoking

    def check_access(self, token: str | None) -> AccessInfo:
        """Resolve a bearer token or raise the gateway's 401."""
        if not token:
            raise errors.unauthorized("Authorization header missing or not a Bearer token")
        if len(token) < 20 or len(token) > 4096:
            raise errors.unauthorized("Malformed bearer token: too short or too long")
        with self.lock:
            record = self.access_tokens.get(token)
            if record is None:
                raise errors.unauthorized("Token invalid")
            grant = self.grants[record.grant_id]
            if grant.revoked:
                raise errors.unauthorized("Token revoked")
            if record.expires <= self.clock.timestamp():
                raise errors.unauthorized(f"Token expired: {token[:12]}…")
            return AccessInfo(grant.realm, grant.user, grant.client_id, grant.scope)

    def revoke(self, client: Client, token: str | None) -> bool:
        """Revoke the whole grant a refresh or access token belongs to."""
        with self.lock:
            record: RefreshToken | AccessToken | None = self.refresh_tokens.get(token or "") or self.access_tokens.get(
                token or ""
            )
            if record is None:
                return False
            grant = self.grants[record.grant_id]
            if grant.client_id != client.client_id:
                raise OAuthError(400, "invalid_request", "Token was not issued to this client")
            grant.revoked = True
            return True

    def _grants_for(self, realm: str | None) -> set[str]:
        return {g.grant_id for g in self.grants.values() if realm is None or g.realm == realm}

    def expire_access_tokens(self, realm: str | None = None) -> int:
        with self.lock:
            wanted = self._grants_for(realm)
            past = self.clock.timestamp() - 1
            hits = [t for t in self.access_tokens.values() if t.grant_id in wanted]
            for record in hits:
                record.expires = min(record.expires, past)
            return len(hits)

    def revoke_tokens(self, realm: str | None = None) -> int:
        with self.lock:
            wanted = self._grants_for(realm)
            for grant_id in wanted:
                self.grants[grant_id].revoked = True
            return len(wanted)


def validate_scope(scope: str) -> bool:
    """At least one known scope, and nothing outside Intuit's list."""
    parts = scope.split()
    return bool(parts) and all(
        p in SCOPES
        or p.startswith("com.intuit.quickbooks.")
        or p.startswith("project-management.")
        or p.startswith("app-foundations.")
        or p.startswith("payroll.")
        or p.startswith("indirect-tax.")
        for p in parts
    )
