"""OpenID Connect on top of the emulator's OAuth: signed ID tokens, their key set, UserInfo claims.

A client that validates ID tokens (signature against the ``jwks_uri`` key set,
``iss`` against the discovery document, ``aud``, ``exp``) must accept the
emulator's exactly as it accepts Intuit's, so the tokens carry the claims and
layout of Intuit's published example: header ``{"kid", "alg": "RS256"}``,
``aud`` as a one-element list, ``realmid`` as a string, ``auth_time`` when the
user signed in. Signing uses joserfc, the JOSE library Authlib points to now
that ``authlib.jose`` is deprecated.

The RSA key is made per emulator on first use: most emulators in a test run
never sign anything, and generating a 2048-bit key for each would be wasted.
"""

from __future__ import annotations

import threading
import typing as t

from joserfc import jwt
from joserfc.jwk import RSAKey

from .clock import Clock
from .config import EmulatorConfig

#: The only signing algorithm Intuit's discovery document lists.
ALGORITHM = "RS256"


class Person(t.Protocol):
    """What UserInfo tells about a signed-in user (the emulator's users have it all)."""

    sub: str
    email: str
    given_name: str
    family_name: str
    phone: str


def issuer(config: EmulatorConfig) -> str:
    """The issuer advertised by discovery and put in every ``iss``: configured, else on this origin."""
    return config.issuer or f"{config.base_url.rstrip('/')}/op/v1"


def granted(scope: str) -> frozenset[str]:
    """The scopes of a space-separated ``scope`` string."""
    return frozenset(scope.split())


class IdTokenSigner:
    """Signs the ID tokens of one emulator and publishes the public half of its key."""

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self.clock = clock
        self.config = config
        self._key: RSAKey | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> RSAKey:
        with self._lock:
            if self._key is None:
                # ``auto_kid`` names the key by its RFC 7638 thumbprint, stable for the key's life.
                self._key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
            return self._key

    def jwks(self) -> dict[str, t.Any]:
        """The key set served at ``jwks_uri``: public parameters only."""
        return {"keys": [self.key.as_dict(private=False)]}

    def sign(self, *, subject: str, client_id: str, realm: str, auth_time: float) -> str:
        """An ID token for ``subject``, issued now to ``client_id``, for the company ``realm``."""
        now = int(self.clock.timestamp())
        # It lives as long as the access token issued with it (Intuit's example: exp = iat + 3600).
        claims: dict[str, t.Any] = {
            "sub": subject,
            "aud": [client_id],
            "realmid": realm,
            "auth_time": int(auth_time),
            "iss": issuer(self.config),
            "exp": now + self.config.access_token_ttl,
            "iat": now,
        }
        key = self.key
        return jwt.encode({"kid": key.kid, "alg": ALGORITHM}, claims, key, default_type=None)


def userinfo(person: Person, scope: str) -> dict[str, t.Any]:
    """The UserInfo answer: ``sub`` always, the rest only as far as the granted scopes reach.

    Field names are Intuit's camelCase ones (``emailVerified``, ``givenName``…),
    not the OpenID standard's snake_case.
    """
    scopes = granted(scope)
    info: dict[str, t.Any] = {"sub": person.sub}
    if "email" in scopes:
        info.update(email=person.email, emailVerified=True)
    if "profile" in scopes:
        info.update(givenName=person.given_name, familyName=person.family_name)
    if "phone" in scopes:
        info.update(phoneNumber=person.phone, phoneNumberVerified=False)
    if "address" in scopes:
        info["address"] = {"streetAddress": "", "locality": "", "region": "", "postalCode": "", "country": "US"}
    return info
