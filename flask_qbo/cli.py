"""``flask qbo ...`` commands.

Each command runs inside the app context Flask's CLI provides, so it uses the
same configuration and database as the web process.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .extension import get_qbo
from .models import Connection
from .models import Inbox
from .models import Outbox

qbo_cli = AppGroup("qbo", help="QuickBooks Online sync commands.")


@qbo_cli.command("create-tables")
def create_tables() -> None:
    """Create the qbo_* tables (safe to run again)."""
    get_qbo().create_all()
    click.echo("qbo_* tables are ready.")


@qbo_cli.command("status")
def status() -> None:
    """Show every connection and the sync queues."""
    qbo = get_qbo()
    session = qbo.state().db.session
    connections = session.query(Connection).order_by(Connection.tenant_key).all()
    if not connections:
        click.echo("No QuickBooks connection yet. An admin connects from the Add-ons & API page.")
    for conn in connections:
        click.echo(
            f"tenant {conn.tenant_key}: {conn.status} realm={conn.realm_id or '-'} "
            f"company={conn.company_name or '-'} env={conn.environment}"
        )
    for model, label in ((Outbox, "outbox"), (Inbox, "inbox")):
        counts: dict[str, int] = {}
        for (row_status,) in session.query(model.status):
            counts[row_status] = counts.get(row_status, 0) + 1
        summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"
        click.echo(f"{label}: {summary}")
    click.echo(f"environment: {current_app.config['QBO_ENVIRONMENT']}")
