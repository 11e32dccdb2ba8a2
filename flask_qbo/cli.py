"""``flask qbo ...`` commands.

Each command runs inside the app context Flask's CLI provides, so it uses the
same configuration and database as the web process.
"""

from __future__ import annotations

import typing as t

import click
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func

from .billing import notices
from .billing import reference
from .connection import health
from .connection.upkeep import upkeep
from .emulator.__main__ import main as emulator_main
from .errors import QBOConfigError
from .errors import QBOError
from .errors import QBOTokenDecryptError
from .importing import apply as import_apply
from .importing import fetch
from .importing import review as import_review
from .intuit import faults
from .models import Connection
from .models import ConnectionStatus
from .models import ImportRun
from .models import ImportStatus
from .models import Inbox
from .models import Outbox
from .models import SyncLog
from .ops import doctor
from .runners.thread import ThreadRunner
from .state import get_qbo
from .sync.pull import pull
from .sync.pull.reconcile import reconcile
from .sync.push import push

if t.TYPE_CHECKING:
    from .extension import QBO

qbo_cli = AppGroup("qbo", help="QuickBooks Online sync commands.")

#: Pages per step of ``flask qbo import``, which has time to spare: a step stores its last pages with
#: nothing in flight, so a long one keeps the next pages arriving while these are stored.  A progress
#: line is printed every ten pages and after each step.
IMPORT_STEP_PAGES = 100


@qbo_cli.command("create-tables")
def create_tables() -> None:
    """Create the qbo_* tables (safe to run again)."""
    get_qbo().create_all()
    click.echo("qbo_* tables are ready.")


@qbo_cli.command("upkeep")
def upkeep_command() -> None:
    """Refresh tokens about to expire and send expiry warnings (run hourly from cron)."""
    result = upkeep(get_qbo())
    click.echo(", ".join(f"{key}={value}" for key, value in result.items()))


@qbo_cli.command("status")
def status() -> None:
    """Show every connection and the sync queues."""
    qbo = get_qbo()
    session = qbo.state().session
    connections = session.query(Connection).order_by(Connection.tenant_key).all()
    if not connections:
        click.echo("No QuickBooks connection yet. An admin connects from the Add-ons & API page.")
    for conn in connections:
        click.echo(
            f"tenant {conn.tenant_key}: {conn.status} realm={conn.realm_id or '-'} "
            f"company={conn.company_name or '-'} env={conn.environment}"
        )
        problem = health.key_problem(qbo, conn)
        if problem:
            click.echo(f"  sync waits: {problem}")
    for model, label in ((Outbox, "outbox"), (Inbox, "inbox")):
        click.echo(f"{label}: {_counts(model)}")
    click.echo(f"webhook parts not stored: {_malformed_webhooks()}")
    click.echo(f"environment: {current_app.config['QBO_ENVIRONMENT']}")


def _counts(model: type[Outbox] | type[Inbox]) -> str:
    """``status=count`` pairs of a queue, counted by the database (never row by row)."""
    session = get_qbo().state().session
    counts = dict(session.query(model.status, func.count()).group_by(model.status).all())
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"


def _malformed_webhooks() -> str:
    """How many webhook parts were recorded as malformed, and the latest reason.

    Parts naming no tenant's realm are on no health page of a multi-tenant host;
    this line is where its operator sees them.
    """
    session = get_qbo().state().session
    rows = session.query(SyncLog).filter(SyncLog.direction == "webhook", SyncLog.action == "malformed")
    latest = rows.order_by(SyncLog.id.desc()).first()
    if latest is None:
        return "none"
    orphans = rows.filter(SyncLog.tenant_key.is_(None)).count()
    return f"{rows.count()} ({orphans} naming no tenant); latest: {latest.message}"


@qbo_cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor_command(as_json: bool) -> None:
    """Check configuration, Intuit URLs, Redis, tables, the runner and every connection; exit 1 on an error."""
    findings = doctor.run(get_qbo())
    click.echo(doctor.to_json(findings) if as_json else doctor.to_text(findings))
    if doctor.failed(findings):
        raise SystemExit(1)


