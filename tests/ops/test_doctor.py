"""``flask qbo doctor``: each check finds the misconfiguration it claims to, a clean run exits 0, no secret shows."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from flask_qbo.intuit.crypto import TokenCipher
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.ops import doctor
from flask_qbo.ops.checks.finding import Finding
from flask_qbo.ops.checks.finding import Level
from flask_qbo.runners.thread import ThreadRunner
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import REDIS_URL
from tests.conftest import journal_mode
from tests.conftest import need_service
from tests.connection.test_connect_support import update_connection

CALLBACK = "http://qbo.emulator.test/qbo/callback"


@pytest.fixture
def clean(app: t.Any, connected: t.Any) -> t.Any:
    """The test host, connected, with the redirect URI set and its SQLite file in WAL mode: nothing to complain about."""
    app.config["QBO_REDIRECT_URI"] = CALLBACK
    journal_mode(app, "WAL")
    return app


def run(app: t.Any, tenant: str | None = None) -> list[Finding]:
    with app.app_context():
        return doctor.run(get_qbo(app), app, tenant=tenant)


def bad(findings: list[Finding], check: str, level: str = "error") -> list[str]:
    """The texts of the findings of ``check`` at ``level``."""
    return [f.what for f in findings if f.check == check and f.level == level]


def cli(app: t.Any, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(args=["qbo", "doctor", *args])


# -- a clean run and the output --------------------------------------------------------


def test_a_clean_run_exits_0_with_nothing_to_fix(clean: t.Any) -> None:
    result = cli(clean)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"0 errors, 0 warnings, {len(lines) - 1} ok."
    assert all(line.startswith("ok ") for line in lines[:-1])
    checks = {line.split()[1] for line in lines[:-1]}
    assert checks == {"config", "routes", "redis", "schema", "database", "runner", "connection"}
    assert "Webhook URL http://qbo.emulator.test/qbo/webhooks" in result.output


def test_an_error_exits_1(clean: t.Any) -> None:
    clean.config["QBO_CLIENT_ID"] = None
    result = cli(clean)
    assert result.exit_code == 1
    assert "error  config      QBO_CLIENT_ID is missing.  Fix: Set QBO_CLIENT_ID" in result.output


def test_json_output(clean: t.Any) -> None:
    clean.config["QBO_WEBHOOK_VERIFIER_TOKEN"] = None
    result = cli(clean, "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["counts"]["warn"] == 1 and report["counts"]["error"] == 0
    assert sum(report["counts"].values()) == len(report["findings"])
    for finding in report["findings"]:
        assert set(finding) == {"level", "check", "what", "fix"}
        assert finding["level"] in ("ok", "warn", "error")
        assert bool(finding["fix"]) == (finding["level"] != "ok")
    clean.config["QBO_CLIENT_ID"] = None
    failing = cli(clean, "--json")
    assert failing.exit_code == 1 and json.loads(failing.output)["ok"] is False


def test_no_secret_in_any_output(clean: t.Any, emulator: t.Any) -> None:
    """Keys and tokens are reported as set/missing/decrypting; the Redis password is cut from its URL."""
    clean.config["QBO_RATE_LIMIT_STORAGE_URL"] = "redis://:r3dis-passw0rd@127.0.0.1:1/0"
    wrong = Fernet.generate_key().decode()
    outputs = [cli(clean).output, cli(clean, "--json").output]
    with clean.app_context():
        conn = get_qbo(clean).connection("acme")
        stored = [conn.access_token_enc, conn.refresh_token_enc]
        get_qbo(clean).state(clean).cipher = TokenCipher([wrong])
    outputs += [cli(clean).output, cli(clean, "--json").output]
    secrets = list(emulator.tokens.access_tokens) + list(emulator.tokens.refresh_tokens) + stored
    secrets += [
        clean.config[k] for k in ("QBO_CLIENT_SECRET", "QBO_TOKEN_ENCRYPTION_KEY", "QBO_WEBHOOK_VERIFIER_TOKEN")
    ]
    secrets += ["r3dis-passw0rd", wrong]
    assert len(secrets) >= 8 and all(secrets)
    shown = "\n".join(outputs)
    assert "does not decrypt" in shown and "127.0.0.1:1" in shown  # the checks did look
    for secret in secrets:
        assert secret not in shown


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["QBO_CLIENT_ID", "QBO_CLIENT_SECRET"])
def test_missing_credential(clean: t.Any, key: str) -> None:
    clean.config[key] = ""
    assert bad(run(clean), "config") == [f"{key} is missing."]


@pytest.mark.parametrize("value", ["abc def ghi jkl", '"quoted-secret-value"', "short", "line\nbreak-in-it"])
def test_malformed_credential(clean: t.Any, value: str) -> None:
    clean.config["QBO_CLIENT_SECRET"] = value
    [what] = bad(run(clean), "config")
    assert what.startswith("QBO_CLIENT_SECRET is set but malformed")


def test_unknown_environment(clean: t.Any) -> None:
    clean.config["QBO_ENVIRONMENT"] = "prod"
    assert any("QBO_ENVIRONMENT is 'prod'" in w for w in bad(run(clean), "config"))


def test_malformed_encryption_key(clean: t.Any) -> None:
    clean.config["QBO_TOKEN_ENCRYPTION_KEY"] = Fernet.generate_key().decode() + ",not-a-fernet-key"
    [what] = bad(run(clean), "config")
    assert "key 2 of 2 is not a valid Fernet key" in what


def test_missing_encryption_key(clean: t.Any) -> None:
    clean.config["QBO_TOKEN_ENCRYPTION_KEY"] = None
    assert bad(run(clean), "config", "warn") == [
        "QBO_TOKEN_ENCRYPTION_KEY is missing: a temporary key is used (debug/testing)."
    ]
    clean.testing = False
    assert bad(run(clean), "config") == ["QBO_TOKEN_ENCRYPTION_KEY is missing."]


def test_missing_verifier_token(clean: t.Any) -> None:
    clean.config["QBO_WEBHOOK_VERIFIER_TOKEN"] = None
    [what] = bad(run(clean), "config", "warn")
    assert what.startswith("QBO_WEBHOOK_VERIFIER_TOKEN is missing")


def test_redirect_uri_not_the_callback_route(clean: t.Any) -> None:
    clean.config["QBO_REDIRECT_URI"] = "https://crm.example.com/oauth/callback"
    [what] = bad(run(clean), "routes")
    assert "does not end with this app's callback route /qbo/callback" in what


def test_redirect_uri_follows_the_url_prefix(app: t.Any, connected: t.Any) -> None:
    """The routes are read from the app, so a host's own prefix is what is checked."""
    app.config["QBO_REDIRECT_URI"] = "http://qbo.emulator.test/crm/qbo/callback"
    assert bad(run(app), "routes") == []
    app.config["QBO_REDIRECT_URI"] = "not a url"
    assert bad(run(app), "routes") == ["QBO_REDIRECT_URI 'not a url' is not an absolute http(s) URL."]


