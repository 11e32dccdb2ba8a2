"""Encryption of OAuth tokens at rest (Fernet, from ``cryptography``).

The key comes from ``QBO_TOKEN_ENCRYPTION_KEY``.  Outside debug and testing the
app refuses to start without one: a CRM database dump must never hold a usable
QuickBooks token.  In debug/testing an ephemeral key is generated so the demo
runs with no setup; tokens then do not survive a restart, which is said in the
log.
"""

from __future__ import annotations

import logging
import typing as t

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet

from .errors import QBOConfigError

log = logging.getLogger("flask_qbo")


class TokenCipher:
    """Encrypts and decrypts token strings.

    Several comma-separated keys may be configured: the first encrypts, all
    decrypt, so keys can be rotated without losing stored tokens.
    """

    def __init__(self, keys: t.Sequence[str | bytes]) -> None:
        if not keys:
            raise QBOConfigError("TokenCipher needs at least one key.")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise QBOConfigError(
                "QBO_TOKEN_ENCRYPTION_KEY is not a valid Fernet key; generate one with "
                "`python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`."
            ) from exc

    @classmethod
    def for_app(cls, app: t.Any) -> TokenCipher:
        """Build the cipher from the app's config, enforcing a key in production."""
        raw = app.config.get("QBO_TOKEN_ENCRYPTION_KEY")
        if not raw:
            if not (app.debug or app.testing):
                raise QBOConfigError(
                    "QBO_TOKEN_ENCRYPTION_KEY must be set outside debug/testing: tokens are "
                    "encrypted at rest with it."
                )
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
        """Decrypt a stored token; a token from a lost key reads as ``None``."""
        if value is None:
            return None
        try:
            return self._fernet.decrypt(value.encode("ascii")).decode("utf-8")
        except InvalidToken:
            log.error("A stored QBO token could not be decrypted (wrong QBO_TOKEN_ENCRYPTION_KEY?).")
            return None

    def __repr__(self) -> str:
        return "<TokenCipher>"