@qbo_cli.command("push")
@click.option("--limit", default=100, show_default=True, help="Rows per round.")
def push_command(limit: int) -> None:
    """Push every due outbox row to QuickBooks now, then print the outbox counts."""
    qbo = get_qbo()
    total = 0
    while True:
        handled = push.process(qbo, limit=limit)
        total += handled
        if not handled:  # a short round may leave a burst to the next round's batches
            break
    click.echo(f"pushed {total} row(s); outbox: {_counts(Outbox)}")


@qbo_cli.command("worker")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between pull/CDC checks.")
def worker_command(poll: float) -> None:
    """Run the sync loop (push, pull, CDC, token upkeep) in the foreground until Ctrl-C."""
    # The runner keeps the real app, not the proxy; LocalProxy's stubs do not declare _get_current_object.
    app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    runner = ThreadRunner(app, poll_interval=poll)
    get_qbo().state().runner = runner
    click.echo("QBO worker running; Ctrl-C stops it.")
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        click.echo("QBO worker stopped.")


@qbo_cli.command("sync")
@click.option("--rounds", default=10, show_default=True, help="Push/pull rounds at most.")
def sync_command(rounds: int) -> None:
    """Push due outbox rows, apply pending QuickBooks events and due CDC polls until quiet."""
    qbo = get_qbo()
    pushed = pulled = 0
    for _ in range(rounds):
        step_push = push.process(qbo)
        step_pull = pull.process(qbo) + pull.poll_due(qbo)
        pushed, pulled = pushed + step_push, pulled + step_pull
        # Events for objects QBO no longer has change nothing, yet the batch behind them is still due.
        if not (step_push or step_pull or pull.pending_count(qbo)):
            break
    click.echo(f"pushed {pushed} row(s), applied {pulled} QuickBooks change(s); outbox: {_counts(Outbox)}")