def test_http_in_production(clean: t.Any) -> None:
    clean.config.update(QBO_ENVIRONMENT="production", QBO_REDIRECT_URI="http://crm.example.com/qbo/callback")
    errors = bad(run(clean), "routes")
    assert any("uses http: Intuit accepts only https outside localhost" in w for w in errors)
    assert any("Webhook URL http://crm.example.com/qbo/webhooks uses http" in w for w in errors)
    clean.config["QBO_REDIRECT_URI"] = "https://crm.example.com/qbo/callback"
    assert bad(run(clean), "routes") == []
    ok = [f.what for f in run(clean) if f.check == "routes"]
    assert "Webhook URL https://crm.example.com/qbo/webhooks: register it as the webhook endpoint at Intuit." in ok


def test_http_on_localhost_is_fine_for_the_redirect_uri(clean: t.Any) -> None:
    clean.config.update(QBO_ENVIRONMENT="sandbox", QBO_REDIRECT_URI="http://localhost:5000/qbo/callback")
    errors = bad(run(clean), "routes")
    assert errors == [
        "Webhook URL http://localhost:5000/qbo/webhooks uses http: Intuit delivers webhooks only to https endpoints."
    ]


def test_unset_redirect_uri_is_a_warning_naming_the_route(clean: t.Any) -> None:
    clean.config["QBO_REDIRECT_URI"] = None
    warnings = bad(run(clean), "routes", "warn")
    assert len(warnings) == 2 and "QBO_REDIRECT_URI is not set" in warnings[0]
    assert "/qbo/webhooks" in warnings[1]
    clean.config["SERVER_NAME"] = "crm.example.com"
    clean.config["PREFERRED_URL_SCHEME"] = "https"
    whats = [f.what for f in run(clean) if f.check == "routes"]
    assert "(https://crm.example.com/qbo/callback)" in whats[0]
    assert whats[1].startswith("Webhook URL https://crm.example.com/qbo/webhooks")


