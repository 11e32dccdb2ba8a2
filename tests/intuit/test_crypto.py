"""Tokens encrypted at rest, a key required in production, and no secret in logs or reprs."""

from __future__ import annotations

import logging
import sqlite3
import typing as t

import pytest
from cryptography.fernet import Fernet

from flask_qbo.errors import QBOAuthError
from flask_qbo.errors import QBOConfigError
from flask_qbo.errors import QBOTokenDecryptError
from flask_qbo.intuit import oauth
from flask_qbo.intuit.crypto import TokenCipher
from flask_qbo.intuit.crypto import fingerprint
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.hostapp import make_app


def test_round_trip_and_key_rotation() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    before = TokenCipher([old])
    stored = before.encrypt("refresh-token-value")
    assert stored != "refresh-token-value" and "refresh-token-value" not in stored
    rotated = TokenCipher([new, old])  # new key first: encrypts with it, still reads the old
    assert rotated.decrypt(stored) == "refresh-token-value"
    assert TokenCipher([new]).decrypt(rotated.encrypt("x")) == "x"
    assert before.encrypt(None) is None and before.decrypt(None) is None


def test_wrong_key_is_a_decrypt_error_naming_the_key_by_fingerprint_only() -> None:
    right, wrong = Fernet.generate_key(), Fernet.generate_key()
    stored = TokenCipher([right]).encrypt("secret-token-123")
    with pytest.raises(QBOTokenDecryptError) as caught:
        TokenCipher([wrong]).decrypt(stored)
    message = str(caught.value)
    assert isinstance(caught.value, QBOConfigError) and not isinstance(caught.value, QBOAuthError)
    assert "QBO_TOKEN_ENCRYPTION_KEY does not decrypt" in message and fingerprint(wrong) in message
    for secret in ("secret-token-123", stored, right.decode(), wrong.decode()):
        assert secret not in message
    with pytest.raises(QBOTokenDecryptError):
        TokenCipher([wrong]).decrypt("not a Fernet token")


def test_fingerprint_tells_keys_apart() -> None:
    key = Fernet.generate_key()
    assert fingerprint(key) == fingerprint(key.decode()) == fingerprint(key.decode() + " ")
    assert len(fingerprint(key)) == 8 and fingerprint(key) != fingerprint(Fernet.generate_key())
    assert TokenCipher([key, Fernet.generate_key()]).fingerprints[0] == fingerprint(key)


def test_invalid_key_is_a_config_error() -> None:
    with pytest.raises(QBOConfigError, match="not a valid Fernet key"):
        TokenCipher(["not-a-key"])
    with pytest.raises(QBOConfigError):
        TokenCipher([])


def test_production_app_refuses_to_start_without_a_key() -> None:
    with pytest.raises(QBOConfigError, match="QBO_TOKEN_ENCRYPTION_KEY must be set"):
        make_app("sqlite://", TESTING=False, DEBUG=False, QBO_TOKEN_ENCRYPTION_KEY=None)


def test_debug_app_starts_with_a_temporary_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="flask_qbo"):
        app = make_app("sqlite://", TESTING=False, DEBUG=True, QBO_TOKEN_ENCRYPTION_KEY=None)
    assert "temporary key" in caplog.text
    with app.app_context():
        cipher = get_qbo(app).state().cipher
        assert cipher.decrypt(cipher.encrypt("t")) == "t"


def test_multiple_configured_keys() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher([old]).encrypt("tok")
    app = make_app("sqlite://", QBO_TOKEN_ENCRYPTION_KEY=f"{new}, {old}")
    with app.app_context():
        assert get_qbo(app).state().cipher.decrypt(stored) == "tok"


def _plaintext_tokens(app: t.Any, connection: Connection) -> list[str]:
    with app.app_context():
        session = get_qbo(app).state().db.session
        row = session.get(Connection, connection.id)
        cipher = get_qbo(app).state().cipher
        return [cipher.decrypt(row.access_token_enc), cipher.decrypt(row.refresh_token_enc)]


def test_database_dump_holds_no_plaintext_token(
    app: t.Any, emulator: t.Any, connected: Connection, tmp_path: t.Any
) -> None:
    secrets = _plaintext_tokens(app, connected)
    emulator.expire_access_tokens()
    with app.app_context():
        get_qbo(app).client(connected).company_info()  # rotate once, so both generations are checked
    secrets += _plaintext_tokens(app, connected)
    assert len(set(secrets)) == 4 and all(secrets)
    with sqlite3.connect(tmp_path / "crm.sqlite") as db:
        dump = "\n".join(db.iterdump())
    assert "qbo_connection" in dump and TEST_REALM in dump
    for secret in secrets + [app.config["QBO_CLIENT_SECRET"]]:
        assert secret not in dump
        assert secret[:24] not in dump


def test_no_secret_in_logs(
    app: t.Any, emulator: t.Any, connected: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    redirect = "https://crm.example/qbo/callback"
    code = emulator.tokens.issue_code(
        app.config["QBO_CLIENT_ID"], redirect, TEST_REALM, "admin@example.com", "com.intuit.quickbooks.accounting"
    )
    secrets = [code, app.config["QBO_CLIENT_SECRET"], *_plaintext_tokens(app, connected)]
    with caplog.at_level(logging.DEBUG):
        with app.app_context():
            qbo = get_qbo(app)
            grant = oauth.exchange_code(qbo, code, redirect)
            secrets += [grant["access_token"], grant["refresh_token"]]
            client = qbo.client(connected)
            emulator.expire_access_tokens()
            client.company_info()  # 401 → refresh → retry
            secrets += _plaintext_tokens(app, connected)
            emulator.faults.fail_next(status=500)
            client.company_info()
            oauth.revoke(qbo, connected)
            with pytest.raises(QBOAuthError):
                client.company_info()  # revoked: invalid_grant → needs_reconnect, logged
    assert "needs a reconnect" in caplog.text and "Rotated QBO tokens" in caplog.text
    for secret in secrets:
        assert secret and secret not in caplog.text


def test_reprs_hold_no_secret(app: t.Any, connected: Connection) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        secrets = [
            app.config["QBO_CLIENT_SECRET"],
            app.config["QBO_TOKEN_ENCRYPTION_KEY"],
            *_plaintext_tokens(app, connected),
            connected.access_token_enc,
            connected.refresh_token_enc,
        ]
        client = qbo.client(connected)
        session = oauth.oauth_session(
            qbo, token={"access_token": secrets[2], "refresh_token": secrets[3], "token_type": "bearer"}
        )
        texts = [
            repr(connected),
            str(connected),
            repr(client),
            repr(client.auth),
            repr(session),
            repr(qbo.state().cipher),
            repr(client.throttle),
        ]
    for text in texts:
        for secret in secrets:
            assert secret not in text, text
