"""Token upkeep: proactive refresh, expiry warnings at 30 and 7 days, expiry → needs_reconnect."""

from __future__ import annotations

import datetime as dt
import typing as t

from flask_qbo import signals
from flask_qbo.connection.upkeep import upkeep
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.connection.test_connect_support import ADDONS
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import text
from tests.connection.test_connect_support import update_connection
from tests.hostapp import ACME_ADMIN


def _upkeep(app: t.Any) -> dict[str, int]:
    with app.app_context():
        return upkeep(get_qbo(app))


def _listen(app: t.Any, signal: t.Any) -> list[dict[str, t.Any]]:
    seen: list[dict[str, t.Any]] = []
    signal.connect(lambda sender, **kw: seen.append(kw), app, weak=False)
    return seen


def _warnings(app: t.Any) -> list[SyncLog]:
    with app.app_context():
        session = get_qbo(app).state().db.session
        rows = session.query(SyncLog).filter_by(tenant_key="acme", action="expiry_warning").all()
        session.expunge_all()
        return rows


def test_fresh_tokens_are_left_alone(app: t.Any, connected: t.Any) -> None:
    before = connection_row(app, "acme")
    result = _upkeep(app)
    # Nothing due: the sweep does not even load the connection.
    assert result == {"checked": 0, "refreshed": 0, "failed": 0, "warned": 0, "needs_reconnect": 0}
    assert connection_row(app, "acme").refresh_token_enc == before.refresh_token_enc


def test_almost_expired_access_token_is_refreshed(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    rotated = _listen(app, signals.token_rotated)
    update_connection(app, "acme", access_expires_at=utcnow() + dt.timedelta(seconds=60))
    before = connection_row(app, "acme")
    result = _upkeep(app)
    assert result["refreshed"] == 1 and result["failed"] == 0
    after = connection_row(app, "acme")
    assert after.access_expires_at > utcnow() + dt.timedelta(minutes=50)
    assert after.refresh_token_enc != before.refresh_token_enc
    assert after.refresh_hard_expires_at is not None  # the rotation asked Intuit for the hard expiry
    assert len(rotated) == 1
    with app.app_context():
        qbo = get_qbo(app)
        assert qbo.client(qbo.connection("acme")).company_info()["CompanyName"] == "Test Company"


def test_refresh_refused_by_intuit_marks_needs_reconnect(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    alerts = _listen(app, signals.needs_reconnect)
    emulator.revoke_tokens(TEST_REALM)
    update_connection(app, "acme", access_expires_at=utcnow() - dt.timedelta(minutes=5))
    result = _upkeep(app)
    assert result["failed"] == 1 and result["needs_reconnect"] == 1
    assert connection_row(app, "acme").status == "needs_reconnect"
    assert len(alerts) == 1


def test_warns_at_30_then_7_days_once_each(app: t.Any, client: t.Any, connected: t.Any) -> None:
    warned = _listen(app, signals.expiry_warning)
    update_connection(app, "acme", refresh_hard_expires_at=utcnow() + dt.timedelta(days=20))
    assert _upkeep(app)["warned"] == 1
    assert [w["days"] for w in warned] == [30]
    assert _upkeep(app)["warned"] == 0, "a threshold is announced once"
    assert len(_warnings(app)) == 1 and "within 30 days" in _warnings(app)[0].message

    login(client, ACME_ADMIN)
    health = text(client.get("/qbo/admin/health"))
    assert 'data-qbo-expiry-warning="30"' in health
    assert 'data-qbo-banner="expiring"' in text(client.get(ADDONS))

    update_connection(app, "acme", refresh_hard_expires_at=utcnow() + dt.timedelta(days=5))
    assert _upkeep(app)["warned"] == 1
    assert [w["days"] for w in warned] == [30, 7]
    assert sorted(connection_row(app, "acme").warnings_sent) == [7, 30]
    assert 'data-qbo-expiry-warning="7"' in text(client.get("/qbo/admin/health"))


def test_rolling_expiry_counts_too_and_only_the_nearest_threshold_is_sent(app: t.Any, connected: t.Any) -> None:
    warned = _listen(app, signals.expiry_warning)
    update_connection(app, "acme", refresh_expires_at=utcnow() + dt.timedelta(days=3))
    assert _upkeep(app)["warned"] == 1
    assert [w["days"] for w in warned] == [7]
    assert sorted(connection_row(app, "acme").warnings_sent) == [7, 30]


def test_past_expiry_needs_reconnect(app: t.Any, connected: t.Any) -> None:
    alerts = _listen(app, signals.needs_reconnect)
    update_connection(app, "acme", refresh_hard_expires_at=utcnow() - dt.timedelta(hours=1))
    result = _upkeep(app)
    assert result["needs_reconnect"] == 1
    conn = connection_row(app, "acme")
    assert conn.status == "needs_reconnect" and "expired" in conn.status_reason
    assert len(alerts) == 1


def test_cli_command_runs_the_sweep(app: t.Any, connected: t.Any) -> None:
    update_connection(app, "acme", access_expires_at=utcnow())
    result = app.test_cli_runner().invoke(args=["qbo", "upkeep"])
    assert result.exit_code == 0, result.output
    assert "checked=1, refreshed=1" in result.output


def test_processed_webhook_bodies_are_kept_only_briefly(app: t.Any, connected: t.Any) -> None:
    """DESIGN §4: the raw body is kept a short time for replay, then cleared; pending rows keep theirs."""
    from flask_qbo.connection.upkeep import RAW_KEPT
    from flask_qbo.models import Inbox

    old = utcnow() - RAW_KEPT - dt.timedelta(hours=1)
    with app.app_context():
        session = get_qbo(app).state().db.session
        for event_id, status, processed in (
            ("old-done", "done", old),
            ("new-done", "done", utcnow()),
            ("old-pending", "pending", None),
        ):
            session.add(
                Inbox(
                    event_id=event_id,
                    realm_id=TEST_REALM,
                    entity="Customer",
                    entity_id="1",
                    operation="Update",
                    status=status,
                    processed_at=processed,
                    raw="{}",
                    received_at=old,
                )
            )
        session.commit()
    _upkeep(app)
    with app.app_context():
        raw = {row.event_id: row.raw for row in get_qbo(app).state().db.session.query(Inbox)}
    assert raw == {"old-done": None, "new-done": "{}", "old-pending": "{}"}


def test_one_tenants_unexpected_failure_does_not_stop_the_sweep(
    app: t.Any, emulator: t.Any, connected: t.Any, monkeypatch: t.Any
) -> None:
    from flask_qbo.connection import upkeep as upkeep_module
    from flask_qbo.testing import connect_tenant

    emulator.add_company("9130000000000002", "Second Company")
    connect_tenant(app, emulator, "globex", "9130000000000002")
    for tenant in ("acme", "globex"):
        update_connection(app, tenant, access_expires_at=utcnow() + dt.timedelta(seconds=60))
    real = upkeep_module._refresh_if_due

    def flaky(qbo: t.Any, conn: t.Any, now: dt.datetime) -> t.Any:
        if conn.tenant_key == "acme":
            raise KeyError("access_token")  # e.g. a token answer without the field
        return real(qbo, conn, now)

    monkeypatch.setattr(upkeep_module, "_refresh_if_due", flaky)
    result = _upkeep(app)
    assert result["checked"] == 2 and result["failed"] == 1 and result["refreshed"] == 1
    assert connection_row(app, "globex").access_expires_at > utcnow() + dt.timedelta(minutes=50)