def test_routes_not_registered(emulator: t.Any, tmp_path: t.Any) -> None:
    from flask_qbo.testing import attach_emulator
    from tests.hostapp import make_app

    app = make_app(f"sqlite:///{tmp_path / 'bare.sqlite'}", QBO_REGISTER_BLUEPRINTS=False)
    attach_emulator(app, emulator)
    assert bad(run(app), "routes") == ["The callback and webhook route is not registered on this app."]


# -- the encryption key and the schema ---------------------------------------------------


def test_wrong_encryption_key(clean: t.Any) -> None:
    with clean.app_context():
        get_qbo(clean).state(clean).cipher = TokenCipher([Fernet.generate_key()])
    [what] = bad(run(clean), "connection")
    assert "QBO_TOKEN_ENCRYPTION_KEY does not decrypt its stored tokens" in what
    assert what.startswith("tenant acme (Test Company")


def _ddl(app: t.Any, *statements: str) -> None:
    with app.app_context():
        with get_qbo(app).state(app).db.engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))


def test_missing_columns(clean: t.Any) -> None:
    """A host that did not migrate the inbox's claim columns: named, and the runner check does not crash."""
    _ddl(clean, *(f"ALTER TABLE qbo_inbox DROP COLUMN {c}" for c in ("available_at", "claimed_at", "claimed_by")))
    findings = run(clean)
    assert bad(findings, "schema") == ["Table qbo_inbox lacks column(s) available_at, claimed_at, claimed_by."]
    assert bad(findings, "runner") == ["The runner checks could not run (OperationalError)."]


def test_a_sqlite_file_in_rollback_journal_mode_is_a_warning(clean: t.Any) -> None:
    journal_mode(clean, "DELETE")
    findings = run(clean)
    assert bad(findings, "database", "warn") == [
        "SQLite journal mode is delete: each commit syncs the disk twice and readers wait for every writer."
    ]
    assert "journal_mode=WAL" in next(f.fix for f in findings if f.check == "database")
    journal_mode(clean, "WAL")
    assert [f.what for f in run(clean) if f.check == "database"] == ["SQLite journal mode is wal."]


def test_missing_table(clean: t.Any) -> None:
    _ddl(clean, "DROP TABLE qbo_ref_item")
    assert bad(run(clean), "schema") == ["Table qbo_ref_item is missing."]


# -- the runner -----------------------------------------------------------------------------


def _due_change(app: t.Any, waited: dt.timedelta) -> None:
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        session.add(Outbox(tenant_key="acme", contact_key="1", available_at=utcnow() - waited))
        session.commit()


def test_runner_not_running(clean: t.Any) -> None:
    _due_change(clean, dt.timedelta(hours=1))
    update_connection(clean, "acme", last_cdc_at=utcnow() - dt.timedelta(hours=2))
    [what] = bad(run(clean), "runner")
    assert what.startswith(
        "No runner is working the queues (QBO_RUNNER='none'): the oldest due change has waited 60 min"
    )


def test_due_rows_of_a_company_waiting_for_reconnect_do_not_blame_the_runner(clean: t.Any) -> None:
    _due_change(clean, dt.timedelta(hours=1))
    update_connection(clean, "acme", status="needs_reconnect", last_cdc_at=utcnow() - dt.timedelta(hours=2))
    assert bad(run(clean), "runner") == []


def test_runner_behind(clean: t.Any) -> None:
    _due_change(clean, dt.timedelta(hours=1))
    update_connection(clean, "acme", last_cdc_at=utcnow())
    assert bad(run(clean), "runner", "warn") == [
        "The runner is running but behind: the oldest due change has waited 60 min."
    ]


