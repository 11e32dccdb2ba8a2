"""OAuth grants and token upkeep: exchange, proactive and 401-driven refresh, rotation, needs_reconnect."""

from __future__ import annotations

import datetime as dt
import typing as t
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flask_qbo import signals
from flask_qbo.errors import QBOAuthError
from flask_qbo.errors import QBOOAuthError
from flask_qbo.errors import QBOTransientError
from flask_qbo.intuit import auth
from flask_qbo.intuit import oauth
from flask_qbo.models import Connection
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.intuit.test_client import RecordingAdapter
from tests.intuit.test_client import record

TOKEN_PATH = "/oauth2/v1/tokens/bearer"


def current_refresh_token(emulator: t.Any, realm: str = TEST_REALM) -> str:
    """The refresh token the emulator considers newest for the realm's live grant."""
    grants = [g for g in emulator.tokens.grants.values() if g.realm == realm and not g.revoked]
    return max(grants, key=lambda g: g.created).current_refresh


def stored(app: t.Any, connection_id: int) -> dict[str, t.Any]:
    """The committed row, decrypted, read through a fresh session."""
    qbo = get_qbo(app)
    with app.app_context():
        state = qbo.state(app)
        session = state.db.session
        session.expire_all()
        row = session.get(Connection, connection_id)
        return {
            "access": state.cipher.decrypt(row.access_token_enc),
            "refresh": state.cipher.decrypt(row.refresh_token_enc),
            "status": row.status,
            "reason": row.status_reason,
            "access_expires_at": row.access_expires_at,
            "refresh_expires_at": row.refresh_expires_at,
            "hard": row.refresh_hard_expires_at,
        }


def age_access_token(app: t.Any, connection: Connection, seconds_left: int = 10) -> None:
    """Make the stored (and in-memory) access token look about to expire."""
    when = utcnow() + dt.timedelta(seconds=seconds_left)
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        session.get(Connection, connection.id).access_expires_at = when
        session.commit()
    connection.access_expires_at = when


@pytest.fixture
def recorder(app: t.Any, emulator: t.Any) -> RecordingAdapter:
    return record(app, emulator)


@pytest.fixture
def rotated() -> t.Iterator[list[dict[str, t.Any]]]:
    seen: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **kwargs: t.Any) -> None:
        seen.append({"sender": sender, **kwargs})

    signals.token_rotated.connect(receiver)
    yield seen
    signals.token_rotated.disconnect(receiver)


@pytest.fixture
def reconnects() -> t.Iterator[list[dict[str, t.Any]]]:
    seen: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **kwargs: t.Any) -> None:
        seen.append({"sender": sender, **kwargs})

    signals.needs_reconnect.connect(receiver)
    yield seen
    signals.needs_reconnect.disconnect(receiver)


