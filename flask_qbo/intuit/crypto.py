"""Encryption of OAuth tokens at rest (Fernet, from ``cryptography``).

The key comes from ``QBO_TOKEN_ENCRYPTION_KEY``.  Outside debug and testing the
app refuses to start without one: a CRM database dump must never hold a usable
QuickBooks token.  In debug/testing an ephemeral key is generated so the demo
runs with no setup; tokens then do not survive a restart, which is said in the
log.

A stored token the configured keys cannot decrypt raises
:class:`~flask_qbo.errors.QBOTokenDecryptError`: a configuration error that
sync waits out, never a reason to ask for a reconnect.  Messages name keys by
:func:`fingerprint` only, never by value.
"""

from __future__ import annotations

import hashlib
import logging
import typing as t

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet

from ..errors import QBOConfigError
from ..errors import QBOTokenDecryptError

if t.TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


def fingerprint(key: str | bytes) -> str:
    """Eight hex digits of the key's SHA-256: tells keys apart in messages without revealing them.

    Compare with ``python -c "import hashlib; print(hashlib.sha256(b'<key>').hexdigest()[:8])"``.
    """
    raw = key.encode("ascii") if isinstance(key, str) else key
    return hashlib.sha256(raw.strip()).hexdigest()[:8]


class TokenCipher:
    """Encrypts and decrypts token strings.

    Several comma-separated keys may be configured: the first encrypts, all
    decrypt, so keys can be rotated without losing stored tokens.
    """

    def __init__(self, keys: t.Sequence[str | bytes]) -> None:
        if not keys:
            raise QBOConfigError("TokenCipher needs at least one key.")
        #: Fingerprints of the configured keys, the encrypting one first.
        self.fingerprints = [fingerprint(k) for k in keys]
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise QBOConfigError(
                "QBO_TOKEN_ENCRYPTION_KEY is not a valid Fernet key; generate one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
            ) from exc

    @classmethod
    def for_app(cls, app: Flask) -> TokenCipher:
        """Build the cipher from the app's config, enforcing a key in production."""
        raw = app.config.get("QBO_TOKEN_ENCRYPTION_KEY")
        if not raw:
            if not (app.debug or app.testing):
                raise QBOConfigError(
                    "QBO_TOKEN_ENCRYPTION_KEY must be set outside debug/testing: tokens are encrypted at rest with it."
                )
            if not app.testing:  # a test suite wants exactly this, and must not be told so per app
                log.warning(
                    "QBO_TOKEN_ENCRYPTION_KEY is not set; using a temporary key (stored tokens "
                    "will be unreadable after a restart)."
                )
            return cls([Fernet.generate_key()])
        keys = [k.strip() for k in raw.split(",")] if isinstance(raw, str) else [raw]
        return cls([k for k in keys if k])

    def encrypt(self, value: str | None) -> str | None:
        """Encrypt a token (``None`` stays ``None``)."""
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, value: str | None) -> str | None:
        """Decrypt a stored token (``None`` stays ``None``).

        :raises QBOTokenDecryptError: none of the configured keys encrypted it.
            Callers that know the connection re-raise it with the company named
            (:func:`flask_qbo.intuit.oauth.read_token`).
        """
        if value is None:
            return None
        try:
            return self._fernet.decrypt(value.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise QBOTokenDecryptError(
                "QBO_TOKEN_ENCRYPTION_KEY does not decrypt a stored QBO token: the key was changed or is "
                f"missing (configured key fingerprints: {', '.join(self.fingerprints)})."
            ) from None

    def __repr__(self) -> str:
        return "<TokenCipher>"