def test_inbox_claim_past_its_lease_counts_as_due(clean: t.Any) -> None:
    with clean.app_context():
        session = get_qbo(clean).state(clean).db.session
        claimed = utcnow() - dt.timedelta(hours=1)
        session.add(
            Inbox(
                event_id="e1",
                realm_id=TEST_REALM,
                entity="Customer",
                entity_id="1",
                operation="Update",
                status="in_progress",
                claimed_at=claimed,
            )
        )
        session.commit()
    update_connection(clean, "acme", last_cdc_at=utcnow())
    assert len(bad(run(clean), "runner", "warn")) == 1


def test_cdc_polls_overdue(clean: t.Any) -> None:
    update_connection(clean, "acme", last_cdc_at=utcnow() - dt.timedelta(hours=3))
    [what] = bad(run(clean), "runner")
    assert what.startswith("No CDC poll ran on time for any connected company")


def test_cdc_poll_overdue_for_one_tenant(clean: t.Any, emulator: t.Any) -> None:
    from flask_qbo.testing import connect_tenant

    emulator.add_company("9130000000000002", "Globex Co")
    connect_tenant(clean, emulator, "globex", "9130000000000002")
    update_connection(clean, "globex", last_cdc_at=utcnow() - dt.timedelta(hours=3))
    assert bad(run(clean), "runner", "warn") == [
        "The CDC poll is overdue for tenant(s) globex while others run: their polls fail."
    ]


class _Stuck:
    """A runner of this process that last finished a round an hour ago."""

    def __init__(self) -> None:
        self.last_run = utcnow() - dt.timedelta(hours=1)

    def wake(self, reason: str = "") -> None:
        return None

    def stop(self, timeout: float = 5.0) -> None:
        return None


def test_runner_in_this_process_stale(clean: t.Any) -> None:
    with clean.app_context():
        get_qbo(clean).state(clean).runner = _Stuck()
    [what] = bad(run(clean), "runner")
    assert what == "The runner in this process last finished a round 60 min ago: it is stuck or dead."


def test_thread_runner_stamps_its_last_run(clean: t.Any) -> None:
    runner = ThreadRunner(clean)
    assert runner.last_run is None
    before = utcnow()
    runner.run_once()
    assert runner.last_run is not None and runner.last_run >= before
    with clean.app_context():
        get_qbo(clean).state(clean).runner = runner
    [first] = [f for f in run(clean) if f.check == "runner"][:1]
    assert first.level == "ok" and first.what.startswith("The runner in this process last finished a round")


# -- Redis --------------------------------------------------------------------------------


def test_redis_unreachable(clean: t.Any) -> None:
    clean.config["QBO_RATE_LIMIT_STORAGE_URL"] = "redis://127.0.0.1:1/0"
    [what] = bad(run(clean), "redis")
    assert what.startswith(
        "Redis for the throttle (QBO_RATE_LIMIT_STORAGE_URL) at redis://127.0.0.1:1/0 is unreachable"
    )


@pytest.mark.redis
def test_redis_reachable(clean: t.Any) -> None:
    from flask_qbo.ops.checks.services import ping

    if ping(REDIS_URL):
        need_service("Redis", REDIS_URL)
    clean.config["QBO_RATE_LIMIT_STORAGE_URL"] = REDIS_URL
    assert [f.level for f in run(clean) if f.check == "redis"] == ["ok"]


def test_celery_broker_unreachable_and_no_shared_throttle(clean: t.Any) -> None:
    clean.config.update(QBO_RUNNER="celery", CELERY={"broker_url": "redis://user:pw@127.0.0.1:1/3"})
    findings = run(clean)
    assert bad(findings, "redis", "warn")[0].startswith("QBO_RUNNER is 'celery' but QBO_RATE_LIMIT_STORAGE_URL")
    [what] = bad(findings, "redis")
    assert what.startswith("Redis for the Celery broker at redis://127.0.0.1:1/3 is unreachable")


# -- connections ----------------------------------------------------------------------------


def test_connection_needs_reconnect(clean: t.Any) -> None:
    update_connection(clean, "acme", status="needs_reconnect", status_reason="Intuit refused the refresh token.")
    [what] = bad(run(clean), "connection")
    assert what.endswith("needs reconnect (Intuit refused the refresh token.); its changes wait.")