@qbo_cli.command("emulator", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def emulator_command(args: tuple[str, ...]) -> None:
    """Run the standalone QBO emulator (same options as ``python -m flask_qbo.emulator``)."""
    raise SystemExit(emulator_main(list(args)))


@qbo_cli.command("pull")
@click.option(
    "--limit",
    default=None,
    type=click.IntRange(1, 10_000),
    help="Inbox events per realm per pass (default: one bulk read's worth, 1000).",
)
@click.option("--cdc/--no-cdc", default=True, show_default=True, help="Also poll CDC for connections that are due.")
def pull_command(limit: int | None, cdc: bool) -> None:
    """Apply pending QuickBooks webhook events (and due CDC polls) now."""
    qbo = get_qbo()
    applied = pull.process(qbo, limit=limit or pull.BATCH)
    polled = pull.poll_due(qbo) if cdc else 0
    click.echo(f"Applied {applied} change(s) from webhooks and {polled} from CDC.")


def _echo_import_progress(run: ImportRun) -> None:
    click.echo(
        f"  {fetch.progress(run)}%  {run.customers_done}/{run.customers_total} customers, "
        f"{run.transactions_done} transactions, {run.requests_made} requests"
    )


@qbo_cli.command("import")
@click.option("--tenant", default=None, help="Tenant key (default: the only connected tenant).")
@click.option("--months", type=int, default=None, help="Only transactions from the last N months.")
@click.option("--accept-exact", is_flag=True, help="Link every exact e-mail match.")
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Apply the decisions (pending rows stay unlinked); also resumes an interrupted apply.",
)
@click.option("--cancel", "cancel_", is_flag=True, help="Cancel the tenant's unfinished import, then stop.")
def import_command(tenant: str | None, months: int | None, accept_exact: bool, apply_: bool, cancel_: bool) -> None:
    """Run the initial import for a tenant, resuming an unfinished one."""
    qbo = get_qbo()
    tenant = tenant or _only_tenant()
    if cancel_:
        _cancel_import(qbo, tenant)
        return
    try:
        run = fetch.start_import(qbo, tenant, months=months, user="flask qbo import")
    except (QBOConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    stored = 0

    def every_tenth_page(run: ImportRun) -> None:
        nonlocal stored
        stored += 1
        if stored % 10 == 0:
            _echo_import_progress(run)

    while run.status == ImportStatus.FETCHING:
        run = fetch.run_import_step(qbo, run.id, budget=IMPORT_STEP_PAGES, on_page=every_tenth_page)
        _echo_import_progress(run)
        if run.error:
            raise click.ClickException(f"Import {run.id} paused: {run.error} (run the command again to resume)")
    if accept_exact and run.status == ImportStatus.REVIEW:
        click.echo(f"Accepted {import_review.accept_all_exact(run.id)} exact e-mail match(es).")
    if apply_ and run.status in (ImportStatus.REVIEW, ImportStatus.APPLYING):
        try:
            click.echo(f"Applied {import_apply.apply(run.id)} decision(s).")
        except ValueError as exc:
            raise click.ClickException(f"Import {run.id}: {exc}") from None
    final = qbo.state().session.get(ImportRun, run.id)
    click.echo(f"Import {run.id}: {final.status if final is not None else run.status}.")


def _cancel_import(qbo: QBO, tenant: str) -> None:
    """``--cancel``: the way out of a run nobody can finish (e.g. left applying by a crash)."""
    run = fetch.current_run(qbo, tenant)
    if run is None or run.status not in fetch.ACTIVE:
        raise click.ClickException(f"Tenant {tenant} has no unfinished import to cancel.")
    fetch.cancel(run.id, user="flask qbo import --cancel")
    click.echo(f"Import {run.id} cancelled; customers it already linked or created stay so.")


@qbo_cli.command("reconcile")
@click.option("--tenant", default=None, help="Tenant key (default: every connected tenant).")
@click.option("--apply", "apply_", is_flag=True, help="Fix the differences found.")
def reconcile_command(tenant: str | None, apply_: bool) -> None:
    """Compare QuickBooks with the local mirror and linked contacts; print (and fix) differences."""
    qbo = get_qbo()
    session = qbo.state().session
    query = session.query(Connection).filter(Connection.status == ConnectionStatus.CONNECTED)
    if tenant:
        query = query.filter(Connection.tenant_key == tenant)
    for conn in query.order_by(Connection.tenant_key).all():
        try:
            differences = reconcile(qbo, conn, apply=apply_)
        except QBOTokenDecryptError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"tenant {conn.tenant_key}: {len(differences)} difference(s)" + (" fixed" if apply_ else ""))
        for difference in differences:
            click.echo(f"  {difference}")


@qbo_cli.command("reference")
@click.option("--tenant", default=None, help="Tenant key (default: every connected tenant).")
def reference_command(tenant: str | None) -> None:
    """Read items, tax codes and rates, and sales preferences from QuickBooks now."""
    qbo = get_qbo()
    query = qbo.state().session.query(Connection).filter(Connection.status == ConnectionStatus.CONNECTED)
    if tenant:
        query = query.filter(Connection.tenant_key == tenant)
    connections = query.order_by(Connection.tenant_key).all()
    if not connections:
        raise click.ClickException("No connected tenant" + (f" named {tenant}." if tenant else "."))
    failed = []
    for conn in connections:
        tenant_key = conn.tenant_key
        try:
            click.echo(f"tenant {tenant_key}: {reference.refresh_reference(qbo, conn)}")
        except QBOError as exc:  # one company's failure does not stop the others
            qbo.state().db.session.rollback()
            click.echo(f"tenant {tenant_key}: not read: {faults.brief(exc)}", err=True)
            failed.append(tenant_key)
    if failed:
        raise click.ClickException(f"Reference data not read for {', '.join(failed)}.")


@qbo_cli.command("overdue")
def overdue_command() -> None:
    """Send invoice_overdue now for open invoices past due that were never announced (the daily sweep)."""
    click.echo(f"Announced {notices.sweep_overdue(get_qbo())} overdue invoice(s).")


def _only_tenant() -> str:
    session = get_qbo().state().session
    tenants = [
        t for (t,) in session.query(Connection.tenant_key).filter(Connection.status == ConnectionStatus.CONNECTED)
    ]
    if len(tenants) != 1:
        raise click.ClickException("Several (or no) tenants are connected; name one with --tenant.")
    return tenants[0]