def test_authorization_url(app: t.Any) -> None:
    with app.app_context():
        url = oauth.authorization_url(get_qbo(app), "https://crm.example/qbo/callback", "st-1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://qbo.emulator.test/connect/oauth2"
    assert query["client_id"] == [app.config["QBO_CLIENT_ID"]]
    assert query["state"] == ["st-1"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["https://crm.example/qbo/callback"]
    assert "com.intuit.quickbooks.accounting" in query["scope"][0]


def test_exchange_code_and_apply_token(app: t.Any, emulator: t.Any, recorder: RecordingAdapter) -> None:
    redirect = "https://crm.example/qbo/callback"
    code = emulator.tokens.issue_code(
        app.config["QBO_CLIENT_ID"], redirect, TEST_REALM, "admin@example.com", "com.intuit.quickbooks.accounting"
    )
    with app.app_context():
        qbo = get_qbo(app)
        token = oauth.exchange_code(qbo, code, redirect)
        assert token["x_refresh_token_hard_expires_in"] > 0
        sent = recorder.matching(TOKEN_PATH)[-1]
        assert sent.headers["x-include-refresh-token-hard-expires-in"] == "true"
        assert sent.headers["Authorization"].startswith("Basic ")
        conn = Connection(tenant_key="t1", realm_id=TEST_REALM)
        now = utcnow()
        oauth.apply_token(conn, token, qbo.state().cipher, now=now)
        assert qbo.state().cipher.decrypt(conn.access_token_enc) == token["access_token"]
        assert qbo.state().cipher.decrypt(conn.refresh_token_enc) == token["refresh_token"]
        assert token["refresh_token"] not in conn.refresh_token_enc
        assert conn.access_expires_at == now + dt.timedelta(seconds=3600)
        assert conn.refresh_expires_at == now + dt.timedelta(seconds=token["x_refresh_token_expires_in"])
        assert conn.refresh_hard_expires_at == now + dt.timedelta(seconds=token["x_refresh_token_hard_expires_in"])
        with pytest.raises(QBOOAuthError) as info:
            oauth.exchange_code(qbo, code, redirect)  # a code works once
    assert info.value.error == "invalid_grant"


def test_proactive_refresh_rotates_and_persists(
    app: t.Any,
    emulator: t.Any,
    connected: Connection,
    recorder: RecordingAdapter,
    rotated: list[dict[str, t.Any]],
) -> None:
    before = stored(app, connected.id)
    age_access_token(app, connected)
    with app.app_context():
        fresh = auth.access_token(get_qbo(app), connected)
    after = stored(app, connected.id)
    assert fresh == after["access"] != before["access"]
    assert after["refresh"] == current_refresh_token(emulator) != before["refresh"]
    assert after["access_expires_at"] > utcnow() + dt.timedelta(minutes=59)
    assert after["hard"] is not None  # the hard-expiry header was sent and recorded
    assert len(recorder.matching(TOKEN_PATH)) == 1
    assert recorder.matching(TOKEN_PATH)[0].headers["x-include-refresh-token-hard-expires-in"] == "true"
    assert [set(r) for r in rotated] == [{"sender", "connection"}]
    assert rotated[0]["sender"] is app and rotated[0]["connection"] is connected


def test_no_refresh_while_the_token_is_fresh(app: t.Any, connected: Connection, recorder: RecordingAdapter) -> None:
    with app.app_context():
        first = auth.access_token(get_qbo(app), connected)
        assert auth.access_token(get_qbo(app), connected) == first
    assert recorder.matching(TOKEN_PATH) == []


def test_401_refreshes_once_and_retries(
    app: t.Any, emulator: t.Any, connected: Connection, recorder: RecordingAdapter
) -> None:
    with app.app_context():
        client = get_qbo(app).client(connected)
        client.company_info()
        emulator.expire_access_tokens()
        assert client.company_info()["CompanyName"] == "Test Company"
    assert client.stats["refreshes"] == 1 and len(recorder.matching(TOKEN_PATH)) == 1
    assert stored(app, connected.id)["refresh"] == current_refresh_token(emulator)


def test_refresh_never_commits_the_callers_session(app: t.Any, emulator: t.Any, connected: Connection) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        session = qbo.state().db.session
        conn = session.get(Connection, connected.id)
        conn.company_name = "pending edit"
        emulator.expire_access_tokens()
        qbo.client(conn).company_info()
        assert conn.access_expires_at > utcnow() + dt.timedelta(minutes=59)
        attrs = sa.inspect(conn).attrs
        assert attrs.company_name.history.has_changes()
        assert not any(attrs[k].history.has_changes() for k in oauth.TOKEN_COLUMNS)
        session.rollback()
    after = stored(app, connected.id)
    assert after["refresh"] == current_refresh_token(emulator)
    with app.app_context():
        assert get_qbo(app).state().db.session.get(Connection, connected.id).company_name == "Test Company"


def test_revoked_grant_marks_needs_reconnect(
    app: t.Any, emulator: t.Any, connected: Connection, reconnects: list[dict[str, t.Any]]
) -> None:
    with app.app_context():
        client = get_qbo(app).client(connected)
        emulator.revoke_tokens()
        with pytest.raises(QBOAuthError):
            client.company_info()
        requests_before = client.stats["requests"]
        with pytest.raises(QBOAuthError, match="needs_reconnect"):
            client.company_info()
        assert client.stats["requests"] == requests_before  # no call once we know
    row = stored(app, connected.id)
    assert row["status"] == "needs_reconnect" and "invalid_grant" in row["reason"]
    assert connected.status == "needs_reconnect"
    assert len(reconnects) == 1 and reconnects[0]["sender"] is app
    assert set(reconnects[0]) == {"sender", "connection", "reason"}


def test_401_that_refresh_cannot_cure_marks_needs_reconnect(
    app: t.Any, emulator: t.Any, connected: Connection, reconnects: list[dict[str, t.Any]]
) -> None:
    emulator.faults.fail_next(n=2, status=401, path_contains="/companyinfo")
    with app.app_context():
        client = get_qbo(app).client(connected)
        with pytest.raises(QBOAuthError) as info:
            client.company_info()
    assert info.value.status == 401 and info.value.code == "3200"
    assert client.stats["refreshes"] == 1
    assert stored(app, connected.id)["status"] == "needs_reconnect"
    assert len(reconnects) == 1


def test_mark_needs_reconnect_once(app: t.Any, connected: Connection, reconnects: list[dict[str, t.Any]]) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        assert oauth.mark_needs_reconnect(qbo, connected, "because") is True
        assert oauth.mark_needs_reconnect(qbo, connected, "again") is False
    assert stored(app, connected.id)["reason"] == "because"
    assert [r["reason"] for r in reconnects] == ["because"]


def test_stale_copy_adopts_a_rotation_made_elsewhere(
    app: t.Any, emulator: t.Any, connected: Connection, recorder: RecordingAdapter
) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        session = qbo.state().db.session
        other = session.get(Connection, connected.id)
        session.expunge(other)
        oauth.refresh(qbo, other, rejected=qbo.state().cipher.decrypt(other.access_token_enc))
        assert len(recorder.matching(TOKEN_PATH)) == 1
        # ``connected`` still holds the pre-rotation tokens; its expiry passes.
        connected.access_expires_at = utcnow()
        token = auth.access_token(qbo, connected)
    assert token == stored(app, connected.id)["access"]
    assert len(recorder.matching(TOKEN_PATH)) == 1  # adopted, not refreshed again


def test_invalid_grant_after_someone_else_rotated_is_not_a_disconnect(
    app: t.Any, emulator: t.Any, connected: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A superseded refresh token answers invalid_grant; the newer stored one must be tried, not given up."""
    emulator.config.refresh_grace_seconds = 0
    with app.app_context():
        qbo = get_qbo(app)
        stale_refresh = connected.refresh_token_enc
        session = qbo.state().db.session
        other = session.get(Connection, connected.id)
        session.expunge(other)
        oauth.refresh(qbo, other, rejected="x")
        # Pretend we read the row before that rotation and refresh with its stale token.
        real_load = oauth._load
        calls = {"n": 0}

        def load_once_stale(engine: t.Any, connection_id: int) -> dict[str, t.Any]:
            row = real_load(engine, connection_id)
            calls["n"] += 1
            if calls["n"] == 1:
                row = {**row, "refresh_token_enc": stale_refresh, "access_expires_at": utcnow()}
            return row

        monkeypatch.setattr(oauth, "_load", load_once_stale)
        oauth.refresh(qbo, connected, rejected="y")
    row = stored(app, connected.id)
    assert row["status"] == "connected"
    assert row["refresh"] == current_refresh_token(emulator)


def test_revoke(app: t.Any, emulator: t.Any, connected: Connection) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        client = qbo.client(connected)
        assert oauth.revoke(qbo, connected) is True
        with pytest.raises(QBOAuthError):
            client.company_info()


def test_revoke_reports_failure(app: t.Any, emulator: t.Any, connected: Connection) -> None:
    emulator.faults.fail_next(status=503, path_contains="/revoke")
    with app.app_context():
        assert oauth.revoke(get_qbo(app), connected) is False


def test_token_endpoint_outage_is_transient(app: t.Any, emulator: t.Any, connected: Connection) -> None:
    emulator.faults.fail_next(status=503, path_contains=TOKEN_PATH)
    age_access_token(app, connected)
    with app.app_context():
        with pytest.raises(QBOTransientError):
            auth.access_token(get_qbo(app), connected)
    assert stored(app, connected.id)["status"] == "connected"


@pytest.mark.parametrize("bad", ["soon", "3600.5", "３６００", -5, 10**12, True, [3600]])
def test_an_unreadable_lifetime_never_fails_a_good_grant(bad: object) -> None:
    """Intuit sends whole seconds; anything else is ignored (logged), never a 500 at connect."""
    from cryptography.fernet import Fernet

    from flask_qbo.intuit.crypto import TokenCipher
    from flask_qbo.intuit.oauth import token_values

    cipher = TokenCipher([Fernet.generate_key()])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    values = token_values(
        {
            "access_token": "a",
            "refresh_token": "r",
            "expires_in": bad,
            "x_refresh_token_expires_in": bad,
            "x_refresh_token_hard_expires_in": 86400,
        },
        cipher,
        now,
    )
    assert values["access_expires_at"] == now + dt.timedelta(hours=1)
    assert "refresh_expires_at" not in values
    assert values["refresh_hard_expires_at"] == now + dt.timedelta(days=1)
    assert cipher.decrypt(values["refresh_token_enc"]) == "r"
