"""`flask qbo status`, `sync` and `emulator`: the commands an operator runs by hand."""

from __future__ import annotations

from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import route_webhooks


def test_status_lists_connections_and_queue_counts(app, connected):
    with app.app_context():
        db.session.add_all(
            [
                Outbox(tenant_key="acme", contact_key="1", status="failed"),
                Outbox(tenant_key="acme", contact_key="2", status="done"),
                Outbox(tenant_key="acme", contact_key="3", status="done"),
            ]
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "status"])
    assert result.exit_code == 0, result.output
    assert "tenant acme: connected realm=" in result.output
    assert "outbox: done=2, failed=1" in result.output
    assert "inbox: empty" in result.output


def test_sync_pushes_and_pulls_until_quiet(app, emulator, connected):
    route_webhooks(app, emulator)
    add_customer(emulator, GivenName="Quinn", FamilyName="Pulled")
    emulator.webhooks.flush()
    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Pat", last_name="Pushed", email="pat@example.com"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "sync"])
    assert result.exit_code == 0, result.output
    assert "pushed 1 row(s)" in result.output
    assert "outbox: done=1" in result.output
    names = {c["DisplayName"] for c in emulator.store.list("9130000000000001", "Customer")}
    assert {"Pat Pushed", "Quinn Pulled"} <= names


def test_sync_works_off_a_backlog_of_events_that_change_nothing(app, emulator, connected):
    from flask_qbo.models import Connection
    from flask_qbo.models import Inbox
    from flask_qbo.models import utcnow
    from tests.sync.pull.pull_support import missing_customer_events

    app.config["QBO_CDC_INTERVAL"] = 3600
    missing_customer_events(app, 2_500)  # more than one batch; none of them changes anything
    with app.app_context():  # a CDC poll would cover the events of its window: keep it out of the way
        db.session.query(Connection).update({"last_cdc_at": utcnow()})
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "sync"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.query(Inbox).filter(Inbox.status != "done").count() == 0


def test_emulator_command_shares_the_standalone_options(app):
    result = app.test_cli_runner().invoke(args=["qbo", "emulator", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--webhook-url" in result.output


def test_status_counts_malformed_webhook_parts_including_those_of_no_tenant(app, connected):
    """On a multi-tenant host a part naming no realm is on no tenant's health page: the operator sees it here."""
    with app.app_context():
        db.session.add_all(
            [
                SyncLog(
                    tenant_key="acme",
                    realm_id=connected.realm_id,
                    direction="webhook",
                    action="malformed",
                    message="CloudEvent 1 of 2: 'id' is missing.",
                ),
                SyncLog(
                    direction="webhook", action="malformed", message="CloudEvent 2 of 2: 'intuitaccountid' is missing."
                ),
            ]
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "status"])
    assert result.exit_code == 0, result.output
    assert (
        "webhook parts not stored: 2 (1 naming no tenant); latest: CloudEvent 2 of 2: 'intuitaccountid' is missing."
    ) in result.output


def test_status_without_malformed_webhook_parts(app, connected):
    result = app.test_cli_runner().invoke(args=["qbo", "status"])
    assert "webhook parts not stored: none" in result.output