def test_refresh_token_expiring_and_expired(clean: t.Any) -> None:
    update_connection(clean, "acme", refresh_expires_at=utcnow() + dt.timedelta(days=3))
    [what] = bad(run(clean), "connection", "warn")
    assert "the refresh token expires" in what and "(within 7 days)" in what
    update_connection(clean, "acme", refresh_hard_expires_at=utcnow() - dt.timedelta(hours=1))
    [what] = bad(run(clean), "connection")
    assert "Intuit's authorization limit expired" in what
    update_connection(
        clean,
        "acme",
        refresh_expires_at=utcnow() + dt.timedelta(days=90),
        refresh_hard_expires_at=utcnow() + dt.timedelta(days=900),
    )
    assert bad(run(clean), "connection", "warn") == bad(run(clean), "connection") == []


def test_failed_and_dead_rows(clean: t.Any) -> None:
    with clean.app_context():
        session = get_qbo(clean).state(clean).db.session
        session.add_all(
            [
                Outbox(tenant_key="acme", contact_key="1", status="dead"),
                Outbox(tenant_key="acme", contact_key="2", status="failed"),
                Outbox(tenant_key="acme", contact_key="3", status="failed"),
                Outbox(tenant_key="globex", contact_key="4", status="dead"),
                Inbox(
                    event_id="e",
                    realm_id=TEST_REALM,
                    entity="Customer",
                    entity_id="1",
                    operation="Update",
                    status="failed",
                ),
            ]
        )
        session.commit()
    findings = run(clean)
    assert bad(findings, "connection") == [
        "tenant acme: 1 change(s) ran out of attempts (dead) and will not be retried on their own."
    ]
    assert bad(findings, "connection", "warn") == [
        "tenant acme: 2 change(s) were refused by QuickBooks and wait for a fix.",
        "tenant acme: 1 QuickBooks event(s) failed to apply; the CDC poll still brings their changes in.",
    ]


def test_webhooks_never_received(clean: t.Any) -> None:
    update_connection(clean, "acme", connected_at=utcnow() - dt.timedelta(days=30), last_cdc_at=utcnow())
    [what] = bad(run(clean), "connection", "warn")
    assert "no webhook received since connecting 30 days ago" in what
    update_connection(clean, "acme", last_webhook_at=utcnow())
    assert bad(run(clean), "connection", "warn") == []


def test_tenant_scope_leaves_other_tenants_out(clean: t.Any, emulator: t.Any) -> None:
    from flask_qbo.testing import connect_tenant

    emulator.add_company("9130000000000002", "Globex Co")
    connect_tenant(clean, emulator, "globex", "9130000000000002")
    update_connection(clean, "globex", status="needs_reconnect")
    assert len(bad(run(clean), "connection")) == 1
    scoped = run(clean, tenant="acme")
    assert bad(scoped, "connection") == []
    assert not any("globex" in f.what for f in scoped)


def test_no_connection_yet(app: t.Any) -> None:
    app.config["QBO_REDIRECT_URI"] = CALLBACK
    findings = run(app)
    assert not doctor.failed(findings)
    assert [f.what for f in findings if f.check == "connection"] == [
        "No QuickBooks connection yet; an admin connects from the Add-ons page."
    ]


def test_celery_tasks_stamp_the_workers_runner(clean: t.Any) -> None:
    """In a worker process the app's CeleryRunner records when a task last finished."""
    pytest.importorskip("celery")
    from flask_qbo.runners import celery as qbo_celery

    runner = qbo_celery.CeleryRunner(clean)
    assert runner.last_run is None
    with clean.app_context():
        get_qbo(clean).state(clean).runner = runner
        # The tasks' own wrapper, not task(): a Celery app left as default by another test would
        # enter its own Flask app's context.
        assert qbo_celery._run(qbo_celery.cdc_task, qbo_celery.pull.poll_due) == 0
    assert runner.last_run is not None and utcnow() - runner.last_run < dt.timedelta(minutes=1)


def test_the_count_line_speaks_in_words_not_in_brackets() -> None:
    one_each = [Finding(Level.ERROR, "db", "down"), Finding(Level.WARN, "config", "odd"), Finding(Level.OK, "x", "y")]
    assert doctor.tally(one_each) == "1 error, 1 warning, 1 ok"
    assert doctor.tally([*one_each, *one_each], "passed") == "2 errors, 2 warnings, 2 passed"
    assert doctor.to_text(one_each).splitlines()[-1] == "1 error, 1 warning, 1 ok."
