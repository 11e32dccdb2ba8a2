"""A gateway fault that quotes the token never reaches a log record.

Intuit's gateway answers an auth failure in its ``message=…; errorCode=…;
statusCode=…`` form, and a ``detail`` there (or any text after it) can quote
the start of the access token.  The message keeps the gateway's fields only,
and every log call that reports a QBO error logs :func:`faults.brief`.
"""

from __future__ import annotations

import logging
import typing as t

import pytest

from flask_qbo.connection import upkeep
from flask_qbo.errors import QBOAuthError
from flask_qbo.errors import QBORateLimitError
from flask_qbo.intuit import faultbody
from flask_qbo.intuit import faults
from flask_qbo.intuit import oauth
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from tests.hostapp import Contact
from tests.hostapp import db
from tests.intuit.test_fault_bodies import from_response

TOKEN = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2Iiwi4f9"
QUOTING = (
    f"message=AuthenticationFailed; errorCode=003200; statusCode=401; detail=Token {TOKEN} is expired Bearer {TOKEN}"
).encode()
THROTTLE_QUOTING = (
    f"message=ThrottleExceeded; errorCode=003001; statusCode=429; detail=Too many requests for {TOKEN}"
).encode()


def test_a_text_fault_keeps_the_gateway_fields_and_never_the_detail() -> None:
    body = faultbody.from_text(QUOTING)
    assert body is not None
    [error] = body["Fault"]["Error"]
    assert error["Message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert TOKEN not in error["Message"]
    quoted = faultbody.from_text(f"message=Refused {TOKEN}; errorCode=003200".encode())
    assert quoted is not None and TOKEN not in quoted["Fault"]["Error"][0]["Message"]


def test_a_cdc_poll_refused_for_auth_logs_no_token(app, emulator, connected, monkeypatch, caplog) -> None:
    def refused(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise from_response(401, QUOTING)

    monkeypatch.setattr(QBOClient, "cdc", refused)
    with app.app_context(), caplog.at_level(logging.DEBUG):
        pull.poll_due(get_qbo(app))
    assert "CDC poll for tenant acme needs a reconnect (QBOAuthError, HTTP 401, code 3200)" in caplog.text
    assert TOKEN not in caplog.text and "detail=" not in caplog.text


def test_a_throttled_push_logs_no_token(app, emulator, connected, monkeypatch, caplog) -> None:
    def throttled(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        error = from_response(429, THROTTLE_QUOTING)
        assert isinstance(error, QBORateLimitError) and TOKEN in str(error)  # the detail is kept on the error
        raise error

    monkeypatch.setattr(QBOClient, "create", throttled)
    monkeypatch.setattr(QBOClient, "query", lambda *a, **k: [])
    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Ann", last_name="Lee", email="ann@example.com"))
        db.session.commit()
        with caplog.at_level(logging.DEBUG):
            push.process(get_qbo(app))
    assert "QBORateLimitError, HTTP 429, code 3001" in caplog.text
    assert TOKEN not in caplog.text


def test_a_failed_token_refresh_logs_no_token(app, emulator, connected, monkeypatch, caplog) -> None:
    def refused(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise QBOAuthError("Refused", detail=f"token {TOKEN} refused", status=401)

    monkeypatch.setattr(oauth, "refresh", refused)
    with app.app_context():
        db.session.query(Connection).update({"access_expires_at": None})
        db.session.commit()
        with caplog.at_level(logging.DEBUG):
            upkeep.upkeep(get_qbo(app))
    assert "Token refresh for tenant acme failed (QBOAuthError, HTTP 401)" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("status", "page", "cls"),
    [
        (
            404,
            b"<html><body><h1>Not found</h1>Too many requests? Try our status page.</body></html>",
            "QBONotFoundError",
        ),
        (502, b"<html><body>Bad gateway: too many requests upstream</body></html>", "QBOTransientError"),
        (403, b"<html><body><h1>403</h1>Request throttled, slow down</body></html>", "QBOAuthError"),
    ],
)
def test_an_html_page_mentioning_throttling_is_not_a_rate_limit(status: int, page: bytes, cls: str) -> None:
    """With no fault in the body, only a 429 is a rate limit: a proxy's page is no word from Intuit."""
    error = from_response(status, page)
    assert type(error).__name__ == cls
    assert "too many requests" in error.message.lower() or "throttled" in error.message  # the excerpt is kept


def test_a_parsed_fault_without_a_code_still_says_throttled() -> None:
    xml = b'<Fault type="SERVICE"><Error><Message>Request throttled</Message><Detail>later</Detail></Error></Fault>'
    assert type(from_response(403, xml)) is QBORateLimitError
    assert type(from_response(429, b"<html>slow down</html>")) is QBORateLimitError
    assert faults.brief(from_response(429, b"<html>slow down</html>")) == "QBORateLimitError, HTTP 429"
