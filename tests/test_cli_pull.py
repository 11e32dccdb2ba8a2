"""``flask qbo pull``, ``flask qbo import`` and ``flask qbo reconcile``."""

from __future__ import annotations

from flask_qbo.models import Customer
from flask_qbo.models import Transaction
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import make_contact
from tests.sync.pull.pull_support import route_webhooks


def test_pull_command_applies_inbox(app, emulator, connected):
    route_webhooks(app, emulator)
    add_customer(emulator, GivenName="Cli", FamilyName="Pull")
    emulator.webhooks.flush()
    result = app.test_cli_runner().invoke(args=["qbo", "pull", "--no-cdc"])
    assert result.exit_code == 0, result.output
    assert "Applied 1 change(s) from webhooks" in result.output


def test_import_command_accepts_and_applies(app, emulator, connected):
    cust = add_customer(emulator, GivenName="Cli", FamilyName="Import", PrimaryEmailAddr={"Address": "ci@x.test"})
    cid = make_contact(app, first_name="C", email="ci@x.test")
    result = app.test_cli_runner().invoke(args=["qbo", "import", "--tenant", "acme", "--accept-exact", "--apply"])
    assert result.exit_code == 0, result.output
    assert "Accepted 1 exact" in result.output and "Applied 1 decision" in result.output
    with app.app_context():
        assert db.session.query(Customer).filter_by(qbo_id=cust["Id"]).one().contact_key == str(cid)


def test_import_command_refuses_in_on_change_mode(app, connected):
    app.config["QBO_INITIAL_SYNC"] = "on_change"
    result = app.test_cli_runner().invoke(args=["qbo", "import", "--tenant", "acme"])
    assert result.exit_code != 0 and "on_change" in result.output


def test_reconcile_reports_then_fixes(app, emulator, connected):
    cust = add_customer(emulator, GivenName="Re", FamilyName="Con", PrimaryEmailAddr={"Address": "re@x.test"})
    inv = add_invoice(emulator, cust["Id"], 10)
    cid = make_contact(app, first_name="Re", last_name="Con", email="re@x.test")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["qbo", "import", "--tenant", "acme", "--accept-exact", "--apply"]).exit_code == 0
    with app.app_context():  # drift: a lost transaction, a contact edited behind sync's back
        db.session.query(Transaction).delete()
        from flask_qbo.sync.capture import suppress_capture

        with suppress_capture():
            db.session.get(Contact, cid).last_name = "Drifted"
        db.session.commit()
    emulator.store.delete("9130000000000001", "Invoice", inv["Id"], "0")
    add_invoice(emulator, cust["Id"], 20)
    report = runner.invoke(args=["qbo", "reconcile"])
    assert report.exit_code == 0, report.output
    assert "2 difference(s)" in report.output and "missing  Invoice" in report.output
    assert "differs in last_name" in report.output
    fixed = runner.invoke(args=["qbo", "reconcile", "--apply"])
    assert "fixed" in fixed.output
    assert "0 difference(s)" in runner.invoke(args=["qbo", "reconcile"]).output
    with app.app_context():
        assert db.session.get(Contact, cid).last_name == "Con"


def test_reconcile_ignores_another_tenants_queued_change(app, emulator, connected):
    """Only this tenant's outbox says "a CRM change is waiting": another tenant's row with the same key must not hide drift."""
    from flask_qbo.models import Outbox
    from flask_qbo.sync.capture import suppress_capture

    add_customer(emulator, GivenName="Two", FamilyName="Keys", PrimaryEmailAddr={"Address": "tk@x.test"})
    cid = make_contact(app, first_name="Two", last_name="Keys", email="tk@x.test")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["qbo", "import", "--tenant", "acme", "--accept-exact", "--apply"]).exit_code == 0
    with app.app_context():
        db.session.query(Outbox).delete()
        db.session.add(Outbox(tenant_key="globex", contact_key=str(cid), status="pending"))
        with suppress_capture():
            db.session.get(Contact, cid).last_name = "Drifted"
        db.session.commit()
    report = runner.invoke(args=["qbo", "reconcile", "--tenant", "acme"])
    assert report.exit_code == 0, report.output
    assert "differs in last_name" in report.output


def test_import_command_resumes_a_stuck_run_and_cancels(app, emulator, connected):
    from flask_qbo.models import ImportMatch
    from flask_qbo.models import ImportRun

    add_customer(emulator, GivenName="Cli", FamilyName="Stuck", PrimaryEmailAddr={"Address": "st@x.test"})
    other = add_customer(emulator, GivenName="Cli", FamilyName="Other")
    cid = make_contact(app, first_name="C", email="st@x.test")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["qbo", "import", "--tenant", "acme", "--accept-exact"]).exit_code == 0
    with app.app_context():  # two rows link one contact (the old "01" bypass), and a crash left it applying
        run = db.session.query(ImportRun).one()
        row = db.session.query(ImportMatch).filter_by(run_id=run.id, qbo_id=other["Id"]).one()
        row.decision, row.contact_key = "link", str(cid)
        run.status = "applying"
        run_id = run.id
        db.session.commit()
    refused = runner.invoke(args=["qbo", "import", "--tenant", "acme", "--apply"])
    assert refused.exit_code != 0 and "is chosen for 2 customers" in refused.output
    cancelled = runner.invoke(args=["qbo", "import", "--tenant", "acme", "--cancel"])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"Import {run_id} cancelled" in cancelled.output
    fresh = runner.invoke(args=["qbo", "import", "--tenant", "acme", "--accept-exact", "--apply"])
    assert fresh.exit_code == 0 and "Applied 1 decision" in fresh.output, fresh.output
    with app.app_context():
        assert [r.status for r in db.session.query(ImportRun).order_by(ImportRun.id)] == ["cancelled", "done"]


def test_import_command_reports_progress_within_its_long_steps(app, emulator, connected, monkeypatch):
    """The command stores many pages per step (fetching overlaps storing); progress still shows every ten."""
    from flask_qbo.importing import fetch
    from flask_qbo.importing import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for n in range(24):  # twelve full pages of customers, then one more to find the end
        add_customer(emulator, GivenName=f"G{n}", FamilyName="Progress")
    steps = []
    step = fetch.run_import_step
    monkeypatch.setattr(fetch, "run_import_step", lambda *args, **kwargs: steps.append(1) or step(*args, **kwargs))
    result = app.test_cli_runner().invoke(args=["qbo", "import", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert len(steps) == 1  # about twenty pages: one step
    lines = [line.strip() for line in result.output.splitlines() if "customers," in line]
    # Ten pages in (reference lists, then customers): a line while the one step is still running.
    assert lines[0].startswith("12%  6/24 customers, 0 transactions, 11 requests"), lines
    assert len(lines) == 3 and lines[-1].startswith("100%  24/24 customers"), lines
